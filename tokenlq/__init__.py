"""tokenlq: find label errors in token classification data (NER, POS, chunking).

Scores lie in [0, 1]; lower means more likely mislabeled. The public API mirrors
``cleanlab.token_classification`` (modules :mod:`tokenlq.rank`, :mod:`tokenlq.filter`,
:mod:`tokenlq.summary`) and adds flat-array input, entity-level span issues
(:mod:`tokenlq.spans`) and per-class summaries.

The package has three layers; a module imports only from its own layer and the layers above
it in this table (function-level imports included):

=====  ==============================================================  ======================
layer  modules                                                         needs
=====  ==============================================================  ======================
core   every module not named below: the scoring API (``rank``,        numpy, pandas, Jinja
       ``filter``, ``summary``, ``spans``, ``chunked``), surface
       evidence (``consistency``), the tagging schemes, the file
       and Label Studio format conversions, and their private
       helpers (validation, data, kernels, confident learning;
       ``_html`` renders ``templates/``)
model  ``model`` (the cross-validated CRF and the fitted model),       python-crfsuite;
       ``encoder`` (pretrained word vectors and their classifier),     torch (an extra)
       ``transformer`` (the pretrained model fine-tuned per fold)
app    ``audit`` (scores, issues, summaries, report.html), ``cli``     core and model
       (the ``tokenlq`` command), ``synthetic`` (NER data with known
       errors)
=====  ==============================================================  ======================

The service, ``tokenlq_backend``, sits above them all; only ``tokenlq serve`` and
``tokenlq worker`` (in ``cli``) import it, when they run.
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
from .consistency import blend_surface_evidence, surface_consistency
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
    "blend_surface_evidence",
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
    "surface_consistency",
    "to_sentence_token",
    "token_issues",
    "unflatten",
]
