"""Detection quality of tokenlq against the reference pipeline, on data with known label errors.

Data: WNUT-17 (Derczynski et al. 2017, CC BY 4.0) from ../shared/data/wnut17, with realistic
label errors injected into a fixed share of entities (missed entities, type swaps, boundary
shifts, spurious entities; fixed seeds), and nessie's easy_span.conll (known errors).

Pipelines, each given only the noisy data (5-fold cross-validation, nothing else):
- reference: a plain CRF (word, lower case, shape, prefixes and suffixes up to 3, neighbours at
  +-1 and +-2) whose probabilities go to cleanlab 2.9.0 with its defaults;
- tokenlq crf: tokenlq's CRF (richer features and surface evidence) and the defaults of
  ``tokenlq audit`` (entity-type-level ranking); this is ``tokenlq audit --model crf``;
- tokenlq crf+encoder: the same, with the CRF's probabilities averaged with those of a classifier
  over pretrained MiniLM word vectors (the ``encoder`` extra; ``--model auto`` when installed).

Reported: token AP and AUROC, sentence AP and AUROC, precision at k (k = number of true errors),
precision/recall of find_label_issues and of the span issues, the time and peak memory of each
cross-validation (run in a forked process), and a comparison of sentence rankings (``RANKINGS``)
on the same probabilities. ``--cache DIR`` keeps every run's probabilities for the next call;
``--out FILE`` writes the tables (bench/results/detection_realistic.md holds the realistic ones).

Error models (``--errors``): ``uniform``, the four kinds in equal shares with wrong types drawn
uniformly; and realistic profiles (``PROFILES``: ``expert``, mostly plausible wrong types, and
``crowd``, mostly missed entities), with wrong types from a plausible confusion matrix, one-token
boundary shifts, few spurious entities and systematic errors (one surface form wrong in several
places). Every profile is a row of data, so its shares are easy to change.

Usage: python bench/detection.py [--split test] [--seeds 0 1 2] [--rates 0.01 0.03 0.10]
       [--errors uniform expert crowd] [--pipelines reference "tokenlq crf" ...] [--no-nessie]
       [--cache DIR] [--out FILE [--append]]
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

import tokenlq
from tokenlq.audit import score_sentences
from tokenlq.io import read_corpus
from tokenlq.model import CRFConfig, cross_val_pred_probs, out_of_sample_probs
from tokenlq.scheme import OUTSIDE, entity_type, make_tag

try:
    from cleanlab.token_classification import filter as cl_filter
    from cleanlab.token_classification import rank as cl_rank
    from sklearn.metrics import average_precision_score, roc_auc_score
except ImportError as err:  # pragma: no cover
    raise SystemExit("bench/detection.py needs the bench extra: pip install '.[bench]'") from err

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KINDS = ("missing", "wrong_type", "boundary", "spurious")


def entity_spans(labels):
    """(sentence, start, end, type) of every BIO entity, decoded by tokenlq.decode_spans."""
    names = [OUTSIDE] + sorted({t for s in labels for t in s} - {OUTSIDE})
    flat = np.array([names.index(t) for s in labels for t in s], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in labels])))
    return list(tokenlq.decode_spans(flat, offsets, names).itertuples(index=False, name=None))


def inject(labels, rate: float, seed: int):
    """Noisy copy of ``labels`` with errors in ``rate`` of the entities, kinds in equal shares."""
    rng = np.random.default_rng(seed)
    noisy = [list(s) for s in labels]
    types = sorted({entity_type(t) for s in labels for t in s if t != OUTSIDE})
    entities = entity_spans(labels)
    n_errors = max(1, int(round(rate * len(entities))))
    chosen = rng.choice(len(entities), n_errors, replace=False)
    for n, e in enumerate(chosen):
        i, a, b, typ = entities[e]
        kind = KINDS[n % 4]
        sentence = noisy[i]
        if kind == "missing":
            sentence[a:b] = [OUTSIDE] * (b - a)
        elif kind == "wrong_type":
            other = types[(types.index(typ) + int(rng.integers(1, len(types)))) % len(types)]
            sentence[a:b] = [make_tag("B", other)] + [make_tag("I", other)] * (b - a - 1)
        elif kind == "boundary":
            if b < len(sentence) and sentence[b] == OUTSIDE and rng.random() < 0.5:
                sentence[b] = make_tag("I", typ)  # one token too long
            elif b - a > 1:
                sentence[b - 1] = OUTSIDE  # one token too short
            elif a > 0 and sentence[a - 1] == OUTSIDE:
                # starts one token early
                sentence[a - 1], sentence[a] = make_tag("B", typ), make_tag("I", typ)
            else:
                sentence[a:b] = [OUTSIDE] * (b - a)
        else:  # spurious: a new one-token entity on an O token away from entities
            options = [(i2, j) for i2 in rng.permutation(len(noisy))[:50]
                       for j, tag in enumerate(noisy[i2])
                       if tag == OUTSIDE and (j == 0 or noisy[i2][j - 1] == OUTSIDE)
                       and (j + 1 == len(noisy[i2]) or noisy[i2][j + 1] == OUTSIDE)]
            i2, j = options[int(rng.integers(len(options)))]
            noisy[i2][j] = make_tag("B", types[int(rng.integers(len(types)))])
    return noisy


# Realistic error profiles (issue 16; shares from NoiseBench's expert and crowd layers and Reiss
# et al.'s CoNLL-03 corrections, see the issue). ``shares`` are the error kinds' shares (normalised
# here, so they need not sum to 1); ``systematic`` is the share of errors that come in groups: one
# surface form mislabelled the same way in ``group`` = (fewest, most) places, which a
# cross-validated model can learn from the other places.
PROFILES = {
    "expert": {"shares": {"missing": 0.09, "wrong_type": 0.78, "boundary": 0.11, "spurious": 0.02},
               "systematic": 0.6, "group": (2, 5)},
    "crowd": {"shares": {"missing": 0.60, "wrong_type": 0.17, "boundary": 0.12, "spurious": 0.05},
              "systematic": 0.3, "group": (2, 5)},
}
# Plausible wrong types for WNUT-17 (relative weights, gold type -> noisy type). Real confusions
# are between types that one name can carry: a city's team or a band named after a place
# (location <-> group), a firm and its product or site (corporation <-> product), a firm and an
# organisation (corporation <-> group), a title of a work and the thing it is on (creative-work
# <-> product), a band or fandom named like a person (person <-> group). Anything else is rare.
CONFUSIONS = {
    "location": {"group": 5, "corporation": 3, "person": 1, "product": 0.5, "creative-work": 0.5},
    "group": {"corporation": 4, "location": 3, "person": 2, "creative-work": 1, "product": 0.5},
    "corporation": {"group": 4, "product": 4, "location": 2, "creative-work": 0.5, "person": 0.5},
    "product": {"corporation": 5, "creative-work": 4, "group": 0.5, "location": 0.5, "person": 0.5},
    "creative-work": {"product": 5, "group": 2, "person": 1.5, "corporation": 1, "location": 0.5},
    "person": {"group": 4, "creative-work": 2, "location": 1.5, "corporation": 1, "product": 0.5},
}
# Tokens an annotator's span most often wrongly takes in or leaves out: articles, titles,
# possessives and punctuation-like tokens at the edge of a name.
EDGE_WORDS = {"the", "a", "an", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "dr", "dr.", "st", "st.",
              "sir", "president", "king", "queen", "prince", "lord", "saint", "'s", "s", "of"}


def _edge_like(token: str) -> bool:
    return token.lower() in EDGE_WORDS or not any(ch.isalnum() for ch in token)


def _wrong_type(typ: str, types, rng) -> str:
    weights = CONFUSIONS.get(typ)
    if weights is None:  # a corpus with other types: uniform over the rest
        return [t for t in types if t != typ][int(rng.integers(len(types) - 1))]
    options = list(weights)
    p = np.array([weights[t] for t in options], dtype=float)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _boundary_moves(tokens, clean, a: int, b: int):
    """Feasible one-token boundary shifts of the entity [a, b): only the edge-like ones when
    there are any (the ones real annotators make)."""
    moves = []
    if a > 0 and clean[a - 1] == OUTSIDE:
        moves.append(("extend_left", _edge_like(tokens[a - 1])))
    if b < len(clean) and clean[b] == OUTSIDE:
        moves.append(("extend_right", _edge_like(tokens[b])))
    if b - a > 1:
        moves.append(("shrink_left", _edge_like(tokens[a])))
        moves.append(("shrink_right", _edge_like(tokens[b - 1])))
    preferred = [m for m, edge in moves if edge]
    return preferred or [m for m, _ in moves]


def _apply(noisy_sentence, kind: str, a: int, b: int, typ: str, *, new_type=None, move=None):
    if kind == "missing":
        noisy_sentence[a:b] = [OUTSIDE] * (b - a)
    elif kind == "wrong_type":
        noisy_sentence[a:b] = [make_tag("B", new_type)] + [make_tag("I", new_type)] * (b - a - 1)
    elif move == "extend_left":
        noisy_sentence[a - 1], noisy_sentence[a] = make_tag("B", typ), make_tag("I", typ)
    elif move == "extend_right":
        noisy_sentence[b] = make_tag("I", typ)
    elif move == "shrink_left":
        noisy_sentence[a], noisy_sentence[a + 1] = OUTSIDE, make_tag("B", typ)
    else:  # shrink_right
        noisy_sentence[b - 1] = OUTSIDE


def inject_realistic(tokens, labels, rate: float, seed: int, profile: str):
    """Noisy copy of ``labels`` with errors in ``rate`` of the entities, drawn from ``PROFILES``:
    kinds by the profile's shares, wrong types from ``CONFUSIONS``, boundary shifts of one token
    (edge-like tokens preferred), spurious one-token entities on capitalised words, and groups of
    the same surface form mislabelled the same way (each place counts as one error)."""
    spec = PROFILES[profile]
    rng = np.random.default_rng(seed)
    noisy = [list(s) for s in labels]
    entities = entity_spans(labels)
    types = sorted({e[3] for e in entities})
    kinds = list(spec["shares"])
    shares = np.array([spec["shares"][k] for k in kinds], dtype=float)
    shares /= shares.sum()
    n_errors = max(1, int(round(rate * len(entities))))
    n_systematic = int(round(spec["systematic"] * n_errors))
    # Exact counts per kind (largest remainders), so a few large groups cannot skew the shares.
    quota = np.floor(shares * n_errors).astype(int)
    quota[np.argsort(quota - shares * n_errors, kind="stable")[:n_errors - quota.sum()]] += 1
    used = np.zeros(len(entities), dtype=bool)  # at most one error per entity

    # Systematic groups: a surface form seen at least twice, k of its places changed alike.
    surface = {}
    for e, (i, a, b, _) in enumerate(entities):
        surface.setdefault(tuple(t.lower() for t in tokens[i][a:b]), []).append(e)
    repeated = [places for places in surface.values() if len(places) >= 2]
    grouped = np.array([k != "spurious" for k in kinds])  # spurious errors stay single
    done = 0
    for g in rng.permutation(len(repeated)):
        room = np.where(grouped, quota, 0)
        if done >= n_systematic or room.sum() == 0:
            break
        places = [e for e in repeated[g] if not used[e]]
        low, high = spec["group"]
        kind_index = int(rng.choice(len(kinds), p=room / room.sum()))
        kind = kinds[kind_index]
        k = min(int(rng.integers(low, high + 1)), len(places), n_systematic - done,
                quota[kind_index])
        if k < 2 and n_systematic - done >= 2:
            continue
        typ = entities[places[0]][3]
        new_type = _wrong_type(typ, types, rng)
        move = None
        placed = 0
        for e in rng.permutation(places):
            if placed == k:
                break
            i, a, b, typ = entities[e]
            if kind == "wrong_type" and typ == new_type:  # the form's gold type differs here
                continue
            if kind == "boundary":
                moves = _boundary_moves(tokens[i], labels[i], a, b)
                if not moves:
                    continue
                if move not in moves:  # keep the group's shift wherever it fits
                    move = moves[int(rng.integers(len(moves)))]
            _apply(noisy[i], kind, a, b, typ, new_type=new_type, move=move)
            used[e] = True
            placed += 1
        quota[kind_index] -= placed
        done += placed

    # Single errors for the rest of each kind's quota.
    single_kinds = rng.permutation(np.repeat(np.arange(len(kinds)), quota))
    n_spurious = int(quota[kinds.index("spurious")]) if "spurious" in kinds else 0
    order = rng.permutation(len(entities))
    cursor = 0
    for kind in (kinds[k] for k in single_kinds if kinds[k] != "spurious"):
        while cursor < len(order):
            e = order[cursor]
            cursor += 1
            if used[e]:
                continue
            i, a, b, typ = entities[e]
            moves = _boundary_moves(tokens[i], labels[i], a, b) if kind == "boundary" else [None]
            if not moves:
                continue
            _apply(noisy[i], kind, a, b, typ, new_type=_wrong_type(typ, types, rng),
                   move=moves[int(rng.integers(len(moves)))])
            used[e] = True
            break
    if n_spurious:
        # Capitalised words outside every entity and not touching one: what an annotator takes
        # for a name. Types follow the corpus's type frequencies.
        lengths = np.array([len(s) for s in labels])
        flat_tokens = np.array([t for s in tokens for t in s], dtype=object)
        outside = np.array([t == OUTSIDE for s in noisy for t in s])
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        first = np.zeros(len(outside), dtype=bool)
        first[starts] = True
        last = np.zeros(len(outside), dtype=bool)
        last[starts + lengths - 1] = True
        left_ok = first | np.roll(outside, 1)
        right_ok = last | np.roll(outside, -1)
        capital = np.array([t[:1].isupper() and t.isalpha() for t in flat_tokens])
        candidates = np.flatnonzero(outside & left_ok & right_ok & capital)
        sentence_of = np.repeat(np.arange(len(labels)), lengths)
        type_counts = np.array([sum(e[3] == t for e in entities) for t in types], dtype=float)
        type_p = type_counts / type_counts.sum()
        for flat in rng.choice(candidates, min(n_spurious, len(candidates)), replace=False):
            i = sentence_of[flat]
            noisy[i][flat - starts[i]] = make_tag("B", types[int(rng.choice(len(types), p=type_p))])
    return noisy


TOKEN_SCORES = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
SENTENCE_SCORES = ("min", "softmin")
# Sentence rankings compared (issue 16, item 4): (token score, sentence aggregation, surface),
# where surface says whether the probabilities are first blended with the labels of the same
# word elsewhere (tokenlq.consistency, with its default weights; an option of
# tokenlq.audit.score_sentences, not `tokenlq audit`'s default), plus two entity-level ones:
# "spans first" ranks the sentences with a span finding first, by the finding's score, then
# the others by their worst token; "entity product" scores a sentence by its worst entity
# (given or predicted), an entity by the product of its tokens' scores.
RANKINGS = [(token, sentence, surface) for surface in (False, True) for token in TOKEN_SCORES
            for sentence in SENTENCE_SCORES] + [("self_confidence", "spans first", False),
                                                ("self_confidence", "entity product", False)]
# The default ranking of both cleanlab and `tokenlq audit` (the main table's ranking figures).
BASELINE = ("self_confidence", "min", False)


def ranking_metrics(wrong, sentence_wrong, token_scores, sentence_scores):
    k = int(sentence_wrong.sum())
    top = np.argsort(sentence_scores, kind="stable")[:k]
    return {
        "token AP": average_precision_score(wrong, -token_scores),
        "token AUROC": roc_auc_score(wrong, -token_scores),
        "sentence AP": average_precision_score(sentence_wrong, -sentence_scores),
        "sentence AUROC": roc_auc_score(sentence_wrong, -sentence_scores),
        "P@k sentences": sentence_wrong[top].mean(),
    }


def _entity_product(y, pred_probs, offsets, names, token_scores, sentence_scores):
    """Worst of the sentence's worst token and its entities (given and predicted spans), an
    entity scored by the product of its tokens' scores."""
    spans = [tokenlq.decode_spans(labels, offsets, names) for labels in (y, pred_probs.argmax(1))]
    sentence = np.concatenate([s["sentence"].to_numpy() for s in spans]).astype(np.int64)
    start = np.concatenate([s["start"].to_numpy() for s in spans]).astype(np.int64) + offsets[sentence]
    end = np.concatenate([s["end"].to_numpy() for s in spans]).astype(np.int64) + offsets[sentence]
    logs = np.concatenate(([0.0], np.cumsum(np.log(np.maximum(token_scores, 1e-12)))))
    out = np.array(sentence_scores, dtype=float)
    np.minimum.at(out, sentence, np.exp(logs[end] - logs[start]))
    return out


def metrics(clean, noisy, tokens, pred_probs, names, pipeline: str):
    """Ranking metrics for every ranking of ``RANKINGS`` (keys ``(token score, sentence score,
    surface, metric)``) and, under plain metric keys, those of the pipeline's default ranking and
    the precision/recall of its issues and span issues."""
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in noisy])))
    y_noisy = np.array([names.index(t) for s in noisy for t in s])
    y_clean = np.array([names.index(t) for s in clean for t in s])
    wrong = y_noisy != y_clean
    sentence_wrong = np.add.reduceat(wrong, offsets[:-1]) > 0
    nested_labels = [[names.index(t) for t in s] for s in noisy]
    distribution, support = tokenlq.surface_consistency(tokens, y_noisy, offsets,
                                                        n_classes=len(names))
    blended = tokenlq.blend_surface_evidence(pred_probs, distribution, support)
    result = {}
    scored = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for token_method, sentence_method, surface in RANKINGS:
            if sentence_method not in SENTENCE_SCORES:
                continue
            probs = blended if surface else pred_probs
            if pipeline == "reference":
                nested_probs = [probs[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
                sentence_scores, token_info = cl_rank.get_label_quality_scores(
                    nested_labels, nested_probs, token_score_method=token_method,
                    sentence_score_method=sentence_method)
                token_scores = np.concatenate([np.asarray(s) for s in token_info])
            else:  # exactly what `tokenlq audit` does (surface: score_sentences' option)
                sentence_scores, token_scores = score_sentences(
                    y_noisy, pred_probs, offsets, names, token_score_method=token_method,
                    sentence_score_method=sentence_method, tokens=tokens if surface else None)
            scored[(token_method, sentence_method, surface)] = sentence_scores, token_scores
        nested_probs = [pred_probs[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
        if pipeline == "reference":
            issues = cl_filter.find_label_issues(nested_labels, nested_probs)
        else:
            issues = tokenlq.find_label_issues(y_noisy, pred_probs, offsets)
    flagged = np.zeros(len(y_noisy), dtype=bool)
    for i, j in issues:
        flagged[offsets[i] + j] = True
    spans = tokenlq.find_span_issues(y_noisy, pred_probs, offsets, class_names=names,
                                     issues=[(int(i), int(j)) for i, j in issues])
    sentence_scores, token_scores = scored[BASELINE]
    first = sentence_scores + 1.0  # sentences without a finding after those with one
    best = spans.groupby("sentence")["score"].min()
    first[best.index.to_numpy(dtype=np.int64)] = best.to_numpy(dtype=float)
    scored[("self_confidence", "spans first", False)] = first, token_scores
    scored[("self_confidence", "entity product", False)] = (
        _entity_product(y_noisy, pred_probs, offsets, names, token_scores, sentence_scores),
        token_scores)
    for ranking, (sentence_scores, token_scores) in scored.items():
        for key, value in ranking_metrics(wrong, sentence_wrong, token_scores,
                                          sentence_scores).items():
            result[(*ranking, key)] = value
    span_hits = sum(bool(wrong[offsets[r.sentence] + r.start_token:offsets[r.sentence] + r.end_token].any())
                    for r in spans.itertuples())
    error_sentences_found = len({r.sentence for r in spans.itertuples()} &
                                set(np.flatnonzero(sentence_wrong).tolist()))
    for key in ("sentence AP", "sentence AUROC", "P@k sentences", "token AP", "token AUROC"):
        result[key] = result[(*BASELINE, key)]
    result.update({
        "issues P": (flagged & wrong).sum() / max(flagged.sum(), 1),
        "issues R": (flagged & wrong).sum() / max(wrong.sum(), 1),
        "spans P": span_hits / max(len(spans), 1),
        "spans R (sentences)": error_sentences_found / max(int(sentence_wrong.sum()), 1),
    })
    return result


PIPELINES = ("reference", "tokenlq crf", "tokenlq crf+encoder", "tokenlq crf+transformer")
# The fine-tuned transformer takes minutes per cross-validation: run it when asked for.
DEFAULT_PIPELINES = PIPELINES[:3]
# The results file's preamble (``--out``), rendered on the docs' benchmarks page.
NOTES = [
    "WNUT-17 alone: the only second public NER corpora reachable here with a licence that allows "
    "redistribution (Broad Twitter Corpus, wikigold; CC BY 4.0) may be fetched only into the "
    "read-only shared data folder, never into this repository, so no second corpus is benchmarked.",
    "Seconds: wall clock of the 5-fold cross-validation (scoring excluded). Peak MB: ru_maxrss "
    "of the run's own forked process as os.wait4 reports it, the largest peak resident set of "
    "that process and of its fold processes.",
]
# The reference CRF: plain features, trained to convergence-level L-BFGS (crfsuite's default
# algorithm) with an elastic net; these settings were tuned for it on WNUT-17 dev.
REFERENCE = CRFConfig(features="reference", surface=False, algorithm="lbfgs", c1=0.05, c2=0.01,
                      max_iterations=60)


def _probabilities(tokens, noisy, names, pipeline: str, seed: int, extra=((), ())) -> np.ndarray:
    """One pipeline's cross-validated probabilities; ``extra`` (sentences, labels) is training
    data only, as ``tokenlq audit --train`` gives it."""
    extra_sentences, extra_labels = extra
    if pipeline == "reference":
        return cross_val_pred_probs(tokens, noisy, names, folds=5, seed=seed, config=REFERENCE,
                                    extra_sentences=extra_sentences, extra_labels=extra_labels)
    return out_of_sample_probs(tokens, noisy, names, model=pipeline.split()[1], folds=5, seed=seed,
                               extra_sentences=extra_sentences, extra_labels=extra_labels)


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set (VmRSS) or its peak (VmHWM), in MB."""
    return int(Path("/proc/self/status").read_text().split(f"{field}:")[1].split()[0]) / 1024


def measured_probabilities(tokens, noisy, names, pipeline: str, seed: int, extra=((), ())):
    """``(pred_probs, seconds, peak_mb)`` of one cross-validation, run in a forked child process.

    ``peak_mb`` is the ``ru_maxrss`` that ``os.wait4`` reports for that child: the largest peak
    resident set of the child and of its fold processes. A forked child starts with this
    process's pages, so the figure includes them (the results file says how much that is)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "probs.npy"
        sys.stdout.flush(), sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: train, write the probabilities, leave without cleanup
            code = 1
            try:
                start = time.perf_counter()
                probs = _probabilities(tokens, noisy, names, pipeline, seed, extra)
                np.save(out, probs)
                (Path(tmp) / "seconds").write_text(repr(time.perf_counter() - start))
                code = 0
            except BaseException:  # noqa: BLE001 (reported, then the parent raises)
                traceback.print_exc()
            finally:
                sys.stdout.flush(), sys.stderr.flush()
                os._exit(code)
        _, status, usage = os.wait4(pid, 0)
        if status != 0:
            raise RuntimeError(f"the {pipeline!r} run failed (status {status})")
        seconds = float((Path(tmp) / "seconds").read_text())
        return np.load(out), seconds, usage.ru_maxrss / 1024


def cached_probabilities(cache, key: str, tokens, noisy, names, pipeline: str, seed: int,
                         extra=((), ())):
    """``measured_probabilities``, stored in ``cache/<key>.npz`` (with the class names, time and
    memory) when ``cache`` is a folder, and read from there on the next run."""
    path = Path(cache) / f"{key}.npz" if cache else None
    if path is not None and path.exists():
        stored = np.load(path)
        if list(stored["names"]) == list(names):
            return stored["pred_probs"], float(stored["seconds"]), float(stored["peak_mb"])
    probs, seconds, peak_mb = measured_probabilities(tokens, noisy, names, pipeline, seed, extra)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, pred_probs=probs, names=np.array(names), seconds=seconds,
                            peak_mb=peak_mb)
    return probs, seconds, peak_mb


def cache_key(data: str, pipeline: str, seed: int) -> str:
    """File name of one run in the cache: data (corpus, split, rate, error model), pipeline, seed."""
    return re.sub(r"[^\w.]+", "_", f"{data} {pipeline} seed{seed}".replace("%", "pct"))


def run(tokens, clean, noisy, names, pipeline: str, seed: int, *, cache=None, data: str = "",
        extra=((), ())):
    probs, seconds, peak_mb = cached_probabilities(cache, cache_key(data, pipeline, seed), tokens,
                                                   noisy, names, pipeline, seed, extra)
    result = metrics(clean, noisy, tokens, probs, names, pipeline)
    result["seconds"] = seconds
    result["peak MB"] = peak_mb
    return result


def report(rows, keys) -> list[str]:
    """Markdown table: one row per (data, pipeline), mean ± std over seeds of each key."""
    lines = ["| data | pipeline | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for (data, pipeline), results in rows.items():
        cells = []
        for key in keys:
            values = np.array([r[key] for r in results])
            digits = 0 if key == "peak MB" else 1 if key == "seconds" else 3
            cells.append(f"{values.mean():.{digits}f} ± {values.std():.{digits}f}" if len(values) > 1
                         else f"{values[0]:.{digits}f}")
        lines.append(f"| {data} | {pipeline} | " + " | ".join(cells) + " |")
    return lines


def rankings(rows) -> list[str]:
    """Markdown table of every ranking, per error model (rates pooled) and pipeline."""
    lines = ["| data (all rates) | pipeline | token score | sentence score | surface | sentence AP "
             "| Δ sentence AP | wins | P@k sentences | Δ P@k | token AP |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    pooled = {}
    for (data, pipeline), results in rows.items():
        pooled.setdefault((re.sub(r" \d+%", "", data), pipeline), []).extend(results)
    for (data, pipeline), results in pooled.items():
        for ranking in RANKINGS:
            def values(key, ranking=ranking):
                return np.array([r[(*ranking, key)] for r in results])
            gain = values("sentence AP") - values("sentence AP", BASELINE)
            gain_pk = values("P@k sentences") - values("P@k sentences", BASELINE)
            lines.append(
                f"| {data} | {pipeline} | {ranking[0]} | {ranking[1]} | {'yes' if ranking[2] else 'no'} "
                f"| {values('sentence AP').mean():.3f} | {gain.mean():+.3f} ± {gain.std():.3f} "
                f"| {(gain > 1e-9).sum()}/{len(gain)} | {values('P@k sentences').mean():.3f} "
                f"| {gain_pk.mean():+.3f} | {values('token AP').mean():.3f} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test", choices=["train", "dev", "test"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rates", nargs="+", type=float, default=[0.01, 0.03, 0.10])
    parser.add_argument("--no-nessie", action="store_true")
    parser.add_argument("--errors", nargs="+", default=["uniform"],
                        choices=["uniform", *PROFILES],
                        help="error models: uniform (kinds in equal shares, uniform wrong types) "
                             "and/or realistic profiles (PROFILES)")
    parser.add_argument("--pipelines", nargs="+", default=list(DEFAULT_PIPELINES), choices=PIPELINES)
    parser.add_argument("--with-train", action="store_true",
                        help="inject the errors into the train split and --split together (so a "
                             "systematic error spans both) and give the noisy train split to "
                             "every pipeline as training-only data, as `tokenlq audit --train` "
                             "does; only --split is scored")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder keeping each run's pred_probs (and time, memory), reused "
                             "when the same data, error model, rate, seed and pipeline come again")
    parser.add_argument("--out", type=Path, default=None, help="also write the results (Markdown)")
    parser.add_argument("--append", action="store_true",
                        help="add the results to the end of --out, under the command line")
    args = parser.parse_args()
    path = DATA / "wnut17" / f"{args.split}.conll"
    if not path.exists():
        print(f"skipped: {path} is absent (the shared data folder is not beside this checkout)")
        return 0
    corpus = read_corpus(path)
    train = read_corpus(DATA / "wnut17" / "train.conll") if args.with_train else None
    if train is not None and args.split == "train":
        parser.error("--with-train needs --split dev or test")
    base_mb = _rss_mb()  # what a forked run starts with (runs fork from here, with the corpus)
    rows = {}
    for errors in args.errors:
        for rate in args.rates:
            for seed in args.seeds:
                tokens = corpus.tokens + (train.tokens if train is not None else [])
                labels = corpus.labels + (train.labels if train is not None else [])
                noisy = (inject(labels, rate, seed) if errors == "uniform" else
                         inject_realistic(tokens, labels, rate, seed, errors))
                names = tokenlq.io.Corpus(tokens, noisy).class_names(
                    extra={t for s in labels for t in s})
                extra = (train.tokens, noisy[len(corpus.tokens):]) if train is not None else ((), ())
                noisy = noisy[:len(corpus.tokens)]
                data = f"WNUT-17 {args.split} {rate:.0%}"
                data += "" if errors == "uniform" else f" {errors}"
                data += " + noisy train" if train is not None else ""
                for pipeline in args.pipelines:
                    rows.setdefault((data, pipeline), []).append(
                        run(corpus.tokens, corpus.labels, noisy, names, pipeline, seed,
                            cache=args.cache, data=data, extra=extra))
                    print(f"done: {data}, {pipeline}, seed {seed}", file=sys.stderr, flush=True)
    nessie = DATA / "nessie" / "easy_span.conll"
    if not args.no_nessie and nessie.exists():
        lines = [line.rstrip("\n").split("\t") for line in nessie.read_text(encoding="utf-8").splitlines()]
        tokens, gold, noisy, s_t, s_g, s_n = [], [], [], [], [], []
        for fields in lines + [[""]]:
            if len(fields) < 3 or not fields[0]:
                if s_t:
                    tokens.append(s_t), gold.append(s_g), noisy.append(s_n)
                s_t, s_g, s_n = [], [], []
                continue
            s_t.append(fields[0]), s_g.append(fields[1]), s_n.append(fields[2])
        names = tokenlq.io.Corpus(tokens, noisy).class_names(extra={t for s in gold for t in s})
        for pipeline in args.pipelines:
            rows[("nessie easy_span", pipeline)] = [
                run(tokens, gold, noisy, names, pipeline, s, cache=args.cache, data="nessie easy_span")
                for s in args.seeds]
    keys = ["sentence AP", "sentence AUROC", "P@k sentences", "token AP", "token AUROC",
            "issues P", "issues R", "spans P", "spans R (sentences)", "seconds", "peak MB"]
    out = report(rows, keys)
    out += ["", "Sentence rankings (issue 16, item 4): every row of RANKINGS, over every rate and seed "
            "of one error model; Δ is the paired difference to the same run ranked by the worst "
            "token's self-confidence on the model's probabilities alone (cleanlab's default), mean "
            "± std over the runs; wins counts the runs where it is higher (by more than 1e-9). Surface: the "
            "probabilities blended with the labels of the same word elsewhere in the corpus.", ""]
    out += rankings(rows)
    gains = []
    for (data, pipeline), results in rows.items():
        if pipeline != "reference" and (data, "reference") in rows:
            ours = np.mean([r["sentence AP"] for r in results])
            ref = np.mean([r["sentence AP"] for r in rows[(data, "reference")]])
            gains.append(f"  {data}, {pipeline}: {ref:.3f} -> {ours:.3f} ({(ours / ref - 1):+.0%})")
    if gains:
        out += ["", "Sentence AP, relative gain of tokenlq over the reference:", "", *gains]
    print("\n".join(out))
    if args.out:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        command = shlex.join(["bench/detection.py", *sys.argv[1:]])
        machine = f"{datetime.date.today()}, {os.cpu_count()} cores, {int(ram)} GB RAM"
        if args.append and args.out.exists():
            text = args.out.read_text(encoding="utf-8").rstrip("\n")
            text += "\n\n" + "\n".join([f"## {command} ({machine})", "", *out]) + "\n"
        else:
            text = "\n".join([f"# {command} ({machine})", "", *NOTES,
                              f"A forked run starts with the pages of the bench process, "
                              f"{base_mb:.0f} MB resident here (libraries and the corpus), and "
                              "they count in its peak MB.", "", *out]) + "\n"
        args.out.write_text(text, encoding="utf-8")
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
