"""Generated NER data with known label errors, for demos and tests (no downloads).

:func:`make_ner_corpus` writes sentences from small word lists with PER / LOC / ORG / MISC
entities in BIO labels, injects realistic label errors (missed entities, type swaps, boundary
shifts, spurious entities) and simulates out-of-sample probabilities of an imperfect model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["CLASS_NAMES", "SyntheticCorpus", "make_ner_corpus"]

CLASS_NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]

_ENTITIES = {
    "PER": [["Anna", "Schmidt"], ["John"], ["Maria", "Garcia"], ["Li", "Wei"], ["Omar"],
            ["Sara", "Berg"], ["Tom", "Hardy"], ["Aiko"], ["Peter", "Novak"], ["Lena"]],
    "LOC": [["Paris"], ["New", "York"], ["Berlin"], ["Lake", "Geneva"], ["Tokyo"], ["Lagos"],
            ["Rio", "de", "Janeiro"], ["Oslo"], ["Cairo"], ["San", "Diego"]],
    "ORG": [["Acme", "Corp"], ["United", "Nations"], ["Globex"], ["Red", "Cross"], ["Initech"],
            ["City", "Council"], ["Nordbank"], ["Open", "Labs"], ["FIFA"], ["Siemens"]],
    "MISC": [["Olympics"], ["French"], ["Nobel", "Prize"], ["Python"], ["Easter"],
             ["World", "Cup"], ["German"], ["Oscars"], ["Linux"], ["Ramadan"]],
}
_FILLER = ("the a said on in at with from visited met joined for about after before new old "
           "report today yesterday team plans will was is to of and".split())
_TYPES = list(_ENTITIES)


@dataclass
class SyntheticCorpus:
    """Tokens, given (noisy) and true labels as class indices, and simulated pred_probs."""

    tokens: list[list[str]]
    labels: list[list[int]]
    true_labels: list[list[int]]
    pred_probs: list[np.ndarray]
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    errors: list[tuple[int, str]] = field(default_factory=list)  # (sentence, kind)

    @property
    def error_tokens(self) -> set[tuple[int, int]]:
        """(sentence, token) pairs whose given label differs from the true one."""
        return {(i, j) for i, (g, t) in enumerate(zip(self.labels, self.true_labels))
                for j, (a, b) in enumerate(zip(g, t)) if a != b}


def _label(typ: str, position: int) -> int:
    return CLASS_NAMES.index(("B-" if position == 0 else "I-") + typ)


def make_ner_corpus(n_sentences: int = 500, *, error_rate: float = 0.05, model_error: float = 0.03,
                    seed: int = 0) -> SyntheticCorpus:
    """A corpus of ``n_sentences`` with label errors in about ``error_rate`` of the entities.

    ``model_error`` is the share of tokens where the simulated model itself is wrong.

    Examples
    --------
    >>> corpus = make_ner_corpus(50, seed=1)
    >>> len(corpus.tokens), len(corpus.pred_probs[0]) == len(corpus.tokens[0])
    (50, True)
    """
    rng = np.random.default_rng(seed)
    K = len(CLASS_NAMES)
    tokens, truth, entity_spans = [], [], []
    for _ in range(n_sentences):
        words, labels, spans = [], [], []
        for _ in range(int(rng.integers(1, 4))):
            words += [str(w) for w in rng.choice(_FILLER, int(rng.integers(1, 5)))]
            labels += [0] * (len(words) - len(labels))
            typ = _TYPES[int(rng.integers(len(_TYPES)))]
            mention = _ENTITIES[typ][int(rng.integers(len(_ENTITIES[typ])))]
            spans.append((len(words), len(words) + len(mention), typ))
            words += mention
            labels += [_label(typ, p) for p in range(len(mention))]
        words += [str(w) for w in rng.choice(_FILLER, int(rng.integers(0, 3)))] + ["."]
        labels += [0] * (len(words) - len(labels))
        tokens.append(words)
        truth.append(labels)
        entity_spans.append(spans)

    given = [list(s) for s in truth]
    errors = []
    for i, spans in enumerate(entity_spans):
        for start, end, typ in spans:
            if rng.random() >= error_rate:
                continue
            kind = ["missing", "wrong_type", "boundary", "spurious"][int(rng.integers(4))]
            if kind == "missing":
                given[i][start:end] = [0] * (end - start)
            elif kind == "wrong_type":
                other = _TYPES[(_TYPES.index(typ) + int(rng.integers(1, 4))) % 4]
                given[i][start:end] = [_label(other, p) for p in range(end - start)]
            elif kind == "boundary":
                if end < len(given[i]) - 1 and given[i][end] == 0:
                    given[i][end] = _label(typ, 1)  # one token too long
                elif end - start > 1:
                    given[i][end - 1] = 0  # one token too short
                else:
                    continue
            else:
                outside = [j for j, lab in enumerate(given[i]) if lab == 0 and tokens[i][j] != "."]
                if not outside:
                    continue
                j = outside[int(rng.integers(len(outside)))]
                given[i][j] = _label(_TYPES[int(rng.integers(4))], 0)
            errors.append((i, kind))

    pred_probs = []
    for labels in truth:
        n = len(labels)
        peak = np.array(labels)
        wrong = rng.random(n) < model_error
        peak[wrong] = rng.integers(0, K, int(wrong.sum()))
        alpha = np.full((n, K), 0.2)
        alpha[np.arange(n), peak] += np.where(wrong, rng.uniform(1, 3, n), rng.uniform(4, 12, n))
        # A model's own mistakes are less sure: the true class keeps some of the mass.
        alpha[np.arange(n)[wrong], np.array(labels)[wrong]] += rng.uniform(1, 3, int(wrong.sum()))
        probs = rng.standard_gamma(alpha)
        pred_probs.append(probs / probs.sum(axis=1, keepdims=True))
    return SyntheticCorpus(tokens, given, truth, pred_probs, errors=errors)
