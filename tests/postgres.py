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


@contextmanager
def own_postgres(port: int):
    """A running server on 127.0.0.1:``port``: yields its URL without a database name."""
    bin_dir = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="tokenlq-postgres-"))
    as_user = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = folder / "data", folder / "server.log"
    process = None
    output = None
    try:
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", USER,
                        "--auth=trust", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, text=True)
        process = subprocess.Popen(
            [*as_user, str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
             "-h", "127.0.0.1", "-k", str(folder), "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=(output := open(log, "w")), stderr=subprocess.STDOUT)
        url = f"postgresql://{USER}@127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield url
    finally:
        if process is not None:
            _stop(process, data)
        if output is not None:
            output.close()
        shutil.rmtree(folder, ignore_errors=True)


def _stop(process, data: Path) -> None:
    """PostgreSQL's fast shutdown (SIGINT to the server itself, not to runuser, which passes on
    only SIGTERM): it ends the open sessions, where SIGTERM's smart shutdown would wait for
    every client of the test session to disconnect."""
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)
    except (OSError, ValueError, IndexError):  # not started, or gone already
        process.terminate()
    process.wait(timeout=30)


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
