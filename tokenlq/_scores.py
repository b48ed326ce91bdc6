"""Label-quality score kernels over flat tokens: token scores by method and their sentence
aggregates (minimum, softmin).

Shared by :mod:`tokenlq.rank` (whose public functions check their inputs and call these),
:mod:`tokenlq.filter`, :mod:`tokenlq.spans` and :mod:`tokenlq._confident`. Inputs are checked
token data (``_validation.check_token_data``): nothing here validates them again.
"""

from __future__ import annotations

import math

import numpy as np

from . import _kernels

TOKEN_SCORE_METHODS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
SENTENCE_SCORE_METHODS = ("min", "softmin")
CLIP = 1e-6  # lower bound for divisors in the entropy score and for the softmin temperature
CHUNK_ROWS = 1 << 14  # rows per block where a kernel needs an (n, K) temporary


# --------------------------------------------------------------------------- token kernels


def max_other(labels: np.ndarray, pred_probs: np.ndarray) -> np.ndarray:
    """max_{k != y} P[k] per token, computed in blocks so no (n, K) copy is made."""
    out = np.empty(len(labels), dtype=pred_probs.dtype)
    for start in range(0, len(labels), CHUNK_ROWS):
        block = pred_probs[start:start + CHUNK_ROWS].copy()
        block[np.arange(len(block)), labels[start:start + CHUNK_ROWS]] = -np.inf
        block.max(axis=1, out=out[start:start + len(block)])
    return out


def normalized_entropy(pred_probs: np.ndarray) -> np.ndarray:
    """-sum_k P log P / log K per token (0 log 0 = 0), in blocks."""
    out = np.empty(len(pred_probs), dtype=pred_probs.dtype)
    for start in range(0, len(pred_probs), CHUNK_ROWS):
        block = pred_probs[start:start + CHUNK_ROWS]
        logs = np.log(block, out=np.zeros_like(block), where=block > 0)
        logs *= block
        logs.sum(axis=1, out=out[start:start + len(block)])
    out /= -np.log(pred_probs.shape[1])
    return out


def token_scores(labels: np.ndarray, pred_probs, method: str, self_confidence=None) -> np.ndarray:
    """Flat token scores (n,) in the dtype of ``pred_probs``; input assumed valid.

    ``self_confidence`` (P[f, y_f], from validation) is gathered here when not given;
    ``pred_probs`` may be None for the self-confidence method.
    """
    if self_confidence is None:
        self_confidence = np.minimum(pred_probs[np.arange(len(labels)), labels], 1)
    if method == "self_confidence":
        return self_confidence
    if method == "normalized_margin":
        scores = (self_confidence - max_other(labels, pred_probs) + 1) / 2
        return np.clip(scores, 0, 1, out=scores)
    # confidence_weighted_entropy: ln(1 + x) / x with x = H / p_y. cleanlab divides by
    # max(x, 1e-6), which scores a confident, correct prediction (x = 0) as 0, the worst
    # possible; we take the limit instead: 1 at x = 0 and ln(1 + x) / x below 1e-6.
    x = normalized_entropy(pred_probs) / np.maximum(self_confidence, CLIP)
    scores = np.log(x + 1) / np.maximum(x, CLIP)
    tiny = x < CLIP
    if tiny.any():
        xt = x[tiny]
        safe = np.where(xt > 0, xt, 1)
        scores[tiny] = np.where(xt > 0, np.log1p(safe) / safe, 1)
    # ln(1 + x) / x <= 1 for x >= 0; float32 rounding can overshoot by an ulp.
    return np.minimum(scores, 1, out=scores)


# --------------------------------------------------------------------------- sentence kernels


def sentence_min(token_scores: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Segmented minimum (compiled); an empty sentence scores 1.0 (no evidence of an error)."""
    out = np.empty(len(offsets) - 1, dtype=token_scores.dtype)
    _kernels.sentence_min(np.ascontiguousarray(token_scores), offsets, out)
    return out


def sentence_softmin(token_scores: np.ndarray, offsets: np.ndarray, temperature: float) -> np.ndarray:
    """sum_j w_j s_j with w = softmax((1 - s) / temperature) over each sentence.

    temperature 0 is the minimum and +inf the mean, exactly; other values are clamped to at
    least 1e-6. Weights are shifted by the sentence minimum so exp never overflows (compiled:
    one pass per sentence instead of a handful of array passes).
    """
    if temperature == 0:
        return sentence_min(token_scores, offsets)
    if math.isinf(temperature):  # the mean
        lengths = np.diff(offsets)
        out = np.ones(len(lengths), dtype=token_scores.dtype)
        nonempty = lengths > 0
        if token_scores.size:
            out[nonempty] = np.add.reduceat(token_scores, offsets[:-1][nonempty]) / lengths[nonempty]
        return out
    out = np.empty(len(offsets) - 1, dtype=token_scores.dtype)
    _kernels.sentence_softmin(np.ascontiguousarray(token_scores), offsets, max(temperature, CLIP), out)
    return out


def sentence_scores(token_scores, offsets, method: str, temperature: float) -> np.ndarray:
    """Sentence scores (N,) by one of :data:`SENTENCE_SCORE_METHODS`."""
    if method == "min":
        return sentence_min(token_scores, offsets)
    return sentence_softmin(token_scores, offsets, temperature)
