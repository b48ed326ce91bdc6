"""Label Studio JSON both ways: every documented input problem has its outcome and count; tags
become the regions they came from."""

from collections import Counter

import pytest

from tokenlq.labelstudio_format import (WARNINGS, entity_regions, given_annotation, prediction,
                                        span_labels, tag_regions, task_shape_error, task_tokens,
                                        tokenize)

TEXT = "Anna met Bob in New York"
NAMES = ["PER", "LOC", "ORG"]


def region(start, end, *labels, from_name="label", kind="labels"):
    return {"from_name": from_name, "to_name": "text", "type": kind,
            "value": {"start": start, "end": end, "labels": list(labels)}}


def convert(results, text=TEXT, names=NAMES):
    warnings = Counter()
    text, tokens = task_tokens({"text": text}, "text", warnings)
    labels = span_labels(text, tokens, results, from_name="label", label_names=names,
                         warnings=warnings)
    return labels, warnings


def test_clean_spans_become_bio_labels():
    labels, warnings = convert([region(0, 4, "PER"), region(9, 12, "PER"), region(16, 24, "LOC")])
    assert labels == ["B-PER", "O", "B-PER", "O", "B-LOC", "I-LOC"]
    assert not warnings


def test_io_scheme():
    _, tokens = task_tokens({"text": TEXT}, "text")
    assert span_labels(TEXT, tokens, [region(16, 24, "LOC")], from_name="label",
                       label_names=NAMES, scheme="IO")[-2:] == ["I-LOC", "I-LOC"]


@pytest.mark.parametrize("results, expected, warning", [
    ([region(1, 4, "PER")], ["B-PER"] + ["O"] * 5, "partial_token_overlap"),
    ([region(9, 24, "ORG"), region(16, 24, "LOC")], ["O", "O", "B-ORG", "I-ORG", "I-ORG", "I-ORG"],
     "overlapping_spans"),
    ([region(16, 99, "LOC")], ["O"] * 6, "span_outside_text"),
    ([region(5, 5, "LOC")], ["O"] * 6, "span_outside_text"),
    ([region(-1, 4, "PER")], ["O"] * 6, "span_outside_text"),
    ([region(0, 4, "ALIEN")], ["O"] * 6, "unknown_label"),
    ([region(0, 4, "PER", "ORG")], ["B-PER"] + ["O"] * 5, "multiple_labels"),
    ([region(0, 4)], ["O"] * 6, "span_without_label"),
    ([{"type": "labels", "from_name": "label", "value": "PER"}], ["O"] * 6, "malformed_region"),
    ([{**region(0, 4), "value": {"start": 0, "end": 4, "labels": "PER"}}], ["O"] * 6,
     "malformed_region"),  # a string, not a list: never read as its first letter
    ([region(False, True, "PER")], ["O"] * 6, "malformed_region"),
    ([region(0, 4.0, "PER")], ["O"] * 6, "malformed_region"),
])
def test_each_input_problem_has_a_defined_outcome_and_is_counted(results, expected, warning):
    labels, warnings = convert(results)
    assert labels == expected
    assert warning in WARNINGS and warnings == Counter({warning: 1})


def test_other_controls_and_region_types_are_ignored():
    labels, warnings = convert([region(0, 4, "PER", from_name="other"),
                                {"type": "choices", "value": {"choices": ["x"]}}])
    assert labels == ["O"] * 6 and not warnings


def test_data_tokens_are_used_and_located_in_the_text():
    text, tokens = task_tokens({"text": "New-York  is big", "tokens": ["New-York", "is", "big"]}, "text")
    assert tokens == [("New-York", 0, 8), ("is", 10, 12), ("big", 13, 16)]
    warnings = Counter()
    text, tokens = task_tokens({"text": "abc", "tokens": ["x"]}, "text", warnings)
    assert [t for t, _, _ in tokens] == ["abc"] and warnings == Counter({"tokens_not_in_text": 1})


def test_empty_or_missing_text_gives_no_tokens():
    assert task_tokens({"text": ""}, "text") == ("", [])
    assert task_tokens({}, "text") == ("", [])
    assert task_tokens({"text": 5}, "text") == ("", [])


def test_given_annotation_is_the_latest_non_cancelled_one():
    imported = {"id": 1, "updated_at": "2026-01-01T00:00:00Z", "ground_truth": True}
    newer = {"id": 2, "updated_at": "2026-01-02T00:00:00Z", "ground_truth": False}
    assert given_annotation([imported, newer]) is newer  # ground truth does not pin old labels
    tie = {"id": 3, "updated_at": imported["updated_at"]}
    assert given_annotation([tie, imported]) is imported  # ... it only breaks ties
    assert given_annotation([{"id": 4, "was_cancelled": True}]) is None
    assert given_annotation([]) is None and given_annotation(None) is None


@pytest.mark.parametrize("task, message", [
    ([], "a task must be an object; got list"),
    ({"data": ["Anna"]}, "'data' must be an object; got list"),
    ({"annotations": {"result": []}}, "'annotations' must be a list of objects"),
    ({"annotations": [True]}, "'annotations' must be a list of objects"),
    ({"annotations": [{"result": "PER"}]}, "'result' must be a list of objects"),
    ({"annotations": [{"result": [1]}]}, "'result' must be a list of objects"),
])
def test_tasks_of_the_wrong_shape_are_named(task, message):
    assert message in task_shape_error(task)


def test_tasks_of_the_right_shape_pass():
    assert task_shape_error({"id": 1}) is None
    assert task_shape_error({"data": {"text": "x"}, "annotations": [{"result": [region(0, 1, "PER")]},
                                                                    {"was_cancelled": True}]}) is None


def test_annotation_ids_of_any_type_never_break_the_choice():
    # Ties on time and ground truth fall back to the id; one that is not an integer counts as -1.
    tied = [{"id": "a", "result": []}, {"id": 1, "result": []}, {"id": {"x": 1}, "result": []}]
    assert given_annotation(tied)["id"] == 1
    assert given_annotation([{"id": None}, {"id": True}])["id"] is None  # no real id: the first


def test_tokenize_offsets():
    assert tokenize("Hi, U.S. state-of-art") == [("Hi", 0, 2), (",", 2, 3), ("U.S", 4, 7),
                                                 (".", 7, 8), ("state-of-art", 9, 21)]


@pytest.mark.parametrize("tags", [
    ["B-PER", "O", "B-PER", "O", "B-LOC", "I-LOC"],
    ["B-PER", "I-PER", "I-PER", "B-ORG", "B-LOC", "I-LOC"],
    ["O"] * 6,
])
def test_tags_become_regions_that_read_back_as_the_same_tags(tags):
    text, tokens = task_tokens({"text": TEXT}, "text")
    regions = tag_regions(text, tokens, tags, from_name="label", to_name="text", id_prefix="tlq-7")
    assert all(r["id"].startswith("tlq-7-") and r["to_name"] == "text" for r in regions)
    assert all(r["value"]["text"] == text[r["value"]["start"]:r["value"]["end"]] for r in regions)
    assert span_labels(text, tokens, regions, from_name="label", label_names=NAMES) == tags


def test_a_leading_inside_tag_starts_an_entity_as_conlleval_reads_it():
    text, tokens = task_tokens({"text": TEXT}, "text")
    regions = tag_regions(text, tokens, ["I-PER", "O", "O", "O", "I-LOC", "B-LOC"],
                          from_name="label", to_name="text")
    assert [(r["value"]["text"], r["value"]["labels"]) for r in regions] == [
        ("Anna", ["PER"]), ("New", ["LOC"]), ("York", ["LOC"])]
    assert all("id" not in r for r in regions)


def test_entity_regions_and_prediction():
    text, tokens = task_tokens({"text": TEXT}, "text")
    regions = entity_regions(text, tokens, [(0, 1, "PER"), (4, 6, "LOC")], from_name="label",
                             to_name="text", id_prefix="p")
    assert [(r["id"], r["value"]["start"], r["value"]["end"]) for r in regions] == [
        ("p-0-1", 0, 4), ("p-4-6", 16, 24)]
    assert prediction(regions, model_version="v", score=None) == {
        "model_version": "v", "score": None, "result": regions}


def test_the_old_module_name_still_imports_with_a_deprecation_warning(monkeypatch):
    import importlib
    import sys

    import tokenlq.labelstudio_format as current

    monkeypatch.delitem(sys.modules, "tokenlq.ls_tasks", raising=False)  # import it afresh
    with pytest.warns(DeprecationWarning, match="tokenlq.labelstudio_format"):
        old = importlib.import_module("tokenlq.ls_tasks")
    for name in old.__all__:
        assert getattr(old, name) is getattr(current, name)


def test_io_still_gives_tokenize():
    from tokenlq import io

    assert io.tokenize is tokenize and "tokenize" in io.__all__
