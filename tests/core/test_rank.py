"""Sentence and token scores: reference vectors, properties, edge cases."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from tokenlq import get_label_quality_scores, issues_from_scores, sentence_issues, token_issues
from tokenlq.rank import TOKEN_SCORE_METHODS, TokenScores, _softmin_sentence_score

from ._corpus import flat, make_corpus


def test_tiny_self_confidence(tiny):
    sentence_scores, token_scores = get_label_quality_scores(*tiny)
    np.testing.assert_allclose(sentence_scores, [0.7, 0.2])
    np.testing.assert_allclose(token_scores.flat, [0.9, 0.7, 0.95, 0.8, 0.2])
    assert token_scores[1].tolist() == [0.8, 0.2]


def test_tiny_softmin(tiny):
    sentence_scores, _ = get_label_quality_scores(*tiny, sentence_score_method="softmin")
    np.testing.assert_allclose(sentence_scores, [0.70521691, 0.20000369], atol=5e-9)


def test_softmin_vector_and_limits():
    scores = [[0.9, 0.6], [0.0, 0.8, 0.8], [0.8]]
    np.testing.assert_allclose(_softmin_sentence_score(scores), [6.00741787e-01, 1.80056239e-07, 0.8],
                               rtol=1e-7)
    np.testing.assert_array_equal(_softmin_sentence_score(scores, temperature=0), [0.6, 0.0, 0.8])
    np.testing.assert_allclose(_softmin_sentence_score(scores, temperature=np.inf), [0.75, 1.6 / 3, 0.8])


def test_temperature_keyword_equals_kwargs(tiny):
    a, _ = get_label_quality_scores(*tiny, sentence_score_method="softmin", temperature=0.3)
    b, _ = get_label_quality_scores(*tiny, sentence_score_method="softmin",
                                    sentence_score_kwargs={"temperature": 0.3})
    np.testing.assert_array_equal(a, b)
    c, _ = get_label_quality_scores(*tiny, sentence_score_method="softmin")
    assert not np.array_equal(a, c)


def test_tokens_index_the_series(tiny):
    tokens = [["a", "b", "a"], ["c", "d"]]
    _, token_scores = get_label_quality_scores(*tiny, tokens=tokens)
    series = token_scores[0]
    assert isinstance(series, pd.Series)
    assert series.index.tolist() == ["a", "b", "a"]
    assert token_scores[-1].index.tolist() == ["c", "d"]
    assert [s.tolist() for s in token_scores[0:2]] == [[0.9, 0.7, 0.95], [0.8, 0.2]]


def test_token_scores_are_lazy_views(tiny):
    _, token_scores = get_label_quality_scores(*tiny)
    assert isinstance(token_scores, TokenScores)
    assert len(token_scores) == 2
    assert token_scores.offsets.tolist() == [0, 3, 5]
    assert [a.tolist() for a in token_scores.arrays()] == [[0.9, 0.7, 0.95], [0.8, 0.2]]
    with pytest.raises(IndexError):
        token_scores[2]


@pytest.mark.parametrize("method", TOKEN_SCORE_METHODS)
@pytest.mark.parametrize("sentence_method", ["min", "softmin"])
def test_flat_equals_nested(method, sentence_method):
    labels, pred_probs = make_corpus(3, empty=True)
    a, ta = get_label_quality_scores(labels, pred_probs, token_score_method=method,
                                     sentence_score_method=sentence_method)
    b, tb = get_label_quality_scores(*flat(labels, pred_probs), token_score_method=method,
                                     sentence_score_method=sentence_method)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ta.flat, tb.flat)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), n_classes=st.integers(2, 9),
       method=st.sampled_from(TOKEN_SCORE_METHODS),
       dtype=st.sampled_from([np.float32, np.float64]),
       temperature=st.floats(0.001, 10))
def test_score_properties(seed, n_classes, method, dtype, temperature):
    labels, pred_probs = make_corpus(seed, n_sentences=30, n_classes=n_classes, empty=True, dtype=dtype)
    mins, tokens = get_label_quality_scores(labels, pred_probs, token_score_method=method)
    soft, _ = get_label_quality_scores(labels, pred_probs, token_score_method=method,
                                       sentence_score_method="softmin", temperature=temperature)
    means, _ = get_label_quality_scores(labels, pred_probs, token_score_method=method,
                                        sentence_score_method="softmin", temperature=np.inf)
    assert mins.dtype == dtype and soft.dtype == dtype and tokens.flat.dtype == dtype
    for scores in (mins, soft, means, tokens.flat):
        assert np.all((scores >= 0) & (scores <= 1))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.all(mins <= soft + tol) and np.all(soft <= means + tol)
    empty = np.array([len(s) == 0 for s in labels])
    assert np.all(mins[empty] == 1.0) and np.all(soft[empty] == 1.0)
    # Permuting sentences permutes their scores.
    order = np.random.default_rng(seed).permutation(len(labels))
    permuted, _ = get_label_quality_scores([labels[i] for i in order], [pred_probs[i] for i in order],
                                           token_score_method=method)
    np.testing.assert_array_equal(permuted, mins[order])


def test_normalized_margin_equals_self_confidence_for_two_classes():
    labels, pred_probs = make_corpus(1, n_classes=2)
    sc, _ = get_label_quality_scores(labels, pred_probs)
    nm, _ = get_label_quality_scores(labels, pred_probs, token_score_method="normalized_margin")
    np.testing.assert_allclose(sc, nm, atol=1e-12)


def test_entropy_score_of_a_confident_correct_prediction_is_one():
    # cleanlab scores this 0 (the worst); the limit of ln(1+x)/x at x = 0 is 1.
    _, token_scores = get_label_quality_scores([[0, 1]], [np.array([[1.0, 0.0], [0.3, 0.7]])],
                                               token_score_method="confidence_weighted_entropy")
    assert token_scores.flat[0] == 1.0
    assert 0 < token_scores.flat[1] < 1


def test_empty_corpus_and_empty_sentences():
    scores, tokens = get_label_quality_scores([], [])
    assert scores.shape == (0,) and len(tokens) == 0
    scores, tokens = get_label_quality_scores([[], [1]], [np.empty((0, 2)), np.array([[0.3, 0.7]])],
                                              sentence_score_method="softmin")
    np.testing.assert_allclose(scores, [1.0, 0.7])
    assert tokens[0].tolist() == []


def test_large_uniform_length_3d_input():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=(5, 7))
    labels = rng.integers(0, 4, (5, 7))
    a, _ = get_label_quality_scores(labels.tolist(), probs)
    b, _ = get_label_quality_scores(labels, list(probs))
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ thresholding


SCORES = [0.1, 0.3, 0.6, 0.2, 0.05, 0.9, 0.8, 0.0125, 0.5, 0.6]


def test_sentence_mode_vectors():
    assert issues_from_scores(SCORES).tolist() == [7, 4]
    assert issues_from_scores(SCORES, threshold=0.5).tolist() == [7, 4, 0, 3, 1]
    assert issues_from_scores(np.array(SCORES), token_scores=[]).tolist() == [7, 4]


def test_sentence_mode_all_below_and_empty():
    # cleanlab raises IndexError in both cases.
    assert issues_from_scores([0.01, 0.02], threshold=0.5).tolist() == [0, 1]
    assert issues_from_scores([]).tolist() == []


def test_sentence_mode_ties_keep_order():
    assert sentence_issues([0.05, 0.01, 0.05, 0.01], threshold=0.1).tolist() == [1, 3, 0, 2]


def test_token_mode(tiny):
    sentence_scores, token_scores = get_label_quality_scores(*tiny)
    assert issues_from_scores(sentence_scores, token_scores=token_scores, threshold=0.75) == \
        [(1, 1), (0, 1)]
    nested = [s.tolist() for s in token_scores]
    assert token_issues(nested, threshold=0.75) == [(1, 1), (0, 1)]
    assert token_issues(token_scores.flat, token_scores.offsets, threshold=0.75) == [(1, 1), (0, 1)]


def test_token_mode_accepts_2d_array_and_strict_threshold():
    scores = np.array([[0.1, 0.05], [0.05, 0.5]])
    assert issues_from_scores(None, token_scores=scores, threshold=0.1) == [(0, 1), (1, 0)]


def test_array_inputs_are_never_tested_for_truth(tiny):
    # cleanlab tests `if tokens:` and fails on arrays ("truth value ... ambiguous").
    tokens = np.array([np.array(["a", "b", "c"]), np.array(["d", "e"])], dtype=object)
    _, token_scores = get_label_quality_scores(*tiny, tokens=tokens)
    assert token_scores[1].index.tolist() == ["d", "e"]
    sentence_scores, token_scores = get_label_quality_scores(*tiny)
    assert issues_from_scores(sentence_scores, token_scores=np.array([[0.05, 0.2]])) == [(0, 0)]
