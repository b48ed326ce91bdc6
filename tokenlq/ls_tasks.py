"""Deprecated: the old name of :mod:`tokenlq.labelstudio_format`; import from there."""

import warnings

from .labelstudio_format import (WARNINGS, given_annotation, span_labels, task_shape_error,
                                 task_tokens)

__all__ = ["WARNINGS", "given_annotation", "span_labels", "task_shape_error", "task_tokens"]

warnings.warn("tokenlq.ls_tasks is deprecated: import from tokenlq.labelstudio_format",
              DeprecationWarning, stacklevel=2)
