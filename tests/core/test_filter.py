"""find_label_issues and the confident joint: behaviour beyond parity."""

import numpy as np
import pytest

from tokenlq import confident_joint, estimated_error_rates, find_label_issues, get_label_quality_scores
from tokenlq.filter import FILTER_BY_METHODS

from ._corpus import flat, make_corpus


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(7, n_sentences=300, n_classes=5)


@pytest.mark.parametrize("filter_by", [m for m in FILTER_BY_METHODS if not m.startswith("low_")])
def test_every_issue_disagrees_with_the_prediction(corpus, filter_by):
    labels, pred_probs = corpus
    issues = find_label_issues(labels, pred_probs, filter_by=filter_by)
    assert issues
    for i, j in issues:
        assert np.argmax(pred_probs[i][j]) != labels[i][j]


def test_ranked_by_ascending_score_ties_by_position(corpus):
    labels, pred_probs = corpus
    issues = find_label_issues(labels, pred_probs)
    _, token_scores = get_label_quality_scores(labels, pred_probs)
    keys = [(token_scores[i].iloc[j], i, j) for i, j in issues]
    assert keys == sorted(keys)


def test_ties_are_broken_by_position():
    probs = np.array([[0.2, 0.8]] * 4 + [[0.9, 0.1]] * 6)
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    issues = find_label_issues(labels, probs, [0, 2, 5, 10], filter_by="predicted_neq_given")
    # Scores 0.1 (given 1) come before 0.2 (given 0); equal scores keep their position.
    assert issues == [(1, 2), (2, 0), (2, 1), (2, 2), (2, 3), (2, 4), (0, 0), (0, 1), (1, 0), (1, 1)]


def test_unranked_is_dataset_order(corpus):
    labels, pred_probs = corpus
    ranked = find_label_issues(labels, pred_probs)
    unranked = find_label_issues(labels, pred_probs, return_indices_ranked_by=None)
    assert unranked == sorted(ranked)


def test_low_memory_gives_the_exact_ranked_result(corpus):
    labels, pred_probs = corpus
    assert find_label_issues(labels, pred_probs, low_memory=True) == find_label_issues(labels, pred_probs)


def test_flat_input_equals_nested(corpus):
    labels, pred_probs = corpus
    for filter_by in FILTER_BY_METHODS:
        assert find_label_issues(*flat(labels, pred_probs), filter_by=filter_by) == \
            find_label_issues(labels, pred_probs, filter_by=filter_by)


def test_n_jobs_does_not_change_results(corpus):
    labels, pred_probs = corpus
    assert find_label_issues(labels, pred_probs, n_jobs=2) == find_label_issues(labels, pred_probs)


def test_verbose_prints_the_count(corpus, capsys):
    labels, pred_probs = corpus
    issues = find_label_issues(labels, pred_probs, verbose=True)
    assert capsys.readouterr().out.strip() == f"Number of label issues found: {len(issues)}"


def test_frac_noise_returns_fewer(corpus):
    labels, pred_probs = corpus
    full = find_label_issues(labels, pred_probs)
    half = find_label_issues(labels, pred_probs, frac_noise=0.5)
    assert 0 < len(half) < len(full)
    assert set(half) <= set(full)


def test_detects_injected_flips():
    labels, pred_probs = make_corpus(3, n_sentences=400, n_classes=4, noise=0.0)
    rng = np.random.default_rng(0)
    truth = [list(s) for s in labels]
    flipped = set()
    for i in rng.choice(len(labels), 40, replace=False):
        j = int(rng.integers(len(labels[i])))
        labels[i][j] = (truth[i][j] + 1) % 4
        flipped.add((int(i), j))
    found = set(find_label_issues(labels, pred_probs))
    assert len(found & flipped) / len(flipped) > 0.8


def test_calibrated_joint_rows_sum_to_class_counts(corpus):
    labels, pred_probs = corpus
    joint = confident_joint(labels, pred_probs)
    counts = np.bincount([x for s in labels for x in s], minlength=5)
    np.testing.assert_array_equal(joint.sum(axis=1), counts)
    raw = confident_joint(labels, pred_probs, calibrate=False)
    assert np.all(raw.diagonal() >= 1) and raw.sum() <= counts.sum() + 5


def test_estimated_error_rates():
    rates = estimated_error_rates(np.array([[8, 2, 0], [1, 9, 0], [0, 0, 0]]))
    np.testing.assert_allclose(rates[:2], [0.2, 0.1])
    assert np.isnan(rates[2])
