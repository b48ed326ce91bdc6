"""The manual in docs/ builds offline with warnings as errors, and says what the code does.

The README keeps one headline figure per area; those figures and every benchmark page come from
``bench/results/`` (one source of each figure). The build runs in a subprocess with every proxy
variable pointing at a closed local port, so a page or an extension that tried to fetch anything
(an intersphinx inventory, say) would fail it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")  # the docs extra: pip install -e '.[docs]'
pytest.importorskip("myst_parser")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = ROOT / "bench" / "results"
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The manual built once for this module's tests: the folder of its HTML pages."""
    html = tmp_path_factory.mktemp("docs") / "html"
    closed = "http://127.0.0.1:9"  # the discard port: nothing answers there
    env = {**os.environ, "NO_PROXY": "", "no_proxy": ""}
    env.update({name: closed for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")})
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          str(DOCS), str(html)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return html


def test_the_docs_build_offline_with_warnings_as_errors(built):
    api = (built / "api.html").read_text(encoding="utf-8")
    for name in ("tokenlq.get_label_quality_scores", "tokenlq.find_label_issues",
                 "tokenlq.chunked.find_label_issues_chunked"):
        assert f'id="{name}"' in api, f"{name} missing from the API reference"
    benchmarks = (built / "benchmarks.html").read_text(encoding="utf-8")
    assert "87.3" in benchmarks  # a figure of bench/results/service.md, rendered at build time


def test_every_page_opens_in_a_browser_without_errors_and_its_links_lead_somewhere(built, chromium):
    pages = sorted(p.name for p in built.glob("*.html"))
    assert {"index.html", "benchmarks.html", "api.html", "architecture.html"} <= set(pages)
    with chromium(1300, 1000) as session:
        for name in pages:
            session.page.goto((built / name).as_uri())
            assert session.page.title(), f"{name} has no title"
            hrefs = session.page.eval_on_selector_all(
                "a[href]", "links => links.map(a => a.getAttribute('href'))")
            for href in hrefs:
                target = href.split("#")[0]
                if target and "://" not in target and not target.startswith("mailto:"):
                    assert (built / target).exists(), f"{name} links to a missing {target}"
        session.page.goto((built / "benchmarks.html").as_uri())
        assert session.page.locator("table").count() >= 5  # the results files, rendered
        session.shot("docs-benchmarks")
    assert session.errors() == []


def test_no_extension_fetches_inventories():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    assert "sphinx.ext.intersphinx" not in conf


def test_every_results_file_has_a_benchmark_page():
    pages = "\n".join(p.read_text(encoding="utf-8") for p in DOCS.glob("*.md"))
    included = set(re.findall(r"```\{bench-result\} (\S+)", pages))
    files = {p.name for p in RESULTS.glob("*.md")}
    assert files <= included, f"results files no page includes: {sorted(files - included)}"
    assert included <= files, f"pages include results files that do not exist: {sorted(included - files)}"


def test_the_readmes_figures_are_those_of_the_results_files():
    figures = README.split("\n## Figures\n")[1].split("\n## ")[0]
    bullets = re.findall(r"^- .*?(?=^- |\Z)", figures, flags=re.S | re.M)
    assert len(bullets) == 3  # speed, detection, service
    for bullet in bullets:
        (source,) = set(re.findall(r"\]\((bench/results/[\w.]+\.md)\)", bullet))
        text = (ROOT / source).read_text(encoding="utf-8")
        # Measured figures (0.298, 87.3, 373x), not versions such as 2.9.0.
        numbers = re.findall(r"(?<![\d.])\d[\d,]*\.\d+(?![\d.])|\b\d+x\b", bullet)
        assert numbers, bullet
        for number in numbers:
            assert number in text, f"README: {number} is not in {source}"


def test_every_link_of_the_readme_leads_to_a_file():
    for target in re.findall(r"\]\(([^)#]+?)(?:#[^)]*)?\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), f"README links to a missing {target}"


def test_every_environment_variable_of_the_service_is_documented():
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "backend").rglob("*.py"))
    names = set(re.findall(r"(?:env|environ)(?:\.get)?[(\[]\s*\"([A-Z][A-Z0-9_]+)\"", code))
    names |= set(re.findall(r"_number\(\s*\w+,\s*\"([A-Z][A-Z0-9_]+)\"", code))
    assert {"LABEL_STUDIO_URL", "TOKENLQ_DATA_DIR", "WORKERS"} <= names  # the patterns still match
    page = (DOCS / "labelstudio.md").read_text(encoding="utf-8")
    missing = sorted(name for name in names if f"`{name}`" not in page)
    assert not missing, f"not documented in docs/labelstudio.md: {missing}"
