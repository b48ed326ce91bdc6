"""Runs of a project: read it from Label Studio, score it, write back only what changed.
Human annotations and other models' predictions are never touched.

:func:`rescore` is both the full rescoring (``mode="rescore"``: the embedded model is
cross-validated anew) and the quick update after annotations change (``mode="update"``: the
stored fit of :mod:`backend.fits` is reused and only re-scored). :func:`refit` renews the fit
in the background without writing anything. A run reads its :class:`RunOptions` and the
previous review states, changes neither, and returns a :class:`RunResult`.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tokenlq import offsets_from_lengths
from tokenlq.model import model_reason, resolve_model

from .annotators import annotator_summary
from .embedded import new_fit, only_tasks, reuse_fit, settle_refit
from .fits import ProjectFit, current_fit_name, load_fit, save_fit
from .labelstudio.config import NerConfig, parse_label_config
from .labelstudio.project import LabelStudioProject, prediction_content
from .labelstudio.views import mark_reviewed, view_filters, view_layout
from .probs import (PREDICTION_WEIGHT, VOTE_WEIGHT, combine_probs, prediction_probs,
                    shared_prediction_version, task_probs, tasks_with_probs, vote_probs,
                    vote_scores)
from .probs_sources import check_source
from .reviews import update_reviews
from .scoring import (ProjectCorpus, findings, project_classes, read_tasks, render_predictions,
                      score_tasks, type_summary, type_view)
from .settings import WRITES_PER_RUN
from .versions import MODEL_VERSION

__all__ = ["EVIDENCE_FIELDS", "MODEL_VERSION", "MODES", "RefitSummary", "RunMemo", "RunOptions",
           "RunResult", "RunSummary", "refit", "rescore"]

MODES = ("rescore", "update")


@dataclass(frozen=True)
class RunOptions:
    """How a run goes; checked when made, never changed by the run."""
    probs: str = "auto"  # auto | task | crf | prediction:<model_version> (backend.probs)
    mode: str = "rescore"  # one of MODES
    data_dir: Path | None = None  # where fits are kept; None: fit every run, keep nothing
    # The service's store (backend.storage.Store): with a server database the fits live there,
    # the data_dir holding only this process's copies. None: fits are files in data_dir only.
    store: object | None = field(default=None, repr=False)
    refit_fraction: float = 0.01  # an update asks for a refit once this share of tasks changed
    # single prediction writes a run makes at most; it asks for an update to write the rest
    # (:func:`_write`). None: no limit
    writes_per_run: int | None = WRITES_PER_RUN
    folds: int = 5
    seed: int = 0
    # The credential header for the webhook Label Studio created for the backend (auth.py).
    webhook_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    progress: Callable[[str], None] | None = None  # called with each phase's name as the run enters it
    # With writes_per_run: true when an update waits for the project, which then takes the
    # writes this run has not made yet (:func:`_write`), so an edit saved meanwhile waits little.
    give_way: Callable[[], bool] | None = field(default=None, repr=False)

    def __post_init__(self):
        check_source(self.probs)
        if self.mode not in MODES:
            raise ValueError(f"the run's mode must be one of {MODES}; got {self.mode!r}")
        if not 0 <= self.refit_fraction <= 1:
            raise ValueError(f"refit_fraction must be from 0 to 1; got {self.refit_fraction!r}")
        if not (isinstance(self.folds, int) and self.folds >= 2):
            raise ValueError(f"folds must be an integer of at least 2; got {self.folds!r}")
        if self.writes_per_run is not None and (isinstance(self.writes_per_run, bool) or not (
                isinstance(self.writes_per_run, int) and self.writes_per_run >= 1)):
            raise ValueError(f"writes_per_run must be a positive integer or None; got {self.writes_per_run!r}")


@dataclass
class RunSummary:
    project: int
    project_title: str = ""  # the project's name in Label Studio when the run read it
    mode: str = "rescore"
    probs: str = ""  # where the probabilities came from: embedded, task, embedded+prediction:<v>
    evidence: dict = field(default_factory=dict)  # what the scores rest on (EVIDENCE_FIELDS)
    tasks: int = 0
    scored: int = 0
    tokens: int = 0
    flagged: int = 0
    written: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    view: int | None = None
    fit: dict = field(default_factory=dict)
    refit: bool = False  # whether a background refit should follow
    # tasks whose predictions of ours the run left as they were (RunOptions.writes_per_run):
    # an update should follow
    pending: int = 0
    model_version: str = MODEL_VERSION
    error_rate: float | None = None  # estimated share of all tokens whose true type is another
    reviews: dict = field(default_factory=dict)  # findings per review status, and suppressed
    warnings: dict = field(default_factory=dict)
    classes: list = field(default_factory=list)
    confusions: list = field(default_factory=list)  # [given, suggested, flagged tokens]
    suspicious_tokens: list = field(default_factory=list)
    suspicious_entities: list = field(default_factory=list)
    annotators: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunMemo:
    """What a run leaves to the next update of the same project in the same process (a resident
    scorer, :mod:`backend.resident`), so that it reads, re-renders and compares only what
    changed: the project's settings and corpus as read, the fit in use, and each task's
    prediction."""
    settings: dict  # backend.copies.project_settings, the model version as the run left it
    corpus: ProjectCorpus  # with its per-task readings
    fit_name: str | None  # the stored fit's version, and the fit (None: none is kept)
    fit: ProjectFit | None
    probs: str  # RunSummary.probs: where the probabilities came from
    rendered: dict  # {task id: (signature, prediction before any review mark)}
    final: dict  # {task id: (review note or None, the prediction written)}
    result: object = None  # the run's tokenlq.audit.AuditResult (None: it scored nothing)
    view: tuple = (None, None)  # (id, filters) of the issues tab as the run left it


@dataclass(frozen=True)
class RunResult:
    """What :func:`rescore` returns; the caller keeps ``predictions`` and ``reviews``."""
    summary: RunSummary
    predictions: dict  # {task id: prediction}: the run's prediction of every scored task
    reviews: dict  # {task id: review state} after the run (backend.reviews), for the next run
    # {task id: [our predictions]} of the tasks whose predictions of ours the run changed, as
    # Label Studio now has them (an id is None where a bulk import did not say it)
    ours: dict = field(default_factory=dict)
    memo: RunMemo | None = field(default=None, repr=False)  # for the next update (rescore's memo)
    # the ids of the tasks whose predictions of ours the run left for the next (summary.pending)
    left: frozenset = frozenset()


@dataclass(frozen=True)
class RefitSummary:
    """What :func:`refit` did: the fit it stored, or why it stored none (``skipped``)."""
    model: str | None = None  # the embedded model fitted
    tasks: int = 0  # annotated tasks it was fitted on
    seconds: dict = field(default_factory=dict)  # per phase: pull, fit, settle
    skipped: str | None = None
    why: str | None = None  # why this model
    adopted: int = 0  # tasks that took the new fit's probabilities (embedded.settle_refit)

    def to_dict(self) -> dict:
        """The job's stored summary: ``{"skipped": why}`` or the fit's model, why, tasks,
        adopted and seconds."""
        if self.skipped is not None:
            return {"skipped": self.skipped}
        return {"model": self.model, "why": self.why, "tasks": self.tasks,
                "adopted": self.adopted, "seconds": dict(self.seconds)}


class _Clock:
    """Seconds per phase into the summary; the next phase's name to ``report``."""

    def __init__(self, summary: RunSummary, report=None):
        self.summary, self.start, self.report = summary, time.perf_counter(), report
        self.enter("pull")

    def enter(self, phase: str) -> None:
        if self.report is not None:
            self.report(phase)

    def lap(self, name: str, following: str | None = None) -> None:
        now = time.perf_counter()
        self.summary.seconds[name] = round(self.summary.seconds.get(name, 0) + now - self.start, 3)
        self.start = now
        if following:
            self.enter(following)


def _pull(ls: LabelStudioProject):
    settings = ls.settings()
    config = parse_label_config(settings["label_config"])
    return settings, config, ls.tasks()


def _stored_fit(options: RunOptions, project_id: int, class_names, memo: RunMemo | None) -> tuple:
    """``(name, fit)`` an update reuses: the stored one (the memo's when it is still current),
    unless the labeling config changed since; ``(None, None)`` when there is none to reuse."""
    if options.mode != "update" or options.data_dir is None:
        return None, None
    # The name before the fit: if a newer fit is saved between the two, the next run reloads.
    name = current_fit_name(options.data_dir, project_id, store=options.store)
    if memo is not None and memo.fit is not None and memo.fit_name == name:
        fit = memo.fit
    else:
        fit = load_fit(options.data_dir, project_id, store=options.store)
    return (name, fit) if fit is not None and fit.class_names == class_names else (None, None)


def _created(fit: ProjectFit | None) -> float | None:
    return None if fit is None else fit.created


# crf+encoder cross-validated 100,000 WNUT-17 tasks (1.8 million tokens) in 44 minutes with a
# peak of 7.0 GB, every token's vector held (bench/update.py --probs auto), beside an update
# process of 2-3 GB (the goal: 8 GB together). Past this many tokens auto fits the CRF alone.
ENCODER_MAX_TOKENS = 1_000_000


def _wanted(options: RunOptions, project) -> str:
    """The embedded model a run or refit of ``project`` fits: the CRF when asked for, else what
    ``auto`` resolves to, but the CRF past :data:`ENCODER_MAX_TOKENS`."""
    if options.probs == "crf" or sum(map(len, project.tokens)) > ENCODER_MAX_TOKENS:
        return "crf"
    return resolve_model("auto")


def _why(model: str, wanted: str, options: RunOptions, project) -> str:
    """Why the run fitted ``model``, for its summary."""
    if model != wanted:
        return (f"the quick {model} first, so that the first scores come in a minute; {wanted} "
                f"follows in a refit")
    if options.probs == "crf":
        return "the probability source is crf"
    if model == "crf" and resolve_model("auto") != "crf":
        return (f"auto: the CRF alone past {ENCODER_MAX_TOKENS:,} tokens (this project has "
                f"{sum(map(len, project.tokens)):,}); the encoder's fit would hold every token's "
                f"vector")
    return model_reason("auto", model)


def _embedded_probs(project, fit: ProjectFit | None, class_names, options: RunOptions,
                    summary: RunSummary):
    """Probabilities from the stored ``fit`` (update) or a new cross-validation (rescore, or
    no usable fit). Sets ``summary.fit`` and ``summary.refit``. Returns ``(probs, fit to
    save)``: probs None when there are too few tasks, the fit None when the stored one stands."""
    wanted = _wanted(options, project)
    if fit is None:
        if len(project.task_ids) < options.folds:
            summary.fit = {"skipped": f"{len(project.task_ids)} annotated tasks; the model needs "
                                      f"at least {options.folds} to cross-validate"}
            return None, None
        # An update without a fit fits the quick CRF first and leaves the encoder to a refit.
        model = wanted if options.mode == "rescore" else "crf"
        fit = new_fit(project, class_names, model=model, folds=options.folds, seed=options.seed)
        summary.fit = {"model": model, "tasks": len(project.task_ids), "new": True,
                       "why": _why(model, wanted, options, project)}
        summary.refit = model != wanted
        return fit.probs, fit
    reuse = reuse_fit(fit, project)
    to_save = None
    if reuse.dropped:  # deleted tasks: their stored state goes
        fit = to_save = only_tasks(fit, project.task_ids)
    stale = reuse.predicted + reuse.changed_labels
    summary.fit = {"model": fit.model_name, "tasks": len(fit.task_ids), "new": False,
                   "age_seconds": round(time.time() - fit.created, 1),
                   "from_fit": reuse.from_fit, "predicted": reuse.predicted,
                   "changed_labels": reuse.changed_labels, "dropped": reuse.dropped}
    summary.refit = fit.model_name != wanted or \
        stale >= max(1, options.refit_fraction * len(project.task_ids))
    return reuse.probs, to_save


EVIDENCE_FIELDS = {
    "model": "the token distributions' source: the embedded model (its name, e.g. crf), 'task' "
             "(tokenlq_probs stored with the tasks), or null when only predictions were used",
    "predictions": "another model's span predictions averaged with the embedded model inside "
                   "their regions: {model_version, tasks, tokens (inside a region), weight, "
                   "alone (true when too few tasks to fit the embedded model)}",
    "other_annotations": "tasks with other non-cancelled annotations than the scored one, whose "
                         "labels were mixed in as votes: {tasks, annotations, weight}",
}


def _probabilities(tasks_by_id, project, project_id: int, config: NerConfig, class_names, options,
                   summary, clock, memo: RunMemo | None = None):
    """``(probs, (fit name, fit))``: the run's token distributions from ``options.probs`` (the
    ``prediction:`` source is combined with the embedded model), and the embedded model's fit
    it used (``(None, None)``: none, or not stored); sets ``summary.probs`` and the model part
    of ``summary.evidence``."""
    scored = [tasks_by_id[t] for t in project.task_ids]
    source = options.probs
    if source == "auto" and scored:
        if tasks_with_probs(scored) == len(scored):
            source = "task"
        elif (version := shared_prediction_version(scored)) is not None:
            source = f"prediction:{version}"
    if source == "task":
        summary.probs, summary.evidence["model"] = "task", "task"
        return task_probs(scored, [len(t) for t in project.tokens], class_names), (None, None)
    theirs = None
    if source.startswith("prediction:"):
        version = source[len("prediction:"):]
        theirs = prediction_probs(scored, project.tokens, class_names, version,
                                  from_name=config.from_name, return_inside=True)
        summary.evidence["predictions"] = {
            "model_version": version, "tasks": len(scored), "tokens": int(theirs[1].sum()),
            "weight": PREDICTION_WEIGHT, "alone": False}
    summary.probs = "embedded"
    name, stored = _stored_fit(options, project_id, class_names, memo)
    probs, fit = _embedded_probs(project, stored, class_names, options, summary)
    in_use = (name, stored)
    if fit is not None:
        in_use = (None, None)
        if options.data_dir is not None:
            in_use = (save_fit(options.data_dir, project_id, fit, store=options.store), fit)
    if probs is not None:
        clock.lap("fit", "score")
        summary.evidence["model"] = summary.fit.get("model")
    if theirs is None:
        return probs, in_use
    if probs is None:  # too few tasks to cross-validate: the other model's alone
        summary.probs, summary.evidence["predictions"]["alone"] = source, True
        summary.evidence["model"] = None
        return theirs[0], in_use
    summary.probs = f"embedded+{source}"
    return combine_probs(probs, *theirs), in_use


def _other_annotations(project, summary):
    """Each task's other annotations (``ProjectCorpus.others``) and the indices of the tasks
    that have some; sets ``summary.evidence["other_annotations"]`` when there are."""
    others = project.others
    voted = frozenset(i for i, every in enumerate(others) if every)
    if voted:
        summary.evidence["other_annotations"] = {
            "tasks": len(voted), "annotations": sum(len(every) for every in others),
            "weight": VOTE_WEIGHT}
    return others, voted


def rescore(ls: LabelStudioProject, options: RunOptions = RunOptions(), *,
            reviews: Mapping | None = None, tasks: list | None = None,
            memo: RunMemo | None = None, touched=None,
            settings: Mapping | None = None) -> RunResult:
    """Score project ``ls`` and write back its predictions, model version and issues view.

    ``reviews`` are the review states the previous run returned (``{task id: state}``; none:
    every finding is new); they are read, not changed. ``tasks``: the project's tasks as the
    caller has them (:mod:`backend.reading`); None: the run reads them all. ``memo``: the
    :class:`RunMemo` of the previous run of this project when ``tasks`` are its tasks with
    only those of ids ``touched`` changed since, and Label Studio's predictions of ours are what
    it wrote: the run then reads, renders and compares only what changed, to the same result.
    ``settings``: the project's settings (:func:`backend.copies.project_settings`) as the
    caller knows them with ``tasks`` (None: the run asks Label Studio).
    Returns the summary, the predictions, the new review states and the memo for the next run.
    """
    summary = RunSummary(ls.id, mode=options.mode)
    clock = _Clock(summary, options.progress)
    if tasks is None:
        settings, config, tasks = _pull(ls)
    else:
        settings = dict(settings) if settings is not None else ls.settings()
        config = parse_label_config(settings["label_config"])
    summary.project_title = str(settings.get("title") or "")
    summary.tasks = len(tasks)
    clock.lap("pull", "read")
    if touched is None or (memo is not None and memo.settings["label_config"] != settings["label_config"]):
        memo = None
    touched = frozenset(touched or ())
    project = read_tasks(tasks, config, previous=None if memo is None else memo.corpus,
                         touched=touched)
    clock.lap("read", "fit")

    class_names = project_classes(config)
    new, probs, review_states = {}, None, dict(reviews or {})
    rendered, final, settled, fit_in_use = {}, {}, set(), (None, None)
    if project.task_ids:
        tasks_by_id = {t["id"]: t for t in tasks}
        probs, fit_in_use = _probabilities(tasks_by_id, project, ls.id, config, class_names,
                                           options, summary, clock, memo)
    # The earlier rendering stands for the tasks not touched when their probabilities are the
    # same: the same source and the same stored fit reused, not a new one (a fit that only lost
    # deleted tasks keeps its time of creation).
    same_probs = memo is not None and memo.probs == summary.probs and not summary.fit.get("new") \
        and _created(memo.fit) == _created(fit_in_use[1])
    if project.task_ids and probs is not None:
        model_probs = probs
        others, voted = _other_annotations(project, summary)
        if voted:  # the votes go into the probabilities (findings, suggestions) and the scores
            offsets = offsets_from_lengths([len(t) for t in project.tokens])
            probs = vote_probs(probs, offsets, others, class_names)
        # Span issues are found again only in the tasks touched and where flags moved when
        # the tasks are those the memo's result scored, in the same order.
        since = {}
        if same_probs and memo.result is not None and memo.corpus.task_ids == project.task_ids:
            since = {"previous": memo.result,
                     "changed": [i for i, t in enumerate(project.task_ids) if t in touched]}
        result = score_tasks(project, config, pred_probs=probs, pred_probs_classes=class_names,
                             **since)
        if voted:
            sentence_scores, token_scores = vote_scores(
                result.sentence_scores, result.token_scores, project.labels, result.offsets, others)
            result = replace(result, sentence_scores=sentence_scores, token_scores=token_scores)
        view = type_view(result)
        rendered = render_predictions(project, result, config, MODEL_VERSION, view=view,
                                      voted=voted, previous=memo.rendered if same_probs else None,
                                      touched=touched, since=since)
        new = {task_id: prediction for task_id, (_, prediction) in rendered.items()}
        positions: dict = {}
        for i, j in result.issues:
            positions.setdefault(project.task_ids[i], []).append(j)
        # Each task's weakest token: the first of its lowest token score (every task has tokens).
        offsets, token_scores = result.offsets, result.token_scores
        lowest = np.minimum.reduceat(token_scores, offsets[:-1])
        at_lowest = np.flatnonzero(token_scores == np.repeat(lowest, np.diff(offsets)))
        weakest = at_lowest[np.searchsorted(at_lowest, offsets[:-1])] - offsets[:-1]
        current = {t: (labels, confirmed, new[t]["score"], low) for t, labels, confirmed, low
                   in zip(project.task_ids, project.labels, project.confirmed, weakest.tolist())}
        flagged, states, reviewed = update_reviews(reviews or {}, current, positions, time.time())
        earlier = memo.final if same_probs else {}
        for t in new:
            note = REVIEW_NOTES[states[t]["status"]] if t in reviewed else None
            before = earlier.get(t)
            if before is not None and before[0] == note and rendered[t] is memo.rendered.get(t):
                new[t] = before[1]  # the prediction the last run wrote, still in Label Studio
                settled.add(t)
            elif note is not None:  # marked on a copy: the rendered one may be reused later
                new[t] = copy.deepcopy(new[t])
                mark_reviewed(new[t], note)
            final[t] = (note, new[t])
        suppressed = {t for t in reviewed if states[t]["status"] == "confirmed"}
        summary.tokens, summary.flagged = int(result.offsets[-1]), len(flagged)
        summary.classes = type_summary(project, result, view=view)
        facts = findings(project, result, skip=suppressed, view=view)
        summary.error_rate, summary.confusions = facts["error_rate"], facts["confusions"]
        summary.suspicious_tokens = facts["suspicious_tokens"]
        summary.suspicious_entities = facts["suspicious_entities"]
        # Annotators are judged by the model alone, not by each other's votes.
        if voted:
            columns = [class_names.index(c) for c in result.class_names]
            model_result = replace(result, pred_probs=model_probs[:, columns])
            summary.annotators = annotator_summary(project, model_result)
        else:
            summary.annotators = annotator_summary(project, result, view=view)
        summary.reviews = dict(Counter(s["status"] for s in states.values()),
                               suppressed=len(suppressed))
        review_states = states
    else:
        flagged = []
    summary.scored = len(new)
    summary.warnings = dict(project.warnings)
    clock.lap("score", "write")

    threshold = max((new[t]["score"] for t in flagged), default=None)
    cleared, ours, left = _write(ls, tasks, new, summary, settled=settled, first=touched,
                                 limit=options.writes_per_run, give_way=options.give_way,
                                 tab=threshold)
    for task_id in left:  # not written: the next run compares them again
        final.pop(task_id, None)
    if new and (cleared or settings["model_version"] != MODEL_VERSION):
        ls.set_model_version(MODEL_VERSION)  # only after our predictions exist (else 400)
        settings["model_version"] = MODEL_VERSION
    filters = view_filters(threshold)
    if memo is not None and memo.view[0] is not None and memo.view[1] == filters:
        summary.view = memo.view[0]  # the tab as the last run left it: nothing to write
    else:
        summary.view = ls.show_issues_view(filters, lambda columns: view_layout(columns, config.value_key))
    if options.webhook_headers:
        ls.secure_webhooks(MODEL_VERSION, dict(options.webhook_headers))
    clock.lap("write")
    memo = RunMemo(settings, project, *fit_in_use, summary.probs, rendered, final,
                   result if new else None, (summary.view, filters))
    return RunResult(summary, new, review_states, ours, memo, frozenset(left))


REVIEW_NOTES = {"fixed": "A reviewer fixed these labels", "confirmed": "A reviewer marked these labels right"}


# Label Studio 1.23.2 on SQLite updates or deletes single predictions at about 17 per second,
# but drops a whole model version and bulk-imports predictions at about 100 and 1,500 per
# second (bench/service.py): past this share of our predictions, replacing them all is faster.
BULK_SHARE = 0.15
BULK_MIN = 300
# With a limit on a run's single writes, it asks this often whether an update waits (an edit
# saved meanwhile) and then leaves it the rest: about 1.5 s of Label Studio's writes.
YIELD_EVERY = 25
# Deleting a model version is one transaction that saves every task it touches, so annotators'
# saves wait for it; 100,000 took over 30 minutes on PostgreSQL (bench/results/events_100k.md).
# Past this many predictions of ours they are never replaced in bulk.
BULK_MAX = 20_000


def _ours(tasks) -> dict:
    """{task id: its predictions of ours, oldest first}."""
    return {task["id"]: sorted((p for p in task.get("predictions") or ()
                                if p.get("model_version") == MODEL_VERSION),
                               key=lambda p: (p.get("id") is None, p.get("id") or 0))
            for task in tasks}


@dataclass
class _Singles:
    """A task's single writes: predictions of ours to delete, the one to update (its id and
    new content, or None) and what the task then holds of ours."""
    delete: list
    update: tuple | None
    after: list

    def __len__(self):
        return len(self.delete) + (self.update is not None)


def _write(ls: LabelStudioProject, tasks, new: dict, summary: RunSummary, *, settled=frozenset(),
           first=frozenset(), limit: int | None = None, give_way=None, tab: float | None = None):
    """Exactly one current prediction of ours per scored task: unchanged ones are left alone,
    changed ones updated in place, missing ones created; extra or orphaned ones deleted. When
    most of them changed (after a refit) and they are not too many (:data:`BULK_MAX`), all of
    ours are replaced in two bulk requests. ``settled``: tasks known to have exactly their
    prediction of ``new`` already (not compared). ``limit``: at most that many single writes,
    the tasks of ``first`` first, then those losing theirs, then those entering or leaving the
    issues tab (its filter: a score at most ``tab``), then the most suspect; the other tasks are
    left as they are (``summary.pending`` counts them). With a limit, ``give_way()`` is asked
    every :data:`YIELD_EVERY` single writes once the tasks of ``first`` are written; when true,
    the run leaves the rest too.
    Returns whether the project's model version was cleared on the way, ``{task id: [our
    predictions]}`` of the tasks whose predictions of ours changed (and of the tasks left whose
    prediction ids it had to read: Label Studio's, unchanged), and the ids of the tasks left."""
    current = _ours(t for t in tasks if t["id"] not in settled)
    # Tasks whose predictions of ours must change but whose ids a bulk import did not say:
    # read just theirs.
    unknown = [t for t, ours in current.items()
               if any(p.get("id") is None for p in ours)
               and [prediction_content(p) for p in ours]
               != ([prediction_content(new[t])] if t in new else [])]
    if unknown:
        current.update(ls.predictions_of(unknown, MODEL_VERSION))
    to_create, singles, ours_now, crossing = {}, {}, {}, set()
    existing, summary.unchanged = len(settled), len(settled)
    for task_id, ours in current.items():
        existing += len(ours)
        wanted = new.get(task_id)
        if wanted is None:  # a task no longer scored loses ours
            if ours:
                singles[task_id] = _Singles([p["id"] for p in ours], None, [])
            continue
        if not ours:
            to_create[task_id] = wanted
            continue
        keep, extra = ours[0], ours[1:]
        if prediction_content(keep) == prediction_content(wanted):
            summary.unchanged += 1
            if extra:
                singles[task_id] = _Singles([p["id"] for p in extra], None, [keep])
        else:
            singles[task_id] = _Singles([p["id"] for p in extra], (keep["id"], wanted),
                                        [{**wanted, "id": keep["id"]}])
            if tab is not None and isinstance(keep.get("score"), (int, float)) and \
                    (keep["score"] <= tab) != (wanted["score"] <= tab):
                crossing.add(task_id)
    count = sum(map(len, singles.values()))
    cleared = count > max(BULK_MIN, BULK_SHARE * existing) and existing <= BULK_MAX
    left = []
    if cleared:
        summary.removed = ls.delete_model_version(MODEL_VERSION)
        to_create, summary.unchanged = dict(new), 0
        ours_now = {task_id: [] for task_id, ours in current.items() if ours}
        ours_now.update({task_id: [] for task_id in settled})
    else:
        order = list(singles)
        if limit is not None:
            order.sort(key=lambda t: (t not in first, t in new, t not in crossing,
                                      new[t]["score"] if t in new else 0.0, t))
            done = 0
            for n, task_id in enumerate(order):
                if done >= limit:
                    order, left = order[:n], order[n:]
                    break
                done += len(singles[task_id])
        summary.removed = summary.updated = 0
        step = YIELD_EVERY if limit is not None else max(len(order), 1)
        touched = sum(t in first for t in order)  # written before the run gives way
        for start in range(0, len(order), step):
            if start >= max(touched, 1) and give_way is not None and give_way():
                order, left = order[:start], order[start:] + left
                break
            chunk = [singles[t] for t in order[start:start + step]]
            to_delete = [i for s in chunk for i in s.delete]
            to_update = dict(s.update for s in chunk if s.update is not None)
            ls.delete_predictions(to_delete)
            ls.update_predictions(to_update)
            summary.removed += len(to_delete)
            summary.updated += len(to_update)
        ours_now = {task_id: singles[task_id].after for task_id in order}
        # Of the tasks left, those whose prediction ids it read: Label Studio's (unchanged)
        # predictions, so that the caller's copy has their ids and no later run reads them.
        ours_now.update({task_id: current[task_id] for task_id in set(left) & set(unknown)})
    summary.pending = len(left)
    if to_create:
        summary.written = ls.create_predictions(to_create)
        if summary.written != len(to_create):
            raise RuntimeError(f"Label Studio created {summary.written} of {len(to_create)} predictions")
        ours_now.update({task_id: [{**wanted, "id": None}] for task_id, wanted in to_create.items()})
    return cleared, ours_now, left


def refit(ls: LabelStudioProject, options: RunOptions) -> RefitSummary:
    """Cross-validate the embedded model on the project as it is now and store the fit, keeping
    the stored fit's probabilities where the new ones change nothing a reviewer sees
    (:func:`backend.embedded.settle_refit`); writes nothing to Label Studio (the update that
    follows does). Returns the fit's summary."""
    started = time.perf_counter()
    report = options.progress or (lambda phase: None)
    report("pull")
    _, config, tasks = _pull(ls)
    project = read_tasks(tasks, config)
    pulled = time.perf_counter()
    report("fit")
    if len(project.task_ids) < options.folds:
        return RefitSummary(skipped=f"{len(project.task_ids)} annotated tasks")
    model = _wanted(options, project)
    fresh = new_fit(project, project_classes(config), model=model, folds=options.folds,
                    seed=options.seed)
    fitted = time.perf_counter()
    fit, adopted = settle_refit(load_fit(options.data_dir, ls.id, store=options.store), fresh,
                                project, config)
    save_fit(options.data_dir, ls.id, fit, store=options.store)
    return RefitSummary(model, len(project.task_ids),
                        {"pull": round(pulled - started, 3), "fit": round(fitted - pulled, 3),
                         "settle": round(time.perf_counter() - fitted, 3)},
                        why=_why(model, model, options, project), adopted=adopted)
