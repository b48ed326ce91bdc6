"""Span decoding/encoding and entity-level issues."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tokenlq import decode_spans, encode_spans, find_span_issues
from tokenlq.spans import span_types

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIOES = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]


def spans_of(labels, offsets, names, **kw):
    return decode_spans(np.array(labels), offsets, names, **kw).values.tolist()


def test_decode_bio():
    # B-PER I-PER O B-LOC | I-LOC I-LOC B-LOC
    assert spans_of([1, 2, 0, 3, 4, 4, 3], [0, 4, 7], BIO) == [
        [0, 0, 2, "PER"], [0, 3, 4, "LOC"], [1, 0, 2, "LOC"], [1, 2, 3, "LOC"]]


def test_decode_is_lenient_like_conlleval():
    # I-PER after O starts an entity; a type change inside a run starts another.
    assert spans_of([0, 2, 2, 4], [0, 4], BIO) == [[0, 1, 3, "PER"], [0, 3, 4, "LOC"]]


def test_decode_bioes_and_io():
    assert spans_of([4, 1, 2, 3, 4], [0, 5], BIOES) == [
        [0, 0, 1, "PER"], [0, 1, 4, "PER"], [0, 4, 5, "PER"]]
    assert spans_of([1, 1, 0, 2], [0, 4], ["O", "PER", "LOC"]) == [[0, 0, 2, "PER"], [0, 3, 4, "LOC"]]
    assert span_types(["O", "PER", "LOC"]) == ["PER", "LOC"]


def test_spans_do_not_cross_sentences():
    assert spans_of([1, 2, 2], [0, 2, 3], BIO) == [[0, 0, 2, "PER"], [1, 0, 1, "PER"]]


def test_bad_class_names():
    with pytest.raises(ValueError, match="class_names"):
        decode_spans([0], [0, 1], None)
    with pytest.raises(ValueError, match="not valid in the BIO scheme"):
        decode_spans([0], [0, 1], ["O", "B-PER", "E-PER"], scheme="BIO")


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10**6), st.sampled_from([("BIO", BIO), ("BIOES", BIOES), ("IO", ["O", "PER", "LOC"])]))
def test_encode_inverts_decode(seed, scheme_names):
    scheme, names = scheme_names
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 8, 6)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    # Build valid spans: random non-overlapping, non-adjacent (IO cannot separate adjacent spans).
    rows = []
    for i, length in enumerate(lengths):
        t = 0
        while t < length:
            if rng.random() < 0.4:
                end = min(length, t + int(rng.integers(1, 4)))
                rows.append((i, t, end, rng.choice(span_types(names))))
                t = end + 1
            else:
                t += 1
    spans = {k: [r[n] for r in rows] for n, k in enumerate(["sentence", "start", "end", "type"])}
    encoded = encode_spans(spans, offsets, names, scheme=scheme)
    decoded = decode_spans(encoded, offsets, names, scheme=scheme)
    assert [tuple(r) for r in decoded.values.tolist()] == [tuple(r) for r in rows]


def test_encode_rejects_overlaps():
    with pytest.raises(ValueError, match="overlap"):
        encode_spans({"sentence": [0, 0], "start": [0, 1], "end": [2, 3], "type": ["PER", "PER"]},
                     [0, 3], BIO)


NAMES = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
TOKENS = [["Paris", "is", "big"], ["New", "York", "."], ["I", "saw", "Rome"], ["the", "UN", "met"]]


def probs(rows):
    return np.array([[0.9 if k == c else 0.1 / 4 for k in range(5)] for c in rows])


def test_span_issue_kinds():
    labels = [[3, 0, 0],   # Paris given ORG, predicted LOC: wrong_type
              [1, 0, 0],   # New York: given LOC only on New; York predicted I-LOC: boundary
              [0, 0, 0],   # Rome missed: missing
              [0, 3, 1]]   # UN ORG correct; "met" given B-LOC, predicted O: spurious
    predicted = [[1, 0, 0], [1, 2, 0], [0, 0, 1], [0, 3, 0]]
    pred_probs = [probs(r) for r in predicted]
    issues = [(0, 0), (1, 1), (2, 2), (3, 2)]
    found = find_span_issues(labels, pred_probs, class_names=NAMES, issues=issues, tokens=TOKENS)
    by_sentence = {row.sentence: row for row in found.itertuples()}
    assert (by_sentence[0].kind, by_sentence[0].given, by_sentence[0].suggested) == ("wrong_type", "ORG", "LOC")
    assert (by_sentence[1].kind, by_sentence[1].text, by_sentence[1].suggested_spans) == \
        ("boundary", "New York", [(0, 2, "LOC")])
    assert (by_sentence[2].kind, by_sentence[2].given, by_sentence[2].suggested) == ("missing", "O", "LOC")
    assert (by_sentence[3].kind, by_sentence[3].start_token, by_sentence[3].end_token) == ("spurious", 2, 3)
    assert found["score"].is_monotonic_increasing
    assert found.columns.tolist()[:8] == ["sentence", "start_token", "end_token", "text", "given",
                                          "suggested", "kind", "score"]


def test_span_issues_default_to_confident_learning():
    rng = np.random.default_rng(0)
    labels, pred_probs = [], []
    for i in range(200):
        truth = [0, 1, 2, 0, 3, 0] if i % 2 else [0, 0, 3, 4, 0, 0]
        labels.append(list(truth))
        pred_probs.append(np.array([rng.dirichlet(np.full(5, 0.2) + 6 * np.eye(5)[c]) for c in truth]))
    labels[5][4] = 0  # drop an ORG entity the model is sure of: missing
    pred_probs[5][4] = np.array([0.01, 0.01, 0.01, 0.96, 0.01])
    labels[9][1] = 3  # B-LOC -> B-ORG on a LOC entity
    found = find_span_issues(labels, pred_probs, class_names=NAMES)
    assert found.loc[found["sentence"] == 5, "kind"].tolist() == ["missing"]
    swapped = found[found["sentence"] == 9].iloc[0]
    assert (swapped.kind, swapped.suggested_spans) == ("boundary", [(1, 3, "LOC")])


def test_class_names_must_match():
    with pytest.raises(ValueError, match="must name the 5 classes"):
        find_span_issues([[0]], [probs([0])], class_names=["O", "B-LOC", "I-LOC"])
