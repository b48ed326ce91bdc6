"""Corpus readers: CoNLL, JSONL, Label Studio export; pred_probs .npz."""

import json

import numpy as np
import pytest

from tokenlq.io import DataError, detect_format, read_corpus, read_pred_probs, tokenize, write_pred_probs


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conll_separators_docstart_and_columns(tmp_path):
    text = ("\ufeff-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n \t \n"
            "German\tB-MISC\ncall\tO\n\t\n\u200b\nPeter B-PER\nBlackburn I-PER\n")
    corpus = read_corpus(write(tmp_path, "a.conll", text))
    assert corpus.tokens == [["EU", "rejects"], ["German", "call"], ["Peter", "Blackburn"]]
    assert corpus.labels == [["B-ORG", "O"], ["B-MISC", "O"], ["B-PER", "I-PER"]]
    assert corpus.sources[0].endswith("a.conll:3")
    assert corpus.class_names() == ["O", "B-MISC", "B-ORG", "B-PER", "I-PER"]


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


def test_tokenize_offsets():
    assert tokenize("Hi, U.S. state-of-art") == [("Hi", 0, 2), (",", 2, 3), ("U.S", 4, 7),
                                                 (".", 7, 8), ("state-of-art", 9, 21)]


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
    (None, "not a tokenlq pred_probs .npz"),  # an empty file
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
