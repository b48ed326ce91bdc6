"""Label Studio's JSON for NER, both ways: tasks and annotations to token labels, token labels
to prediction regions. One conversion for ``tokenlq audit``'s export reader and for the backend.

Pure functions over the JSON of tasks, annotations and predictions (no HTTP). Reading, every
input problem has a defined outcome, counted in a ``collections.Counter`` of warnings under
these keys:

==========================  =================================================================
``partial_token_overlap``   a span boundary cuts a token; the whole token joins the span
``overlapping_spans``       a token lies in two spans; the span starting first (then the
                            longer) keeps it
``malformed_region``        a region whose ``value`` is not ``{start: int, end: int,
                            labels: [str, ...]}``; dropped
``span_outside_text``       offsets outside the text, or start >= end; the span is dropped
``unknown_label``           a label the config does not list; the span is dropped
``multiple_labels``         a span with several labels; the first is used
``span_without_label``      a span with no label; dropped
``tokens_not_in_text``      ``data.tokens`` cannot be found in order in the text; the text is
                            tokenized instead
==========================  =================================================================

Tasks with an empty text, or without a usable annotation (none, or all cancelled), are not
scored; :func:`given_annotation` returns None for them. A task whose JSON has the wrong shape
(``data`` not an object, ``annotations`` not a list of objects, ...) is refused by the caller with
the message of :func:`task_shape_error`.

Writing, :func:`tag_regions` turns one tag per token into ``labels`` regions (entities read by
:mod:`tokenlq.scheme`), :func:`entity_regions` does so for entities given as token ranges, and
:func:`prediction` wraps regions as a prediction.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter

import numpy as np

from .scheme import OUTSIDE, decode, make_tag, parse_classes

__all__ = ["WARNINGS", "entity_regions", "given_annotation", "prediction", "region_token_ranges",
           "span_labels", "tag_regions", "task_shape_error", "task_tokens", "tokenize"]

WARNINGS = ("partial_token_overlap", "overlapping_spans", "malformed_region", "span_outside_text",
            "unknown_label", "multiple_labels", "span_without_label", "tokens_not_in_text")


def task_shape_error(task) -> str | None:
    """Why ``task`` cannot be read as a Label Studio task, or None when its shape is right:
    an object whose ``data`` (if any) is an object and whose ``annotations`` (if any) are a list
    of objects, each with a ``result`` list of objects.

    >>> task_shape_error({"data": {"text": "Anna"}, "annotations": [{"result": []}]}) is None
    True
    >>> task_shape_error({"data": "Anna"})
    "'data' must be an object; got str"
    """
    if not isinstance(task, dict):
        return f"a task must be an object; got {type(task).__name__}"
    data, annotations = task.get("data"), task.get("annotations")
    if data is not None and not isinstance(data, dict):
        return f"'data' must be an object; got {type(data).__name__}"
    if annotations is None:
        return None
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        return "'annotations' must be a list of objects"
    for annotation in annotations:
        result = annotation.get("result")
        if result is not None and not (isinstance(result, list)
                                       and all(isinstance(r, dict) for r in result)):
            return "an annotation's 'result' must be a list of objects"
    return None


def given_annotation(annotations):
    """The annotation holding a task's given labels: the most recently updated one that is not
    cancelled (skipped). Label Studio marks annotations imported with tasks as ground truth, so
    that flag only breaks ties, then the higher id. None when there is no such annotation.

    >>> given_annotation([{"id": 1, "updated_at": "2026-01-02", "ground_truth": True},
    ...                   {"id": 2, "updated_at": "2026-01-03"},
    ...                   {"id": 3, "updated_at": "2026-01-04", "was_cancelled": True}])["id"]
    2
    """
    usable = [a for a in annotations or () if not a.get("was_cancelled")]
    if not usable:
        return None
    return max(usable, key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""),
                                      bool(a.get("ground_truth")),
                                      a["id"] if _is_int(a.get("id")) else -1))


def task_tokens(data: dict, value_key: str, warnings: Counter | None = None):
    """Tokens of a task and their character offsets in ``data[value_key]``.

    ``data['tokens']`` (a list of strings) when present and found in order in the text, else a
    tokenization of the text (:func:`tokenize`). A task with tokens but no text gets
    the tokens joined by single spaces as its text. Returns ``(text, [(token, start, end)])``.

    >>> task_tokens({"text": "Anna  lives"}, "text")
    ('Anna  lives', [('Anna', 0, 4), ('lives', 6, 11)])
    >>> task_tokens({"tokens": ["New", "York"]}, "text")
    ('New York', [('New', 0, 3), ('York', 4, 8)])
    """
    warnings = warnings if warnings is not None else Counter()
    text = data.get(value_key)
    given = data.get("tokens")
    if isinstance(given, list) and given and all(isinstance(t, str) and t for t in given):
        if not isinstance(text, str):
            text = " ".join(given)
        located, position = [], 0
        for token in given:
            start = text.find(token, position)
            if start < 0:
                warnings["tokens_not_in_text"] += 1
                break
            located.append((token, start, start + len(token)))
            position = start + len(token)
        else:
            return text, located
    if not isinstance(text, str):
        return "", []
    return text, tokenize(text)


_WORDS = re.compile(r"\S+")
_PIECES = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Whitespace tokens with character offsets, punctuation split off word ends: the tokens of
    a task without ``data.tokens``.

    >>> tokenize("Hi, U.S. state-of-art")
    [('Hi', 0, 2), (',', 2, 3), ('U.S', 4, 7), ('.', 7, 8), ('state-of-art', 9, 21)]
    """
    out = []
    for match in _WORDS.finditer(text):
        word, start = match.group(), match.start()
        for piece in _PIECES.finditer(word):
            out.append((piece.group(), start + piece.start(), start + piece.end()))
    return out


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def region_token_ranges(tokens, results, *, from_name: str | None, label_names=None,
                        text: str | None = None, warnings: Counter | None = None) -> list:
    """The ``labels`` regions of a ``result`` (an annotation's or a prediction's) with the range
    of tokens each one touches, for tokens ``[(token, start, end)]`` in text order (as
    :func:`task_tokens` gives them). A token is in a region when they share a character.

    Regions of another control than ``from_name`` (None: every control) or of another type are
    skipped; malformed or unlabeled ones, and labels not in ``label_names`` (None: every label),
    are dropped with a warning (module docstring). Offsets are checked against ``text`` only when
    it is given.

    Returns ``[(region, label, token range)]`` in the order of ``results``; overlaps between
    regions are left to the caller.

    >>> text, tokens = task_tokens({"text": "Anna lives in New York"}, "text")
    >>> regions = [{"from_name": "label", "type": "labels",
    ...             "value": {"start": 14, "end": 21, "labels": ["LOC"]}}]
    >>> [(label, span) for _, label, span in region_token_ranges(tokens, regions, from_name="label")]
    [('LOC', range(3, 5))]
    """
    warnings = warnings if warnings is not None else Counter()
    allowed = None if label_names is None else set(label_names)
    limit = None if text is None else len(text)
    # Tokens are in text order and do not overlap: those a region touches are one range, found
    # by bisection on their starts and ends.
    starts, ends = [a for _, a, _ in tokens], [b for _, _, b in tokens]
    out = []
    for region in results or ():
        if region.get("type", "labels") != "labels":
            continue
        if from_name is not None and region.get("from_name", from_name) != from_name:
            continue
        value = region.get("value")
        if not isinstance(value, dict):
            warnings["malformed_region"] += 1
            continue
        start, end, names = value.get("start"), value.get("end"), value.get("labels") or []
        if not (_is_int(start) and _is_int(end) and isinstance(names, list)
                and all(isinstance(n, str) for n in names)):
            warnings["malformed_region"] += 1
            continue
        if not 0 <= start < end or (limit is not None and end > limit):
            warnings["span_outside_text"] += 1
            continue
        if not names:
            warnings["span_without_label"] += 1
            continue
        if len(names) > 1:
            warnings["multiple_labels"] += 1
        if allowed is not None and names[0] not in allowed:
            warnings["unknown_label"] += 1
            continue
        inside = range(bisect.bisect_right(ends, start), bisect.bisect_left(starts, end))
        if inside and (starts[inside[0]] < start or ends[inside[-1]] > end):
            warnings["partial_token_overlap"] += 1
        out.append((region, names[0], inside))
    return out


def span_labels(text: str, tokens, results, *, from_name: str | None, label_names,
                warnings: Counter | None = None, scheme: str = "BIO") -> list[str]:
    """Token labels (``BIO`` or ``IO`` tags) of the ``labels`` regions in an annotation's
    ``result`` for tokens ``[(token, start, end)]`` of ``text``, in text order (as
    :func:`task_tokens` gives them). ``label_names=None`` accepts every label;
    ``from_name=None`` every control. Regions become token ranges by
    :func:`region_token_ranges`.

    >>> text, tokens = task_tokens({"text": "Anna lives in New York"}, "text")
    >>> regions = [{"from_name": "label", "type": "labels",
    ...             "value": {"start": 14, "end": 22, "labels": ["LOC"]}}]
    >>> span_labels(text, tokens, regions, from_name="label", label_names=["LOC", "PER"])
    ['O', 'O', 'O', 'B-LOC', 'I-LOC']
    """
    warnings = warnings if warnings is not None else Counter()
    regions = region_token_ranges(tokens, results, from_name=from_name, label_names=label_names,
                                  text=text, warnings=warnings)
    # A token in two regions goes to the one starting first, then to the longer one.
    regions.sort(key=lambda r: (r[0]["value"]["start"], -r[0]["value"]["end"], r[1]))
    labels = [OUTSIDE] * len(tokens)
    owned = [False] * len(tokens)
    for _, name, inside in regions:
        free = [j for j in inside if not owned[j]]
        if len(free) < len(inside):
            warnings["overlapping_spans"] += 1
        for rank, j in enumerate(free):
            owned[j] = True
            labels[j] = make_tag("I" if scheme == "IO" or rank > 0 else "B", name)
    return labels


def entity_regions(text: str, tokens, entities, *, from_name: str, to_name: str,
                   id_prefix: str | None = None) -> list[dict]:
    """Label Studio ``labels`` regions of ``entities``, ``[(start token, end token, label)]``
    with the end exclusive, over tokens ``[(token, start, end)]`` of ``text``. A region's id is
    ``f"{id_prefix}-{start token}-{end token}"`` when ``id_prefix`` is given.

    >>> text, tokens = task_tokens({"text": "Anna lives in New York"}, "text")
    >>> [region] = entity_regions(text, tokens, [(3, 5, "LOC")], from_name="label", to_name="text")
    >>> region["from_name"], region["to_name"], region["type"], region["value"]
    ('label', 'text', 'labels', {'start': 14, 'end': 22, 'text': 'New York', 'labels': ['LOC']})
    """
    regions = []
    for s, e, label in entities:
        start, end = tokens[s][1], tokens[e - 1][2]
        region = {} if id_prefix is None else {"id": f"{id_prefix}-{s}-{e}"}
        region.update({"from_name": from_name, "to_name": to_name, "type": "labels",
                       "value": {"start": start, "end": end, "text": text[start:end],
                                 "labels": [label]}})
        regions.append(region)
    return regions


def tag_regions(text: str, tokens, tags, *, from_name: str, to_name: str,
                id_prefix: str | None = None) -> list[dict]:
    """The regions (:func:`entity_regions`) of the entities of ``tags``, one tag per token,
    decoded in the scheme the tags follow (:mod:`tokenlq.scheme`).

    >>> text, tokens = task_tokens({"text": "Anna lives in New York"}, "text")
    >>> regions = tag_regions(text, tokens, ["B-PER", "O", "O", "B-LOC", "I-LOC"],
    ...                       from_name="label", to_name="text", id_prefix="tlq")
    >>> [(r["id"], r["value"]["text"], r["value"]["labels"]) for r in regions]
    [('tlq-0-1', 'Anna', ['PER']), ('tlq-3-5', 'New York', ['LOC'])]
    """
    names = sorted(set(tags) | {OUTSIDE})
    classes = parse_classes(names, func="tag_regions")
    position = {name: k for k, name in enumerate(names)}
    labels = np.array([position[t] for t in tags], dtype=np.int64)
    starts, ends, types = decode(labels, np.array([0, len(labels)]), classes)
    entities = zip(starts.tolist(), ends.tolist(), [classes.types[t] for t in types.tolist()])
    return entity_regions(text, tokens, entities, from_name=from_name, to_name=to_name,
                          id_prefix=id_prefix)


def prediction(regions, *, model_version: str, score: float | None) -> dict:
    """A Label Studio prediction of ``regions``; ``score`` is the task's (None for none).

    >>> prediction([], model_version="tokenlq-1", score=0.5)
    {'model_version': 'tokenlq-1', 'score': 0.5, 'result': []}
    """
    return {"model_version": model_version, "score": score, "result": list(regions)}
