"""The ``Label issues`` tab (pure: no HTTP): the filter that selects the review queue
(:func:`backend.reviews.update_reviews`) in Label Studio's Data Manager, the columns it shows,
and the mark of reviewed findings.

The tab's filter is one that Label Studio's Data Manager page can load (its web page knows only ``equal``,
``not_equal``, ``less``, ``greater``, ``less_or_equal``, ``greater_or_equal``, ``in``,
``not_in``, ``empty``, ``contains``, ``not_contains`` and ``regex``; one tab with another
operator, such as the API's ``in_list``, stops the page from loading every tab of the project):

- ``Prediction score`` ``less_or_equal`` the score of the last task in the queue, so the tab
  agrees with the column it sorts by: every pending task in it scores at most every scored
  task outside it;
- ``Prediction results`` ``not_contains`` :data:`REVIEWED_MARK`, a text tokenlq writes into its
  own prediction of a fixed or confirmed finding, so that a reviewed task leaves the tab even
  when its score stays low.
"""

from __future__ import annotations

__all__ = ["ISSUES_VIEW_TITLE", "REVIEWED_MARK", "SHOWN_COLUMNS", "mark_reviewed", "view_filters",
           "view_layout"]

ISSUES_VIEW_TITLE = "Label issues"
REVIEWED_MARK = "tokenlq-reviewed"

# What a reviewer needs in the tab's list (the rest, raw JSON included, is hidden): the task,
# its text, its score, who annotated it and when. While labeling, the side list is narrow.
SHOWN_COLUMNS = {
    "explore": ("tasks:id", "tasks:data.{text}", "tasks:predictions_score", "tasks:annotators",
                "tasks:completed_at"),
    "labeling": ("tasks:id", "tasks:data.{text}", "tasks:predictions_score"),
}


def view_filters(threshold: float | None) -> dict:
    """The tab's filters: prediction score at most ``threshold`` (None: an empty tab) and no
    review mark in the task's predictions."""
    if threshold is None:  # scores lie in [0, 1]: nothing scores below 0
        score = {"filter": "filter:tasks:predictions_score", "operator": "less", "type": "Number",
                 "value": 0}
    else:
        score = {"filter": "filter:tasks:predictions_score", "operator": "less_or_equal",
                 "type": "Number", "value": float(threshold)}
    return {"conjunction": "and", "items": [
        score,
        {"filter": "filter:tasks:predictions_results", "operator": "not_contains", "type": "String",
         "value": REVIEWED_MARK}]}


TEXT_WIDTH = 900  # pixels: with the other shown columns, a sentence fits a 1600 px window


def view_layout(columns, text_key: str) -> dict:
    """The tab's look: ``hiddenColumns`` lists every column of ``columns`` (the Data Manager's
    ids) but :data:`SHOWN_COLUMNS`, ``text_key`` being the config's text key; the text column
    is wide.

    >>> view_layout(["tasks:id", "tasks:data.text", "tasks:file_upload"], "text")["hiddenColumns"]
    {'explore': ['tasks:file_upload'], 'labeling': ['tasks:file_upload']}
    """
    hidden = {}
    for part, shown in SHOWN_COLUMNS.items():
        keep = {c.format(text=text_key) for c in shown}
        hidden[part] = [c for c in columns if c not in keep]
    return {"hiddenColumns": hidden, "columnsWidth": {f"tasks:data.{text_key}": TEXT_WIDTH}}


def mark_reviewed(prediction: dict, note: str) -> bool:
    """Add :data:`REVIEWED_MARK` and ``note`` to a prediction's suspect regions (its first
    region when none is suspect). False when the prediction has no region to carry it."""
    regions = prediction["result"]
    carriers = [r for r in regions if "meta" in r] or regions[:1]
    for region in carriers:
        meta = region.setdefault("meta", {})
        meta["text"] = [*meta.get("text", []), f"{note} ({REVIEWED_MARK})"]
    return bool(carriers)
