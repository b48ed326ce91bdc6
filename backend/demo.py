"""The main job's demo: a Label Studio project from generated NER data with injected label
errors, registered with a running backend, scored, and the URL of its ``Label issues`` tab.

    python -m tokenlq_backend.demo --ls-url URL --ls-token TOKEN --backend-url URL [--tasks 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections import Counter

import numpy as np

from tokenlq.labelstudio_format import entity_regions, task_tokens
from tokenlq.scheme import OUTSIDE, entity_type
from tokenlq.synthetic import make_ner_corpus

from .labelstudio import close, connect, create_project
from .labelstudio.config import CONFIRM_XML
from .scoring import entities_by_sentence


def corpus_tasks(corpus):
    """Label Studio tasks (import format: ``data.text``, ``data.tokens``, one annotation) of a
    :func:`tokenlq.synthetic.make_ner_corpus` corpus, one per sentence."""
    lengths = [len(words) for words in corpus.tokens]
    entities = entities_by_sentence(np.concatenate([np.asarray(t, dtype=np.int64) for t in corpus.labels]),
                                    np.concatenate(([0], np.cumsum(lengths))), corpus.class_names)
    tasks = []
    for i, words in enumerate(corpus.tokens):
        data = {"text": " ".join(words), "tokens": list(words)}
        text, tokens = task_tokens(data, "text")
        result = entity_regions(text, tokens, entities.get(i, []), from_name="label",
                                to_name="text")
        tasks.append({"data": data, "annotations": [{"result": result}]})
    return tasks


def label_config(corpus) -> str:
    """An NER labeling config listing the corpus's entity types."""
    labels = sorted({entity_type(c) for c in corpus.class_names if c != OUTSIDE})
    return ('<View><Labels name="label" toName="text">'
            + "".join(f'<Label value="{t}"/>' for t in labels)
            + '</Labels><Text name="text" value="$text"/>'
            + CONFIRM_XML.format(to_name="text") + '</View>')


def tab_figures(listed, injected) -> str:
    """The tab's precision and recall against the injected errors, in words a reader can check.

    >>> print(tab_figures([1, 2, 3, 4], {2, 3, 9}))  # doctest: +NORMALIZE_WHITESPACE
    The Label issues tab lists 4 tasks; 2 of them have an injected error (precision 2/4 = 50%);
    2 of the 3 tasks with an injected error are in the tab (recall 67%).
    """
    shown, hits = len(set(listed)), len(set(listed) & set(injected))
    precision = f"{hits}/{shown} = {hits / shown:.0%}" if shown else "undefined: the tab is empty"
    recall = f"{hits / len(injected):.0%}" if injected else "undefined: nothing was injected"
    return (f"The Label issues tab lists {shown} tasks; {hits} of them have an injected error "
            f"(precision {precision}); {hits} of the {len(injected)} tasks with an injected error "
            f"are in the tab (recall {recall}).")


def _backend_json(url: str, *, method: str = "GET") -> dict:
    """The JSON answer of the tokenlq backend at ``url`` (the demo's own calls to the backend;
    Label Studio is reached only through :mod:`backend.labelstudio`)."""
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as answer:
        return json.load(answer)


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
        project = create_project(client, "tokenlq demo: NER with label errors", config)
        ids = project.import_tasks(tasks)
        project.add_ml_backend(args.backend_url)
        answer = _backend_json(f"{args.backend_url}/projects/{project.id}/rescore", method="POST")
        status_url = args.backend_url + answer["status_url"]
        print(f"scoring project {project.id} ({len(ids)} tasks) ...", file=sys.stderr)
        while (job := _backend_json(status_url))["status"] in ("queued", "running"):
            time.sleep(1)
        if job["status"] != "done":
            print(f"the scoring job failed: {job['reason']}", file=sys.stderr)
            return 1
        view = project.issues_view()
        if view is None:  # without it, the tab's task list would be every task of the project
            raise RuntimeError(f"the scoring job is done but project {project.id} has no "
                               "'Label issues' tab; the backend did not write it")
        listed = project.view_task_ids(view)  # the tasks the tab shows, in its order
        kinds = Counter(kind for _, kind in corpus.errors)
        print(f"{len(ids)} tasks imported, {len(wrong)} of them with injected label errors "
              f"({len(corpus.errors)} entities: "
              + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in kinds.most_common())
              + f"); {job['summary']['scored']} scored.")
        print(tab_figures(listed, {ids[i] for i in wrong}))
        print(f"Label issues tab: {args.ls_url}/projects/{project.id}/data?tab={view}")
        print(f"Dashboard: {args.backend_url}/projects/{project.id}/dashboard")
        return 0
    finally:
        close(client)


if __name__ == "__main__":
    sys.exit(main())
