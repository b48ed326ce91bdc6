"""Bad input gets a TokenLQInputError (a ValueError, and a TypeError) that says what is wrong and
where; never IndexError, never another class."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tokenlq
from tokenlq import TokenLQInputError, TokenLQWarning, find_label_issues, get_label_quality_scores

from ._corpus import flat, make_corpus

P2 = np.array([[0.9, 0.1], [0.2, 0.8]])
P1 = np.array([[0.5, 0.5]])

# (labels, pred_probs, expected error, message fragment)
BAD_DATA = {
    "length mismatch, equal totals": ([[0, 1], [1]], [P1, P2], ValueError,
                                      "sentence 0 has 2 labels but pred_probs has 1 rows"),
    "fewer sentences": ([[0, 1]], [P2, P1], ValueError, "same number of sentences"),
    "label too large": ([[0, 2]], [P2], ValueError, "labels must be < K = 2 (the number of pred_probs columns); sentence 0, token 1 has 2"),
    "negative label": ([[0], [-1]], [P1, P1], ValueError, "non-negative class indices; sentence 1, token 0"),
    "fractional label": ([[0, 0.5]], [P2], ValueError, "sentence 0, token 1 is float 0.5"),
    "integral float label": ([[0, 1.0]], [P2], ValueError, "sentence 0, token 1 is float 1.0"),
    "float label array": ([np.array([0.0, 1.0])], [P2], ValueError, "sentence 0, token 0 is float64 0.0"),
    "flat float labels": (np.array([0.0, 1.0]), P2, ValueError, "without offsets"),
    "bool label array": ([np.array([True, False])], [P2], ValueError, "boolean"),
    "string labels": ([["O", "B-PER"]], [P2], ValueError, "sentence 0, token 0 is str 'O'"),
    "NaN probability": ([[0, 1]], [np.array([[0.5, 0.5], [np.nan, 1.0]])], ValueError,
                        "finite; sentence 0, token 1"),
    "infinite probability": ([[0, 1]], [np.array([[0.5, 0.5], [np.inf, 1.0]])], ValueError, "finite"),
    "negative probability": ([[0, 1]], [np.array([[0.5, 0.5], [-0.1, 1.1]])], ValueError,
                             "must lie in [0, 1] (tolerance 1e-06); sentence 0, token 1"),
    "row sum": ([[0], [1]], [P1, np.array([[0.2, 0.3]])], ValueError,
                "sum to 1 (tolerance 0.001); the row of sentence 1, token 0 sums to 0.5"),
    "one class": ([[0]], [np.array([[1.0]])], ValueError, "at least 2 classes"),
    "ragged K": ([[0], [0]], [P1, np.array([[0.2, 0.3, 0.5]])], ValueError, "pred_probs[1] must have shape"),
    "flat labels without offsets": (np.array([0, 1]), P2, ValueError, "without offsets"),
    "labels not a list": (5, [P2], TypeError, "list of per-sentence label sequences"),
}

PUBLIC_DATA_FUNCTIONS = {
    "get_label_quality_scores": get_label_quality_scores,
    "find_label_issues": find_label_issues,
    "confident_joint": tokenlq.confident_joint,
    "class_summary": tokenlq.class_summary,
    "flatten": tokenlq.flatten,
}


@pytest.mark.parametrize("name", PUBLIC_DATA_FUNCTIONS)
@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data(name, case):
    labels, pred_probs, error, fragment = BAD_DATA[case]
    with pytest.raises(error) as info:
        PUBLIC_DATA_FUNCTIONS[name](labels, pred_probs)
    message = str(info.value)
    assert fragment in message
    assert message.startswith(name + ":")


BAD_OFFSETS = {
    "does not end at n": ([0, 1], "end at the number of tokens (2)"),
    "does not start at 0": ([1, 2], "start at 0"),
    "decreasing": ([0, 2, 1, 2], "must not decrease"),
    "not integers": ([0.0, 2.0], "must hold integers"),
}


@pytest.mark.parametrize("case", BAD_OFFSETS)
def test_bad_offsets(case):
    offsets, fragment = BAD_OFFSETS[case]
    with pytest.raises(ValueError, match="offsets") as info:
        get_label_quality_scores(np.array([0, 1]), P2, np.array(offsets))
    assert fragment in str(info.value)


BAD_OPTIONS = [
    (get_label_quality_scores, {"token_score_method": "margin"}, ValueError,
     "'token_score_method' parameter of get_label_quality_scores must be one of"),
    (get_label_quality_scores, {"sentence_score_method": "mean"}, ValueError,
     "'sentence_score_method' parameter"),
    (get_label_quality_scores, {"sentence_score_method": "softmin", "temperature": -1}, ValueError,
     "'temperature' parameter of get_label_quality_scores must be >= 0"),
    (get_label_quality_scores, {"sentence_score_kwargs": {"temp": 1}}, ValueError, "unknown key(s) ['temp']"),
    (get_label_quality_scores, {"temperature": "hot"}, TypeError, "must be a number"),
    (get_label_quality_scores, {"renormalize": 1}, TypeError, "must be a bool"),
    (find_label_issues, {"filter_by": "magic"}, ValueError, "'filter_by' parameter of find_label_issues"),
    (find_label_issues, {"return_indices_ranked_by": "x"}, ValueError, "'return_indices_ranked_by'"),
    (find_label_issues, {"frac_noise": 0}, ValueError, "'frac_noise' parameter of find_label_issues must be > 0"),
    (find_label_issues, {"frac_noise": 0.5, "filter_by": "confident_learning"}, ValueError,
     "'frac_noise' applies only to filter_by"),
    (find_label_issues, {"num_to_remove_per_class": [1], "filter_by": "prune_by_class"}, ValueError,
     "must be 2 non-negative integers"),
    (find_label_issues, {"num_to_remove_per_class": [1, 1], "filter_by": "low_self_confidence"},
     ValueError, "applies only to filter_by"),
    (find_label_issues, {"min_examples_per_class": -1}, ValueError, "must be >= 0"),
    (find_label_issues, {"min_examples_per_class": 1.5}, TypeError, "must be an integer"),
    (find_label_issues, {"confident_joint": np.ones((3, 3))}, ValueError, "must be a (2, 2) matrix"),
    (find_label_issues, {"rank_by_kwargs": {"temperature": 1}}, ValueError, "accepts only"),
    (find_label_issues, {"n_jobs": 0}, ValueError, "'n_jobs'"),
]


@pytest.mark.parametrize("func, kwargs, error, fragment", BAD_OPTIONS)
def test_bad_options(func, kwargs, error, fragment):
    with pytest.raises(error) as info:
        func([[0, 1], [1]], [P2, np.array([[0.3, 0.7]])], **kwargs)
    assert fragment in str(info.value)


def test_row_sums_can_be_renormalized():
    labels, pred_probs = [[0, 1]], [np.array([[0.45, 0.05], [0.1, 0.3]])]
    scores, tokens = get_label_quality_scores(labels, pred_probs, renormalize=True)
    np.testing.assert_allclose(tokens.flat, [0.9, 0.75])
    assert pred_probs[0][0, 0] == 0.45  # the caller's array is not modified


def test_values_within_tolerance_are_clipped():
    probs = np.array([[1 + 5e-7, -5e-7], [0.5, 0.5]])
    _, tokens = get_label_quality_scores([[0, 1]], [probs])
    assert tokens.flat.max() <= 1.0
    assert probs[0, 0] > 1  # not modified in place


def test_tokens_must_match_sentence_lengths():
    with pytest.raises(ValueError, match="sentence 1 has 1 labels but 2 tokens"):
        get_label_quality_scores([[0, 1], [1]], [P2, P1], tokens=[["a", "b"], ["c", "d"]])


def test_empty_corpus_gives_empty_results():
    assert find_label_issues([], []) == []
    assert find_label_issues(np.array([], dtype=int), np.empty((0, 3)), [0]) == []
    scores, _ = get_label_quality_scores(np.array([], dtype=int), np.empty((0, 3)), [0, 0, 0])
    assert scores.tolist() == [1.0, 1.0]


def test_one_class_warns_and_still_computes():
    labels = [[0, 0, 0], [0, 0]]
    probs = [np.array([[0.9, 0.1], [0.05, 0.95], [0.8, 0.2]]), np.array([[0.7, 0.3], [0.6, 0.4]])]
    with pytest.warns(TokenLQWarning, match="only one class"):
        issues = find_label_issues(labels, probs)
    assert issues == []  # an absent class is never "confident": nothing can be flagged
    with pytest.warns(TokenLQWarning, match="only one class"):
        find_label_issues([[1, 1]], [np.array([[0.9, 0.1], [0.2, 0.8]])])


def test_empty_sentences_are_tolerated_everywhere():
    labels, pred_probs = make_corpus(5, empty=True)
    assert any(len(s) == 0 for s in labels)
    issues = find_label_issues(labels, pred_probs)
    assert all(len(labels[i]) > j for i, j in issues)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), corruption=st.sampled_from(
    ["swap_sentence", "drop_token", "nan", "big_label", "negative", "offsets", "neg_prob", "dtype"]))
def test_corrupted_triples_raise_input_errors_only(seed, corruption):
    rng = np.random.default_rng(seed)
    labels, pred_probs, offsets = flat(*make_corpus(seed, n_sentences=8, max_len=5))
    labels, pred_probs, offsets = labels.copy(), pred_probs.copy(), offsets.copy()
    n = len(labels)
    f = int(rng.integers(0, n))
    if corruption == "swap_sentence":
        offsets[1:-1] = np.sort(rng.integers(0, n + 1, len(offsets) - 2))[::-1]
    elif corruption == "drop_token":
        labels = labels[:-1]
    elif corruption == "nan":
        pred_probs[f, 0] = np.nan
    elif corruption == "big_label":
        labels[f] = pred_probs.shape[1]
    elif corruption == "negative":
        labels[f] = -1
    elif corruption == "offsets":
        offsets[-1] += 1
    elif corruption == "neg_prob":
        pred_probs[f, 0] = -0.5
    else:
        labels = labels.astype(float) + 0.5
    for func in (get_label_quality_scores, find_label_issues):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TokenLQWarning)
            try:
                func(labels, pred_probs, offsets)
            except TokenLQInputError as err:
                assert str(err).startswith(func.__name__)
            else:
                assert corruption == "swap_sentence" and np.all(np.diff(offsets) >= 0)


def test_flat_float_labels_with_offsets():
    with pytest.raises(ValueError, match=r"got floats \(they are whole numbers"):
        get_label_quality_scores(np.array([0.0, 1.0]), P2, [0, 2])


# ------------------------------------------------------------------- the one input-error class

def test_the_input_error_class_keeps_the_types_callers_catch():
    from tokenlq._validation import MissingExtraError
    from tokenlq.io import DataError

    assert "TokenLQInputError" in tokenlq.__all__
    assert issubclass(TokenLQInputError, ValueError) and issubclass(TokenLQInputError, TypeError)
    assert issubclass(DataError, TokenLQInputError)
    assert issubclass(MissingExtraError, TokenLQInputError) and issubclass(MissingExtraError, ImportError)


@pytest.mark.parametrize("case", BAD_DATA)
def test_bad_data_raises_the_input_error(case):
    labels, pred_probs, _, _ = BAD_DATA[case]
    with pytest.raises(TokenLQInputError) as info:
        get_label_quality_scores(labels, pred_probs)
    assert type(info.value) is TokenLQInputError


@pytest.mark.parametrize("func, kwargs, error, fragment", BAD_OPTIONS)
def test_bad_options_raise_the_input_error(func, kwargs, error, fragment):
    with pytest.raises(TokenLQInputError) as info:
        func([[0, 1], [1]], [P2, np.array([[0.3, 0.7]])], **kwargs)
    assert type(info.value) is TokenLQInputError and isinstance(info.value, error)


def test_every_raise_of_the_core_is_the_input_error():
    """A new check raising a plain ValueError would be reported by the command line as a bug."""
    import pathlib
    import re

    # Left alone: TokenScores[i]'s IndexError (the sequence protocol's own error) and the
    # ImportError of a source checkout without compiled kernels (not an input).
    plain = {"ValueError", "TypeError", "KeyError", "AssertionError", "RuntimeError", "Exception"}
    found = set()
    for path in pathlib.Path(tokenlq.__file__).parent.glob("*.py"):
        for name in re.findall(r"\braise\s+(?:v\.)?(\w+)\(", path.read_text()):
            if name in plain:
                found.add((path.name, name))
    assert found == set()


@pytest.mark.parametrize("kwargs, n, message, parameter, reason, accepted", [
    ({"folds": 5}, 2, "cross_val_pred_probs: 2 sentences cannot make 5 folds; pass folds=2 or fewer.",
     "folds", "2 sentences cannot make 5 folds", "2 or fewer"),
    ({"folds": 1}, 4, "The 'folds' parameter of cross_val_pred_probs must be >= 2; got 1.",
     "folds", "folds 1 is below 2", "2 or more"),
    ({"folds": 2, "seed": -1}, 4, "The 'seed' parameter of cross_val_pred_probs must be >= 0; got -1.",
     "seed", "seed -1 is below 0", "0 or more"),
    ({"folds": 2}, 1, "cross_val_pred_probs: cross-validation needs at least 2 sentences (one per fold); "
                      "got 1.", "sentences", "cross-validation needs at least 2 sentences (one per fold); "
                                             "got 1", None),
])
def test_fold_errors_name_the_parameter_and_the_fix(kwargs, n, message, parameter, reason, accepted):
    from tokenlq.model import cross_val_pred_probs

    sentences, tags = [["Anna", "runs"]] * n, [["B-PER", "O"]] * n
    with pytest.raises(TokenLQInputError) as info:
        cross_val_pred_probs(sentences, tags, ["O", "B-PER"], **kwargs)
    err = info.value
    assert (str(err), err.parameter, err.reason, err.accepted) == (message, parameter, reason, accepted)
