"""The live programs the end-to-end tests start and poll: scripts/labelstudio.sh's Label
Studio (``own_labelstudio``, behind conftest.py's ``labelstudio`` fixture), ``tokenlq serve``
(``serve``), free ports, and waits on /health and on a project's jobs."""

import os
import random
import shlex
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The login of scripts/labelstudio.sh's servers (or of the one LS_URL names).
EMAIL = os.environ.get("LS_EMAIL", "admin@example.com")
PASSWORD = os.environ.get("LS_PASSWORD", "tokenlq-test-password")
LABELSTUDIO_SH = ROOT / "scripts" / "labelstudio.sh"


@contextmanager
def own_labelstudio(state: Path, port: int):
    """scripts/labelstudio.sh's server on ``port`` with its PID file, log and data directory in
    ``state`` (LS_STATE); yields the script's exports (LS_URL, LS_TOKEN, LS_PID, LS_LOG, LS_DATA)
    and stops that server, and only it, on exit."""
    env = {**os.environ, "LS_STATE": str(state)}

    def stop():
        subprocess.run([str(LABELSTUDIO_SH), "stop", str(port)], env=env, timeout=60)

    started = subprocess.run([str(LABELSTUDIO_SH), "start", str(port)], env=env,
                             capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        stop()
        pytest.fail(f"could not start Label Studio:\n{started.stderr[-3000:]}")
    try:
        yield dict(pair.split("=", 1) for pair in shlex.split(started.stdout)[1:])
    finally:
        stop()


def wait_healthy(base: str, process=None, *, seconds: float = 60, healthy: bool = True) -> None:
    """Until the backend at ``base`` answers /health (refused or slow while it starts): with
    200, or with any status when not ``healthy`` (503 says it cannot run jobs yet)."""
    import requests

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if requests.get(base + "/health", timeout=1).ok or not healthy:
                return
        except requests.RequestException:
            pass
        assert process is None or process.poll() is None, "the backend process exited"
        time.sleep(0.5)
    raise AssertionError(f"{base} did not become healthy in {seconds:.0f} s")


def wait_for(condition, what, timeout=180):
    """``condition()``'s first true value, polled every second."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def jobs_of(base, project, *, auth=None):
    import requests

    return requests.get(f"{base}/projects/{project}/jobs", timeout=5, auth=auth).json()["jobs"]


def idle(base, project, *, timeout=180, auth=None):
    """The project's jobs once none is queued or running (a follow-up is queued before its job
    ends, so an all-ended list owes no run); ``auth``: the backend's Basic credentials."""
    def settled():
        jobs = jobs_of(base, project, auth=auth)
        return jobs if jobs and all(j["status"] in ("done", "failed") for j in jobs) else None
    try:
        return wait_for(settled, f"project {project}'s jobs to finish", timeout)
    except AssertionError:
        raise AssertionError([(j["id"], j["kind"], j["trigger"], j["status"], j["reason"])
                              for j in jobs_of(base, project, auth=auth)]) from None


def serve(env: dict, log, *, port: int | None = None, new_session: bool = False,
          healthy: bool = True):
    """`tokenlq serve` on 127.0.0.1 (``port`` or a free one) with ``env``, its output appended
    to ``log``; returns ``(base URL, process)`` once it answers /health (with 200 unless not
    ``healthy``). ``new_session``: its own process group, so that a kill of the group takes its
    run processes too."""
    port = port or free_port()
    with open(log, "a") as out:
        process = subprocess.Popen([sys.executable, "-m", "tokenlq.cli", "serve", "--host",
                                    "127.0.0.1", "--port", str(port)], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=new_session)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(base, process, healthy=healthy)
    return base, process


def free_port() -> int:
    """A free port below the kernel's range for outgoing connections, so that no client socket
    takes it between now and the server's bind (or while a test keeps a server down)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    while True:
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


class RedisServer:
    """A redis-server of the tests' own on 127.0.0.1:``port`` (no persistence), which can be
    stopped and started again on the same port (a restart under running clients)."""

    def __init__(self, port: int, folder: Path):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("redis-server is needed: apt-get install redis-server (scripts/test.sh does)")
        self.port, self.folder, self.process = port, folder, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                if redis.Redis.from_url(self.url).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.1)
        self.stop()
        pytest.fail(f"redis-server did not answer on port {self.port} within 10 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
