"""display_issues, common_label_issues, filter_by_token, class tables."""

import io

import numpy as np
import pandas as pd
import pytest

from tokenlq import class_summary, common_label_issues, display_issues, filter_by_token, format_issues
from tokenlq.summary import get_sentence, label_confusions

WORDS = [["Hello", "World"], ["#I", "love", "Cleanlab"], ["A"]]
LABELS = [[0, 0], [1, 1, 1], [2]]
PROBS = [np.array([[0.9, 0.1, 0], [0.6, 0.2, 0.2]]),
         np.array([[0.1, 0, 0.9], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]]),
         np.array([[0.1, 0.1, 0.8]])]
NAMES = ["A", "B", "C"]


def test_get_sentence_rule():
    tokens = ["He", "'s", "(", "in", "New", "York", ")", ",", "U.S.", "-", "said", "."]
    assert get_sentence(tokens) == "He's (in New York), U.S. - said."
    assert get_sentence(["Some", "reason", "(", "Explanation", ")"]) == "Some reason (Explanation)"
    assert get_sentence(["wait", "..."]) == "wait ..."


def test_highlights_the_token_at_its_position_only():
    text = format_issues([(0, 2)], [["I", "think", "I", "know"]])
    assert "I think >>I<< know" in text


def test_ansi_style_colours_one_token():
    text = format_issues([(0, 0)], [["I", "think", "I"]], style="ansi")
    assert "\x1b[31mI\x1b[0m think I" in text


def test_plain_output_when_not_a_terminal():
    out = io.StringIO()
    display_issues([(1, 0)], WORDS, labels=LABELS, pred_probs=PROBS, class_names=NAMES, file=out)
    text = out.getvalue()
    assert "\x1b[" not in text
    assert text.splitlines()[:5] == [
        "Sentence index: 1, Token index: 0",
        "Token: #I",
        "Given label: B, predicted label according to provided pred_probs: C",
        "----",
        ">>#I<< love Cleanlab",
    ]


def test_html_escapes_user_text():
    text = format_issues([(0, 1)], [["<b>", "<script>alert(1)</script>"]], style="html")
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</mark>" in text


def test_preamble_without_class_names(capsys):
    display_issues([(1, 0)], WORDS, labels=LABELS, style="plain")
    assert "integer index" in capsys.readouterr().out


def test_top_zero_none_and_empty(capsys):
    issues = [(0, 0), (0, 1), (1, 0)]
    display_issues(issues, WORDS, top=0, style="plain")
    assert capsys.readouterr().out == ""
    display_issues([], WORDS, style="plain")
    assert capsys.readouterr().out == ""
    display_issues(issues, WORDS, top=None, style="plain")
    assert capsys.readouterr().out.count("Sentence index") == 3
    display_issues(issues, WORDS, top=2, style="plain")
    assert capsys.readouterr().out.count("Sentence index") == 2


def test_excluded_issues_do_not_count_towards_top(capsys):
    issues = [(1, 0), (0, 0)]  # (1, 0): given 1, predicted 2
    display_issues(issues, WORDS, labels=LABELS, pred_probs=PROBS, exclude=[(1, 2)], top=1, style="plain")
    out = capsys.readouterr().out
    assert "Sentence index: 0, Token index: 0" in out and "Sentence index: 1" not in out


def test_exclude_needs_labels_and_probabilities():
    with pytest.raises(ValueError, match="needs both 'labels' and 'pred_probs'"):
        display_issues([(1, 0)], WORDS, exclude=[(1, 2)])


def test_sentence_mode_and_pair_like_items(capsys):
    display_issues(np.array([1, 0]), WORDS, style="plain")
    assert capsys.readouterr().out.splitlines() == ["Sentence issue: #I love Cleanlab",
                                                    "Sentence issue: Hello World"]
    display_issues([[1, 0]], WORDS, style="plain")  # a list of lists works too
    assert "Token: #I" in capsys.readouterr().out


def test_issue_out_of_range():
    with pytest.raises(ValueError, match="names token 5 of sentence 0"):
        display_issues([(0, 5)], WORDS)


def test_common_label_issues_counts_and_order(capsys):
    issues = [(0, 1), (1, 0), (0, 1), (1, 2), (1, 0), (1, 0)]
    tokens = [["x", "Paris"], ["Rome", "y", "paris"]]
    df = common_label_issues(issues, tokens)
    assert df.columns.tolist() == ["token", "num_label_issues"]
    assert df.values.tolist() == [["Rome", 3], ["Paris", 2], ["paris", 1]]
    printed = capsys.readouterr().out
    assert printed.index("Token 'Rome'") < printed.index("Token 'Paris'")
    df = common_label_issues(issues, tokens, case_sensitive=False, verbose=False)
    assert df.values.tolist() == [["paris", 3], ["rome", 3]]
    assert capsys.readouterr().out == ""


def test_common_label_issues_with_labels(capsys):
    df = common_label_issues([(1, 0), (1, 0), (0, 1)], WORDS, labels=LABELS, pred_probs=PROBS,
                             class_names=NAMES)
    assert df.columns.tolist() == ["token", "given_label", "predicted_label", "num_label_issues"]
    assert df.values.tolist() == [["#I", "B", "C", 2], ["World", "A", "A", 1]]
    out = capsys.readouterr().out
    assert "labeled as class `B` but predicted to actually be class `C` 2 times" in out
    excluded = common_label_issues([(1, 0), (0, 1)], WORDS, labels=LABELS, pred_probs=PROBS,
                                   exclude=[(1, 2)], verbose=False)
    assert excluded["token"].tolist() == ["World"]  # tokens with only excluded swaps are dropped


def test_common_label_issues_empty():
    df = common_label_issues([], WORDS, labels=LABELS, pred_probs=PROBS)
    assert isinstance(df, pd.DataFrame) and df.empty
    assert df.columns.tolist() == ["token", "given_label", "predicted_label", "num_label_issues"]


def test_filter_by_token():
    issues = [(0, 0), (1, 0), (1, 1)]
    assert filter_by_token("#I", issues, WORDS) == [(1, 0)]
    assert filter_by_token("hello", issues, WORDS) == []
    assert filter_by_token("hello", issues, WORDS, case_sensitive=False) == [(0, 0)]


def test_label_confusions_and_class_summary():
    labels = [[0, 0, 0, 1], [1, 1, 0]]
    probs = [np.array([[0.9, 0.1], [0.2, 0.8], [0.8, 0.2], [0.7, 0.3]]),
             np.array([[0.1, 0.9], [0.2, 0.8], [0.95, 0.05]])]
    issues = [(0, 1), (0, 3)]
    confusions = label_confusions(labels, probs, issues=issues, class_names=["O", "LOC"])
    assert confusions.values.tolist() == [["O", "LOC", 1], ["LOC", "O", 1]]
    table = class_summary(labels, probs, class_names=["O", "LOC"], issues=issues)
    assert table["class"].tolist() == ["O", "LOC"]
    assert table["tokens"].tolist() == [4, 3]
    assert table["flagged"].tolist() == [1, 1]
    np.testing.assert_allclose(table["flagged_share"], [0.25, 1 / 3])
    assert table["top_confusions"].tolist() == ["LOC (1)", "O (1)"]
    rates = table["estimated_error_rate"].to_numpy()
    assert np.all((rates >= 0) & (rates <= 1))
    np.testing.assert_allclose(rates, table["estimated_errors"] / table["tokens"])


def test_notebooks_get_html(monkeypatch):
    import sys
    import types

    shown = []

    class ZMQInteractiveShell:  # the class name Jupyter kernels use
        pass

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: ZMQInteractiveShell()
    display_module = types.ModuleType("IPython.display")
    display_module.HTML = lambda text: ("HTML", text)
    display_module.display = shown.append
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    display_issues([(0, 1)], [["a", "<b>"]])
    assert len(shown) == 1 and shown[0][0] == "HTML"
    assert "<mark" in shown[0][1] and "&lt;b&gt;" in shown[0][1]
