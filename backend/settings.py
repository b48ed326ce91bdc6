"""Settings from the environment, with the Label Studio ML backend's variable names."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .probs_sources import check_source
from .storage.schema import server_url

__all__ = ["Settings"]

BULK_TIMEOUT = 1800.0  # seconds; Label Studio takes minutes for a whole big project
# Label Studio saves the task with each single prediction it updates or deletes, 4-20 a second:
# about 30-120 s of them per run, so that edits between runs wait no longer.
WRITES_PER_RUN = 500


def _number(environ, name: str, default, kind=int):
    """``environ[name]`` as ``kind`` (int or float); ``default`` when unset or blank."""
    raw = environ.get(name, "")
    if not raw.strip():
        return default
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}; got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    label_studio_url: str = ""
    # Secrets are kept out of repr() so that they never reach a log line by accident.
    label_studio_api_key: str = field(default="", repr=False)
    label_studio_timeout: float = 60.0  # seconds per request to Label Studio
    # seconds for a request about a whole project (building the export and downloading it, a
    # bulk import of predictions, deleting a model version): minutes on a big project
    label_studio_bulk_timeout: float = BULK_TIMEOUT
    # Test-only (no environment variable sets it): seconds before each retry of a failed
    # request to Label Studio; None, as in service: the client's own (1 s, then 2 s).
    label_studio_retry_delays: tuple | None = None
    basic_auth_user: str = ""
    basic_auth_pass: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    public_url: str = ""
    data_dir: Path = Path("tokenlq-data")
    redis_url: str = ""  # set: jobs go to RQ workers (tokenlq worker); empty: the embedded queue
    # set: the state lives in this PostgreSQL database; empty: SQLite under data_dir. It holds
    # the database's password, so it is kept out of repr() like the other secrets.
    database_url: str = field(default="", repr=False)
    probs: str = "auto"
    refit_fraction: float = 0.01
    # single prediction writes a run makes at most; an update writes the rest (runs._write)
    writes_per_run: int = WRITES_PER_RUN
    # every project's copy is read in full again at least this often (0: only after gaps and
    # refits), healing what lost events left
    reconcile_seconds: float = 3600.0
    port: int = 9090
    workers: int = 1
    threads: int = 8
    log_level: str = "INFO"
    max_request_bytes: int = 32 * 1024 * 1024

    @classmethod
    def from_env(cls, environ=None) -> "Settings":
        """``LABEL_STUDIO_URL`` (fallback ``LABEL_STUDIO_HOST``), ``LABEL_STUDIO_API_KEY`` (a
        personal access token or a legacy token), ``BASIC_AUTH_USER``, ``BASIC_AUTH_PASS``,
        ``TOKENLQ_WEBHOOK_SECRET``, ``LABEL_STUDIO_PUBLIC_URL`` (default: the URL),
        ``LABEL_STUDIO_TIMEOUT`` (seconds per request, default 60), ``TOKENLQ_BULK_TIMEOUT``
        (seconds for a request about a whole project, default 1800), ``TOKENLQ_DATA_DIR``,
        ``REDIS_URL``, ``DATABASE_URL`` (PostgreSQL), ``TOKENLQ_PROBS``,
        ``TOKENLQ_REFIT_FRACTION``, ``TOKENLQ_WRITES_PER_RUN``, ``TOKENLQ_RECONCILE_SECONDS``,
        ``PORT``, ``WORKERS``, ``THREADS``, ``LOG_LEVEL``, ``TOKENLQ_MAX_REQUEST_BYTES``.

        >>> Settings.from_env({"LABEL_STUDIO_HOST": "http://ls:8080/", "LABEL_STUDIO_API_KEY": "k"})
        Settings(label_studio_url='http://ls:8080', label_studio_timeout=60.0, label_studio_bulk_timeout=1800.0, label_studio_retry_delays=None, basic_auth_user='', public_url='http://ls:8080', data_dir=PosixPath('tokenlq-data'), redis_url='', probs='auto', refit_fraction=0.01, writes_per_run=500, reconcile_seconds=3600.0, port=9090, workers=1, threads=8, log_level='INFO', max_request_bytes=33554432)
        """
        env = os.environ if environ is None else environ
        url = (env.get("LABEL_STUDIO_URL") or env.get("LABEL_STUDIO_HOST") or "").strip().rstrip("/")
        if url and not url.startswith(("http://", "https://")):
            raise ValueError(f"LABEL_STUDIO_URL must start with http:// or https://; got {url!r}")
        user, password = env.get("BASIC_AUTH_USER", ""), env.get("BASIC_AUTH_PASS", "")
        if user and not password:
            raise ValueError("BASIC_AUTH_USER is set but BASIC_AUTH_PASS is empty")
        probs = env.get("TOKENLQ_PROBS", "auto").strip() or "auto"
        try:
            check_source(probs)
        except ValueError as err:
            raise ValueError(f"TOKENLQ_PROBS: {err}") from None
        refit_fraction = _number(env, "TOKENLQ_REFIT_FRACTION", 0.01, float)
        if not 0 <= refit_fraction <= 1:
            raise ValueError(f"TOKENLQ_REFIT_FRACTION must be between 0 and 1; got {refit_fraction}")
        writes_per_run = _number(env, "TOKENLQ_WRITES_PER_RUN", WRITES_PER_RUN)
        if writes_per_run < 1:
            raise ValueError(f"TOKENLQ_WRITES_PER_RUN must be at least 1; got {writes_per_run}")
        reconcile_seconds = _number(env, "TOKENLQ_RECONCILE_SECONDS", 3600.0, float)
        if not (reconcile_seconds >= 0 and math.isfinite(reconcile_seconds)):
            raise ValueError("TOKENLQ_RECONCILE_SECONDS must be a number of seconds (0: no "
                             f"schedule); got {reconcile_seconds}")
        redis_url = env.get("REDIS_URL", "").strip()
        database_url = env.get("DATABASE_URL", "").strip()
        if database_url:
            server_url(database_url)  # ValueError naming what is wrong (never the URL itself)
        workers = _number(env, "WORKERS", 1)
        if workers < 1:
            raise ValueError(f"WORKERS must be at least 1; got {workers}")
        if workers > 1 and not redis_url:
            raise ValueError(f"WORKERS={workers} needs REDIS_URL: without it jobs run in the web "
                             "process's own queue, which one process must own. Set WORKERS=1 "
                             "(THREADS serves concurrent requests), or set REDIS_URL and run "
                             "`tokenlq worker`")
        timeout = _number(env, "LABEL_STUDIO_TIMEOUT", 60.0, float)
        bulk_timeout = _number(env, "TOKENLQ_BULK_TIMEOUT", BULK_TIMEOUT, float)
        for name, seconds in (("LABEL_STUDIO_TIMEOUT", timeout),
                              ("TOKENLQ_BULK_TIMEOUT", bulk_timeout)):
            if not (seconds > 0 and math.isfinite(seconds)):
                raise ValueError(f"{name} must be a positive number of seconds; got {seconds}")
        return cls(
            label_studio_url=url,
            label_studio_timeout=timeout,
            label_studio_bulk_timeout=bulk_timeout,
            label_studio_api_key=env.get("LABEL_STUDIO_API_KEY", "").strip(),
            basic_auth_user=user,
            basic_auth_pass=password,
            webhook_secret=env.get("TOKENLQ_WEBHOOK_SECRET", ""),
            public_url=(env.get("LABEL_STUDIO_PUBLIC_URL", "").strip().rstrip("/") or url),
            data_dir=Path(env.get("TOKENLQ_DATA_DIR", "") or "tokenlq-data"),
            redis_url=redis_url,
            database_url=database_url,
            probs=probs,
            refit_fraction=refit_fraction,
            writes_per_run=writes_per_run,
            reconcile_seconds=reconcile_seconds,
            port=_number(env, "PORT", 9090),
            workers=workers,
            threads=_number(env, "THREADS", 8),
            log_level=(env.get("LOG_LEVEL", "") or "INFO").upper(),
            max_request_bytes=_number(env, "TOKENLQ_MAX_REQUEST_BYTES", 32 * 1024 * 1024),
        )
