"""The public surface: one import away, no heavy or AGPL imports, uniform option errors."""

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


def test_core_imports_neither_backend_nor_cleanlab():
    code = ("import sys, tokenlq; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('backend', 'cleanlab', 'flask', 'sklearn')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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


def test_the_core_never_imports_the_backend():
    import subprocess
    import sys

    code = ("import sys, tokenlq, tokenlq.audit, tokenlq.cli, tokenlq.io, tokenlq.ls_tasks, "
            "tokenlq.model; bad = [m for m in sys.modules if m.split('.')[0] in ('backend', 'flask')]; "
            "sys.exit(str(bad) if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
