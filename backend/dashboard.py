"""Project managers' view: the run history (JSON, CSV) and a server-rendered dashboard page.

Charts are drawn in the browser by plotly.js, served from the installed ``plotly`` package (no
CDN, no build step); figure data is built here and embedded as escaped JSON.
"""

from __future__ import annotations

import calendar
import csv
import io
import json
import time
from importlib import resources

from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_file

from .errors import BadRequest
from .labelstudio.views import ISSUES_VIEW_TITLE
from .scoring import top_text

bp = Blueprint("dashboard", __name__)


# One number format on every page: rates (shares of tokens) as percentages with 2 decimals,
# scores (lower = more suspect) with 3 decimals. JSON and CSV keep the raw numbers.
@bp.app_template_filter("percent")
def percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


@bp.app_template_filter("score")
def score(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


@bp.app_template_filter("when")
def when(timestamp) -> str:
    """A run's time as people read it: ``2024-05-01 14:03:27 UTC``."""
    return "n/a" if timestamp is None else \
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def project_name(project: int, summary: dict | None) -> str:
    """The project's name as the latest run read it from Label Studio (no request while a page
    is served), else ``Project <id>``."""
    return (summary or {}).get("project_title") or f"Project {project}"


def ls_link(project: int, view, task=None) -> str | None:
    """The run's Label issues tab in Label Studio, or ``task`` in its labeling view inside
    that tab; None without a Label Studio URL."""
    settings = current_app.config["TOKENLQ"]
    ls_url = settings.public_url or settings.label_studio_url
    if not ls_url:
        return None
    query = "&".join(part for part in (f"tab={view}" if view is not None else "",
                                       f"task={task}" if task is not None else "") if part)
    return f"{ls_url}/projects/{project}/data?{query}"


HISTORY_FIELDS = {
    "run": "job id of the run",
    "finished": "when it finished (UTC, ISO 8601)",
    "trigger": "what started it (api, setup, refit, schedule, pending writes or a Label Studio event)",
    "kind": "rescore (model fitted) or update (stored fit reused)",
    "model_version": "model version of the predictions it wrote",
    "probs": "probability source: embedded, task, embedded+prediction:<version> (combined) or "
             "prediction:<version> (too few tasks for the embedded model)",
    "model": "embedded model of the fit it used (crf or crf+encoder)",
    "tasks": "tasks in the project",
    "scored": "annotated tasks scored",
    "tokens": "tokens scored",
    "flagged": "tasks in the Label issues tab",
    "error_rate": "estimated share of all tokens whose true type is another",
    "pending": "findings not yet reviewed",
    "fixed": "findings whose flagged labels were changed and are no longer flagged",
    "confirmed": "findings a reviewer saved without changing the flagged labels",
    "warnings": "input problems counted in the run (see the summary)",
    "seconds": "run time",
}


def _records(project: int, jobs: list | None = None) -> list:
    out = []
    if jobs is None:
        jobs = current_app.extensions["tokenlq.store"].history(project)
    for job in jobs:
        s = job.summary or {}
        reviews = s.get("reviews") or {}
        record = {
            "run": job.id,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job.finished)),
            "trigger": job.trigger, "kind": job.kind, "model_version": s.get("model_version"),
            "probs": s.get("probs"), "model": (s.get("fit") or {}).get("model"),
            "tasks": s.get("tasks"), "scored": s.get("scored"), "tokens": s.get("tokens"),
            "flagged": s.get("flagged"), "error_rate": s.get("error_rate"),
            "pending": reviews.get("pending", 0), "fixed": reviews.get("fixed", 0),
            "confirmed": reviews.get("confirmed", 0),
            "warnings": sum((s.get("warnings") or {}).values()),
            "seconds": round(sum((s.get("seconds") or {}).values()), 3),
        }
        record["classes"] = {c["type"]: c["estimated_error_rate"] for c in s.get("classes") or ()}
        record["confusions"] = s.get("confusions") or []
        out.append(record)
    return out


@bp.get("/projects/<id:project>/history")
def history(project: int):
    """Every scoring run of the project, oldest first; ``?format=csv`` for a table with one
    ``error_rate_<type>`` column per entity type."""
    records = _records(project)
    if request.args.get("format") == "csv":
        types = sorted({t for r in records for t in r["classes"]})
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(list(HISTORY_FIELDS) + [f"error_rate_{t}" for t in types])
        for r in records:
            writer.writerow([r[f] for f in HISTORY_FIELDS] + [r["classes"].get(t) for t in types])
        return Response(out.getvalue(), mimetype="text/csv")
    return jsonify(project=project, fields=HISTORY_FIELDS, runs=records)


def _safe_json(value) -> str:
    """JSON for a <script> element: no character of it can end the element or open markup."""
    text = json.dumps(value)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# The least span of the time axis: runs seconds apart (or a single run) get ticks every few
# seconds, not fractions of one. Wider spans are left to plotly's date ticks, which pick the
# unit (seconds to years) and print the date once under the time of day.
MIN_SPAN = 12.0


def _time_axis(stamps: list) -> dict:
    axis = {"type": "date", "title": {"text": "run finished (UTC)"}}
    seconds = [calendar.timegm(time.strptime(t, "%Y-%m-%d %H:%M:%S")) for t in stamps]
    if seconds and max(seconds) - min(seconds) < MIN_SPAN:
        middle = (max(seconds) + min(seconds)) / 2
        axis["range"] = [time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(middle + d))
                         for d in (-MIN_SPAN / 2, MIN_SPAN / 2)]
    return axis


def _figures(records: list, latest: dict) -> dict:
    # UTC without the zone suffix: plotly draws date strings as they are, in no local zone.
    x = [r["finished"].replace("T", " ").rstrip("Z") for r in records]
    hover = "%{x|%Y-%m-%d %H:%M:%S} UTC: %{y:.2%}<extra>%{fullData.name}</extra>"
    lines = [{"type": "scatter", "mode": "lines+markers", "name": "all tokens", "x": x,
              "y": [r["error_rate"] for r in records], "line": {"width": 3},
              "hovertemplate": hover}]
    for kind in sorted({t for r in records for t in r["classes"]}):
        lines.append({"type": "scatter", "mode": "lines+markers", "name": kind, "x": x,
                      "y": [r["classes"].get(kind) for r in records], "hovertemplate": hover})
    rates = {"data": lines, "layout": {
        "title": {"text": "Estimated error rate per run"},
        "yaxis": {"tickformat": ".2%", "rangemode": "tozero"},
        "xaxis": _time_axis(x),
        "height": 380}}
    confusions = latest.get("confusions") or []
    names = sorted({g for g, _, _ in confusions} | {s for _, s, _ in confusions})
    z = [[0] * len(names) for _ in names]
    for g, s, n in confusions:
        z[names.index(g)][names.index(s)] = n
    text = [[str(n) if n else "" for n in row] for row in z]  # each cell shows its count
    heat = {"data": [{"type": "heatmap", "x": names, "y": names, "z": z, "colorscale": "Reds",
                      "text": text, "texttemplate": "%{text}", "textfont": {"size": 14},
                      "hovertemplate": "given %{y}, suggested %{x}: %{z} tokens<extra></extra>"}],
            "layout": {"title": {"text": "Flagged tokens: given (rows) -> suggested (columns)"},
                       "xaxis": {"title": {"text": "suggested"}},
                       "yaxis": {"title": {"text": "given"}, "autorange": "reversed"},
                       "height": 380}}
    return {"rates": rates, "confusions": heat}


@bp.get("/projects/<id:project>/dashboard")
def dashboard(project: int):
    store = current_app.extensions["tokenlq.store"]
    jobs = store.history(project)
    records = _records(project, jobs)
    if not records:
        raise BadRequest(f"project {project} has not been scored yet (POST /projects/{project}/rescore)", 404)
    job = jobs[-1]  # the latest run (history is ordered by when runs finished)
    summary = job.summary or {}
    view = summary.get("view")
    linked = ls_link(project, view) is not None  # a Label Studio URL is configured
    reviews = summary.get("reviews") or {}
    progress = {"flagged": summary.get("flagged", 0), "pending": reviews.get("pending", 0),
                "fixed": reviews.get("fixed", 0), "confirmed": reviews.get("confirmed", 0)}
    progress["reviewed"] = progress["fixed"] + progress["confirmed"]
    classes = [dict(c, top_confusions=top_text(c.get("top_confusions"), "top_confusions"))
               for c in summary.get("classes") or ()]
    table = [dict(r, when=when(j.finished)) for r, j in zip(records, jobs)]
    return render_template(
        "dashboard.html", project=project, name=project_name(project, summary), run=job,
        summary=summary, classes=classes, progress=progress,
        figures=_safe_json(_figures(records, records[-1])), runs=len(records),
        history=table[::-1][:RUNS_SHOWN], runs_shown=RUNS_SHOWN,
        tab_url=ls_link(project, view) if view is not None else None,
        task_url=(lambda task: ls_link(project, view, task)) if linked else None,
        view_title=ISSUES_VIEW_TITLE)


RUNS_SHOWN = 20  # runs in the dashboard's table, newest first (all of them: /history)


@bp.get("/assets/plotly.min.js")
def plotly_js():
    """plotly.js as shipped inside the installed ``plotly`` package."""
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    return send_file(str(path), mimetype="application/javascript", max_age=86400)
