"""From adding the backend to a project to its first and its strong predictions, in a real Label
Studio with the backend's own server (``tokenlq serve``, embedded defaults: SQLite, in-process
jobs).

The clock starts when the ML backend is added to a project of ``--tasks`` annotated tasks (Label
Studio then calls ``/setup``, which queues the project's first scoring). The first predictions are
the quick CRF's (goal: within 1 minute); a background refit with the default model
(``crf+encoder`` when the ``encoder`` extra is installed) follows, and the update after it writes
the strong model's predictions (goal: within 10 minutes). The times are read from the backend's
job records (``GET /projects/<id>/jobs``, polled every second); at the end every annotated task
must hold exactly one tokenlq prediction in Label Studio.

Tasks are WNUT-17 sentences with 5% of the entities given a wrong type, as in bench/service.py.

Usage: python bench/first_scores.py [--tasks 2000] [--out FILE]
(it starts a Label Studio of its own as bench/service.py does, and the backend on a free port
with its state in a temporary folder).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path

from service import corpus, label_studio, start_backend

from tokenlq.model import resolve_model
from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import close, connect, create_project
from tokenlq_backend.runs import MODEL_VERSION

RESULTS = Path(__file__).resolve().parent / "results" / "first_scores.md"
FIRST_GOAL, STRONG_GOAL = 60, 600


def backend_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def wait_for_jobs(url: str, project: int, strong: str, started: float, limit: float):
    """Seconds from ``started`` to the first finished update and to the finished update written
    from a ``strong`` fit, and the job records."""
    first = last = None
    while time.time() - started < limit:
        jobs = backend_json(f"{url}/projects/{project}/jobs")["jobs"]
        failed = [j for j in jobs if j["status"] == "failed"]
        if failed:
            raise RuntimeError(f"a job failed: {failed[0]['reason']}")
        done = sorted((j for j in jobs if j["status"] == "done" and j["kind"] == "update"),
                      key=lambda j: j["finished"])
        if done and first is None:
            first = done[0]
        last = next((j for j in done if (j["summary"].get("fit") or {}).get("model") == strong), None)
        if last is not None:
            return first, last, jobs
        time.sleep(1)
    raise RuntimeError(f"no update from a {strong} fit within {limit:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (Markdown)")
    args = parser.parse_args()
    strong = resolve_model("auto")
    url, token, stop = label_studio(argparse.Namespace(ls_url=None, ls_token=None))
    client = connect(url, token, timeout=600)
    try:
        with tempfile.TemporaryDirectory(prefix="tokenlq-bench-backend-") as state:
            backend, process = start_backend(url, token, state)
            try:
                data, source = corpus(args.tasks)
                project = create_project(client, f"tokenlq first scores {args.tasks}",
                                         label_config(data))
                ids = project.import_tasks(corpus_tasks(data))
                started = time.time()
                project.add_ml_backend(backend)
                first, last, jobs = wait_for_jobs(backend, project.id, strong, started,
                                                  limit=3 * STRONG_GOAL)
            finally:
                process.terminate()
                process.wait(30)
        refit = next(j for j in jobs if j["kind"] == "refit" and j["status"] == "done")
        tasks = project.tasks()
        ours = [sum(p["model_version"] == MODEL_VERSION for p in t["predictions"]) for t in tasks]
        assert len(tasks) == len(ids) and all(n == 1 for n in ours), \
            "every annotated task must hold exactly one tokenlq prediction"
        rows = [
            ("first predictions (" + first["summary"]["fit"]["model"] + ")",
             first["finished"] - started, FIRST_GOAL),
            (f"refit ({refit['summary']['model']}) started", refit["started"] - started, None),
            (f"strong predictions ({strong})", last["finished"] - started, STRONG_GOAL),
        ]
        lines = [f"# bench/first_scores.py, {datetime.date.today()}, Label Studio 1.23.2 "
                 f"(SQLite), {os.cpu_count()} cores", "",
                 f"{len(ids)} annotated tasks ({source}); the clock starts when the ML backend is "
                 f"added (Label Studio calls /setup).", "",
                 "| from adding the backend to | seconds | goal |", "|---|---|---|"]
        lines += [f"| {name} | {seconds:.0f} | {'' if goal is None else f'<= {goal}'} |"
                  for name, seconds, goal in rows]
        lines += ["", f"Why the first model: {first['summary']['fit']['why']}.", "",
                  f"Why the strong model: {refit['summary']['why']}."]
        text = "\n".join(lines) + "\n"
        print(text)
        args.out.write_text(text)
        client.projects.delete(id=project.id)
        return 0 if all(goal is None or s <= goal for _, s, goal in rows) else 1
    finally:
        close(client)
        if stop:
            stop()


if __name__ == "__main__":
    raise SystemExit(main())
