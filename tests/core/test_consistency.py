"""Surface consistency: leave-one-out label distributions of a word across the corpus."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tokenlq import TokenLQInputError
from tokenlq.consistency import blend_surface_evidence, surface_consistency


def counted(words, labels, K, lowercase=True):
    """The same thing with one Counter per word, token by token."""
    keys = [w.lower() if lowercase else w for w in words]
    seen = {}
    for key, label in zip(keys, labels):
        seen.setdefault(key, Counter())[label] += 1
    rows, support = [], []
    for key, label in zip(keys, labels):
        others = seen[key].copy()
        others[label] -= 1
        total = sum(others.values())
        rows.append([others[k] / total if total else 0.0 for k in range(K)])
        support.append(total)
    return np.array(rows).reshape(len(keys), K), np.array(support, dtype=np.int64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Paris", "paris", "the", "Apple", "apple", "x"]),
                          st.integers(0, 3)), max_size=40),
       st.booleans())
def test_matches_counting_word_by_word(tokens, lowercase):
    words = [w for w, _ in tokens]
    labels = np.array([label for _, label in tokens], dtype=np.int64)
    offsets = [0, len(words)]
    distribution, support = surface_consistency(words, labels, offsets, n_classes=4,
                                                lowercase=lowercase)
    expected, expected_support = counted(words, labels, 4, lowercase)
    np.testing.assert_allclose(distribution, expected)
    np.testing.assert_array_equal(support, expected_support)


def test_nested_and_flat_words_give_the_same_rows():
    nested = [["Paris", "is", "big"], ["paris", "again"], ["in", "Paris"]]
    labels = np.array([1, 0, 0, 0, 0, 0, 1])
    offsets = [0, 3, 5, 7]
    flat_words = [w for s in nested for w in s]
    for words in (flat_words, np.array(flat_words, dtype=object)):
        a = surface_consistency(words, labels, offsets)
        b = surface_consistency(nested, labels, offsets)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    distribution, support = surface_consistency(nested, labels, offsets, n_classes=3)
    assert distribution.shape == (7, 3)
    # The unlabelled "paris": both other occurrences are class 1; a word seen once has no evidence.
    assert distribution[3].tolist() == [0, 1, 0] and support[3] == 2
    assert distribution[1].tolist() == [0, 0, 0] and support[1] == 0


def test_one_word_per_sentence_is_read_as_sentences():
    distribution, support = surface_consistency([["a"], ["a"]], np.array([0, 1]), [0, 1, 2])
    assert distribution.tolist() == [[0, 1], [1, 0]] and support.tolist() == [1, 1]


def test_bad_input():
    with pytest.raises(TokenLQInputError, match="'words' must hold the n = 3 words"):
        surface_consistency(["a", "b"], np.array([0, 1, 0]), [0, 3])
    with pytest.raises(TokenLQInputError, match="sentence 0 has 2 labels but 1 tokens"):
        surface_consistency([["a"], ["b", "c", "d"]], np.array([0, 1, 0, 0]), [0, 2, 4])
    with pytest.raises(TokenLQInputError, match="n_classes"):
        surface_consistency(["a", "b"], np.array([0, 2]), [0, 2], n_classes=2)
    with pytest.raises(TokenLQInputError, match="flat"):
        surface_consistency(["a", "b"], np.array([[0, 2]]), [0, 2])


def test_empty_corpus():
    distribution, support = surface_consistency([], np.array([], dtype=np.int64), [0], n_classes=3)
    assert distribution.shape == (0, 3) and support.shape == (0,)


def test_blend_moves_rows_by_support_and_keeps_them_distributions(rng):
    probs = rng.dirichlet(np.ones(4), size=50)
    words = rng.choice(["a", "b", "c", "d", "solo"], size=50)
    words[0] = "once"
    labels = rng.integers(0, 4, 50)
    distribution, support = surface_consistency(words, labels, [0, 50], n_classes=4)
    blended = blend_surface_evidence(probs, distribution, support, weight=0.5, prior_count=5)
    np.testing.assert_allclose(blended.sum(axis=1), 1)
    np.testing.assert_array_equal(blended[0], probs[0])  # no other occurrence: unchanged
    w = 0.5 * support / (support + 5)
    np.testing.assert_allclose(blended, probs * (1 - w[:, None]) + distribution * w[:, None])
    np.testing.assert_array_equal(
        blend_surface_evidence(probs, distribution, support, weight=0), probs)


def test_blend_bad_input():
    probs = np.full((2, 2), 0.5)
    with pytest.raises(TokenLQInputError, match="'weight' parameter"):
        blend_surface_evidence(probs, probs, [1, 1], weight=1.5)
    with pytest.raises(TokenLQInputError, match="'prior_count' parameter"):
        blend_surface_evidence(probs, probs, [1, 1], prior_count=0)
    with pytest.raises(TokenLQInputError, match="same tokens"):
        blend_surface_evidence(probs, probs[:1], [1, 1])


def test_score_sentences_blends_only_when_given_the_words(rng):
    from tokenlq.audit import score_sentences

    names = ["O", "B-LOC", "I-LOC"]
    words = [["Paris", "is", "big"], ["paris", "again"], ["in", "Paris"]]
    offsets = np.array([0, 3, 5, 7])
    labels = np.array([1, 0, 0, 0, 0, 0, 1])
    probs = rng.dirichlet(np.ones(3), size=7)
    plain = score_sentences(labels, probs, offsets, names)
    np.testing.assert_array_equal(score_sentences(labels, probs, offsets, names, tokens=words,
                                                  surface_weight=0)[0], plain[0])
    blended = blend_surface_evidence(probs, *surface_consistency(words, labels, offsets,
                                                                 n_classes=3))
    expected = score_sentences(labels, blended, offsets, names)
    got = score_sentences(labels, probs, offsets, names, tokens=words)
    np.testing.assert_allclose(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1])
    # The unlabelled "paris" is labelled LOC twice elsewhere: its O label now scores lower.
    assert got[1][3] < plain[1][3]
