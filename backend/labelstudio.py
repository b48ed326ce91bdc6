"""The one module that speaks to Label Studio (label-studio-sdk 2.1.2 and its authenticated
httpx client for the few calls the SDK lacks). Everything else gets plain dicts."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

__all__ = ["ISSUES_VIEW_TITLE", "ForeignURLError", "LabelStudioProject", "close", "connect"]

ISSUES_VIEW_TITLE = "Label issues"
_PAGE = 1000
_WRITERS = 4  # concurrent single-prediction writes; Label Studio on SQLite serialises beyond that


class ForeignURLError(RuntimeError):
    """A request (a redirect, a URL from an answer) to anywhere but the configured Label Studio."""


def _only_to(url: str):
    """An httpx request hook refusing every request whose origin is not ``url``'s: the API key
    travels with each request, so it must never follow a redirect or a link elsewhere."""
    import httpx

    allowed = httpx.URL(url)
    origin = (allowed.scheme, allowed.host, allowed.port)

    def check(request) -> None:
        if (request.url.scheme, request.url.host, request.url.port) != origin:
            raise ForeignURLError(f"refused a request to {request.url.scheme}://{request.url.host}"
                                  f"{'' if request.url.port is None else f':{request.url.port}'}: "
                                  "the backend talks only to LABEL_STUDIO_URL")
    return check


def connect(url: str, api_key: str, *, timeout: float = 60.0, httpx_client=None):
    """An SDK client; ``api_key`` may be a personal access token (refreshed by the SDK) or a
    legacy token. Every request goes to ``url``'s origin or is refused (:class:`ForeignURLError`).
    Raises ValueError without a URL or key."""
    if not url or not api_key:
        raise ValueError("LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY must be set to reach Label Studio")
    import httpx
    from label_studio_sdk import LabelStudio

    http = httpx_client or httpx.Client(timeout=timeout, follow_redirects=True)  # as the SDK's own
    http.event_hooks = {**http.event_hooks,
                        "request": [*http.event_hooks["request"], _only_to(url)]}
    return LabelStudio(base_url=url.rstrip("/") + "/", api_key=api_key, timeout=timeout,
                       httpx_client=http)


def close(client) -> None:
    """Release the client's connections."""
    client._client_wrapper.httpx_client.httpx_client.close()


class LabelStudioProject:
    """Reads and writes of one project."""

    def __init__(self, client, project_id: int, *, before_write=None):
        """``before_write()`` is called before each write and may raise to stop the run's
        writing (an RQ job that lost its project's lock)."""
        self.client, self.id = client, int(project_id)
        self._http = client._client_wrapper.httpx_client
        self._before_write = before_write or (lambda: None)

    def _get(self, path: str, **params):
        response = self._http.request(path, method="GET", params=params)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def tasks(self, *, timeout: float = 1800.0) -> list:
        """Every task with its full annotations and predictions, as dicts.

        Read through a snapshot export with full predictions: on a 10,000-task project 3x faster
        than paging ``/api/tasks`` with ``fields=all`` (16 s against 47-56 s on Label Studio
        1.23.2, SQLite). The export is deleted afterwards.
        """
        response = self._http.request(f"api/projects/{self.id}/exports/", method="POST", json={
            "title": "tokenlq scoring read",
            "serialization_options": {"predictions": {"only_id": False}, "drafts": {"only_id": True},
                                      "annotations__completed_by": {"only_id": True}}})
        if response.status_code == 404:
            raise LookupError(f"Label Studio has no project {self.id}")
        response.raise_for_status()
        export = response.json()["id"]
        try:
            deadline, pause = time.monotonic() + timeout, 0.05
            while (status := self._get(f"api/projects/{self.id}/exports/{export}")["status"]) \
                    not in ("completed", "failed"):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Label Studio's export of project {self.id} took over {timeout:.0f} s")
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
            if status == "failed":
                raise RuntimeError(f"Label Studio's export of project {self.id} failed")
            tasks = self._get(f"api/projects/{self.id}/exports/{export}/download", exportType="JSON")
        finally:
            self._http.request(f"api/projects/{self.id}/exports/{export}", method="DELETE")
        if not isinstance(tasks, list):
            raise RuntimeError(f"Label Studio's export of project {self.id} is not a list of tasks")
        return tasks

    def create_predictions(self, predictions: dict) -> int:
        """Bulk-create ``{task id: prediction}``; returns how many Label Studio created."""
        items = [{"task": task_id, **prediction} for task_id, prediction in predictions.items()]
        created = 0
        for start in range(0, len(items), 5000):  # each call recounts the project: big chunks
            self._before_write()
            # Never retried by the SDK: after a dropped answer Label Studio may have imported
            # them already, and a retry would double them. The run fails; the next converges.
            answer = self.client.projects.import_predictions(
                id=self.id, request=items[start:start + 5000], request_options={"max_retries": 0})
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
        response = self._http.request(f"api/projects/{self.id}/model-versions/", method="DELETE",
                                      json={"model_version": model_version})
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
        with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
            list(pool.map(call, items))  # list(): the first error is raised here

    def set_model_version(self, model_version: str) -> None:
        self._before_write()
        self.client.projects.update(id=self.id, model_version=model_version)

    def settings(self) -> dict:
        """``title``, ``label_config`` and ``model_version`` of the project."""
        project = self._get(f"api/projects/{self.id}/")
        if project is None:
            raise LookupError(f"Label Studio has no project {self.id}")
        return {"title": project.get("title") or "", "label_config": project.get("label_config", ""),
                "model_version": project.get("model_version")}

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
        views = self._get("api/dm/views/", project=self.id) or []
        ours = [v for v in views if (v.get("data") or {}).get("title") == ISSUES_VIEW_TITLE]
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

    def view_task_ids(self, view_id: int) -> list:
        """The ids a view lists, in its order."""
        body = self._get("api/tasks/", project=self.id, view=view_id, fields="task_only",
                         page_size=_PAGE * 100)
        return [t["id"] for t in (body or {}).get("tasks", [])]


def prediction_content(prediction: dict) -> str:
    """What makes two predictions the same for a rerun: score and result, canonical JSON."""
    score = prediction.get("score")
    return json.dumps({"score": None if score is None else round(float(score), 9),
                       "result": prediction.get("result") or []}, sort_keys=True)
