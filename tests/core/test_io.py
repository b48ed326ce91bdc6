"""Corpus readers: CoNLL, JSONL, Label Studio export; pred_probs .npz."""

import json

import numpy as np
import pytest

from tokenlq.io import DataError, detect_format, read_corpus, read_pred_probs, write_pred_probs


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_separators_docstart_and_columns(tmp_path):
    # Tabs in some lines, spaces in others; every token line of a file has the same columns.
    text = ("\ufeff-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n \t \n"
            "German\tJJ\tB-MISC\ncall\tNN\tO\n\t\n\u200b\nPeter NNP B-PER\nBlackburn NNP I-PER\n")
    corpus = read_corpus(write(tmp_path, "a.conll", text))
    assert corpus.tokens == [["EU", "rejects"], ["German", "call"], ["Peter", "Blackburn"]]
    assert corpus.labels == [["B-ORG", "O"], ["B-MISC", "O"], ["B-PER", "I-PER"]]
    assert corpus.sources[0].endswith("a.conll:3")
    assert corpus.class_names() == ["O", "B-MISC", "B-ORG", "B-PER", "I-PER"]
    assert corpus.columns == 3
    assert corpus.column_note == "tokens from column 1, labels from column 3 of 3 (the last)"


@pytest.mark.parametrize("line, fragment", [
    ("lonely\n", "b.conll:2: expected a token and a label"),
    ("word\t\n", r"b.conll:2: the label \(last column\) is empty"),
])
def test_conll_malformed_lines_name_file_and_line(tmp_path, line, fragment):
    with pytest.raises(DataError, match=fragment):
        read_corpus(write(tmp_path, "b.conll", "ok\tO\n" + line))


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="no labelled sentences"):
        read_corpus(write(tmp_path, "e.conll", "\n\n"))
    with pytest.raises(DataError, match="no such file"):
        read_corpus(tmp_path / "absent.conll")


def test_jsonl(tmp_path):
    lines = [{"tokens": ["Paris", "!"], "labels": ["B-LOC", "O"]}, {"tokens": [], "labels": []}]
    path = write(tmp_path, "a.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    assert detect_format(path) == "jsonl"
    assert read_corpus(path).labels == [["B-LOC", "O"]]
    bad = write(tmp_path, "b.jsonl", json.dumps(lines[0]) + "\n{oops\n")
    with pytest.raises(DataError, match="b.jsonl:2: malformed JSON"):
        read_corpus(bad)
    uneven = write(tmp_path, "c.jsonl", json.dumps({"tokens": ["a"], "labels": []}) + "\n")
    with pytest.raises(DataError, match="c.jsonl:1: 1 tokens but 0 labels"):
        read_corpus(uneven)


def test_labelstudio_export_latest_annotation(tmp_path):
    tasks = [{"id": 1, "data": {"text": "Anna moved to New York."},
              "annotations": [
                  {"id": 1, "updated_at": "2026-01-01", "result": []},
                  {"id": 2, "updated_at": "2026-02-01", "result": [
                      {"type": "labels", "value": {"start": 0, "end": 4, "labels": ["PER"]}},
                      {"type": "labels", "value": {"start": 14, "end": 22, "labels": ["LOC"]}}]},
                  {"id": 3, "updated_at": "2026-03-01", "was_cancelled": True, "result": []}]},
             {"id": 2, "data": {"text": "unlabelled"}, "annotations": []}]
    path = write(tmp_path, "export.json", json.dumps(tasks))
    assert detect_format(path) == "labelstudio"
    corpus = read_corpus(path)
    assert corpus.tokens == [["Anna", "moved", "to", "New", "York", "."]]
    assert corpus.labels == [["B-PER", "O", "O", "B-LOC", "I-LOC", "O"]]


def test_pred_probs_round_trip_and_mismatch(tmp_path):
    corpus = read_corpus(write(tmp_path, "a.conll", "a\tO\nb\tB-X\n\nc\tO\n"))
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    path = tmp_path / "p.npz"
    write_pred_probs(path, probs, np.array([0, 2, 3]), ["O", "B-X"])
    loaded, names = read_pred_probs(path, corpus, ["B-X", "O"])
    np.testing.assert_array_equal(loaded, probs[:, ::-1])
    other = read_corpus(write(tmp_path, "b.conll", "a\tO\n\nb\tO\nc\tO\n"))
    with pytest.raises(DataError, match="first difference at sentence 0"):
        read_pred_probs(path, other)
    with pytest.raises(DataError, match=r"labels \['I-X'\]"):
        read_pred_probs(path, corpus, ["O", "B-X", "I-X"])


@pytest.mark.parametrize("arrays, message", [
    ({"pred_probs": np.ones((3, 2)) / 2, "offsets": np.array([0, 2, 3]), "class_names": np.array("O")},
     "class_names must be one row"),
    ({"pred_probs": np.array([["a", "b"]] * 3), "offsets": np.array([0, 2, 3]),
      "class_names": np.array(["O", "B-X"])}, "must be numbers"),
    ({"pred_probs": np.ones((3, 2)) / 2, "offsets": np.array([1, 2, 3]),
      "class_names": np.array(["O", "B-X"])}, "offsets must run from 0"),
    (None, r"p.npz: an empty file; expected a .npz archive of arrays pred_probs \(n, K\)"),
])
def test_malformed_pred_probs_files_are_named(tmp_path, arrays, message):
    corpus = read_corpus(write(tmp_path, "a.conll", "a\tO\nb\tB-X\n\nc\tO\n"))
    path = tmp_path / "p.npz"
    if arrays is None:
        path.write_bytes(b"")
    else:
        np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        read_pred_probs(path, corpus)


SHARED = __import__("pathlib").Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.skipif(not (SHARED / "wnut17").is_dir(),
                    reason="../shared/data/wnut17 is absent (present in CI beside the checkout)")
def test_reads_the_real_wnut17_files():
    # Lone-tab separators, a stray byte-order mark, URLs and &gt; escapes: all handled.
    expected = {"train": (3394, 62730), "dev": (1009, 15733), "test": (1287, 23394)}
    for split, (sentences, tokens) in expected.items():
        corpus = read_corpus(SHARED / "wnut17" / f"{split}.conll")
        assert (len(corpus), corpus.n_tokens) == (sentences, tokens)
    assert len(corpus.class_names()) == 13


# The column rule: tabs, or whitespace in a line without a tab; token first, label last; the
# same number of columns on every token line of a file.
@pytest.mark.parametrize("text, message", [
    ("Anna B-PER extra junk\tX\nlives\tO\n",
     "c.conll:1: ambiguous columns in 'Anna B-PER extra junk\\tX': the line is tab-separated but "
     "column 1 'Anna B-PER extra junk' holds spaces (one token, or a token and a label?); separate "
     "every column by a tab, or every column by spaces"),
    ("EU\tNNP B-ORG\n",
     "c.conll:1: ambiguous columns in 'EU\\tNNP B-ORG': the line is tab-separated but column 2 "
     "'NNP B-ORG' holds spaces"),
    ("Anna\tB-PER\nlives O extra\n",
     "c.conll:2: 3 columns in 'lives O extra', but line 1 has 2; the label is the last column, so "
     "every token line needs the same columns"),
    ("Anna B-PER extra junk\n\nlives O\n",
     "c.conll:3: 2 columns in 'lives O', but line 1 has 4"),
])
def test_conll_ambiguous_columns_are_refused(tmp_path, text, message):
    with pytest.raises(DataError) as info:
        read_corpus(write(tmp_path, "c.conll", text))
    assert str(info.value).startswith(str(tmp_path / message.split(":")[0]))
    assert message in str(info.value)


def test_conll_columns_are_recorded(tmp_path):
    two = read_corpus(write(tmp_path, "two.conll", "York\tB-LOC\nis O\n"))
    assert (two.columns, two.column_note) == (2, None)
    four = read_corpus(write(tmp_path, "four.conll", "EU NNP B-NP B-ORG\nrejects\tVBZ\tB-VP\tO\n"))
    assert four.labels == [["B-ORG", "O"]] and four.columns == 4
    assert four.column_note == "tokens from column 1, labels from column 4 of 4 (the last)"


def test_a_directory_is_named_as_one(tmp_path):
    with pytest.raises(DataError) as info:
        read_corpus(tmp_path)
    assert str(info.value) == (f"{tmp_path}: is a directory; expected a CoNLL, JSONL or Label "
                               "Studio JSON export file")


def _save(path, save, *args, **kwargs):
    with open(path, "wb") as handle:  # under this very name, whatever its extension
        save(handle, *args, **kwargs)


FORMAT = ("a .npz archive of arrays pred_probs (n, K), offsets (N+1,) and class_names (K,), as "
          "tokenlq audit writes it (pred_probs.npz; tokenlq.io.write_pred_probs)")


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("O,B-X\n0.9,0.1\n"),
     f"a text file (CSV, JSON, ...), not a .npz archive; expected {FORMAT}"),
    (lambda p: p.write_bytes(b"\x00\x01\x02garbage"), f"not a .npz archive; expected {FORMAT}"),
    (lambda p: p.write_bytes(b""), f"an empty file; expected {FORMAT}"),
    (lambda p: p.mkdir(), f"is a directory; expected {FORMAT}"),
    (lambda p: _save(p, np.save, np.ones((3, 2)) / 2),
     f"a .npy file holds a single array; expected {FORMAT}"),
    (lambda p: _save(p, np.savez, np.ones((3, 2)) / 2),
     f"no array pred_probs, offsets, class_names in the archive (it holds arr_0); expected {FORMAT}"),
    (lambda p: _save(p, np.savez, pred_probs=np.ones((3, 2)) / 2, offsets=np.array([0, 2, 3]),
                     class_names=np.array(["O", None], dtype=object)),
     "array class_names holds Python objects; store numbers (pred_probs, offsets) and strings "
     "(class_names), e.g. np.asarray(class_names, dtype=str)"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 40),
     f"a damaged .npz archive (BadZipFile); expected {FORMAT}"),
], ids=["csv", "binary", "empty", "directory", "npy", "unnamed arrays", "object array", "damaged zip"])
def test_pred_probs_files_of_another_kind_say_what_is_accepted(tmp_path, make, message):
    corpus = read_corpus(write(tmp_path, "a.conll", "a\tO\nb\tB-X\n\nc\tO\n"))
    path = tmp_path / "probs.csv"
    make(path)
    with pytest.raises(DataError) as info:
        read_pred_probs(path, corpus)
    assert str(info.value) == f"{path}: {message}"
    assert "pickle" not in str(info.value)


@pytest.mark.parametrize("row, message", [
    ([np.nan, 0.5], "pred_probs must be finite; sentence 1, token 0 has nan for class 0."),
    ([-0.5, 1.5], "pred_probs must lie in [0, 1] (tolerance 1e-06); sentence 1, token 0 has -0.5 "
                  "for class 0."),
    ([0.0, 0.0], "cannot renormalize pred_probs: the row of sentence 1, token 0 is all zeros."),
])
def test_pred_probs_values_are_checked_naming_the_file(tmp_path, row, message):
    corpus = read_corpus(write(tmp_path, "a.conll", "a\tO\nb\tB-X\n\nc\tO\n"))
    path = tmp_path / "p.npz"
    write_pred_probs(path, np.array([[0.9, 0.1], [0.2, 0.8], row]), np.array([0, 2, 3]), ["O", "B-X"])
    with pytest.raises(DataError) as info:
        read_pred_probs(path, corpus)
    assert str(info.value) == f"{path}: {message}"


@pytest.mark.parametrize("name, text", [
    ("deep.jsonl", '{"tokens": ' + "[" * 100_000 + "\n"),
    ("deep.json", "[" * 100_000),  # a Label Studio export
])
def test_json_nested_too_deeply_is_an_input_error(tmp_path, name, text):
    # Was a RecursionError: a crash with a traceback for a malformed file.
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DataError, match="nested too deeply"):
        read_corpus(path)
