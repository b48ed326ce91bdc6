"""The service as installed: every package of the repository's folders is in pyproject's
explicit package list (a subpackage left out would be missing from the wheel while the editable
install still finds it), every module imports, and the protocol module stays cheap."""

import importlib
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import tokenlq
import tokenlq_backend
from tokenlq_backend.versions import MODEL_VERSION

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_in_the_package_list():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: ROOT / folder for name, folder in setuptools["package-dir"].items()}
    folders.setdefault("tokenlq", ROOT / "tokenlq")
    found = {".".join((top, *init.parent.relative_to(folder).parts))
             for top, folder in folders.items() for init in folder.rglob("__init__.py")}
    assert found <= set(setuptools["packages"]), sorted(found - set(setuptools["packages"]))


def test_every_module_of_the_service_imports():
    names = [info.name for info in pkgutil.walk_packages(tokenlq_backend.__path__, "tokenlq_backend.")]
    assert {"tokenlq_backend.labelstudio.client", "tokenlq_backend.labelstudio.config",
            "tokenlq_backend.labelstudio.project", "tokenlq_backend.labelstudio.views"} <= set(names)
    for name in names:
        importlib.import_module(name)


def test_the_protocol_module_loads_neither_the_model_nor_the_runs():
    """/health and /setup answer the model version: importing the protocol (the web process's
    first import) loads no model, no run machinery, no Label Studio SDK, and neither numpy nor
    pandas (/predict imports what it needs on its first call)."""
    probe = ("import sys, tokenlq_backend.protocol; print(' '.join(m for m in "
             "('tokenlq.model', 'tokenlq_backend.runs', 'tokenlq_backend.embedded', "
             "'label_studio_sdk', 'torch', 'numpy', 'pandas') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == []


def test_the_model_version_is_the_installed_tokenlqs():
    # versions.py reads the installed distribution's version; a stale editable install shows here.
    assert MODEL_VERSION == f"tokenlq-{tokenlq.__version__}"
