"""Review outcomes, annotator statistics, the run history, the dashboard page and /metrics."""

import calendar
import csv
import io
import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tokenlq_backend import create_app
from tokenlq_backend.annotators import annotator_summary
from tokenlq_backend.settings import Settings


def test_annotator_statistics_and_disagreement():
    from tokenlq_backend.scoring import ProjectCorpus
    from tokenlq.audit import AuditResult

    names = ["O", "B-PER", "I-PER"]
    probs = np.array([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05]] * 30)
    project = ProjectCorpus(task_ids=list(range(30)), labels=[["B-PER", "O"]] * 30)
    project.annotations = [[(1, ["B-PER", "O"])] for _ in range(30)]
    project.given = [0] * 30  # annotator 1's are the given labels
    for i in range(10):  # annotator 2 overlaps on 10 tasks and misses the name in 6
        project.annotations[i].append((2, ["O", "O"] if i < 6 else ["B-PER", "O"]))
    offsets = np.arange(0, 61, 2)
    labels = np.array([1, 0] * 30)
    result = AuditResult(None, names, labels, probs, offsets, None, None, [], None, None, None, {})
    out = annotator_summary(project, result)
    assert out["overlap_tasks"] == 10 and out["disagreeing_tasks"] == 6
    assert out["token_agreement"] == pytest.approx(0.7)
    one, two = out["annotators"]
    assert (one["annotator"], one["annotations"], one["tokens"], one["flagged_tokens"]) == (1, 30, 60, 0)
    assert (two["annotator"], two["annotations"], two["disagreeing_tasks"]) == (2, 10, 6)
    assert two["flagged_tokens"] == 6 and two["estimated_error_rate"] > one["estimated_error_rate"]


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "data", label_studio_url="http://ls.example",
                    public_url="http://ls.example")


@pytest.fixture
def app(app, run_summary):
    """conftest.py's app with project 2's history: a rescore, an update and a refit done, an
    update waiting."""
    store = app.extensions["tokenlq.store"]
    for rate, flagged, kind in [(0.08, 5, "rescore"), (0.05, 3, "update"), (0.0, 0, "refit")]:
        job, _ = store.enqueue(2, "api", kind)
        store.next_queued("fit" if kind == "refit" else "write")
        store.finish(job, summary=run_summary(rate, flagged, token="<script>alert(1)</script>",
                                              reviews={"pending": flagged, "fixed": 2, "confirmed": 1})
                     if kind != "refit" else {"model": "crf+encoder"})
        time.sleep(0.01)
    store.enqueue(2, "ANNOTATION_CREATED", "update")  # one waiting
    return app


def test_history_lists_scoring_runs_oldest_first_in_json_and_csv(app):
    c = app.test_client()
    runs = c.get("/projects/2/history").get_json()["runs"]
    assert [(r["kind"], r["error_rate"], r["flagged"]) for r in runs] == [
        ("rescore", 0.08, 5), ("update", 0.05, 3)]  # the refit scored nothing
    assert runs[1]["classes"] == {"O": 0.025, "PER": 0.1} and runs[1]["warnings"] == 2
    table = c.get("/projects/2/history?format=csv").get_data(as_text=True).splitlines()
    assert table[0].endswith("seconds,error_rate_O,error_rate_PER") and len(table) == 3
    assert c.get("/projects/5/history").get_json()["runs"] == []


def test_dashboard_page_escapes_user_text_and_embeds_the_runs(app):
    c = app.test_client()
    page = c.get("/projects/2/dashboard").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="http://ls.example/projects/2/data?tab=4"' in page
    # The task in the labeling view, inside the run's Label issues tab (& escaped in HTML).
    assert 'href="http://ls.example/projects/2/data?tab=4&amp;task=3"' in page
    assert "data?task=" not in page
    assert "/assets/plotly.min.js" in page and '"y": [0.08, 0.05]' in page
    assert c.get("/projects/9/dashboard").status_code == 404
    js = c.get("/assets/plotly.min.js")
    try:
        assert js.status_code == 200 and b"plotly.js" in js.data[:2000]
    finally:
        js.close()


def test_metrics_in_prometheus_format(app):
    from prometheus_client.parser import text_string_to_metric_families

    c = app.test_client()
    text = c.get("/metrics").get_data(as_text=True)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("tokenlq_runs_total", (("kind", "rescore"), ("project", "2"), ("status", "done")))] == 1
    assert samples[("tokenlq_queue_depth", (("lane", "write"),))] == 1
    assert samples[("tokenlq_flagged_tasks", (("project", "2"),))] == 3
    assert samples[("tokenlq_estimated_error_rate", (("class", "PER"), ("project", "2")))] == 0.1
    assert samples[("tokenlq_estimated_error_rate", (("class", "all"), ("project", "2")))] == 0.05
    assert samples[("tokenlq_findings", (("project", "2"), ("status", "fixed")))] == 2
    assert all(name.startswith("tokenlq_") for name, _ in samples)


def test_managers_pages_take_the_same_basic_auth(app):
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), basic_auth_user="u", basic_auth_pass="p")
    c = create_app(settings, start_queue=False).test_client()
    for path in ("/projects/2/history", "/projects/2/dashboard", "/metrics", "/assets/plotly.min.js"):
        assert c.get(path).status_code == 401, path


def finish_run(app, project, run, *, at=None, kind="rescore", trigger="api"):
    """A done run of ``project`` with summary ``run``, finished at ``at`` (epoch seconds)."""
    store = app.extensions["tokenlq.store"]
    job, _ = store.enqueue(project, trigger, kind)
    store.claim(job)
    store.finish(job, summary=run, finished=at)
    return job


def utc(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


def figures(page):
    return json.loads(re.search(r'<script id="figures" type="application/json">(.*?)</script>',
                                page, re.S).group(1))


def test_a_run_records_the_project_title_and_top_lists_as_objects(offline_project):
    from tokenlq_backend.runs import RunOptions, rescore

    summary = rescore(offline_project, RunOptions(probs="crf", folds=3)).summary
    assert summary.project_title == "Acme news NER" and summary.view == 11
    rows = {r["type"]: r for r in summary.classes}
    for row in rows.values():
        for field, key in (("top_confusions", "suggested"), ("top_flagged_tokens", "token")):
            assert all(set(item) == {key, "count"} for item in row[field]), row[field]
            counts = [item["count"] for item in row[field]]
            assert counts == sorted(counts, reverse=True) and len(counts) <= 3
    assert sum(item["count"] for item in rows["O"]["top_flagged_tokens"]) <= rows["O"]["flagged_tokens"]
    assert any(row["top_confusions"] for row in rows.values())
    assert all(item["suggested"] != kind for kind, row in rows.items() for item in row["top_confusions"])


def test_pages_show_the_project_name_of_the_latest_run(app, run_summary):
    c = app.test_client()
    for path in ("/projects/2/dashboard", "/projects/2/summary.html"):
        page = c.get(path).get_data(as_text=True)
        assert re.search(r'<h1 id=.project-name.>Acme news NER', page), path
        assert "<title>tokenlq: Acme news NER" in page, path
    finish_run(app, 3, run_summary(0.1, 1, title=""))  # a run that read no name
    for path in ("/projects/3/dashboard", "/projects/3/summary.html"):
        assert re.search(r"<h1 id=.project-name.>Project 3", c.get(path).get_data(as_text=True)), path
    time.sleep(0.01)
    finish_run(app, 3, run_summary(0.1, 1, title="Renamed <b>"))  # renamed since: the latest name
    for path in ("/projects/3/dashboard", "/projects/3/summary.html"):
        page = c.get(path).get_data(as_text=True)
        assert re.search(r"<h1 id=.project-name.>Renamed &lt;b&gt;", page), path


def test_rates_are_percentages_with_two_decimals_and_scores_with_three_on_both_pages(app, run_summary):
    run = run_summary(0.005183788784165885, 1)
    run["classes"][1]["estimated_error_rate"] = 0.012345678
    run["suspicious_tokens"][0]["score"] = run["suspicious_entities"][0]["score"] = 0.0123456
    run["annotators"] = {"overlap_tasks": 4, "disagreeing_tasks": 1, "token_agreement": 0.9876543,
                         "annotators": [{"annotator": 1, "annotations": 4, "tokens": 40,
                                         "flagged_tokens": 1, "estimated_error_rate": 0.0456789,
                                         "disagreeing_tasks": 1}]}
    finish_run(app, 3, run)
    c = app.test_client()
    table = c.get("/projects/3/summary.html").get_data(as_text=True)
    assert "<td>0.26%</td>" in table and "<td>1.23%</td>" in table  # O: rate / 2
    assert "0.0025" not in table and "0.0123" not in table
    page = c.get("/projects/3/dashboard").get_data(as_text=True)
    assert '<b id="error-rate">0.52%</b>' in page  # was 0.5%
    assert ">1.23%</td>" in page and ">0.26%</td>" in page and ">4.57%</td>" in page
    assert "token agreement 98.77%" in page
    shown = page.split('<script id="figures"')[0]  # the chart data keep raw numbers
    assert shown.count('<td class="score">0.012</td>') == 2 and "0.0123" not in shown
    assert not re.search(r"\d\.\d{4}", shown)
    assert figures(page)["rates"]["layout"]["yaxis"]["tickformat"] == ".2%"
    assert all(".2%" in trace["hovertemplate"] for trace in figures(page)["rates"]["data"])
    # JSON keeps the raw numbers.
    classes = c.get("/projects/3/summary").get_json()["classes"]
    assert classes[1]["estimated_error_rate"] == 0.012345678
    assert c.get("/projects/3/history").get_json()["runs"][-1]["error_rate"] == 0.005183788784165885


def test_heat_map_cells_show_their_counts(app):
    page = app.test_client().get("/projects/2/dashboard").get_data(as_text=True)
    heat = figures(page)["confusions"]["data"][0]
    names = heat["x"]
    assert names == ["LOC", "O", "PER"] and heat["texttemplate"] == "%{text}"
    cell = {(g, s): heat["text"][names.index(g)][names.index(s)] for g in names for s in names}
    assert cell.pop(("PER", "LOC")) == "2" and cell.pop(("O", "PER")) == "1"
    assert set(cell.values()) == {""}  # no count, no text


@pytest.mark.parametrize("apart", [1, 45 * 86400])  # seconds apart, or weeks to months apart
def test_the_runs_are_on_a_date_axis_and_in_a_table_with_their_dates(app, apart, run_summary):
    start = utc("2024-01-15 09:30:00")
    for i, rate in enumerate([0.2, 0.1, 0.05]):
        finish_run(app, 3, run_summary(rate, 4 - i), at=start + i * apart,
                   trigger="ANNOTATION_UPDATED" if i else "setup")
    page = app.test_client().get("/projects/3/dashboard").get_data(as_text=True)
    axis = figures(page)["rates"]["layout"]["xaxis"]
    assert axis["type"] == "date" and "tickformat" not in axis  # plotly picks the unit
    # Runs seconds apart: an axis some seconds wide (ticks in seconds, not fractions of one).
    assert axis.get("range") == (["2024-01-15 09:29:55", "2024-01-15 09:30:07"] if apart == 1 else None)
    stamps = [time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(start + i * apart)) for i in range(3)]
    assert figures(page)["rates"]["data"][0]["x"] == stamps  # UTC, in a form plotly reads as a date
    rows = re.findall(r"<tr><td>([^<]+ UTC)</td><td class=\"num\">\d+</td><td>(\w+)</td><td>(\w+)</td>"
                      r".*?<td class=\"num\">(\d+)</td><td class=\"num\">([\d.]+%)</td></tr>",
                      page.split('id="runs"')[1].split("</table>")[0], re.S)
    assert rows == [(f"{stamps[2]} UTC", "rescore", "ANNOTATION_UPDATED", "2", "5.00%"),
                    (f"{stamps[1]} UTC", "rescore", "ANNOTATION_UPDATED", "3", "10.00%"),
                    (f"{stamps[0]} UTC", "rescore", "setup", "4", "20.00%")]  # newest first
    assert f'<time id="finished">{stamps[2]} UTC</time>' in page
    assert f"<time id='finished'>{stamps[2]} UTC</time>" in \
        app.test_client().get("/projects/3/summary.html").get_data(as_text=True)


def test_summary_page_and_dashboard_link_to_each_other(app):
    c = app.test_client()
    assert "<a id='dashboard-link' href='/projects/2/dashboard'>" in \
        c.get("/projects/2/summary.html").get_data(as_text=True)
    assert 'id="summary-link" href="/projects/2/summary.html"' in \
        c.get("/projects/2/dashboard").get_data(as_text=True)


def test_summary_json_gives_the_top_lists_as_objects_and_csv_as_text(app, run_summary):
    c = app.test_client()
    answer = c.get("/projects/2/summary").get_json()
    per = answer["classes"][1]
    assert per["top_confusions"] == [{"suggested": "LOC", "count": 2}, {"suggested": "O", "count": 1}]
    assert per["top_flagged_tokens"] == [{"token": "y", "count": 2}]
    assert "[{suggested, count}]" in answer["fields"]["top_confusions"]
    assert "[{token, count}]" in answer["fields"]["top_flagged_tokens"]
    rows = list(csv.DictReader(io.StringIO(c.get("/projects/2/summary?format=csv").get_data(as_text=True))))
    assert (rows[1]["top_confusions"], rows[1]["top_flagged_tokens"]) == ("LOC (2), O (1)", "y (2)")
    page = c.get("/projects/2/dashboard").get_data(as_text=True)
    assert "<td>LOC (2), O (1)</td>" in page and "suggested&#39;" not in page
    assert "<td>LOC (2), O (1)</td>" in c.get("/projects/2/summary.html").get_data(as_text=True)
    # A run stored before the lists were structured holds their text: the JSON has the same shape.
    old = run_summary(0.1, 1)
    old["classes"][1].update(top_confusions="ORG (4), Person Name (2)", top_flagged_tokens=", (3), x (1)")
    finish_run(app, 3, old)
    per = c.get("/projects/3/summary").get_json()["classes"][1]
    assert per["top_confusions"] == [{"suggested": "ORG", "count": 4}, {"suggested": "Person Name", "count": 2}]
    assert per["top_flagged_tokens"] == [{"token": ",", "count": 3}, {"token": "x", "count": 1}]
    rows = list(csv.DictReader(io.StringIO(c.get("/projects/3/summary?format=csv").get_data(as_text=True))))
    assert rows[1]["top_confusions"] == "ORG (4), Person Name (2)"


def test_openapi_describes_the_summary_top_lists():
    from tokenlq_backend.openapi import SPEC

    schema = SPEC["paths"]["/projects/{project}/summary"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    row = schema["properties"]["classes"]["items"]["properties"]
    assert row["top_confusions"]["items"]["required"] == ["suggested", "count"]
    assert row["top_flagged_tokens"]["items"]["required"] == ["token", "count"]
