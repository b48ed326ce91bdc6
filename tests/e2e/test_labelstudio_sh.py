"""scripts/labelstudio.sh and the tests' `labelstudio` fixture beside the user's demo, with a
stand-in for Label Studio in a throw-away LS_HOME (seconds, no real server): the tests start
their own server (free port, PID file, log and data in pytest's temporary folder) and stop only
it; the template is made once when two starts race; only the demo reuses a running server."""

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from .live import LABELSTUDIO_SH, ROOT, free_port

# Label Studio's part as the script uses it: on the first start in a data directory it makes
# the database (here a file holding the API token it was created with, after a pause standing
# for the migrations), then answers /health on --port. `idle` is a hung server: running, silent.
FAKE_LABEL_STUDIO = textwrap.dedent('''\
    #!/usr/bin/env python3
    import http.server, os, sys, time
    if sys.argv[1:] == ["idle"]:
        time.sleep(3600)
        sys.exit()
    port = int(sys.argv[sys.argv.index("--port") + 1])
    db = os.path.join(os.environ["LABEL_STUDIO_BASE_DATA_DIR"], "label_studio.sqlite3")
    if not os.path.exists(db):
        time.sleep(float(os.environ.get("FAKE_MIGRATION_SECONDS", "0.3")))
        with open(db, "w") as out:
            out.write(os.environ["LABEL_STUDIO_USER_TOKEN"])

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b'{"status": "UP"}')

        def log_message(self, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
    ''')


@pytest.fixture
def ls_home(tmp_path):
    """An LS_HOME whose virtual environment holds the stand-in (its `python` passes the
    script's version check)."""
    home = tmp_path / "ls-home"
    venv = home / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text("#!/bin/sh\nexit 0\n")
    (venv / "label-studio").write_text(FAKE_LABEL_STUDIO)
    for name in ("python", "label-studio"):
        (venv / name).chmod(0o755)
    return home


def clean_env(home: Path, **extra) -> dict:
    """The environment with LS_HOME at ``home`` and none of the user's Label Studio settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LS_URL", "LS_TOKEN", "LS_STATE", "TOKENLQ_TEST_LS_PORT")}
    return {**env, "LS_HOME": str(home), **extra}


def script(home: Path, *args: str, **extra) -> subprocess.CompletedProcess:
    return subprocess.run([str(LABELSTUDIO_SH), *args], env=clean_env(home, **extra),
                          capture_output=True, text=True, timeout=120)


def exports(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return dict(pair.split("=", 1) for pair in shlex.split(done.stdout)[1:])


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2):
            return True
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_tests_start_and_stop_their_own_label_studio_beside_the_demo(ls_home, tmp_path):
    # The user's demo, made by an earlier version of the script (the token beside the template):
    # its Label Studio on 8089 is running but hung, recorded in LS_HOME's ls-8089.pid.
    (ls_home / "template").mkdir()
    (ls_home / "template" / "label_studio.sqlite3").write_text("demo-token")
    (ls_home / "token").write_text("demo-token\n")
    (ls_home / "data-8089").mkdir()
    (ls_home / "data-8089" / "label_studio.sqlite3").write_text("demo-token + the demo's project")
    (ls_home / "ls-8089.log").write_text("the demo's log\n")
    fake = ls_home / "venv" / "bin" / "label-studio"
    demo = subprocess.Popen([sys.executable, str(fake), "idle"])
    try:
        (ls_home / "ls-8089.pid").write_text(f"{demo.pid}\n")
        before = {p.relative_to(ls_home): p.read_bytes() for p in ls_home.rglob("*") if p.is_file()}

        # A test session of its own using the `labelstudio` fixture, as scripts/test.sh would run.
        inner = tmp_path / "inner"
        inner.mkdir()
        (inner / "pytest.ini").write_text("[pytest]\n")
        shutil.copy(ROOT / "tests" / "e2e" / "conftest.py", inner / "conftest.py")
        (inner / "test_inner.py").write_text(textwrap.dedent('''\
            import os, urllib.request
            from pathlib import Path

            def test_server(labelstudio):
                url, token = labelstudio
                urllib.request.urlopen(url + "/health", timeout=5).close()
                Path(os.environ["INNER_OUT"]).write_text(url + " " + token)
            '''))
        basetemp = tmp_path / "inner-basetemp"
        out = tmp_path / "inner-out"
        session = subprocess.run(
            [sys.executable, "-m", "pytest", str(inner), "-q", "-p", "no:cacheprovider",
             "-c", str(inner / "pytest.ini"), "--rootdir", str(inner), f"--basetemp={basetemp}"],
            cwd=ROOT, env=clean_env(ls_home, INNER_OUT=str(out), PYTHONPATH=str(ROOT)),
            capture_output=True, text=True, timeout=300)
        assert session.returncode == 0, session.stdout[-3000:] + session.stderr[-3000:]

        url, token = out.read_text().split()
        port = int(url.rsplit(":", 1)[1])
        assert port != 8089 and token == "demo-token"      # its own server, the shared template
        assert not answers(url)                             # stopped at the session's end
        state = basetemp / "labelstudio0"
        assert (state / f"ls-{port}.log").is_file()
        assert (state / f"data-{port}" / "label_studio.sqlite3").read_text() == "demo-token"
        assert not (state / f"ls-{port}.pid").exists()

        # The demo: still running, its PID file, log and data untouched; LS_HOME gained nothing.
        assert demo.poll() is None
        after = {p.relative_to(ls_home): p.read_bytes() for p in ls_home.rglob("*") if p.is_file()}
        assert after == before
    finally:
        demo.terminate()
        demo.wait(timeout=10)


def test_racing_starts_make_the_template_once(ls_home, tmp_path):
    ports = [free_port(), free_port()]
    while ports[1] == ports[0]:
        ports[1] = free_port()
    env = clean_env(ls_home, FAKE_MIGRATION_SECONDS="1.5")
    starts = [subprocess.Popen([str(LABELSTUDIO_SH), "start", str(port)], text=True,
                               env={**env, "LS_STATE": str(tmp_path / f"state-{port}")},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
              for port in ports]
    done = []
    for start in starts:
        stdout, stderr = start.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(start.args, start.returncode, stdout, stderr))
    try:
        servers = [exports(d) for d in done]
        assert sorted(p.name for p in ls_home.iterdir()) == ["template", "venv"]  # no leftovers
        token = (ls_home / "template" / "tokenlq-token").read_text().strip()
        assert (ls_home / "template" / "label_studio.sqlite3").read_text() == token
        for server, port in zip(servers, ports):
            assert server["LS_URL"] == f"http://127.0.0.1:{port}" and answers(server["LS_URL"])
            assert server["LS_TOKEN"] == token
            assert Path(server["LS_DATA"]) == tmp_path / f"state-{port}" / f"data-{port}"
            assert (Path(server["LS_DATA"]) / "label_studio.sqlite3").read_text() == token
    finally:
        for port in ports:
            script(ls_home, "stop", str(port), LS_STATE=str(tmp_path / f"state-{port}"))
    assert not any(answers(f"http://127.0.0.1:{port}") for port in ports)


def test_only_the_demo_reuses_a_server_and_only_its_own(ls_home, tmp_path):
    port = free_port()
    demo = exports(script(ls_home, "start", "--reuse", str(port)))    # LS_STATE: LS_HOME
    try:
        assert Path(demo["LS_DATA"]) == ls_home / f"data-{port}"
        again = script(ls_home, "start", "--reuse", str(port))
        assert exports(again)["LS_PID"] == demo["LS_PID"] and "reusing" in again.stderr
        # Without --reuse (the tests, the benchmarks) a recorded running server is an error.
        refused = script(ls_home, "start", str(port))
        assert refused.returncode == 1 and "stop it first" in refused.stderr
        # Another state folder neither reuses nor stops the demo's server.
        other = tmp_path / "other"
        busy = script(ls_home, "start", "--reuse", str(port), LS_STATE=str(other))
        assert busy.returncode == 1 and f"port {port} is busy" in busy.stderr
        script(ls_home, "stop", str(port), LS_STATE=str(other))
        assert alive(int(demo["LS_PID"])) and answers(demo["LS_URL"])
        assert (ls_home / f"ls-{port}.pid").read_text().strip() == demo["LS_PID"]
    finally:
        script(ls_home, "stop", str(port))
    for _ in range(20):
        if not alive(int(demo["LS_PID"])):
            break
        time.sleep(0.1)
    assert not answers(demo["LS_URL"]) and not (ls_home / f"ls-{port}.pid").exists()
