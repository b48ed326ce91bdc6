"""The backend's model version, importable without numpy, pandas or the model: the protocol
module answers it on every /health and /setup."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

__all__ = ["MODEL_VERSION"]


def _source_version(package: str = "tokenlq") -> str:
    """``__version__`` as assigned in the source of ``package``'s ``__init__.py`` (where
    pyproject's ``[tool.setuptools.dynamic] version`` reads it), found without importing the
    package (tokenlq loads numpy and pandas). Unlike the installed distribution's metadata, it
    holds from a checkout and stays right after a version bump without reinstalling."""
    origin = Path(importlib.util.find_spec(package).origin)
    for node in ast.parse(origin.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__version__" for t in targets):
                return str(node.value.value)
    raise RuntimeError(f"{origin} assigns no literal __version__")


MODEL_VERSION = f"tokenlq-{_source_version()}"
