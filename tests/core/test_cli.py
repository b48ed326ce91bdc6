"""The `tokenlq` command: the demo runs the core end to end and finds the injected errors."""

import re
import subprocess
import sys

from tokenlq.cli import main


def test_demo_finds_most_injected_errors(capsys):
    assert main(["demo", "--sentences", "400", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    precision, recall = map(float, re.search(r"precision (\d\.\d+), recall (\d\.\d+)", out).groups())
    assert precision > 0.6 and recall > 0.6
    assert "Per-class summary" in out and ">>" in out  # plain markers: not a terminal


def test_version_and_usage_errors():
    version = subprocess.run([sys.executable, "-m", "tokenlq.cli", "--version"], capture_output=True,
                             text=True)
    assert version.returncode == 0 and version.stdout.startswith("tokenlq ")
    bad = subprocess.run([sys.executable, "-m", "tokenlq.cli", "nonsense"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
