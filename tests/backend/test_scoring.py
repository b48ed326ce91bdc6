"""Tasks in, predictions out: the proposed labelling, explanations and scores (no HTTP)."""

import numpy as np
import pytest

from tokenlq_backend.demo import corpus_tasks

from tokenlq_backend.labelstudio.config import parse_label_config
from tokenlq_backend.scoring import (SUMMARY_FIELDS, _explain, entities_by_sentence, predictions, read_tasks,
                             score_tasks, type_summary)
from tokenlq.synthetic import make_ner_corpus

CONFIG = parse_label_config(
    '<View><Labels name="label" toName="text">' + "".join(
        f'<Label value="{t}"/>' for t in ("PER", "ORG", "LOC", "MISC"))
    + '</Labels><Text name="text" value="$text"/></View>')


def tasks_from(corpus):
    """The corpus as Label Studio returns tasks: ids 100, 101, ... and one annotation each."""
    return [dict(task, id=100 + i) for i, task in enumerate(corpus_tasks(corpus))]


@pytest.fixture(scope="module")
def scored():
    corpus = make_ner_corpus(240, error_rate=0.06, seed=11)
    tasks = tasks_from(corpus)
    tasks.append({"id": 999, "data": {"text": "no annotation here"}, "annotations": []})
    tasks.append({"id": 998, "data": {"text": ""}, "annotations": [{"id": 1, "result": []}]})
    project = read_tasks(tasks, CONFIG)
    result = score_tasks(project, CONFIG, model="crf", folds=3)
    return corpus, project, result, predictions(project, result, CONFIG, "tokenlq-test")


def test_entities_by_sentence():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG"]
    tags = ["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-ORG", "I-PER"]
    assert entities_by_sentence(np.array([names.index(t) for t in tags]), np.array([0, 3, 7]), names) == {
        0: [(0, 2, "PER")], 1: [(0, 1, "LOC"), (1, 2, "LOC"), (2, 3, "ORG"), (3, 4, "PER")]}


def test_given_labels_round_trip_from_spans(scored):
    corpus, project, _, _ = scored
    expected = [[corpus.class_names[k] for k in tags] for tags in corpus.labels]
    assert project.labels == expected
    assert project.warnings == {"empty_text": 1}  # the unannotated task is simply not scored


def test_every_scored_task_gets_one_prediction_with_its_score(scored):
    _, project, result, preds = scored
    assert list(preds) == project.task_ids
    scores = np.array([preds[t]["score"] for t in project.task_ids])
    np.testing.assert_allclose(scores, result.sentence_scores)
    assert all(p["model_version"] == "tokenlq-test" for p in preds.values())


def test_suspect_regions_are_explained_and_injected_errors_come_first(scored):
    corpus, project, result, preds = scored
    explained = [r for p in preds.values() for r in p["result"] if "meta" in r]
    assert explained and all(r["meta"]["text"][0].startswith("tokenlq - ") for r in explained)
    assert all(0 <= r["score"] <= 1 for r in explained)
    wrong = {100 + i for i, _ in corpus.error_tokens}
    order = sorted(project.task_ids, key=lambda t: preds[t]["score"])
    k = len(wrong)
    assert len(wrong & set(order[:k])) / k > 0.6  # precision at k


@pytest.mark.parametrize("kind, given, suggested, expected", [
    ("boundary", [(0, 1, "ORG")], [(0, 2, "ORG")],
     "tokenlq - wrong boundary: given 'United' ORG; suggested 'United Nations' ORG (model: 'United Nations'"
     " ORG 90%, 'United' ORG 90%)."
     " Region score 0.041; task score 0.012, the prediction's score (1.23% on its tab)"),
    ("missing", [], [(3, 4, "LOC")],
     "tokenlq - missed entity: given no entity over 'Paris'; suggested 'Paris' LOC (model: 'Paris' LOC 80%,"
     " 'Paris' O 10%)"),
    ("spurious", [(3, 4, "LOC")], [],
     "tokenlq - spurious entity: given 'Paris' LOC; suggested no entity (model: 'Paris' O 10%,"
     " 'Paris' LOC 80%)"),
    ("wrong_type", [(0, 2, "LOC")], [(0, 2, "ORG")],
     "tokenlq - wrong type: given 'United Nations' LOC; suggested 'United Nations' ORG (model: 'United"
     " Nations' ORG 90%, 'United Nations' LOC 5%)"),
])
def test_every_kind_of_finding_names_given_and_suggested_span(kind, given, suggested, expected):
    from types import SimpleNamespace

    tokens = [("United", 0, 6), ("Nations", 7, 14), ("in", 15, 17), ("Paris", 18, 23)]
    types = ["O", "ORG", "LOC"]
    probs = np.array([[.05, .9, .05], [.05, .9, .05], [.9, .05, .05], [.1, .1, .8]])
    spans = given + suggested
    row = SimpleNamespace(start_token=min(s for s, _, _ in spans), end_token=max(e for _, e, _ in spans),
                          kind=kind, score=0.0412, given_spans=given, suggested_spans=suggested)
    note = _explain(row, tokens, probs, types, 0.0123)
    assert note.startswith(expected), note
    assert note.endswith("on its tab). Lower = more suspect.")


def test_clean_tasks_keep_their_given_spans(scored):
    corpus, project, result, preds = scored
    flagged = {project.task_ids[i] for i in result.spans["sentence"]}
    entities = entities_by_sentence(result.labels, result.offsets, result.class_names)
    for i, task_id in enumerate(project.task_ids):
        if task_id in flagged:
            continue
        regions = preds[task_id]["result"]
        text = project.texts[i]
        given = [(text[r["value"]["start"]:r["value"]["end"]], r["value"]["labels"][0]) for r in regions]
        tokens = [t for t, _, _ in project.tokens[i]]
        assert given == [(" ".join(tokens[s:e]), kind) for s, e, kind in entities.get(i, [])]
        assert not any("meta" in r for r in regions)


def test_type_summary_counts_and_rates(scored):
    corpus, project, result, _ = scored
    rows = {r["type"]: r for r in type_summary(project, result)}
    assert set(rows) == {"O", "PER", "ORG", "LOC", "MISC"}
    assert all(set(r) == set(SUMMARY_FIELDS) for r in rows.values())
    assert sum(r["tokens"] for r in rows.values()) == result.offsets[-1]
    assert sum(r["flagged_tokens"] for r in rows.values()) == len(result.issues)
    assert rows["O"]["entities"] is None
    assert rows["PER"]["entities"] == sum(tags.count("B-PER") for tags in project.labels)
    assert all(r["estimated_error_rate"] is None or 0 <= r["estimated_error_rate"] <= 1
               for r in rows.values())
