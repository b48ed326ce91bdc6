"""Management endpoints: rescoring a project on request, and job status."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .errors import BadRequest

bp = Blueprint("management", __name__)


@bp.post("/projects/<int:project>/rescore")
def rescore(project: int):
    job_id = current_app.extensions["tokenlq.queue"].submit(project, "api")
    return jsonify(job=job_id, status_url=f"/jobs/{job_id}"), 202


@bp.get("/jobs/<int:job_id>")
def job(job_id: int):
    found = current_app.extensions["tokenlq.store"].job(job_id)
    if found is None:
        raise BadRequest(f"there is no job {job_id}", 404)
    return jsonify(found)
