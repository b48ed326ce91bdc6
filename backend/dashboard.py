"""Project managers' view: the run history (JSON, CSV) and a server-rendered dashboard page.

Charts are drawn in the browser by plotly.js, served from the installed ``plotly`` package (no
CDN, no build step); figure data is built here and embedded as escaped JSON.
"""

from __future__ import annotations

import csv
import io
import json
import time
from importlib import resources

from flask import Blueprint, Response, current_app, jsonify, render_template, request, send_file

from .errors import BadRequest
from .labelstudio import ISSUES_VIEW_TITLE

bp = Blueprint("dashboard", __name__)

HISTORY_FIELDS = {
    "run": "job id of the run",
    "finished": "when it finished (UTC, ISO 8601)",
    "trigger": "what started it (api, setup, refit or a Label Studio event)",
    "kind": "rescore (model fitted) or update (stored fit reused)",
    "model_version": "model version of the predictions it wrote",
    "probs": "probability source: embedded, task or prediction:<version>",
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


def _records(project: int) -> list:
    out = []
    for job in current_app.extensions["tokenlq.store"].history(project):
        s = job["summary"] or {}
        reviews = s.get("reviews") or {}
        record = {
            "run": job["id"],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job["finished"])),
            "trigger": job["trigger"], "kind": job["kind"], "model_version": s.get("model_version"),
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


def _figures(records: list, latest: dict) -> dict:
    x = [r["finished"] for r in records]
    lines = [{"type": "scatter", "mode": "lines+markers", "name": "all tokens", "x": x,
              "y": [r["error_rate"] for r in records], "line": {"width": 3}}]
    for kind in sorted({t for r in records for t in r["classes"]}):
        lines.append({"type": "scatter", "mode": "lines+markers", "name": kind, "x": x,
                      "y": [r["classes"].get(kind) for r in records]})
    rates = {"data": lines, "layout": {
        "title": {"text": "Estimated error rate per run"}, "yaxis": {"tickformat": ".1%",
                                                                       "rangemode": "tozero"},
        "xaxis": {"title": {"text": "run finished (UTC)"}}, "height": 380}}
    confusions = latest.get("confusions") or []
    names = sorted({g for g, _, _ in confusions} | {s for _, s, _ in confusions})
    z = [[0] * len(names) for _ in names]
    for g, s, n in confusions:
        z[names.index(g)][names.index(s)] = n
    heat = {"data": [{"type": "heatmap", "x": names, "y": names, "z": z, "colorscale": "Reds",
                      "hovertemplate": "given %{y}, suggested %{x}: %{z} tokens<extra></extra>"}],
            "layout": {"title": {"text": "Flagged tokens: given (rows) -> suggested (columns)"},
                       "xaxis": {"title": {"text": "suggested"}},
                       "yaxis": {"title": {"text": "given"}, "autorange": "reversed"},
                       "height": 380}}
    return {"rates": rates, "confusions": heat}


@bp.get("/projects/<id:project>/dashboard")
def dashboard(project: int):
    records = _records(project)
    if not records:
        raise BadRequest(f"project {project} has not been scored yet (POST /projects/{project}/rescore)", 404)
    store = current_app.extensions["tokenlq.store"]
    job = store.latest_done(project)
    summary = job["summary"]
    settings = current_app.config["TOKENLQ"]
    ls_url = settings.public_url or settings.label_studio_url
    reviews = summary.get("reviews") or {}
    progress = {"flagged": summary.get("flagged", 0), "pending": reviews.get("pending", 0),
                "fixed": reviews.get("fixed", 0), "confirmed": reviews.get("confirmed", 0)}
    progress["reviewed"] = progress["fixed"] + progress["confirmed"]
    return render_template(
        "dashboard.html", project=project, run=job, summary=summary, progress=progress,
        figures=_safe_json(_figures(records, records[-1])), runs=len(records),
        tab_url=f"{ls_url}/projects/{project}/data?tab={summary['view']}" if ls_url and summary.get("view") else None,
        task_url=(lambda task: f"{ls_url}/projects/{project}/data?task={task}") if ls_url else None,
        view_title=ISSUES_VIEW_TITLE, finished=records[-1]["finished"])


@bp.get("/assets/plotly.min.js")
def plotly_js():
    """plotly.js as shipped inside the installed ``plotly`` package."""
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    return send_file(str(path), mimetype="application/javascript", max_age=86400)
