"""Reading labelled token data from files: CoNLL, JSONL and Label Studio exports.

Every reader returns a :class:`Corpus` (tokens and label names per sentence) and raises
:class:`DataError` (a :class:`tokenlq.TokenLQInputError`) naming the file and line of the first
malformed input, or the file when it is missing, a directory or unreadable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import TokenLQInputError, check_token_data
from .labelstudio_format import (given_annotation, span_labels, task_shape_error, task_tokens,
                                 tokenize)
from .scheme import ordered_classes

__all__ = ["FORMATS", "Corpus", "DataError", "detect_format", "read_corpus", "read_pred_probs",
           "select_classes", "tokenize", "write_pred_probs"]

FORMATS = ("conll", "jsonl", "labelstudio")
_DOCSTART = "-DOCSTART-"
# Blank, or only whitespace, byte-order marks and zero-width characters: a sentence boundary.
_SEPARATORS = re.compile(r"^[\s\ufeff\u200b\u200c\u200d\u2060]*$")


class DataError(TokenLQInputError):
    """Malformed or unreadable input file; the message names the file (and line)."""


@dataclass
class Corpus:
    """Sentences of tokens with their label names, and where each sentence came from."""

    tokens: list[list[str]]
    labels: list[list[str]]
    documents: list[int] = field(default_factory=list)  # document index of every sentence
    sources: list[str] = field(default_factory=list)  # "file:line" (or task id) of every sentence
    columns: int | None = None  # CoNLL: columns per token line (token first, label last)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def n_tokens(self) -> int:
        return sum(map(len, self.tokens))

    @property
    def column_note(self) -> str | None:
        """Which columns of a CoNLL file of 3 or more columns were read, else None."""
        if not self.columns or self.columns < 3:
            return None
        return f"tokens from column 1, labels from column {self.columns} of {self.columns} (the last)"

    def class_names(self, extra=()) -> list[str]:
        """'O' first, then entity classes grouped by type (B- before I-), then anything else."""
        return ordered_classes({label for sentence in self.labels for label in sentence}
                               | set(extra))


def detect_format(path) -> str:
    """'jsonl' or 'labelstudio' for JSON content, else 'conll'."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith("["):
        return "labelstudio"
    if head.startswith("{"):
        return "jsonl"
    return "conll"


def _check_file(path: Path, expected: str) -> None:
    """DataError unless ``path`` names an existing regular file (``expected`` says which)."""
    if path.is_dir():
        raise DataError(f"{path}: is a directory; expected {expected}")
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file; expected {expected}")


def read_corpus(path, *, format: str | None = None) -> Corpus:  # noqa: A002 (CLI vocabulary)
    """Read a labelled corpus; ``format`` is detected from the content when None."""
    path = Path(path)
    _check_file(path, "a CoNLL, JSONL or Label Studio JSON export file")
    if format is not None and format not in FORMATS:
        raise DataError(f"{path}: unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    try:
        fmt = format or detect_format(path)
        reader = {"conll": _read_conll, "jsonl": _read_jsonl, "labelstudio": _read_labelstudio}[fmt]
        corpus = reader(path)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    if not len(corpus):
        raise DataError(f"{path}: no labelled sentences found (format {fmt})")
    return corpus


def _read_conll(path: Path) -> Corpus:
    """CoNLL: one token per line, a blank line after each sentence.

    The column rule: a line holding a tab is split at tabs, a line without one at runs of
    whitespace; the token is the first column and the label the last (CoNLL-2003's fourth, its
    NER tag), and every token line of a file has as many columns as its first one (recorded in
    ``Corpus.columns``). Lines that are blank or hold only whitespace, byte-order marks or
    zero-width characters end a sentence; a line starting with ``-DOCSTART-`` starts a document.
    Refused with file and line, the line shown: a single column; an empty token or label; a
    number of columns other than the first token line's; whitespace inside a column of a
    tab-separated line (``Anna B-PER extra junk<TAB>X``: which part is the token, which the
    label?).
    """
    corpus = Corpus([], [])
    tokens, labels, start, document = [], [], 0, 0
    first = None  # (line number, columns) of the first token line

    def flush():
        nonlocal tokens, labels
        if tokens:
            corpus.tokens.append(tokens)
            corpus.labels.append(labels)
            corpus.documents.append(document)
            corpus.sources.append(f"{path}:{start}")
        tokens, labels = [], []

    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n").rstrip("\r")
            if _SEPARATORS.match(line):
                flush()
                continue
            if line.split(maxsplit=1)[0] == _DOCSTART:
                flush()
                document += 1 if corpus.tokens else 0
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            fields = [f.strip() for f in fields]
            if len(fields) < 2 or not fields[0]:
                raise DataError(f"{path}:{number}: expected a token and a label separated by a "
                                f"tab or spaces; got {line!r}")
            if not fields[-1]:
                raise DataError(f"{path}:{number}: the label (last column) is empty in {line!r}")
            spaced = next((k for k, f in enumerate(fields) if len(f.split()) > 1), None)
            if spaced is not None:
                raise DataError(f"{path}:{number}: ambiguous columns in {line!r}: the line is "
                                f"tab-separated but column {spaced + 1} {fields[spaced]!r} holds "
                                "spaces (one token, or a token and a label?); separate every "
                                "column by a tab, or every column by spaces")
            if first is None:
                first = (number, len(fields))
            elif len(fields) != first[1]:
                raise DataError(f"{path}:{number}: {len(fields)} columns in {line!r}, but line "
                                f"{first[0]} has {first[1]}; the label is the last column, so "
                                "every token line needs the same columns")
            if not tokens:
                start = number
            tokens.append(fields[0])
            labels.append(fields[-1])
    flush()
    corpus.columns = first[1] if first else None
    return corpus


# json.loads recurses once per level of nesting: thousands of levels exhaust Python's stack.
_TOO_DEEP = "malformed JSON (arrays or objects nested too deeply to parse)"


def _read_jsonl(path: Path) -> Corpus:
    corpus = Corpus([], [])
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{number}: malformed JSON ({err.msg})") from None
            except RecursionError:
                raise DataError(f"{path}:{number}: {_TOO_DEEP}") from None
            if not isinstance(record, dict) or not isinstance(record.get("tokens"), list) or \
                    not isinstance(record.get("labels"), list):
                raise DataError(f"{path}:{number}: expected an object with lists 'tokens' and "
                                "'labels'")
            tokens, labels = record["tokens"], record["labels"]
            if len(tokens) != len(labels):
                raise DataError(f"{path}:{number}: {len(tokens)} tokens but {len(labels)} labels")
            if not all(isinstance(x, str) for x in tokens + labels):
                raise DataError(f"{path}:{number}: tokens and labels must be strings")
            if not tokens:
                continue
            corpus.tokens.append(tokens)
            corpus.labels.append(labels)
            corpus.documents.append(0)
            corpus.sources.append(f"{path}:{number}")
    return corpus


def _read_labelstudio(path: Path) -> Corpus:
    """A Label Studio JSON export of an NER project: the latest non-cancelled annotation of each
    task, character spans turned into BIO token labels (tokens from ``data.tokens`` when
    present, else a tokenization of the text)."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: malformed JSON ({err.msg})") from None
    except RecursionError:
        raise DataError(f"{path}: {_TOO_DEEP}") from None
    if not isinstance(tasks, list):
        raise DataError(f"{path}:1: a Label Studio export is a JSON list of tasks")
    corpus = Corpus([], [])
    for number, task in enumerate(tasks):
        problem = task_shape_error(task)
        if problem:
            raise DataError(f"{path}: task {number + 1} of the list: {problem}")
        latest = given_annotation(task.get("annotations"))
        data = task.get("data") or {}
        key = "text" if "text" in data else next(
            (k for k, v in data.items() if isinstance(v, str)), "text")
        text, tokens = task_tokens(data, key)
        if latest is None or not tokens:
            continue
        labels = span_labels(text, tokens, latest.get("result"), from_name=None, label_names=None)
        corpus.tokens.append([t for t, _, _ in tokens])
        corpus.labels.append(labels)
        corpus.documents.append(0)
        corpus.sources.append(f"task {task.get('id')}")
    return corpus


def write_pred_probs(path, pred_probs: np.ndarray, offsets: np.ndarray, class_names) -> None:
    """Save flat probabilities as the .npz that ``--pred-probs`` reads back."""
    np.savez_compressed(path, pred_probs=pred_probs, offsets=offsets,
                        class_names=np.asarray(class_names, dtype=str))


_PRED_PROBS_ARRAYS = ("pred_probs", "offsets", "class_names")
_PRED_PROBS_FORMAT = ("a .npz archive of arrays pred_probs (n, K), offsets (N+1,) and class_names "
                      "(K,), as tokenlq audit writes it (pred_probs.npz; "
                      "tokenlq.io.write_pred_probs)")


def _read_npz(path: Path) -> tuple:
    """The three arrays of a pred_probs file, or DataError saying what the file is instead."""
    _check_file(path, _PRED_PROBS_FORMAT)
    try:
        with open(path, "rb") as handle:  # ours to close, even when numpy fails on the bytes
            return _npz_arrays(path, handle)
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None


def _npz_arrays(path: Path, handle) -> tuple:
    head = handle.read(512)
    if head.startswith(b"\x93NUMPY"):
        raise DataError(f"{path}: a .npy file holds a single array; expected {_PRED_PROBS_FORMAT}")
    if not head.startswith(b"PK"):
        try:
            head.decode("utf-8")
            text = b"\x00" not in head
        except UnicodeDecodeError as err:  # text, unless the bad byte is not a cut-off last one
            text = b"\x00" not in head and err.start >= len(head) - 3
        what = "an empty file" if not head else \
            "a text file (CSV, JSON, ...), not a .npz archive" if text else "not a .npz archive"
        raise DataError(f"{path}: {what}; expected {_PRED_PROBS_FORMAT}")
    handle.seek(0)
    # Whatever numpy or zipfile raise on these bytes is about the file; their messages are not
    # shown (numpy's would suggest loading pickles, which a probability file never needs).
    try:
        archive = np.load(handle, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 (the file's bytes, see above)
        raise DataError(f"{path}: a damaged .npz archive ({type(err).__name__}); expected "
                        f"{_PRED_PROBS_FORMAT}") from None
    with archive:
        missing = [key for key in _PRED_PROBS_ARRAYS if key not in archive.files]
        if missing:
            raise DataError(f"{path}: no array {', '.join(missing)} in the archive (it holds "
                            f"{', '.join(archive.files) or 'nothing'}); expected "
                            f"{_PRED_PROBS_FORMAT}")
        arrays = []
        for key in _PRED_PROBS_ARRAYS:
            try:
                arrays.append(archive[key])
            except ValueError as err:
                if "pickle" not in str(err):
                    raise DataError(f"{path}: array {key} cannot be read ({type(err).__name__}); "
                                    f"expected {_PRED_PROBS_FORMAT}") from None
                raise DataError(f"{path}: array {key} holds Python objects; store numbers "
                                "(pred_probs, offsets) and strings (class_names), e.g. "
                                "np.asarray(class_names, dtype=str)") from None
            except Exception as err:  # noqa: BLE001 (the file's bytes)
                raise DataError(f"{path}: array {key} cannot be read, the archive is damaged "
                                f"({type(err).__name__})") from None
    return tuple(arrays)


def read_pred_probs(path, corpus: Corpus, class_names: list[str] | None = None):
    """Flat pred_probs (n, K) and their class names from an .npz, checked against the corpus.

    With ``class_names``, the columns are reordered to them (every one must be present).
    Raises DataError on any mismatch, and for a file that is no such .npz (a CSV, a .npy, a
    directory), saying what is expected.
    """
    path = Path(path)
    pred_probs, offsets, names = _read_npz(path)
    if names.ndim != 1:
        raise DataError(f"{path}: class_names must be one row of names; got shape {names.shape}")
    names = [str(c) for c in names]
    if pred_probs.dtype.kind not in "fiu" or offsets.dtype.kind not in "iu" or offsets.ndim != 1:
        raise DataError(f"{path}: pred_probs must be numbers and offsets integers (one row); got "
                        f"{pred_probs.dtype} and {offsets.dtype} of shape {offsets.shape}")
    if pred_probs.ndim != 2 or pred_probs.shape[1] != len(names):
        raise DataError(f"{path}: pred_probs of shape {pred_probs.shape} for {len(names)} class names")
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(pred_probs):
        raise DataError(f"{path}: offsets must run from 0 to the {len(pred_probs)} rows of pred_probs")
    lengths = np.diff(offsets)
    expected = np.array([len(s) for s in corpus.tokens])
    if len(lengths) != len(expected) or not np.array_equal(lengths, expected):
        bad = next((i for i in range(min(len(lengths), len(expected))) if lengths[i] != expected[i]),
                   min(len(lengths), len(expected)))
        raise DataError(f"{path}: its sentences do not match the data (first difference at "
                        f"sentence {bad}; {len(lengths)} sentences in the file, {len(expected)} in "
                        "the data)")
    try:  # the values, by the checks of every public function (rows are renormalized later)
        check_token_data(np.zeros(len(pred_probs), dtype=np.int64), pred_probs, offsets,
                         func=str(path), renormalize=True)
    except TokenLQInputError as err:
        raise DataError(str(err)) from None
    if class_names is None:
        return pred_probs, names
    return select_classes(pred_probs, names, class_names, path), list(class_names)


def select_classes(pred_probs, names, class_names, source) -> np.ndarray:
    """The columns of ``pred_probs`` (named ``names``) in ``class_names`` order; DataError naming
    ``source`` when a class has no column."""
    missing = [c for c in class_names if c not in names]
    if missing:
        raise DataError(f"{source}: the data uses labels {missing} that pred_probs has no column for")
    if list(names) == list(class_names):  # already in order: no copy of a large array
        return np.ascontiguousarray(pred_probs)
    return np.ascontiguousarray(pred_probs[:, [names.index(c) for c in class_names]])
