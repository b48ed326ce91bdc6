"""One scoring run of a project: read it from Label Studio, score it, write back only what
changed. Human annotations and other models' predictions are never touched."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tokenlq import __version__

from .label_config import parse_label_config
from .labelstudio import LabelStudioProject, prediction_content
from .scoring import predictions, read_tasks, score_tasks, type_summary

__all__ = ["MODEL_VERSION", "RunSummary", "rescore"]

MODEL_VERSION = f"tokenlq-{__version__}"


@dataclass
class RunSummary:
    project: int
    tasks: int = 0
    scored: int = 0
    tokens: int = 0
    flagged: int = 0
    written: int = 0
    unchanged: int = 0
    replaced: int = 0
    view: int | None = None
    warnings: dict = field(default_factory=dict)
    classes: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


WEBHOOK_SECRET_HEADER = "X-Tokenlq-Webhook-Secret"


def rescore(ls: LabelStudioProject, *, model: str = "auto", folds: int = 5, seed: int = 0,
            webhook_secret: str = "", return_predictions: bool = False):
    """Score project ``ls`` and write back its predictions, model version and issues view.
    Returns the run's summary (and ``{task id: prediction}`` with ``return_predictions``)."""
    summary, clock = RunSummary(ls.id), time.perf_counter()
    settings = ls.settings()
    config = parse_label_config(settings["label_config"])
    tasks = list(ls.tasks())
    summary.tasks = len(tasks)
    summary.seconds["pull"] = time.perf_counter() - clock

    clock = time.perf_counter()
    project = read_tasks(tasks, config)
    result = score_tasks(project, config, model=model, folds=folds, seed=seed)
    new = predictions(project, result, config, MODEL_VERSION)
    flagged = sorted({project.task_ids[i] for i, _ in result.issues},
                     key=lambda t: new[t]["score"])
    summary.scored, summary.tokens, summary.flagged = len(new), int(result.offsets[-1]), len(flagged)
    summary.warnings = dict(project.warnings)
    summary.classes = type_summary(project, result)
    summary.seconds["score"] = time.perf_counter() - clock

    clock = time.perf_counter()
    to_write = {}
    for task in tasks:
        task_id = task["id"]
        ours = [p for p in task.get("predictions") or () if p.get("model_version") == MODEL_VERSION]
        wanted = new.get(task_id)
        if wanted is not None and len(ours) == 1 and \
                prediction_content(ours[0]) == prediction_content(wanted):
            summary.unchanged += 1
            continue
        for old in ours:  # replaced, never duplicated; a task no longer scored loses ours
            ls.delete_prediction(old["id"])
            summary.replaced += 1
        if wanted is not None:
            to_write[task_id] = wanted
    if to_write:
        summary.written = ls.create_predictions(to_write)
        if summary.written != len(to_write):
            raise RuntimeError(f"Label Studio created {summary.written} of {len(to_write)} predictions")
    if new and settings["model_version"] != MODEL_VERSION:
        ls.set_model_version(MODEL_VERSION)  # only after our predictions exist (else 400)
    summary.view = ls.show_issues_view(flagged)
    if webhook_secret:
        ls.secure_webhooks(MODEL_VERSION, WEBHOOK_SECRET_HEADER, webhook_secret)
    summary.seconds["write"] = time.perf_counter() - clock
    return (summary, new) if return_predictions else summary
