"""Counts of the generated cases, printed at the end of the test run."""

from collections import Counter

CASES = Counter()


def count_cases(kind: str) -> None:
    CASES[kind] += 1


def pytest_terminal_summary(terminalreporter):
    if CASES:
        terminalreporter.section("fuzz cases tried")
        for kind, number in sorted(CASES.items()):
            terminalreporter.write_line(f"{kind:<28} {number:>6}")
        terminalreporter.write_line(f"{'total':<28} {sum(CASES.values()):>6}")
