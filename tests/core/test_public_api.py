"""The public surface: one import away, uniform option errors (what each layer may import:
tests/test_layers.py)."""

import subprocess
import sys

import pytest

import tokenlq


def test_reference_modules_and_functions_are_reexported():
    for module, names in {
        "rank": ["get_label_quality_scores", "issues_from_scores"],
        "filter": ["find_label_issues"],
        "summary": ["display_issues", "common_label_issues", "filter_by_token"],
    }.items():
        for name in names:
            assert getattr(getattr(tokenlq, module), name) is getattr(tokenlq, name)
    for name in tokenlq.__all__:
        assert hasattr(tokenlq, name)


DATA = ([[0, 1]], [[[0.8, 0.2], [0.3, 0.7]]])
OPTION_CASES = [
    (tokenlq.get_label_quality_scores, "token_score_method"),
    (tokenlq.get_label_quality_scores, "sentence_score_method"),
    (tokenlq.find_label_issues, "filter_by"),
    (tokenlq.find_label_issues, "return_indices_ranked_by"),
    (tokenlq.find_span_issues, "token_score_method"),
]


@pytest.mark.parametrize("func, option", OPTION_CASES)
def test_option_errors_name_parameter_function_and_value(func, option):
    kwargs = {"class_names": ["O", "PER"]} if func is tokenlq.find_span_issues else {}
    with pytest.raises(ValueError) as info:
        func(*DATA, **{option: "nonsense"}, **kwargs)
    message = str(info.value)
    assert f"'{option}' parameter of {func.__name__} must be one of" in message
    assert "got 'nonsense'" in message


def test_the_installation_claims_no_generic_backend_name(tmp_path):
    # The service installs as tokenlq_backend: outside the checkout, "backend" stays free for
    # whatever other project owns it.
    code = "import importlib.util as u; print(u.find_spec('backend'), u.find_spec('tokenlq_backend') is None)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["None", "False"]


def test_only_public_numpy_and_pandas_names_are_used():
    # numpy and pandas drop private names without notice (numpy 2.4 removed
    # np.lib.format._read_array_header, which broke tokenlq.chunked): no module of the repository
    # may import one or reach one as an attribute of their modules.
    import ast
    from pathlib import Path

    def private(name):
        return any(part.startswith("_") and not part.endswith("__") for part in name.split("."))

    root = Path(__file__).resolve().parents[2]
    bad = set()
    for path in sorted(p for folder in ("tokenlq", "backend", "bench", "tests", "scripts")
                       for p in (root / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = set()  # the names a module binds to numpy, pandas or parts of them
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [(a.name, a.asname or a.name.split(".")[0]) for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [(f"{node.module}.{a.name}", a.asname or a.name) for a in node.names]
            else:
                continue
            for name, bound in names:
                if name.split(".")[0] in ("numpy", "pandas"):
                    aliases.add(bound)
                    if private(name):
                        bad.add(f"{path.relative_to(root)}:{node.lineno} {name}")
        for node in ast.walk(tree):
            chain, value = [], node
            while isinstance(value, ast.Attribute):
                chain.insert(0, value.attr)
                value = value.value
            if chain and isinstance(value, ast.Name) and value.id in aliases:
                name = ".".join([value.id] + chain)
                if private(name):
                    bad.add(f"{path.relative_to(root)}:{node.lineno} {name}")
    assert not bad, "private numpy or pandas names: " + ", ".join(sorted(bad))


def test_the_readmes_usage_runs_as_written_from_the_checkouts_root():
    # The README's set-up leaves its reader in the checkout's root with an editable install:
    # there, its Usage snippets, one after the other in one session, must run as written.
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    usage = (root / "README.md").read_text(encoding="utf-8").split("\n## Usage\n")[1].split("\n## ")[0]
    snippets = re.findall(r"```python\n(.*?)```", usage, flags=re.S)
    assert snippets
    out = subprocess.run([sys.executable, "-W", "error", "-c", "\n".join(snippets)], cwd=root,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Hello >>world<<" in out.stdout
