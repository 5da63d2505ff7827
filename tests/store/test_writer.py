"""StoreWriter: batched background writes, flush semantics, errors surfaced, heartbeats."""

from __future__ import annotations

import time

import pytest

from datamill.errors import StoreError
from datamill.store.records import (
    AttemptRecord,
    LineageRecord,
    MetricRecord,
    RunRecord,
    State,
    TaskRunRecord,
)
from datamill.store.runstore import RunStore
from datamill.store.writer import StoreWriter


class count_commits:  # noqa: N801 - reads like the function it replaced
    """The write transactions the store's backend commits from now on (``commits[0]``)."""

    def __init__(self, store: RunStore):
        self._db, self._start = store._db, store._db.commits

    def __getitem__(self, i: int) -> int:
        return self._db.commits - self._start


def test_flush_commits_everything_put(store: RunStore) -> None:
    store.create_run(RunRecord("r", "p", state=State.RUNNING))
    with StoreWriter(store) as w:
        for i in range(50):
            w.put_task_run(TaskRunRecord("r", f"t{i}", "t", State.RUNNING))
            w.put_attempt(AttemptRecord("r", f"t{i}", 1, State.RUNNING))
        for i in range(50):
            w.put_task_run(
                TaskRunRecord("r", f"t{i}", "t", State.SUCCEEDED, rows_out=i, attempts=1)
            )
            w.put_attempt(AttemptRecord("r", f"t{i}", 1, State.SUCCEEDED, duration_s=0.1))
        w.put_lineage(LineageRecord("r", "t1", "ds", "output", rows=5))
        w.put_metric(MetricRecord("r", "rows", 5.0, task_key="t1"))
        w.put_state("wm", "sales", {"at": "2024-05-01"}, run_id="r")
        w.put_state("wm", "sales", {"at": "2024-05-02"}, run_id="r")
        w.flush()
        tasks = store.task_runs("r")
        assert len(tasks) == 50 and {t.state for t in tasks} == {State.SUCCEEDED}
        assert sorted(t.rows_out for t in tasks) == list(range(50))
        assert {a.state for a in store.attempts("r")} == {State.SUCCEEDED}
        assert len(store.attempts("r")) == 50
        assert [(e.dataset, e.rows) for e in store.lineage(run_id="r")] == [("ds", 5)]
        assert [(m.name, m.value) for m in store.metrics("r")] == [("rows", 5.0)]
        assert store.get_state("wm", "sales") == {"at": "2024-05-02"}
        assert w.pending == 0


def test_a_batch_is_one_transaction(store: RunStore) -> None:
    store.create_run(RunRecord("r", "p"))
    commits = count_commits(store)
    w = StoreWriter(store, flush_interval=30)  # nothing is written until flush()
    try:
        for i in range(300):
            w.put_task_run(TaskRunRecord("r", f"t{i}", "t"))
            w.put_attempt(AttemptRecord("r", f"t{i}", 1))
        w.put_metric(MetricRecord("r", "m", 1.0))
        assert store.task_runs("r") == []  # put() only queues
        before = commits[0]
        w.flush()
        assert commits[0] - before == 1
        assert len(store.task_runs("r")) == 300
    finally:
        w.close()


def test_max_batch_splits_transactions(store: RunStore) -> None:
    store.create_run(RunRecord("r", "p"))
    commits = count_commits(store)
    w = StoreWriter(store, flush_interval=30, max_batch=100)
    try:
        for i in range(250):
            w.put_task_run(TaskRunRecord("r", f"t{i}", "t"))
        w.flush()
        assert len(store.task_runs("r")) == 250
        assert commits[0] == 3
    finally:
        w.close()


def test_errors_surface_on_next_flush_and_writer_keeps_going(store: RunStore) -> None:
    store.create_run(RunRecord("r", "p"))
    w = StoreWriter(store)
    try:
        w.put_task_run(TaskRunRecord("missing-run", "t", "t"))  # foreign key violation
        with pytest.raises(StoreError, match="could not save 1 writes"):
            w.flush()
        w.flush()  # the error was reported once
        w.put_task_run(TaskRunRecord("r", "ok", "t", State.SUCCEEDED))
        w.flush()
        assert [t.task_key for t in store.task_runs("r")] == ["ok"]
        with pytest.raises(StoreError, match="direction 'upwards'"):
            w.put_lineage(LineageRecord("r", "t", "ds", "upwards"))
        w.put_metric(MetricRecord("ghost", "m", 1.0))
    finally:
        with pytest.raises(StoreError, match="FOREIGN KEY|foreign key"):
            w.close()
    with pytest.raises(StoreError, match="writer is closed"):
        w.put_task_run(TaskRunRecord("r", "late", "t"))
    w.close()  # closing twice is harmless


def test_a_bad_record_loses_only_itself(store: RunStore) -> None:
    store.create_run(RunRecord("r", "p"))
    w = StoreWriter(store, flush_interval=30)
    try:
        for i in range(10):
            w.put_task_run(TaskRunRecord("r", f"t{i}", "t", State.SUCCEEDED))
            w.put_attempt(AttemptRecord("r", f"t{i}", 1, State.SUCCEEDED))
        w.put_task_run(TaskRunRecord("ghost-run", "bad", "t"))
        w.put_state("ns", "k", 1)
        with pytest.raises(StoreError, match="could not save 1 writes"):
            w.flush()
        assert len(store.task_runs("r")) == 10 and len(store.attempts("r")) == 10
        assert store.get_state("ns", "k") == 1
    finally:
        w.close()


def test_heartbeats_while_running(store: RunStore) -> None:
    store.create_run(RunRecord("r", "p", state=State.RUNNING))
    first = store.get_run("r").heartbeat_at
    w = StoreWriter(store, heartbeat_interval=0.05)
    try:
        w.heartbeat("r")  # starts beating: once now, then every interval
        deadline = time.monotonic() + 5
        while store.get_run("r").heartbeat_at == first and time.monotonic() < deadline:
            time.sleep(0.02)
        beat1 = store.get_run("r").heartbeat_at
        assert beat1 > first
        time.sleep(0.2)
        beat2 = store.get_run("r").heartbeat_at
        assert beat2 > beat1  # still beating
        w.stop_heartbeat("r")
        w.flush()
        stopped = store.get_run("r").heartbeat_at
        time.sleep(0.2)
        w.flush()
        assert store.get_run("r").heartbeat_at == stopped
    finally:
        w.close()


def test_heartbeat_does_not_revive_a_finished_run(store: RunStore) -> None:
    store.create_run(RunRecord("r", "p", state=State.RUNNING))
    w = StoreWriter(store, heartbeat_interval=0.02)
    try:
        w.heartbeat("r")
        w.flush()
        store.finish_run("r", State.SUCCEEDED)  # the run loop may finish before closing
        time.sleep(0.1)
        w.flush()
        run = store.get_run("r")
        assert run.state is State.SUCCEEDED and not store.is_alive(run)
    finally:
        w.close()
    with pytest.raises(StoreError, match="writer is closed"):
        w.heartbeat("r")


def test_default_heartbeat_interval_comes_from_the_store(store: RunStore) -> None:
    with StoreWriter(store) as w:
        assert w.heartbeat_interval == RunStore.HEARTBEAT_INTERVAL == 5.0
