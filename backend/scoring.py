"""A project's tasks in, tokenlq predictions out: no HTTP, no state.

:func:`read_tasks` turns Label Studio tasks into a corpus of given token labels (counting every
input problem, see :mod:`tokenlq.labelstudio_format`); :func:`score_tasks` audits it with
tokenlq; and :func:`predictions` writes, per task, the proposed labelling Label Studio shows a
reviewer, as regions built by the same module.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter

import numpy as np

from tokenlq import offsets_from_lengths
from tokenlq.audit import AuditResult, audit, audit_tokens
from tokenlq.spans import decode_spans
from tokenlq.io import Corpus
from tokenlq.labelstudio_format import (entity_regions, given_annotation, prediction, span_labels,
                                        task_tokens)
from tokenlq.scheme import entity_types, make_tag, merge_classes, ordered_classes

from .fits import labels_key, tokens_key
from .labelstudio.config import NerConfig

__all__ = ["SUMMARY_FIELDS", "ProjectCorpus", "TaskReading", "carries_mark", "entities_by_sentence",
           "findings", "label_codes", "predictions", "project_classes", "read_task",
           "read_tasks", "render_predictions", "score_tasks", "top_items", "top_text",
           "type_summary", "words"]


@dataclass
class ProjectCorpus:
    task_ids: list = field(default_factory=list)
    texts: list = field(default_factory=list)
    tokens: list = field(default_factory=list)  # per task: [(token, start, end)]
    words: list = field(default_factory=list)  # per task: its tokens' words
    labels: list = field(default_factory=list)  # per task: BIO tags
    codes: list = field(default_factory=list)  # per task: its tags' indices in project_classes
    token_keys: list = field(default_factory=list)  # per task: backend.fits.tokens_key
    label_keys: list = field(default_factory=list)  # per task: backend.fits.labels_key
    confirmed: list = field(default_factory=list)  # per task: its given annotation carries the mark
    # per task: (annotator id, BIO tags) of every non-cancelled annotation (overlap > 1)
    annotations: list = field(default_factory=list)
    given: list = field(default_factory=list)  # per task: the index of the given one in annotations
    others: list = field(default_factory=list)  # per task: the BIO tags of the other annotations
    warnings: Counter = field(default_factory=Counter)
    # {task id: (TaskReading or None, its warnings)} of every task read, for the next read
    readings: dict = field(default_factory=dict, repr=False)

    def keys(self) -> tuple:
        """``(token_keys, label_keys)``: backend.fits.tokens_key and labels_key of each scored
        task, which decide a fit's reuse."""
        if len(self.token_keys) != len(self.task_ids):  # a corpus not made by read_tasks
            self.token_keys = [tokens_key(tokens) for tokens in self.tokens]
            self.label_keys = [labels_key(labels) for labels in self.labels]
        return self.token_keys, self.label_keys


@dataclass(frozen=True)
class TaskReading:
    """One annotated task as :func:`read_tasks` reads it."""
    text: str
    tokens: list
    words: list
    labels: list
    codes: np.ndarray  # labels as indices in project_classes(config)
    confirmed: bool
    annotations: list
    given: int
    others: list
    token_key: str  # backend.fits.tokens_key and labels_key, which decide a fit's reuse
    label_key: str


def read_task(task: dict, config: NerConfig) -> tuple:
    """``(TaskReading or None, warnings)`` of one task: None when it is not scored (no
    annotation, or an empty text)."""
    warnings = Counter()
    annotation = given_annotation(task.get("annotations"))
    if annotation is None:
        return None, warnings
    text, tokens = task_tokens(task.get("data") or {}, config.value_key, warnings)
    if not tokens:
        warnings["empty_text"] += 1
        return None, warnings
    every, labels, given = [], None, 0
    for other in task.get("annotations") or ():
        if other.get("was_cancelled"):
            continue
        # Warnings count the given annotation's problems only; the others are read quietly.
        tags = span_labels(text, tokens, other.get("result"), from_name=config.from_name,
                           label_names=config.labels,
                           warnings=warnings if other is annotation else Counter())
        who = other.get("completed_by")
        every.append((who.get("id") if isinstance(who, dict) else who, tags))
        if other is annotation:
            labels, given = tags, len(every) - 1
    others = [tags for n, (_, tags) in enumerate(every) if n != given]
    index = _class_index(tuple(config.labels))
    codes = np.array([index[t] for t in labels], dtype=np.int64)
    return TaskReading(text, tokens, [t for t, _, _ in tokens], labels, codes,
                       carries_mark(annotation, config.confirm_name), every, given, others,
                       tokens_key(tokens), labels_key(labels)), warnings


def read_tasks(tasks, config: NerConfig, *, previous: ProjectCorpus | None = None,
               touched=None) -> ProjectCorpus:
    """The annotated, non-empty tasks with their given labels (the latest non-cancelled
    annotation). Unannotated tasks are left out silently (they are not scored); tasks with an
    empty text are counted as ``empty_text``.

    ``previous``: a corpus read from the same tasks with the same ``config``, of which only the
    ``touched`` task ids (a set) have changed since: the other tasks are not read again."""
    known, fresh = {}, {}
    if previous is not None and touched is not None:
        fresh = {t["id"]: read_task(t, config) for t in tasks if t["id"] in touched}
        patched = _patched(previous, fresh, len(tasks))
        if patched is not None:
            return patched
        known = previous.readings
    out = ProjectCorpus(readings={
        t["id"]: fresh.get(t["id"]) or known.get(t["id"]) or read_task(t, config) for t in tasks})
    for _, warnings in out.readings.values():
        if warnings:
            out.warnings.update(warnings)
    scored = [(task_id, read) for task_id, (read, _) in out.readings.items() if read is not None]
    out.task_ids = [task_id for task_id, _ in scored]
    for column, key in _COLUMNS.items():
        setattr(out, column, list(map(attrgetter(key), (read for _, read in scored))))
    return out


# ProjectCorpus's per-task columns and the TaskReading field each holds.
_COLUMNS = {"texts": "text", "tokens": "tokens", "words": "words", "labels": "labels",
            "codes": "codes", "token_keys": "token_key", "label_keys": "label_key",
            "confirmed": "confirmed", "annotations": "annotations", "given": "given",
            "others": "others"}


def _patched(previous: ProjectCorpus, fresh: dict, n_tasks: int) -> ProjectCorpus | None:
    """``previous`` with the ``fresh`` readings of the tasks touched, when the project still
    has the same ``n_tasks`` tasks, scored in the same places (annotations edited, none added,
    removed, emptied or skipped): its columns are copied, not rebuilt. None when it has not."""
    if n_tasks != len(previous.readings):
        return None
    for task_id, reading in fresh.items():
        before = previous.readings.get(task_id)
        if before is None or (before[0] is None) != (reading[0] is None):
            return None
    out = ProjectCorpus(task_ids=list(previous.task_ids), readings=dict(previous.readings),
                        warnings=Counter(previous.warnings),
                        **{column: list(getattr(previous, column)) for column in _COLUMNS})
    position = {task_id: i for i, task_id in enumerate(out.task_ids)} if fresh else {}
    for task_id, reading in fresh.items():
        out.warnings.subtract(out.readings[task_id][1])
        out.warnings.update(reading[1])
        out.readings[task_id] = reading
        if reading[0] is not None:
            for column, key in _COLUMNS.items():
                getattr(out, column)[position[task_id]] = getattr(reading[0], key)
    out.warnings = Counter({name: n for name, n in out.warnings.items() if n > 0})
    return out


def carries_mark(annotation: dict, control: str | None) -> bool:
    """Whether ``annotation`` has a choice ticked in the confirmation control ``control``.

    >>> carries_mark({"result": [{"from_name": "tokenlq_confirm", "type": "choices",
    ...                           "value": {"choices": ["Labels are right"]}}]}, "tokenlq_confirm")
    True
    """
    if control is None:
        return False
    for item in annotation.get("result") or ():
        if isinstance(item, dict) and item.get("from_name") == control:
            choices = (item.get("value") or {}).get("choices") if isinstance(item.get("value"), dict) else None
            if isinstance(choices, list) and choices:
                return True
    return False


def project_classes(config: NerConfig) -> list:
    """The project's tag names: O, then B-/I- of every label of the config."""
    return list(_project_classes(tuple(config.labels)))


@lru_cache(maxsize=16)
def _project_classes(labels: tuple) -> list:
    return ordered_classes({make_tag(p, label) for label in labels for p in ("B", "I")})


@lru_cache(maxsize=16)
def _class_index(labels: tuple) -> dict:
    return {name: k for k, name in enumerate(_project_classes(labels))}


def label_codes(project: ProjectCorpus, config: NerConfig) -> np.ndarray:
    """Every scored token's given tag as an index in :func:`project_classes`, flat (n,)."""
    if len(project.codes) != len(project.labels):  # a corpus not made by read_tasks
        index = _class_index(tuple(config.labels))
        project.codes = [np.array([index[t] for t in tags], dtype=np.int64)
                         for tags in project.labels]
    return np.concatenate(project.codes) if project.codes else np.zeros(0, dtype=np.int64)


def words(project: ProjectCorpus) -> list:
    """Each task's words."""
    if len(project.words) == len(project.tokens):  # as read_tasks reads them
        return project.words
    return [[t for t, _, _ in tokens] for tokens in project.tokens]


def score_tasks(project: ProjectCorpus, config: NerConfig, **audit_options) -> AuditResult:
    """tokenlq's audit of the project's given labels (options as :func:`tokenlq.audit.audit`,
    e.g. ``pred_probs`` with ``pred_probs_classes``; with those two, also ``previous`` and
    ``changed`` of :func:`tokenlq.audit.audit_tokens`, and then no per-class summary or
    confusions of tags: the service makes its own per entity type, :func:`type_summary`)."""
    corpus = Corpus(words(project), project.labels)
    corpus.sources = [f"task {i}" for i in project.task_ids]
    corpus.documents = [0] * len(project.task_ids)
    class_names = project_classes(config)
    since = {k: audit_options.pop(k) for k in ("previous", "changed") if k in audit_options}
    if set(audit_options) == {"pred_probs", "pred_probs_classes"} and \
            list(audit_options["pred_probs_classes"]) == class_names and project.task_ids:
        # The run's own probabilities, in the project's classes: the tags were turned into
        # indices as each task was read, not again for millions of tokens per update.
        return audit_tokens(label_codes(project, config),
                            np.asarray(audit_options["pred_probs"], dtype=np.float64),
                            offsets_from_lengths([len(t) for t in project.tokens]),
                            class_names=class_names, corpus=corpus, summaries=False, **since)
    return audit(corpus, extra_classes=class_names, **audit_options)


def entities_by_sentence(labels, offsets, class_names) -> dict:
    """{sentence: [(start, end, type)]} of flat labels, decoded by :func:`tokenlq.decode_spans`."""
    out: dict[int, list] = {}
    for i, start, end, kind in decode_spans(labels, offsets, class_names).itertuples(index=False, name=None):
        out.setdefault(int(i), []).append((int(start), int(end), kind))
    return out


@dataclass(frozen=True)
class TypeView:
    """A run's tokens at entity-type level (B-/I- merged), computed once per run for the
    predictions, the per-type summary and the findings."""
    types: list  # "O" and the entity types
    to_type: np.ndarray  # (K,) the type of each class of the result
    probs: np.ndarray  # (n, T) probabilities summed per type
    given: np.ndarray  # (n,) each token's given type
    joint: np.ndarray  # (T, T) calibrated confident joint of given and true type


def type_view(result: AuditResult) -> TypeView:
    from tokenlq import confident_joint

    probs, types = merge_classes(result.pred_probs, result.class_names)
    to_type = entity_types(result.class_names)[1]
    given = to_type[result.labels]
    return TypeView(types, to_type, probs, given, confident_joint(given, probs, result.offsets))


def off_diagonal_share(joint: np.ndarray) -> float | None:
    """The estimated error rate of a confident joint: its share off the diagonal (None when
    empty)."""
    total = joint.sum()
    return float(1 - np.trace(joint) / total) if total else None


def predictions(project: ProjectCorpus, result: AuditResult, config: NerConfig,
                model_version: str, *, view: TypeView | None = None, voted=frozenset()) -> dict:
    """{task id: prediction} for every scored task.

    ``score`` is the sentence label-quality score (lower = more suspect); ``result`` is the
    proposed labelling: the given entities with each suspect region replaced by the suggested
    entities, each suspect region carrying its score and a ``meta.text`` explaining it. A
    suspected spurious entity keeps its given region, explained as "no entity suggested".
    ``voted``: the indices of the tasks whose probabilities hold their other annotations' votes
    (the explanation says so).
    """
    rendered = render_predictions(project, result, config, model_version, view=view, voted=voted)
    return {task_id: prediction for task_id, (_, prediction) in rendered.items()}


def _given_entities(result: AuditResult, rows: list) -> dict:
    """:func:`entities_by_sentence` of the given labels of the tasks at indices ``rows``."""
    if len(rows) == len(result.offsets) - 1:
        return entities_by_sentence(result.labels, result.offsets, result.class_names)
    starts, ends = result.offsets[rows], result.offsets[np.asarray(rows, dtype=np.int64) + 1]
    labels = np.concatenate([result.labels[a:b] for a, b in zip(starts, ends)]) if rows \
        else result.labels[:0]
    found = entities_by_sentence(labels, offsets_from_lengths(ends - starts), result.class_names)
    return {rows[k]: entities for k, entities in found.items()}


def render_predictions(project: ProjectCorpus, result: AuditResult, config: NerConfig,
                       model_version: str, *, view: TypeView | None = None, voted=frozenset(),
                       previous: dict | None = None, touched=(), since: dict | None = None) -> dict:
    """{task id: (signature, prediction)}: :func:`predictions` with what decides each one.

    ``previous``: such a dict of an earlier run with the same probabilities for every task not
    in ``touched`` (task ids whose task changed since); a task whose signature is unchanged
    keeps its earlier pair (the same objects) instead of being rendered again. ``since``: what
    :func:`score_tasks` was given of that run, ``{"previous": its result, of the same tasks in
    the same order, "changed": the positions of the touched tasks}``; a task not touched, whose
    score did not move and that has span issues in neither result is not even looked at.
    """
    view = view or type_view(result)
    type_probs, types = view.probs, view.types
    findings: dict[int, list] = {}
    for row in result.spans.itertuples():
        findings.setdefault(int(row.sentence), []).append(row)
    previous, scores = previous or {}, result.sentence_scores.tolist()
    looked_at, out, todo = range(len(project.task_ids)), {}, []
    if since and previous:
        before = since["previous"]
        moved = np.flatnonzero(result.sentence_scores != before.sentence_scores).tolist()
        looked_at = sorted(set(moved) | findings.keys() | set(before.spans["sentence"].tolist())
                           | set(since["changed"]))
        out = dict(previous)  # the others stand: the same signature
    for i in looked_at:
        task_id = project.task_ids[i]
        signature = (scores[i], i in voted, [
            (row.start_token, row.end_token, row.kind, float(row.score), row.given_spans,
             row.suggested_spans) for row in findings.get(i, ())])
        earlier = previous.get(task_id)
        if earlier is not None and task_id not in touched and earlier[0] == signature:
            out[task_id] = earlier
        else:
            todo.append((i, task_id, signature))
    given = _given_entities(result, [i for i, _, _ in todo])
    for i, task_id, signature in todo:
        rows, score = findings.get(i, []), scores[i]
        tokens, a0 = project.tokens[i], int(result.offsets[i])
        proposed = {(s, e): (t, None) for s, e, t in given.get(i, [])}
        for row in rows:
            note = _explain(row, tokens, type_probs[a0:a0 + len(tokens)], types, score,
                            voted=i in voted)
            if not row.suggested_spans:  # spurious: keep the given entity, say why it is suspect
                for s, e, t in row.given_spans:
                    proposed[(s, e)] = (t, (float(row.score), note))
                continue
            for s, e, _ in row.given_spans:
                proposed.pop((s, e), None)
            for s, e, t in row.suggested_spans:
                proposed[(s, e)] = (t, (float(row.score), note))
        # Suspect regions first: they lead Label Studio's region list, with their score.
        ordered = sorted(proposed.items(), key=lambda item: (item[1][1] is None, item[0]))
        entities = [(s, e, kind) for (s, e), (kind, _) in ordered]
        regions = entity_regions(project.texts[i], tokens, entities, from_name=config.from_name,
                                 to_name=config.to_name, id_prefix=f"tlq-{task_id}")
        for region, (_, (_, suspect)) in zip(regions, ordered):
            if suspect is not None:
                region["score"], region["meta"] = suspect[0], {"text": [suspect[1]]}
        out[task_id] = (signature, prediction(regions, model_version=model_version, score=score))
    return {task_id: out[task_id] for task_id in project.task_ids}  # in the tasks' order


KIND_NAMES = {"missing": "missed entity", "spurious": "spurious entity",
              "wrong_type": "wrong type", "boundary": "wrong boundary"}


def _explain(row, tokens, type_probs, types, task_score: float, *, voted: bool = False) -> str:
    """What a reviewer reads on a suspect region: the kind, the given and the suggested spans
    with their labels, the model's probabilities (``voted``: with the task's other annotations
    as votes), and which score is which.

    "tokenlq - wrong boundary: given 'United' ORG; suggested 'United Nations' ORG (model:
    'United Nations' ORG 93%, 'United' ORG 95%). Region score 0.041; task score 0.012, the
    prediction's score (1.20% on its tab). Lower = more suspect."
    """
    def text(s, e):
        return " ".join(t for t, _, _ in tokens[s:e])

    def side(spans, fallback):
        if not spans:
            return f"no entity over '{fallback}'"
        return ", ".join(f"'{text(s, e)}' {kind}" for s, e, kind in spans)

    def model(spans):  # the model's probability of each span's type, averaged over its tokens
        return [f"'{text(s, e)}' {kind} {100 * type_probs[s:e, types.index(kind)].mean():.0f}%"
                for s, e, kind in spans if kind in types]

    a, b = int(row.start_token), int(row.end_token)
    region = text(a, b)
    outside = [(a, b, "O")]
    given = side(row.given_spans, region)
    suggested = side(row.suggested_spans, region) if row.suggested_spans else "no entity"
    odds = ", ".join(dict.fromkeys(model(row.suggested_spans or outside) + model(row.given_spans or outside)))
    return (f"tokenlq - {KIND_NAMES.get(row.kind, row.kind.replace('_', ' '))}: given {given}; "
            f"suggested {suggested} ({'model and other annotations' if voted else 'model'}: "
            f"{odds}). Region score {row.score:.3f}; task score "
            f"{task_score:.3f}, the prediction's score ({100 * task_score:.2f}% on its tab). "
            "Lower = more suspect.")


SUMMARY_FIELDS = {
    "type": "entity type, or O",
    "tokens": "tokens whose given label has this type",
    "entities": "given entities of this type (empty for O)",
    "flagged_tokens": "of those tokens, the ones find_label_issues flags",
    "flagged_spans": "entity findings whose given side has this type (for O: missing entities)",
    "estimated_error_rate": "estimated share of this type's tokens whose true type is another "
                            "(calibrated confident joint over entity types)",
    "top_confusions": "most frequent suggested types of the flagged tokens, most frequent first: "
                      "[{suggested, count}] (CSV: 'TYPE (count), ...')",
    "top_flagged_tokens": "most often flagged words of this type, most frequent first: "
                          "[{token, count}] (CSV: 'word (count), ...')",
}
# The key naming the item of each top list of SUMMARY_FIELDS.
TOP_KEYS = {"top_confusions": "suggested", "top_flagged_tokens": "token"}


def top_text(items, field: str) -> str:
    """A top list of :data:`SUMMARY_FIELDS` as text, ``'LOC (3), PER (1)'`` (runs stored
    before the lists were structured hold that text already)."""
    if isinstance(items, str) or items is None:
        return items or ""
    return ", ".join(f"{item[TOP_KEYS[field]]} ({item['count']})" for item in items)


def top_items(value, field: str) -> list:
    """A top list of :data:`SUMMARY_FIELDS` as ``[{<key>: ..., "count": n}]``, also from the
    text form of runs stored before the lists were structured."""
    if not isinstance(value, str):
        return list(value or [])
    key = TOP_KEYS[field]
    return [{key: name, "count": int(n)} for name, n in _TOP_ITEM.findall(value)]


_TOP_ITEM = re.compile(r"(.+?) \((\d+)\)(?:, |$)")


def type_summary(project: ProjectCorpus, result: AuditResult, *, top: int = 3,
                 view: TypeView | None = None) -> list:
    """Per entity type (and ``O``) the fields of :data:`SUMMARY_FIELDS`."""
    from tokenlq import estimated_error_rates

    view = view or type_view(result)
    types, given = view.types, view.given
    rates = estimated_error_rates(view.joint)
    flagged = np.array([int(result.offsets[i]) + j for i, j in result.issues], dtype=np.int64)
    suggested = view.probs[flagged].argmax(axis=1)  # of the flagged tokens only
    of_type = given[flagged]
    type_tokens = np.bincount(given, minlength=len(types))
    # The word of each flagged token (not a flat list of every word: millions at 100,000 tasks).
    sentence = np.searchsorted(result.offsets, flagged, side="right") - 1
    word_of = {int(t): project.tokens[i][t - int(result.offsets[i])][0]
               for t, i in zip(flagged.tolist(), sentence.tolist())}
    entity_counts = decode_spans(result.labels, result.offsets, result.class_names)["type"] \
        .value_counts().to_dict()
    span_counts = Counter()
    for row in result.spans.itertuples():
        for kind in row.given.split("|"):
            span_counts[kind] += 1
    rows = []
    for k, kind in enumerate(types):
        is_mine = of_type == k
        mine = flagged[is_mine]
        confusions = Counter(types[s] for s in suggested[is_mine].tolist() if s != k)
        tokens = Counter(word_of[int(t)] for t in mine)
        rows.append({
            "type": kind, "tokens": int(type_tokens[k]),
            "entities": None if kind == "O" else entity_counts.get(kind, 0),
            "flagged_tokens": int(len(mine)), "flagged_spans": span_counts.get(kind, 0),
            "estimated_error_rate": None if np.isnan(rates[k]) else float(rates[k]),
            "top_confusions": [{"suggested": t, "count": int(n)}
                               for t, n in confusions.most_common(top)],
            "top_flagged_tokens": [{"token": t, "count": int(n)} for t, n in tokens.most_common(top)],
        })
    return rows


def findings(project: ProjectCorpus, result: AuditResult, *, skip=(), top: int = 20,
             view: TypeView | None = None) -> dict:
    """What a manager looks at, from one run: the most suspicious tokens and entities (with
    their task), the given -> suggested type counts of the flagged tokens, and the overall
    estimated error rate. Tasks in ``skip`` (confirmed findings) are left out."""
    view = view or type_view(result)
    types = view.types
    skip = set(skip)
    tokens, confusions = [], Counter()
    for i, j in result.issues:
        task = project.task_ids[i]
        if task in skip:
            continue
        t = int(result.offsets[i]) + j
        given, suggested = types[view.given[t]], types[int(view.probs[t].argmax())]
        confusions[(given, suggested)] += 1
        if len(tokens) < top:
            tokens.append({"task": task, "token": project.tokens[i][j][0], "given": given,
                           "suggested": suggested, "score": float(result.token_scores[t])})
    entities = []
    for row in result.spans.sort_values("score", kind="stable").itertuples():
        task = project.task_ids[int(row.sentence)]
        if task in skip:
            continue
        entities.append({"task": task, "text": row.text, "given": row.given,
                         "suggested": row.suggested, "kind": row.kind, "score": float(row.score)})
        if len(entities) == top:
            break
    return {"error_rate": off_diagonal_share(view.joint),
            "confusions": [[g, s, n] for (g, s), n in confusions.most_common()],
            "suspicious_tokens": tokens, "suspicious_entities": entities}
