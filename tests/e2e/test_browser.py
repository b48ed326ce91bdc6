"""The review loop in Label Studio's own pages, driven in headless Chromium as a reviewer does it:
the `Label issues` tab renders with the right tasks and columns, the labeling view shows the
prediction and its explanations, a fix and a confirmation made by clicking leave the tab, and
the dashboard's links land on the task. No page or console error anywhere."""

import os
import re

import numpy as np
import pytest
import requests

from tokenlq_backend.demo import corpus_tasks, label_config
from tokenlq_backend.labelstudio.views import REVIEWED_MARK
from tokenlq_backend.labelstudio import LabelStudioProject, close, connect
from tokenlq_backend.runs import MODEL_VERSION
from tokenlq_backend.scoring import entities_by_sentence
from tokenlq.synthetic import make_ner_corpus

from .live import EMAIL, PASSWORD, idle, jobs_of, serve, wait_for

SHOWN = ["ID", "Completed", "Annotated by", "Prediction score", "text"]


@pytest.fixture(scope="module")
def backend(labelstudio, tmp_path_factory):
    url, token = labelstudio
    log = tmp_path_factory.mktemp("browser") / "backend.log"
    env = dict(os.environ, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=token, TOKENLQ_PROBS="crf",
               TOKENLQ_DATA_DIR=str(log.parent / "data"), THREADS="4")
    base, process = serve(env, log)
    yield base
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def project(labelstudio, backend):
    url, token = labelstudio
    client = connect(url, token)
    corpus = make_ner_corpus(120, error_rate=0.08, seed=61)
    created = client.projects.create(title="tokenlq browser review", label_config=label_config(corpus))
    ids = list(client.projects.import_tasks(id=created.id, return_task_ids=True,
                                            request=corpus_tasks(corpus)).task_ids)
    client.ml.create(project=created.id, url=backend, title="tokenlq")
    idle(backend, created.id)
    yield client, LabelStudioProject(client, created.id), corpus, ids
    close(client)


def latest(base, project_id):
    return next(j for j in jobs_of(base, project_id) if j["kind"] != "refit")["summary"]


def tab_rows(session):
    """The task ids the tab's table lists, in its order (waits for the rows to render)."""
    page = session.page
    page.wait_for_selector(".lsf-select-row", timeout=60_000)
    page.wait_for_timeout(500)  # the first rows render before the rest
    return [int(t) for t in page.evaluate(
        "() => Array.from(document.querySelectorAll('.lsf-select-row'))"
        ".map(cell => cell.nextElementSibling.innerText.trim())") if t.isdigit()]


def entities(corpus, labels, i):
    tags = np.asarray(labels[i], dtype=np.int64)
    return set(entities_by_sentence(tags, np.array([0, len(tags)]), corpus.class_names).get(0, []))


def one_click_fix(corpus, i):
    """A fix a reviewer makes in a click or two: (region text, 'delete' or the true type) when
    task ``i``'s given entities differ from the true ones by one spurious or mistyped entity."""
    given, true = entities(corpus, corpus.labels, i), entities(corpus, corpus.true_labels, i)
    wrong, missing = given - true, true - given
    if len(wrong) != 1 or len(missing) > 1:
        return None
    (s, e, _), = wrong
    text = " ".join(corpus.tokens[i][s:e])
    if not missing:
        return text, "delete"
    (s2, e2, kind), = missing
    return (text, kind) if (s2, e2) == (s, e) else None


def open_task(session, ls_url, project_id, view, task):
    """As a reviewer does: the tab's list, a click on the task's row, the labeling view."""
    page = session.page
    page.goto(f"{ls_url}/projects/{project_id}/data?tab={view}")
    tab_rows(session)
    page.locator(".lsf-select-row + .lsf-table__cell", has_text=re.compile(rf"^{task}$")).click()
    page.wait_for_selector(".lsf-annotation-button", timeout=60_000)
    shows_task(page, task)
    assert f"task={task}" in page.url


def shows_task(page, task):
    """Until the labeling view's bottom bar names task ``task`` (shown "#123")."""
    page.locator(".lsf-current-task__task-id", has_text=re.compile(rf"^{task}$")).wait_for()


def annotation_tab(session):
    session.page.locator(".lsf-annotation-button", has_not_text=MODEL_VERSION).first.click()


def submit(session):
    button = session.page.locator("button", has_text=re.compile(r"^Update$"))
    assert button.is_enabled()
    button.click()
    session.page.wait_for_timeout(1500)


def test_the_review_loop_in_label_studios_pages(labelstudio, backend, project, chromium):
    ls_url, _ = labelstudio
    client, ls, corpus, ids = project
    summary = latest(backend, ls.id)
    view, flagged = summary["view"], summary["flagged"]
    assert flagged > 0
    listed = ls.view_task_ids(view)
    assert len(listed) == flagged
    with chromium() as session:
        page = session.page
        session.login(ls_url, EMAIL, PASSWORD)

        # 1-2. The tab renders, with the queue's tasks in score order and a reviewer's columns.
        page.goto(f"{ls_url}/projects/{ls.id}/data?tab={view}")
        assert tab_rows(session)[:10] == listed[:10]
        page.wait_for_selector(f"text=Tasks: {flagged} / {len(ids)}")
        headers = [h.strip() for h in page.locator(".lsf-th .lsf-th-content").all_inner_texts()]
        assert [h.split("\n")[0] for h in headers if h] == SHOWN, headers
        cell = page.locator(".lsf-table__cell", has_text=corpus.tokens[ids.index(listed[0])][0]).first
        box = cell.bounding_box()
        assert box["x"] + box["width"] <= 1600  # the sentence fits without scrolling sideways
        session.shot("tab")
        assert session.errors() == []

        # 3. The labeling view: our prediction, suspect regions first with their explanation.
        first = listed[0]
        open_task(session, ls_url, ls.id, view, first)
        page.locator(".lsf-annotation-button", has_text=MODEL_VERSION).click()
        node = page.locator(".lsf-tree__node").first
        node.click()
        info = page.locator("text=/tokenlq - (missed entity|spurious entity|wrong type|wrong boundary)/")
        info.first.wait_for()
        note = info.first.inner_text()
        assert re.search(r"given .+; suggested .+\(model: .+\)\. Region score \d\.\d{3}; task score "
                         r"\d\.\d{3}, the prediction's score", note), note
        session.shot("labeling-prediction")
        assert session.errors() == []

        # 4a. Fix: a flagged task whose error is one click away, fixed in the editor, submitted.
        fixable = [(t, one_click_fix(corpus, ids.index(t))) for t in listed[:20]]  # rendered rows
        to_fix, (region, action) = next((t, f) for t, f in fixable if f)
        open_task(session, ls_url, ls.id, view, to_fix)
        annotation_tab(session)
        nodes = page.locator(".lsf-tree__node")
        before = nodes.count()
        texts = [[line.strip() for line in t.split("\n")] for t in nodes.all_inner_texts()]
        nodes.nth(next(n for n, lines in enumerate(texts) if region in lines)).click()
        if action == "delete":
            page.keyboard.press("Backspace")
            page.wait_for_function(f"document.querySelectorAll('.lsf-tree__node').length == {before - 1}")
        else:
            page.locator(".lsf-label", has_text=action).first.click()
        session.shot("labeling-fixed")
        submit(session)

        # 4b. Confirm: the reviewer says another flag is wrong, with the config's checkbox.
        to_confirm = next(t for t in listed if t != to_fix)
        open_task(session, ls_url, ls.id, view, to_confirm)
        annotation_tab(session)
        page.get_by_text("Reviewed: the labels are right").click()
        session.shot("labeling-confirmed")
        submit(session)
        assert session.errors() == []

        # The webhooks' runs: both leave the tab; fixed and confirmed are counted.
        def settled():
            idle(backend, ls.id)
            now = latest(backend, ls.id)
            return now if now["reviews"].get("confirmed") == 1 and now["reviews"].get("fixed", 0) >= 1 \
                else None
        after = wait_for(settled, "the fix and the confirmation to be counted", timeout=240)
        now = ls.view_task_ids(after["view"])
        assert to_fix not in now and to_confirm not in now
        assert len(now) == after["flagged"]
        tasks = {t["id"]: t for t in ls.tasks()}
        mine = [p for p in tasks[to_confirm]["predictions"] if p["model_version"] == MODEL_VERSION]
        assert len(mine) == 1 and REVIEWED_MARK in str(mine[0]["result"])
        scores = {t: [p for p in x["predictions"] if p["model_version"] == MODEL_VERSION][0]["score"]
                  for t, x in tasks.items() if x["predictions"]}
        outside = [s for t, s in scores.items() if t not in now and t != to_confirm]
        assert max(scores[t] for t in now) <= min(outside)
        page.goto(f"{ls_url}/projects/{ls.id}/data?tab={view}")
        assert to_fix not in tab_rows(session) and to_confirm not in tab_rows(session)
        page.wait_for_selector(f"text=Tasks: {after['flagged']} / {len(ids)}")
        session.shot("tab-after-review")
        history = requests.get(f"{backend}/projects/{ls.id}/history", timeout=5).json()["runs"]
        assert history[-1]["confirmed"] == 1 and history[-1]["fixed"] >= 1

        # 5. The dashboard: renders, counts the review, its task links open the task.
        page.goto(f"{backend}/projects/{ls.id}/dashboard")
        page.wait_for_selector("a[href*='&task=']")
        session.shot("dashboard")
        link = page.locator("a[href*='&task=']").first
        href = link.get_attribute("href")
        target = int(re.search(r"&task=(\d+)", href).group(1))
        assert href == f"{ls_url}/projects/{ls.id}/data?tab={after['view']}&task={target}"
        if link.get_attribute("target") == "_blank":
            with page.context.expect_page() as opened:
                link.click()
            session.watch(opened.value)
            page = session.page = opened.value
        else:
            link.click()
        page.wait_for_selector(".lsf-annotation-button", timeout=60_000)
        shows_task(page, target)
        session.shot("dashboard-link-target")
        assert session.errors() == []
