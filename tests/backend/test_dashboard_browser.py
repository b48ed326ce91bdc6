"""The dashboard and the summary page in a real browser (Debian's headless Chromium driven by
Playwright), served by a real HTTP server: no page or console error, the project's name, one
number format, counts in the heat map's cells, a time axis that reads well for runs seconds or
months apart, the run dates, task links into Label Studio's labeling view, and the links between
the two pages. Screenshots go to ``screenshots/`` (git-ignored)."""

import calendar
import re
import threading
import time

import pytest
from werkzeug.serving import make_server

from tokenlq_backend import create_app
from tokenlq_backend.settings import Settings

LS = "http://ls.example"  # Label Studio's public URL: the links are checked, not followed
VIEW = 14  # the run's "Label issues" tab
TYPES = ["O", "PER", "ORG", "LOC", "MISC"]
CONFUSIONS = [["PER", "ORG", 7], ["ORG", "LOC", 5], ["LOC", "ORG", 4], ["O", "MISC", 3],
              ["MISC", "O", 2], ["PER", "O", 1]]
RATES = [0.0412345, 0.0231, 0.01111111, 0.005183788784165885]  # oldest run first
HISTORIES = {"seconds": (5, 3), "months": (6, 37 * 86400)}  # project, seconds between runs
START = calendar.timegm(time.strptime("2024-01-15 09:30:00", "%Y-%m-%d %H:%M:%S"))


def run_summary(rate: float, title: str) -> dict:
    tasks = [101, 102, 103, 104, 105]
    return {
        "project_title": title, "view": VIEW, "model_version": "tokenlq-x", "probs": "embedded",
        "fit": {"model": "crf"}, "tasks": 120, "scored": 118, "tokens": 2400, "flagged": 9,
        "error_rate": rate, "reviews": {"pending": 6, "fixed": 2, "confirmed": 1},
        "warnings": {"partial_token_overlap": 2}, "seconds": {"pull": 0.4, "score": 1.2},
        "classes": [{"type": t, "tokens": 400 + 10 * k, "entities": None if t == "O" else 40 + k,
                     "flagged_tokens": 3 + k, "flagged_spans": 2 + k,
                     "estimated_error_rate": rate * (1 + k / 3),
                     "top_confusions": [{"suggested": s, "count": n} for g, s, n in CONFUSIONS if g == t],
                     "top_flagged_tokens": [{"token": f"w{k}", "count": 2}]}
                    for k, t in enumerate(TYPES)],
        "confusions": CONFUSIONS,
        "suspicious_tokens": [{"task": t, "token": f"tok{t}", "given": "PER", "suggested": "ORG",
                               "score": 0.0012345 * (i + 1)} for i, t in enumerate(tasks)],
        "suspicious_entities": [{"task": t, "text": f"Acme {t}", "given": "PER", "suggested": "ORG",
                                 "kind": "wrong_type", "score": 0.0023456 * (i + 1)}
                                for i, t in enumerate(tasks)],
        "annotators": {}}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The backend on a free port, with a history of 4 runs seconds apart (project 5) and one
    of 4 runs weeks to months apart (project 6)."""
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("dashboard"), label_studio_url=LS,
                              public_url=LS), start_queue=False)
    store = app.extensions["tokenlq.store"]
    for project, apart in HISTORIES.values():
        for i, rate in enumerate(RATES):
            job, _ = store.enqueue(project, "api" if i == 0 else "ANNOTATION_UPDATED", "rescore")
            store.claim(job)
            store.finish(job, summary=run_summary(rate, "Acme news NER" if i == len(RATES) - 1
                                                  else "an older name"), finished=START + i * apart)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser(chromium):
    with chromium(1400, 1000) as session:
        yield session


def texts(page, selector: str) -> list:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


@pytest.mark.parametrize("history", list(HISTORIES))
def test_dashboard_and_summary_page_in_chromium(base, browser, history):
    project, apart = HISTORIES[history]
    page = browser.page
    try:
        dashboard = f"{base}/projects/{project}/dashboard"
        page.goto(dashboard)
        page.wait_for_selector("#chart-confusions .heatmap-label text")
        page.wait_for_selector("#chart-rates .xtick text")

        # The project's name, as the latest run read it.
        assert page.locator("#project-name").inner_text().startswith("Acme news NER")
        assert page.title() == "tokenlq: Acme news NER"

        # Rates as percentages with 2 decimals, scores with 3.
        assert page.locator("#error-rate").inner_text() == "0.52%"
        rates = texts(page, "#runs td:nth-child(8)") + texts(page, "#classes td:nth-child(5)")
        assert rates and all(re.fullmatch(r"\d+\.\d\d%", r) for r in rates), rates
        assert texts(page, "#classes td:nth-child(5)")[:2] == ["0.52%", "0.69%"]
        scores = texts(page, "#entities td.score") + texts(page, "#tokens td.score")
        assert scores[:2] == ["0.002", "0.005"] and all(re.fullmatch(r"\d\.\d{3}", s) for s in scores)
        tables = page.locator("table").all_inner_texts()
        assert not any(re.search(r"\d\.\d{4}", t) for t in tables)

        # Every cell of the heat map with flagged tokens shows its count.
        cells = page.locator("#chart-confusions .heatmap-label text").all_text_contents()
        assert sorted(cells) == sorted(str(n) for _, _, n in CONFUSIONS)
        assert texts(page, "#classes td:nth-child(6)")[1] == "ORG (7), O (1)"

        # The run dates, newest first, and a time axis in the runs' unit.
        when = [stamp(START + i * apart) for i in reversed(range(len(RATES)))]
        assert texts(page, "#runs td:nth-child(1)") == when
        assert page.locator("#finished").inner_text() == when[0]
        ticks = page.locator("#chart-rates .xtick text").all_text_contents()
        if history == "seconds":  # times of day, the date once
            assert all(re.match(r"\d\d:\d\d:\d\d", t) for t in ticks), ticks
            assert sum("Jan 15, 2024" in t for t in ticks) == 1, ticks
        else:  # months, no time of day
            assert all(re.fullmatch(r"[A-Z][a-z]{2}( \d{4})?", t) for t in ticks) and len(ticks) >= 3, ticks
        assert page.locator("#chart-rates .trace.scatter").count() == len(TYPES) + 1

        # Task links open the task in Label Studio's labeling view, inside the Label issues tab.
        links = page.locator("#entities a, #tokens a")
        assert links.count() == 10
        for i in range(links.count()):
            task = links.nth(i).inner_text()
            assert links.nth(i).get_attribute("href") == f"{LS}/projects/{project}/data?tab={VIEW}&task={task}"
        assert page.locator("#tab-link").get_attribute("href") == f"{LS}/projects/{project}/data?tab={VIEW}"
        browser.shot(f"dashboard-{history}", full_page=True)

        # To the summary page and back.
        page.click("#summary-link")
        page.wait_for_url(f"{base}/projects/{project}/summary.html")
        assert page.locator("#project-name").inner_text() == "Acme news NER"
        assert page.locator("#finished").inner_text() == when[0]
        header = texts(page, "table th")
        column = header.index("estimated error rate") + 1
        assert texts(page, f"table td:nth-child({column})")[:2] == ["0.52%", "0.69%"]
        assert texts(page, f"table td:nth-child({header.index('top confusions') + 1})")[1] == "ORG (7), O (1)"
        assert not re.search(r"\d\.\d{4}", page.locator("table").inner_text())
        browser.shot(f"summary-{history}", full_page=True)
        page.click("#dashboard-link")
        page.wait_for_url(dashboard)
        page.wait_for_selector("#chart-confusions .heatmap-label text")
        assert page.locator("#project-name").inner_text().startswith("Acme news NER")
        assert browser.errors() == []
    finally:
        page.close()
