"""The rule of the repository's conftest.py for optional extras: a test skips where its extra is
absent (``pytest.importorskip`` names the module), and under ``TOKENLQ_TEST_ALL_EXTRAS=1``
(scripts/test.sh's main run, every extra installed) that skip fails instead. Checked in pytest
sessions of their own, on a module nobody installs."""

from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
MISSING = "tokenlq_no_such_extra_module"


@pytest.fixture
def project(pytester):
    """A pytester folder with the repository's conftest.py and tests of every kind of skip."""
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\nmarkers =\n    encoder: the encoder extra\n")
    pytester.makepyfile(
        test_in_the_test=f"""
            import pytest

            def test_needs_the_extra():
                pytest.importorskip("{MISSING}")

            @pytest.mark.skipif(True, reason="not about an extra")
            def test_skipped_for_another_reason():
                pass

            def test_plain():
                pass
            """,
        test_at_import=f"""
            import pytest

            pytest.importorskip("{MISSING}")

            def test_never_collected():
                pass
            """,
    )
    return pytester


def test_a_missing_extra_skips_with_its_module_named(project, monkeypatch):
    monkeypatch.delenv("TOKENLQ_TEST_ALL_EXTRAS", raising=False)
    result = project.runpytest("-ra")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines([f"*could not import '{MISSING}'*"])


def test_under_all_extras_a_missing_extra_fails(project, monkeypatch):
    monkeypatch.setenv("TOKENLQ_TEST_ALL_EXTRAS", "1")
    result = project.runpytest("-ra", "--continue-on-collection-errors")
    # The skip in the test fails it, the one at import fails the module's collection; a skip for
    # another reason stays a skip.
    result.assert_outcomes(passed=1, skipped=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*TOKENLQ_TEST_ALL_EXTRAS=1*could not import*"])


@pytest.mark.parametrize("all_extras, outcome", [("0", "skipped"), ("1", "errors")])
def test_a_test_marked_encoder_needs_the_encoders_modules(pytester, monkeypatch, all_extras,
                                                           outcome):
    # The encoder extra, as if its module were not installed.
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8")
                          + f"\nEXTRA_MODULES['encoder'] = ('{MISSING}',)\n")
    pytester.makeini("[pytest]\nmarkers =\n    encoder: the encoder extra\n")
    pytester.makepyfile("""
        import pytest

        @pytest.mark.encoder
        def test_uses_the_encoder():
            pass
        """)
    monkeypatch.setenv("TOKENLQ_TEST_ALL_EXTRAS", all_extras)
    result = pytester.runpytest("-ra")
    result.assert_outcomes(**{outcome: 1})
    result.stdout.fnmatch_lines([f"*could not import '{MISSING}'*"])


@pytest.mark.parametrize("all_extras, outcome", [("0", "skipped"), ("1", "errors")])
def test_a_suite_whose_conftest_skips_at_import(pytester, monkeypatch, all_extras, outcome):
    # As tests/backend/conftest.py does without the backend extra.
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    suite = pytester.mkpydir("suite")
    (suite / "conftest.py").write_text(f"import pytest\n\npytest.importorskip('{MISSING}')\n")
    (suite / "test_suite.py").write_text("def test_in_the_suite():\n    pass\n")
    monkeypatch.setenv("TOKENLQ_TEST_ALL_EXTRAS", all_extras)
    result = pytester.runpytest("-ra")
    result.assert_outcomes(**{outcome: 1})
    result.stdout.fnmatch_lines([f"*could not import '{MISSING}'*"])
