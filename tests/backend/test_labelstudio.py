"""The Label Studio client's error paths, with httpx.MockTransport standing in for the server
(the client's httpx.Client carries the SDK's calls too). The working paths are proven against a
real server in tests/e2e."""

import json
import sys
import time

import httpx
import pytest
from label_studio_sdk.core.api_error import ApiError

from tokenlq_backend.labelstudio import LabelStudioProject, connect
from tokenlq_backend.runs import MODEL_VERSION, RunSummary, _write


def project(handler, project_id=5, api_key="legacy-token"):
    """A project of a Label Studio answering with ``handler``, and the (method, path) of every
    call; the client retries as the SDK does, without waiting."""
    calls = []

    def record(request):
        calls.append((request.method, request.url.path))
        return handler(request)

    client = connect("http://ls.test", api_key, transport=httpx.MockTransport(record),
                     retry_delays=(0.0, 0.0))
    return LabelStudioProject(client, project_id), calls


@pytest.fixture
def waits(monkeypatch):
    """The SDK's retry waits (after 1 s and 2 s) wait for nothing, and the seconds asked for are
    recorded. Every other ``time.sleep`` (a lane another test left running) is the real one."""
    asked, real_sleep = [], time.sleep

    def sleep(seconds):
        if sys._getframe(1).f_globals.get("__name__") == "label_studio_sdk.core.http_client":
            asked.append(seconds)
        else:
            real_sleep(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return asked


def test_an_unknown_project_is_named():
    ls, _ = project(lambda r: httpx.Response(404, json={"detail": "Not found."}))
    with pytest.raises(LookupError, match="Label Studio has no project 5"):
        ls.settings()
    with pytest.raises(LookupError, match="Label Studio has no project 5"):
        ls.tasks()


@pytest.mark.parametrize("status", [401, 500, 503])
def test_server_errors_surface_with_their_status(status):
    ls, calls = project(lambda r: httpx.Response(status, json={"detail": "boom"}))
    with pytest.raises(httpx.HTTPStatusError, match=str(status)):
        ls.settings()
    assert len(calls) == (1 if status == 401 else 3)  # a 5xx is retried twice


def export_server(status="completed", download=None, never_done=False):
    def handler(request):
        path = request.url.path
        if request.method == "POST" and path.endswith("/exports/"):
            return httpx.Response(201, json={"id": 3})
        if request.method == "DELETE":
            return httpx.Response(204)
        if path.endswith("/download"):
            return httpx.Response(200, json=download if download is not None else [{"id": 1}])
        return httpx.Response(200, json={"id": 3, "status": "in_progress" if never_done else status})
    return handler


def test_a_failed_export_is_an_error_and_the_export_is_deleted():
    ls, calls = project(export_server(status="failed"))
    with pytest.raises(RuntimeError, match="export of project 5 failed"):
        ls.tasks()
    assert ("DELETE", "/api/projects/5/exports/3") in calls


def test_a_stuck_export_times_out_and_is_deleted():
    ls, calls = project(export_server(never_done=True))
    with pytest.raises(TimeoutError, match="took over 0 s"):
        ls.tasks(timeout=0.2)
    assert calls[-1] == ("DELETE", "/api/projects/5/exports/3")


def test_an_export_that_is_not_a_task_list_is_refused():
    ls, calls = project(export_server(download={"detail": "odd"}))
    with pytest.raises(RuntimeError, match="not a list of tasks"):
        ls.tasks()
    assert project(export_server())[0].tasks() == [{"id": 1}]  # the same server, answering well


def test_predictions_label_studio_drops_fail_the_run():
    def handler(request):
        if request.url.path.endswith("/import/predictions"):
            return httpx.Response(201, json={"created": len(json.loads(request.content)) - 1})
        return httpx.Response(500)
    ls, _ = project(handler)
    wanted = {t: {"model_version": MODEL_VERSION, "score": 0.5, "result": []} for t in (1, 2)}
    with pytest.raises(RuntimeError, match="Label Studio created 1 of 2 predictions"):
        _write(ls, [{"id": 1, "predictions": []}, {"id": 2, "predictions": []}], wanted, RunSummary(5))


def test_a_failing_update_or_delete_is_raised_not_swallowed(waits):
    def handler(request):
        if request.method == "PATCH" and request.url.path.endswith("/8/"):
            return httpx.Response(500, json={"detail": "db locked"})
        return httpx.Response(200, json={"id": 1})
    ls, calls = project(handler)
    wanted = {"model_version": MODEL_VERSION, "score": 0.5, "result": []}
    with pytest.raises(ApiError, match="500"):
        ls.update_predictions({7: wanted, 8: wanted, 9: wanted})
    assert {p for m, p in calls if m == "PATCH"} == {f"/api/predictions/{i}/" for i in (7, 8, 9)}
    assert calls.count(("PATCH", "/api/predictions/8/")) == 3  # the SDK retried it twice
    assert len(waits) == 2 and all(w > 0 for w in waits)  # with a wait before each retry


def test_requests_go_only_to_the_configured_label_studio():
    """A redirect elsewhere (a compromised or misconfigured proxy) is refused before anything,
    the API key included, is sent; the SDK's own calls are held to the same origin."""
    from tokenlq_backend.labelstudio import ForeignURLError

    def handler(request):
        assert request.url.host == "ls.test", f"a request reached {request.url}"
        return httpx.Response(302, headers={"Location": "http://elsewhere.test/api/projects/5/"})

    ls, calls = project(handler)  # connect()'s client follows redirects
    with pytest.raises(ForeignURLError, match="refused a request to http://elsewhere.test"):
        ls.settings()
    with pytest.raises(ForeignURLError, match="elsewhere.test"):
        ls.set_model_version(MODEL_VERSION)  # through the SDK
    with pytest.raises(ForeignURLError, match="https://ls.test"):  # another scheme is another origin
        ls.client.http.get("https://ls.test/api/projects/5/")
    assert all(path == "/api/projects/5/" for _, path in calls) and len(calls) == 2


def jwt(claims):
    """An unsigned JWT with ``claims`` (Label Studio checks signatures; the client reads only
    the token type and expiry)."""
    import base64

    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def test_a_legacy_token_is_sent_as_token_on_every_call():
    seen = []

    def handler(request):
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, json={"title": "t", "label_config": "<View/>", "model_version": None})
    ls, _ = project(handler)
    ls.settings()  # the client's own call
    ls.set_model_version(MODEL_VERSION)  # through the SDK
    assert seen == ["Token legacy-token", "Token legacy-token"]


def test_a_personal_access_token_is_exchanged_once_for_an_access_token():
    import time

    refresh = jwt({"token_type": "refresh", "exp": time.time() + 86400})
    access = jwt({"token_type": "access", "exp": time.time() + 300})

    def handler(request):
        if request.url.path == "/api/token/refresh/":
            assert json.loads(request.content) == {"refresh": refresh}
            return httpx.Response(200, json={"access": access})
        assert request.headers["Authorization"] == f"Bearer {access}"
        return httpx.Response(200, json={"title": "t", "label_config": "<View/>", "model_version": None})
    ls, calls = project(handler, api_key=refresh)
    ls.settings()
    ls.settings()
    assert [path for _, path in calls].count("/api/token/refresh/") == 1
    assert [path for _, path in calls if path != "/api/token/refresh/"] == ["/api/projects/5/"] * 2


def test_a_server_error_is_retried_as_the_sdk_retries():
    answers = iter([httpx.Response(503), httpx.Response(200, json={"title": "t", "label_config": "",
                                                                   "model_version": None})])
    ls, calls = project(lambda request: next(answers))
    assert ls.settings()["title"] == "t" and len(calls) == 2
