"""Label Studio NER tasks as token labels: one conversion for the export reader and the backend.

Pure functions over the JSON of tasks and annotations (no HTTP). Every input problem has a
defined outcome, counted in a ``collections.Counter`` of warnings under these keys:

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
"""

from __future__ import annotations

from collections import Counter

from .io import tokenize

__all__ = ["WARNINGS", "given_annotation", "span_labels", "task_shape_error", "task_tokens"]

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
    tokenization of the text (:func:`tokenlq.io.tokenize`). A task with tokens but no text gets
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


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def span_labels(text: str, tokens, results, *, from_name: str | None, label_names,
                warnings: Counter | None = None, scheme: str = "BIO") -> list[str]:
    """Token labels (``BIO`` or ``IO`` tags) of the ``labels`` regions in an annotation's
    ``result`` for tokens ``[(token, start, end)]`` of ``text``. ``label_names=None`` accepts
    every label; ``from_name=None`` every control.

    >>> text, tokens = task_tokens({"text": "Anna lives in New York"}, "text")
    >>> regions = [{"from_name": "label", "type": "labels",
    ...             "value": {"start": 14, "end": 22, "labels": ["LOC"]}}]
    >>> span_labels(text, tokens, regions, from_name="label", label_names=["LOC", "PER"])
    ['O', 'O', 'O', 'B-LOC', 'I-LOC']
    """
    warnings = warnings if warnings is not None else Counter()
    allowed = None if label_names is None else set(label_names)
    spans = []
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
        if not 0 <= start < end <= len(text):
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
        spans.append((start, -(end - start), end, names[0]))
    labels = ["O"] * len(tokens)
    owner = [None] * len(tokens)
    for n, (start, _, end, name) in enumerate(sorted(spans)):
        inside = [j for j, (_, a, b) in enumerate(tokens) if a < end and b > start]
        if any(tokens[j][1] < start or tokens[j][2] > end for j in inside):
            warnings["partial_token_overlap"] += 1
        free = [j for j in inside if owner[j] is None]
        if len(free) < len(inside):
            warnings["overlapping_spans"] += 1
        for rank, j in enumerate(free):
            owner[j] = n
            prefix = "I-" if scheme == "IO" or rank > 0 else "B-"
            labels[j] = prefix + name
    return labels
