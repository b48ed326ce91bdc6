"""Management endpoints: rescoring a project on request, and job status."""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from .dashboard import percent, project_name
from .errors import BadRequest
from .storage import Job
from .scoring import SUMMARY_FIELDS, TOP_KEYS, top_items, top_text

bp = Blueprint("management", __name__)


@bp.post("/projects/<id:project>/rescore")
def rescore(project: int):
    job_id = current_app.extensions["tokenlq.queue"].submit(project, "api", "rescore")
    return jsonify(job=job_id, status_url=f"/jobs/{job_id}"), 202


@bp.get("/projects/<id:project>/jobs")
def jobs(project: int):
    """The project's latest 50 jobs, newest first (follow-up updates and refits included)."""
    jobs = current_app.extensions["tokenlq.store"].jobs(project)
    return jsonify(project=project, jobs=[job.to_dict() for job in jobs])


@bp.get("/jobs/<id:job>")
def job(job: int):
    found = current_app.extensions["tokenlq.store"].job(job)
    if found is None:
        raise BadRequest(f"there is no job {job}", 404)
    return jsonify(found.to_dict())


def _latest(project: int) -> Job:
    job = current_app.extensions["tokenlq.store"].latest_done(project)
    if job is None:
        raise BadRequest(f"project {project} has not been scored yet (POST /projects/{project}/rescore)", 404)
    return job


@bp.get("/projects/<id:project>/summary")
def summary(project: int):
    """Per entity type (and O) of the latest run; ``?format=csv`` for a table."""
    job = _latest(project)
    classes = job.summary["classes"]
    if request.args.get("format") == "csv":  # the top lists as text: 'LOC (3), PER (1)'
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(SUMMARY_FIELDS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(dict(row, **{f: top_text(row.get(f), f) for f in TOP_KEYS})
                         for row in classes)
        return Response(out.getvalue(), mimetype="text/csv")
    # Runs stored before the top lists were structured hold their text: the same shape for all.
    classes = [dict(row, **{f: top_items(row.get(f), f) for f in TOP_KEYS}) for row in classes]
    return jsonify(project=project, job=job.id, finished=job.finished, classes=classes,
                   warnings=job.summary["warnings"], fields=SUMMARY_FIELDS)


@bp.get("/projects/<id:project>/summary.html")
def summary_page(project: int):
    job = _latest(project)

    def cell(row, f) -> str:  # one number format with the dashboard: rates as percentages
        value = row.get(f)
        if f == "estimated_error_rate":
            return percent(value)
        if f in TOP_KEYS:
            return top_text(value, f)
        return "" if value is None else str(value)

    return render_template(
        "summary.html", project=project, name=project_name(project, job.summary), run=job,
        fields=SUMMARY_FIELDS, warnings=job.summary["warnings"],
        rows=[[cell(row, f) for f in SUMMARY_FIELDS] for row in job.summary["classes"]])
