"""What a resume carries over (--force, --only), what it records (cached_from, trigger,
queue wait, labels), and what it cleans up (tasks removed from the pipeline); on SQLite
and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

import datamill
from datamill import Pipeline, task
from datamill.store.records import State
from datamill.store.runstore import RunStore

COUNTING = Path(__file__).parent.parent / "resources" / "counting.py"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, project: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{project / 'runs.db'}"
    return request.getfixturevalue("pg_url")


def counts(path: Path) -> Counter:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def test_force_is_honoured_by_resume(project, store_url, monkeypatch):
    """A forced run that stops part-way, resumed: the forced tasks it had not reached are
    recomputed, not taken from checkpoints older than the forced run; what the forced run
    did recompute is reused; cached_from names the run that wrote the output."""
    cf = project / "count.txt"
    params = {"count_file": str(cf)}
    r1 = datamill.run(COUNTING, params, store=store_url, handle_signals=False)
    assert r1.ok
    monkeypatch.setenv("COUNTING_FAIL_TOTAL", "1")  # not a parameter: fingerprints unchanged
    r2 = datamill.run(COUNTING, params, force=["all"], store=store_url, handle_signals=False)
    assert r2.state == State.FAILED and counts(cf)["numbers"] == 2 and counts(cf)["total"] == 2
    monkeypatch.delenv("COUNTING_FAIL_TOTAL")
    with RunStore.open(store_url) as store:
        assert store.get_run(r2.run_id).options == {
            "force": ["numbers", "square", "total"]}
    r3 = datamill.resume(r2.run_id, store=store_url, handle_signals=False)
    assert r3.ok
    c = counts(cf)
    # total is recomputed (before: cached from r1's checkpoint, a stale output) ...
    assert c["total"] == 3 and r3.states["total"] == State.SUCCEEDED
    # ... numbers and the squares, recomputed by r2 itself, are not
    assert c["numbers"] == 2 and all(c[f"square:{i}"] == 2 for i in range(6))
    assert r3.states["numbers"] == State.CACHED
    with RunStore.open(store_url) as store:
        tr = {t.task_key: t for t in store.task_runs(r2.run_id)}
        assert tr["numbers"].cached_from_run == r2.run_id
        assert tr["total"].cached_from_run is None
    # a plain run now reuses everything and names the run each output came from
    r4 = datamill.run(COUNTING, params, store=store_url, handle_signals=False)
    # (numbers has no inputs nor version: a source always runs)
    assert {k: s for k, s in r4.states.items() if s != State.CACHED} == {"numbers": State.SUCCEEDED}
    with RunStore.open(store_url) as store:
        tr = {t.task_key: t for t in store.task_runs(r4.run_id)}
    assert {t.cached_from_run for k, t in tr.items() if k != "numbers"} == {r2.run_id}, (r1.run_id, r2.run_id, {k: t.cached_from_run for k, t in tr.items()})


def test_only_is_honoured_by_resume(project, store_url, monkeypatch):
    cf = project / "count.txt"
    params = {"count_file": str(cf)}
    assert datamill.run(COUNTING, params, store=store_url, handle_signals=False).ok
    monkeypatch.setenv("COUNTING_FAIL_TOTAL", "1")
    r2 = datamill.run(COUNTING, params, only=["total"], force=["total"], store=store_url,
                      handle_signals=False)
    assert r2.state == State.FAILED and set(r2.states) == {"total"}
    monkeypatch.delenv("COUNTING_FAIL_TOTAL")
    r3 = datamill.resume(r2.run_id, store=store_url, handle_signals=False)
    assert r3.ok and set(r3.states) == {"total"}
    c = counts(cf)
    assert c["numbers"] == 1 and c["total"] == 3


def test_task_removed_before_resume_is_not_left_failed(project, store_url):
    @task
    def a():
        return 1

    @task
    def b(a):
        raise RuntimeError("b is broken")

    @task
    def c(b):
        return b

    r1 = datamill.run(Pipeline("rm", [a, b, c]), store=store_url, handle_signals=False)
    assert r1.state == State.FAILED
    r2 = datamill.resume(r1.run_id, pipeline=Pipeline("rm", [a]), store=store_url,
                         handle_signals=False)
    assert r2.ok
    with RunStore.open(store_url) as store:
        run = store.get_run(r1.run_id)
        tr = {t.task_key: t for t in store.task_runs(r1.run_id)}
    assert run.state == State.SUCCEEDED and run.trigger == "resume" and run.error is None
    assert tr["a"].state == State.CACHED
    for k in ("b", "c"):
        assert tr[k].state == State.SKIPPED, (k, tr[k].state)
        assert "removed from the pipeline before the resume" in tr[k].error


def test_failed_run_records_its_error(project, store_url):
    @task
    def fine():
        return 1

    @task
    def broken(fine):
        raise ValueError("the input has no column 'x'")

    r = datamill.run(Pipeline("err", [fine, broken]), store=store_url, handle_signals=False)
    with RunStore.open(store_url) as store:
        run = store.get_run(r.run_id)
    assert run.state == State.FAILED
    assert run.error == "task broken failed: ValueError: the input has no column 'x'"


def test_queue_wait_is_apart_from_execution(project, store_url):
    """With one worker, tasks wait their turn: the wait is queue time, not duration."""
    import time

    @task(map="items")
    def nap(items: int) -> int:
        time.sleep(0.02)
        return items

    @task
    def items() -> list[int]:
        return list(range(10))

    r = datamill.run(Pipeline("q", [items, nap]), workers=1, store=store_url,
                     handle_signals=False)
    assert r.ok
    with RunStore.open(store_url) as store:
        tasks = [t for t in store.task_runs(r.run_id) if t.task == "nap"]
        attempts = {a.task_key: a for a in store.attempts(r.run_id)}
    for t in tasks:
        a = attempts[t.task_key]
        assert a.queued_at <= a.started_at <= a.ended_at
        assert t.duration_s == pytest.approx((a.ended_at - a.started_at).total_seconds(), abs=1e-5)
        assert t.queued_s == pytest.approx((a.started_at - a.queued_at).total_seconds(), abs=1e-5)
        assert t.duration_s >= 0.02
    last = max(tasks, key=lambda t: t.started_at)
    # it waited for the nine before it (each sleeping 0.02 s) before it started
    assert last.queued_s >= 9 * 0.02
    assert r.tasks[last.task_key].queued == pytest.approx(last.queued_s, abs=1e-5)
    assert r.tasks[last.task_key].duration == pytest.approx(last.duration_s, abs=1e-5)


def test_mapped_instances_have_readable_labels(project, store_url):
    @task
    def files() -> list[str]:
        return ["/data/in/jan.csv", "/data/in/feb.csv"]

    @task(map="files")
    def load(files: str) -> str:
        return files

    @task(map="load")
    def parse(load: str) -> int:
        return len(load)

    r = datamill.run(Pipeline("lbl", [files, load, parse]), store=store_url, handle_signals=False)
    assert r.ok
    with RunStore.open(store_url) as store:
        labels = {t.task_key: t.label for t in store.task_runs(r.run_id)}
    assert sorted(v for k, v in labels.items() if k.startswith("load[")) == ["feb.csv", "jan.csv"]
    # element-wise instances carry the label of the item they come from
    assert sorted(v for k, v in labels.items() if k.startswith("parse[")) == ["feb.csv", "jan.csv"]
    assert labels["files"] is None
    assert {t.shown for t in r.tasks.values() if t.task == "load"} == {
        f"{t.key} ({t.label})" for t in r.tasks.values() if t.task == "load"}
