"""tokenlq: find label errors in token classification data (NER, POS, chunking).

Scores lie in [0, 1]; lower means more likely mislabeled. The public API mirrors
``cleanlab.token_classification`` (modules :mod:`tokenlq.rank`, :mod:`tokenlq.filter`,
:mod:`tokenlq.summary`) and adds flat-array input, entity-level span issues
(:mod:`tokenlq.spans`) and per-class summaries.
"""

try:  # the compiled kernels first: in a source checkout without them, say what to do
    from . import _kernels  # noqa: F401
except ImportError:
    from ._checkout import check_kernels

    check_kernels(__name__, __path__[0])  # raises the explanation when it applies
    raise
from . import filter, rank, spans, summary  # noqa: A004 (module named after the reference)
from ._data import flatten, labels_to_indices, offsets_from_lengths, to_sentence_token, unflatten
from ._validation import TokenLQInputError, TokenLQWarning
from .filter import confident_joint, estimated_error_rates, find_label_issues
from .rank import (
    TokenScores,
    get_label_quality_scores,
    issues_from_scores,
    sentence_issues,
    token_issues,
)
from .spans import decode_spans, encode_spans, find_span_issues
from .summary import class_summary, common_label_issues, display_issues, filter_by_token, format_issues

__version__ = "0.1.0"

__all__ = [
    "TokenLQInputError",
    "TokenLQWarning",
    "TokenScores",
    "class_summary",
    "common_label_issues",
    "confident_joint",
    "decode_spans",
    "display_issues",
    "encode_spans",
    "estimated_error_rates",
    "filter",
    "filter_by_token",
    "find_label_issues",
    "find_span_issues",
    "flatten",
    "format_issues",
    "get_label_quality_scores",
    "issues_from_scores",
    "labels_to_indices",
    "offsets_from_lengths",
    "rank",
    "sentence_issues",
    "spans",
    "summary",
    "to_sentence_token",
    "token_issues",
    "unflatten",
]
