"""Run listeners: the events a run emits, their order and thread, registration (per run and
per pipeline), and a listener that raises (logged once, counted, the run goes on)."""

from __future__ import annotations

import logging
import threading

import pytest

import datamill
from datamill import Context, Pipeline, task
from datamill.runtime import events as ev
from datamill.runtime.cache import Reuse
from datamill.runtime.listeners import Listeners, RunListener
from datamill.store.records import State


def run(tasks, **kw):
    kw.setdefault("handle_signals", False)
    return datamill.run(Pipeline(kw.pop("name", "t"), tasks, **kw.pop("pipeline_kw", {})), **kw)


class Recorder(RunListener):
    """Keeps every event with the thread it came on."""

    def __init__(self):
        self.events: list[tuple[object, int]] = []

    def _keep(self, event):
        self.events.append((event, threading.get_ident()))

    on_run_started = on_task_expanded = on_task_queued = on_task_started = _keep
    on_attempt_finished = on_attempt_retried = on_checkpoint_written = _keep
    on_lineage_recorded = on_metric_recorded = on_state_saved = _keep
    on_task_finished = on_run_finished = _keep

    def of(self, key):
        return [type(e).__name__ for e, _ in self.events if getattr(e, "key", None) == key]


FLAKY = {"n": 0}


@task
def items() -> list[int]:
    return [1, 2, 3]


@task(map="items")
def square(items: int, ctx: Context) -> int:
    ctx.metric("seen", items)
    ctx.record_input(f"file:///data/{items}.csv")
    return items * items


@task(retries=1, retry_delay=0.01)
def total(square: list[int], ctx: Context) -> int:
    FLAKY["n"] += 1
    if FLAKY["n"] == 1:
        raise RuntimeError("first attempt fails")
    ctx.set_state("last_total", sum(square))
    return sum(square)


def test_events_of_a_run_in_order_on_the_driver_thread(project):
    FLAKY["n"] = 0
    rec = Recorder()
    r = run([items, square, total], listeners=[rec])
    assert r.ok and r["total"] == 14 and r.listener_errors == {}
    kinds = [type(e).__name__ for e, _ in rec.events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert rec.events[0][0].tasks == 3 and not rec.events[0][0].resumed
    # every event on the thread that called datamill.run
    assert {tid for _, tid in rec.events} == {threading.get_ident()}
    # the mapped task announced its instances
    expanded = [e for e, _ in rec.events if isinstance(e, ev.TaskExpanded)]
    assert [(e.task, e.instances) for e in expanded] == [("square", 3)]
    # per instance: queued < started < attempt finished < checkpoint < side data < finished
    key = next(k for k in r.tasks if k.startswith("square["))
    assert rec.of(key) == ["TaskQueued", "TaskStarted", "AttemptFinished", "CheckpointWritten",
                           "LineageRecorded", "MetricRecorded", "TaskFinished"]
    # a retried task: two attempts, the retry between them, state saved before its end
    assert rec.of("total") == ["TaskQueued", "TaskStarted", "AttemptFinished", "AttemptRetried",
                               "TaskQueued", "TaskStarted", "AttemptFinished",
                               "CheckpointWritten", "StateSaved", "TaskFinished"]
    retried = next(e for e, _ in rec.events if isinstance(e, ev.AttemptRetried))
    assert retried.attempt == 1 and "first attempt fails" in retried.error
    finished = {e.key: e for e, _ in rec.events if isinstance(e, ev.TaskFinished)}
    assert finished["total"].state == State.SUCCEEDED and finished["total"].result.attempts == 2
    assert finished["total"].record.attempts == 2 and not finished["total"].recomputed
    metric = next(e for e, _ in rec.events if isinstance(e, ev.MetricRecorded))
    assert metric.record.name == "seen"
    last = rec.events[-1][0]
    assert last.state == State.SUCCEEDED and last.result is not None and not last.aborted


def test_a_task_closed_without_running_gets_only_its_end(project):
    @task
    def broken() -> int:
        raise ValueError("no")

    @task
    def after(broken: int) -> int:
        return broken

    rec = Recorder()
    r = run([broken, after], listeners=[rec])
    assert not r.ok
    assert rec.of("after") == ["TaskFinished"]
    end = [e for e, _ in rec.events if getattr(e, "key", None) == "after"][0]
    assert end.state == State.UPSTREAM_FAILED and end.started_at is None


def test_a_callable_listener_receives_every_event(project):
    seen: list[object] = []
    r = run([items, square], listeners=[seen.append])
    assert r.ok
    assert isinstance(seen[0], ev.RunStarted) and isinstance(seen[-1], ev.RunFinished)
    assert sum(isinstance(e, ev.TaskFinished) for e in seen) == 4


def test_a_listener_that_raises_is_logged_once_counted_and_the_run_goes_on(project, caplog):
    class Broken(RunListener):
        def on_task_finished(self, event):
            raise RuntimeError("listener bug")

    after = Recorder()
    with caplog.at_level(logging.WARNING, logger="datamill.run"):
        r = run([items, square], listeners=[Broken(), after])
    assert r.ok and r["square"] == [1, 4, 9]
    name = f"{__name__}.{Broken.__qualname__}"
    assert r.listener_errors == {name: 4}  # items + 3 instances
    logged = [m for m in caplog.messages if "listener bug" in m or "raised on" in m]
    assert len([m for m in logged if "raised on TaskFinished" in m]) == 1
    assert any("raised 4 times" in m for m in caplog.messages)
    # the listener after it still had every event
    assert sum(isinstance(e, ev.TaskFinished) for e, _ in after.events) == 4


def test_listeners_declared_by_the_pipeline_run_before_the_callers(project):
    order: list[str] = []

    class Tag(RunListener):
        def __init__(self, tag):
            self.tag = tag

        def on_run_started(self, event):
            order.append(self.tag)

    r = run([items], pipeline_kw={"listeners": [Tag("pipeline")]}, listeners=[Tag("caller")])
    assert r.ok and order == ["pipeline", "caller"]
    opts = datamill.options(listeners=[Tag("x")])
    assert len(opts.listeners) == 1


def test_resume_passes_listeners_and_says_it_resumes(project):
    state = {"fail": True}

    @task
    def first() -> int:
        return 1

    @task
    def second(first: int) -> int:
        if state["fail"]:
            raise RuntimeError("down")
        return first + 1

    p = Pipeline("res", [first, second])
    r = datamill.run(p, handle_signals=False)
    assert not r.ok
    state["fail"] = False
    rec = Recorder()
    r2 = datamill.resume(r.run_id, pipeline=p, handle_signals=False, listeners=[rec])
    assert r2.ok
    start = rec.events[0][0]
    assert isinstance(start, ev.RunStarted) and start.resumed and start.record is None
    # the completed task is taken from the resumed run: it only finishes (cached)
    assert rec.of("first") == ["TaskFinished"]


def test_something_that_is_no_listener_is_refused():
    with pytest.raises(TypeError, match="run listener"):
        Listeners([42])


def test_reuse_rule_of_the_cache_policy():
    class Meta:
        def __init__(self, created_at):
            self.created_at = created_at

    assert Reuse().accepts(Meta(0.0), now=1e9)
    assert Reuse(max_age=10).accepts(Meta(100.0), now=110.0)
    assert not Reuse(max_age=10).accepts(Meta(100.0), now=110.5)
    assert Reuse(written_after=50.0).accepts(Meta(50.0))
    assert not Reuse(written_after=50.0).accepts(Meta(49.9))
