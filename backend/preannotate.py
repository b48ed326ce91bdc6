"""Pre-annotations for /predict: the labelling of the project's last fitted model for tasks
nobody has annotated yet. Answered from disk (with DATABASE_URL, a local copy of the database's
fit) in the request thread, so only the CRF part of the fit is used (no torch in the web
process) and the model is loaded once per fit."""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from tokenlq.labelstudio_format import prediction, tag_regions, task_tokens
from tokenlq.scheme import OUTSIDE, entity_type

from .fits import current_fit_name, load_model
from .labelstudio.config import ConfigError, parse_label_config
from .versions import MODEL_VERSION

__all__ = ["pre_annotations"]


@functools.lru_cache(maxsize=8)
def _model(data_dir, project: int, fit_name: str, store):
    return load_model(data_dir, project, fit_name, store=store)


def pre_annotations(data_dir, project: int, tasks, label_config, *, store=None) -> dict:
    """{task id: prediction} for ``tasks`` (unannotated); empty without a fit or a usable
    config. ``store``: the service's store, which holds the fits with a server database."""
    fit_name = current_fit_name(data_dir, project, store=store)
    if fit_name is None:
        return {}
    try:
        config = parse_label_config(label_config)
    except ConfigError:
        return {}
    model = _model(data_dir, project, fit_name, store)
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
    # A class whose label the config no longer lists is proposed as O.
    kept = np.array([c == OUTSIDE or entity_type(c) in config.labels for c in model.class_names])
    best = probs.argmax(axis=1)
    tags = np.asarray(model.class_names, dtype=object)[best]
    tags[~kept[best]] = OUTSIDE
    out, at = {}, 0
    for task_id, text, tokens in zip(ids, texts, token_lists):
        regions = tag_regions(text, tokens, tags[at:at + len(tokens)].tolist(),
                              from_name=config.from_name, to_name=config.to_name,
                              id_prefix="tlq-pre")
        out[task_id] = prediction(regions, model_version=MODEL_VERSION, score=None)
        at += len(tokens)
    return out
