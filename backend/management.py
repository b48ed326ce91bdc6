"""Management endpoints: rescoring a project on request, and job status."""

from __future__ import annotations

import csv
import html
import io

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from .dashboard import percent, project_name, when
from .errors import BadRequest
from .scoring import SUMMARY_FIELDS, TOP_KEYS, top_items, top_text

bp = Blueprint("management", __name__)


@bp.post("/projects/<id:project>/rescore")
def rescore(project: int):
    job_id = current_app.extensions["tokenlq.queue"].submit(project, "api", "rescore")
    return jsonify(job=job_id, status_url=f"/jobs/{job_id}"), 202


@bp.get("/projects/<id:project>/jobs")
def jobs(project: int):
    """The project's latest 50 jobs, newest first (follow-up updates and refits included)."""
    return jsonify(project=project, jobs=current_app.extensions["tokenlq.store"].jobs(project))


@bp.get("/jobs/<id:job>")
def job(job: int):
    found = current_app.extensions["tokenlq.store"].job(job)
    if found is None:
        raise BadRequest(f"there is no job {job}", 404)
    return jsonify(found)


def _latest(project: int) -> dict:
    job = current_app.extensions["tokenlq.store"].latest_done(project)
    if job is None:
        raise BadRequest(f"project {project} has not been scored yet (POST /projects/{project}/rescore)", 404)
    return job


@bp.get("/projects/<id:project>/summary")
def summary(project: int):
    """Per entity type (and O) of the latest run; ``?format=csv`` for a table."""
    job = _latest(project)
    classes = job["summary"]["classes"]
    if request.args.get("format") == "csv":  # the top lists as text: 'LOC (3), PER (1)'
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(SUMMARY_FIELDS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(dict(row, **{f: top_text(row.get(f), f) for f in TOP_KEYS})
                         for row in classes)
        return Response(out.getvalue(), mimetype="text/csv")
    # Runs stored before the top lists were structured hold their text: the same shape for all.
    classes = [dict(row, **{f: top_items(row.get(f), f) for f in TOP_KEYS}) for row in classes]
    return jsonify(project=project, job=job["id"], finished=job["finished"], classes=classes,
                   warnings=job["summary"]["warnings"], fields=SUMMARY_FIELDS)


@bp.get("/projects/<id:project>/summary.html")
def summary_page(project: int):
    job = _latest(project)
    esc = html.escape
    name = project_name(project, job["summary"])

    def cell(row, f) -> str:  # one number format with the dashboard: rates as percentages
        value = row.get(f)
        if f == "estimated_error_rate":
            return percent(value)
        if f in TOP_KEYS:
            return top_text(value, f)
        return "" if value is None else str(value)

    head = "".join(f"<th title='{esc(SUMMARY_FIELDS[f])}'>{esc(f.replace('_', ' '))}</th>"
                   for f in SUMMARY_FIELDS)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell(row, f))}</td>" for f in SUMMARY_FIELDS)
                   + "</tr>" for row in job["summary"]["classes"])
    dashboard = url_for("dashboard.dashboard", project=project)
    csv_url = url_for("management.summary", project=project, format="csv")
    notes = "".join(f"<li>{esc(k)}: {int(v)}</li>" for k, v in job["summary"]["warnings"].items())
    legend = "".join(f"<dt>{esc(f.replace('_', ' '))}</dt><dd>{esc(d)}</dd>"
                     for f, d in SUMMARY_FIELDS.items())
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<link rel='icon' href='data:,'><title>tokenlq: "
            f"{esc(name)} summary</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
            "</style></head><body>"
            f"<nav><a id='dashboard-link' href='{esc(dashboard)}'>&larr; Dashboard</a> · "
            f"<a href='{esc(csv_url)}'>CSV</a></nav>"
            f"<h1 id='project-name'>{esc(name)}</h1><p>Label quality per entity type, project "
            f"{project}: run {job['id']} ({esc(job['kind'])}, {esc(job['trigger'])}), finished "
            f"<time id='finished'>{esc(when(job['finished']))}</time>.</p>"
            f"<table><tr>{head}</tr>{body}</table><h2>Warnings</h2>"
            f"<ul>{notes or '<li>none</li>'}</ul><h2>Fields</h2><dl>{legend}</dl></body></html>")
    return Response(page, mimetype="text/html")
