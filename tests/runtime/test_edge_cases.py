"""Review findings: edge cases of the run engine and parameters that once broke.

Each test pins one bug found in review (corrupt-checkpoint recovery, pools under
cancellation, thread timeouts, --only, mapped items hashed by content, parameter
coercion) so it stays fixed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
import typing
from typing import Literal

import pandas as pd
import pytest

import datamill
from datamill import Pipeline, Skip, task
from datamill.runtime.executors.local import LocalExecutor
from datamill.store.records import State

CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def run(tasks, params=None, **kw):
    kw.setdefault("handle_signals", False)
    return datamill.run(Pipeline(kw.pop("name", "t"), tasks), params, **kw)


def corrupt(project, meta) -> None:
    path = project / ".datamill" / "artifacts" / meta.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


class RecordingExecutor(LocalExecutor):
    """The local executor, remembering which task keys were handed to it."""

    def __init__(self) -> None:
        super().__init__(4)
        self.submitted: list[str] = []

    def submit(self, call, run_in, on_done, on_start=None):
        self.submitted.append(call.key)
        return super().submit(call, run_in, on_done, on_start)


# -- corrupt-checkpoint recovery ---------------------------------------------------------


def test_corrupt_checkpoint_of_mapped_instance_is_recomputed(project):
    @task(version="1")
    def items():
        return [1, 2]

    @task(map="items")
    def sq(items: int):
        return list(range(items * 1000))

    @task
    def total(sq, k: int = 1):
        return sum(len(x) for x in sq) * k

    r1 = run([items, sq, total])
    corrupt(project, r1.tasks[r1.node_keys["sq"][0]].meta)
    r2 = run([items, sq, total], {"k": 2})
    assert r2.ok, r2.tasks["total"].error
    assert r2["total"] == 6000


def test_two_downstreams_of_one_corrupt_checkpoint_both_recover(project):
    @task(version="1")
    def base():
        return list(range(5000))

    @task
    def a(base, k: int = 1):
        time.sleep(0.05)
        return sum(base) * k

    @task
    def b(base, k: int = 1):
        time.sleep(0.05)
        return len(base) * k

    r1 = run([base, a, b])
    corrupt(project, r1.tasks["base"].meta)
    r2 = run([base, a, b], {"k": 2})
    assert r2.states["a"] == State.SUCCEEDED, r2.tasks["a"].error
    assert r2.states["b"] == State.SUCCEEDED, r2.tasks["b"].error


def test_downstream_dispatched_during_recovery_gets_the_value(project):
    @task(version="1")
    def base():
        if "slow" in CALLS:
            time.sleep(0.6)  # the recomputation takes a while
        return list(range(5000))

    @task
    def slow():
        time.sleep(0.3)
        return 1

    @task
    def a(base, k: int = 1):
        return len(base) * k

    @task
    def b(base, slow, k: int = 1):
        return len(base) * k

    r1 = run([base, slow, a, b])
    corrupt(project, r1.tasks["base"].meta)
    CALLS.append("slow")
    r2 = run([base, slow, a, b], {"k": 2})
    assert r2.states["b"] == State.SUCCEEDED, r2.tasks["b"].error  # TypeError: None has no len()
    assert r2["b"] == 10000


def test_corrupt_checkpoint_of_map_source_is_recomputed(project):
    @task(version="1")
    def items():
        CALLS.append("items")
        return list(range(500))

    @task(map="items")
    def times(items: int, k: int = 1):
        return items * k

    r1 = run([items, times])
    assert CALLS == ["items"]
    corrupt(project, r1.tasks["items"].meta)
    r2 = run([items, times], {"k": 2})
    assert r2.ok
    # the corrupted list was computed again (not read back wrong, nor skipped) ...
    assert CALLS == ["items", "items"]
    assert r2.states["items"] == State.SUCCEEDED
    # ... and every instance mapped over the recomputed items
    assert sorted(r2.output(k) for k in r2.node_keys["times"]) == [i * 2 for i in range(500)]


def test_recovery_when_the_upstream_input_is_not_checkpointed(project):
    @task(checkpoint=False)
    def raw():
        return list(range(500))

    @task
    def mid(raw):
        return [x * 2 for x in raw]

    @task
    def down(mid, k: int = 1):
        return sum(mid) * k

    r1 = run([raw, mid, down])
    corrupt(project, r1.tasks["mid"].meta)
    r2 = run([raw, mid, down], {"k": 2})
    assert r2.ok and r2["down"] == sum(range(500)) * 4


# -- cancellation, pools, timeouts -------------------------------------------------------


def test_fail_fast_does_not_start_instances_blocked_on_a_pool(project):
    @task
    def items():
        return [1, 2, 3, 4]

    @task(map="items", pool="db")
    def work(items: int):
        if items == 1:
            raise RuntimeError("boom")
        return items

    ex = RecordingExecutor()
    p = Pipeline("ff", [items, work], pools={"db": 1}, fail_fast=True)
    r = datamill.run(p, handle_signals=False, executor=ex)
    assert r.state == State.FAILED
    first = r.node_keys["work"][0]
    assert [k for k in ex.submitted if k.startswith("work")] == [first]
    assert all(r.tasks[k].attempts == 0 for k in r.node_keys["work"][1:])


def test_cancel_does_not_start_instances_blocked_on_a_pool(project):
    @task
    def items():
        return [1, 2, 3]

    @task(map="items", pool="db")
    def work(items: int, ctx: datamill.Context = None):  # type: ignore[assignment]
        if not CALLS:
            CALLS.append("interrupt")
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 120  # the driver sees the signal, however busy
            while not ctx.cancelled and time.monotonic() < deadline:  # a property
                time.sleep(0.01)
        return items

    ex = RecordingExecutor()
    p = Pipeline("cx", [items, work], pools={"db": 1})
    r = datamill.run(p, executor=ex, handle_signals=True)
    assert r.state == State.CANCELLED
    assert len([k for k in ex.submitted if k.startswith("work")]) == 1


def test_timed_out_thread_does_not_starve_the_retry(project):
    release = threading.Event()
    finished: list[int] = []

    @task(timeout=0.2, retries=1, retry_delay=0)
    def hang():
        release.wait(60)
        finished.append(1)
        return 1

    try:
        r = run([hang], workers=1)
        # The run ended while both hung attempts were still blocked: the retry got a fresh
        # thread instead of waiting for the abandoned one (which would take 60 s).
        still_hung = not finished
    finally:
        release.set()
    assert r.tasks["hang"].attempts == 2
    assert still_hung


def test_retry_delay_releases_the_pool_slot(project):
    seen: list[str] = []

    @task(pool="db", retries=1, retry_delay=0.5, jitter=0)
    def flaky():
        seen.append("flaky")
        if seen.count("flaky") == 1:
            raise RuntimeError("transient")

    @task(pool="db")
    def other():
        seen.append("other")

    r = datamill.run(Pipeline("rp", [flaky, other], pools={"db": 1}), handle_signals=False)
    assert r.ok
    assert seen == ["flaky", "other", "flaky"]


# -- --only ------------------------------------------------------------------------------


def test_only_does_not_use_a_partly_failed_mapped_upstream(project):
    fail = {"on": True}

    @task
    def items():
        return [1, 2, 3]

    @task(map="items")
    def sq(items: int):
        if items == 2 and fail["on"]:
            raise RuntimeError("x")
        return items * items

    @task
    def total(sq):
        return sum(sq)

    r1 = run([items, sq, total])
    assert r1.states["total"] == State.UPSTREAM_FAILED
    # the only earlier run has a partly failed `sq`: --only refuses instead of summing 1 + 9
    with pytest.raises(datamill.errors.UsageError, match="no complete checkpoint"):
        run([items, sq, total], only=["total"])


def test_only_keeps_item_order_of_a_mapped_upstream(project):
    @task
    def items():
        return [3, 1, 2, 5, 4]

    @task(map="items")
    def sq(items: int):
        return items * items

    @task
    def collect(sq):
        return list(sq)

    r1 = run([items, sq, collect])
    r2 = run([items, sq, collect], only=["collect"], force=["collect"])
    assert r1["collect"] == [9, 1, 4, 25, 16]
    assert r2["collect"] == r1["collect"]


# -- trigger rules and fan-out -----------------------------------------------------------


def test_none_failed_map_over_skipped_source(project):
    @task
    def items():
        raise Skip("nothing today")

    @task(map="items", trigger="none_failed")
    def each(items: int):
        return items

    r = run([items, each])
    assert r.ok and r.states["each"] in (State.SKIPPED, State.SUCCEEDED)


def test_all_done_map_over_failed_source_is_upstream_failed(project):
    @task
    def items():
        raise RuntimeError("x")

    @task(map="items", trigger="all_done")
    def each(items: int):
        return items

    r = run([items, each])
    assert r.states["each"] == State.UPSTREAM_FAILED


def test_no_phantom_instance_when_mapped_upstream_did_not_expand(project):
    @task
    def bad():
        raise RuntimeError("x")

    @task
    def items():
        return [1, 2]

    @task(map="items")
    def m1(items: int, bad):
        return items

    @task(map="m1")
    def m2(m1: int):
        return m1

    r = run([bad, items, m1, m2])
    assert "m2[None]" not in r.tasks


def test_mapped_over_mapped_with_skip_and_failure(project):
    """Pinned: per-item skip/failure propagate element-wise; all_done collects survivors."""

    @task
    def items():
        return [1, 2, 3, 4]

    @task(map="items")
    def m1(items: int):
        if items == 2:
            raise Skip("no")
        if items == 3:
            raise RuntimeError("x")
        return items

    @task(map="m1")
    def m2(m1: int):
        return m1 * 10

    @task(trigger="all_done")
    def collect(m2):
        return sorted(m2)

    r = run([items, m1, m2, collect])
    states = [r.tasks[k].state for k in r.node_keys["m2"]]
    assert states == [State.SUCCEEDED, State.SKIPPED, State.UPSTREAM_FAILED, State.SUCCEEDED]
    assert r["collect"] == [10, 40]


def test_process_task_fed_by_uncheckpointed_thread_task(project):
    """Pinned: checkpoint=False outputs travel by value into and out of process tasks."""

    @task(checkpoint=False)
    def a():
        return {"x": 1}

    @task(run_in="process")
    def b(a):
        return a["x"] + 1

    @task(run_in="process", checkpoint=False)
    def c(b):
        return None if b != 2 else b + 1

    @task
    def d(c):
        return c + 1

    r = run([a, b, c, d])
    assert r.ok and r["d"] == 4


def test_changed_dataframe_item_is_not_served_from_cache(project):
    state = {"v": 0}

    @task(serializer="pickle")
    def chunks():
        df = pd.DataFrame({"x": range(1000)})
        df.loc[500, "x"] = state["v"]
        return [df]

    @task(map="chunks")
    def total(chunks):
        return int(chunks.x.sum())

    r1 = run([chunks, total])
    state["v"] = 10**6
    r2 = run([chunks, total])
    k1, k2 = r1.node_keys["total"][0], r2.node_keys["total"][0]
    assert r2[k2] == r1[k1] + 10**6  # today: CACHED, the old sum


# -- parameters --------------------------------------------------------------------------


def test_resume_with_timedelta_parameter(project):
    @task
    def wait(every: dt.timedelta = dt.timedelta(minutes=5), fail: bool = True):
        if fail:
            raise RuntimeError("boom")
        return every.total_seconds()

    p = Pipeline("td", [wait])
    r1 = datamill.run(p, handle_signals=False)
    assert not r1.ok
    r2 = datamill.resume(r1.run_id, {"fail": False}, pipeline=p, handle_signals=False)
    assert r2.ok and r2["wait"] == 300.0


def test_resume_keeps_list_of_dates_as_dates(project):
    @task
    def days(ds: list[dt.date] = [dt.date(2024, 1, 1)], fail: bool = True):  # noqa: B006
        if fail:
            raise RuntimeError("boom")
        return [d.month for d in ds]

    p = Pipeline("dates", [days])
    r1 = datamill.run(p, {"ds": "2024-01-01,2024-02-01"}, params_from_strings=True,
                      handle_signals=False)
    assert not r1.ok
    r2 = datamill.resume(r1.run_id, {"fail": "false"}, pipeline=p, handle_signals=False)
    assert r2.ok, r2.tasks["days"].error  # AttributeError: 'str' object has no attribute 'month'
    assert r2["days"] == [1, 2]


def test_list_of_dates_given_as_strings_is_coerced(project):
    @task
    def days(ds: list[dt.date] = [dt.date(2024, 1, 1)]):  # noqa: B006
        return [d.month for d in ds]

    r = run([days], {"ds": ["2024-03-01"]})
    assert r.ok and r["days"] == [3], r.tasks["days"].error


def test_literal_parameter(project):
    @task
    def pick(mode: Literal["fast", "slow"] = "fast"):
        return mode

    r = run([pick], {"mode": "slow"})
    assert r.ok and r["pick"] == "slow"


def test_shared_parameter_with_equivalent_annotations(project):
    @task
    def a(limit: typing.Optional[int] = None):  # noqa: UP045
        return limit

    @task
    def b(limit: int | None = None):
        return limit

    r = run([a, b], {"limit": 3})
    assert r.ok and r["a"] == r["b"] == 3
