"""Label-quality scores for tokens and sentences.

Every score lies in [0, 1]; **lower means more likely mislabeled**. Token scores compare a token's
given label with out-of-sample predicted probabilities; a sentence's score aggregates its token
scores (the worst token by default), so sorting sentences by ascending score gives a review order.

Drop-in for ``cleanlab.token_classification.rank``: the same functions, arguments and results,
computed on flat arrays (see ``tokenlq._data``) and validated once on entry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import _scores, _validation as v
from ._data import to_sentence_token
from ._scores import SENTENCE_SCORE_METHODS, TOKEN_SCORE_METHODS

__all__ = [
    "TOKEN_SCORE_METHODS",
    "SENTENCE_SCORE_METHODS",
    "TokenScores",
    "get_label_quality_scores",
    "issues_from_scores",
    "sentence_issues",
    "token_issues",
]

# --------------------------------------------------------------------------- results


class TokenScores(Sequence):
    """Per-sentence token scores, built lazily from one flat array.

    Behaves like cleanlab's list of N pandas Series (``scores[i]`` is a Series indexed by
    ``tokens[i]`` when tokens were given, else by position), but nothing is built until a
    sentence is looked at. ``flat`` (n,) and ``offsets`` (N+1,) give the arrays directly.
    """

    __slots__ = ("flat", "offsets", "_tokens")

    def __init__(self, flat: np.ndarray, offsets: np.ndarray, tokens=None):
        self.flat = flat
        self.offsets = offsets
        self._tokens = tokens

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"sentence index {i} out of range for {len(self)} sentences")
        values = self.flat[self.offsets[i]:self.offsets[i + 1]]
        if self._tokens is None:
            return pd.Series(values)
        return pd.Series(values, index=list(self._tokens[i]))

    def arrays(self) -> list[np.ndarray]:
        """Per-sentence score arrays (views into ``flat``)."""
        return [self.flat[a:b] for a, b in zip(self.offsets[:-1].tolist(), self.offsets[1:].tolist())]

    def __repr__(self) -> str:
        return f"TokenScores(n_sentences={len(self)}, n_tokens={len(self.flat)})"


# --------------------------------------------------------------------------- public API


def get_label_quality_scores(labels, pred_probs, offsets=None, *, tokens=None,
                             token_score_method: str = "self_confidence",
                             sentence_score_method: str = "min",
                             sentence_score_kwargs: dict | None = None,
                             temperature: float | None = None,
                             renormalize: bool = False):
    """Label-quality scores for every sentence and every token.

    Parameters
    ----------
    labels : list of N int sequences, or ndarray of shape (n,) with ``offsets``
        Given class index of every token.
    pred_probs : list of N arrays of shape (T_i, K), or ndarray of shape (n, K) with ``offsets``
        Out-of-sample predicted class probabilities; rows sum to 1.
    offsets : array-like of shape (N+1,), default=None
        Sentence boundaries for flat input (sentence i is ``offsets[i]:offsets[i+1]``).
    tokens : list of N str sequences, default=None
        Words, used as the index of the per-sentence token scores.
    token_score_method : {'self_confidence', 'normalized_margin', 'confidence_weighted_entropy'}
        How a token's given label is scored against its probabilities.
    sentence_score_method : {'min', 'softmin'}
        How token scores combine into a sentence score.
    sentence_score_kwargs : dict, default=None
        cleanlab compatibility: ``{'temperature': t}`` for softmin. Other keys are an error.
    temperature : float, default=0.05
        Softmin temperature >= 0; 0 gives the minimum and ``inf`` the mean.
    renormalize : bool, default=False
        Divide rows of ``pred_probs`` that do not sum to 1 by their sum instead of raising.

    Returns
    -------
    sentence_scores : ndarray of shape (N,)
        In [0, 1], lower = more likely to hold a label error; dtype follows ``pred_probs``.
        An empty sentence scores 1.0.
    token_scores : TokenScores
        Sequence of N pandas Series (built on access); ``.flat`` is the (n,) array.

    Examples
    --------
    >>> from tokenlq.rank import get_label_quality_scores
    >>> labels = [[0, 0, 1], [0, 1]]
    >>> pred_probs = [[[.9, .1], [.7, .3], [.05, .95]], [[.8, .2], [.8, .2]]]
    >>> sentence_scores, token_scores = get_label_quality_scores(labels, pred_probs)
    >>> sentence_scores.tolist()
    [0.7, 0.2]
    >>> token_scores[1].tolist()
    [0.8, 0.2]
    """
    func = "get_label_quality_scores"
    v.check_option(token_score_method, "token_score_method", TOKEN_SCORE_METHODS, func)
    v.check_option(sentence_score_method, "sentence_score_method", SENTENCE_SCORE_METHODS, func)
    temperature = v.check_temperature(temperature, sentence_score_kwargs, func)
    data = v.check_token_data(labels, pred_probs, offsets, func=func, renormalize=renormalize,
                              need_pred_probs=token_score_method != "self_confidence")
    tokens = v.check_tokens(tokens, data.offsets, func)
    flat = _scores.token_scores(data.labels, data.pred_probs, token_score_method, data.self_confidence) \
        if data.n_tokens else data.self_confidence
    sentence_scores = _scores.sentence_scores(flat, data.offsets, sentence_score_method, temperature)
    return sentence_scores, TokenScores(flat, data.offsets, tokens)


def _softmin_sentence_score(token_scores, *, temperature: float = 0.05) -> np.ndarray:
    """Softmin of nested per-sentence token scores (cleanlab's private helper, kept for parity)."""
    temperature = v.check_temperature(temperature, None, "_softmin_sentence_score")
    flat, offsets = _flatten_scores(token_scores, "_softmin_sentence_score")
    return _scores.sentence_softmin(flat, offsets, temperature)


def _flatten_scores(token_scores, func: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(token_scores, TokenScores):
        return token_scores.flat, token_scores.offsets
    if isinstance(token_scores, np.ndarray) and token_scores.ndim == 2:
        n_sent, length = token_scores.shape
        return token_scores.reshape(-1), np.arange(n_sent + 1, dtype=np.int64) * length
    parts = [np.asarray(s, dtype=float).reshape(-1) for s in token_scores]
    lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate(parts) if parts else np.empty(0)
    if flat.size and not np.all(np.isfinite(flat)):
        raise v.TokenLQInputError(f"{func}: token scores must be finite numbers.")
    return flat, offsets


def sentence_issues(sentence_scores, *, threshold: float = 0.1) -> np.ndarray:
    """Indices of sentences scoring strictly below ``threshold``, most suspect first.

    Ties keep sentence order (a stable sort on (score, index)).

    Examples
    --------
    >>> sentence_issues([0.1, 0.3, 0.05, 0.0125], threshold=0.2).tolist()
    [3, 2, 0]
    """
    v.check_number(threshold, "threshold", "sentence_issues")
    scores = np.asarray(sentence_scores, dtype=float).reshape(-1)
    below = np.flatnonzero(scores < threshold)
    return below[np.argsort(scores[below], kind="stable")].astype(np.int64)


def token_issues(token_scores, offsets=None, *, threshold: float = 0.1) -> list[tuple[int, int]]:
    """(sentence, token) pairs whose token score is strictly below ``threshold``, most suspect first.

    ``token_scores`` is the second result of :func:`get_label_quality_scores`, a nested list of
    per-sentence scores, or a flat (n,) array with ``offsets``. Ties keep (i, j) order.

    Examples
    --------
    >>> token_issues([[0.9, 0.05], [0.02]], threshold=0.1)
    [(1, 0), (0, 1)]
    """
    v.check_number(threshold, "threshold", "token_issues")
    if offsets is not None:
        flat = np.asarray(token_scores, dtype=float).reshape(-1)
        offsets = np.asarray(offsets, dtype=np.int64)
    else:
        flat, offsets = _flatten_scores(token_scores, "token_issues")
    below = np.flatnonzero(flat < threshold)
    below = below[np.argsort(flat[below], kind="stable")]
    i, j = to_sentence_token(below, offsets)
    return list(zip(i.tolist(), j.tolist()))


def issues_from_scores(sentence_scores, *, token_scores=None, threshold: float = 0.1):
    """cleanlab-compatible thresholding of scores.

    With ``token_scores`` (non-empty), returns the (sentence, token) pairs scoring below
    ``threshold`` (:func:`token_issues`); otherwise the indices of sentences scoring below it
    (:func:`sentence_issues`). Both are ordered by ascending score, ties by position.

    Examples
    --------
    >>> issues_from_scores([0.1, 0.3, 0.6, 0.2, 0.05, 0.9, 0.8, 0.0125, 0.5, 0.6]).tolist()
    [7, 4]
    """
    if token_scores is not None and len(token_scores) > 0:
        return token_issues(token_scores, threshold=threshold)
    return sentence_issues(sentence_scores, threshold=threshold)
