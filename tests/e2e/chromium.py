"""Headless Debian Chromium for page tests: the DOM after scripts ran, and the console."""

import re
import shutil
import subprocess
import tempfile

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom"]
CONSOLE = re.compile(r":(INFO|WARNING|ERROR|FATAL):CONSOLE[^\]]*\] (.*)")


def render(url: str):
    """(DOM after the page's scripts ran, console messages). Fails without Chromium: .ci/run
    installs Debian's ``chromium``."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.fail("headless Chromium is needed: apt-get install chromium (.ci/run does)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", url],
                              capture_output=True, text=True, timeout=120)
    console = [m.group(2) for m in CONSOLE.finditer(done.stderr)]
    return done.stdout, console
