"""Same answers as cleanlab 2.9.0 (a test-only dependency, never imported by tokenlq).

Scores agree within 1e-9, issue sets agree for every filter_by, and rankings agree except in the
order of equal scores (cleanlab's sort is unstable there; ours is stable by position).
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import cleanlab  # noqa: F401  (a missing test extra must fail the run, not skip it)
from cleanlab.token_classification import filter as cl_filter
from cleanlab.token_classification import rank as cl_rank

from tokenlq import find_label_issues, get_label_quality_scores, issues_from_scores
from tokenlq.filter import FILTER_BY_METHODS
from tokenlq.rank import TOKEN_SCORE_METHODS

from ._corpus import flat, make_corpus

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def corpus(seed, n_classes, n_sentences=60):
    labels, pred_probs = make_corpus(seed, n_sentences=n_sentences, n_classes=n_classes)
    assert len({x for s in labels for x in s}) >= 2
    return labels, pred_probs


def assert_same_ranking(ours, theirs, labels, pred_probs, method):
    assert set(ours) == set(theirs)
    # Equal up to the order of tied scores: the scores read along both rankings are identical.
    _, token_scores = get_label_quality_scores(labels, pred_probs, token_score_method=method)
    score = lambda pairs: [token_scores.flat[token_scores.offsets[i] + j] for i, j in pairs]  # noqa: E731
    np.testing.assert_array_equal(score(ours), score(theirs))


corpora = st.tuples(st.integers(0, 10**6), st.integers(2, 9))


def entropy_ratio_below_clip(labels, pred_probs):
    """Tokens where the documented entropy-score fix applies (x = H / p_y < 1e-6)."""
    flat_labels, flat_probs, offsets = flat(labels, pred_probs)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(flat_probs > 0, flat_probs * np.log(flat_probs), 0)
    entropy = -plogp.sum(axis=1) / np.log(flat_probs.shape[1])
    x = entropy / np.maximum(flat_probs[np.arange(len(flat_labels)), flat_labels], 1e-6)
    tokens = x < 1e-6
    sentences = np.add.reduceat(tokens, offsets[:-1]) > 0
    return tokens, sentences


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=corpora, method=st.sampled_from(TOKEN_SCORE_METHODS),
       temperature=st.sampled_from([0.0, 0.01, 0.05, 0.5, np.inf]))
def test_scores_match(data, method, temperature):
    labels, pred_probs = corpus(*data)
    tokens_ok, sentences_ok = np.True_, np.True_
    if method == "confidence_weighted_entropy":
        fixed_tokens, fixed_sentences = entropy_ratio_below_clip(labels, pred_probs)
        tokens_ok, sentences_ok = ~fixed_tokens, ~fixed_sentences
    for sentence_method in ("min", "softmin"):
        kwargs = dict(token_score_method=method, sentence_score_method=sentence_method,
                      sentence_score_kwargs={"temperature": temperature})
        ours, our_tokens = get_label_quality_scores(labels, pred_probs, **kwargs)
        theirs, their_tokens = quiet(cl_rank.get_label_quality_scores, labels, pred_probs, **kwargs)
        theirs_flat = np.concatenate(their_tokens)
        np.testing.assert_allclose(np.where(sentences_ok, ours, 0), np.where(sentences_ok, theirs, 0),
                                   rtol=0, atol=1e-9)
        np.testing.assert_allclose(np.where(tokens_ok, our_tokens.flat, 0),
                                   np.where(tokens_ok, theirs_flat, 0), rtol=0, atol=1e-9)


def test_entropy_fix_is_the_only_difference():
    labels = [[0, 1]]
    pred_probs = [np.array([[1 - 1e-9, 1e-9], [0.3, 0.7]])]
    ours, tokens = get_label_quality_scores(labels, pred_probs, token_score_method="confidence_weighted_entropy")
    _, theirs = cl_rank.get_label_quality_scores(labels, pred_probs,
                                                 token_score_method="confidence_weighted_entropy")
    assert tokens.flat[0] > 0.999 and theirs[0].iloc[0] < 0.05  # cleanlab: near-worst score
    assert tokens.flat[1] == pytest.approx(theirs[0].iloc[1], abs=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=corpora, filter_by=st.sampled_from(FILTER_BY_METHODS),
       ranked_by=st.sampled_from(TOKEN_SCORE_METHODS))
def test_issues_match(data, filter_by, ranked_by):
    labels, pred_probs = corpus(*data)
    ours = quiet(find_label_issues, labels, pred_probs, filter_by=filter_by,
                 return_indices_ranked_by=ranked_by)
    theirs = quiet(cl_filter.find_label_issues, labels, pred_probs, filter_by=filter_by,
                   return_indices_ranked_by=ranked_by, n_jobs=1)
    assert_same_ranking(ours, theirs, labels, pred_probs, ranked_by)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=corpora, filter_by=st.sampled_from(["prune_by_noise_rate", "prune_by_class", "both"]),
       frac_noise=st.sampled_from([1.0, 0.8, 0.35]), min_examples=st.integers(0, 40))
def test_prune_options_match(data, filter_by, frac_noise, min_examples):
    labels, pred_probs = corpus(*data)
    kwargs = dict(filter_by=filter_by, frac_noise=frac_noise, min_examples_per_class=min_examples)
    ours = quiet(find_label_issues, labels, pred_probs, **kwargs)
    theirs = quiet(cl_filter.find_label_issues, labels, pred_probs, n_jobs=1, **kwargs)
    assert_same_ranking(ours, theirs, labels, pred_probs, "self_confidence")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=corpora, filter_by=st.sampled_from(["prune_by_noise_rate", "prune_by_class", "both"]),
       per_class=st.integers(0, 6))
def test_num_to_remove_per_class_matches(data, filter_by, per_class):
    labels, pred_probs = corpus(*data)
    k = pred_probs[0].shape[1]
    kwargs = dict(filter_by=filter_by, num_to_remove_per_class=[per_class] * k)
    ours = quiet(find_label_issues, labels, pred_probs, **kwargs)
    theirs = quiet(cl_filter.find_label_issues, labels, pred_probs, n_jobs=1, **kwargs)
    assert_same_ranking(ours, theirs, labels, pred_probs, "self_confidence")


@pytest.mark.parametrize("seed", range(3))
def test_adjusted_ranking_matches(seed):
    labels, pred_probs = corpus(seed, 6, n_sentences=150)
    kwargs = dict(return_indices_ranked_by="normalized_margin",
                  rank_by_kwargs={"adjust_pred_probs": True})
    ours = quiet(find_label_issues, labels, pred_probs, **kwargs)
    theirs = quiet(cl_filter.find_label_issues, labels, pred_probs, n_jobs=1, **kwargs)
    assert set(ours) == set(theirs) and len(ours) > 5
    assert ours == theirs  # continuous scores: no ties, so the order is the same too


@pytest.mark.parametrize("seed", range(3))
def test_user_confident_joint_matches(seed):
    labels, pred_probs = corpus(seed, 4, n_sentences=150)
    joint = np.array([[50, 3, 2, 1], [4, 40, 0, 2], [1, 1, 30, 5], [0, 2, 2, 20]])
    ours = quiet(find_label_issues, labels, pred_probs, confident_joint=joint)
    theirs = quiet(cl_filter.find_label_issues, labels, pred_probs, confident_joint=joint, n_jobs=1)
    assert ours == theirs and len(ours) > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_input_matches_cleanlab_on_nested(dtype):
    labels, pred_probs = make_corpus(11, n_sentences=300, n_classes=9, dtype=dtype)
    flat_labels, flat_probs, offsets = flat(labels, pred_probs)
    ours = quiet(find_label_issues, flat_labels, flat_probs, offsets)
    theirs = quiet(cl_filter.find_label_issues, labels, pred_probs, n_jobs=1)
    assert ours == theirs and len(ours) > 20
    ours_scores, _ = get_label_quality_scores(flat_labels, flat_probs, offsets)
    theirs_scores, _ = quiet(cl_rank.get_label_quality_scores, labels, pred_probs)
    assert ours_scores.dtype == theirs_scores.dtype == dtype
    np.testing.assert_array_equal(ours_scores, theirs_scores)


def test_issues_from_scores_match():
    labels, pred_probs = corpus(2, 5, n_sentences=200)
    sentence_scores, token_scores = get_label_quality_scores(labels, pred_probs)
    their_sentences, their_tokens = cl_rank.get_label_quality_scores(labels, pred_probs)
    for threshold in (0.05, 0.1, 0.3):
        assert issues_from_scores(sentence_scores, token_scores=token_scores, threshold=threshold) == \
            cl_rank.issues_from_scores(their_sentences, token_scores=their_tokens, threshold=threshold)
        assert set(issues_from_scores(sentence_scores, threshold=threshold).tolist()) == \
            set(cl_rank.issues_from_scores(their_sentences, threshold=threshold).tolist())
