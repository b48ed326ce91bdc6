"""Evidence beyond the embedded model, on WNUT-17 test with realistic label errors (issue 16,
item 3): another model's span predictions, and a second annotation of the same tasks.

Data: WNUT-17 (Derczynski et al. 2017, CC BY 4.0) from ../shared/data/wnut17; errors injected by
``bench/detection.py``'s realistic profiles (``--errors expert crowd``) into the test split. The
embedded model is ``tokenlq crf`` (5-fold cross-validation on the noisy test labels only).
Rankings are ``tokenlq audit``'s defaults, as the Label Studio backend scores a run.

(a) A user's own model: its token probabilities are written as Label Studio span predictions
(argmax tags decoded into regions, each region scored with the mean probability of its tokens'
predicted tags, as an ML backend writes them) and read back by the backend's own conversion
(``tokenlq_backend.probs.prediction_probs``). Three such models: ``train CRF``, trained on the
train split with its clean labels (the brief's setting; WNUT-17's test split is a shift of
domain, so it finds few entities); ``in-domain CRF``, each test sentence predicted by a CRF
trained on train plus the clean labels of the other test sentences (5 folds), stronger than the
embedded model; ``in-sample CRF``, trained on the noisy test labels it then predicts, as an ML
backend trained from the project is. Compared: the embedded model alone, the predictions alone
(the backend's ``prediction:<version>`` before issue 16), their mean and geometric mean on
every token, and their mean on the tokens inside the predicted regions
(``tokenlq_backend.probs.combine_probs``) at several weights.

(b) Several annotations per task: a second annotator with independent errors of the same
profile (another seed) on all or a share (``--overlap``) of the tasks. The scored annotation is
the first; its errors are the ground truth. Compared: the first scored alone, the other
annotation's labels mixed into the probabilities as votes at several weights
(``tokenlq_backend.probs.vote_probs``), and the tokens where the two differ ranked first.

Reported per setting: sentence AP, P@k (k = sentences with an error), token AP, mean ± std over
seeds, and differences within each row. The tables are printed and written to ``--out``
(bench/results/evidence.md by default). About 8 minutes on 2 busy cores with the defaults.

Usage: python bench/evidence.py [--seeds 0 1 2] [--rates 0.03 0.05] [--errors expert crowd]
       [--overlap 1.0 0.3] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import numpy as np

import tokenlq
from tokenlq.audit import score_sentences
from tokenlq.io import Corpus, read_corpus
from tokenlq.labelstudio_format import entity_regions, prediction, task_tokens
from tokenlq.model import out_of_sample_probs

from detection import DATA, PROFILES, inject_realistic, ranking_metrics
from tokenlq_backend.probs import combine_probs, prediction_probs, vote_probs, vote_scores

RESULTS = Path(__file__).resolve().parent / "results" / "evidence.md"
KEYS = ("sentence AP", "P@k sentences", "token AP")
VOTE_WEIGHTS = (0.5, 0.9, 0.999)
USER_VERSION = "user-crf"


def as_span_predictions(probs, test, names):
    """Label Studio tasks of the test sentences, each with a span prediction made from a model's
    token probabilities ``probs`` the way an ML backend writes one, and each task's tokens
    ``[(token, start, end)]``."""
    offsets = tokenlq.offsets_from_lengths([len(s) for s in test.tokens])
    spans = tokenlq.decode_spans(probs.argmax(axis=1), offsets, names)
    by_sentence = {}
    for i, a, b, kind in spans.itertuples(index=False, name=None):
        by_sentence.setdefault(int(i), []).append((int(a), int(b), kind))
    tasks, token_spans = [], []
    for i, words in enumerate(test.tokens):
        text, tokens = task_tokens({"tokens": list(words)}, "text")
        entities = by_sentence.get(i, [])
        regions = entity_regions(text, tokens, entities, from_name="label", to_name="text")
        top = probs[offsets[i]:offsets[i + 1]].max(axis=1)
        for region, (a, b, _) in zip(regions, entities):
            region["score"] = float(top[a:b].mean())
        score = float(np.mean([r["score"] for r in regions])) if regions else None
        tasks.append({"id": i, "data": {"text": text},
                      "predictions": [prediction(regions, model_version=USER_VERSION, score=score)]})
        token_spans.append(tokens)
    return tasks, token_spans


def user_models(train, test, names):
    """{name: (probs, inside)} of the users' models that do not depend on the noise, read back
    from their span predictions by the backend's conversion (:func:`read_back`). ``train CRF``: a CRF trained on the clean train split (WNUT-17's
    test split is a shift of domain from its train split: this model finds few entities).
    ``in-domain CRF``: a model stronger than the embedded one, each test sentence predicted by a
    CRF trained on train plus the clean labels of the other test sentences (5 folds)."""
    _, fitted = out_of_sample_probs(train.tokens, train.labels, names, model="crf", folds=2,
                                    return_model=True)
    raw = {"train CRF": fitted.predict_probs(test.tokens, use_encoder=False),
           "in-domain CRF": out_of_sample_probs(test.tokens, test.labels, names, model="crf",
                                                folds=5, seed=99, extra_sentences=train.tokens,
                                                extra_labels=train.labels)}
    return {name: read_back(probs, test, names) for name, probs in raw.items()}


def read_back(probs, test, names):
    """A model's token probabilities as the backend reads them from its span predictions:
    ``(probs, inside)`` (``tokenlq_backend.probs.prediction_probs``)."""
    tasks, token_spans = as_span_predictions(probs, test, names)
    return prediction_probs(tasks, token_spans, names, USER_VERSION, from_name="label",
                            return_inside=True)


def in_sample_user(test, noisy, names):
    """A user's model trained on the project's own (noisy) labels and predicting the same
    tasks, as an ML backend trained from Label Studio is: it has seen the labels it checks."""
    _, fitted = out_of_sample_probs(test.tokens, noisy, names, model="crf", folds=2,
                                    return_model=True)
    return read_back(fitted.predict_probs(test.tokens, use_encoder=False), test, names)


def geometric(embedded, other, weight: float = 0.5):
    """The weighted geometric mean of two models' distributions, renormalised per row."""
    logs = (1 - weight) * np.log(embedded + 1e-12) + weight * np.log(other + 1e-12)
    out = np.exp(logs - logs.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


def ranks(wrong, sentence_wrong, labels, probs, offsets, names):
    """Ranking metrics of ``tokenlq audit``'s default scores (as the backend scores a run)."""
    sentence_scores, token_scores = score_sentences(labels, probs, offsets, names)
    return ranking_metrics(wrong, sentence_wrong, token_scores, sentence_scores)


def disagreement_first(labels, other, probs, offsets, names):
    """Token and sentence scores with the tokens where the two annotations differ ranked first
    (by the model's score among themselves), and so are their sentences."""
    sentence_scores, token_scores = score_sentences(labels, probs, offsets, names)
    differ = labels != other
    sentence_differ = np.add.reduceat(differ, offsets[:-1]) > 0
    return token_scores - differ, sentence_scores - sentence_differ


def summarise(rows):
    lines = ["| data | evidence | " + " | ".join(KEYS) + " |", "|---|---|" + "---|" * len(KEYS)]
    for (data, evidence), results in rows.items():
        cells = []
        for key in KEYS:
            values = np.array([r[key] for r in results])
            cells.append(f"{values.mean():.3f} ± {values.std():.3f}")
        lines.append(f"| {data} | {evidence} | " + " | ".join(cells) + " |")
    return lines


def gains(rows, base, label: str):
    """Mean over seeds of each evidence's metrics minus those of ``base(evidence)`` (an
    evidence name, or None to skip the row), within each row of data."""
    lines = [f"| data | evidence | sentence AP - {label} | P@k - {label} | token AP - {label} |",
             "|---|---|---|---|---|"]
    for (data, evidence), results in rows.items():
        reference = rows.get((data, base(evidence)))
        if base(evidence) in (None, evidence) or reference is None:
            continue
        diffs = [np.mean([r[k] - b[k] for r, b in zip(results, reference)]) for k in KEYS]
        lines.append(f"| {data} | {evidence} | " + " | ".join(f"{d:+.3f}" for d in diffs) + " |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rates", nargs="+", type=float, default=[0.03, 0.05])
    parser.add_argument("--errors", nargs="+", default=["expert", "crowd"], choices=list(PROFILES))
    parser.add_argument("--overlap", nargs="+", type=float, default=[1.0, 0.3],
                        help="shares of the tasks a second annotator also labels")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (Markdown)")
    args = parser.parse_args()
    if not (DATA / "wnut17" / "test.conll").exists():
        print(f"skipped: {DATA / 'wnut17'} is absent (the shared data folder is not beside this checkout)")
        return 0
    train = read_corpus(DATA / "wnut17" / "train.conll")
    test = read_corpus(DATA / "wnut17" / "test.conll")
    names = Corpus(train.tokens + test.tokens, train.labels + test.labels).class_names()
    index = {c: k for k, c in enumerate(names)}
    start = time.time()
    users = user_models(train, test, names)
    print(f"users' models: trained and converted in {time.time() - start:.0f} s", flush=True)
    offsets = tokenlq.offsets_from_lengths([len(s) for s in test.tokens])
    clean = np.array([index[t] for s in test.labels for t in s])
    model_rows, annotation_rows = {}, {}
    for errors in args.errors:
        for rate in args.rates:
            data = f"WNUT-17 test {rate:.0%} {errors}"
            for seed in args.seeds:
                noisy = inject_realistic(test.tokens, test.labels, rate, seed, errors)
                labels = np.array([index[t] for s in noisy for t in s])
                wrong = labels != clean
                sentence_wrong = np.add.reduceat(wrong, offsets[:-1]) > 0
                embedded = out_of_sample_probs(test.tokens, noisy, names, model="crf", folds=5,
                                               seed=seed)
                alone = ranks(wrong, sentence_wrong, labels, embedded, offsets, names)
                model_rows.setdefault((data, "embedded alone"), []).append(alone)
                seen = {"in-sample CRF": in_sample_user(test, noisy, names)}
                for user, (probs, inside) in {**users, **seen}.items():
                    every = np.ones(len(probs), dtype=bool)
                    combined = {
                        f"{user} alone": probs,
                        f"{user}: mean on every token": combine_probs(embedded, probs, every),
                        f"{user}: geometric mean on every token": geometric(embedded, probs),
                        **{f"{user}: mean inside its regions, weight {weight}":
                           combine_probs(embedded, probs, inside, weight=weight)
                           for weight in (0.5, 0.75, 0.9)}}
                    for evidence, mixed in combined.items():
                        model_rows.setdefault((data, evidence), []).append(
                            ranks(wrong, sentence_wrong, labels, mixed, offsets, names))
                second = inject_realistic(test.tokens, test.labels, rate, seed + 1000, errors)
                for overlap in args.overlap:
                    shared = np.random.default_rng(seed).random(len(noisy)) < overlap
                    others = [[tags] if both else [] for tags, both in zip(second, shared)]
                    other = np.concatenate([[index[t] for t in (b if both else a)]
                                            for a, b, both in zip(noisy, second, shared)])
                    row = f"{data}, 2nd annotation on {overlap:.0%}"
                    annotation_rows.setdefault((row, "first annotation alone"), []).append(alone)
                    for weight in VOTE_WEIGHTS:
                        mixed = vote_probs(embedded, offsets, others, names, weight=weight)
                        annotation_rows.setdefault((row, f"votes, weight {weight}"), []).append(
                            ranks(wrong, sentence_wrong, labels, mixed, offsets, names))
                        sentence_scores, token_scores = vote_scores(
                            *score_sentences(labels, mixed, offsets, names),
                            noisy, offsets, others, weight=weight)
                        annotation_rows.setdefault(
                            (row, f"votes in probabilities and scores, weight {weight}"), []).append(
                            ranking_metrics(wrong, sentence_wrong, token_scores, sentence_scores))
                    token_scores, sentence_scores = disagreement_first(
                        labels, other, embedded, offsets, names)
                    annotation_rows.setdefault((row, "disagreeing tokens first"), []).append(
                        ranking_metrics(wrong, sentence_wrong, token_scores, sentence_scores))
                print(f"{data} seed {seed}: done at {time.time() - start:.0f} s", flush=True)
    lines = ["## (a) A user's own model's predictions combined with the embedded model", "",
             *summarise(model_rows), "", "Within each row, against the embedded model alone:", "",
             *gains(model_rows, lambda e: "embedded alone", "embedded"), "",
             "Within each row, against that model's predictions alone (the backend before issue 16):",
             "", *gains(model_rows, lambda e: f"{e.split(':')[0]} alone" if ":" in e else None,
                        "alone"), "",
             "## (b) Two annotations per task: the other annotation as evidence", "",
             *summarise(annotation_rows), "", "Within each row, against the first annotation alone:",
             "", *gains(annotation_rows, lambda e: "first annotation alone", "alone"), ""]
    print(*lines, sep="\n")
    header = (f"# bench/evidence.py, {datetime.date.today()}, {os.cpu_count()} cores, seeds "
              f"{' '.join(map(str, args.seeds))}, {time.time() - start:.0f} s")
    args.out.write_text("\n".join([header, "", *lines]), encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
