"""A source checkout without compiled kernels (a clone after a non-editable install): importing
it from the clone's root says what happened and what to do, not "circular import"."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tokenlq

SOURCE = Path(tokenlq.__file__).parent


@pytest.fixture
def checkout(tmp_path):
    root = tmp_path / "checkout"
    shutil.copytree(SOURCE, root / "tokenlq", ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    shutil.copy(SOURCE.parent / "setup.py", root)
    return root


def import_error(checkout, **env):
    # -S: no site-packages, so no tokenlq installed elsewhere unless PYTHONPATH names one; the
    # check runs before anything but the standard library is imported.
    out = subprocess.run([sys.executable, "-S", "-c", "import tokenlq"], cwd=checkout, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 1
    return out.stderr.strip().splitlines()[-1]


def test_a_checkout_shadowing_an_installed_tokenlq_says_so(checkout, tmp_path):
    installed = tmp_path / "site-packages" / "tokenlq"
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    message = import_error(checkout, PYTHONPATH=str(installed.parent))
    assert message == (
        f"ImportError: tokenlq's compiled kernels are not built in the source tree "
        f"{checkout / 'tokenlq'}, which shadows the tokenlq installed in {installed} because "
        f"{checkout} comes first on sys.path (it is the current directory, or on PYTHONPATH). "
        f"Run Python from another directory, or build the kernels in place: "
        f"{sys.executable} -m pip install -e {checkout}")


def test_a_checkout_without_an_installed_tokenlq_says_how_to_build(checkout):
    assert import_error(checkout) == (
        f"ImportError: tokenlq's compiled kernels are not built in the source tree "
        f"{checkout / 'tokenlq'}. Build them in place (an editable install): "
        f"{sys.executable} -m pip install -e {checkout}")
