"""The names of the probability sources (``TOKENLQ_PROBS``, ``extra_params.probs``), apart from
:mod:`.probs`, which reads the sources: the settings and ``/setup`` check a name without
importing numpy."""

from __future__ import annotations

__all__ = ["PROBS_CHOICES", "check_source"]

PROBS_CHOICES = "auto, task, crf or prediction:<model_version>"


def check_source(value) -> str:
    """``value`` if it names a probability source, else ValueError."""
    if value in ("auto", "task", "crf") or \
            (isinstance(value, str) and value.startswith("prediction:") and len(value) > 11):
        return value
    raise ValueError(f"the probability source must be {PROBS_CHOICES}; got {value!r}")
