"""Fixtures of the end-to-end tests: ``labelstudio``, a real Label Studio 1.23.2 started by
scripts/labelstudio.sh, and ``redis_url``, a redis-server of the session's own. The helpers that
start and poll these programs are in live.py.

The tests' Label Studio is their own: a free port (TOKENLQ_TEST_LS_PORT to choose one), its PID
file, log and data directory in a folder under pytest's temporary directory. Only the installed
environment and the migrated template in LS_HOME are shared with the demo, whose server (PID file
in LS_HOME) is never reused or stopped. With LS_URL and LS_TOKEN already set (a server you
started yourself) that server is used and never stopped.

Without the backend extra the suite skips, naming the missing module.
"""

import os

import pytest

for _module in ("flask", "label_studio_sdk", "rq", "redis"):  # the backend extra
    pytest.importorskip(_module)

# Absolute, so that test_labelstudio_sh.py's session of its own can run a copy of this file.
from tests.e2e.live import RedisServer, free_port, own_labelstudio  # noqa: E402


@pytest.fixture(scope="session")
def labelstudio(tmp_path_factory):
    if os.environ.get("LS_URL") and os.environ.get("LS_TOKEN"):
        yield os.environ["LS_URL"], os.environ["LS_TOKEN"]
        return
    port = int(os.environ.get("TOKENLQ_TEST_LS_PORT") or free_port())
    with own_labelstudio(tmp_path_factory.mktemp("labelstudio"), port) as exports:
        yield exports["LS_URL"], exports["LS_TOKEN"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()
