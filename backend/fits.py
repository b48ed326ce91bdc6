"""A project's last model fit: the cross-validated probabilities of every task it saw and the
model trained on all of them. Only reading and writing here; computing and reusing a fit is
:mod:`backend.embedded`.

Each fit is a folder under TOKENLQ_DATA_DIR/fits/<project>/, written fresh. Without a server
database it is published by replacing the ``current`` pointer atomically, so a reader never sees
half a fit. With one (DATABASE_URL: ``store.shared``) the database holds the current fit as
an archive, replaced in one transaction, and each process keeps a local copy of the versions it
read (the folder's name is the version), so a process on another host needs no shared disk and
reads a fit once. The model's code is imported only when a fit is loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import threading
import time
from dataclasses import dataclass, field
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
    _rows: dict | None = field(default=None, init=False, repr=False, compare=False)

    def rows(self) -> dict:
        """{task id: position}, made once per fit (a kept fit serves many updates)."""
        if self._rows is None:
            self._rows = {t: i for i, t in enumerate(self.task_ids.tolist())}
        return self._rows


def _folder(data_dir, project: int) -> Path:
    return Path(data_dir) / "fits" / str(int(project))


def _shared(store):
    """``store`` when the fits live in it (a server database), else None."""
    return store if store is not None and store.shared else None


def save_fit(data_dir, project: int, fit: ProjectFit, *, store=None) -> str:
    """Write ``fit`` as the project's current one (into ``store`` too when it is shared); its
    name (version)."""
    folder = _folder(data_dir, project)
    name = f"fit-{time.time_ns()}"
    target = folder / name
    created = fit.created or time.time()
    fit.model.save(target / "model")
    np.savez(target / "probs.npz", task_ids=np.asarray(fit.task_ids, dtype=np.int64),
             offsets=np.asarray(fit.offsets, dtype=np.int64), probs=fit.probs)
    (target / "fit.json").write_text(json.dumps({
        "model_name": fit.model_name, "class_names": fit.class_names, "token_keys": fit.token_keys,
        "label_keys": fit.label_keys, "created": created}))
    shared = _shared(store)
    if shared is not None:
        shared.put_fit(project, name, created, _pack(target))
    else:
        pointer = folder / "current.tmp"
        pointer.write_text(name)
        os.replace(pointer, folder / "current")
    _drop_older(folder, target)
    return name


def _drop_older(folder: Path, kept: Path) -> None:
    for old in folder.glob("fit-*"):  # keep the previous one: a reader may still be loading it
        if old.name != kept.name and old.is_dir() and \
                old.stat().st_mtime < kept.stat().st_mtime - 60:
            shutil.rmtree(old, ignore_errors=True)


def _pack(target: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(target, arcname=".")
    return out.getvalue()


def _local(data_dir, project: int, name: str, shared) -> Path | None:
    """Fit ``name``'s folder here: with a shared store, unpacked from it the first time (None
    when the store's current fit is another by then)."""
    target = _folder(data_dir, project) / name
    if shared is None or target.exists():
        return target
    archive = shared.fit_archive(project, name)
    if archive is None:
        return None
    part = target.with_name(f"{name}.part-{os.getpid()}-{threading.get_ident()}")
    # The "data" filter refuses links and paths out of the folder (Python 3.11.4 and later).
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(part, **safe)
    try:
        os.rename(part, target)  # atomic: readers see the whole folder or none
    except OSError:  # another thread or process unpacked it first
        shutil.rmtree(part, ignore_errors=True)
    _drop_older(target.parent, target)
    return target


def current_fit_name(data_dir, project: int, *, store=None) -> str | None:
    """Name (version) of the project's current fit, or None."""
    shared = _shared(store)
    if shared is not None:
        return shared.fit_name(project)
    try:
        return (_folder(data_dir, project) / "current").read_text().strip()
    except FileNotFoundError:
        return None


def load_model(data_dir, project: int, fit_name: str, *, store=None) -> FittedModel | None:
    """Only the model of fit ``fit_name`` (no probabilities read): what /predict needs."""
    from tokenlq.model import FittedModel

    target = _local(data_dir, project, fit_name, _shared(store))
    try:
        return None if target is None else FittedModel.load(target / "model")
    except FileNotFoundError:
        return None


def load_fit(data_dir, project: int, *, store=None) -> ProjectFit | None:
    """The project's current fit, or None."""
    from tokenlq.model import FittedModel

    name = current_fit_name(data_dir, project, store=store)
    target = None if name is None else _local(data_dir, project, name, _shared(store))
    if target is None:
        return None
    try:
        meta = json.loads((target / "fit.json").read_text())
        with np.load(target / "probs.npz") as arrays:
            task_ids, offsets, probs = arrays["task_ids"], arrays["offsets"], arrays["probs"]
        model = FittedModel.load(target / "model")
    except FileNotFoundError:
        return None
    return ProjectFit(meta["model_name"], meta["class_names"], task_ids, meta["token_keys"],
                      meta["label_keys"], offsets, probs, model, meta["created"])
