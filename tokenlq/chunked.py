"""Scores and label issues for corpora larger than memory: ``pred_probs`` read from disk in
chunks of whole sentences, with results identical to the in-memory functions.

Inputs are ``.npy`` files (read chunk by chunk with plain reads, so memory stays bounded by the
chunk) or arrays, memory-mapped ones included. Every per-token and per-sentence quantity is
computed chunk by chunk with the in-memory code (``_confident``); what confident learning needs
from the whole corpus is carried between chunks exactly:

- the per-class thresholds: sums of self-confidence continued chunk after chunk in token order
  (the same sequence of additions as the in-memory pass, so the same bits);
- the confident joint: integer counts, added (both in ``_confident.Accumulator``);
- ``prune_by_noise_rate``: per (given k, true j) cell, the running ``M[j, k]`` tokens with the
  largest margin ``P[j] - P[k]`` (ties to the lower position), merged chunk by chunk
  (``_confident.LargestMargins``); searched among the tokens whose argmax is not their label
  (only those have a positive margin), and among all tokens again only for the cells with
  fewer than ``M[j, k]`` positive margins.

Memory: one chunk, plus the tokens that end up flagged (the result itself). Chunks can run on
any ``concurrent.futures`` executor, e.g. a Dask cluster's ``client.get_executor()`` (inputs
must then be paths, which the workers open themselves).
"""

from __future__ import annotations

import numpy as np

from . import _confident, _validation as v
from .rank import get_label_quality_scores

__all__ = ["find_label_issues_chunked", "label_quality_scores_chunked", "sentence_chunks"]


class _Source:
    """Rows [a, b) of a .npy file (read, not mapped) or of an array."""

    def __init__(self, source):
        self.path = None
        if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__"):
            self.path = str(source)
            with open(self.path, "rb") as f:
                # numpy's public reader of the file's header layout (numpy 2.4 removed the
                # private one that took the version). Version 3.0 is 2.0's layout in UTF-8,
                # written only for non-Latin-1 field names, which no labels or probabilities have.
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                self.start = f.tell()
            if fortran:
                raise v.TokenLQInputError(f"{self.path}: a Fortran-ordered array cannot be read in "
                                          "row chunks; save it in C order (np.save(path, "
                                          "np.ascontiguousarray(array)))")
            self.shape, self.dtype = shape, dtype
            self.row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        else:
            self.array = source
            self.shape, self.dtype = source.shape, source.dtype

    def rows(self, a: int, b: int) -> np.ndarray:
        if self.path is None:
            return np.ascontiguousarray(self.array[a:b])
        with open(self.path, "rb") as f:
            f.seek(self.start + a * self.row * self.dtype.itemsize)
            out = np.fromfile(f, dtype=self.dtype, count=(b - a) * self.row)
        if out.size != (b - a) * self.row:
            raise v.TokenLQInputError(f"{self.path}: the file ends before row {b} (its header "
                                      f"promises {self.shape[0] if self.shape else 1} rows): the "
                                      "offsets run past it or the file is truncated")
        return out.reshape((b - a,) + tuple(self.shape[1:]))

    def ref(self):
        return self.path if self.path is not None else self.array


def sentence_chunks(offsets, chunk_tokens: int) -> list:
    """Sentence ranges [(s0, s1)] of about ``chunk_tokens`` tokens each (a longer sentence is a
    chunk of its own).

    >>> sentence_chunks([0, 2, 4, 9, 10], 4)
    [(0, 2), (2, 3), (3, 4)]
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    out, s0, n = [], 0, len(offsets) - 1
    while s0 < n:
        s1 = int(np.searchsorted(offsets, offsets[s0] + chunk_tokens, side="right")) - 1
        s1 = min(max(s1, s0 + 1), n)
        out.append((s0, s1))
        s0 = s1
    return out


def _chunk(labels, pred_probs, offsets, s0, s1, renormalize):
    offsets = np.asarray(offsets[s0:s1 + 1], dtype=np.int64)
    a, b = int(offsets[0]), int(offsets[-1])
    try:
        data = v.check_token_data(_Source(labels).rows(a, b), _Source(pred_probs).rows(a, b),
                                  offsets - a, func="find_label_issues", renormalize=renormalize)
    except v.TokenLQInputError as err:  # the in-memory message, sentences numbered in the corpus
        raise v.TokenLQInputError(f"{err} (sentence numbers count from sentence {s0}, where this "
                                  "chunk starts)") from None
    return data, a


def _run(executor, fn, items):
    if executor is None:
        return map(fn, items)
    return executor.map(fn, items)


# --------------------------------------------------------------------------- scores


def _scores_task(args):
    labels, pred_probs, offsets, s0, s1, options = args
    offsets = np.asarray(offsets[s0:s1 + 1], dtype=np.int64)
    a, b = int(offsets[0]), int(offsets[-1])
    sentence, tokens = get_label_quality_scores(_Source(labels).rows(a, b), _Source(pred_probs).rows(a, b),
                                                offsets - a, **options)
    return sentence, tokens.flat


def label_quality_scores_chunked(labels, pred_probs, offsets, *, chunk_tokens: int = 1_000_000,
                                 token_scores_out=None, executor=None, **options):
    """:func:`tokenlq.get_label_quality_scores` over inputs larger than memory.

    Parameters
    ----------
    labels, pred_probs : str (a ``.npy`` path) or array-like
        ``(n,)`` class indices and ``(n, K)`` probabilities.
    offsets : array-like (N+1,)
        Sentence boundaries (held in memory: 8 bytes per sentence).
    chunk_tokens : int, default=1_000_000
        Tokens per chunk (whole sentences).
    token_scores_out : str or ndarray, optional
        Where the ``(n,)`` token scores go (a path gets a new ``.npy`` file); by default they
        are not kept.
    executor : concurrent.futures.Executor, optional
        Runs the chunks (inputs must then be paths).
    **options
        ``token_score_method``, ``sentence_score_method``, ``sentence_score_kwargs``,
        ``temperature``, ``renormalize`` as in the in-memory function.

    Returns
    -------
    sentence_scores : ndarray (N,)

    Examples
    --------
    >>> labels = np.array([0, 1, 1, 0])
    >>> probs = np.array([[.9, .1], [.2, .8], [.7, .3], [.6, .4]])
    >>> label_quality_scores_chunked(labels, probs, [0, 2, 4], chunk_tokens=2).round(2)
    array([0.8, 0.3])
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    out = None
    if token_scores_out is not None:
        out = np.lib.format.open_memmap(token_scores_out, mode="w+", dtype=np.float64,
                                        shape=(int(offsets[-1]),)) \
            if isinstance(token_scores_out, str) else token_scores_out
    sources = (_Source(labels).ref(), _Source(pred_probs).ref())
    chunks = sentence_chunks(offsets, chunk_tokens)
    parts = []
    items = [(*sources, offsets, s0, s1, options) for s0, s1 in chunks]
    for (s0, s1), (sentence, tokens) in zip(chunks, _run(executor, _scores_task, items)):
        parts.append(sentence)
        if out is not None:
            out[offsets[s0]:offsets[s1]] = tokens
    if out is not None and hasattr(out, "flush"):
        out.flush()
    return np.concatenate(parts) if parts else np.zeros(0)


# --------------------------------------------------------------------------- issues


def _self_confidence_task(args):
    labels, pred_probs, offsets, s0, s1, renormalize = args
    data, _ = _chunk(labels, pred_probs, offsets, s0, s1, renormalize)
    return data.labels, data.self_confidence, data.n_classes


def _joint_task(args):
    labels, pred_probs, offsets, s0, s1, renormalize, thresholds = args
    data, _ = _chunk(labels, pred_probs, offsets, s0, s1, renormalize)
    return _confident.joint_counts(data.labels, data.pred_probs, thresholds)[0]


def _margin_task(args):
    """This chunk's cells {(given k, true j): (margins, flat positions)} of
    ``prune_by_noise_rate``: per cell, its own ``prune[j, k]`` tokens with the largest margin."""
    labels, pred_probs, offsets, s0, s1, renormalize, prune, flaggable, disputed_only = args
    data, a = _chunk(labels, pred_probs, offsets, s0, s1, renormalize)
    cells = _confident.largest_margins(data.labels, data.pred_probs, prune, flaggable,
                                       disputed_only=disputed_only)
    return {cell: (margins, index + a) for cell, (margins, index) in cells.items()}


def find_label_issues_chunked(labels, pred_probs, offsets, *, chunk_tokens: int = 1_000_000,
                              renormalize: bool = False, executor=None) -> np.ndarray:
    """:func:`tokenlq.find_label_issues` (``filter_by='prune_by_noise_rate'``, ranked by
    self-confidence) over inputs larger than memory. Returns the flagged tokens' flat indices,
    most likely mislabeled first (``tokenlq.to_sentence_token`` gives (sentence, token)).

    Examples
    --------
    >>> labels = np.array([0, 0, 1, 1, 1, 2, 2])
    >>> probs = np.array([[.9, .1, 0], [.6, .2, .2], [.1, 0, .9], [.1, .8, .1], [.1, .8, .1],
    ...                   [.1, .1, .8], [.2, .1, .7]])
    >>> find_label_issues_chunked(labels, probs, [0, 2, 5, 7], chunk_tokens=3)
    array([2])
    """
    func = "find_label_issues"  # warnings name the in-memory function, as chunk errors do
    offsets = np.asarray(offsets, dtype=np.int64)
    sources = (_Source(labels).ref(), _Source(pred_probs).ref())
    chunks = sentence_chunks(offsets, chunk_tokens)
    if not chunks or offsets[-1] == 0:
        return np.zeros(0, dtype=np.int64)

    # 1. Thresholds: per-class sums continued in token order (the in-memory bincount's order).
    corpus = None
    items = [(*sources, offsets, s0, s1, renormalize) for s0, s1 in chunks]
    for chunk_labels, self_confidence, K in _run(executor, _self_confidence_task, items):
        if corpus is None:
            corpus = _confident.Accumulator(K)
        corpus.add_self_confidence(chunk_labels, self_confidence)

    # 2. The confident joint, calibrated, and how many tokens to flag per cell.
    items = [(*sources, offsets, s0, s1, renormalize, corpus.thresholds) for s0, s1 in chunks]
    for counts in _run(executor, _joint_task, items):
        corpus.add_joint_counts(counts)
    corpus.warn_if_one_class(func)
    prune = corpus.prune_counts()
    flaggable = corpus.flaggable(1, func)

    # 3. Per cell, the m tokens with the largest margins, merged chunk by chunk: first among
    # the tokens the model does not predict as their label (a positive margin needs that),
    # then, for the rare cells with fewer than m positive margins, among all tokens.
    selection = _confident.LargestMargins(prune)
    unsettled, disputed_only = prune, True
    while unsettled.any():
        items = [(*sources, offsets, s0, s1, renormalize, unsettled, flaggable, disputed_only)
                 for s0, s1 in chunks]
        for cells in _run(executor, _margin_task, items):
            selection.add(cells)
        if not disputed_only:
            break
        unsettled, disputed_only = selection.drop_unsettled(flaggable), False
    flagged = selection.flagged()

    # 4. Keep those whose prediction differs from the given label; rank by self-confidence.
    if not len(flagged):
        return flagged
    cuts = np.searchsorted(flagged, offsets[[s0 for s0, _ in chunks] + [len(offsets) - 1]])
    items = [(*sources, offsets, s0, s1, renormalize, flagged[cuts[c]:cuts[c + 1]])
             for c, (s0, s1) in enumerate(chunks) if cuts[c + 1] > cuts[c]]
    kept, scores = [], []
    for index, score in _run(executor, _final_task, items):
        kept.append(index)
        scores.append(score)
    kept, scores = np.concatenate(kept), np.concatenate(scores)
    return kept[np.argsort(scores, kind="stable")]


def _final_task(args):
    labels, pred_probs, offsets, s0, s1, renormalize, flagged = args
    data, a = _chunk(labels, pred_probs, offsets, s0, s1, renormalize)
    rows = flagged - a
    keep = ~_confident.agrees_with_prediction(data.labels, data.pred_probs, rows,
                                              data.pred_probs[rows].argmax(axis=1))
    return flagged[keep], data.self_confidence[rows[keep]]
