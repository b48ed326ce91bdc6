"""One update of a big project, in memory: the resident scorer's run beside a run without it.

What an update job does once it has the project's tasks (``backend.runs.rescore`` with the
stored fit), timed by its phases, on a stand-in Label Studio held in memory, so that Label
Studio's own answers and the network are left out (bench/events.py measures them, end to end).
Each step edits one task's annotation (a region relabelled or dropped), then runs

- *resident*: the run given the previous run's memo and the task touched (as the update process
  does with a project it keeps), and
- *no memo*: the same run without them (as a freshly started process does, its tasks loaded),

on two copies of the project that hold the same tasks and the same predictions, and checks
that they end alike (the same predictions written, the same review states).

The first scoring cross-validates the model once (--probs crf: the CRF; auto: what the
service's default picks, crf+encoder with the encoder extra), timed, with the peak resident
memory of the process and of its largest fold process; with --data-dir the fit is kept there
and later runs of the script reuse it.

With --refit-edits N, N more tasks are then edited and the model cross-validated again (as the
background refit does once the edits reach TOKENLQ_REFIT_FRACTION), timed, and settled against
the stored fit (backend.embedded.settle_refit: how many tasks took the new probabilities); the
update with the new fit says how many predictions it changes: the edited tasks', those whose
suspect regions or explanations moved, and those whose score alone moved.

Usage: python bench/update.py [--tasks 100000] [--steps 5] [--folds 5] [--probs crf|auto]
       [--refit-edits N] [--data-dir DIR] [--out bench/results/update.md]
"""

from __future__ import annotations

import argparse
import copy
import gc
import platform
import random
import resource
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from service import corpus
from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.runs import RunOptions, refit, rescore
from tokenlq_backend.settings import WRITES_PER_RUN

PHASES = ("pull", "read", "fit", "score", "write")


class MemoryProject:
    """What a run asks of Label Studio, answered from tasks held in memory; the predictions
    written are kept in the tasks, as Label Studio keeps them."""

    id = 1

    def __init__(self, tasks, config):
        self.by_id = {t["id"]: t for t in tasks}
        self.config, self.next_id, self.model_version = config, 1, None
        self.where = {}  # prediction id -> task id

    def settings(self):
        return {"title": "bench", "label_config": self.config, "model_version": self.model_version}

    def tasks(self):
        return [self.by_id[t] for t in sorted(self.by_id)]

    def create_predictions(self, predictions):
        for task_id, prediction in predictions.items():
            self.by_id[task_id].setdefault("predictions", []).append(dict(prediction, id=self.next_id))
            self.where[self.next_id] = task_id
            self.next_id += 1
        return len(predictions)

    def update_predictions(self, predictions):
        for prediction_id, prediction in predictions.items():
            task = self.by_id[self.where[prediction_id]]
            task["predictions"] = [dict(prediction, id=prediction_id) if p["id"] == prediction_id
                                   else p for p in task["predictions"]]

    def delete_predictions(self, ids):
        for prediction_id in ids:
            task = self.by_id[self.where.pop(prediction_id)]
            task["predictions"] = [p for p in task["predictions"] if p["id"] != prediction_id]

    def delete_model_version(self, version):
        removed = 0
        for task in self.by_id.values():
            kept = [p for p in task.get("predictions") or () if p["model_version"] != version]
            removed += len(task.get("predictions") or ()) - len(kept)
            task["predictions"] = kept
        return removed

    def set_model_version(self, version):
        self.model_version = version

    def show_issues_view(self, filters, layout):
        return 1


def edit(tasks: dict, rng) -> int:
    """Relabel or drop one region of a random annotated task (in ``tasks``, by id); its id."""
    while True:
        task = tasks[rng.choice(list(tasks))]
        result = task["annotations"][0]["result"] if task.get("annotations") else []
        if result:
            break
    region = rng.randrange(len(result))
    if rng.random() < 0.5:
        result.pop(region)
    else:
        labels = result[region]["value"]["labels"]
        others = sorted({r["value"]["labels"][0] for t in list(tasks.values())[:200]
                         for a in t.get("annotations") or () for r in a["result"]} - set(labels))
        result[region]["value"]["labels"] = [rng.choice(others)]
    return task["id"]


def untimed(reviews):
    return {t: {k: v for k, v in state.items() if not k.endswith("_at")} for t, state in reviews.items()}


def refit_after(args, ls, options, last, data_dir, rng) -> str:
    """Edit ``args.refit_edits`` tasks, refit, update with the new fit: a line of figures."""
    edited = {edit(ls.by_id, rng) for _ in range(args.refit_edits)}
    fits = data_dir / f"refit-{args.tasks}-{args.folds}-{args.seed}-{args.probs}-{args.refit_edits}"
    shutil.rmtree(fits, ignore_errors=True)  # timed each time
    shutil.copytree(options.data_dir, fits)  # the stored fit, which the refit settles against
    began = time.perf_counter()
    fitted = refit(ls, replace(options, data_dir=fits))
    seconds = time.perf_counter() - began
    after = rescore(ls, replace(options, mode="update", data_dir=fits, writes_per_run=None),
                    reviews=last.reviews, tasks=ls.tasks())
    before, now = last.predictions, after.predictions
    moved = [t for t in now if t not in edited and now[t] != before.get(t)]
    regions = sum(now[t]["result"] != before[t]["result"] for t in moved if t in before)
    changed = after.summary.updated + after.summary.written
    line = (f"A refit after {len(edited):,} more edited tasks: {fitted.model} cross-validated in "
            f"{seconds:.0f} s ({fitted.seconds}); {fitted.adopted:,} tasks took the new fit's "
            f"probabilities, the others kept the stored ones (`settle_refit`). The update with "
            f"the new fit changes {changed:,} of {len(now):,} predictions: the "
            f"{len(edited):,} edited tasks', {regions:,} whose suspect regions or explanations "
            f"moved and {len(moved) - regions:,} whose score alone moved; at most "
            f"{WRITES_PER_RUN} single writes a run, {-(-changed // WRITES_PER_RUN)} runs.")
    print(line, flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--probs", choices=("crf", "auto"), default="crf")
    parser.add_argument("--refit-edits", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    data, source = corpus(args.tasks, seed=args.seed)
    tasks = [dict(t, id=i + 1) for i, t in enumerate(corpus_tasks(data))]
    config = label_config(data)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="tokenlq-bench-update-"))
    fits = data_dir / f"fit-{args.tasks}-{args.folds}-{args.seed}-{args.probs}"
    kept_fit = fits.exists()
    resident = MemoryProject(tasks, config)
    options = RunOptions(probs=args.probs, folds=args.folds, data_dir=fits)
    began = time.perf_counter()
    first = rescore(resident, replace(options, mode="update" if kept_fit else "rescore"))
    first_seconds = time.perf_counter() - began
    fresh = MemoryProject(copy.deepcopy(resident.tasks()), config)
    fresh.next_id, fresh.where, fresh.model_version = resident.next_id, dict(resident.where), \
        resident.model_version
    model = first.summary.fit.get("model")
    peak = [resource.getrusage(who).ru_maxrss / 2**20 for who in (resource.RUSAGE_SELF,
                                                                   resource.RUSAGE_CHILDREN)]
    first_line = (f"first scoring {first_seconds:.0f} s "
                  f"({'the kept fit' if kept_fit else f'{model} cross-validated, {args.folds} folds'}); "
                  f"peak resident memory {peak[0]:.2f} GB, of a fold process {peak[1]:.2f} GB")
    print(f"{args.tasks} tasks ({source}), {first.summary.tokens} tokens; {first_line}", flush=True)

    update = replace(options, mode="update")
    memo, reviews, rng = first.memo, first.reviews, random.Random(args.seed)
    rows = []
    for step in range(args.steps):
        touched = edit(resident.by_id, rng)
        fresh.by_id[touched]["annotations"] = copy.deepcopy(resident.by_id[touched]["annotations"])
        timed = {}
        for name, ls, given in (("resident", resident, {"memo": memo, "touched": {touched}}),
                                ("no memo", fresh, {})):
            gc.collect()  # as the update process does between jobs (backend.resident.serve),
            gc.disable()  # and none during one
            began = time.perf_counter()
            run = rescore(ls, update, reviews=reviews, tasks=ls.tasks(), **given)
            timed[name] = (time.perf_counter() - began, run)
            gc.enable()
        with_memo, without = timed["resident"][1], timed["no memo"][1]
        same = with_memo.predictions == without.predictions and \
            untimed(with_memo.reviews) == untimed(without.reviews)
        if not same:
            raise SystemExit(f"step {step + 1}: the resident run ended otherwise than the run "
                             "without a memo")
        rows.append({name: (seconds, run.summary.seconds) for name, (seconds, run) in timed.items()})
        print(f"step {step + 1}: resident {timed['resident'][0]:.2f} s, no memo "
              f"{timed['no memo'][0]:.2f} s, {with_memo.summary.updated} predictions updated",
              flush=True)
        memo, reviews = with_memo.memo, with_memo.reviews
    refit_line = refit_after(args, resident, options, with_memo, data_dir, rng) \
        if args.refit_edits else None
    if args.data_dir is None:
        shutil.rmtree(data_dir, ignore_errors=True)

    lines = [f"# bench/update.py, {time.strftime('%Y-%m-%d')}: one update in memory, {args.tasks:,} tasks", "",
             f"{platform.node()} ({platform.machine()}), Python {platform.python_version()}; "
             f"{source}, {first.summary.tokens:,} tokens, the stored fit of {model} "
             f"({args.folds} folds); {first_line}. One edited task per step, {args.steps} steps. "
             "Median seconds of a run's phases (`RunSummary.seconds`); both runs end alike at "
             "every step (checked).", "",
             "| run | total | " + " | ".join(PHASES) + " |", "|---" * (len(PHASES) + 2) + "|"]
    for name in ("resident", "no memo"):
        total = statistics.median(row[name][0] for row in rows)
        phases = [statistics.median(row[name][1].get(p, 0.0) for row in rows) for p in PHASES]
        lines.append(f"| {name} | {total:.2f} | " + " | ".join(f"{s:.2f}" for s in phases) + " |")
    if refit_line:
        lines += ["", refit_line]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
