"""Fixtures more than one suite uses: ``chromium``, Debian's headless Chromium driven by
Playwright as a person uses the pages, and ``database_url``, a new database on a PostgreSQL
server of the session's own (:mod:`tests.postgres`).

Every page error (``pageerror``: an uncaught exception, such as a tab the Data Manager cannot
load, arrives only there) and every console error is recorded, and screenshots go to
``screenshots/`` (git-ignored). Playwright's own browser download is not used:
``executable_path`` is Debian's binary. A test using ``chromium`` is marked ``browser`` and
``e2e`` (the repository's conftest.py).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
# Label Studio 1.23.2's own page asks its server for product tips that the open-source server
# does not serve (GET /heidi-tips answers 404) on every page, tokenlq or not: the one error
# allowed, and only with that address.
LABEL_STUDIO_OWN = re.compile(r"/heidi-tips(\?|$)")


class Session:
    """A browser page that records errors; ``errors()`` lists those that are not Label Studio's
    own known ones."""

    def __init__(self, page):
        self.page, self.page_errors, self.console_errors = page, [], []
        self.watch(page)

    def watch(self, page) -> None:
        """Record ``page``'s errors too (a tab a link opened)."""
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if "Failed to load resource" in message.text and LABEL_STUDIO_OWN.search(where):
            return
        self.console_errors.append(f"{message.text} ({where})")

    def errors(self) -> list:
        return [f"page error: {e}" for e in self.page_errors] + \
               [f"console error: {e}" for e in self.console_errors]

    def shot(self, name: str, *, full_page: bool = False) -> Path:
        """A screenshot of the page (its whole length with ``full_page``) in screenshots/."""
        SHOTS.mkdir(exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def login(self, ls_url: str, email: str, password: str) -> None:
        self.page.goto(f"{ls_url}/user/login/")
        self.page.fill("input[name=email]", email)
        self.page.fill("input[name=password]", password)
        with self.page.expect_navigation():
            self.page.click("button[type=submit]")
        assert "/user/login" not in self.page.url, "Label Studio refused the login"


@contextmanager
def _open_chromium(width: int = 1600, height: int = 1000):
    """A fresh browser and page of ``width`` x ``height`` pixels: yields a :class:`Session`."""
    from playwright.sync_api import sync_playwright

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium (scripts/test.sh does)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            yield Session(page)
        finally:
            browser.close()


@pytest.fixture
def chromium():
    """Opens browsers: ``with chromium(width, height) as session:`` gives a fresh browser and
    page (a :class:`Session`), closed when the block ends."""
    return _open_chromium


@pytest.fixture(scope="session")
def postgres_server():
    """The session's PostgreSQL server: its URL without a database name."""
    from tests.e2e.live import free_port
    from tests.postgres import own_postgres

    with own_postgres(free_port()) as server:
        yield server.url


_DATABASES = itertools.count()


@pytest.fixture
def database_url(postgres_server):
    """A new, empty PostgreSQL database for one test: its URL (as DATABASE_URL takes it)."""
    from tests.postgres import create_database

    return create_database(postgres_server, f"test_{os.getpid()}_{next(_DATABASES)}")
