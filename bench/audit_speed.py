"""Wall time of `tokenlq audit` on 20,000 sentences with 5 folds, for each embedded model.

The corpus is WNUT-17 (train, dev and test from ../shared/data/wnut17) repeated up to 20,000
sentences (about 360,000 tokens), written as CoNLL; each model runs the real command in a
subprocess (``crf+encoder`` needs the encoder extra). The table is printed and written to
``--out`` (bench/results/audit_speed.md by default), which the documentation's benchmark pages
include. About 9 to 12 minutes on 2 cores with both models.

Usage: python bench/audit_speed.py [--sentences 20000] [--models crf crf+encoder] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenlq.io import read_corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wnut17"
RESULTS = Path(__file__).resolve().parent / "results" / "audit_speed.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20000)
    parser.add_argument("--models", nargs="+", default=["crf", "crf+encoder"])
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file (Markdown)")
    args = parser.parse_args()
    files = [DATA / f"{split}.conll" for split in ("train", "dev", "test")]
    if not all(f.exists() for f in files):
        print(f"skipped: {DATA} is absent (the shared data folder is not beside this checkout)")
        return 0
    corpora = [read_corpus(f) for f in files]
    pairs = [(w, t) for c in corpora for w, t in zip(c.tokens, c.labels)]
    chosen = list(itertools.islice(itertools.cycle(pairs), args.sentences))
    tokens = sum(len(w) for w, _ in chosen)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.conll"
        path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(*pair)) for pair in chosen)
                        + "\n", encoding="utf-8")
        lines = ["| model | sentences | tokens | folds | wall s |", "|---|---|---|---|---|"]
        print(*lines, sep="\n")
        for model in args.models:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tokenlq.cli", "audit", str(path), "--model", model,
                            "--out", str(Path(tmp) / model)], check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            lines.append(f"| {model} | {len(chosen):,} | {tokens:,} | 5 | {seconds:.0f} |")
            print(lines[-1], flush=True)
    # Written once every model has run, so the file never holds a partial table.
    header = f"# bench/audit_speed.py, {datetime.date.today()}, {os.cpu_count()} cores"
    args.out.write_text("\n".join([header, "", *lines, ""]), encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
