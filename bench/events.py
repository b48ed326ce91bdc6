"""Updates from Label Studio's events on a big project, measured as an annotator sees them.

A real Label Studio 1.23.2 and the backend's own server (`tokenlq serve`, the embedded queue;
with --postgres, Label Studio's database and the backend's state in PostgreSQL); the backend is
added to the project as a person adds it, so Label Studio's own webhook carries every event.
Measured:

1. first scoring: from adding the backend to every annotated task holding a tokenlq prediction;
2. latency: from Label Studio's answer to saving an annotation to the task's updated tokenlq
   prediction being readable through Label Studio's API (goal <= 3 s), several times;
3. a burst of edits within a minute (default 1,000): when the last update is readable, and that
   every final prediction is right (a reconciliation, a full read, then changes nothing, and
   each annotated task holds exactly one tokenlq prediction); when the burst asks for a refit
   whose new scores are written a run at a time, how fast, and how soon an edit saved meanwhile
   is readable;
4. the peak memory of the backend's processes (the web process and its run processes), shared
   pages counted once (Pss).

Usage: python bench/events.py [--tasks 10000] [--edits 1000] [--postgres SERVER_URL] [--probs crf]
       [--absorb-seconds 3600] [--writes-per-run N] [--ls-url URL --ls-token TOKEN]
       [--out bench/results/events.md]
(without a URL it starts a Label Studio of its own as bench/service.py does).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from service import corpus, jobs, label_studio, new_database, start_backend, wait_idle
from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect
from tokenlq_backend.runs import MODEL_VERSION


def failed_runs(listed) -> list:
    """(id, kind, reason) of the failed jobs among ``listed``."""
    return [(j["id"], j["kind"], j["reason"]) for j in listed if j["status"] == "failed"]


def tree_memory(pid: int) -> int:
    """Proportional memory (Pss) of process ``pid`` and its descendants, in bytes: a page that
    forked processes share (the fold processes of a fit share the run's whole project) counts
    once, split between them, where summing their resident sets counts it in each."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += int(rollup.split("\nPss:")[1].split()[0]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):  # gone meanwhile, or a kernel thread
            pass
    return total


class PeakMemory:
    """Polls the memory of a process tree (:func:`tree_memory`) every 0.2 s; ``peak`` in bytes,
    and the peak of each phase, ended by :meth:`lap`."""

    def __init__(self, pid: int):
        self.pid, self.peak, self.phase_peak, self._stop = pid, 0, 0, threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self):
        while not self._stop.wait(0.2):
            now = tree_memory(self.pid)
            self.peak, self.phase_peak = max(self.peak, now), max(self.phase_peak, now)

    def lap(self) -> str:
        """The peak since the last lap, in GB, as text (a new phase begins)."""
        peak, self.phase_peak = self.phase_peak, 0
        return f"{peak / 2**30:.2f} GB"

    def stop(self) -> int:
        self._stop.set()
        return self.peak


def paced_writes(listed, latencies) -> str:
    """A line on the updates from the refit's on: the refit's own, which writes its changes up
    to TOKENLQ_WRITES_PER_RUN, and the runs after it that wrote the rest (``pending writes``,
    or an edit's update that the running one gave way to); and the latency of the edits saved
    meanwhile."""
    updates = sorted((j for j in listed if j["kind"] == "update" and j["status"] == "done"),
                     key=lambda j: j["id"])
    start = next((n for n, j in enumerate(updates) if j["trigger"] == "refit"), None)
    if start is None:
        return "- no update after a refit listed"
    first, later = updates[start], updates[start + 1:]
    updated = sum(j["summary"]["updated"] for j in later)
    writing = sum(j["summary"]["seconds"].get("write", 0) for j in later)
    return (f"- the refit's update: {first['summary']['updated']} updated, "
            f"{first['summary']['pending']} left pending; {len(later)} runs after it "
            f"({sum(j['trigger'] == 'pending writes' for j in later)} of pending writes) updated "
            f"{updated} predictions in {writing:.0f} s of writing "
            f"({updated / writing if writing else 0:.1f} a second); an edit saved meanwhile "
            f"readable after {', '.join(f'{s:.1f}' for s in latencies) or '-'} s")


def ours(client, task_id: int) -> list:
    """The score and result of each tokenlq prediction of the task (not the whole record: its
    ``created_ago`` text changes as time passes)."""
    found = client.request("GET", "api/predictions/", params={"task": task_id}).json()
    return [(p.get("score"), p.get("result")) for p in found if p.get("model_version") == MODEL_VERSION]


def emptied_and_read(client, task: dict, limit: float) -> tuple:
    """Empty ``task``'s annotation in Label Studio: ``(seconds from Label Studio's answer until
    the task's tokenlq prediction, changed, is readable, wall-clock time of the answer)``."""
    before = ours(client, task["id"])
    client.annotations.update(id=task["annotations"][0]["id"], result=[])
    saved, saved_at = time.perf_counter(), time.time()
    while (now := ours(client, task["id"])) == before or not now:
        if time.perf_counter() - saved > limit:
            raise SystemExit(f"task {task['id']}'s prediction did not change in {limit:.0f} s")
        time.sleep(0.1)
    return time.perf_counter() - saved, saved_at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument("--postgres", default="", metavar="SERVER_URL",
                        help="a PostgreSQL server (postgresql://user@host:port, no database) for "
                             "Label Studio's database and the backend's state (DATABASE_URL)")
    parser.add_argument("--probs", default="auto",
                        help="the backend's TOKENLQ_PROBS (crf: the light model only, no refit "
                             "with the encoder after the first scoring)")
    parser.add_argument("--absorb-seconds", type=float, default=3600,
                        help="how long the burst (and a refit it causes) may take to be absorbed")
    parser.add_argument("--writes-per-run", type=int, default=None,
                        help="the backend's TOKENLQ_WRITES_PER_RUN (default: its own)")
    parser.add_argument("--ls-url", default=os.environ.get("LS_URL"))
    parser.add_argument("--ls-token", default=os.environ.get("LS_TOKEN"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    state_url = ""
    if args.postgres:
        ls_database = new_database(args.postgres, "tokenlq_bench_labelstudio")
        state_url = new_database(args.postgres, "tokenlq_bench_state")
    url, token, stop = label_studio(args, database_url=ls_database if args.postgres else "")
    client = connect(url, token, timeout=600)
    lines = [f"# bench/events.py, {time.strftime('%Y-%m-%d')}, Label Studio 1.23.2, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}", ""]

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    with tempfile.TemporaryDirectory() as state:
        env = {"TOKENLQ_PROBS": args.probs, "THREADS": "8"}
        if args.writes_per_run:
            env["TOKENLQ_WRITES_PER_RUN"] = str(args.writes_per_run)
        if state_url:
            env["DATABASE_URL"] = state_url
        base, backend = start_backend(url, token, Path(state) / "backend", **env)
        memory = PeakMemory(backend.pid)
        try:
            data, source = corpus(args.tasks)
            project = client.projects.create(title=f"tokenlq events {args.tasks}",
                                             label_config=label_config(data))
            started = time.perf_counter()
            client.projects.import_tasks(id=project.id, request=corpus_tasks(data))
            say(f"- {args.tasks} tasks ({source}) imported in {time.perf_counter() - started:.0f} s; "
                f"Label Studio's database and the backend's state: "
                f"{'PostgreSQL' if args.postgres else 'SQLite'}; TOKENLQ_PROBS={args.probs}")
            ls = LabelStudioProject(client, project.id)

            # 1. First scoring, from adding the backend.
            started = time.perf_counter()
            client.ml.create(project=project.id, url=base, title="tokenlq")
            while not (listed := jobs(base, project.id)) or \
                    not any(j["status"] == "done" and j["kind"] == "update" for j in listed):
                if any(j["status"] == "failed" for j in listed):
                    raise SystemExit(f"a run failed: {listed}")
                time.sleep(1)
            first = next(j for j in reversed(listed) if j["status"] == "done")
            say(f"- first scoring: {time.perf_counter() - started:.0f} s "
                f"(model {first['summary']['fit'].get('model')}; phases {first['summary']['seconds']}); "
                f"peak memory {memory.lap()}")
            listed = wait_idle(base, project.id, 7200)  # the refit that may follow, and its update
            latest = next((j for j in listed if j["kind"] == "update" and j["status"] == "done"), None)
            failed = failed_runs(listed)
            say(f"- after the background refit: model "
                f"{latest and latest['summary']['fit'].get('model')}; peak memory {memory.lap()}"
                + (f"; FAILED runs: {failed}" if failed else ""))

            # 2. Latency of one saved annotation.
            # Tasks with entities: emptying their annotation changes their prediction.
            tasks = [t for t in ls.tasks() if t["annotations"] and t["annotations"][0]["result"]]
            latencies, written = [], []
            for task in tasks[:args.latency_runs]:
                asked_at = time.time()
                latency, saved_at = emptied_and_read(client, task, 600)
                latencies.append(latency)
                wait_idle(base, project.id, 600)
                # When the backend's update had written it (its job's end), on the same clock;
                # its job is made before Label Studio answers (the webhook is sent first).
                run = next(j for j in jobs(base, project.id) if j["created"] >= asked_at)
                written.append(run["finished"] - saved_at)
            read = jobs(base, project.id)[0]["summary"]
            say(f"- saved annotation to updated prediction readable: "
                f"{', '.join(f'{s:.1f}' for s in latencies)} s (goal <= 3 s); the backend's update "
                f"had ended after {', '.join(f'{s:.1f}' for s in written)} s; the last run read "
                f"{read['read']}, phases {read['seconds']}; peak memory {memory.lap()}")

            # 3. A burst of edits within a minute, from 10 annotators at once.
            burst = tasks[args.latency_runs:args.latency_runs + args.edits]
            pace = 60.0 / max(1, len(burst))
            started = time.perf_counter()

            def annotate(number_task):
                number, task = number_task
                time.sleep(max(0.0, started + number * pace - time.perf_counter()))
                client.annotations.update(id=task["annotations"][0]["id"], result=[])

            with ThreadPoolExecutor(10) as pool:
                list(pool.map(annotate, enumerate(burst)))
            sent = time.perf_counter() - started
            spare = iter(tasks[args.latency_runs + args.edits:])
            paced_latencies, listed = [], None
            while time.perf_counter() - started < args.absorb_seconds:
                found = jobs(base, project.id)
                if found and all(j["status"] in ("done", "failed") for j in found):
                    listed = found
                    break
                # While a refit's new scores are written a run at a time (TOKENLQ_WRITES_PER_RUN),
                # an edit still reaches Label Studio between two runs.
                if len(paced_latencies) < 3 and any(j["trigger"] == "pending writes" and
                                                    j["status"] == "running" for j in found):
                    paced_latencies.append(emptied_and_read(client, next(spare), 1800)[0])
                    time.sleep(60)
                time.sleep(2)
            absorbed = time.perf_counter() - started
            found = jobs(base, project.id)
            runs = [j for j in found if j["trigger"] == "ANNOTATION_UPDATED"]
            say(f"- burst: {len(burst)} edits sent in {sent:.0f} s, "
                + (f"all absorbed after {absorbed:.0f} s" if listed else
                   f"NOT absorbed within {args.absorb_seconds:.0f} s")
                + f", in {len(runs)} runs; peak memory {memory.lap()}")
            say(paced_writes(found, paced_latencies))
            failed = failed_runs(found)
            if failed:
                say(f"- FAILED runs: {failed}")
            right = listed is not None  # else the burst's final check is not reached
            if right:
                # Every final prediction right: a reconciliation changes nothing.
                job_id = requests.post(f"{base}/webhook", timeout=30, json={
                    "action": "ANNOTATION_UPDATED", "project": {"id": project.id}}).json()["job"]
                wait_idle(base, project.id, 3600)
                check = requests.get(f"{base}/jobs/{job_id}", timeout=30).json()
                if check["status"] != "done":
                    raise SystemExit(f"the reconciliation failed: {check['reason']}")
                check = check["summary"]
                one_each = all(len([p for p in t["predictions"] if p["model_version"] == MODEL_VERSION])
                               == (1 if t["annotations"] else 0) for t in ls.tasks())
                right = (check["written"], check["updated"], check["removed"]) == (0, 0, 0) and one_each
                say(f"- after the burst, a reconciliation ({check['read']['how']} read) wrote "
                    f"{check['written']}, updated {check['updated']}, removed {check['removed']}; one "
                    f"prediction per annotated task: {one_each} -> {'right' if right else 'WRONG'}; "
                    f"peak memory {memory.lap()}")
            say(f"- peak memory of the backend (web process and its run processes, shared pages once): "
                f"{memory.stop() / 2**30:.2f} GB")
            client.projects.delete(id=project.id)
        except BaseException:
            log = Path(state) / "backend" / "backend.log"
            if log.exists():
                print(f"backend log, last lines:\n{log.read_text()[-6000:]}", flush=True)
            raise
        finally:
            backend.terminate()
            backend.wait(timeout=60)
            close(client)
            if stop:
                stop()
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0 if right else 1


if __name__ == "__main__":
    raise SystemExit(main())
