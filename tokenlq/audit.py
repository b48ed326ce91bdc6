"""Audit a labelled corpus end to end: probabilities, scores, issues, spans, summaries, report.

:func:`audit` returns an :class:`AuditResult` and :func:`write_report` writes it to a folder:
``sentence_scores.csv``, ``token_issues.csv``, ``span_issues.csv``, ``class_summary.csv``,
``pred_probs.npz`` (reusable with ``--pred-probs``) and ``report.html``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from ._html import render
from ._validation import TokenLQInputError, check_option
from .consistency import blend_surface_evidence, surface_consistency
from .filter import find_label_issues
from .io import Corpus, DataError, read_pred_probs, select_classes, write_pred_probs
from .model import model_reason, out_of_sample_probs, resolve_model
from .rank import get_label_quality_scores
from .scheme import entity_type, entity_types, merge_classes
from .spans import SPAN_COLUMNS, find_span_issues
from .summary import class_summary, label_confusions

__all__ = ["SCORE_LEVELS", "AuditResult", "audit", "audit_tokens", "score_sentences",
           "write_report"]

SCORE_LEVELS = ("type", "tag")


@dataclass
class AuditResult:
    corpus: Corpus
    class_names: list[str]
    labels: np.ndarray  # flat (n,) class indices
    pred_probs: np.ndarray  # flat (n, K)
    offsets: np.ndarray  # (N+1,)
    sentence_scores: np.ndarray  # (N,)
    token_scores: np.ndarray  # (n,)
    issues: list  # [(sentence, token)], ranked
    spans: pd.DataFrame
    classes: pd.DataFrame | None  # None: not asked for (audit_tokens' summaries=False)
    confusions: pd.DataFrame | None
    settings: dict


def score_sentences(labels, pred_probs, offsets, class_names, *, level: str = "type",
                    token_score_method: str = "self_confidence", sentence_score_method: str = "min",
                    temperature: float | None = None, tokens=None, surface_weight: float = 1.0,
                    surface_prior_count: float = 5.0):
    """Sentence scores (N,) and token scores (n,) for ranking.

    With ``level='type'`` (the default) B-/I-/E-/S- tags of one entity type are merged first:
    a B-vs-I disagreement of the same type is no evidence of a wrong entity, and merging gives
    the tag probabilities of a type one voice. On WNUT-17 dev with injected errors this raised
    sentence AP by 9-25% relative over scoring tags (bench/detection.py). ``'tag'`` scores the
    tags as given. Data without prefixed tags is scored as is.

    With ``tokens`` (the words, one list per sentence), the probabilities are first blended with
    how the same word is labelled elsewhere in the corpus (:mod:`tokenlq.consistency`; weight
    up to ``surface_weight``, half of it at ``surface_prior_count`` other occurrences). An option,
    not the default: with realistic injected errors on WNUT-17 (bench/detection.py) it raised
    sentence AP on the test split, but on the dev split only the CRF's on crowd-like errors; it
    lowered the CRF's on expert-like errors and the CRF + encoder's on every error model. With
    a noisy training split as extra data the pattern is the same: higher on test for every
    model and error model, on dev higher on crowd-like errors only.
    """
    check_option(level, "level", SCORE_LEVELS, "score_sentences")
    if tokens is not None:
        distribution, support = surface_consistency(tokens, labels, offsets,
                                                    n_classes=np.shape(pred_probs)[1])
        pred_probs = blend_surface_evidence(pred_probs, distribution, support,
                                            weight=surface_weight,
                                            prior_count=surface_prior_count)
    if level == "type" and any(entity_type(c) != c for c in class_names):
        pred_probs, _ = merge_classes(pred_probs, class_names)
        labels = entity_types(class_names)[1][labels]
    sentence_scores, token_scores = get_label_quality_scores(
        labels, pred_probs, offsets, token_score_method=token_score_method,
        sentence_score_method=sentence_score_method, temperature=temperature, renormalize=True)
    return sentence_scores, token_scores.flat


# A 20,000-sentence audit must end within 30 minutes: the CRF's cross-validation and the
# scoring take the first few, the fine-tuning gets the rest.
AUDIT_BUDGET_SECONDS = 1500.0
_MODEL_NAMES = {"crf": "CRF", "crf+encoder": "CRF + encoder classifier (mean)",
                "crf+transformer": "CRF + fine-tuned MiniLM (mean)"}


def _two_or_more(class_names: list) -> list:
    if len(class_names) < 2:
        raise DataError(f"every token is labelled {class_names[0]!r} and no other class is known: "
                        "finding label errors needs at least two classes")
    return class_names


def audit(corpus: Corpus, *, pred_probs_path=None, pred_probs=None, pred_probs_classes=None,
          train: Corpus | None = None, folds: int = 5,
          seed: int = 0, token_score_method: str = "self_confidence",
          sentence_score_method: str = "min", temperature: float | None = None,
          score_level: str = "type", model: str = "auto", extra_classes=(),
          budget_seconds: float = AUDIT_BUDGET_SECONDS, progress: bool = False) -> AuditResult:
    """Score ``corpus`` with out-of-sample probabilities (given, or from the embedded
    cross-validated model). ``pred_probs`` (n, K) with its column names ``pred_probs_classes``,
    or a file ``pred_probs_path``, supplies them. ``extra_classes``: class names to include even
    where no label of the data uses them (a labeling config's full label set).
    ``budget_seconds``: the fine-tuning's time budget with ``model='crf+transformer'``; the
    plan it picks is in the result's settings."""
    extra = {t for s in train.labels for t in s} if train is not None else set()
    extra |= set(extra_classes)
    plans = []  # the fine-tuning's plan, when the model has one
    requested = None  # the model asked for, when the embedded model gives the probabilities
    if pred_probs is not None:
        names = list(pred_probs_classes)
        class_names = corpus.class_names(extra=set(names))
        pred_probs = select_classes(np.asarray(pred_probs, dtype=np.float64), names, class_names,
                                    "pred_probs")
    elif pred_probs_path is not None:
        file_probs, file_names = read_pred_probs(pred_probs_path, corpus)
        # The file's classes in the usual order; a label of the data without a column is an error.
        class_names = corpus.class_names(extra=set(file_names))
        pred_probs = select_classes(file_probs, file_names, class_names, pred_probs_path)
    else:
        class_names = _two_or_more(corpus.class_names(extra=extra))
        requested, model = model, resolve_model(model)
        pred_probs = out_of_sample_probs(
            corpus.tokens, corpus.labels, class_names, model=model, folds=folds, seed=seed,
            extra_sentences=train.tokens if train is not None else (),
            extra_labels=train.labels if train is not None else (), progress=progress,
            budget_seconds=budget_seconds, on_plan=plans.append)
    index = {c: k for k, c in enumerate(_two_or_more(class_names))}
    labels = np.array([index[t] for s in corpus.labels for t in s], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in corpus.tokens]))).astype(np.int64)
    result = audit_tokens(labels, pred_probs, offsets, class_names=class_names, corpus=corpus,
                          token_score_method=token_score_method,
                          sentence_score_method=sentence_score_method, temperature=temperature,
                          score_level=score_level)
    settings = result.settings = {
        "folds": folds, "seed": seed, **result.settings,
        "probabilities": "given" if pred_probs_classes is not None else
        str(pred_probs_path) if pred_probs_path else
        f"cross-validated {_MODEL_NAMES.get(model, model)}",
        "training data": f"{len(train)} extra sentences" if train is not None else "none"}
    if requested is not None:
        settings["model chosen"] = model_reason(requested, model)
    if plans:
        settings["fine-tuning"] = plans[0].reason
    if corpus.column_note:
        settings["columns"] = corpus.column_note
    return result


def audit_tokens(labels, pred_probs, offsets, *, class_names, corpus: Corpus | None = None,
                 token_score_method: str = "self_confidence", sentence_score_method: str = "min",
                 temperature: float | None = None, score_level: str = "type",
                 previous: AuditResult | None = None, changed=(),
                 summaries: bool = True) -> AuditResult:
    """The scoring part of :func:`audit` on flat data: scores, ranked issues, span issues and
    summaries of given labels ``labels`` (n,) with probabilities ``pred_probs`` (n, K) whose
    columns are ``class_names``, sentences at ``offsets`` (N+1,). ``corpus``: the sentences'
    words (for the span issues' text and the report); without it the text is empty.

    For callers that hold their labels as class indices already (a service that re-scores a
    large project after each edit): :func:`audit` turns a corpus's tags into them first.
    ``previous``: this function's result for the same sentences (the same offsets, class
    names and options) whose labels, probabilities and words differed only in the sentences
    ``changed`` (indices): span issues are then found again only there and where the flagged
    tokens moved, to the same result. ``summaries=False``: no per-class summary and label
    confusions (``classes`` and ``confusions`` None), for a caller that makes its own.

    Examples
    --------
    >>> labels = np.array([1, 2, 0, 1, 2, 0, 0, 0, 1])  # the last sentence's entity one late
    >>> probs = np.array([[.1, .8, .1], [.1, .1, .8], [.8, .1, .1]] * 2
    ...                  + [[.8, .1, .1], [.1, .8, .1], [.8, .1, .1]])
    >>> result = audit_tokens(labels, probs, np.array([0, 3, 6, 9]),
    ...                       class_names=["O", "B-LOC", "I-LOC"])
    >>> result.sentence_scores.round(2).tolist(), result.issues
    ([0.8, 0.8, 0.1], [(2, 1), (2, 2)])
    >>> result.spans[["sentence", "given", "suggested", "kind"]].values.tolist()
    [[2, 'O', 'LOC', 'missing'], [2, 'LOC', 'O', 'spurious']]
    """
    check_option(score_level, "score_level", SCORE_LEVELS, "audit_tokens")
    class_names = _two_or_more(list(class_names))
    tokens = corpus.tokens if corpus is not None else None
    sentence_scores, token_scores = score_sentences(
        labels, pred_probs, offsets, class_names, level=score_level,
        token_score_method=token_score_method, sentence_score_method=sentence_score_method,
        temperature=temperature)
    issues = find_label_issues(labels, pred_probs, offsets, renormalize=True,
                               return_indices_ranked_by=None)
    # Ranked by the token scores the report shows (type level by default), ties by position.
    flat = np.array([offsets[i] + j for i, j in issues], dtype=np.int64)
    issues = [issues[r] for r in np.argsort(token_scores[flat], kind="stable")] if issues else []
    span_options = dict(class_names=class_names, token_score_method=token_score_method,
                        renormalize=True)
    if previous is not None and previous.class_names == class_names and \
            np.array_equal(previous.offsets, offsets):
        changed = np.asarray(list(changed), dtype=np.int64)
        if ((changed < 0) | (changed >= len(offsets) - 1)).any():
            raise TokenLQInputError(f"audit_tokens: 'changed' must hold sentence indices from 0 "
                                    f"to {len(offsets) - 2}; got {changed.tolist()}.")
        spans = _span_issues_since(previous, changed.tolist(), labels, pred_probs, offsets,
                                   issues, tokens, span_options)
    else:
        spans = find_span_issues(labels, pred_probs, offsets, issues=issues, tokens=tokens,
                                 **span_options)
    classes = confusions = None
    if summaries:
        classes = class_summary(labels, pred_probs, offsets, class_names=class_names,
                                issues=issues, renormalize=True)
        confusions = label_confusions(labels, pred_probs, offsets, issues=issues,
                                      class_names=class_names, renormalize=True)
    settings = {"token score": token_score_method,
                "scored at the level of": "entity types" if score_level == "type" else "tags",
                "sentence score": sentence_score_method}
    return AuditResult(corpus, class_names, np.asarray(labels), np.asarray(pred_probs),
                       np.asarray(offsets), sentence_scores, token_scores, issues, spans, classes,
                       confusions, settings)


def _span_issues_since(previous: AuditResult, changed, labels, pred_probs, offsets, issues,
                       tokens, span_options) -> pd.DataFrame:
    """:func:`find_span_issues` of ``issues`` when only the sentences ``changed`` differ from
    ``previous``: a sentence's span issues depend on its own tokens and flags alone, so the
    earlier ones stand wherever neither moved."""
    def by_sentence(pairs) -> dict:
        out: dict = {}
        for i, j in pairs:
            out.setdefault(i, set()).add(j)
        return out

    now, before = by_sentence(issues), by_sentence(previous.issues)
    redo = np.array(sorted(set(changed) | {i for i in now.keys() | before.keys()
                                           if now.get(i) != before.get(i)}), dtype=np.int64)
    kept = previous.spans[~previous.spans["sentence"].isin(redo)]
    if not len(redo):
        return kept.reset_index(drop=True)
    # The sentences to redo, gathered as a corpus of their own and numbered back afterwards.
    starts, lengths = offsets[redo], offsets[redo + 1] - offsets[redo]
    sub_offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    rows = np.repeat(starts - sub_offsets[:-1], lengths) + np.arange(sub_offsets[-1])
    number = {int(i): k for k, i in enumerate(redo)}
    sub_issues = [(number[i], j) for i, j in issues if i in number]
    found = find_span_issues(labels[rows], pred_probs[rows], sub_offsets, issues=sub_issues,
                             tokens=None if tokens is None else [tokens[i] for i in redo],
                             **span_options)
    if not len(found):
        return (kept if len(kept) else found).reset_index(drop=True)
    found["sentence"] = redo[found["sentence"].to_numpy(dtype=np.int64)]
    if not len(kept):  # numbered back in the same order: still sorted
        return found
    return pd.concat([kept, found], ignore_index=True) \
        .sort_values(["score", "sentence", "start_token"], kind="stable").reset_index(drop=True)


def _tables(result: AuditResult):
    corpus, names = result.corpus, result.class_names
    flagged_sentences = {i for i, _ in result.issues}
    sentences = pd.DataFrame({
        "sentence": np.arange(len(corpus)),
        "score": result.sentence_scores,
        "is_issue": [i in flagged_sentences for i in range(len(corpus))],
    })
    rows = []
    for i, j in result.issues:
        f = result.offsets[i] + j
        rows.append((i, j, corpus.tokens[i][j], names[result.labels[f]],
                     names[int(result.pred_probs[f].argmax())], float(result.token_scores[f])))
    tokens = pd.DataFrame(rows, columns=["sentence", "token_index", "token", "given_label",
                                         "suggested_label", "score"])
    return sentences, tokens


def write_report(result: AuditResult, out_dir) -> Path:
    """Write every output file of ``tokenlq audit`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sentences, tokens = _tables(result)
    sentences.to_csv(out / "sentence_scores.csv", index=False)
    tokens.to_csv(out / "token_issues.csv", index=False)
    result.spans[SPAN_COLUMNS].to_csv(out / "span_issues.csv", index=False)
    result.classes.to_csv(out / "class_summary.csv", index=False)
    write_pred_probs(out / "pred_probs.npz", result.pred_probs, result.offsets, result.class_names)
    (out / "report.html").write_text(_report(result, sentences, tokens), encoding="utf-8")
    return out


def _report(result: AuditResult, sentences: pd.DataFrame, tokens: pd.DataFrame) -> str:
    """report.html: templates/report.html over the figures computed here."""
    corpus = result.corpus
    return render("report.html", version=__version__, n_sentences=len(corpus),
                  n_tokens=corpus.n_tokens, n_classes=len(result.class_names),
                  n_issues=len(result.issues), n_flagged=int(sentences["is_issue"].sum()),
                  n_spans=len(result.spans),
                  sentences=_suspicious_sentences(result, sentences, tokens),
                  spans=result.spans.head(200).to_dict("records"),
                  class_columns=list(result.classes.columns),
                  class_rows=list(result.classes.itertuples(index=False)),
                  confusions=_confusion_counts(result.confusions, result.class_names),
                  settings=result.settings)


def _suspicious_sentences(result: AuditResult, sentences: pd.DataFrame, tokens: pd.DataFrame,
                          top: int = 200) -> list[dict]:
    """The ``top`` flagged sentences, most suspect first, as (word, flag or None) pairs; a flag
    holds the given and suggested labels and their probabilities."""
    names = result.class_names
    flagged: dict[int, dict] = {}
    for row in tokens.itertuples():
        flagged.setdefault(row.sentence, {})[row.token_index] = row
    ranked = sentences[sentences["is_issue"]].sort_values("score", kind="stable").head(top)
    shown = []
    for row in ranked.itertuples():
        i = int(row.sentence)
        marks = flagged.get(i, {})
        words = []
        for j, word in enumerate(result.corpus.tokens[i]):
            flag = None
            if j in marks:
                probs = result.pred_probs[result.offsets[i] + j]
                flag = {"given": marks[j].given_label, "suggested": marks[j].suggested_label,
                        "p_given": probs[names.index(marks[j].given_label)],
                        "p_suggested": probs.max()}
            words.append((word, flag))
        shown.append({"sentence": i, "score": row.score, "words": words})
    return shown


def _confusion_counts(confusions: pd.DataFrame, names) -> dict | None:
    """Given -> suggested counts of flagged tokens over the classes involved, each count with
    its shade (255 for none down to 80 for the largest); None without flagged tokens."""
    if confusions.empty:
        return None
    used = [c for c in names if c in set(confusions["given"]) | set(confusions["suggested"])]
    counts = confusions.pivot_table(index="given", columns="suggested", values="count",
                                    aggfunc="sum", fill_value=0).reindex(index=used, columns=used,
                                                                         fill_value=0)
    top = max(int(counts.values.max()), 1)
    rows = []
    for given in used:
        cells = [int(counts.loc[given, sugg]) for sugg in used]
        rows.append((given, [(v, int(255 - 175 * v / top)) for v in cells]))
    return {"names": used, "rows": rows}
