"""Wall time of `tokenlq audit` on 20,000 sentences with 5 folds, for each embedded model.

The corpus is WNUT-17 (train, dev and test from ../shared/data/wnut17) repeated up to 20,000
sentences (about 370,000 tokens), written as CoNLL; each model runs the real command in a
subprocess. Goals on the 2-core machine: 3 minutes with ``--model crf``, 15 minutes with
``--model crf+encoder`` (the encoder extra).

Usage: python bench/audit_speed.py [--sentences 20000] [--models crf crf+encoder]
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenlq.io import read_corpus

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wnut17"
GOALS = {"crf": 180, "crf+encoder": 900}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20000)
    parser.add_argument("--models", nargs="+", default=["crf", "crf+encoder"])
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
        print("| model | sentences | tokens | wall s | goal s |")
        print("|---|---|---|---|---|")
        for model in args.models:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "tokenlq.cli", "audit", str(path), "--model", model,
                            "--out", str(Path(tmp) / model)], check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            print(f"| {model} | {len(chosen):,} | {tokens:,} | {seconds:.0f} | {GOALS.get(model, '')} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
