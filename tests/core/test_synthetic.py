"""The generated demo corpus: English-looking sentences, deterministic, realistic injected errors."""

from collections import Counter

import numpy as np

from tokenlq.synthetic import CLASS_NAMES, make_ner_corpus


def entities(tags):
    """(start, end, type) of the BIO entities in one sentence of class indices."""
    out, start = [], None
    names = [CLASS_NAMES[k] for k in tags] + ["O"]
    for j, name in enumerate(names):
        if start is not None and not name.startswith("I-"):
            out.append((start, j, names[start][2:]))
            start = None
        if name.startswith("B-"):
            start = j
    return out


def test_sentences_read_like_language_with_multi_token_names():
    corpus = make_ner_corpus(400, error_rate=0.0, seed=0)
    texts = [" ".join(t) for t in corpus.tokens]
    assert all(t[-1] == "." and t[0][:1].isupper() for t in corpus.tokens)
    assert len(set(texts)) > 390  # templates x name pools: hardly a repeat
    spans = [(t[s:e], typ) for t, y in zip(corpus.tokens, corpus.true_labels)
             for s, e, typ in entities(y)]
    assert {typ for _, typ in spans} == {"PER", "LOC", "ORG", "MISC"}
    assert sum(e > 1 for e in map(len, (w for w, _ in spans))) > len(spans) / 4
    assert len({tuple(w) for w, _ in spans}) > 200  # many distinct names, not a memorisable few
    # No word salad: no word twice in a row, function words where English puts them.
    assert not any(a == b for t in corpus.tokens for a, b in zip(t, t[1:]))
    assert corpus.labels == corpus.true_labels and corpus.errors == []


def test_the_same_seed_gives_the_same_corpus():
    a, b = make_ner_corpus(80, seed=7), make_ner_corpus(80, seed=7)
    assert a.tokens == b.tokens and a.labels == b.labels and a.errors == b.errors
    for x, y in zip(a.pred_probs, b.pred_probs):
        np.testing.assert_array_equal(x, y)
    assert make_ner_corpus(80, seed=8).tokens != a.tokens


def test_injected_errors_are_mostly_missed_entities_and_all_show_in_the_labels():
    corpus = make_ner_corpus(2000, error_rate=0.06, seed=1)
    kinds = Counter(kind for _, kind in corpus.errors)
    assert set(kinds) == {"missing", "wrong_type", "boundary", "spurious"}
    assert kinds.most_common(1)[0][0] == "missing"
    n_entities = sum(len(entities(y)) for y in corpus.true_labels)
    assert 0.04 < len(corpus.errors) / n_entities < 0.12
    assert {i for i, _ in corpus.errors} == {i for i, _ in corpus.error_tokens}
    for labels in corpus.labels:  # still valid BIO: no I- without its B-
        names = [CLASS_NAMES[k] for k in labels]
        assert all(not n.startswith("I-") or p[2:] == n[2:] for p, n in zip(["O"] + names, names))


def test_type_confusions_are_plausible_ones():
    corpus = make_ner_corpus(3000, error_rate=0.1, seed=2)
    swaps = Counter()
    for given, true in zip(corpus.labels, corpus.true_labels):
        now = {(s, e): typ for s, e, typ in entities(given)}
        swaps.update((typ, now[s, e]) for s, e, typ in entities(true)
                     if now.get((s, e), typ) != typ)
    # Places and organisations are confused with each other far more than people with places.
    assert swaps["ORG", "LOC"] > swaps["PER", "LOC"] and swaps["LOC", "ORG"] > swaps["LOC", "PER"]


def test_a_boundary_error_can_cut_a_multi_token_name():
    corpus = make_ner_corpus(3000, error_rate=0.1, seed=3)
    cut = [(t, g, y) for i, kind in corpus.errors if kind == "boundary"
           for t, g, y in [(corpus.tokens[i], corpus.labels[i], corpus.true_labels[i])]
           if any((s, e - 1, typ) in entities(g) for s, e, typ in entities(y) if e - s > 1)]
    assert cut  # e.g. "United" tagged where the name is "United Nations"
