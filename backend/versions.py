"""The backend's model version, importable without numpy, pandas or the model: the protocol
module answers it on every /health and /setup."""

from __future__ import annotations

from importlib.metadata import version

__all__ = ["MODEL_VERSION"]

# The installed distribution's version is tokenlq.__version__ (pyproject reads it from there);
# importing tokenlq itself would load numpy and pandas.
MODEL_VERSION = f"tokenlq-{version('tokenlq')}"
