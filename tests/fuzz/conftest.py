"""Fixtures of the fuzz tests: ``count_cases``, which counts the generated cases of each kind;
the counts are printed at the end of the run ("fuzz cases tried")."""

from collections import Counter

import pytest

CASES = Counter()


@pytest.fixture(scope="session")
def count_cases():
    """Counts one generated case: ``count_cases(kind)``."""
    def count(kind: str) -> None:
        CASES[kind] += 1
    return count


def pytest_terminal_summary(terminalreporter):
    if CASES:
        terminalreporter.section("fuzz cases tried")
        for kind, number in sorted(CASES.items()):
            terminalreporter.write_line(f"{kind:<28} {number:>6}")
        terminalreporter.write_line(f"{'total':<28} {sum(CASES.values()):>6}")
