"""The cross-validated CRF: out of sample, deterministic, well-formed; merging helpers."""

import ctypes
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tokenlq.model import (CRFConfig, _SurfaceCounts, cross_val_pred_probs, merge_classes,
                           merge_subwords, reference_features, token_features)
from tokenlq.synthetic import make_ner_corpus

CORPUS = make_ner_corpus(120, error_rate=0.0, seed=5)
NAMES = CORPUS.class_names
TAGS = [[NAMES[k] for k in s] for s in CORPUS.labels]


def test_probabilities_are_well_formed_and_deterministic():
    config = CRFConfig(max_iterations=30)
    a = cross_val_pred_probs(CORPUS.tokens, TAGS, NAMES, folds=3, seed=1, config=config, n_jobs=1)
    b = cross_val_pred_probs(CORPUS.tokens, TAGS, NAMES, folds=3, seed=1, config=config, n_jobs=2)
    assert a.shape == (sum(map(len, TAGS)), len(NAMES))
    np.testing.assert_allclose(a.sum(axis=1), 1)
    np.testing.assert_allclose(a, b)  # parallel folds change nothing
    truth = np.array([NAMES.index(t) for s in TAGS for t in s])
    assert (a.argmax(axis=1) == truth).mean() > 0.9


def test_out_of_sample_a_label_seen_only_in_its_own_sentence_is_not_learned():
    tokens = [list(s) for s in CORPUS.tokens] + [["Zorblax", "said", "hello", "."]]
    tags = [list(s) for s in TAGS] + [["B-MISC", "O", "O", "O"]]
    probs = cross_val_pred_probs(tokens, tags, NAMES, folds=3, seed=0,
                                 config=CRFConfig(max_iterations=30), n_jobs=1)
    # "Zorblax" exists nowhere else: a model that saw its own label would be confident in it.
    assert probs[-4, NAMES.index("B-MISC")] < 0.5


def test_surface_counts_leave_the_sentence_out():
    counts = _SurfaceCounts([["Paris", "is"], ["Paris", "x"]], [["B-LOC", "O"], ["B-PER", "O"]])
    own = counts.features(["Paris", "x"], ["B-PER", "O"])
    assert "sf=LOC" in own[0] and "sf=PER" not in " ".join(own[0])
    assert counts.features(["Paris"])[0][0] in ("sf=LOC", "sf=PER")
    assert counts.features(["unknown"]) == [["sf=unseen"]]


def test_feature_sets():
    assert "w=New" in reference_features(["New", "York"])[0]
    feats = token_features(["@anna", "loves", "http://x.y", "#NYC"])
    assert "k=user" in feats[0] and "k=url" in feats[2] and "k=hashtag" in feats[3]


def test_bad_fold_counts():
    with pytest.raises(ValueError, match="'folds' parameter of cross_val_pred_probs must be >= 2"):
        cross_val_pred_probs(CORPUS.tokens, TAGS, NAMES, folds=1)
    with pytest.raises(ValueError, match="cannot make 5 folds"):
        cross_val_pred_probs(CORPUS.tokens[:3], TAGS[:3], NAMES)


def test_merge_subwords_and_classes():
    rows = np.array([[.1, .9], [.9, .1], [.5, .5], [.2, .8]])
    np.testing.assert_allclose(merge_subwords(rows, [None, 0, 0, 1], how="first"), [[.9, .1], [.2, .8]])
    with pytest.raises(ValueError, match="must not decrease"):
        merge_subwords(rows, [1, 0, 0, 1])
    merged, names = merge_classes(np.array([[.1, .2, .3, .4]]), ["O", "B-PER", "I-PER", "B-LOC"])
    assert names == ["O", "PER", "LOC"]
    np.testing.assert_allclose(merged, [[.1, .5, .4]])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_the_model_fitted_on_everything_predicts_new_sentences_and_survives_save(tmp_path, n_jobs):
    config = CRFConfig(max_iterations=30)
    plain = cross_val_pred_probs(CORPUS.tokens, TAGS, NAMES, folds=3, config=config, n_jobs=n_jobs)
    probs, fitted = cross_val_pred_probs(CORPUS.tokens, TAGS, NAMES, folds=3, config=config,
                                         n_jobs=n_jobs, return_model=True)
    np.testing.assert_array_equal(probs, plain)  # fitting the whole changes no fold
    new = make_ner_corpus(30, error_rate=0.0, seed=99)
    predicted = fitted.predict_probs(new.tokens)
    assert predicted.shape == (sum(map(len, new.tokens)), len(NAMES))
    np.testing.assert_allclose(predicted.sum(axis=1), 1)
    truth = np.array([NAMES.index(new.class_names[k]) for s in new.labels for k in s])
    assert (predicted.argmax(axis=1) == truth).mean() > 0.9
    fitted.save(tmp_path / "model")
    again = type(fitted).load(tmp_path / "model")
    np.testing.assert_array_equal(again.predict_probs(new.tokens), predicted)
    assert fitted.predict_probs([]).shape == (0, len(NAMES))


# ---------------------------------------------------------------- the caller's process state


def test_concurrent_cross_validations_give_the_sequential_results():
    # Each call keeps its corpus to itself: two at once in threads (as the backend's two job
    # lanes run them) read their own data, as one after the other.
    config = CRFConfig(max_iterations=5)
    halves = [(CORPUS.tokens[:40], TAGS[:40]), (CORPUS.tokens[40:], TAGS[40:])]

    def run(half):
        return cross_val_pred_probs(*half, NAMES, folds=4, config=config, n_jobs=1)

    expected = [run(half) for half in halves]
    with ThreadPoolExecutor(2) as pool:
        for got, want in zip(pool.map(run, halves), expected):
            np.testing.assert_array_equal(got, want)


def test_training_leaves_the_callers_c_rand_sequence_alone():
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):
        pytest.skip("only glibc lets rand()'s state be put back")
    libc.srand(12345)
    expected = [libc.rand() for _ in range(3)]
    libc.srand(12345)
    cross_val_pred_probs(CORPUS.tokens[:30], TAGS[:30], NAMES, folds=2,
                         config=CRFConfig(max_iterations=5), n_jobs=1)
    assert [libc.rand() for _ in range(3)] == expected
