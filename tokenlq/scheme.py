"""Tagging schemes: what a tag says about its entity, read in one place.

A tag is ``PREFIX-TYPE`` (``B-PER``) with a one-letter prefix saying where the token lies in its
entity, a bare ``TYPE`` (``PER``) in the IO scheme, or ``O`` outside every entity.

==========  ===============================  =========================================
scheme      prefixes                         an entity is
==========  ===============================  =========================================
``IO``      none                             a run of tokens of one type
``BIO``     B (begin), I (inside)            B, then I of the same type
``BIOES``   B, I, E (end), S (single);       B I... E, or S alone
            L and U are read as E and S
==========  ===============================  =========================================

Schemes are data (as in seqeval): every class gets a prefix code and a type index once
(:func:`parse_classes`), and one vectorised decoder reads entity spans from them
(:func:`decode`). Decoding is lenient, as conlleval's: an I- (or E-) token that cannot continue
the previous entity starts a new one.

The module also merges a model's probability columns into coarser ones: tags into entity types
(:func:`merge_classes`) and a transformer's sub-word rows into word rows (:func:`merge_subwords`),
so that probabilities line up with the tags being audited.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np

from . import _validation as v

__all__ = ["OUTSIDE", "SCHEMES", "Classes", "Prefix", "decode", "entity_type", "entity_types",
           "make_tag", "merge_classes", "merge_subwords", "ordered_classes", "parse_classes",
           "split_tag"]

SCHEMES = ("auto", "IO", "BIO", "BIOES")
OUTSIDE = "O"


class Prefix(IntEnum):
    """Where a token lies in its entity: the codes :func:`parse_classes` gives each class."""

    OUTSIDE = 0
    BEGIN = 1
    INSIDE = 2
    END = 3
    SINGLE = 4


# L (last) and U (unit) are BILOU's names for E and S.
_PREFIXES = {"B": Prefix.BEGIN, "I": Prefix.INSIDE, "E": Prefix.END, "S": Prefix.SINGLE,
             "L": Prefix.END, "U": Prefix.SINGLE}
_ORDER = "BIES"  # the order of a type's tags in ordered_classes


def split_tag(tag: str) -> tuple[str, str]:
    """The prefix and the type of ``tag``: ``('B', 'PER')`` for ``'B-PER'``, ``('', tag)`` for a
    tag without a one-letter prefix (``'O'``, ``'PER'``).

    Any single character before the hyphen counts as a prefix here; :func:`parse_classes` checks
    it against a scheme.

    Examples
    --------
    >>> split_tag("B-PER"), split_tag("O"), split_tag("PER")
    (('B', 'PER'), ('', 'O'), ('', 'PER'))
    """
    if len(tag) > 2 and tag[1] == "-":
        return tag[0], tag[2:]
    return "", tag


def entity_type(tag: str) -> str:
    """The entity type of ``tag`` (``'PER'`` for ``'B-PER'``); other tags, ``'O'`` included,
    are their own type.

    Examples
    --------
    >>> entity_type("I-LOC"), entity_type("O")
    ('LOC', 'O')
    """
    return split_tag(tag)[1]


def make_tag(prefix: str, typ: str) -> str:
    """The tag of entity type ``typ`` with ``prefix`` (``''`` for none): the inverse of
    :func:`split_tag`.

    Examples
    --------
    >>> make_tag("B", "PER"), make_tag("", "PER")
    ('B-PER', 'PER')
    """
    return f"{prefix}-{typ}" if prefix else typ


def entity_types(class_names) -> tuple[list[str], np.ndarray]:
    """The entity types of ``class_names`` in order of first appearance (``'O'`` included, as
    its own type) and the type index of every class.

    Returns
    -------
    types : list of T str
    type_index : ndarray of shape (K,)
        ``types[type_index[k]]`` is the type of ``class_names[k]``.

    Examples
    --------
    >>> types, index = entity_types(["O", "B-PER", "I-PER", "B-LOC"])
    >>> types, index.tolist()
    (['O', 'PER', 'LOC'], [0, 1, 1, 2])
    """
    of_class = [entity_type(str(c)) for c in class_names]
    types = list(dict.fromkeys(of_class))
    position = {t: i for i, t in enumerate(types)}
    return types, np.array([position[t] for t in of_class], dtype=np.int64)


def ordered_classes(names) -> list[str]:
    """``'O'`` first, then the tags of each entity type together (B before I before E before S),
    sorted by type, with any other name in the same alphabetical order.

    Examples
    --------
    >>> ordered_classes(["I-PER", "B-LOC", "O", "B-PER", "X"])
    ['O', 'B-LOC', 'B-PER', 'I-PER', 'X']
    """
    def key(name):
        prefix, typ = split_tag(name)
        return (typ, _ORDER.index(prefix)) if prefix and prefix in _ORDER else (name, -1)

    return [OUTSIDE] + sorted(set(names) - {OUTSIDE}, key=key)


class Classes(NamedTuple):
    """How a scheme reads each of K class names (:func:`parse_classes`)."""

    scheme: str  # 'IO', 'BIO' or 'BIOES'
    prefixes: np.ndarray  # (K,) int8 Prefix code; Prefix.OUTSIDE for 'O'
    type_of: np.ndarray  # (K,) int64 index into ``types``; -1 for 'O'
    types: list  # the entity types, in order of first appearance


def parse_classes(class_names, *, scheme: str = "auto", func: str = "parse_classes") -> Classes:
    """Read every class name by ``scheme`` ('auto' infers it from the names).

    Raises TokenLQInputError, naming ``func``, for a missing ``class_names`` or a name the
    scheme cannot read.

    Examples
    --------
    >>> parse_classes(["O", "B-PER", "I-PER", "S-LOC"]).scheme
    'BIOES'
    >>> parse_classes(["O", "PER", "LOC"]).types
    ['PER', 'LOC']
    """
    v.check_option(scheme, "scheme", SCHEMES, func)
    if class_names is None:
        raise v.TokenLQInputError(f"{func}: 'class_names' is required to read entity types from "
                                  "labels (for example ['O', 'B-PER', 'I-PER']).")
    names = [str(c) for c in class_names]
    split = [split_tag(n) for n in names]
    if scheme == "auto":
        prefixed = [p for n, (p, _) in zip(names, split) if n != OUTSIDE]
        if not prefixed or not all(p in _PREFIXES for p in prefixed):
            scheme = "IO"
        elif any(p in "ESLU" for p in prefixed):
            scheme = "BIOES"
        else:
            scheme = "BIO"
    prefixes = np.zeros(len(names), dtype=np.int8)
    type_of = np.full(len(names), -1, dtype=np.int64)
    types: dict[str, int] = {}
    for k, (name, (prefix, typ)) in enumerate(zip(names, split)):
        if name == OUTSIDE:
            continue
        if scheme == "IO":
            code, typ = Prefix.INSIDE, name
        else:
            if prefix not in _PREFIXES:
                raise v.TokenLQInputError(
                    f"{func}: class name {name!r} does not follow the {scheme} scheme "
                    "(expected 'O' or PREFIX-TYPE such as 'B-PER').")
            code = _PREFIXES[prefix]
            if scheme == "BIO" and code in (Prefix.END, Prefix.SINGLE):
                raise v.TokenLQInputError(
                    f"{func}: class name {name!r} is not valid in the BIO scheme.")
        prefixes[k] = code
        type_of[k] = types.setdefault(typ, len(types))
    return Classes(scheme, prefixes, type_of, list(types))


def decode(labels: np.ndarray, offsets: np.ndarray, classes: Classes):
    """Flat ``(start, end, type index)`` arrays of every entity span of flat class indices;
    ``end`` is exclusive. Assumes checked input (labels below K, valid offsets).

    Examples
    --------
    >>> classes = parse_classes(["O", "B-PER", "I-PER"])
    >>> [a.tolist() for a in decode(np.array([1, 2, 0, 2]), np.array([0, 3, 4]), classes)]
    [[0, 3], [2, 4], [0, 0]]
    """
    n = len(labels)
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    prefix = classes.prefixes[labels]
    typ = classes.type_of[labels]
    inside = prefix != Prefix.OUTSIDE
    first = np.zeros(n, dtype=bool)
    first[offsets[:-1][np.diff(offsets) > 0]] = True
    prev_prefix = np.concatenate(([Prefix.OUTSIDE], prefix[:-1]))
    prev_type = np.concatenate(([-1], typ[:-1]))
    starts_here = inside & (first | (prev_prefix == Prefix.OUTSIDE) | (prev_type != typ)
                            | (prefix == Prefix.BEGIN) | (prefix == Prefix.SINGLE)
                            | (prev_prefix == Prefix.END) | (prev_prefix == Prefix.SINGLE))
    next_starts = np.concatenate((starts_here[1:], [True]))
    next_inside = np.concatenate((inside[1:], [False]))
    last = np.zeros(n, dtype=bool)
    last[offsets[1:][np.diff(offsets) > 0] - 1] = True
    ends_here = inside & (last | next_starts | ~next_inside)
    starts = np.flatnonzero(starts_here)
    ends = np.flatnonzero(ends_here) + 1
    return starts, ends, typ[starts]


def merge_classes(pred_probs, class_names, mapping=None):
    """Sum probability columns into coarser classes, by default tags into entity types
    (``'B-PER'``, ``'I-PER'`` -> ``'PER'``).

    Parameters
    ----------
    pred_probs : array-like of shape (n, K)
    class_names : list of K str
    mapping : dict, default=None
        Coarser name of each class; a class it does not list keeps its name. When None (or
        empty), :func:`entity_type`.

    Returns
    -------
    merged_probs : ndarray of shape (n, T)
    merged_names : list of T str
        In order of first appearance.

    Examples
    --------
    >>> probs, names = merge_classes(np.array([[.5, .2, .3]]), ["O", "B-PER", "I-PER"])
    >>> names, probs.round(2).tolist()
    (['O', 'PER'], [[0.5, 0.5]])
    """
    if not mapping:
        merged, index = entity_types(class_names)
    else:
        coarse = [mapping.get(c, c) for c in class_names]
        merged = list(dict.fromkeys(coarse))
        index = np.array([merged.index(c) for c in coarse], dtype=np.int64)
    pred_probs = np.asarray(pred_probs, dtype=float)
    out = np.zeros((len(pred_probs), len(merged)))
    targets = index.tolist()
    # K columns added in class order (the same sums), a block of rows at a time: a whole
    # column of a million rows at once strides through memory, 4x slower.
    for start in range(0, len(pred_probs), _MERGE_BLOCK):
        block, rows = out[start:start + _MERGE_BLOCK], pred_probs[start:start + _MERGE_BLOCK]
        for k, target in enumerate(targets):
            block[:, target] += rows[:, k]
    return out, merged


_MERGE_BLOCK = 65536


def merge_subwords(pred_probs, word_ids, *, how: str = "mean") -> np.ndarray:
    """Word rows from a transformer's sub-word rows.

    Parameters
    ----------
    pred_probs : array-like of shape (n_subwords, K)
    word_ids : sequence of n_subwords int or None
        The word of every row (None or -1 for special tokens), not decreasing.
    how : {'mean', 'first'}, default='mean'
        Average a word's pieces, or keep its first piece.

    Returns
    -------
    word_probs : ndarray of shape (n_words, K)

    Examples
    --------
    >>> merge_subwords(np.array([[.9, .1], [.5, .5], [.7, .3], [.2, .8]]), [None, 0, 0, 1]).tolist()
    [[0.6, 0.4], [0.2, 0.8]]
    """
    v.check_option(how, "how", ("mean", "first"), "merge_subwords")
    pred_probs = np.asarray(pred_probs, dtype=float)
    ids = np.array([-1 if w is None else int(w) for w in word_ids])
    if len(ids) != len(pred_probs):
        raise v.TokenLQInputError(f"merge_subwords: 'word_ids' must give one word per row of "
                                  f"pred_probs; got {len(ids)} word ids for {len(pred_probs)} "
                                  "rows.")
    keep = ids >= 0
    ids, rows = ids[keep], pred_probs[keep]
    if len(ids) and (np.diff(ids) < 0).any():
        raise v.TokenLQInputError("merge_subwords: 'word_ids' must not decrease (one word's rows "
                                  "are consecutive).")
    n_words = int(ids.max()) + 1 if len(ids) else 0
    if how == "first":
        first = np.unique(ids, return_index=True)[1]
        out = np.zeros((n_words, pred_probs.shape[1]))
        out[ids[first]] = rows[first]
        return out
    sums = np.zeros((n_words, pred_probs.shape[1]))
    np.add.at(sums, ids, rows)
    counts = np.bincount(ids, minlength=n_words)[:, None]
    return sums / np.maximum(counts, 1)
