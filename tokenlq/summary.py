"""Summaries of label issues for people: printed or HTML views, common issues, per-class tables.

Drop-in for ``cleanlab.token_classification.summary`` (``display_issues``,
``common_label_issues``, ``filter_by_token``), plus :func:`class_summary` and
:func:`label_confusions`. Only the ``display_*`` function prints (and ``common_label_issues``
with ``verbose=True``, as in the reference); everything else returns DataFrames or strings.
"""

from __future__ import annotations

import string
import sys

import numpy as np
import pandas as pd

from . import _confident, _validation as v
from ._html import render
from .filter import estimated_error_rates

__all__ = [
    "STYLES",
    "class_summary",
    "common_label_issues",
    "display_issues",
    "filter_by_token",
    "format_issues",
    "get_sentence",
    "label_confusions",
]

STYLES = ("plain", "ansi", "html")
_ATTACHED = set(string.punctuation) - {"-", "("}  # one-character tokens glued to the previous one
_ANSI_RED, _ANSI_RESET = "\x1b[31m", "\x1b[0m"
_PLAIN_MARK = (">>", "<<")
_NO_CLASS_NAMES = ("Classes will be printed in terms of their integer index since `class_names` "
                   "was not provided.\nSpecify this argument to see the string names of each class.\n")


# --------------------------------------------------------------------------- rendering


def _pieces(tokens, highlight: int | None = None) -> list[tuple[str, str, bool]]:
    """(separator, token, is highlighted) for every token: the pieces of the rendered sentence.
    ``highlight`` is a position, not a text (a word may occur twice)."""
    pieces = []
    for j, token in enumerate(tokens):
        token = str(token)
        if j == 0:
            sep = ""
        elif (len(token) == 1 and token in _ATTACHED) or token.startswith("'") or \
                str(tokens[j - 1]).endswith("("):
            sep = ""
        else:
            sep = " "
        pieces.append((sep, token, j == highlight))
    return pieces


def get_sentence(tokens) -> str:
    """Render tokens as text: single spaces, one-character punctuation (except '-' and '(')
    attached to the previous word, no space after '(' or before an apostrophe.

    Examples
    --------
    >>> get_sentence(["He", "'s", "(", "in", "New", "York", ")", ",", "U.S.", "-", "said", "."])
    "He's (in New York), U.S. - said."
    """
    return "".join(sep + token for sep, token, _ in _pieces(tokens)).strip()


def _render(pieces, style: str) -> str:
    """The sentence as text, its highlighted token marked in ``style`` ('plain' or 'ansi';
    templates/issues.html renders 'html')."""
    left, right = (_ANSI_RED, _ANSI_RESET) if style == "ansi" else _PLAIN_MARK
    return "".join(sep + (f"{left}{token}{right}" if marked else token)
                   for sep, token, marked in pieces).strip()


def _auto_style(file) -> str:
    if file is None:
        try:  # a Jupyter kernel renders HTML
            from IPython import get_ipython
            shell = get_ipython()
            if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
                return "html"
        except ImportError:
            pass
        file = sys.stdout
    isatty = getattr(file, "isatty", None)
    return "ansi" if isatty is not None and isatty() else "plain"


# --------------------------------------------------------------------------- lookups


class _Lookup:
    """Given label and predicted class of token (i, j), for nested or flat (with offsets) input."""

    def __init__(self, labels, pred_probs, offsets, func: str):
        self.offsets = None if offsets is None else np.asarray(offsets, dtype=np.int64)
        if labels is not None and pred_probs is not None:
            data = v.check_token_data(labels, pred_probs, offsets, func=func)
            self.offsets = data.offsets
            self.labels, self.pred_probs = data.labels, data.pred_probs
        else:
            self.labels, self.pred_probs = labels, pred_probs

    def _at(self, values, i, j):
        if self.offsets is not None:
            return values[self.offsets[i] + j]
        return values[i][j]

    def given(self, i: int, j: int):
        return None if self.labels is None else int(self._at(self.labels, i, j))

    def predicted(self, i: int, j: int):
        return None if self.pred_probs is None else int(np.argmax(self._at(self.pred_probs, i, j)))

    def flat(self, pairs: np.ndarray) -> np.ndarray:
        return self.offsets[pairs[:, 0]] + pairs[:, 1]


def _as_issue_array(issues, func: str):
    """('token', (m, 2) array) or ('sentence', (m,) array); ('empty', None) for no issues."""
    if issues is None or len(issues) == 0:
        return "empty", None
    try:
        arr = np.asarray([tuple(x) if isinstance(x, (list, tuple)) else x for x in issues])
    except ValueError:
        raise v.TokenLQInputError(
            f"{func}: 'issues' must be all (sentence, token) pairs or all sentence "
            "indices; got a mixture.") from None
    if arr.dtype.kind not in "iu":
        raise v.TokenLQInputError(f"{func}: 'issues' must hold integer indices; got {arr.dtype}.")
    if arr.ndim == 1:
        return "sentence", arr.astype(np.int64)
    if arr.ndim == 2 and arr.shape[1] == 2:
        return "token", arr.astype(np.int64)
    raise v.TokenLQInputError(
        f"{func}: 'issues' must be (sentence, token) pairs or sentence indices; got "
        f"items of shape {arr.shape[1:]}.")


def _check_issue_positions(mode, arr, tokens, func: str):
    n_sentences = len(tokens)
    sentences = arr if mode == "sentence" else arr[:, 0]
    bad = np.flatnonzero((sentences < 0) | (sentences >= n_sentences))
    if bad.size:
        raise v.TokenLQInputError(
            f"{func}: issue {bad[0]} names sentence {sentences[bad[0]]}, but there are "
            f"{n_sentences} sentences of tokens.")
    if mode == "token":
        for k, (i, j) in enumerate(arr.tolist()):
            if not 0 <= j < len(tokens[i]):
                raise v.TokenLQInputError(
                    f"{func}: issue {k} names token {j} of sentence {i}, which has "
                    f"{len(tokens[i])} tokens.")


def _name(k, class_names):
    return k if class_names is None or k is None else class_names[k]


# --------------------------------------------------------------------------- display


def format_issues(issues, tokens, *, labels=None, pred_probs=None, offsets=None, exclude=None,
                  class_names=None, top: int | None = 20, style: str = "plain") -> str:
    """The text :func:`display_issues` shows, as a string in the given style.

    ``style`` is 'plain' (the flagged token between >> and <<), 'ansi' (red in a terminal) or
    'html' (escaped, the token in a <mark>).

    Examples
    --------
    >>> print(format_issues([(0, 1)], [["I", "love", "Paris"]], labels=[[0, 0, 1]],
    ...                     class_names=["O", "LOC"]))
    Sentence index: 0, Token index: 1
    Token: love
    Given label: O
    ----
    I >>love<< Paris
    <BLANKLINE>
    """
    func = "format_issues"
    v.check_option(style, "style", STYLES, func)
    if top is not None:
        v.check_number(top, "top", func, low=0, integer=True)
    mode, arr = _as_issue_array(issues, func)
    exclude = _check_exclude(exclude, labels, pred_probs, func)
    if mode == "empty" or top == 0:
        return ""
    _check_issue_positions(mode, arr, tokens, func)
    lookup = _Lookup(labels, pred_probs, offsets, func)
    class_names = v.check_class_names(class_names, None, func)
    lines = []  # (text, the pieces of a sentence shown after it, or None)
    if class_names is None and (labels is not None or pred_probs is not None):
        lines.append((_NO_CLASS_NAMES, None))
    shown = 0
    for item in arr.tolist():
        if top is not None and shown >= top:
            break
        if mode == "sentence":
            lines.append(("Sentence issue: ", _pieces(tokens[item])))
            shown += 1
            continue
        i, j = item
        given, predicted = lookup.given(i, j), lookup.predicted(i, j)
        if exclude and (given, predicted) in exclude:
            continue
        shown += 1
        g, p = _name(given, class_names), _name(predicted, class_names)
        lines.append((f"Sentence index: {i}, Token index: {j}", None))
        lines.append((f"Token: {tokens[i][j]}", None))
        if given is not None and predicted is not None:
            lines.append((f"Given label: {g}, predicted label according to provided "
                          f"pred_probs: {p}", None))
        elif given is not None:
            lines.append((f"Given label: {g}", None))
        elif predicted is not None:
            lines.append((f"Predicted label according to provided pred_probs: {p}", None))
        lines.append(("----", None))
        lines.append(("", _pieces(tokens[i], j)))
        lines.append(("", None))
    if style == "html":
        return render("issues.html", lines=lines)
    return "\n".join(text + ("" if pieces is None else _render(pieces, style))
                     for text, pieces in lines)


def _check_exclude(exclude, labels, pred_probs, func: str):
    if not exclude:
        return set()
    if labels is None or pred_probs is None:
        raise v.TokenLQInputError(
            f"{func}: 'exclude' compares given and predicted labels, so it needs both "
            "'labels' and 'pred_probs'.")
    try:
        return {(int(a), int(b)) for a, b in exclude}
    except (TypeError, ValueError):
        raise v.TokenLQInputError(
            f"{func}: 'exclude' must be (given, predicted) class-index pairs; got "
            f"{exclude!r}.") from None


def display_issues(issues, tokens, *, labels=None, pred_probs=None, offsets=None, exclude=None,
                   class_names=None, top: int | None = 20, style: str | None = None,
                   file=None) -> None:
    """Show label issues in their sentence context, the flagged token highlighted.

    Parameters
    ----------
    issues : list of (int, int) or array of sentence indices
        Output of :func:`tokenlq.find_label_issues` or :func:`tokenlq.issues_from_scores`.
    tokens : list of N str sequences
        The words of every sentence.
    labels, pred_probs : optional
        Given labels and predicted probabilities (nested, or flat with ``offsets``), to show
        the given and the predicted class.
    exclude : list of (int, int), default=None
        (given, predicted) class pairs to leave out; needs both labels and pred_probs.
    class_names : list of K str, default=None
        Names to show instead of class indices.
    top : int or None, default=20
        Show at most this many issues (excluded ones do not count); None shows all, 0 none.
    style : {'plain', 'ansi', 'html'}, default=None
        None chooses HTML in a notebook, colour on a terminal and plain text otherwise.
    file : file-like, default=None
        Where to print (standard output by default).

    Examples
    --------
    >>> display_issues([(0, 2)], [["I", "love", "Paris"]], style="plain")
    Sentence index: 0, Token index: 2
    Token: Paris
    ----
    I love >>Paris<<
    <BLANKLINE>
    """
    style = _auto_style(file) if style is None else style
    text = format_issues(issues, tokens, labels=labels, pred_probs=pred_probs, offsets=offsets,
                         exclude=exclude, class_names=class_names, top=top, style=style)
    if not text:
        return
    if style == "html" and file is None:
        try:
            from IPython.display import HTML, display
            display(HTML(text))
            return
        except ImportError:
            pass
    print(text, file=file if file is not None else sys.stdout)


# --------------------------------------------------------------------------- common issues


def common_label_issues(issues, tokens, *, labels=None, pred_probs=None, offsets=None,
                        class_names=None, top: int = 10, exclude=None, verbose: bool = True,
                        case_sensitive: bool = True) -> pd.DataFrame:
    """Tokens most often flagged, with the given -> predicted swaps behind them.

    Parameters
    ----------
    issues : list of (int, int)
        Flagged tokens.
    tokens : list of N str sequences
    labels, pred_probs : optional
        With both, counts are per (token, given class, predicted class).
    class_names : list of K str, default=None
    top : int, default=10
        How many tokens to print (the DataFrame holds all).
    exclude : list of (int, int), default=None
        (given, predicted) pairs not to count; needs labels and pred_probs.
    verbose : bool, default=True
        Print the top tokens (and, with labels and pred_probs, their swaps). False prints nothing.
    case_sensitive : bool, default=True
        Count 'Paris' and 'paris' apart (the same rule as :func:`filter_by_token`).

    Returns
    -------
    DataFrame
        Columns ``token, num_label_issues`` without labels and pred_probs, otherwise
        ``token, given_label, predicted_label, num_label_issues``; counts descending, ties in
        order of the token's first appearance in ``issues``, then given, then predicted.

    Examples
    --------
    >>> common_label_issues([(0, 0), (1, 0), (1, 1)], [["a", "b"], ["a", "c"]], verbose=False)
      token  num_label_issues
    0     a                 2
    1     c                 1
    """
    func = "common_label_issues"
    v.check_bool(verbose, "verbose", func)
    v.check_bool(case_sensitive, "case_sensitive", func)
    v.check_number(top, "top", func, low=0, integer=True)
    exclude = _check_exclude(exclude, labels, pred_probs, func)
    detailed = labels is not None and pred_probs is not None
    columns = ["token", "given_label", "predicted_label", "num_label_issues"] if detailed else \
        ["token", "num_label_issues"]
    mode, arr = _as_issue_array(issues, func)
    if mode == "empty":
        return pd.DataFrame(columns=columns)
    if mode != "token":
        raise v.TokenLQInputError(f"{func}: 'issues' must be (sentence, token) pairs.")
    _check_issue_positions(mode, arr, tokens, func)
    words = [str(tokens[i][j]) for i, j in arr.tolist()]
    if not case_sensitive:
        words = [w.lower() for w in words]
    frame = pd.DataFrame({"token": words})
    frame["first"] = frame.groupby("token", sort=False).ngroup()
    class_names = v.check_class_names(class_names, None, func)
    if detailed:
        lookup = _Lookup(labels, pred_probs, offsets, func)
        flat = lookup.flat(arr)
        frame["given_label"] = lookup.labels[flat]
        frame["predicted_label"] = lookup.pred_probs[flat].argmax(axis=1)
        if exclude:
            pairs = list(zip(frame["given_label"].tolist(), frame["predicted_label"].tolist()))
            frame = frame[[p not in exclude for p in pairs]]
        keys = ["token", "first", "given_label", "predicted_label"]
    else:
        keys = ["token", "first"]
    counts = frame.groupby(keys, sort=False).size().rename("num_label_issues").reset_index()
    counts = counts.sort_values(["num_label_issues", "first"] + keys[2:],
                                ascending=[False, True] + [True] * (len(keys) - 2), kind="stable")
    if detailed and class_names is not None:
        counts["given_label"] = [class_names[k] for k in counts["given_label"]]
        counts["predicted_label"] = [class_names[k] for k in counts["predicted_label"]]
    result = counts[columns].reset_index(drop=True)
    if verbose:
        _print_common(result, detailed, class_names is None, top)
    return result


def _print_common(result: pd.DataFrame, detailed: bool, no_names: bool, top: int) -> None:
    if detailed and no_names:
        print(_NO_CLASS_NAMES)
    totals = result.groupby("token", sort=False)["num_label_issues"].sum()
    for token, total in list(totals.items())[:top]:
        print(f"Token '{token}' is potentially mislabeled {total} times throughout the dataset")
        if detailed:
            print("-" * 87)
            for row in result[result["token"] == token].itertuples(index=False):
                quote = "" if no_names else "`"
                print(f"labeled as class {quote}{row.given_label}{quote} but predicted to actually "
                      f"be class {quote}{row.predicted_label}{quote} {row.num_label_issues} times")
        print()


def filter_by_token(token: str, issues, tokens, *, case_sensitive: bool = True) -> list:
    """The issues whose token equals ``token``, in their original order.

    Examples
    --------
    >>> filter_by_token("Paris", [(0, 0), (1, 1)], [["Paris", "is"], ["in", "paris"]])
    [(0, 0)]
    >>> filter_by_token("Paris", [(0, 0), (1, 1)], [["Paris", "is"], ["in", "paris"]],
    ...                 case_sensitive=False)
    [(0, 0), (1, 1)]
    """
    func = "filter_by_token"
    v.check_bool(case_sensitive, "case_sensitive", func)
    mode, arr = _as_issue_array(issues, func)
    if mode == "empty":
        return []
    if mode != "token":
        raise v.TokenLQInputError(f"{func}: 'issues' must be (sentence, token) pairs.")
    _check_issue_positions(mode, arr, tokens, func)
    target = str(token) if case_sensitive else str(token).lower()
    keep = []
    for i, j in arr.tolist():
        word = str(tokens[i][j])
        if (word if case_sensitive else word.lower()) == target:
            keep.append((i, j))
    return keep


# --------------------------------------------------------------------------- per-class tables


def label_confusions(labels, pred_probs, offsets=None, *, issues=None, class_names=None,
                     renormalize: bool = False) -> pd.DataFrame:
    """Counts of flagged tokens per (given class, suggested class = the model's argmax).

    ``issues`` defaults to :func:`tokenlq.find_label_issues` with its defaults.

    Examples
    --------
    >>> label_confusions([[0, 0], [1]], [[[.9, .1], [.2, .8]], [[.1, .9]]], issues=[(0, 1)],
    ...                  class_names=["O", "LOC"]).values.tolist()
    [['O', 'LOC', 1]]
    """
    func = "label_confusions"
    data = v.check_token_data(labels, pred_probs, offsets, func=func, renormalize=renormalize)
    class_names = v.check_class_names(class_names, data.n_classes, func)
    flagged = _confident.flagged_tokens(data, issues, func) if data.n_tokens else np.empty(0, dtype=np.int64)
    return _confusion_frame(data, flagged, class_names)


def _confusion_frame(data, flagged: np.ndarray, class_names) -> pd.DataFrame:
    """(given, suggested, count) of the flagged tokens of checked data, most frequent first."""
    K = data.n_classes
    given = data.labels[flagged]
    suggested = data.pred_probs[flagged].argmax(axis=1) if len(flagged) else given
    counts = np.bincount(given * K + suggested, minlength=K * K).reshape(K, K) if K else \
        np.zeros((0, 0), dtype=int)
    g, s = np.nonzero(counts)
    frame = pd.DataFrame({"given": g, "suggested": s, "count": counts[g, s]})
    frame = frame.sort_values(["count", "given", "suggested"], ascending=[False, True, True],
                              kind="stable").reset_index(drop=True)
    if class_names is not None:
        frame["given"] = [class_names[k] for k in frame["given"]]
        frame["suggested"] = [class_names[k] for k in frame["suggested"]]
    return frame


def class_summary(labels, pred_probs, offsets=None, *, class_names=None, issues=None,
                  top: int = 3, renormalize: bool = False) -> pd.DataFrame:
    """Per-class label-quality table.

    Returns
    -------
    DataFrame, one row per class, columns:

    ``class``                 the class name (or index);
    ``tokens``                tokens given this class;
    ``flagged``               of those, tokens flagged as issues;
    ``flagged_share``         flagged / tokens;
    ``estimated_errors``      tokens given this class whose true class is estimated to be
                              another: the off-diagonal row total of the calibrated confident
                              joint;
    ``estimated_error_rate``  estimated_errors / tokens (NaN for a class with no tokens);
    ``top_confusions``        the ``top`` most frequent suggested classes among flagged tokens,
                              as "NAME (count)" joined by ", ".

    Examples
    --------
    >>> table = class_summary([[0, 0, 1], [1, 0]],
    ...                       [[[.9, .1], [.2, .8], [.1, .9]], [[.3, .7], [.8, .2]]],
    ...                       class_names=["O", "LOC"])
    >>> table[["class", "tokens", "flagged", "top_confusions"]].values.tolist()
    [['O', 3, 1, 'LOC (1)'], ['LOC', 2, 0, '']]
    """
    func = "class_summary"
    v.check_number(top, "top", func, low=0, integer=True)
    data = v.check_token_data(labels, pred_probs, offsets, func=func, renormalize=renormalize)
    K = data.n_classes
    class_names = v.check_class_names(class_names, K, func)
    names = class_names if class_names is not None else list(range(K))
    calibrated = _confident.data_joint(data)
    flagged = _confident.flagged_tokens(data, issues, func) if data.n_tokens else np.empty(0, dtype=np.int64)
    confusions = _confusion_frame(data, flagged, None)
    flagged = np.zeros(K, dtype=np.int64)
    np.add.at(flagged, confusions["given"].to_numpy(dtype=np.int64), confusions["count"].to_numpy())
    tops = []
    for k in range(K):
        rows = confusions[confusions["given"] == k].head(top)
        tops.append(", ".join(f"{names[s]} ({c})" for s, c in zip(rows["suggested"], rows["count"])))
    tokens = np.bincount(data.labels, minlength=K)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(tokens > 0, flagged / np.maximum(tokens, 1), np.nan)
    return pd.DataFrame({
        "class": names,
        "tokens": tokens,
        "flagged": flagged,
        "flagged_share": share,
        "estimated_errors": calibrated.sum(axis=1) - calibrated.diagonal(),
        "estimated_error_rate": estimated_error_rates(calibrated),
        "top_confusions": tops,
    })
