"""A project's last model fit on disk, under TOKENLQ_DATA_DIR/fits/<project>/: the
cross-validated probabilities of every task it saw and the model trained on all of them. Only
reading and writing here; computing and reusing a fit is :mod:`backend.embedded`.

Each fit is written to a fresh folder and published by replacing the ``current`` pointer
atomically, so a reader never sees half a fit. The model's code is imported only when a fit is
loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenlq.model import FittedModel

__all__ = ["ProjectFit", "current_fit_name", "labels_key", "load_fit", "load_model", "save_fit",
           "tokens_key"]


def tokens_key(tokens) -> str:
    """Identity of a task's tokenization (words and character offsets)."""
    return hashlib.sha1(json.dumps(tokens, ensure_ascii=False).encode("utf-8")).hexdigest()


def labels_key(labels) -> str:
    return hashlib.sha1("\x1f".join(labels).encode("utf-8")).hexdigest()


@dataclass
class ProjectFit:
    model_name: str  # "crf" or "crf+encoder"
    class_names: list
    task_ids: np.ndarray  # (N,)
    token_keys: list  # (N,) tokens_key of each task when fitted
    label_keys: list  # (N,) labels_key of its given labels when fitted
    offsets: np.ndarray  # (N+1,)
    probs: np.ndarray  # (n, K) cross-validated
    model: FittedModel
    created: float = 0.0

    def rows(self) -> dict:
        """{task id: position}"""
        return {int(t): i for i, t in enumerate(self.task_ids)}


def _folder(data_dir, project: int) -> Path:
    return Path(data_dir) / "fits" / str(int(project))


def save_fit(data_dir, project: int, fit: ProjectFit) -> None:
    folder = _folder(data_dir, project)
    name = f"fit-{time.time_ns()}"
    target = folder / name
    fit.model.save(target / "model")
    np.savez(target / "probs.npz", task_ids=np.asarray(fit.task_ids, dtype=np.int64),
             offsets=np.asarray(fit.offsets, dtype=np.int64), probs=fit.probs)
    (target / "fit.json").write_text(json.dumps({
        "model_name": fit.model_name, "class_names": fit.class_names, "token_keys": fit.token_keys,
        "label_keys": fit.label_keys, "created": fit.created or time.time()}))
    pointer = folder / "current.tmp"
    pointer.write_text(name)
    os.replace(pointer, folder / "current")
    for old in folder.glob("fit-*"):  # keep the previous one: a reader may still be loading it
        if old.name != name and old.stat().st_mtime < target.stat().st_mtime - 60:
            shutil.rmtree(old, ignore_errors=True)


def current_fit_name(data_dir, project: int) -> str | None:
    """Name of the project's current fit, or None."""
    try:
        return (_folder(data_dir, project) / "current").read_text().strip()
    except FileNotFoundError:
        return None


def load_model(data_dir, project: int, fit_name: str) -> FittedModel | None:
    """Only the model of fit ``fit_name`` (no probabilities read): what /predict needs."""
    from tokenlq.model import FittedModel

    try:
        return FittedModel.load(_folder(data_dir, project) / fit_name / "model")
    except FileNotFoundError:
        return None


def load_fit(data_dir, project: int) -> ProjectFit | None:
    """The project's current fit, or None."""
    from tokenlq.model import FittedModel

    folder = _folder(data_dir, project)
    try:
        target = folder / (folder / "current").read_text().strip()
        meta = json.loads((target / "fit.json").read_text())
        with np.load(target / "probs.npz") as arrays:
            task_ids, offsets, probs = arrays["task_ids"], arrays["offsets"], arrays["probs"]
        model = FittedModel.load(target / "model")
    except FileNotFoundError:
        return None
    return ProjectFit(meta["model_name"], meta["class_names"], task_ids, meta["token_keys"],
                      meta["label_keys"], offsets, probs, model, meta["created"])
