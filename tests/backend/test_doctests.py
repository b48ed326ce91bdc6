"""The service's docstring examples, run under the installed name ``tokenlq_backend``.

pytest's ``--doctest-modules`` would import ``backend/`` under its folder's name, a second copy
of every module beside the installed ``tokenlq_backend``; the examples run here instead.
"""

import doctest
import importlib
import pkgutil

import pytest

import tokenlq_backend

MODULES = sorted(info.name for info in pkgutil.walk_packages(tokenlq_backend.__path__, "tokenlq_backend."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module)  # pytest's defaults: no option flags
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
