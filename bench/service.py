"""The backend on a 10,000-task project in a real Label Studio, side by side with Label Studio's
own I/O on the same project.

Label Studio's I/O: a snapshot export of every task with annotations and predictions (what a
run reads), a bulk import of one prediction per task and the deletion of those predictions
(its model-versions endpoint). Ours: a first scoring through the webhook path (pull, score,
fit the quick CRF, write), a full rescoring with the default model, the background refit, and
an update after 1% of the annotations changed. Goals: our work outside the model fit and Label
Studio's I/O at most that I/O; a first scoring within 2 minutes; the 1% update within 30 s.

Tasks are WNUT-17 sentences (train, dev, test of ../shared/data/wnut17, cycled) with 5% of the
entities given a wrong type, or generated sentences when that folder is absent.

Usage: python bench/service.py [--tasks 10000] [--ls-url URL --ls-token TOKEN]
(without a URL it starts a Label Studio of its own with scripts/labelstudio.sh: a free port, its
PID file, log and data directory in a temporary folder; never the demo's server).
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect
from tokenlq_backend.runs import MODEL_VERSION, RunOptions, refit, rescore
from tokenlq.io import read_corpus
from tokenlq.scheme import OUTSIDE, entity_type, make_tag, split_tag
from tokenlq.synthetic import make_ner_corpus

ROOT = Path(__file__).resolve().parents[1]
WNUT = ROOT.parent / "shared" / "data" / "wnut17"


def corpus(n: int, seed: int = 0):
    """A corpus of ``n`` sentences with integer labels, as backend.demo.corpus_tasks takes."""
    files = [WNUT / f"{s}.conll" for s in ("train", "dev", "test")]
    if not all(f.exists() for f in files):
        return make_ner_corpus(n, error_rate=0.05, seed=seed), "generated"
    parts = [read_corpus(f) for f in files]
    pairs = list(itertools.islice(itertools.cycle(
        [(w, t) for c in parts for w, t in zip(c.tokens, c.labels)]), n))
    names = [OUTSIDE] + sorted({t for _, tags in pairs for t in tags} - {OUTSIDE})
    types = sorted({entity_type(n) for n in names if n != OUTSIDE})
    rng = np.random.default_rng(seed)
    labels = []
    for _, tags in pairs:
        row = [names.index(t) for t in tags]
        for j, tag in enumerate(tags):  # 5% of entities: another type
            if split_tag(tag)[0] == "B" and rng.random() < 0.05:
                other = rng.choice([t for t in types if t != entity_type(tag)])
                k = j
                while k < len(tags) and (k == j or split_tag(tags[k])[0] == "I"):
                    row[k] = names.index(make_tag("B" if k == j else "I", other))
                    k += 1
        labels.append(row)
    return SimpleNamespace(tokens=[list(w) for w, _ in pairs], labels=labels,
                           class_names=names), "WNUT-17"


class Rows(list):
    """(name, seconds) rows, each printed as it comes (a long run shows its progress)."""

    def append(self, row):
        print(f"{row[0]:<58}  {row[1]:8.1f} s", flush=True)
        super().append(row)

    def __iadd__(self, rows):
        for row in rows:
            self.append(row)
        return self


def timed(call):
    start = time.perf_counter()
    value = call()
    return value, time.perf_counter() - start


# Label Studio 1.23.2's own flag, off by default: without it each predictions import recounts
# every task of the project (4 min per 5,000 predictions at 100,000 tasks on PostgreSQL); with it
# only the imported tasks. docs/deployment.md advises it for big projects.
BIG_PROJECT_FLAGS = {"fflag_fix_back_4620_memory_efficient_predictions_import_08012025_short": "true"}


def label_studio(args, *, database_url: str = ""):
    """A Label Studio for the bench: ``args.ls_url`` when given, else one of its own (URL,
    token, stop). ``database_url``: its database is this PostgreSQL one (Label Studio's
    ``DJANGO_DB=default`` with ``POSTGRE_*``, and :data:`BIG_PROJECT_FLAGS`), not SQLite."""
    if args.ls_url:
        return args.ls_url, args.ls_token, None
    # Like the tests' server: the installed environment and migrated template in LS_HOME are
    # shared, the PID file, log and data directory are this run's (LS_STATE), and stop stops
    # only this server.
    script = ROOT / "scripts" / "labelstudio.sh"
    port = str(free_port())
    env = dict(os.environ, LS_STATE=tempfile.mkdtemp(prefix="tokenlq-bench-labelstudio-"))
    if database_url:
        from sqlalchemy import make_url

        url = make_url(database_url)
        env.update(DJANGO_DB="default", POSTGRE_NAME=url.database, POSTGRE_USER=url.username or "",
                   POSTGRE_PASSWORD=url.password or "", POSTGRE_HOST=url.host or "127.0.0.1",
                   POSTGRE_PORT=str(url.port or 5432), **BIG_PROJECT_FLAGS)
    out = subprocess.run([str(script), "start", port], check=True, capture_output=True, text=True,
                         env=env)
    exports = dict(pair.split("=", 1) for pair in shlex.split(out.stdout)[1:])
    return (exports["LS_URL"], exports["LS_TOKEN"],
            lambda: subprocess.run([str(script), "stop", port], env=env))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_backend(ls_url: str, ls_token: str, data_dir, **env):
    """`tokenlq serve` on a free loopback port, its state (and ``backend.log``) in ``data_dir``,
    with ``env``'s variables: ``(base URL, process)`` once /health answers."""
    port = free_port()
    env = dict(os.environ, LABEL_STUDIO_URL=ls_url, LABEL_STUDIO_API_KEY=ls_token,
               TOKENLQ_DATA_DIR=str(data_dir), **env)
    log = Path(data_dir) / "backend.log"
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([sys.executable, "-m", "tokenlq.cli", "serve", "--host",
                                    "127.0.0.1", "--port", str(port)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(base + "/health", timeout=1):
                return base, process
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the backend exited: {log.read_text()[-3000:]}") from None
            time.sleep(0.5)
    raise SystemExit("the backend did not answer /health within 60 s")


def new_database(server_url: str, name: str) -> str:
    """A new database ``name`` on the PostgreSQL server ``server_url`` (no database part): its URL."""
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"


def jobs(base: str, project: int, *, auth=None) -> list:
    """The project's latest jobs on the backend at ``base``, newest first."""
    import requests

    return requests.get(f"{base}/projects/{project}/jobs", auth=auth, timeout=30).json()["jobs"]


def wait_idle(base: str, project: int, timeout: float = 600, *, auth=None) -> list:
    """The project's jobs once every one has ended (a follow-up is queued before its job
    ends); SystemExit after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(1.0)
        found = jobs(base, project, auth=auth)
        if found and all(j["status"] in ("done", "failed") for j in found):
            return found
    raise SystemExit(f"project {project}'s jobs did not end within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--ls-url", default=os.environ.get("LS_URL"))
    parser.add_argument("--ls-token", default=os.environ.get("LS_TOKEN"))
    args = parser.parse_args()
    url, token, stop = label_studio(args)
    client = connect(url, token, timeout=600)
    rows = Rows()
    try:
        data, source = corpus(args.tasks)
        tokens = sum(len(w) for w in data.tokens)
        project = client.projects.create(title=f"tokenlq bench {args.tasks}",
                                         label_config=label_config(data))
        _, seconds = timed(lambda: client.projects.import_tasks(id=project.id, request=corpus_tasks(data)))
        print(f"{args.tasks} tasks ({source}, {tokens} tokens) imported in {seconds:.1f} s")
        ls = LabelStudioProject(client, project.id)

        # Label Studio's own I/O on this project.
        tasks, export = timed(ls.tasks)
        fake = {t["id"]: {"model_version": "bench-io", "score": 0.5,
                          "result": t["annotations"][0]["result"]} for t in tasks}
        _, imported = timed(lambda: ls.create_predictions(fake))
        _, deleted = timed(lambda: ls.delete_model_version("bench-io"))
        io = export + imported + deleted
        rows += [("Label Studio: snapshot export (a run's read)", export),
                 ("Label Studio: import one prediction per task", imported),
                 ("Label Studio: delete them (model-versions endpoint)", deleted),
                 ("Label Studio I/O, total", io)]

        with tempfile.TemporaryDirectory() as state:
            options = RunOptions(probs="auto", mode="update", data_dir=Path(state))
            # 1. First scoring, as registering the backend or the first annotation starts it.
            first, total = timed(lambda: rescore(ls, options).summary)
            s = first.seconds
            ours = s["read"] + s["score"]  # the diff against existing predictions is in "write"
            rows += [("first scoring: pull (Label Studio's export)", s["pull"]),
                     ("first scoring: read tasks, spans to tags", s["read"]),
                     ("first scoring: fit (CRF, 5 folds + all)", s["fit"]),
                     ("first scoring: score, explain", s["score"]),
                     ("first scoring: write (diff, import, view)", s["write"]),
                     ("first scoring, total (goal 120 s)", total)]
            # 2. The background refit with the encoder, and the update that writes it back.
            fitted, total = timed(lambda: refit(ls, options))
            rows.append((f"background refit ({fitted.model})", total))
            after, total = timed(lambda: rescore(ls, options).summary)
            rows.append((f"update after the refit ({after.removed} replaced in bulk, "
                         f"{after.updated} in place)", total))
            # 3. 1% of the annotations change in Label Studio.
            changed = [t for t in ls.tasks() if t["annotations"]][:max(1, args.tasks // 100)]
            for t in changed:
                client.annotations.update(id=t["annotations"][0]["id"], result=[])
            update, total = timed(lambda: rescore(ls, options).summary)
            s = update.seconds
            rows += [("1% update: pull", s["pull"]),
                     ("1% update: read, reuse the fit, score", s["read"] + s["fit"] + s["score"]),
                     (f"1% update: write ({update.updated} updated in place)", s["write"]),
                     ("1% update, total (goal 30 s)", total)]
            # 4. The full rescoring (Start Training) with the default model.
            full, total = timed(lambda: rescore(ls, replace(options, mode="rescore")).summary)
            rows.append((f"full rescoring ({full.fit['model']}, fit {full.seconds['fit']:.0f} s)", total))
        ratio = ours / io
        print(f"\nproject: {args.tasks} tasks, {tokens} tokens; {first.flagged} flagged at first scoring")
        print(f"\nour work outside the fit and Label Studio's I/O, first scoring: {ours:.1f} s = "
              f"{ratio:.2f} x Label Studio's I/O (goal <= 1)")
        assert all(len([p for p in t["predictions"] if p["model_version"] == MODEL_VERSION]) == 1
                   for t in ls.tasks())
        client.projects.delete(id=project.id)
    finally:
        close(client)
        if stop:
            stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
