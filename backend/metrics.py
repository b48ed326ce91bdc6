"""``GET /metrics`` in the Prometheus text format (prometheus-client).

Runs happen in processes of their own, so every figure is read from the store at scrape time by
one collector, rather than counted in this process.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .storage import JobStatus, Lane

bp = Blueprint("metrics", __name__)


class StoreCollector:
    def __init__(self, store):
        self.store = store

    def collect(self):
        runs = CounterMetricFamily("tokenlq_runs", "Finished, failed, queued and running jobs",
                                   labels=["project", "kind", "status"])
        seconds = CounterMetricFamily("tokenlq_run_seconds", "Time spent in finished jobs",
                                      labels=["project", "kind"])
        depth = GaugeMetricFamily("tokenlq_queue_depth", "Jobs waiting, per lane", labels=["lane"])
        waiting = dict.fromkeys(Lane, 0)
        spent: dict = {}
        for row in self.store.counts():
            runs.add_metric([str(row["project"]), row["kind"], row["status"]], row["n"])
            if row["status"] in (JobStatus.DONE, JobStatus.FAILED):
                key = (str(row["project"]), row["kind"])
                spent[key] = spent.get(key, 0.0) + float(row["seconds"] or 0)
            if row["status"] is JobStatus.QUEUED:
                waiting[row["kind"].lane] += row["n"]
        for key, value in sorted(spent.items()):
            seconds.add_metric(list(key), value)
        for lane, n in waiting.items():
            depth.add_metric([lane], n)
        flagged = GaugeMetricFamily("tokenlq_flagged_tasks", "Tasks in the Label issues tab after "
                                    "the latest run", labels=["project"])
        rate = GaugeMetricFamily("tokenlq_estimated_error_rate", "Estimated share of tokens whose "
                                 "true type is another, latest run (class 'all': every token)",
                                 labels=["project", "class"])
        findings = GaugeMetricFamily("tokenlq_findings", "Findings per review status, latest run",
                                     labels=["project", "status"])
        for project in self.store.projects():
            job = self.store.latest_done(project)
            if job is None or not job.summary:
                continue
            summary, name = job.summary, str(project)
            flagged.add_metric([name], summary.get("flagged", 0))
            if summary.get("error_rate") is not None:
                rate.add_metric([name, "all"], summary["error_rate"])
            for row in summary.get("classes") or ():
                if row.get("estimated_error_rate") is not None:
                    rate.add_metric([name, row["type"]], row["estimated_error_rate"])
            for status in ("pending", "fixed", "confirmed"):
                findings.add_metric([name, status], (summary.get("reviews") or {}).get(status, 0))
        yield from (runs, seconds, depth, flagged, rate, findings)


@bp.get("/metrics")
def metrics():
    registry = current_app.extensions.get("tokenlq.metrics")
    if registry is None:
        registry = CollectorRegistry()
        registry.register(StoreCollector(current_app.extensions["tokenlq.store"]))
        current_app.extensions["tokenlq.metrics"] = registry
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
