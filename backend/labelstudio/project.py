"""Reads and writes of one Label Studio project, as plain dicts: what a run pulls, the
predictions it writes back, the ``Label issues`` tab, the webhooks' credential, and the few
steps the demo takes to make a project."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from ..copies import project_settings
from ..settings import BULK_TIMEOUT
from .client import LabelStudioClient
from .views import ISSUES_VIEW_TITLE

__all__ = ["LabelStudioProject", "ProjectGone", "create_project", "prediction_content"]

_PAGE = 1000
_IDS_PER_READ = 300  # task ids in one request's query string
_WRITERS = 4  # concurrent single-prediction writes; Label Studio on SQLite serialises beyond that


class ProjectGone(LookupError):
    """Label Studio has no such project (any more)."""


class LabelStudioProject:
    """Reads and writes of one project."""

    def __init__(self, client: LabelStudioClient, project_id: int, *, before_write=None,
                 bulk_timeout: float = BULK_TIMEOUT):
        """``before_write()`` is called before each write and may raise to stop the run's
        writing (an RQ job that lost its project's lock). ``bulk_timeout``: seconds for a
        request about the whole project (building the export and downloading it, a bulk import
        of predictions, deleting a model version), which a busy Label Studio answers in minutes."""
        self.client, self.id = client, int(project_id)
        self._before_write = before_write or (lambda: None)
        self.bulk_timeout = bulk_timeout

    def _get(self, path: str, *, timeout: float | None = None, **params):
        response = self.client.request("GET", path, params=params,
                                       **({"timeout": timeout} if timeout else {}))
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def tasks(self, *, timeout: float | None = None) -> list:
        """Every task with its full annotations and predictions, as dicts.

        Read through a snapshot export with full predictions: on a 10,000-task project 3x faster
        than paging ``/api/tasks`` with ``fields=all`` (16 s against 47-56 s on Label Studio
        1.23.2, SQLite). The export is deleted afterwards. ``timeout``: seconds for the export
        to be built (default ``bulk_timeout``).
        """
        # Label Studio builds the export while it answers this POST: over a minute at 100,000.
        response = self.client.request("POST", f"api/projects/{self.id}/exports/", json={
            "title": "tokenlq scoring read",
            "serialization_options": {"predictions": {"only_id": False}, "drafts": {"only_id": True},
                                      "annotations__completed_by": {"only_id": True}}},
            timeout=self.bulk_timeout)
        if response.status_code == 404:
            raise ProjectGone(f"Label Studio has no project {self.id}")
        response.raise_for_status()
        export = response.json()["id"]
        try:
            timeout = self.bulk_timeout if timeout is None else timeout
            deadline, pause = time.monotonic() + timeout, 0.05
            while (status := self._get(f"api/projects/{self.id}/exports/{export}")["status"]) \
                    not in ("completed", "failed"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Label Studio's export of project {self.id} took over {timeout:.0f} s")
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
            if status == "failed":
                raise RuntimeError(f"Label Studio's export of project {self.id} failed")
            tasks = self._get(f"api/projects/{self.id}/exports/{export}/download",
                              timeout=self.bulk_timeout, exportType="JSON")
        finally:
            self.client.request("DELETE", f"api/projects/{self.id}/exports/{export}")
        if not isinstance(tasks, list):
            raise RuntimeError(f"Label Studio's export of project {self.id} is not a list of tasks")
        return tasks

    def tasks_by_id(self, task_ids) -> list:
        """Those of ``task_ids`` the project still has, with their annotations and predictions
        (a few hundred per request, through the Data Manager's task list: Label Studio's
        synchronous export of chosen tasks leaves their predictions out)."""
        task_ids, out = [int(t) for t in task_ids], []
        for start in range(0, len(task_ids), _IDS_PER_READ):
            chunk = task_ids[start:start + _IDS_PER_READ]
            query = {"selectedItems": {"all": False, "included": chunk}}
            body = self._get("api/tasks/", project=self.id, fields="all", page_size=len(chunk),
                             query=json.dumps(query))
            if body is None:
                raise ProjectGone(f"Label Studio has no project {self.id}")
            asked = set(chunk)
            out += [t for t in body.get("tasks", []) if t.get("id") in asked]
        return out

    def predictions_of(self, task_ids, model_version: str) -> dict:
        """``{task id: [its predictions of model_version]}``, oldest first."""
        def read(task_id):
            found = self._get("api/predictions/", task=task_id) or []
            return task_id, sorted((p for p in found if p.get("model_version") == model_version),
                                   key=lambda p: p["id"])

        with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
            return dict(pool.map(read, task_ids))

    def create_predictions(self, predictions: dict) -> int:
        """Bulk-create ``{task id: prediction}``; returns how many Label Studio created."""
        items = [{"task": task_id, **prediction} for task_id, prediction in predictions.items()]
        created = 0
        for start in range(0, len(items), 5000):  # each call recounts the project: big chunks
            self._before_write()
            # Never retried by the SDK: after a dropped answer Label Studio may have imported
            # them already, and a retry would double them. The run fails; the next converges.
            answer = self.client.projects.import_predictions(
                id=self.id, request=items[start:start + 5000],
                request_options={"max_retries": 0, "timeout": self.bulk_timeout})
            created += int(getattr(answer, "created", 0) or 0)
        return created

    def update_predictions(self, predictions: dict) -> None:
        """Replace the content of existing predictions, ``{prediction id: prediction}`` (a few
        requests at a time: Label Studio writes them one by one)."""
        def update(item):
            prediction_id, prediction = item
            self._before_write()
            self.client.predictions.update(id=prediction_id, result=prediction["result"],
                                           score=prediction["score"],
                                           model_version=prediction["model_version"])

        self._each(update, predictions.items())

    def delete_model_version(self, model_version: str) -> int:
        """Delete every prediction of ``model_version`` in the project in one request (Label
        Studio then clears the project's model version if it was that one). Returns how many."""
        self._before_write()
        # Label Studio answers once every one is deleted: 10,000 took over a minute on PostgreSQL.
        response = self.client.request("DELETE", f"api/projects/{self.id}/model-versions/",
                                       json={"model_version": model_version},
                                       timeout=self.bulk_timeout)
        response.raise_for_status()
        return int(response.json().get("deleted_predictions", 0))

    def delete_predictions(self, prediction_ids) -> None:
        def delete(prediction_id):
            self._before_write()
            self.client.predictions.delete(id=prediction_id)

        self._each(delete, prediction_ids)

    @staticmethod
    def _each(call, items) -> None:
        items = list(items)
        if len(items) <= 1:
            for item in items:
                call(item)
            return
        # Every write is attempted, then the first error raised (pool.map would cancel the
        # writes not yet started when one fails, so which ran would depend on timing).
        with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
            futures = [pool.submit(call, item) for item in items]
        for future in futures:
            future.result()

    def set_model_version(self, model_version: str) -> None:
        self._before_write()
        self.client.projects.update(id=self.id, model_version=model_version)

    def settings(self) -> dict:
        """``title``, ``label_config`` and ``model_version`` of the project."""
        project = self._get(f"api/projects/{self.id}/")
        if project is None:
            raise ProjectGone(f"Label Studio has no project {self.id}")
        return project_settings(project)

    def columns(self) -> list:
        """The ids of the Data Manager's task columns (``tasks:<name>``, ``tasks:data.<key>``)."""
        columns = (self._get("api/dm/columns/", project=self.id) or {}).get("columns", [])
        return [f"tasks:{c['parent']}.{c['id']}" if c.get("parent") else f"tasks:{c['id']}"
                for c in columns if c.get("id") and not c.get("children")]

    def show_issues_view(self, filters: dict, layout) -> int:
        """The ``Label issues`` tab with ``filters``, ordered by prediction score (most suspect
        first). ``layout(columns)`` gives the tab's look (``hiddenColumns``, ``columnsWidth``)
        from the ids of :meth:`columns`, asked for only when the tab is created or its columns
        were never chosen (both lists empty, as tokenlq wrote them before). Later runs resend
        its full data (a partial update drops keys) with filters and ordering renewed and the
        look as the tab has it, so a reviewer's columns survive."""
        ours = self._issues_views()
        data = {"title": ISSUES_VIEW_TITLE, "filters": filters, "ordering": ["tasks:predictions_score"]}
        self._before_write()
        if ours:
            kept = ours[0].get("data") or {}
            hidden = kept.get("hiddenColumns") or {}
            chosen = any(hidden.get(part) for part in ("explore", "labeling"))
            data = {**kept, **({} if chosen else layout(self.columns())), **data}
            self.client.views.update(id=str(ours[0]["id"]), project=self.id, data=data)
            return int(ours[0]["id"])
        # Not retried after a lost answer: it could make a second tab (the next run finds it).
        return int(self.client.views.create(project=self.id, data={**data, **layout(self.columns())},
                                            request_options={"max_retries": 0}).id)

    def _issues_views(self) -> list:
        views = self._get("api/dm/views/", project=self.id) or []
        return [v for v in views if (v.get("data") or {}).get("title") == ISSUES_VIEW_TITLE]

    def issues_view(self) -> int | None:
        """The id of the ``Label issues`` tab, or None before a run made it."""
        ours = self._issues_views()
        return int(ours[0]["id"]) if ours else None

    def secure_webhooks(self, model_version: str, headers: dict) -> int:
        """Give ``headers`` (the credential its events need) to the webhooks Label Studio
        created for this backend: those to ``<url>/webhook`` of the project's ML backends that
        report ``model_version``. Their other headers stay. Returns how many were updated."""
        backends = self._get("api/ml/", project=self.id) or []
        urls = {b["url"].rstrip("/") + "/webhook" for b in backends
                if b.get("model_version") == model_version and b.get("url")}
        updated = 0
        for hook in self._get("api/webhooks/", project=self.id) or []:
            present = hook.get("headers") or {}
            if hook.get("url", "").rstrip("/") in urls and \
                    any(present.get(name) != value for name, value in headers.items()):
                self._before_write()
                self.client.webhooks.update(id=hook["id"], url=hook["url"],
                                            headers={**present, **headers})
                updated += 1
        return updated

    def import_tasks(self, tasks) -> list:
        """Import ``tasks`` (Label Studio's import format: ``data``, optional ``annotations``);
        returns their ids, in order."""
        self._before_write()
        answer = self.client.projects.import_tasks(id=self.id, request=tasks, return_task_ids=True)
        return list(answer.task_ids)

    def add_ml_backend(self, url: str, *, title: str = "tokenlq") -> None:
        """Connect the ML backend at ``url`` to the project (Label Studio calls its /health and
        /setup, and creates its webhook)."""
        self._before_write()
        self.client.ml.create(project=self.id, url=url, title=title)

    def view_task_ids(self, view_id: int) -> list:
        """The ids a view lists, in its order."""
        body = self._get("api/tasks/", project=self.id, view=view_id, fields="task_only",
                         page_size=_PAGE * 100)
        return [t["id"] for t in (body or {}).get("tasks", [])]


def create_project(client: LabelStudioClient, title: str, label_config: str) -> LabelStudioProject:
    """A new project named ``title`` with the labeling config ``label_config``."""
    return LabelStudioProject(client, client.projects.create(title=title, label_config=label_config).id)


def prediction_content(prediction: dict) -> str:
    """What makes two predictions the same for a rerun: score and result, canonical JSON."""
    score = prediction.get("score")
    return json.dumps({"score": None if score is None else round(float(score), 9),
                       "result": prediction.get("result") or []}, sort_keys=True)
