"""`tokenlq audit` under generated files: CoNLL, JSONL and Label Studio exports of every shape
(misaligned spans, wrong types, missing fields, bytes that are no text) and pred_probs files with
NaN, negative, non-normalised rows, wrong widths or no sentence match. The command either writes
a report (exit 0) or names the problem in one line (exit 2); it never raises."""

import contextlib
import io
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

from tokenlq import TokenLQWarning
from tokenlq.cli import main
from tokenlq.io import DataError, read_corpus, write_pred_probs


FUZZ = settings(max_examples=500, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

tags = st.one_of(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-", "I-ORG", "X"]),
                 st.text(max_size=6))
words = st.one_of(st.sampled_from(["Anna", "lives", "in", "New", "York", ".", "-DOCSTART-"]),
                  st.text(max_size=8))
sentences = st.lists(st.tuples(words, tags), max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15)


def conll(doc):
    return "\n\n".join("\n".join(f"{w}\t{t}" if i % 2 else f"{w} {t}" for i, (w, t) in enumerate(s))
                       for s in doc)


regions = st.fixed_dictionaries({"type": st.sampled_from(["labels", "choices"]),
                                 "from_name": st.just("label"),
                                 "value": st.one_of(json_values, st.fixed_dictionaries({
                                     "start": st.one_of(st.integers(-3, 40), json_values),
                                     "end": st.one_of(st.integers(-3, 40), json_values),
                                     "labels": st.one_of(st.lists(tags, max_size=2), json_values)}))})
ls_tasks = st.one_of(json_values, st.fixed_dictionaries({"id": st.integers(0, 99)}, optional={
    "data": st.one_of(json_values, st.fixed_dictionaries({"text": st.one_of(
        st.text(max_size=40), st.just("Anna lives in New York ."), json_values)}, optional={
        "tokens": st.one_of(st.lists(words, max_size=6), json_values)})),
    "annotations": st.one_of(json_values, st.lists(st.fixed_dictionaries(
        {"result": st.one_of(st.lists(regions, max_size=4), json_values)},
        optional={"was_cancelled": st.booleans(), "updated_at": json_values, "id": json_values,
                  "ground_truth": json_values}), max_size=3))}))
jsonl_records = st.one_of(json_values, st.fixed_dictionaries(
    {"tokens": st.one_of(st.lists(words, max_size=5), json_values),
     "labels": st.one_of(st.lists(tags, max_size=5), json_values)}))

# Well-formed corpora too, so that the scoring path runs on odd but valid data.
clean_sentences = st.lists(st.tuples(st.sampled_from(["Anna", "lives", "in", "York", "."]),
                                     st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])),
                           min_size=1, max_size=6)
clean_tasks = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 24), st.sampled_from(["PER", "LOC"])),
                       max_size=3).map(lambda spans: {"data": {"text": "Anna lives in New York ."},
                                                      "annotations": [{"result": [
                                                          {"type": "labels", "from_name": "label",
                                                           "value": {"start": a, "end": b, "labels": [t]}}
                                                          for a, b, t in spans]}]})
files = st.one_of(
    st.lists(clean_sentences, min_size=1, max_size=8).map(conll).map(str.encode),
    st.lists(clean_tasks, min_size=1, max_size=8).map(lambda ts: json.dumps(ts).encode()),
    st.lists(sentences, max_size=4).map(conll).map(str.encode),
    st.lists(jsonl_records, max_size=4).map(lambda rs: "\n".join(json.dumps(r) for r in rs).encode()),
    st.lists(ls_tasks, max_size=4).map(lambda ts: json.dumps(ts).encode()),
    st.one_of(json_values.map(json.dumps), st.text(max_size=200)).map(str.encode),
    st.binary(max_size=200))


def probability_file(data, corpus, path: Path) -> None:
    """A pred_probs .npz for ``corpus``: right, or wrong in one of the ways users get it wrong."""
    names = corpus.class_names()
    n = corpus.n_tokens
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in corpus.tokens])])
    width = len(names) + data.draw(st.sampled_from([0, 0, 0, -1, 1]), label="extra columns")
    probs = np.random.default_rng(data.draw(st.integers(0, 99), label="seed")).random((n, max(width, 1)))
    probs /= probs.sum(axis=1, keepdims=True)
    flaw = data.draw(st.sampled_from(["none", "nan", "negative", "unnormalised", "offsets",
                                      "names", "inf"]), label="flaw")
    if n and flaw in ("nan", "negative", "inf"):
        probs[data.draw(st.integers(0, n - 1), label="row"), 0] = \
            {"nan": np.nan, "negative": -0.5, "inf": np.inf}[flaw]
    if flaw == "unnormalised":
        probs *= 1.7
    if flaw == "offsets":
        offsets = offsets[::-1].copy()
    if flaw == "names":
        names = [f"B-{name}" for name in names]
    write_pred_probs(path, probs, offsets, names[:probs.shape[1]] + ["B-EXTRA"] * (probs.shape[1] - len(names)))


@FUZZ
@given(content=files, data=st.data(),
       probs=st.sampled_from(["generated", "generated", "garbage", "none"]))
def test_audit_writes_a_report_or_names_the_problem(content, data, probs, count_cases):
    count_cases("cli audit files")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        source = folder / "data.txt"
        source.write_bytes(content)
        argv = ["audit", str(source), "--out", str(folder / "report"), "--folds", "2"]
        try:
            corpus = read_corpus(source)
        except (DataError, ValueError):
            corpus = None
        if corpus is not None and probs == "none":
            probs = "generated"  # the embedded model's fit is tested elsewhere; keep cases fast
        if probs == "generated" and corpus is not None:
            probability_file(data, corpus, folder / "probs.npz")
            argv += ["--pred-probs", str(folder / "probs.npz")]
        elif probs == "garbage":
            (folder / "probs.npz").write_bytes(data.draw(st.binary(max_size=64), label="npz bytes"))
            argv += ["--pred-probs", str(folder / "probs.npz")]
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            status = main(argv)
        # tokenlq's own warnings (a class too rare to search, ...) are fine; any other is not.
        assert all(w.category is TokenLQWarning for w in caught), [str(w.message) for w in caught]
        message = err.getvalue()
        assert status in (0, 2), (status, message)
        if status == 2:
            assert message.startswith("tokenlq audit: ") and message.count("\n") == 1, message
        else:
            assert (folder / "report" / "report.html").is_file()
