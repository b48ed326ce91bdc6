"""Find mislabeled tokens with confident learning.

Drop-in for ``cleanlab.token_classification.filter``: tokens of all sentences are treated as one
flat set of examples; per-class thresholds, the confident joint and its calibration estimate how
many tokens of each given class really belong to each other class, and that many tokens are
flagged per pair of classes. The result is a list of (sentence, token) pairs, most likely
mislabeled first (ascending token score; ties by position).

The functions here check their inputs and rank the result; the confident learning itself is in
``_confident``, shared with the out-of-core :mod:`tokenlq.chunked`.
"""

from __future__ import annotations

import numpy as np

from . import _confident, _validation as v
from ._data import to_sentence_token
from ._scores import TOKEN_SCORE_METHODS, token_scores

__all__ = ["FILTER_BY_METHODS", "find_label_issues", "confident_joint", "estimated_error_rates"]

FILTER_BY_METHODS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_self_confidence",
    "low_normalized_margin",
)
_PRUNE_METHODS = ("prune_by_noise_rate", "prune_by_class", "both")


# --------------------------------------------------------------------------- checks


def _check_options(filter_by, return_indices_ranked_by, frac_noise, num_to_remove_per_class,
                   min_examples_per_class, confident_joint, n_jobs, verbose, rank_by_kwargs,
                   low_memory, n_classes):
    func = "find_label_issues"
    v.check_option(filter_by, "filter_by", FILTER_BY_METHODS, func)
    if return_indices_ranked_by is not None:
        v.check_option(return_indices_ranked_by, "return_indices_ranked_by", TOKEN_SCORE_METHODS, func)
    v.check_number(frac_noise, "frac_noise", func, low=0, high=1, low_open=True)
    v.check_number(min_examples_per_class, "min_examples_per_class", func, low=0, integer=True)
    v.check_bool(verbose, "verbose", func)
    v.check_bool(low_memory, "low_memory", func)
    if n_jobs is not None:
        v.check_number(n_jobs, "n_jobs", func, low=1, integer=True)
    if filter_by not in _PRUNE_METHODS:
        if frac_noise != 1.0:
            raise v.TokenLQInputError(
                f"{func}: 'frac_noise' applies only to filter_by in {_PRUNE_METHODS}; "
                f"got frac_noise={frac_noise} with filter_by={filter_by!r}.")
        if num_to_remove_per_class is not None:
            raise v.TokenLQInputError(f"{func}: 'num_to_remove_per_class' applies only to filter_by in "
                                      f"{_PRUNE_METHODS}; got filter_by={filter_by!r}.")
        if confident_joint is not None:
            raise v.TokenLQInputError(
                f"{func}: 'confident_joint' applies only to filter_by in "
                f"{_PRUNE_METHODS}; with filter_by={filter_by!r} it is re-estimated.")
    if num_to_remove_per_class is not None:
        to_remove = np.asarray(num_to_remove_per_class)
        if to_remove.shape != (n_classes,) or to_remove.dtype.kind not in "iu" or (to_remove < 0).any():
            raise v.TokenLQInputError(
                f"{func}: 'num_to_remove_per_class' must be {n_classes} non-negative "
                f"integers (one per class); got {num_to_remove_per_class!r}.")
    if confident_joint is not None:
        joint = np.asarray(confident_joint)
        if joint.shape != (n_classes, n_classes) or joint.dtype.kind not in "iuf" or \
                not np.all(np.isfinite(joint)) or (joint < 0).any():
            raise v.TokenLQInputError(
                f"{func}: 'confident_joint' must be a ({n_classes}, {n_classes}) matrix "
                f"of non-negative counts; got {np.shape(confident_joint)}.")
    adjust = False
    if rank_by_kwargs:
        if not isinstance(rank_by_kwargs, dict) or set(rank_by_kwargs) - {"adjust_pred_probs"}:
            raise v.TokenLQInputError(
                f"{func}: 'rank_by_kwargs' accepts only {{'adjust_pred_probs': bool}}; "
                f"got {rank_by_kwargs!r}.")
        adjust = v.check_bool(rank_by_kwargs.get("adjust_pred_probs", False), "adjust_pred_probs", func)
        if adjust and return_indices_ranked_by == "confidence_weighted_entropy":
            raise v.TokenLQInputError(f"{func}: adjust_pred_probs cannot be used with "
                                      "return_indices_ranked_by='confidence_weighted_entropy'.")
    return adjust


# --------------------------------------------------------------------------- public API


def find_label_issues(labels, pred_probs, offsets=None, *,
                      return_indices_ranked_by: str | None = "self_confidence",
                      filter_by: str = "prune_by_noise_rate",
                      frac_noise: float = 1.0,
                      num_to_remove_per_class=None,
                      min_examples_per_class: int = 1,
                      confident_joint=None,
                      n_jobs: int | None = None,
                      verbose: bool = False,
                      rank_by_kwargs: dict | None = None,
                      low_memory: bool = False,
                      renormalize: bool = False) -> list[tuple[int, int]]:
    """Tokens whose given label is likely wrong, as (sentence, token) pairs.

    Parameters
    ----------
    labels : list of N int sequences, or ndarray of shape (n,) with ``offsets``
        Given class index of every token.
    pred_probs : list of N arrays of shape (T_i, K), or ndarray of shape (n, K) with ``offsets``
        Out-of-sample predicted class probabilities; rows sum to 1.
    offsets : array-like of shape (N+1,), default=None
        Sentence boundaries for flat input.
    return_indices_ranked_by : {'self_confidence', 'normalized_margin', \
'confidence_weighted_entropy'} or None, default='self_confidence'
        Token score that orders the result (ascending, ties by position); None keeps
        dataset order.
    filter_by : {'prune_by_noise_rate', 'prune_by_class', 'both', 'confident_learning', \
'predicted_neq_given', 'low_self_confidence', 'low_normalized_margin'}
        Confident-learning method; each is described in the user guide
        (docs/user-guide.md, "How find_label_issues chooses tokens").
    frac_noise : float in (0, 1], default=1.0
        Return only this fraction of the estimated number of issues (prune methods only).
    num_to_remove_per_class : list of K int, default=None
        Flag this many tokens per given class instead of the estimate (prune methods only).
    min_examples_per_class : int, default=1
        Classes with at most this many tokens are not searched; at least this many are kept.
    confident_joint : ndarray of shape (K, K), default=None
        A precomputed confident joint (rows = given, columns = true) for the prune methods.
    n_jobs : int, default=None
        Accepted for compatibility; tokenlq is vectorized in one process.
    verbose : bool, default=False
        Print the number of issues found.
    rank_by_kwargs : dict, default=None
        ``{'adjust_pred_probs': True}`` ranks by scores on threshold-adjusted probabilities.
    low_memory : bool, default=False
        Accepted for compatibility. The default path already works in blocks, so the result is
        the exact ranked one either way (cleanlab returns an unranked approximation).
    renormalize : bool, default=False
        Divide rows of ``pred_probs`` that do not sum to 1 by their sum instead of raising.

    Returns
    -------
    issues : list of (int, int)
        (sentence index, token index) of each flagged token, most likely mislabeled first.
        Every flagged token's predicted class differs from its given label (except with the
        two ``low_*`` methods).

    Examples
    --------
    >>> from tokenlq.filter import find_label_issues
    >>> labels = [[0, 0], [1, 1, 1], [2, 2]]
    >>> pred_probs = [[[.9, .1, 0], [.6, .2, .2]],
    ...               [[.1, 0, .9], [.1, .8, .1], [.1, .8, .1]],
    ...               [[.1, .1, .8], [.2, .1, .7]]]
    >>> find_label_issues(labels, pred_probs)
    [(1, 0)]
    """
    func = "find_label_issues"
    data = v.check_token_data(labels, pred_probs, offsets, func=func, renormalize=renormalize)
    adjust = _check_options(filter_by, return_indices_ranked_by, frac_noise, num_to_remove_per_class,
                            min_examples_per_class, confident_joint, n_jobs, verbose, rank_by_kwargs,
                            low_memory, data.n_classes)
    if data.n_tokens == 0:
        return []
    flagged, thresholds = _confident.flagged_indices(
        data, filter_by=filter_by, frac_noise=frac_noise,
        num_to_remove_per_class=num_to_remove_per_class,
        min_examples_per_class=min_examples_per_class, confident_joint=confident_joint, func=func)
    if verbose:
        print(f"Number of label issues found: {len(flagged)}")
    if return_indices_ranked_by is not None:
        if return_indices_ranked_by == "self_confidence" and not adjust:
            scores = data.self_confidence[flagged]
        else:
            rows = data.pred_probs[flagged]
            if adjust:
                rows = _confident.adjusted_pred_probs(rows, thresholds)
            scores = token_scores(data.labels[flagged], rows, return_indices_ranked_by)
        order = np.argsort(scores, kind="stable")
    else:
        order = slice(None)
    # Located while still in ascending order (a cache-friendly search), then ranked.
    i, j = to_sentence_token(flagged, data.offsets)
    return list(zip(i[order].tolist(), j[order].tolist()))


def confident_joint(labels, pred_probs, offsets=None, *, calibrate: bool = True,
                    renormalize: bool = False) -> np.ndarray:
    """The (K, K) confident joint: rows = given class, columns = estimated true class.

    With ``calibrate=True`` (the default, as used by :func:`find_label_issues`), row k sums to
    the number of tokens given k and the matrix to n.

    Examples
    --------
    >>> confident_joint([[0, 0, 1], [1]], [[[.9, .1], [.2, .8], [.1, .9]], [[.3, .7]]]).tolist()
    [[1, 1], [0, 2]]
    """
    func = "confident_joint"
    v.check_bool(calibrate, "calibrate", func)
    data = v.check_token_data(labels, pred_probs, offsets, func=func, renormalize=renormalize)
    return _confident.data_joint(data, calibrate=calibrate)


def estimated_error_rates(joint: np.ndarray) -> np.ndarray:
    """Estimated share of tokens given class k whose true class is another, from a joint (K,).

    A class with no tokens gets NaN.

    Examples
    --------
    >>> estimated_error_rates(np.array([[8, 2], [1, 9]])).tolist()
    [0.2, 0.1]
    """
    joint = np.asarray(joint, dtype=float)
    totals = joint.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = (totals - joint.diagonal()) / totals
    rates[totals == 0] = np.nan
    return rates
