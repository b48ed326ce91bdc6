"""Pre-annotations for /predict: the labelling of the project's last fitted model for tasks
nobody has annotated yet. Answered from disk in the request thread, so only the CRF part of the
fit is used (no torch in the web process) and the model is loaded once per fit."""

from __future__ import annotations

import functools
from collections import Counter

from tokenlq.ls_tasks import task_tokens

from .fits import current_fit_name, load_model
from .label_config import ConfigError, parse_label_config
from .runs import MODEL_VERSION
from .scoring import labelling

__all__ = ["pre_annotations"]


@functools.lru_cache(maxsize=8)
def _model(data_dir, project: int, fit_name: str):
    return load_model(data_dir, project, fit_name)


def pre_annotations(data_dir, project: int, tasks, label_config) -> dict:
    """{task id: prediction} for ``tasks`` (unannotated); empty without a fit or a usable
    config."""
    fit_name = current_fit_name(data_dir, project)
    if fit_name is None:
        return {}
    try:
        config = parse_label_config(label_config)
    except ConfigError:
        return {}
    model = _model(data_dir, project, fit_name)
    if model is None:  # replaced by a newer fit meanwhile
        return {}
    texts, token_lists, ids = [], [], []
    for task in tasks:
        text, tokens = task_tokens(task.get("data") or {}, config.value_key, Counter())
        if tokens:
            texts.append(text), token_lists.append(tokens), ids.append(task["id"])
    if not ids:
        return {}
    probs = model.predict_probs([[t for t, _, _ in tokens] for tokens in token_lists],
                                use_encoder=False)
    best = [model.class_names[k] for k in probs.argmax(axis=1)]
    out, at = {}, 0
    for task_id, text, tokens in zip(ids, texts, token_lists):
        tags = [t if t[2:] in config.labels or t == "O" else "O" for t in best[at:at + len(tokens)]]
        out[task_id] = labelling(text, tokens, tags, config, MODEL_VERSION)
        at += len(tokens)
    return out
