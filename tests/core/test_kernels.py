"""The compiled kernels agree with plain numpy, and every input form takes a correct path."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tokenlq import _kernels, find_label_issues, get_label_quality_scores
from tokenlq._confident import ClassIndex as _ClassIndex

from ._corpus import flat, make_corpus


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n_classes=st.integers(2, 6), levels=st.integers(2, 5))
def test_prune_by_noise_rate_matches_a_stable_sort(seed, n_classes, levels):
    # Probabilities on a coarse grid: many equal margins, so tie-breaking is exercised.
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    raw = rng.integers(0, levels, (n, n_classes)).astype(float) + 1e-3
    pred_probs = raw / raw.sum(axis=1, keepdims=True)
    labels = rng.integers(0, n_classes, n)
    classes = _ClassIndex(labels, n_classes)
    prune = rng.integers(0, 4, (n_classes, n_classes)).astype(np.int64)
    flaggable = np.arange(n_classes, dtype=np.int64)
    flagged = np.zeros(n, dtype=np.uint8)
    _kernels.prune_by_noise_rate(pred_probs, pred_probs.argmax(axis=1).astype(np.int64),
                                 classes.order, classes.starts, prune, flaggable, flagged)
    expected = np.zeros(n, dtype=bool)
    for k in range(n_classes):
        members = np.flatnonzero(labels == k)
        for j in range(n_classes):
            if j != k and prune[j, k] > 0:
                margin = pred_probs[members, j] - pred_probs[members, k]
                expected[members[np.argsort(-margin, kind="stable")[:prune[j, k]]]] = True
    np.testing.assert_array_equal(flagged.astype(bool), expected)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n_classes=st.integers(2, 12))
def test_confident_counts_matches_numpy(seed, n_classes):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    pred_probs = rng.dirichlet(np.full(n_classes, 0.5), size=n)
    pred_probs[rng.random(n) < 0.2] = 1 / n_classes  # exact ties for the argmax
    labels = rng.integers(0, n_classes, n)
    cutoffs = rng.uniform(0, 0.6, n_classes)
    counts = np.zeros(n_classes * n_classes, dtype=np.int64)
    argmax = np.empty(n, dtype=np.int64)
    off = np.empty(n, dtype=np.uint8)
    _kernels.confident_counts(pred_probs, labels, cutoffs, counts, argmax, off)
    confident = pred_probs >= cutoffs
    n_confident = confident.sum(axis=1)
    guess = np.where(n_confident > 1, pred_probs.argmax(axis=1), confident.argmax(axis=1))
    any_confident = n_confident > 0
    np.testing.assert_array_equal(argmax, pred_probs.argmax(axis=1))
    np.testing.assert_array_equal(
        counts, np.bincount(guess[any_confident] * n_classes + labels[any_confident],
                            minlength=n_classes ** 2))
    np.testing.assert_array_equal(off.astype(bool), any_confident & (guess != labels))


def test_scan_reports_negatives_row_sums_and_non_finite():
    probs = np.array([[0.2, 0.8], [0.5, 0.49]])
    out = np.empty(2)
    finite, negatives, s_lo, s_hi = _kernels.scan_gather(probs, np.array([1, 0]), out)
    assert finite and negatives == 0 and s_lo == pytest.approx(0.99) and s_hi == pytest.approx(1.0)
    np.testing.assert_array_equal(out, [0.8, 0.5])
    probs[0] = [-1e-9, 1.0]
    assert _kernels.scan_gather(probs, np.array([1, 0]), out)[1] == 1
    for bad in (np.nan, np.inf, -np.inf):
        probs[1, 1] = bad
        assert _kernels.scan_gather(probs, np.array([1, 0]), out)[0] is False


LABELS, PROBS = make_corpus(4, n_sentences=50, n_classes=4, empty=True)


@pytest.mark.parametrize("form", ["list of arrays", "fortran arrays", "lists", "float32",
                                  "mixed dtypes", "tuples", "numpy int labels"])
def test_every_nested_form_gives_the_same_scores(form):
    labels, probs = LABELS, PROBS
    if form == "fortran arrays":
        probs = [np.asfortranarray(p) for p in probs]
    elif form == "lists":
        probs = [p.tolist() for p in probs]
    elif form == "float32":
        probs = [p.astype(np.float32) for p in probs]
    elif form == "mixed dtypes":
        probs = [p.astype(np.float32) if i % 2 else p for i, p in enumerate(probs)]
    elif form == "tuples":
        labels = [tuple(s) for s in labels]
    elif form == "numpy int labels":
        labels = [[np.int64(x) for x in s] for s in labels]
    reference, _ = get_label_quality_scores(*flat(LABELS, PROBS))
    scores, tokens = get_label_quality_scores(labels, probs)
    tol = 1e-7 if form in ("float32", "mixed dtypes") else 0
    np.testing.assert_allclose(scores, reference, atol=tol, rtol=0)
    assert scores.dtype == (np.float32 if form == "float32" else np.float64)


def test_nested_fast_path_still_reports_errors_precisely():
    probs = [p.copy() for p in PROBS]
    i = next(i for i, p in enumerate(probs) if len(p) > 1)
    probs[i][1, 0] = np.nan
    with pytest.raises(ValueError, match=f"sentence {i}, token 1"):
        get_label_quality_scores(LABELS, probs)
    probs[i][1] = [-5e-7, 1 + 5e-7, 0, 0]  # within tolerance: clipped, scored
    scores, tokens = get_label_quality_scores(LABELS, probs)
    assert 0 <= tokens.flat.min() and tokens.flat.max() <= 1


@pytest.mark.parametrize("value, fragment", [
    (True, "is bool True"), (2.0, "is float 2.0"), (2**70, "64-bit integers"), ("B-PER", "is str 'B-PER'"),
])
def test_python_label_types(value, fragment):
    labels = [[0, value]]
    with pytest.raises(ValueError, match=fragment):
        get_label_quality_scores(labels, [np.array([[0.5, 0.5], [0.5, 0.5]])])


def test_find_label_issues_on_float32_matches_float64_decisions():
    labels, probs = make_corpus(8, n_sentences=300, n_classes=6)
    ours64 = find_label_issues(labels, probs)
    ours32 = find_label_issues(labels, [p.astype(np.float32) for p in probs])
    assert len(set(ours64) ^ set(ours32)) <= 2
