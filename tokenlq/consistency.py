"""Surface consistency: how the same word is labelled elsewhere in the corpus.

A label that disagrees with the labels of the same word everywhere else is suspect whatever a
model says: an annotator who tagged "Paris" as a location nine times and left it unlabelled
once most likely missed it once. :func:`surface_consistency` gives, for every token, the
distribution of the labels of the other occurrences of its word (lower-cased), leaving the
token itself out; :func:`blend_surface_evidence` mixes that distribution into out-of-sample
probabilities, with a weight that grows with the number of other occurrences.

Both work on the flat triple of :mod:`tokenlq._data` plus the words, with no per-token Python
loop. The evidence is blind to an error repeated in most places of a word (then the majority is
wrong), turns against the correct places of a word mislabelled in a few, and says nothing about
words seen once. Measured with realistic injected errors on WNUT-17 (bench/detection.py,
sentence ranking; bench/results/detection_realistic.md), it helps on the test split, almost
all of it through entity labels on words unlabelled elsewhere (a span stretched onto "the" or
"Mr", a spurious entity), but on the dev split only the CRF's ranking of crowd-like errors; it
hurts the CRF's on expert-like errors (mostly systematic wrong types) and the CRF + encoder's
on every error model. So :func:`tokenlq.audit.score_sentences` uses it only when asked
(``tokens=``).
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from . import _validation as v

__all__ = ["blend_surface_evidence", "surface_consistency"]


def _flat_words(words, offsets: np.ndarray, func: str) -> np.ndarray:
    """The words as a flat (n,) str array: from one sequence of n words, or N per-sentence lists."""
    n = int(offsets[-1])
    if isinstance(words, np.ndarray) and words.ndim == 1 and len(words) == n and \
            (n == 0 or not isinstance(words[0], (list, tuple, np.ndarray))):
        flat = words
    elif len(words) == len(offsets) - 1 and (n == 0 or len(words) != n or
                                             not isinstance(words[0], str)):
        v.check_tokens(words, offsets, func)
        flat = list(chain.from_iterable(words))
    elif len(words) == n:
        flat = words
    else:
        raise v.TokenLQInputError(f"{func}: 'words' must hold the n = {n} words, flat or one list "
                                  f"per sentence; got {len(words)} entries.")
    return np.asarray(flat, dtype=str).reshape(-1) if n else np.empty(0, dtype=str)


def surface_consistency(words, labels, offsets, *, n_classes: int | None = None,
                        lowercase: bool = True):
    """Leave-one-out label distribution of every token's word across the corpus.

    Parameters
    ----------
    words : sequence of n str, or list of N per-sentence sequences of str
        The tokens' words.
    labels : ndarray of shape (n,)
        Given class index of every token.
    offsets : array-like of shape (N+1,)
        Sentence boundaries.
    n_classes : int, default=None
        K, the number of classes (columns of the result); default ``labels.max() + 1``.
    lowercase : bool, default=True
        Count "Paris" and "paris" as one word.

    Returns
    -------
    distribution : ndarray of shape (n, K)
        Row f: the shares of each class among the labels of the other occurrences of token f's
        word (the token itself left out); all zeros when the word occurs nowhere else.
    support : ndarray of shape (n,)
        The number of other occurrences each row is computed from.

    Examples
    --------
    >>> words = [["Paris", "is", "big"], ["paris", "again"], ["in", "Paris"]]
    >>> labels = [1, 0, 0, 0, 0, 0, 1]  # the second "paris" was left unlabelled
    >>> distribution, support = surface_consistency(words, labels, [0, 3, 5, 7])
    >>> distribution[3].tolist(), int(support[3])
    ([0.0, 1.0], 2)
    >>> distribution[0].tolist()
    [0.5, 0.5]
    """
    func = "surface_consistency"
    labels, offsets = v.check_flat_labels(labels, offsets, func)
    v.check_bool(lowercase, "lowercase", func)
    top = int(labels.max()) + 1 if labels.size else 0
    if n_classes is None:
        n_classes = max(top, 1)
    v.check_number(n_classes, "n_classes", func, low=max(top, 1), integer=True)
    flat = _flat_words(words, offsets, func)
    if lowercase and flat.size:
        flat = np.char.lower(flat)  # np.strings needs numpy 2; the floor is 1.26
    forms, form = np.unique(flat, return_inverse=True)
    counts = np.bincount(form * n_classes + labels, minlength=len(forms) * n_classes)
    counts = counts.reshape(len(forms), n_classes).astype(np.float64)
    others = counts[form]  # (n, K): every occurrence of the word, this token included
    others[np.arange(len(labels)), labels] -= 1
    support = others.sum(axis=1)
    np.divide(others, support[:, None], out=others, where=support[:, None] > 0)
    return others, support.astype(np.int64)


def blend_surface_evidence(pred_probs, distribution, support, *, weight: float = 1.0,
                           prior_count: float = 5.0) -> np.ndarray:
    """Mix the surface distribution into predicted probabilities, token by token.

    Row f becomes ``(1 - w_f) * pred_probs[f] + w_f * distribution[f]`` with
    ``w_f = weight * support[f] / (support[f] + prior_count)``: a word seen once elsewhere moves
    the probabilities little, a word seen everywhere moves them up to ``weight``. Rows with no
    support keep ``pred_probs``.

    Parameters
    ----------
    pred_probs : ndarray of shape (n, K)
        Out-of-sample predicted probabilities.
    distribution, support : ndarrays of shape (n, K) and (n,)
        The results of :func:`surface_consistency`.
    weight : float in [0, 1], default=1
        The largest weight of the surface evidence.
    prior_count : float > 0, default=5
        Other occurrences at which the surface evidence gets half of ``weight``.

    Returns
    -------
    blended : ndarray of shape (n, K)
        Rows sum to 1 where both inputs' rows do.

    Examples
    --------
    >>> blend_surface_evidence(np.array([[0.8, 0.2]]), np.array([[0.0, 1.0]]), np.array([10]),
    ...                        weight=0.5, prior_count=10).round(3).tolist()
    [[0.6, 0.4]]
    """
    func = "blend_surface_evidence"
    v.check_number(weight, "weight", func, low=0, high=1)
    v.check_number(prior_count, "prior_count", func, low=0, low_open=True)
    pred_probs = np.asarray(pred_probs, dtype=np.float64)
    distribution = np.asarray(distribution, dtype=np.float64)
    support = np.asarray(support, dtype=np.float64).reshape(-1)
    if pred_probs.ndim != 2 or distribution.shape != pred_probs.shape or \
            support.shape != (len(pred_probs),):
        raise v.TokenLQInputError(
            f"{func}: pred_probs (n, K), distribution (n, K) and support (n,) must describe the "
            f"same tokens; got shapes {pred_probs.shape}, {distribution.shape}, {support.shape}.")
    w = weight * support / (support + prior_count)
    return pred_probs * (1 - w)[:, None] + distribution * w[:, None]
