"""Speed and memory of the tokenlq core, side by side with cleanlab 2.9.0 in one process.

Data: synthetic CoNLL-like corpora (fixed seed): sentence lengths uniform in 5..40, K = 9 BIO
classes with a CoNLL-like prior (O ~ 83%) or K = 37 (18 entity types), 5% of given labels flipped,
P ~ Dirichlet(0.3 + 12 e_c) with c the true class with probability 0.92, else a random class.

Times are process CPU seconds per call, best of 3 runs of a loop lasting at least 0.2 s. Memory is the peak of tracemalloc (which sees numpy's
buffers) during the call above what was allocated before it, measured in a separate run.
cleanlab runs with n_jobs=1 (its fastest CPU configuration at these K; the pool only adds cost).
The tables are printed and written to ``--out`` (bench/results/core.md by default), which the
documentation's benchmark pages include. About 7 minutes on 2 cores with the defaults.

Usage: python bench/core.py [--sizes 1e4 1e5 1e6] [--classes 9 37] [--big 1e7] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

import tokenlq

try:
    import cleanlab
    from cleanlab.token_classification import filter as cl_filter
    from cleanlab.token_classification import rank as cl_rank
except ImportError as err:  # pragma: no cover
    raise SystemExit("bench/core.py needs the bench extra: pip install '.[bench]'") from err

RESULTS = Path(__file__).resolve().parent / "results" / "core.md"


def make_corpus(n_tokens: int, n_classes: int, seed: int = 0):
    """Flat labels (n,), pred_probs (n, K), offsets (N+1,)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(5, 41, n_tokens // 5 + 10)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_tokens) + 1]
    lengths[-1] -= lengths.sum() - n_tokens
    if lengths[-1] <= 0:
        lengths = lengths[:-1]
        lengths[-1] += n_tokens - lengths.sum()
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    prior = np.full(n_classes, 0.17 / (n_classes - 1))
    prior[0] = 0.83
    truth = rng.choice(n_classes, n_tokens, p=prior)
    labels = truth.copy()
    flip = rng.random(n_tokens) < 0.05
    labels[flip] = (truth[flip] + rng.integers(1, n_classes, int(flip.sum()))) % n_classes
    peak = np.where(rng.random(n_tokens) < 0.92, truth, rng.integers(0, n_classes, n_tokens))
    pred_probs = rng.standard_gamma(0.3, size=(n_tokens, n_classes))
    pred_probs[np.arange(n_tokens), peak] += rng.standard_gamma(12.0, size=n_tokens)
    pred_probs /= pred_probs.sum(axis=1, keepdims=True)
    return labels, pred_probs, offsets


def nested(labels, pred_probs, offsets):
    bounds = list(zip(offsets[:-1].tolist(), offsets[1:].tolist()))
    return [labels[a:b].tolist() for a, b in bounds], [pred_probs[a:b] for a, b in bounds]


def cpu_time(func, repeat: int = 3) -> float:
    """Best of ``repeat`` CPU-time measurements, each looping ``func`` for at least 0.2 s."""
    start = time.process_time()
    func()
    once = time.process_time() - start
    number = max(1, int(0.2 / max(once, 1e-6)))
    best = np.inf
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        for _ in range(number):
            func()
        best = min(best, (time.process_time() - start) / number)
    return best


def peak_memory(func) -> float:
    """Peak bytes allocated during ``func`` above what was allocated before it (MB)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    result = func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del result
    return (peak - before) / 1e6


def run(n_tokens: int, n_classes: int, repeat: int):
    labels, pred_probs, offsets = make_corpus(n_tokens, n_classes)
    nl, npp = nested(labels, pred_probs, offsets)
    calls = {
        "scores, min": (
            lambda: tokenlq.get_label_quality_scores(nl, npp),
            lambda: tokenlq.get_label_quality_scores(labels, pred_probs, offsets),
            lambda: cl_rank.get_label_quality_scores(nl, npp),
        ),
        "scores, softmin": (
            lambda: tokenlq.get_label_quality_scores(nl, npp, sentence_score_method="softmin"),
            lambda: tokenlq.get_label_quality_scores(labels, pred_probs, offsets,
                                                     sentence_score_method="softmin"),
            lambda: cl_rank.get_label_quality_scores(nl, npp, sentence_score_method="softmin"),
        ),
        "find_label_issues": (
            lambda: tokenlq.find_label_issues(nl, npp),
            lambda: tokenlq.find_label_issues(labels, pred_probs, offsets),
            lambda: cl_filter.find_label_issues(nl, npp, n_jobs=1),
        ),
    }
    one_pass = cpu_time(lambda: pred_probs.max(axis=1), repeat)
    rows = []
    for name, (ours_nested, ours_flat, theirs) in calls.items():
        t_ref = cpu_time(theirs, repeat)
        t_nested = cpu_time(ours_nested, repeat)
        t_flat = cpu_time(ours_flat, repeat)
        m_ref = peak_memory(theirs)
        m_flat = peak_memory(ours_flat)
        rows.append((name, t_ref, t_nested, t_flat, t_ref / t_nested, t_ref / t_flat,
                     t_flat / one_pass, m_ref, m_flat))
    # Same results, checked on the spot.
    assert tokenlq.find_label_issues(labels, pred_probs, offsets) == \
        cl_filter.find_label_issues(nl, npp, n_jobs=1)
    return len(offsets) - 1, one_pass, rows


def big(n_tokens: int) -> list[str]:
    """Markdown lines of the tokenlq-only table at ``n_tokens`` tokens, flat input."""
    labels, pred_probs, offsets = make_corpus(n_tokens, 9, seed=1)
    size = pred_probs.nbytes / 1e6
    t = cpu_time(lambda: tokenlq.get_label_quality_scores(labels, pred_probs, offsets), 1)
    m = peak_memory(lambda: tokenlq.get_label_quality_scores(labels, pred_probs, offsets))
    t_issues = cpu_time(lambda: tokenlq.find_label_issues(labels, pred_probs, offsets), 1)
    m_issues = peak_memory(lambda: tokenlq.find_label_issues(labels, pred_probs, offsets))
    return [f"### {n_tokens:.0e} tokens, K = 9 (pred_probs {size:.0f} MB), tokenlq only, flat input",
            "",
            "| call | CPU s | peak extra MB | peak / size of pred_probs |",
            "|---|---|---|---|",
            f"| get_label_quality_scores, min | {t:.3f} | {m:.0f} | {m / size:.3f} |",
            f"| find_label_issues | {t_issues:.3f} | {m_issues:.0f} | {m_issues / size:.3f} |"]


def _machine() -> str:
    """Cores and RAM of this machine, for the results file's header."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {int(ram)} GB RAM"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e4, 1e5, 1e6])
    parser.add_argument("--classes", nargs="+", type=int, default=[9, 37])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big", type=float, default=1e7, help="tokenlq-only size; 0 to skip")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (Markdown)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    lines = ["| K | tokens | sentences | call | cleanlab CPU s | tokenlq nested CPU s | tokenlq flat CPU s "
             "| speed-up nested | speed-up flat | flat / one pass | cleanlab peak MB | tokenlq flat peak MB "
             "| memory ratio |",
             "|---" * 13 + "|"]
    print(*lines, sep="\n")
    for n_classes in args.classes:
        for size in args.sizes:
            n_sentences, one_pass, rows = run(int(size), n_classes, args.repeat)
            for name, t_ref, t_nested, t_flat, s_nested, s_flat, vs_pass, m_ref, m_flat in rows:
                lines.append(f"| {n_classes} | {int(size):,} | {n_sentences:,} | {name} | {t_ref:.4f} | "
                             f"{t_nested:.4f} | {t_flat:.4f} | {s_nested:.0f}x | {s_flat:.0f}x | "
                             f"{vs_pass:.2f} | {m_ref:.1f} | {m_flat:.1f} | "
                             f"{m_flat / max(m_ref, 1e-9):.2f} |")
                print(lines[-1], flush=True)
    lines += ["", "'flat / one pass' divides tokenlq's flat time by the time of pred_probs.max(axis=1)."]
    if args.big:
        lines += ["", *big(int(args.big))]
        print(*lines[-7:], sep="\n")
    # Written once everything has run, so the file never holds a partial table.
    header = (f"# bench/core.py, {datetime.date.today()}, {_machine()}, cleanlab {cleanlab.__version__} "
              "(a shared VM: cleanlab's own times vary by about ±20% between runs)")
    args.out.write_text("\n".join([header, "", *lines, ""]), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
