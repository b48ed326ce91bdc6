"""A PostgreSQL server of the test session's own (Debian's ``postgresql`` package), as the
redis-server of the RQ tests: a fresh cluster in a temporary folder, on a free loopback port,
stopped and removed at the end.

Debian keeps ``initdb`` and ``postgres`` in PostgreSQL's versioned library folder, not on PATH;
``initdb`` refuses to run as root, so as root both run as the ``postgres`` user on a folder it
owns. Authentication is ``trust`` on loopback only; fsync is off (a test cluster need not
survive a crash of the machine).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

USER = "tokenlq"  # the cluster's superuser, as the service would connect


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.fail("PostgreSQL is needed: apt-get install postgresql (scripts/test.sh does)")
    return Path(found[-1]).parent


class PostgresServer:
    """A cluster in a temporary folder and its server on 127.0.0.1:``port``, which can be
    stopped and started again on the same data (a restart under running clients)."""

    def __init__(self, port: int):
        self.bin_dir, self.port = _binaries(), port
        self.folder = Path(tempfile.mkdtemp(prefix="tokenlq-postgres-"))
        self.as_user = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data, self.log = self.folder / "data", self.folder / "server.log"
        self.url = f"postgresql://{USER}@127.0.0.1:{port}"  # without a database name
        self.process = self._output = None
        subprocess.run([*self.as_user, str(self.bin_dir / "initdb"), "-D", str(self.data), "-U",
                        USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, text=True)

    def start(self) -> None:
        self._output = open(self.log, "a")
        self.process = subprocess.Popen(
            [*self.as_user, str(self.bin_dir / "postgres"), "-D", str(self.data), "-p",
             str(self.port), "-h", "127.0.0.1", "-k", str(self.folder), "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=self._output, stderr=subprocess.STDOUT)
        _wait_ready(self.url, self.process, self.log)

    def stop(self) -> None:
        """PostgreSQL's fast shutdown (SIGINT to the server itself, not to runuser, which
        passes on only SIGTERM): it ends the open sessions, where SIGTERM's smart shutdown
        would wait for every client of the test session to disconnect."""
        if self.process is None:
            return
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGINT)
        except (OSError, ValueError, IndexError):  # not started, or gone already
            self.process.terminate()
        self.process.wait(timeout=30)
        self._output.close()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def own_postgres(port: int):
    """A running :class:`PostgresServer` on 127.0.0.1:``port``, removed at the end."""
    server = None
    try:
        server = PostgresServer(port)
        server.start()
        yield server
    finally:
        if server is not None:
            server.remove()


def _wait_ready(url: str, process, log: Path) -> None:
    import psycopg

    for _ in range(200):
        try:
            with psycopg.connect(f"{url}/postgres", connect_timeout=1):
                return
        except psycopg.OperationalError:
            if process.poll() is not None:
                pytest.fail(f"postgres exited with status {process.returncode}: "
                            f"{log.read_text()[-2000:]}")
            time.sleep(0.05)
    pytest.fail("postgres did not accept connections within 10 s")


def create_database(server_url: str, name: str) -> str:
    """A new, empty database ``name`` on the server: its URL."""
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{server_url}/{name}"
