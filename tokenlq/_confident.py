"""Confident learning over flat tokens: class thresholds, the confident joint, its calibration,
the prune counts and the pruning itself.

One implementation for both paths: :mod:`tokenlq.filter` (everything in memory) and
:mod:`tokenlq.chunked` (files larger than memory, chunk by chunk). What needs the whole corpus
is carried by :class:`Accumulator`, fed chunk by chunk in token order; the in-memory path feeds
it one chunk. Inputs are checked token data (``_validation.check_token_data``): nothing here
validates them again (only :func:`issues_to_flat` checks the issues it is given). The passes
over ``pred_probs`` (n, K) are compiled loops (``_kernels``) that make no (n, K) temporaries;
the rest is vectorized numpy over K, K x K or flagged tokens.
"""

from __future__ import annotations

import numpy as np

from . import _kernels, _validation as v
from ._scores import token_scores

TOLERANCE = 1e-6  # slack of every probability comparison in confident learning
THRESHOLD_FLOOR = 2e-6  # per-class thresholds are raised to at least this
ABSENT_CLASS_THRESHOLD = 2.0  # no probability reaches it: an absent class is never "confident"


class ClassIndex:
    """Token indices grouped by given class, each group in ascending token order.

    ``counts`` are the tokens per class when already known; with ``positions`` (ascending),
    only those tokens are indexed.
    """

    def __init__(self, labels: np.ndarray, n_classes: int, counts=None, positions=None):
        if positions is not None:
            labels = labels[positions]
        # A stable sort of small unsigned ints is a radix sort: linear time.
        small = labels.astype(np.uint8 if n_classes <= 256 else np.uint16 if n_classes <= 65536
                              else np.int64)
        self.order = np.argsort(small, kind="stable").astype(np.int64, copy=False)
        if positions is not None:
            self.order = positions[self.order]
        self.counts = np.bincount(labels, minlength=n_classes) if counts is None else counts
        self.starts = np.concatenate(([0], np.cumsum(self.counts))).astype(np.int64)

    def __getitem__(self, k: int) -> np.ndarray:
        return self.order[self.starts[k]:self.starts[k + 1]]


# --------------------------------------------------------------------------- corpus-wide state


class Accumulator:
    """What confident learning needs from the whole corpus, fed chunk by chunk in token order.

    Two passes over the chunks: :meth:`add_self_confidence` on every chunk fixes
    :attr:`thresholds`; then :meth:`add_joint_counts`, with the counts :func:`joint_counts`
    makes of every chunk (possibly on another machine), gives the confident joint. The sums
    continue the in-memory additions in the same order, so the results are bit-identical
    whatever the chunking; the in-memory path is one chunk.
    """

    def __init__(self, n_classes: int):
        self.n_classes = n_classes
        self.class_counts = np.zeros(n_classes, dtype=np.int64)
        self._sums = None  # per class, the sum of P[f, y_f] over tokens given it
        self._counts = np.zeros(n_classes * n_classes, dtype=np.int64)  # (guess, given)

    def add_self_confidence(self, labels: np.ndarray, self_confidence: np.ndarray) -> None:
        K = self.n_classes
        if self._sums is None:
            self._sums = np.bincount(labels, weights=self_confidence, minlength=K)
        else:  # bincount adds in token order: continue it after the running sums
            self._sums = np.bincount(np.concatenate((np.arange(K), labels)),
                                     weights=np.concatenate((self._sums, self_confidence)),
                                     minlength=K)
        self.class_counts += np.bincount(labels, minlength=K)

    @property
    def thresholds(self) -> np.ndarray:
        """t_k = mean P[f, k] over tokens given k (absent classes: unreachable), floored."""
        present = self.class_counts > 0
        t = np.full(self.n_classes, ABSENT_CLASS_THRESHOLD)
        t[present] = self._sums[present] / self.class_counts[present]
        return np.maximum(t, THRESHOLD_FLOOR)

    def add_joint_counts(self, counts: np.ndarray) -> None:
        self._counts += counts

    @property
    def joint(self) -> np.ndarray:
        """Uncalibrated confident joint C (K, K), rows = given, columns = guessed true class."""
        K = self.n_classes
        # Counted as (guess, given) and transposed: the same memory layout as the reference's
        # joint, so that its sums, and the rounding ties that depend on them, come out
        # bit-identical.
        joint = self._counts.copy().reshape(K, K).T
        np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
        return joint

    def calibrated_joint(self) -> np.ndarray:
        return calibrate(self.joint, self.class_counts)

    def prune_counts(self, *, min_examples: int = 1, frac_noise: float = 1.0, joint=None,
                     num_to_remove=None) -> np.ndarray:
        """M (K, K): how many tokens to flag per (true j, given k); from the calibrated joint
        unless a ``joint`` is given, or from an explicit number to remove per given class."""
        joint = self.calibrated_joint() if joint is None else np.asarray(joint)
        prune = prune_counts(joint, min_examples, frac_noise)
        if num_to_remove is not None:
            prune = counts_to_remove(prune, self.class_counts, np.asarray(num_to_remove))
        return prune

    def warn_if_one_class(self, func: str) -> None:
        present = np.flatnonzero(self.class_counts)
        if len(present) < 2:
            v.warn(f"{func}: labels hold only one class ({present.tolist()}); a label can be "
                   "flagged only where the model is confident about a class absent from the "
                   "labels.")

    def flaggable(self, min_examples: int, func: str) -> np.ndarray:
        """Classes searched for issues: those with more than max(min_examples, 1) tokens (a
        class of one token is never flagged); warns about the smaller ones present."""
        least = max(min_examples, 1)
        small = np.flatnonzero((self.class_counts > 0) & (self.class_counts <= least))
        if small.size:
            v.warn(f"{func}: classes {small.tolist()} are not searched for label issues: a class "
                   f"needs more than max(min_examples_per_class, 1) = {least} tokens.")
        return np.flatnonzero(self.class_counts > least)


def joint_counts(labels, pred_probs, thresholds):
    """One compiled pass over a chunk: confident-joint counts (K * K,) as (guess, given), the
    argmax of every row, and the positions of off-diagonal tokens (confident for some class,
    whose guess differs from the given label)."""
    n, K = pred_probs.shape
    counts = np.zeros(K * K, dtype=np.int64)
    argmax = np.empty(n, dtype=np.int64)
    off_diagonal = np.empty(n, dtype=np.uint8)
    _kernels.confident_counts(pred_probs, labels, thresholds - TOLERANCE, counts, argmax,
                              off_diagonal)
    return counts, argmax, np.flatnonzero(off_diagonal)


# --------------------------------------------------------------------------- calibration, counts


def round_rows(matrix: np.ndarray) -> np.ndarray:
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
    rows = np.flatnonzero(np.abs(diff) > TOLERANCE)
    if len(rows):
        step = np.where(diff[rows] < 0, -1.0, 1.0)
        changes = np.minimum(np.abs(np.round(diff[rows])), matrix.shape[1]).astype(np.int64)
        order = np.argsort(matrix[rows] - ints[rows], axis=1)
        order = np.where(step[:, None] > 0, order[:, ::-1], order)
        take = np.arange(matrix.shape[1]) < changes[:, None]
        ints[np.repeat(rows, changes), order[take]] += np.repeat(step, changes)
    return ints.astype(int)


def calibrate(joint: np.ndarray, class_counts: np.ndarray) -> np.ndarray:
    """Scale each row of C to its given-label count, the total to n, and round per row."""
    scaled = (joint.T / np.clip(joint.sum(axis=1), 1e-100, None) * class_counts).T
    scaled = scaled / np.clip(scaled.sum(), 1e-100, None) * class_counts.sum()
    return round_rows(scaled)


def prune_counts(joint: np.ndarray, min_examples: int, frac_noise: float) -> np.ndarray:
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


def counts_to_remove(prune: np.ndarray, class_counts: np.ndarray, to_remove) -> np.ndarray:
    """Prune counts overridden by an explicit number of tokens to flag per given class."""
    per_true = prune / np.sum(prune, axis=1)
    noise = per_true.sum(axis=1) - per_true.diagonal()
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = (per_true.T * to_remove / noise).T
    np.fill_diagonal(scaled, class_counts - to_remove)
    return round_rows(scaled)


# --------------------------------------------------------------------------- pruning


def smallest(values: np.ndarray, m: int) -> np.ndarray:
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


def prune_by_noise_rate(pred_probs, argmax, classes: ClassIndex, prune, flaggable) -> np.ndarray:
    """Per given k and true j: the M[j, k] tokens given k with the largest P[j] - P[k]
    (ties to the lower position); a compiled quickselect per (k, j). Sorted positions."""
    flagged = np.zeros(len(pred_probs), dtype=np.uint8)
    _kernels.prune_by_noise_rate(pred_probs, argmax, classes.order, classes.starts,
                                 np.ascontiguousarray(prune, dtype=np.int64),
                                 np.asarray(flaggable, dtype=np.int64), flagged)
    return np.flatnonzero(flagged)


def largest_margins(labels, pred_probs, prune, flaggable, *, disputed_only: bool) -> dict:
    """:func:`prune_by_noise_rate` of one chunk, cell by cell: {(k, j): (margins, positions)}.

    With ``disputed_only``, only tokens whose argmax is not their label are searched: the
    only ones whose margin can be positive. The kernel flags the union of all cells; each
    cell's m tokens are among those flagged and given k, so they are the m largest margins
    P[j] - P[k] there (ties to the lower position). The m best of a chunk include every token
    of the chunk among the corpus's m best, so merging the chunks' cells in token order
    (:class:`LargestMargins`) gives the in-memory result.
    """
    K = pred_probs.shape[1]
    argmax = pred_probs.argmax(axis=1)  # lowest index on ties, as the compiled pass
    positions = np.flatnonzero(argmax != labels) if disputed_only else None
    flagged = prune_by_noise_rate(pred_probs, argmax, ClassIndex(labels, K, positions=positions),
                                  prune, flaggable)
    groups = ClassIndex(labels, K, positions=flagged)
    cells = {}
    for k in np.flatnonzero(groups.counts).tolist():
        members = groups[k]
        rows = pred_probs[members]
        for j in np.flatnonzero(prune[:, k] > 0).tolist():
            if j != k:
                # In the input's precision, then widened: the kernel's comparison.
                margins = (rows[:, j] - rows[:, k]).astype(np.float64)
                cells[(k, j)] = merge_largest(None, margins, members, int(prune[j, k]))
    return cells


def merge_largest(running, margins, index, m):
    """The m best of ``running`` (margins, positions) and the new tokens, by largest margin,
    then lowest position; the new tokens come after every running one."""
    if running is not None:
        # Once the running set is full only a strictly larger margin can enter: most chunks
        # change nothing and cost one comparison per token.
        if len(running[0]) >= m:
            better = margins > running[0].min()
            if not better.any():
                return running
            margins, index = margins[better], index[better]
        margins = np.concatenate((running[0], margins))
        index = np.concatenate((running[1], index))
    if len(margins) > m:
        cut = margins[np.argpartition(-margins, m - 1)[m - 1]]
        above = np.flatnonzero(margins > cut)
        ties = np.flatnonzero(margins == cut)
        ties = ties[np.argsort(index[ties], kind="stable")][:m - len(above)]
        chosen = np.concatenate((above, ties))
        margins, index = margins[chosen], index[chosen]
    return margins, index


class LargestMargins:
    """Per cell (given k, true j), the running ``prune[j, k]`` tokens with the largest margin
    P[j] - P[k] (ties to the lower position), merged from chunks fed in token order."""

    def __init__(self, prune: np.ndarray):
        self.prune = prune
        self.best: dict = {}

    def add(self, cells: dict) -> None:
        for (k, j), (margins, index) in cells.items():
            self.best[(k, j)] = merge_largest(self.best.get((k, j)), margins, index,
                                              int(self.prune[j, k]))

    def drop_unsettled(self, flaggable) -> np.ndarray:
        """After feeding only disputed tokens: the prune counts of the cells whose m best are
        not m positive margins (and only those could still take a token the model predicts as
        its label); their running tokens are dropped, to be searched again over every token."""
        unsettled = np.zeros_like(self.prune)
        for k in np.asarray(flaggable).tolist():
            for j in np.flatnonzero(self.prune[:, k] > 0).tolist():
                m, cell = int(self.prune[j, k]), self.best.get((k, j))
                if j != k and (cell is None or len(cell[0]) < m or cell[0].min() <= 0):
                    unsettled[j, k] = m
                    self.best.pop((k, j), None)
        return unsettled

    def flagged(self) -> np.ndarray:
        """Sorted positions of the union of all cells."""
        if not self.best:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate([index for _, index in self.best.values()]))


def prune_by_class(self_confidence, classes: ClassIndex, prune, flaggable) -> np.ndarray:
    """Per given k: the n_k - M[k, k] tokens given k with the lowest P[k]."""
    mask = np.zeros(len(self_confidence), dtype=bool)  # a sorted union, faster than np.unique
    for k in flaggable:
        members = classes[k]
        m = int(classes.counts[k] - prune[k, k])
        mask[members[smallest(self_confidence[members], m)]] = True
    return np.flatnonzero(mask)


def agrees_with_prediction(labels, pred_probs, candidates, top) -> np.ndarray:
    """True where argmax(P + 1e-6 e_y) == y for the ``candidates`` (positions, with ``top``
    their argmax): a tie with the given label counts as agreement.

    Only tokens whose argmax differs from y and whose given-label probability is within the
    tolerance of the top are recomputed exactly (in the dtype of pred_probs).
    """
    given = labels[candidates]
    agrees = top == given
    close = np.flatnonzero(~agrees)
    gap = pred_probs[candidates[close], top[close]] - pred_probs[candidates[close], given[close]]
    close = close[gap <= 2 * TOLERANCE]
    if len(close):
        rows = pred_probs[candidates[close]]
        rows[np.arange(len(close)), given[close]] += TOLERANCE
        agrees[close] = rows.argmax(axis=1) == given[close]
    return agrees


def adjusted_pred_probs(pred_probs_rows, thresholds):
    """adjust_pred_probs: subtract class thresholds, shift, renormalize rows."""
    rows = pred_probs_rows - thresholds
    rows += thresholds.max()
    rows /= rows.sum(axis=1, keepdims=True)
    return rows


# --------------------------------------------------------------------------- in memory


def flagged_indices(data, *, filter_by: str = "prune_by_noise_rate", frac_noise: float = 1.0,
                    num_to_remove_per_class=None, min_examples_per_class: int = 1,
                    confident_joint=None, func: str = "find_label_issues"):
    """Flat indices (ascending) of the tokens of checked, non-empty data that ``filter_by``
    flags, and the per-class thresholds."""
    labels, pred_probs = data.labels, data.pred_probs
    K = data.n_classes
    corpus = Accumulator(K)
    corpus.add_self_confidence(labels, data.self_confidence)
    thresholds = corpus.thresholds
    counts, argmax, off_diagonal = joint_counts(labels, pred_probs, thresholds)
    corpus.add_joint_counts(counts)
    corpus.warn_if_one_class(func)

    if filter_by == "confident_learning":
        candidates = off_diagonal
    elif filter_by == "predicted_neq_given":
        candidates = np.flatnonzero(argmax != labels)
    elif filter_by in ("low_self_confidence", "low_normalized_margin"):
        # As many tokens as the off-diagonal count that survives the final filter, lowest scores.
        n_issues = int(np.count_nonzero(~agrees_with_prediction(labels, pred_probs, off_diagonal,
                                                                 argmax[off_diagonal])))
        scores = token_scores(labels, pred_probs, filter_by[4:], data.self_confidence)
        return smallest(scores, n_issues), thresholds
    else:
        prune = corpus.prune_counts(min_examples=min_examples_per_class, frac_noise=frac_noise,
                                    joint=confident_joint, num_to_remove=num_to_remove_per_class)
        flaggable = corpus.flaggable(min_examples_per_class, func)
        classes = ClassIndex(labels, K, corpus.class_counts)
        if filter_by in ("prune_by_noise_rate", "both"):
            candidates = prune_by_noise_rate(pred_probs, argmax, classes, prune, flaggable)
        if filter_by in ("prune_by_class", "both"):
            by_class = prune_by_class(data.self_confidence, classes, prune, flaggable)
            candidates = by_class if filter_by == "prune_by_class" else \
                np.intersect1d(candidates, by_class, assume_unique=True)
    candidates = np.asarray(candidates, dtype=np.intp)
    keep = ~agrees_with_prediction(labels, pred_probs, candidates, argmax[candidates])
    return candidates[keep], thresholds


def data_joint(data, *, calibrate: bool = True) -> np.ndarray:
    """The (calibrated) confident joint of checked token data; zeros for no tokens."""
    K = data.n_classes
    if data.n_tokens == 0:
        return np.zeros((K, K), dtype=int)
    corpus = Accumulator(K)
    corpus.add_self_confidence(data.labels, data.self_confidence)
    corpus.add_joint_counts(joint_counts(data.labels, data.pred_probs, corpus.thresholds)[0])
    return corpus.calibrated_joint() if calibrate else corpus.joint


def flagged_tokens(data, issues, func: str) -> np.ndarray:
    """Sorted flat indices of ``issues`` ((sentence, token) pairs), or by default of the tokens
    :func:`tokenlq.find_label_issues` flags with its defaults."""
    if issues is None:
        return flagged_indices(data, func="find_label_issues")[0]
    return np.unique(issues_to_flat(issues, data.offsets, func))


def issues_to_flat(issues, offsets, func: str) -> np.ndarray:
    """Flat indices of (sentence, token) pairs; an error names the first pair off the data."""
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
