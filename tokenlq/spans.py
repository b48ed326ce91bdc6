"""Entity spans: IO / BIO / BIOES decoding and encoding, and entity-level label issues.

Token-level issues say *which token* looks wrong; annotators fix *entities*. This module groups
flagged tokens into entity-level findings, each classified as

``missing``     the given labels have no entity where the model suggests one;
``spurious``    the given labels have an entity where the model suggests none;
``wrong_type``  the entity exists but the suggested type differs;
``boundary``    the same type, but the suggested extent differs (longer, shorter, split, merged);

with a score in [0, 1] (lower = more likely wrong) and the suggested span.

Class names follow the IO, BIO or BIOES scheme, read by :mod:`tokenlq.scheme`: ``PREFIX-TYPE``,
a bare ``TYPE`` in the IO scheme, and ``O`` outside any entity. Decoding is lenient, as in
conlleval: an I- (or E-) token that cannot continue the previous entity starts a new one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _confident, _validation as v
from ._scores import TOKEN_SCORE_METHODS, token_scores
from .scheme import SCHEMES, Prefix, decode, parse_classes

__all__ = ["SCHEMES", "decode_spans", "encode_spans", "find_span_issues", "span_types"]

SPAN_COLUMNS = ["sentence", "start_token", "end_token", "text", "given", "suggested", "kind", "score"]


def span_types(class_names, *, scheme: str = "auto") -> list[str]:
    """Entity types named by ``class_names``, in order of first appearance.

    Examples
    --------
    >>> span_types(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    ['PER', 'LOC']
    """
    return parse_classes(class_names, scheme=scheme, func="span_types").types


def decode_spans(labels, offsets, class_names, *, scheme: str = "auto") -> pd.DataFrame:
    """Entity spans of flat token labels.

    Parameters
    ----------
    labels : ndarray of shape (n,)
        Class index of every token.
    offsets : array-like of shape (N+1,)
        Sentence boundaries.
    class_names : list of K str
        For example ``['O', 'B-PER', 'I-PER']``.
    scheme : {'auto', 'IO', 'BIO', 'BIOES'}, default='auto'
        Read from the class names when 'auto'.

    Returns
    -------
    spans : DataFrame with columns sentence, start, end (exclusive, within the sentence), type

    Examples
    --------
    >>> decode_spans([1, 2, 0, 1], [0, 3, 4], ["O", "B-PER", "I-PER"]).values.tolist()
    [[0, 0, 2, 'PER'], [1, 0, 1, 'PER']]
    """
    func = "decode_spans"
    classes = parse_classes(class_names, scheme=scheme, func=func)
    labels, offsets = v.check_flat_labels(labels, offsets, func, n_classes=len(classes.prefixes))
    starts, ends, typ = decode(labels, offsets, classes)
    sentence = np.searchsorted(offsets, starts, side="right") - 1
    return pd.DataFrame({
        "sentence": sentence,
        "start": starts - offsets[sentence],
        "end": ends - offsets[sentence],
        "type": np.asarray(classes.types, dtype=object)[typ] if len(typ) else np.empty(0, dtype=object),
    })


def encode_spans(spans, offsets, class_names, *, scheme: str = "auto") -> np.ndarray:
    """Flat token labels (n,) from entity spans; the inverse of :func:`decode_spans`.

    ``spans`` is a DataFrame (or mapping of arrays) with columns sentence, start, end, type.
    Spans must not overlap.

    Examples
    --------
    >>> spans = {"sentence": [0], "start": [1], "end": [3], "type": ["PER"]}
    >>> encode_spans(spans, [0, 3], ["O", "B-PER", "I-PER"]).tolist()
    [0, 1, 2]
    """
    func = "encode_spans"
    scheme, prefixes, type_of, types = parse_classes(class_names, scheme=scheme, func=func)
    offsets = v._check_offsets(offsets, int(np.asarray(offsets)[-1]), func)
    n = int(offsets[-1])
    outside = np.flatnonzero(prefixes == Prefix.OUTSIDE)
    if not len(outside):
        raise v.TokenLQInputError(f"{func}: class_names must contain 'O'.")
    table = np.full((len(types), len(Prefix)), -1, dtype=np.int64)
    table[type_of[type_of >= 0], prefixes[type_of >= 0]] = np.flatnonzero(type_of >= 0)
    out = np.full(n, outside[0], dtype=np.int64)
    sentence = np.asarray(spans["sentence"], dtype=np.int64)
    if not len(sentence):
        return out
    start = np.asarray(spans["start"], dtype=np.int64) + offsets[sentence]
    end = np.asarray(spans["end"], dtype=np.int64) + offsets[sentence]
    index = {t: i for i, t in enumerate(types)}
    try:
        typ = np.array([index[t] for t in spans["type"]], dtype=np.int64)
    except KeyError as err:
        raise v.TokenLQInputError(
            f"{func}: unknown entity type {err.args[0]!r}; known: {types}.") from None
    lengths = end - start
    if (lengths <= 0).any() or (end > offsets[sentence + 1]).any():
        bad = int(np.flatnonzero((lengths <= 0) | (end > offsets[sentence + 1]))[0])
        raise v.TokenLQInputError(
            f"{func}: span {bad} is empty or extends past the end of its sentence.")
    covered = np.repeat(start - np.cumsum(np.concatenate(([0], lengths[:-1]))), lengths) + \
        np.arange(lengths.sum())
    if len(np.unique(covered)) != len(covered):
        raise v.TokenLQInputError(f"{func}: spans overlap.")
    out[covered] = np.repeat(table[typ, Prefix.INSIDE], lengths)
    if scheme != "IO":
        out[start] = table[typ, Prefix.BEGIN]
    if scheme == "BIOES":
        out[end - 1] = table[typ, Prefix.END]
        single = lengths == 1
        out[start[single]] = table[typ[single], Prefix.SINGLE]
    if (out < 0).any():
        raise v.TokenLQInputError(f"{func}: class_names lack a class needed to encode these spans "
                                  f"in the {scheme} scheme.")
    return out


def _regions(flagged, spans):
    """Group flagged token positions with every span overlapping them (transitively).

    ``spans`` are (start, end) pairs within one sentence; returns [(start, end), ...] regions
    that contain at least one flagged token.
    """
    intervals = sorted([(f, f + 1, True) for f in flagged] + [(a, b, False) for a, b in spans])
    regions = []
    cur_start, cur_end, cur_flagged = intervals[0]
    for a, b, is_flag in intervals[1:]:
        if a < cur_end:
            cur_end = max(cur_end, b)
            cur_flagged = cur_flagged or is_flag
        else:
            if cur_flagged:
                regions.append((cur_start, cur_end))
            cur_start, cur_end, cur_flagged = a, b, is_flag
    if cur_flagged:
        regions.append((cur_start, cur_end))
    return regions


def _classify(given, suggested) -> str:
    if not given:
        return "missing"
    if not suggested:
        return "spurious"
    if len(given) == len(suggested) == 1 and given[0][:2] == suggested[0][:2]:
        return "wrong_type"
    if not {t for _, _, t in given} & {t for _, _, t in suggested}:
        return "wrong_type"
    return "boundary"


def find_span_issues(labels, pred_probs, offsets=None, *, class_names, issues=None, tokens=None,
                     token_score_method: str = "self_confidence", scheme: str = "auto",
                     renormalize: bool = False) -> pd.DataFrame:
    """Entity-level label issues: flagged tokens grouped into missing, spurious, wrong-type and
    wrong-boundary entities.

    The suggested labelling keeps the given labels and replaces each flagged token's label by
    the model's most likely class; a region is a flagged token with every given or suggested
    entity overlapping it. Regions whose entities do not change are dropped.

    Parameters
    ----------
    labels, pred_probs, offsets
        As in :func:`tokenlq.find_label_issues` (nested, or flat with offsets).
    class_names : list of K str
        Class names such as ``['O', 'B-PER', 'I-PER']``.
    issues : list of (int, int), default=None
        Flagged tokens; by default those of :func:`tokenlq.find_label_issues`.
    tokens : list of N str sequences, default=None
        Words, for the ``text`` column.
    token_score_method : str, default='self_confidence'
        Token score whose minimum over a region is the span's score.
    scheme : {'auto', 'IO', 'BIO', 'BIOES'}, default='auto'

    Returns
    -------
    span_issues : DataFrame
        Columns sentence, start_token, end_token (exclusive), text, given, suggested (entity
        types joined by '|', or 'O'), kind, score, given_spans, suggested_spans (lists of
        (start, end, type)); most suspect first.

    Examples
    --------
    >>> names = ["O", "B-LOC", "I-LOC"]
    >>> labels = [[1, 0, 0], [0, 1]]
    >>> pred_probs = [[[.05, .9, .05], [.1, .1, .8], [.9, .05, .05]],
    ...               [[.9, .05, .05], [.8, .1, .1]]]
    >>> found = find_span_issues(labels, pred_probs, class_names=names, issues=[(0, 1), (1, 1)],
    ...                          tokens=[["New", "York", "is"], ["in", "it"]])
    >>> found[["sentence", "text", "given", "suggested", "kind"]].values.tolist()
    [[0, 'New York', 'LOC', 'LOC', 'boundary'], [1, 'it', 'LOC', 'O', 'spurious']]
    """
    func = "find_span_issues"
    v.check_option(token_score_method, "token_score_method", TOKEN_SCORE_METHODS, func)
    data = v.check_token_data(labels, pred_probs, offsets, func=func, renormalize=renormalize)
    classes = parse_classes(class_names, scheme=scheme, func=func)
    types = classes.types
    if len(classes.prefixes) != data.n_classes:
        raise v.TokenLQInputError(f"{func}: 'class_names' must name the {data.n_classes} classes of "
                                  f"pred_probs; got {len(classes.prefixes)} names.")
    if data.n_tokens == 0:
        return pd.DataFrame(columns=SPAN_COLUMNS + ["given_spans", "suggested_spans"])
    v.check_tokens(tokens, data.offsets, func)
    flagged = _confident.flagged_tokens(data, issues, func)
    suggested = data.labels.copy()
    suggested[flagged] = data.pred_probs[flagged].argmax(axis=1)
    scores = token_scores(data.labels, data.pred_probs, token_score_method, data.self_confidence)
    g_start, g_end, g_type = decode(data.labels, data.offsets, classes)
    s_start, s_end, s_type = decode(suggested, data.offsets, classes)
    offsets = data.offsets

    sentence_of_flag = np.searchsorted(offsets, flagged, side="right") - 1
    g_sent = np.searchsorted(offsets, g_start, side="right") - 1
    s_sent = np.searchsorted(offsets, s_start, side="right") - 1
    rows = []
    for i in np.unique(sentence_of_flag).tolist():
        base = int(offsets[i])
        flags = (flagged[sentence_of_flag == i] - base).tolist()
        gl, gr = np.searchsorted(g_sent, [i, i + 1])
        sl, sr = np.searchsorted(s_sent, [i, i + 1])
        given = list(zip((g_start[gl:gr] - base).tolist(), (g_end[gl:gr] - base).tolist(),
                         [types[t] for t in g_type[gl:gr]]))
        sugg = list(zip((s_start[sl:sr] - base).tolist(), (s_end[sl:sr] - base).tolist(),
                        [types[t] for t in s_type[sl:sr]]))
        for a, b in _regions(flags, [(x, y) for x, y, _ in given + sugg]):
            g_in = [s for s in given if a <= s[0] < b]
            s_in = [s for s in sugg if a <= s[0] < b]
            if g_in == s_in:
                continue
            rows.append((i, a, b,
                         " ".join(map(str, tokens[i][a:b])) if tokens is not None else "",
                         "|".join(t for _, _, t in g_in) or "O",
                         "|".join(t for _, _, t in s_in) or "O",
                         _classify(g_in, s_in),
                         float(scores[base + a:base + b].min()),
                         g_in, s_in))
    result = pd.DataFrame(rows, columns=SPAN_COLUMNS + ["given_spans", "suggested_spans"])
    return result.sort_values(["score", "sentence", "start_token"], kind="stable").reset_index(drop=True)
