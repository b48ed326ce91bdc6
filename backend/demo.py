"""The main job's demo: a Label Studio project from generated NER data with injected label
errors, registered with a running backend, scored, and the URL of its ``Label issues`` tab.

    python -m backend.demo --ls-url URL --ls-token TOKEN --backend-url URL [--tasks 300]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import requests

from tokenlq.synthetic import make_ner_corpus

from .labelstudio import ISSUES_VIEW_TITLE, close, connect
from .scoring import entities_by_sentence


def corpus_tasks(corpus):
    """Label Studio tasks (import format: ``data.text``, ``data.tokens``, one annotation) of a
    :func:`tokenlq.synthetic.make_ner_corpus` corpus, one per sentence."""
    lengths = [len(words) for words in corpus.tokens]
    entities = entities_by_sentence(np.concatenate([np.asarray(t, dtype=np.int64) for t in corpus.labels]),
                                    np.concatenate(([0], np.cumsum(lengths))), corpus.class_names)
    tasks = []
    for i, words in enumerate(corpus.tokens):
        text, starts, position = " ".join(words), [], 0
        for word in words:
            starts.append(position)
            position += len(word) + 1
        result = [{"from_name": "label", "to_name": "text", "type": "labels",
                   "value": {"start": starts[s], "end": starts[e - 1] + len(words[e - 1]),
                             "text": " ".join(words[s:e]), "labels": [kind]}}
                  for s, e, kind in entities.get(i, [])]
        tasks.append({"data": {"text": text, "tokens": list(words)},
                      "annotations": [{"result": result}]})
    return tasks


def label_config(corpus) -> str:
    """An NER labeling config listing the corpus's entity types."""
    labels = sorted({c[2:] for c in corpus.class_names if c != "O"})
    return ('<View><Labels name="label" toName="text">'
            + "".join(f'<Label value="{t}"/>' for t in labels)
            + '</Labels><Text name="text" value="$text"/></View>')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ls-url", required=True)
    parser.add_argument("--ls-token", required=True)
    parser.add_argument("--backend-url", required=True)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    corpus = make_ner_corpus(args.tasks, error_rate=0.06, seed=args.seed)
    tasks, config = corpus_tasks(corpus), label_config(corpus)
    wrong = {i for i, _ in corpus.error_tokens}
    client = connect(args.ls_url, args.ls_token)
    try:
        project = client.projects.create(title="tokenlq demo: NER with label errors",
                                         label_config=config)
        ids = list(client.projects.import_tasks(id=project.id, return_task_ids=True,
                                                request=tasks).task_ids)
        client.ml.create(project=project.id, url=args.backend_url, title="tokenlq")
        answer = requests.post(f"{args.backend_url}/projects/{project.id}/rescore", timeout=10)
        answer.raise_for_status()
        status_url = args.backend_url + answer.json()["status_url"]
        print(f"scoring project {project.id} ({len(ids)} tasks) ...", file=sys.stderr)
        while (job := requests.get(status_url, timeout=10).json())["status"] in ("queued", "running"):
            time.sleep(1)
        if job["status"] != "done":
            print(f"the scoring job failed: {job['reason']}", file=sys.stderr)
            return 1
        views = client.views.list(project=project.id)
        view = next(v for v in views if (v.data or {}).get("title") == ISSUES_VIEW_TITLE)
        listed = [t.id for t in client.tasks.list(project=project.id, view=view.id, fields="task_only")]
        injected = {ids[i] for i in wrong}
        k = len(injected)
        summary = job["summary"]
        print(f"{summary['scored']} tasks scored, {summary['flagged']} flagged; "
              f"{len(set(listed[:k]) & injected)} of the {k} tasks with an injected error are "
              f"among the first {k} of the tab.")
        print(f"Label issues tab: {args.ls_url}/projects/{project.id}/data?tab={view.id}")
        print(f"Dashboard: {args.backend_url}/projects/{project.id}/dashboard")
        return 0
    finally:
        close(client)


if __name__ == "__main__":
    sys.exit(main())
