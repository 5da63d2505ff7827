"""The run store under concurrency: claim races, two writer processes, first-open races, kill -9."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from datamill.errors import RunLockedError
from datamill.store import schema
from datamill.store.records import AttemptRecord, RunRecord, State, TaskRunRecord, utcnow
from datamill.store.runstore import RunStore
from datamill.store.writer import StoreWriter

# Forked workers start in milliseconds; each opens its own RunStore, as a second process would.
mp = multiprocessing.get_context("fork")


def stale_run(store: RunStore, run_id: str) -> None:
    """A run that was running but stopped heartbeating long ago (its process crashed)."""
    old = utcnow() - timedelta(seconds=store.stale_after + 60)
    store.create_run(
        RunRecord(run_id, "p", state=State.RUNNING, host="old", pid=1, heartbeat_at=old)
    )


def test_claim_race_between_threads(store: RunStore) -> None:
    stale_run(store, "r")
    n = 8
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def claim(i: int) -> None:
        barrier.wait()
        try:
            results[i] = store.claim_run("r", "host", 1000 + i)
        except RunLockedError as exc:
            results[i] = exc

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    winners = [r for r in results if isinstance(r, RunRecord)]
    losers = [r for r in results if isinstance(r, RunLockedError)]
    assert len(winners) == 1 and len(losers) == n - 1, results
    assert store.get_run("r").pid == winners[0].pid
    assert all("is still running" in str(e) for e in losers)


def _claim_worker(url: str, barrier, results, pid: int) -> None:
    store = RunStore.open(url)
    try:
        barrier.wait()
        try:
            store.claim_run("r", f"host{pid}", pid)
            results.put(("won", pid))
        except RunLockedError:
            results.put(("locked", pid))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        store.close()


def test_claim_race_between_processes(store: RunStore) -> None:
    stale_run(store, "r")
    n = 4
    barrier, results = mp.Barrier(n), mp.Queue()
    procs = [
        mp.Process(target=_claim_worker, args=(store.url, barrier, results, 500 + i))
        for i in range(n)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert sorted(o[0] for o in outcomes).count("won") == 1, outcomes
    assert sorted(o[0] for o in outcomes).count("locked") == n - 1, outcomes
    winner = next(o[1] for o in outcomes if o[0] == "won")
    assert store.get_run("r").pid == winner


def _write_worker(url: str, barrier, results, name: str, n: int) -> None:
    try:
        store = RunStore.open(url)
        store.create_run(RunRecord(f"run-{name}", "p", state=State.RUNNING))
        barrier.wait()
        batched = n * 4 // 5
        # Most through the batching writer (small batches, many transactions) ...
        with StoreWriter(store, flush_interval=0.001, max_batch=20, heartbeat_interval=0.01) as w:
            w.heartbeat(f"run-{name}")
            for i in range(batched):
                for run_id in ("shared", f"run-{name}"):
                    w.put_task_run(TaskRunRecord(run_id, f"{name}-{i}", "t", State.SUCCEEDED))
                    w.put_attempt(AttemptRecord(run_id, f"{name}-{i}", 1, State.SUCCEEDED))
                w.put_state("shared", "counter", i, run_id=f"run-{name}")
        # ... the rest as one small transaction each, the worst case for lock contention.
        for i in range(batched, n):
            store.upsert_task_runs([TaskRunRecord("shared", f"{name}-{i}", "t", State.SUCCEEDED)])
            store.add_attempts([AttemptRecord("shared", f"{name}-{i}", 1, State.SUCCEEDED)])
            store.set_state("shared", "last", name)
        store.close()
        results.put(("ok", name))
    except Exception as exc:
        results.put(("error", f"{name}: {exc!r}"))


def test_two_processes_write_at_once(store: RunStore) -> None:
    store.create_run(RunRecord("shared", "p", state=State.RUNNING))
    n = 500
    barrier, results = mp.Barrier(2), mp.Queue()
    procs = [
        mp.Process(target=_write_worker, args=(store.url, barrier, results, name, n))
        for name in "ab"
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert sorted(outcomes) == [("ok", "a"), ("ok", "b")], outcomes

    assert len(store.task_runs("shared")) == 2 * n
    assert len(store.attempts("shared")) == 2 * n
    for name in "ab":
        assert len(store.task_runs(f"run-{name}")) == n * 4 // 5
        assert len(store.attempts(f"run-{name}")) == n * 4 // 5
    assert store.get_state("shared", "counter") == n * 4 // 5 - 1
    assert store.get_state("shared", "last") in ("a", "b")
    if store.dialect == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]


def _open_worker(url: str, barrier, results) -> None:
    try:
        barrier.wait()
        store = RunStore.open(url)
        store.close()
        results.put("ok")
    except Exception as exc:
        results.put(repr(exc))


def test_first_open_races_migrate_once(store_url: str) -> None:
    n = 3
    barrier, results = mp.Barrier(n), mp.Queue()
    procs = [mp.Process(target=_open_worker, args=(store_url, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert outcomes == ["ok"] * n
    with RunStore.open(store_url) as store, store.engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        assert versions == [schema.SCHEMA_REVISION]


HEARTBEATING_RUN = textwrap.dedent(
    """
    import sys, time
    from datamill.store.records import RunRecord, State
    from datamill.store.runstore import RunStore
    from datamill.store.writer import StoreWriter
    store = RunStore.open(sys.argv[1])
    store.create_run(RunRecord("victim", "p", state=State.RUNNING, host="h", pid=1))
    w = StoreWriter(store, heartbeat_interval=0.1)
    w.heartbeat("victim")
    print("ready", flush=True)
    time.sleep(120)
    """
)


def test_killed_run_stops_being_alive(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DATAMILL_HEARTBEAT_STALE", "1.0")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = RunStore.open(url)
    child = subprocess.Popen(
        [sys.executable, "-c", HEARTBEATING_RUN, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        time.sleep(1.3)  # longer than stale_after: only the heartbeats keep it alive
        assert store.is_alive(store.get_run("victim"))
        with pytest.raises(RunLockedError):
            store.claim_run("victim", "me", os.getpid())
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        time.sleep(1.3)
        run = store.get_run("victim")
        assert run.state is State.RUNNING and not store.is_alive(run)
        claimed = store.claim_run("victim", "me", os.getpid())
        assert claimed.pid == os.getpid() and store.is_alive(claimed)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        store.close()
