"""Scores and label issues over 1e8 tokens with K = 9 classes from files on disk, in chunks.

Writes a synthetic corpus (labels uint8, pred_probs float32: 3.6 GB, 8% label noise) to a
temporary folder chunk by chunk, then runs `tokenlq.chunked` in a fresh process and reports
time and peak resident memory of that process (VmHWM). The in-memory functions would need
the whole (n, K) array: 3.6 GB as float32 before any working copy. The report is printed and
written to ``--out`` (bench/results/out_of_core.md by default), which the documentation's
benchmark pages include. About 3 minutes on 2 cores with the defaults.

Usage: python bench/out_of_core.py [--tokens 100000000] [--chunk 2000000] [--dir /tmp] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

K = 9
RESULTS = Path(__file__).resolve().parent / "results" / "out_of_core.md"


def write(folder: Path, n_tokens: int, seed: int = 0, block: int = 5_000_000):
    rng = np.random.default_rng(seed)
    lengths = []
    total = 0
    while total < n_tokens:
        chunk = rng.integers(5, 36, 1_000_000)
        lengths.append(chunk)
        total += int(chunk.sum())
    lengths = np.concatenate(lengths)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    offsets = offsets[offsets <= n_tokens]
    if offsets[-1] != n_tokens:
        offsets = np.append(offsets, n_tokens)
    np.save(folder / "offsets.npy", offsets)
    labels = np.lib.format.open_memmap(folder / "labels.npy", mode="w+", dtype=np.uint8, shape=(n_tokens,))
    probs = np.lib.format.open_memmap(folder / "probs.npy", mode="w+", dtype=np.float32,
                                      shape=(n_tokens, K))
    prior = [0.6] + [0.4 / (K - 1)] * (K - 1)
    for a in range(0, n_tokens, block):
        b = min(a + block, n_tokens)
        truth = rng.choice(K, size=b - a, p=prior)
        noisy = rng.random(b - a) < 0.08
        labels[a:b] = np.where(noisy, rng.integers(0, K, b - a), truth)
        rows = rng.gamma(0.3, size=(b - a, K)).astype(np.float32)
        rows /= rows.sum(axis=1, keepdims=True)
        rows[np.arange(b - a), truth] += rng.uniform(0.5, 3, b - a).astype(np.float32)
        rows /= rows.sum(axis=1, keepdims=True)
        probs[a:b] = rows
    labels.flush()
    probs.flush()
    del labels, probs


def run(folder: str, chunk: int) -> dict:
    from tokenlq.chunked import find_label_issues_chunked, label_quality_scores_chunked

    folder = Path(folder)
    offsets = np.load(folder / "offsets.npy")
    labels, probs = str(folder / "labels.npy"), str(folder / "probs.npy")
    start = time.perf_counter()
    issues = find_label_issues_chunked(labels, probs, offsets, chunk_tokens=chunk, renormalize=True)
    found = time.perf_counter() - start
    start = time.perf_counter()
    scores = label_quality_scores_chunked(labels, probs, offsets, chunk_tokens=chunk, renormalize=True)
    scored = time.perf_counter() - start
    return {"tokens": int(offsets[-1]), "sentences": len(offsets) - 1, "issues": len(issues),
            "find_label_issues_s": round(found, 1), "scores_s": round(scored, 1),
            "sentence_scores_min": float(scores.min()),
            "peak_rss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM). Not ru_maxrss: Linux carries that over
    exec from the parent, which wrote the files (its mapped pages counted)."""
    status = Path("/proc/self/status").read_text()
    return round(int(status.split("VmHWM:")[1].split()[0]) / 1024, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000_000)
    parser.add_argument("--chunk", type=int, default=2_000_000)
    parser.add_argument("--dir", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (Markdown)")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # the measured child process
    args = parser.parse_args()
    if args.run:
        print(json.dumps(run(args.run, args.chunk)))
        return 0
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        start = time.perf_counter()
        write(Path(tmp), args.tokens)
        lines = [f"wrote {args.tokens:,} tokens x {K} classes (float32) in "
                 f"{time.perf_counter() - start:.0f} s"]
        print(lines[-1], flush=True)
        done = subprocess.run([sys.executable, __file__, "--run", tmp, "--chunk", str(args.chunk)],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    chunk_mb = args.chunk * (K * 4 + 1) / 2**20
    lines += [f"tokens {result['tokens']:,}, sentences {result['sentences']:,}, chunk {args.chunk:,} "
              f"tokens ({chunk_mb:.0f} MB of input)",
              f"find_label_issues_chunked: {result['find_label_issues_s']} s, {result['issues']:,} issues",
              f"label_quality_scores_chunked: {result['scores_s']} s",
              f"peak resident memory of the scoring process: {result['peak_rss_mb']} MB "
              f"(the probabilities alone: {result['tokens'] * K * 4 / 2**20:,.0f} MB)"]
    print(*lines[1:], sep="\n")
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    header = f"# bench/out_of_core.py, {datetime.date.today()}, {os.cpu_count()} cores, {int(ram)} GB RAM"
    args.out.write_text("\n".join([header, "", "```", *lines, "```", ""]), encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
