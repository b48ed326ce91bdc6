"""`tokenlq audit`: files in, report folder out, exit 2 with file:line on bad input."""

import numpy as np
import pandas as pd
import pytest

from tokenlq.audit import audit, audit_tokens
from tokenlq.cli import main
from tokenlq.io import Corpus
from tokenlq.synthetic import make_ner_corpus


@pytest.fixture(scope="module")
def conll(tmp_path_factory):
    corpus = make_ner_corpus(300, error_rate=0.08, seed=2)
    corpus.tokens = [["<script>alert(1)</script>"] + t for t in corpus.tokens]
    corpus.labels = [[0] + y for y in corpus.labels]
    corpus.true_labels = [[0] + y for y in corpus.true_labels]
    path = tmp_path_factory.mktemp("data") / "data.conll"
    lines = []
    for i, (tokens, labels) in enumerate(zip(corpus.tokens, corpus.labels)):
        lines += [f"{t}\t{corpus.class_names[k]}" for t, k in zip(tokens, labels)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path, corpus


@pytest.mark.e2e  # the whole command, auto model: crf+encoder where installed (~15-30 s)
def test_audit_writes_every_output(conll, tmp_path, capsys):
    path, corpus = conll
    out = tmp_path / "report"
    assert main(["audit", str(path), "--out", str(out), "--folds", "3"]) == 0
    assert "suspect tokens" in capsys.readouterr().out
    sentences = pd.read_csv(out / "sentence_scores.csv")
    assert sentences.columns.tolist() == ["sentence", "score", "is_issue"]
    assert sentences["sentence"].tolist() == list(range(300))
    tokens = pd.read_csv(out / "token_issues.csv")
    assert tokens.columns.tolist() == ["sentence", "token_index", "token", "given_label",
                                       "suggested_label", "score"]
    assert tokens["score"].is_monotonic_increasing
    # is_issue marks exactly the sentences holding a flagged token.
    assert set(sentences.loc[sentences["is_issue"], "sentence"]) == set(tokens["sentence"])
    spans = pd.read_csv(out / "span_issues.csv")
    assert spans.columns.tolist() == ["sentence", "start_token", "end_token", "text", "given",
                                      "suggested", "kind", "score"]
    assert set(spans["kind"]) <= {"missing", "spurious", "wrong_type", "boundary"}
    # Most of the injected errors surface among the flagged sentences.
    wrong = {i for i, _ in corpus.error_tokens}
    flagged = set(tokens["sentence"])
    assert len(wrong & flagged) / len(wrong) > 0.6
    assert pd.read_csv(out / "class_summary.csv")["class"].iloc[0] == "O"
    page = (out / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;" in page


@pytest.mark.e2e  # the whole command, auto model: crf+encoder where installed (~15-30 s)
def test_pred_probs_are_reusable(conll, tmp_path):
    path, _ = conll
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["audit", str(path), "--out", str(first), "--folds", "3"]) == 0
    assert main(["audit", str(path), "--out", str(second),
                 "--pred-probs", str(first / "pred_probs.npz")]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(first / "sentence_scores.csv"),
                                  pd.read_csv(second / "sentence_scores.csv"))


def test_bad_input_exits_2_naming_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("fine\tO\nbroken\n", encoding="utf-8")
    assert main(["audit", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert f"{bad}:2:" in capsys.readouterr().err
    assert main(["audit", str(tmp_path / "absent.conll")]) == 2


def test_pred_probs_without_a_column_for_a_label_exits_2(conll, tmp_path, capsys):
    import numpy as np

    path, corpus = conll
    n = sum(map(len, corpus.tokens))
    probs = tmp_path / "two.npz"
    offsets = np.concatenate(([0], np.cumsum([len(s) for s in corpus.tokens])))
    np.savez(probs, pred_probs=np.full((n, 2), 0.5), offsets=offsets, class_names=np.array(["O", "B-PER"]))
    assert main(["audit", str(path), "--pred-probs", str(probs), "--out", str(tmp_path / "r")]) == 2
    assert "that pred_probs has no column for" in capsys.readouterr().err


@pytest.mark.encoder
def test_model_choice_is_reported(conll, tmp_path):
    path, corpus = conll
    scores = {}
    for name in ("crf", "auto"):
        out = tmp_path / name
        assert main(["audit", str(path), "--out", str(out), "--folds", "3", "--model", name]) == 0
        page = (out / "report.html").read_text()
        assert ("CRF + encoder classifier" in page) == (name == "auto")  # the extra is installed
        why = ("auto: crf+encoder ranked realistic label errors best" if name == "auto"
               else "asked for crf")
        assert why in page  # the settings say why this model
        scores[name] = pd.read_csv(out / "sentence_scores.csv")["score"]
    assert not scores["crf"].equals(scores["auto"])


def test_a_missing_extra_exits_2(conll, tmp_path, capsys, monkeypatch):
    path, corpus = conll
    from tokenlq import encoder

    monkeypatch.setattr(encoder, "available", lambda: False)
    assert main(["audit", str(path), "--out", str(tmp_path / "x"), "--model", "crf+encoder"]) == 2
    assert "pip install 'tokenlq[encoder]'" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["crf", pytest.param("crf+encoder", marks=pytest.mark.encoder)])
def test_train_file_is_learned_from_but_not_audited(tmp_path, model):
    def write(path, tokens, tags):
        path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in zip(ws, ts))
                                    for ws, ts in zip(tokens, tags)) + "\n", encoding="utf-8")

    corpus = make_ner_corpus(60, error_rate=0.0, seed=4)
    names = corpus.class_names
    tags = [[names[k] for k in s] for s in corpus.labels]
    # "Zorblax" is an organisation only the trusted file knows about.
    audited = [["Zorblax", "hired", "them", "."]] + corpus.tokens
    audited_tags = [["B-ORG", "O", "O", "O"]] + tags
    trusted = [["Zorblax", "said", "so", "."], ["They", "joined", "Zorblax", "."]] * 40
    trusted_tags = [["B-ORG", "O", "O", "O"], ["O", "O", "B-ORG", "O"]] * 40
    data, train = tmp_path / "data.conll", tmp_path / "train.conll"
    write(data, audited, audited_tags)
    write(train, trusted, trusted_tags)
    alone, helped = tmp_path / "alone", tmp_path / "helped"
    assert main(["audit", str(data), "--out", str(alone), "--model", model, "--folds", "3"]) == 0
    assert main(["audit", str(data), "--out", str(helped), "--model", model, "--folds", "3",
                 "--train", str(train)]) == 0
    scores = pd.read_csv(helped / "sentence_scores.csv")
    assert len(scores) == len(audited)  # the trusted sentences are not audited
    before = pd.read_csv(alone / "sentence_scores.csv")["score"][0]
    after = scores["score"][0]
    assert after > 0.5 > before, (before, after)


def _flat_corpus(seed):
    """A flat corpus of 150 sentences, about a fifth of its labels off the likeliest class."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, 150)
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    probs = rng.dirichlet(np.full(5, 0.3), offsets[-1])
    labels = np.where(rng.random(offsets[-1]) < 0.8, probs.argmax(axis=1),
                      rng.integers(0, 5, offsets[-1]))
    corpus = Corpus([[f"w{i}.{j}" for j in range(n)] for i, n in enumerate(lengths)],
                    [[NAMES[k] for k in labels[a:b]] for a, b in zip(offsets[:-1], offsets[1:])])
    return rng, labels, probs, offsets, corpus


NAMES = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_audit_tokens_is_audit_on_flat_data():
    _, labels, probs, offsets, corpus = _flat_corpus(0)
    whole = audit(corpus, pred_probs=probs, pred_probs_classes=NAMES)
    flat = audit_tokens(labels, probs, offsets, class_names=NAMES, corpus=corpus)
    assert flat.issues == whole.issues and len(flat.issues) > 10
    np.testing.assert_array_equal(flat.sentence_scores, whole.sentence_scores)
    pd.testing.assert_frame_equal(flat.spans, whole.spans)
    pd.testing.assert_frame_equal(flat.classes, whole.classes)
    assert whole.settings["folds"] == 5 and flat.settings["sentence score"] == "min"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_audit_tokens_since_a_previous_result_is_the_same_as_anew(seed):
    rng, labels, probs, offsets, corpus = _flat_corpus(seed)
    before = audit_tokens(labels, probs, offsets, class_names=NAMES, corpus=corpus)
    moved = 0
    for _ in range(8):  # edits one after another, each from the result before it
        changed = rng.choice(len(offsets) - 1, rng.integers(0, 5), replace=False).tolist()
        labels, probs = labels.copy(), probs.copy()
        for i in changed:
            a, b = offsets[i], offsets[i + 1]
            labels[a:b] = rng.integers(0, 5, b - a)
            if rng.random() < 0.5:  # new words, new probabilities
                probs[a:b] = rng.dirichlet(np.full(5, 0.3), b - a)
        anew = audit_tokens(labels, probs, offsets, class_names=NAMES, corpus=corpus)
        since = audit_tokens(labels, probs, offsets, class_names=NAMES, corpus=corpus,
                             previous=before, changed=changed)
        assert since.issues == anew.issues
        pd.testing.assert_frame_equal(since.spans, anew.spans)
        # Flags move in sentences nobody edited (the thresholds are corpus-wide).
        moved += len(({i for i, _ in anew.issues} ^ {i for i, _ in before.issues}) - set(changed))
        before = since
    assert moved > 0


def test_audit_tokens_since_other_sentences_starts_anew():
    _, labels, probs, offsets, corpus = _flat_corpus(4)
    before = audit_tokens(labels, probs, offsets, class_names=NAMES, corpus=corpus)
    # One sentence fewer: the previous result is not of these sentences, and is not used.
    cut = int(offsets[-2])
    shorter = Corpus(corpus.tokens[:-1], corpus.labels[:-1])
    anew = audit_tokens(labels[:cut], probs[:cut], offsets[:-1], class_names=NAMES, corpus=shorter)
    since = audit_tokens(labels[:cut], probs[:cut], offsets[:-1], class_names=NAMES,
                         corpus=shorter, previous=before, changed=[])
    pd.testing.assert_frame_equal(since.spans, anew.spans)


def test_audit_tokens_names_a_changed_sentence_that_is_not_there():
    from tokenlq import TokenLQInputError

    _, labels, probs, offsets, corpus = _flat_corpus(5)
    before = audit_tokens(labels, probs, offsets, class_names=NAMES, corpus=corpus)
    with pytest.raises(TokenLQInputError, match=r"'changed' must hold sentence indices from 0 to 149"):
        audit_tokens(labels, probs, offsets, class_names=NAMES, corpus=corpus, previous=before,
                     changed=[3, 150])
