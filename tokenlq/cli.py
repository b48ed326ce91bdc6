"""The ``tokenlq`` command line.

``tokenlq audit FILE`` audits a labelled corpus and writes a report folder; ``tokenlq demo`` runs
the whole core on generated NER data with known label errors and prints what it finds.
Exit status: 0 on success, 2 on bad input: a :class:`tokenlq.TokenLQInputError` (the message
names the file and line, or the option to change) or a report folder that cannot be written. Any
other exception is a bug of tokenlq and ends with its traceback (status 1).
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .audit import AUDIT_BUDGET_SECONDS
from .model import MODELS


def _demo(args) -> int:
    import numpy as np

    from . import TokenLQInputError, class_summary, display_issues, find_label_issues
    from . import find_span_issues, get_label_quality_scores
    from .synthetic import make_ner_corpus

    try:
        corpus = make_ner_corpus(args.sentences, error_rate=args.error_rate, seed=args.seed)
    except TokenLQInputError as err:
        print(f"tokenlq demo: {_in_option_terms(err, args, _DEMO_OPTIONS)}", file=sys.stderr)
        return 2
    names = corpus.class_names
    sentence_scores, _ = get_label_quality_scores(corpus.labels, corpus.pred_probs)
    issues = find_label_issues(corpus.labels, corpus.pred_probs)
    spans = find_span_issues(corpus.labels, corpus.pred_probs, class_names=names,
                             issues=issues, tokens=corpus.tokens)
    truth = corpus.error_tokens
    found = set(issues)
    hit = len(found & truth)
    bad_sentences = {i for i, _ in truth}
    k = len(bad_sentences)
    top_k = np.argsort(sentence_scores, kind="stable")[:k]
    n_tokens = sum(map(len, corpus.tokens))
    print(f"tokenlq {__version__} demo: {len(corpus.tokens)} generated sentences, {n_tokens} tokens, "
          f"{len(corpus.errors)} injected entity errors ({len(truth)} wrong tokens).\n")
    print(f"find_label_issues flagged {len(issues)} tokens: precision "
          f"{hit / max(len(found), 1):.2f}, recall {hit / max(len(truth), 1):.2f}.")
    print(f"Sentence ranking: {sum(i in bad_sentences for i in top_k.tolist())} of the {k} "
          f"lowest-scoring sentences hold an injected error (precision at k = "
          f"{sum(i in bad_sentences for i in top_k.tolist()) / max(k, 1):.2f}).\n")
    print("Entity-level findings by kind:")
    for kind, count in spans["kind"].value_counts().items():
        print(f"  {kind:<11} {count}")
    print("\nMost suspicious entities:")
    for row in spans.head(args.top).itertuples():
        print(f"  sentence {row.sentence:>4}  {row.kind:<10}  {row.text!r}: given {row.given}, "
              f"suggested {row.suggested} (score {row.score:.3f})")
    print("\nPer-class summary:")
    table = class_summary(corpus.labels, corpus.pred_probs, class_names=names, issues=issues)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("\nTop token issues in context:\n")
    display_issues(issues, corpus.tokens, labels=corpus.labels, pred_probs=corpus.pred_probs,
                   class_names=names, top=3)
    return 0


#: The options of ``tokenlq audit`` and ``tokenlq demo`` by the name of the library parameter
#: each one sets.
_AUDIT_OPTIONS = {"folds": "--folds", "seed": "--seed", "temperature": "--temperature",
                  "model": "--model"}
_DEMO_OPTIONS = {"n_sentences": "--sentences", "error_rate": "--error-rate", "seed": "--seed"}


def _in_option_terms(err, args, options=_AUDIT_OPTIONS) -> str:
    """An input error's message in the command's terms: what to do with the option when a
    parameter that an option sets is to blame ('2 sentences cannot make 5 folds; use --folds 2
    or fewer'), the data file when its sentences are."""
    option = options.get(err.parameter)
    if option and err.reason and err.accepted:
        return f"{err.reason}; use {option} {err.accepted}"
    if err.parameter == "sentences" and err.reason:
        return f"{args.data}: {err.reason}"
    return str(err)


def _audit(args) -> int:
    from ._validation import TokenLQInputError
    from .audit import audit, write_report
    from .io import read_corpus

    try:
        corpus = read_corpus(args.data, format=args.format)
        train = read_corpus(args.train) if args.train else None
        for path, read in ((args.data, corpus), (args.train, train)):
            if read is not None and read.column_note:
                print(f"{path}: {read.column_note}")
        result = audit(corpus, pred_probs_path=args.pred_probs, train=train, folds=args.folds,
                       seed=args.seed, token_score_method=args.token_score,
                       sentence_score_method=args.sentence_score, temperature=args.temperature,
                       score_level=args.score_level, model=args.model,
                       budget_seconds=args.budget_minutes * 60, progress=sys.stderr.isatty())
    except TokenLQInputError as err:
        print(f"tokenlq audit: {_in_option_terms(err, args)}", file=sys.stderr)
        return 2
    try:
        out = write_report(result, args.out)
    except FileExistsError:
        print(f"tokenlq audit: --out {args.out}: exists and is not a folder", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"tokenlq audit: cannot write the report to {err.filename or args.out}: "
              f"{err.strerror or type(err).__name__}", file=sys.stderr)
        return 2
    flagged = len({i for i, _ in result.issues})
    print(f"{len(corpus)} sentences, {corpus.n_tokens} tokens: {len(result.issues)} suspect tokens in "
          f"{flagged} sentences, {len(result.spans)} entity findings. Report: {out / 'report.html'}")
    return 0


def _backend_settings(command: str):
    """The backend's settings from the environment, or None after a message (exit 2)."""
    try:
        import rq  # noqa: F401  (the backend extra brings it, with everything else)

        from tokenlq_backend.settings import Settings

        return Settings.from_env()
    except ImportError:
        print(f"tokenlq {command}: needs the 'backend' extra: pip install 'tokenlq[backend]'",
              file=sys.stderr)
    except ValueError as err:
        print(f"tokenlq {command}: {err}", file=sys.stderr)
    return None


def _serve(args) -> int:
    """Run the Label Studio ML backend under gunicorn: one worker process with threads (runs
    and their state live in SQLite; model fitting runs in processes of its own)."""
    import os

    settings = _backend_settings("serve")
    if settings is None:
        return 2
    port = args.port if args.port is not None else settings.port
    command = [sys.executable, "-m", "gunicorn", "--workers", str(settings.workers),
               "--threads", str(settings.threads), "--bind", f"{args.host}:{port}",
               "--timeout", "0", "--log-level", settings.log_level.lower(),
               "tokenlq_backend:create_app()"]
    os.execv(sys.executable, command)
    return 0  # not reached


def _worker(args) -> int:
    """Run an RQ worker for the backend's jobs (needs REDIS_URL)."""
    settings = _backend_settings("worker")
    if settings is None:
        return 2
    if not settings.redis_url:
        print("tokenlq worker: set REDIS_URL (e.g. redis://127.0.0.1:6379/0); without it the "
              "backend runs jobs itself", file=sys.stderr)
        return 2
    from tokenlq_backend.rq_queue import work

    work(settings, burst=args.burst, name=args.name)
    return 0


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be a number of minutes, 0 or more; got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenlq", description="Find label errors in token "
                                     "classification data (NER, POS, chunking).")
    parser.add_argument("--version", action="version", version=f"tokenlq {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    audit = commands.add_parser("audit", help="audit a labelled corpus and write a report folder")
    audit.add_argument("data", help="CoNLL, JSONL or Label Studio JSON export")
    audit.add_argument("--format", choices=["conll", "jsonl", "labelstudio"],
                       help="default: detected from the file")
    audit.add_argument("--pred-probs", help=".npz with pred_probs (n, K), offsets, class_names "
                                            "(as written by audit); default: the embedded cross-validated model")
    audit.add_argument("--train", help="extra labelled data used for training only")
    audit.add_argument("--model", default="auto", choices=list(MODELS),
                       help="embedded model when --pred-probs is not given; auto: crf+encoder "
                            "when the 'encoder' extra is installed, else crf; crf+transformer "
                            "fine-tunes MiniLM in every fold (slower, within --budget-minutes)")
    audit.add_argument("--budget-minutes", type=_minutes, default=AUDIT_BUDGET_SECONDS / 60,
                       help="time budget of crf+transformer's fine-tuning (default: %(default)g)")
    audit.add_argument("--folds", type=int, default=5)
    audit.add_argument("--seed", type=int, default=0)
    audit.add_argument("--token-score", default="self_confidence",
                       choices=["self_confidence", "normalized_margin", "confidence_weighted_entropy"])
    audit.add_argument("--sentence-score", default="min", choices=["min", "softmin"])
    audit.add_argument("--temperature", type=float, default=None, help="softmin temperature")
    audit.add_argument("--score-level", default="type", choices=["type", "tag"],
                       help="rank on entity types (B-/I- merged, default) or on the tags as given")
    audit.add_argument("--out", default="tokenlq-report", help="output folder")
    audit.set_defaults(run=_audit)
    demo = commands.add_parser("demo", help="run the core end to end on generated data with "
                                            "known label errors")
    demo.add_argument("--sentences", type=int, default=1000)
    demo.add_argument("--error-rate", type=float, default=0.05,
                      help="share of entities given a wrong label (default 0.05)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--top", type=int, default=8, help="entity findings to list")
    demo.set_defaults(run=_demo)
    serve = commands.add_parser("serve", help="run the Label Studio ML backend (gunicorn)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=None, help="default: $PORT or 9090")
    serve.set_defaults(run=_serve)
    worker = commands.add_parser("worker", help="run an RQ worker for the backend's jobs (REDIS_URL)")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.add_argument("--name", default=None, help="worker name (default: RQ's)")
    worker.set_defaults(run=_worker)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
