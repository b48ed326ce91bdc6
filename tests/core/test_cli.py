"""The `tokenlq` command: the demo runs the core end to end and finds the injected errors; bad
input gets one line naming the problem (status 2), a bug its traceback."""

import re
import subprocess
import sys
import warnings

import pytest

from tokenlq import TokenLQWarning
from tokenlq.cli import build_parser, main


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


# ------------------------------------------------------------------- bad input: one line, exit 2

TWO = "Anna\tB-PER\nlives\tO\n\nBob\tB-PER\nruns\tO\n"
FORMATS = ("a .npz archive of arrays pred_probs (n, K), offsets (N+1,) and class_names (K,), as "
           "tokenlq audit writes it (pred_probs.npz; tokenlq.io.write_pred_probs)")


def _files(folder):
    """The files the cases below name, in ``folder``."""
    import numpy as np

    (folder / "two.conll").write_text(TWO)
    (folder / "one.conll").write_text("Anna\tB-PER\n")
    (folder / "amb.conll").write_text("Anna B-PER extra junk\tX\nlives\tO\n")
    (folder / "mixed.conll").write_text("Anna\tB-PER\nlives O extra\n")
    (folder / "probs.csv").write_text("O,B-PER\n0.1,0.9\n")
    (folder / "adir").mkdir()
    np.save(folder / "probs.npy", np.full((4, 2), 0.5))
    np.savez(folder / "bare.npz", np.full((4, 2), 0.5))


CLI_CASES = {
    "too many folds": (["two.conll", "--model", "crf"],
                       "2 sentences cannot make 5 folds; use --folds 2 or fewer"),
    "one fold": (["two.conll", "--model", "crf", "--folds", "1"],
                 "folds 1 is below 2; use --folds 2 or more"),
    "one sentence": (["one.conll", "--model", "crf", "--folds", "2"],
                     "one.conll: cross-validation needs at least 2 sentences (one per fold); got 1"),
    "negative seed": (["two.conll", "--model", "crf", "--folds", "2", "--seed", "-1"],
                      "seed -1 is below 0; use --seed 0 or more"),
    "negative temperature": (["two.conll", "--model", "crf", "--folds", "2", "--temperature", "-1"],
                             "temperature -1.0 is below 0; use --temperature 0 or more"),
    "csv probabilities": (["two.conll", "--pred-probs", "probs.csv"],
                          "probs.csv: a text file (CSV, JSON, ...), not a .npz archive; "
                          f"expected {FORMATS}"),
    "npy probabilities": (["two.conll", "--pred-probs", "probs.npy"],
                          f"probs.npy: a .npy file holds a single array; expected {FORMATS}"),
    "npz without the arrays": (["two.conll", "--pred-probs", "bare.npz"],
                               "bare.npz: no array pred_probs, offsets, class_names in the archive (it "
                               f"holds arr_0); expected {FORMATS}"),
    "directory of probabilities": (["two.conll", "--pred-probs", "adir"],
                                   f"adir: is a directory; expected {FORMATS}"),
    "directory as data": (["adir"], "adir: is a directory; expected a CoNLL, JSONL or Label Studio "
                                    "JSON export file"),
    "missing data": (["absent.conll"], "absent.conll: no such file"),
    "ambiguous CoNLL line": (["amb.conll"],
                             "amb.conll:1: ambiguous columns in 'Anna B-PER extra junk\\tX': the line "
                             "is tab-separated but column 1 'Anna B-PER extra junk' holds spaces (one "
                             "token, or a token and a label?); separate every column by a tab, or every "
                             "column by spaces"),
    "columns change": (["mixed.conll"],
                       "mixed.conll:2: 3 columns in 'lives O extra', but line 1 has 2; the label is "
                       "the last column, so every token line needs the same columns"),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_input_is_one_line_naming_the_problem(case, tmp_path, monkeypatch, capsys):
    argv, message = CLI_CASES[case]
    _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["audit", *argv, "--out", "report"]) == 2
    err = capsys.readouterr().err
    assert err == f"tokenlq audit: {message}\n"
    assert "pickle" not in err and "cross_val_pred_probs" not in err


def _probs_for(folder, corpus_path):
    import numpy as np

    from tokenlq.io import read_corpus, write_pred_probs

    corpus = read_corpus(corpus_path)
    names = corpus.class_names()
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in corpus.tokens])])
    probs = np.full((corpus.n_tokens, len(names)), 0.1 / (len(names) - 1))
    index = {name: k for k, name in enumerate(names)}
    for row, label in enumerate(label for sentence in corpus.labels for label in sentence):
        probs[row] = 0.1 / (len(names) - 1)
        probs[row, index[label]] = 0.9
    write_pred_probs(folder / "probs.npz", probs, offsets, names)
    return folder / "probs.npz"


def test_report_folder_that_is_a_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "two.conll").write_text(TWO)
    (tmp_path / "afile").write_text("")
    probs = _probs_for(tmp_path, tmp_path / "two.conll")
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "two.conll", "--pred-probs", str(probs), "--out", "afile"]) == 2
    assert capsys.readouterr().err == "tokenlq audit: --out afile: exists and is not a folder\n"


def test_missing_extra_says_what_to_install(tmp_path, monkeypatch, capsys):
    from tokenlq import encoder

    monkeypatch.setattr(encoder, "available", lambda: False)
    (tmp_path / "two.conll").write_text(TWO)
    monkeypatch.chdir(tmp_path)
    assert main(["audit", "two.conll", "--model", "crf+encoder", "--folds", "2"]) == 2
    assert capsys.readouterr().err == ("tokenlq audit: model 'crf+encoder' needs the 'encoder' extra: "
                                       "pip install 'tokenlq[encoder]'; use --model crf\n")


def test_three_or_more_columns_say_which_is_the_label(tmp_path, monkeypatch, capsys):
    (tmp_path / "four.conll").write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
                                         "Peter NNP B-NP B-PER\nruns VBZ B-VP O\n")
    probs = _probs_for(tmp_path, tmp_path / "four.conll")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TokenLQWarning)  # classes too small to search: fine here
        assert main(["audit", "four.conll", "--pred-probs", str(probs), "--out", "report"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("four.conll: tokens from column 1, labels from column 4 of 4 (the last)\n")
    report = (tmp_path / "report" / "report.html").read_text()
    assert "columns: tokens from column 1, labels from column 4 of 4 (the last)" in report


# ------------------------------------------------------------------- a bug is not the user's fault

@pytest.mark.parametrize("error", [ValueError("an internal invariant broke"), KeyError("B-PER")])
def test_a_bug_inside_audit_is_not_reported_as_bad_input(error, tmp_path, monkeypatch, capsys):
    import tokenlq.audit

    def broken(*args, **kwargs):
        raise error

    (tmp_path / "two.conll").write_text(TWO)
    probs = _probs_for(tmp_path, tmp_path / "two.conll")
    monkeypatch.setattr(tokenlq.audit, "find_label_issues", broken)
    with pytest.raises(type(error)):
        main(["audit", str(tmp_path / "two.conll"), "--pred-probs", str(probs),
              "--out", str(tmp_path / "report")])
    assert "tokenlq audit:" not in capsys.readouterr().err


def test_a_bug_ends_with_a_traceback_and_status_1(tmp_path):
    (tmp_path / "two.conll").write_text(TWO)
    probs = _probs_for(tmp_path, tmp_path / "two.conll")
    code = ("import sys, tokenlq.audit\n"
            "def broken(*a, **k):\n    raise ValueError('an internal invariant broke')\n"
            "tokenlq.audit.find_label_issues = broken\n"
            "from tokenlq.cli import main\n"
            f"sys.exit(main(['audit', {str(tmp_path / 'two.conll')!r}, '--pred-probs', {str(probs)!r}, "
            f"'--out', {str(tmp_path / 'report')!r}]))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 1
    assert "Traceback" in run.stderr and "ValueError: an internal invariant broke" in run.stderr
    assert "tokenlq audit:" not in run.stderr


@pytest.mark.parametrize("argv, message", [
    (["--sentences", "0"], "n_sentences 0 is below 1; use --sentences 1 or more"),
    (["--error-rate", "3"], "error_rate 3.0 is above 1; use --error-rate 1 or less"),
])
def test_demo_options_out_of_range(argv, message, capsys):
    assert main(["demo", *argv]) == 2
    assert capsys.readouterr().err == f"tokenlq demo: {message}\n"


@pytest.mark.parametrize("minutes", ["-1", "nan", "soon"])
def test_a_bad_fine_tuning_budget_is_refused_before_any_work(minutes, capsys):
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["audit", "data.conll", "--budget-minutes", minutes])
    assert done.value.code == 2
    assert "--budget-minutes: must be a number of minutes, 0 or more" in capsys.readouterr().err
