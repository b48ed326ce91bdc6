"""Find mislabeled tokens with confident learning.

Drop-in for ``cleanlab.token_classification.filter``: tokens of all sentences are treated as one
flat set of examples; per-class thresholds, the confident joint and its calibration estimate how
many tokens of each given class really belong to each other class, and that many tokens are
flagged per pair of classes. The result is a list of (sentence, token) pairs, most likely
mislabeled first (ascending token score; ties by position).

Everything runs in one process over flat arrays: the passes over ``pred_probs`` (n, K) are
compiled loops (``_kernels``) that make no (n, K) temporaries, the rest is vectorized numpy.
"""

from __future__ import annotations

import numpy as np

from . import _kernels, _validation as v
from ._data import to_sentence_token
from .rank import TOKEN_SCORE_METHODS, _token_scores

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
_TOLERANCE = 1e-6  # slack of every probability comparison in confident learning
_THRESHOLD_FLOOR = 2e-6  # per-class thresholds are raised to at least this
_ABSENT_CLASS_THRESHOLD = 2.0  # no probability reaches it: an absent class is never "confident"


# --------------------------------------------------------------------------- kernels


class _ClassIndex:
    """Token indices grouped by given class, each group in ascending token order."""

    def __init__(self, labels: np.ndarray, n_classes: int):
        # A stable sort of small unsigned ints is a radix sort: linear time.
        small = labels.astype(np.uint8 if n_classes <= 256 else np.uint16 if n_classes <= 65536
                              else np.int64)
        self.order = np.argsort(small, kind="stable").astype(np.int64, copy=False)
        self.labels = labels
        self.counts = np.bincount(labels, minlength=n_classes)
        self.starts = np.concatenate(([0], np.cumsum(self.counts))).astype(np.int64)

    def __getitem__(self, k: int) -> np.ndarray:
        return self.order[self.starts[k]:self.starts[k + 1]]


def _thresholds(self_confidence: np.ndarray, classes: _ClassIndex) -> np.ndarray:
    """t_k = mean probability of class k over tokens given k (absent classes: unreachable)."""
    present = classes.counts > 0
    sums = np.bincount(classes.labels, weights=self_confidence, minlength=len(classes.counts))
    t = np.full(len(classes.counts), _ABSENT_CLASS_THRESHOLD)
    t[present] = sums[present] / classes.counts[present]
    return np.maximum(t, _THRESHOLD_FLOOR)


def _confident_joint(labels, pred_probs, thresholds):
    """Uncalibrated confident joint C (K, K), rows = given, columns = guessed true class.

    Also returns the argmax of every row and the flat indices of off-diagonal tokens
    (confident for some class, whose guess differs from the given label). One compiled pass.
    """
    n, K = pred_probs.shape
    counts = np.zeros(K * K, dtype=np.int64)
    argmax = np.empty(n, dtype=np.int64)
    off_diagonal = np.empty(n, dtype=np.uint8)
    _kernels.confident_counts(pred_probs, labels, thresholds - _TOLERANCE, counts, argmax,
                              off_diagonal)
    # Counted as (guess, given) and transposed: the same memory layout as the reference's
    # joint, so that its sums, and the rounding ties that depend on them, come out bit-identical.
    joint = counts.reshape(K, K).T
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    return joint, argmax, np.flatnonzero(off_diagonal)


def _round_rows(matrix: np.ndarray) -> np.ndarray:
    """Round each row to integers whose total is the row's rounded sum.

    Entries with the largest rounding residual go up first (the smallest go down first).
    Equal residuals are common (a confident joint holds many counts of 1); they are ordered by
    numpy's default argsort, exactly as the reference does, so that the estimated counts, and
    therefore the flagged tokens, match it on the same numpy build. One pass always suffices:
    residuals lie in [-0.5, 0.5], so a row is off by at most half its length.
    """
    # C order: the reference rounds row by row (1-D sums and argsorts); reductions along the
    # contiguous last axis run the same inner loops, so the results are bit-identical (a sum
    # over a transposed layout would add in another order).
    matrix = np.ascontiguousarray(matrix, dtype=float)
    ints = matrix.round()
    targets = matrix.sum(axis=1).round()
    diff = targets - ints.sum(axis=1)
    rows = np.flatnonzero(np.abs(diff) > _TOLERANCE)
    if len(rows):
        step = np.where(diff[rows] < 0, -1.0, 1.0)
        changes = np.minimum(np.abs(np.round(diff[rows])), matrix.shape[1]).astype(np.int64)
        order = np.argsort(matrix[rows] - ints[rows], axis=1)
        order = np.where(step[:, None] > 0, order[:, ::-1], order)
        take = np.arange(matrix.shape[1]) < changes[:, None]
        ints[np.repeat(rows, changes), order[take]] += np.repeat(step, changes)
    return ints.astype(int)


def _calibrate(joint: np.ndarray, class_counts: np.ndarray) -> np.ndarray:
    """Scale each row of C to its given-label count, the total to n, and round per row."""
    scaled = (joint.T / np.clip(joint.sum(axis=1), 1e-100, None) * class_counts).T
    scaled = scaled / np.clip(scaled.sum(), 1e-100, None) * class_counts.sum()
    return _round_rows(scaled)


def _prune_counts(joint: np.ndarray, min_examples: int, frac_noise: float) -> np.ndarray:
    """How many tokens to flag per (true j, given k): M = C^T, diagonal kept >= min_examples."""
    matrix = joint.T
    diagonal = matrix.diagonal()
    new_diagonal = np.maximum(diagonal, min_examples)
    increase = new_diagonal - diagonal
    nonzero_off = np.maximum(np.count_nonzero(matrix, axis=0) - 1.0, 1.0)
    adjusted = matrix - increase / nonzero_off
    adjusted[adjusted < 0] = 0
    np.fill_diagonal(adjusted, new_diagonal)
    # Scale the off-diagonal counts by frac_noise; the diagonal absorbs what was removed.
    reduced = adjusted * frac_noise
    np.fill_diagonal(reduced, adjusted.diagonal())
    np.fill_diagonal(reduced, adjusted.diagonal() + np.sum(adjusted - reduced, axis=0))
    # The reference truncates here (astype(int)); its row-preserving rounding of the
    # resulting integers changes nothing.
    return reduced.astype(int)


def _counts_to_remove(prune: np.ndarray, class_counts: np.ndarray, to_remove) -> np.ndarray:
    """Prune counts overridden by an explicit number of tokens to flag per given class."""
    per_true = prune / np.sum(prune, axis=1)
    noise = per_true.sum(axis=1) - per_true.diagonal()
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (per_true.T * to_remove / noise).T
    np.fill_diagonal(scaled, class_counts - to_remove)
    return _round_rows(scaled)


def _smallest(values: np.ndarray, m: int) -> np.ndarray:
    """Positions of the m smallest values, ascending; ties go to the lower position.

    Linear time (a partition), not a full sort.
    """
    if m <= 0:
        return np.empty(0, dtype=np.intp)
    if m >= len(values):
        return np.arange(len(values))
    cut = np.partition(values, m - 1)[m - 1]
    strictly = np.flatnonzero(values < cut)
    ties = np.flatnonzero(values == cut)[:m - len(strictly)]
    return np.sort(np.concatenate((strictly, ties)))


def _prune_by_noise_rate(pred_probs, argmax, classes, prune, flaggable):
    """Per given k and true j: the M[j, k] tokens given k with the largest P[j] - P[k]
    (ties to the lower position); a compiled quickselect per (k, j)."""
    flagged = np.zeros(len(pred_probs), dtype=np.uint8)
    _kernels.prune_by_noise_rate(pred_probs, argmax, classes.order, classes.starts,
                                 np.ascontiguousarray(prune, dtype=np.int64),
                                 np.asarray(flaggable, dtype=np.int64), flagged)
    return np.flatnonzero(flagged)


def _prune_by_class(self_confidence, classes, prune, flaggable):
    """Per given k: the n_k - M[k, k] tokens given k with the lowest P[k]."""
    flagged = []
    for k in flaggable:
        members = classes[k]
        m = int(classes.counts[k] - prune[k, k])
        flagged.append(members[_smallest(self_confidence[members], m)])
    return _union(flagged, len(self_confidence))


def _union(parts, n_tokens: int) -> np.ndarray:
    """Sorted union of index arrays, through a mask (faster than np.unique)."""
    mask = np.zeros(n_tokens, dtype=bool)
    for part in parts:
        mask[part] = True
    return np.flatnonzero(mask)


def _agrees_with_prediction(labels, pred_probs, argmax, candidates) -> np.ndarray:
    """True where argmax(P + 1e-6 e_y) == y: a tie with the given label counts as agreement.

    Only tokens whose argmax differs from y and whose given-label probability is within the
    tolerance of the top are recomputed exactly (in the dtype of pred_probs).
    """
    given = labels[candidates]
    top = argmax[candidates]
    agrees = top == given
    close = np.flatnonzero(~agrees)
    gap = pred_probs[candidates[close], top[close]] - pred_probs[candidates[close], given[close]]
    close = close[gap <= 2 * _TOLERANCE]
    if len(close):
        rows = pred_probs[candidates[close]]
        rows[np.arange(len(close)), given[close]] += _TOLERANCE
        agrees[close] = rows.argmax(axis=1) == given[close]
    return agrees


def _adjusted(pred_probs_rows, thresholds):
    """cleanlab's adjust_pred_probs: subtract class thresholds, shift, renormalize rows."""
    rows = pred_probs_rows - thresholds
    rows += thresholds.max()
    rows /= rows.sum(axis=1, keepdims=True)
    return rows


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


def _flagged_indices(data, filter_by, frac_noise, num_to_remove_per_class, min_examples_per_class,
                     user_joint):
    """Flat indices of flagged tokens (ascending) and the per-class thresholds."""
    labels, pred_probs = data.labels, data.pred_probs
    K = data.n_classes
    classes = _ClassIndex(labels, K)
    self_confidence = data.self_confidence
    thresholds = _thresholds(self_confidence, classes)
    joint, argmax, off_diagonal = _confident_joint(labels, pred_probs, thresholds)
    present = np.flatnonzero(classes.counts)
    if len(present) < 2:
        v.warn(f"find_label_issues: labels hold only one class ({present.tolist()}); a label can be "
               "flagged only where the model is confident about a class absent from the labels.")

    if filter_by == "confident_learning":
        candidates = off_diagonal
    elif filter_by == "predicted_neq_given":
        candidates = np.flatnonzero(argmax != labels)
    elif filter_by in ("low_self_confidence", "low_normalized_margin"):
        # As many tokens as the off-diagonal count that survives the final filter, lowest scores.
        n_issues = int(np.count_nonzero(~_agrees_with_prediction(labels, pred_probs, argmax,
                                                                  off_diagonal)))
        scores = _token_scores(labels, pred_probs, filter_by[4:], self_confidence)
        return _smallest(scores, n_issues), thresholds
    else:
        if user_joint is None:
            prune = _prune_counts(_calibrate(joint, classes.counts), min_examples_per_class, frac_noise)
        else:
            prune = _prune_counts(np.asarray(user_joint), min_examples_per_class, frac_noise)
        if num_to_remove_per_class is not None:
            prune = _counts_to_remove(prune, classes.counts, np.asarray(num_to_remove_per_class))
        # A class needs more than min_examples_per_class tokens (and at least 2) to be pruned.
        flaggable = np.flatnonzero(classes.counts > max(min_examples_per_class, 1))
        small = np.flatnonzero((classes.counts > 0) & (classes.counts <= max(min_examples_per_class, 1)))
        if small.size:
            v.warn(f"find_label_issues: classes {small.tolist()} are not searched for label "
                   f"issues: a class needs more than max(min_examples_per_class, 1) = "
                   f"{max(min_examples_per_class, 1)} tokens.")
        if filter_by in ("prune_by_noise_rate", "both"):
            candidates = _prune_by_noise_rate(pred_probs, argmax, classes, prune, flaggable)
        if filter_by in ("prune_by_class", "both"):
            by_class = _prune_by_class(self_confidence, classes, prune, flaggable)
            candidates = by_class if filter_by == "prune_by_class" else \
                np.intersect1d(candidates, by_class, assume_unique=True)
    candidates = np.asarray(candidates, dtype=np.intp)
    keep = ~_agrees_with_prediction(labels, pred_probs, argmax, candidates)
    return candidates[keep], thresholds


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
        Confident-learning method (see the README for each).
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
    flagged, thresholds = _flagged_indices(data, filter_by, frac_noise, num_to_remove_per_class,
                                           min_examples_per_class, confident_joint)
    if verbose:
        print(f"Number of label issues found: {len(flagged)}")
    if return_indices_ranked_by is not None:
        if return_indices_ranked_by == "self_confidence" and not adjust:
            scores = data.self_confidence[flagged]
        else:
            rows = data.pred_probs[flagged]
            if adjust:
                rows = _adjusted(rows, thresholds)
            scores = _token_scores(data.labels[flagged], rows, return_indices_ranked_by)
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
    return _data_joint(data, calibrate=calibrate)


def _data_joint(data, *, calibrate: bool = True) -> np.ndarray:
    """The (calibrated) confident joint of checked token data; zeros for no tokens."""
    K = data.n_classes
    if data.n_tokens == 0:
        return np.zeros((K, K), dtype=int)
    classes = _ClassIndex(data.labels, K)
    joint, _, _ = _confident_joint(data.labels, data.pred_probs,
                                   _thresholds(data.self_confidence, classes))
    return _calibrate(joint, classes.counts) if calibrate else joint


def _flagged_tokens(data, issues, func: str) -> np.ndarray:
    """Sorted flat indices of ``issues`` ((sentence, token) pairs), or by default of the tokens
    :func:`find_label_issues` flags with its defaults."""
    if issues is None:
        return _flagged_indices(data, "prune_by_noise_rate", 1.0, None, 1, None)[0]
    return np.unique(_issues_to_flat(issues, data.offsets, func))


def _issues_to_flat(issues, offsets, func: str) -> np.ndarray:
    pairs = np.asarray(list(issues), dtype=np.int64).reshape(-1, 2) if len(issues) else \
        np.empty((0, 2), dtype=np.int64)
    i, j = pairs[:, 0], pairs[:, 1]
    n_sentences = len(offsets) - 1
    bad = (i < 0) | (i >= n_sentences)
    if not bad.any():
        bad = (j < 0) | (j >= offsets[i + 1] - offsets[i])
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise v.TokenLQInputError(
            f"{func}: issue {k} = ({i[k]}, {j[k]}) does not name a token of the data.")
    return offsets[i] + j


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
