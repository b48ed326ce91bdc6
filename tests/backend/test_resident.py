"""The resident scorer's runs (a run given the previous run's memo and the tasks touched since)
end exactly as a run without them: the same predictions written, the same review states, the
same summary; and the projects kept between jobs (offline: stand-in projects that hold the
predictions written)."""

import copy
import dataclasses
import random
import shutil

import pytest

from tokenlq import audit
from tokenlq_backend.resident import Kept, ResidentProjects
from tokenlq_backend.runs import RunOptions, rescore


EDITS = ("drop region", "relabel", "add task", "delete task", "second annotation", "skip")


def _edit(ls, rng, n, kinds=EDITS):
    """``n`` random edits of ``kinds`` (those annotators make); the ids of the tasks touched."""
    touched = set()
    for _ in range(n):
        kind = rng.choice(kinds)
        task = rng.choice(ls._tasks)
        given = task["annotations"][0]
        if kind == "drop region" and given["result"]:
            given["result"].pop(rng.randrange(len(given["result"])))
        elif kind == "relabel" and given["result"]:
            region = rng.choice(given["result"])
            labels = ["PER", "LOC", "ORG", "MISC"]
            region["value"]["labels"] = [rng.choice([x for x in labels if x not in region["value"]["labels"]])]
        elif kind == "add task":
            new = copy.deepcopy(task)
            new["id"], new["predictions"] = max(t["id"] for t in ls._tasks) + 1, []
            ls._tasks.append(new)
            task = new
        elif kind == "delete task":
            ls._tasks.remove(task)
        elif kind == "second annotation":
            other = copy.deepcopy(given)
            other.update(id=5000 + task["id"], completed_by=2, updated_at="2000-01-01")
            other["result"] = other["result"][1:]
            task["annotations"].append(other)
        else:
            given["was_cancelled"] = not given.get("was_cancelled")
        touched.add(task["id"])
    return touched


def _untimed(reviews):
    return {t: {k: v for k, v in state.items() if not k.endswith("_at")} for t, state in reviews.items()}


def _same(summary):
    return dataclasses.replace(summary, seconds={}, fit={k: v for k, v in summary.fit.items()
                                                         if k != "age_seconds"})


@pytest.mark.parametrize("seed", [1, 2])
def test_runs_with_the_memo_end_as_runs_without_it(tmp_path, seed, written_project, monkeypatch):
    resident, fresh = written_project(), written_project()
    since = []  # the runs that found span issues again only where something moved
    monkeypatch.setattr(audit, "_span_issues_since", lambda *args, found=audit._span_issues_since:
                        since.append(args[1]) or found(*args))
    first = rescore(resident, RunOptions(probs="crf", folds=3, data_dir=tmp_path / "r"))
    shutil.copytree(tmp_path / "r", tmp_path / "f")  # the same stored fit for both
    rescore(fresh, RunOptions(probs="crf", folds=3, data_dir=tmp_path / "f"))
    assert resident._tasks == fresh._tasks
    memo, reviews, rng = first.memo, first.reviews, random.Random(seed)
    kept_renderings = 0
    for step in range(6):  # every other step edits labels only: the corpus is patched in place
        touched = _edit(resident, rng, 3, EDITS if step % 2 else EDITS[:2])
        fresh._tasks = copy.deepcopy(resident._tasks)
        fresh.calls, resident.calls = [], []
        options = RunOptions(probs="crf", folds=3, mode="update")
        with_memo = rescore(resident, dataclasses.replace(options, data_dir=tmp_path / "r"),
                            reviews=reviews, tasks=resident.tasks(), memo=memo, touched=touched)
        without = rescore(fresh, dataclasses.replace(options, data_dir=tmp_path / "f"),
                          reviews=reviews, tasks=fresh.tasks())
        assert with_memo.predictions == without.predictions
        assert _untimed(with_memo.reviews) == _untimed(without.reviews)
        assert _same(with_memo.summary) == _same(without.summary)
        assert with_memo.ours == without.ours and resident.calls == fresh.calls
        assert resident._tasks == fresh._tasks  # what Label Studio holds
        kept_renderings += sum(with_memo.memo.rendered[t] is memo.rendered.get(t)
                               for t in with_memo.memo.rendered)
        memo, reviews = with_memo.memo, with_memo.reviews
        assert with_memo.summary.unchanged > 0
    assert kept_renderings > 200  # most tasks were not rendered again
    assert len(since) >= 3  # at least the steps that edit labels only


def test_a_memo_of_another_labeling_config_is_not_used(tmp_path, written_project):
    ls = written_project()
    first = rescore(ls, RunOptions(probs="crf", folds=3, data_dir=tmp_path))
    other = dataclasses.replace(first.memo, settings={**first.memo.settings, "label_config": "<View/>"})
    again = rescore(ls, RunOptions(probs="crf", folds=3, data_dir=tmp_path, mode="update"),
                    reviews=first.reviews, tasks=ls.tasks(), memo=other, touched=set())
    assert not any(again.memo.rendered[t] is other.rendered.get(t) for t in again.memo.rendered)
    assert again.predictions == first.predictions and again.summary.unchanged == len(first.predictions)


def test_the_most_recently_updated_projects_are_kept_and_a_taken_one_is_gone():
    resident = ResidentProjects(most=2)
    for project in (1, 2, 3):
        resident.keep(project, Kept(None, f"v{project}", None, {}))
    assert len(resident) == 2 and resident.take(1) is None
    assert resident.take(3).version == "v3" and resident.take(3) is None


def test_past_its_writes_per_run_a_run_leaves_the_rest_and_the_updates_after_end_as_one_run(
        tmp_path, written_project):
    """A new fit moves every score: the run writes the touched task's prediction first, then
    those entering or leaving the issues tab, then the most suspect ones, up to writes_per_run
    single writes; each update after it (given the
    memo, nothing touched) writes the next ones, and they end as one run without the limit."""
    limited, whole = written_project(), written_project()
    first = rescore(limited, RunOptions(probs="crf", folds=3, data_dir=tmp_path / "a"))
    rescore(whole, RunOptions(probs="crf", folds=3, data_dir=tmp_path / "a"))
    touched = _edit(limited, random.Random(4), 1, ("relabel",))
    whole._tasks = copy.deepcopy(limited._tasks)
    new_fit = RunOptions(probs="crf", folds=3, seed=7, data_dir=tmp_path / "b")
    expected = rescore(whole, dataclasses.replace(new_fit, writes_per_run=None),
                       reviews=first.reviews)
    assert expected.summary.updated == len(expected.predictions)  # every score moved

    limit, runs = 20, []
    run = rescore(limited, dataclasses.replace(new_fit, writes_per_run=limit),
                  reviews=first.reviews, tasks=limited.tasks(), touched=touched)
    while True:
        runs.append(run)
        assert run.summary.updated <= limit and run.summary.pending == len(run.left)
        assert not run.left & set(run.ours) and not run.left & set(run.memo.final)
        if not run.left:
            break
        run = rescore(limited, dataclasses.replace(new_fit, mode="update", writes_per_run=limit),
                      reviews=run.reviews, tasks=limited.tasks(), memo=run.memo, touched=set())
    assert list(runs[0].ours) and set(touched) <= set(runs[0].ours)
    # Then the tasks entering or leaving the issues tab (its filter: a score at most the
    # threshold), so that it is right soonest; then the most suspect.
    tab = runs[0].memo.view[1]["items"][0]["value"]
    scores = {t: p["score"] for t, p in expected.predictions.items()}
    was = {t: p["score"] for t, p in first.predictions.items()}
    crossing = {t for t in scores if (was[t] <= tab) != (scores[t] <= tab)}
    assert 0 < len(crossing - touched) < limit

    def rank(t):
        return (t not in crossing, scores[t])

    assert max(rank(t) for t in runs[0].ours if t not in touched) <= min(map(rank, runs[0].left))
    assert len(runs) == -(-len(expected.predictions) // limit)
    assert limited._tasks == whole._tasks  # what Label Studio holds
    assert runs[-1].predictions == expected.predictions
    assert _untimed(runs[-1].reviews) == _untimed(expected.reviews)


def test_a_run_gives_way_to_a_waiting_update_only_once_its_touched_tasks_are_written(
        tmp_path, written_project, monkeypatch):
    """Else a task edited in a burst could wait behind writes left from earlier runs."""
    monkeypatch.setattr("tokenlq_backend.runs.YIELD_EVERY", 5)
    ls = written_project()
    first = rescore(ls, RunOptions(probs="crf", folds=3, data_dir=tmp_path / "a"))
    touched = _edit(ls, random.Random(5), 12, ("relabel",))
    asked = []
    new_fit = RunOptions(probs="crf", folds=3, seed=7, data_dir=tmp_path / "b",  # all move
                         writes_per_run=500, give_way=lambda: asked.append(1) or True)
    run = rescore(ls, new_fit, reviews=first.reviews, tasks=ls.tasks(), touched=touched)
    assert len(touched) > 5 and set(touched) <= set(run.ours)
    assert run.summary.updated == -(-len(touched) // 5) * 5 and len(asked) == 1
    assert run.summary.pending == len(run.left) == 60 - run.summary.updated


def test_the_ids_a_run_read_of_the_tasks_it_leaves_reach_the_copy(tmp_path, written_project):
    """After a bulk import the copy holds our predictions without their ids; a run that must
    change them reads the ids (one request per task) and returns those of the tasks it leaves,
    so that the runs after it do not read them again (at 100,000 tasks each run of a burst
    read hundreds)."""
    ls, reads = written_project(), []

    def predictions_of(task_ids, version):
        reads.append(len(task_ids))
        return {t: [p for p in ls._ours(t) if p["model_version"] == version] for t in task_ids}

    ls.predictions_of = predictions_of
    first = rescore(ls, RunOptions(probs="crf", folds=3, data_dir=tmp_path / "a"))
    held = {t["id"]: [dict(p, id=None) for p in t["predictions"]] for t in ls.tasks()}
    new_fit = RunOptions(probs="crf", folds=3, seed=7, data_dir=tmp_path / "b", writes_per_run=20)
    run, runs = None, 0
    while run is None or run.left:
        tasks = [dict(t, predictions=held[t["id"]]) for t in ls.tasks()]  # as the copy has them
        run = rescore(ls, dataclasses.replace(new_fit, mode="update"), reviews=first.reviews,
                      tasks=tasks)
        held.update(run.ours)
        runs += 1
        if runs == 1:
            assert run.left and all(run.ours[t] == ls._ours(t) for t in run.left)
    assert reads == [60] and runs == 3  # every score moved: 20 a run, their ids read once
