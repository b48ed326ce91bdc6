"""Everything in the service that knows Label Studio: the HTTP client (:mod:`.client`, the only
code that speaks HTTP to it), one project's reads and writes (:mod:`.project`), the labeling
config the backend serves (:mod:`.config`) and the ``Label issues`` tab (:mod:`.views`). Task
and annotation JSON become tokens and tags, and tags become prediction regions, in the core
(:mod:`tokenlq.labelstudio_format`).

The client and project names are imported on first use: the SDK loads numpy and pandas (about
2 s), which the web process's protocol module, needing only the config, does without.
"""

from __future__ import annotations

import importlib

__all__ = ["ISSUES_VIEW_TITLE", "ForeignURLError", "LabelStudioClient", "LabelStudioProject",
           "ProjectGone", "close", "connect", "create_project", "prediction_content"]

_HOME = {"ForeignURLError": "client", "LabelStudioClient": "client", "close": "client",
         "connect": "client", "LabelStudioProject": "project", "ProjectGone": "project",
         "create_project": "project", "prediction_content": "project", "ISSUES_VIEW_TITLE": "views"}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
