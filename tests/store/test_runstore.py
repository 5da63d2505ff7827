"""The run store on SQLite and PostgreSQL: each entity, lookups, liveness, gc, migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from datamill.errors import RunLockedError, RunNotFoundError, StoreError
from datamill.store import schema
from datamill.store.opening import make_backend
from datamill.store.records import (
    AttemptRecord,
    LineageRecord,
    MetricRecord,
    RunRecord,
    State,
    TaskRunRecord,
    utcnow,
)
from datamill.store.runstore import RunStore, resolve_url

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_run(run_id: str, pipeline: str = "sales", **kw) -> RunRecord:
    return RunRecord(run_id=run_id, pipeline=pipeline, **kw)


# --------------------------------------------------------------------------- state vocabulary


def test_state_vocabulary() -> None:
    assert [s.value for s in State] == [
        "pending",
        "running",
        "succeeded",
        "failed",
        "upstream_failed",
        "skipped",
        "cached",
        "cancelled",
    ]
    assert State.RUNNING not in State.terminal and State.PENDING not in State.terminal
    assert {State.SUCCEEDED, State.FAILED, State.CACHED, State.CANCELLED} <= State.terminal
    assert State.CACHED.is_done and not State.RUNNING.is_done
    assert State("failed") == "failed" and f"{State.SKIPPED}" == "skipped"


# --------------------------------------------------------------------------- opening


def test_open_default_is_sqlite_wal_under_project(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DATAMILL_STORE", raising=False)
    with RunStore.open(project_root=tmp_path) as store:
        assert store.dialect == "sqlite"
        assert (tmp_path / ".datamill" / "runs.db").is_file()
        with store._read() as tx:  # the store's own (sqlite3) connections
            pragma = {
                name: tx.scalar(f"PRAGMA {name}")
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        with store.engine.connect() as conn:  # and the SQLAlchemy engine for other layers
            pragma_sa = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    assert pragma == pragma_sa == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 30000,
        "foreign_keys": 1,
    }


def test_open_uses_env_url(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "elsewhere" / "store.db"
    monkeypatch.setenv("DATAMILL_STORE", f"sqlite:///{db}")
    with RunStore.open(project_root=tmp_path) as store:
        store.create_run(make_run("r1"))
    assert db.is_file() and not (tmp_path / ".datamill").exists()


def test_url_resolution_and_display(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("DATAMILL_STORE", raising=False)
    assert resolve_url("postgresql://u:pw@db:5432/runs") == "postgresql+psycopg://u:pw@db:5432/runs"
    assert resolve_url("postgres://u@db/runs") == "postgresql+psycopg://u@db/runs"
    assert resolve_url("postgresql+psycopg://u@db/runs") == "postgresql+psycopg://u@db/runs"
    assert resolve_url("my.db", tmp_path) == f"sqlite:///{tmp_path.resolve() / 'my.db'}"
    assert resolve_url(None, tmp_path).endswith("/.datamill/runs.db")
    url = "postgresql+psycopg://u:s3cret@db/runs"
    store = RunStore(make_backend(url), url)
    assert "s3cret" not in store.url_display and "***" in store.url_display
    assert store.dialect == "postgresql"


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "sqlite://", "sqlite:///:memory:", "post gres://x"]
)
def test_unusable_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="run store"):
        RunStore.open(url, project_root=tmp_path)


# --------------------------------------------------------------------------- runs


def test_run_roundtrip(store: RunStore) -> None:
    run = make_run(
        "20240501-abc123",
        params={"region": "eu", "limit": 10, "nested": {"a": [1, 2]}},
        state=State.RUNNING,
        trigger="cron",
        parent_run_id="20240430-fff000",
        created_at=T0,
        host="box",
        pid=4242,
        project="demo",
    )
    store.create_run(run)
    got = store.get_run("20240501-abc123")
    assert got.params == {"region": "eu", "limit": 10, "nested": {"a": [1, 2]}}
    assert got.state is State.RUNNING
    assert (got.trigger, got.parent_run_id, got.host, got.pid, got.project) == (
        "cron",
        "20240430-fff000",
        "box",
        4242,
        "demo",
    )
    assert got.created_at == T0 and got.created_at.tzinfo is not None
    assert got.started_at == T0  # a run created running has started
    assert got.heartbeat_at is not None and got.heartbeat_at.utcoffset() == timedelta(0)
    assert got.ended_at is None and got.error is None

    store.finish_run(run.run_id, State.FAILED, error="task 'load' failed: boom")
    done = store.get_run(run.run_id)
    assert done.state is State.FAILED and done.error == "task 'load' failed: boom"
    assert done.ended_at is not None and done.ended_at >= done.started_at


def test_timestamps_are_stored_as_utc(store: RunStore) -> None:
    plus2 = datetime(2024, 5, 1, 14, 0, tzinfo=UTC).astimezone(
        __import__("datetime").timezone(timedelta(hours=2))
    )
    store.create_run(make_run("tz", created_at=plus2))
    got = store.get_run("tz").created_at
    assert got == datetime(2024, 5, 1, 14, 0, tzinfo=UTC) and got.tzinfo == UTC


def test_duplicate_run_and_bad_finish(store: RunStore) -> None:
    store.create_run(make_run("dup"))
    with pytest.raises(StoreError, match="'dup' already exists"):
        store.create_run(make_run("dup"))
    with pytest.raises(StoreError, match="cannot finish as 'running'"):
        store.finish_run("dup", State.RUNNING)
    with pytest.raises(StoreError, match="unknown state 'exploded'"):
        store.finish_run("dup", "exploded")
    with pytest.raises(RunNotFoundError, match="no run 'ghost'"):
        store.finish_run("ghost", State.SUCCEEDED)


def test_get_run_by_prefix(store: RunStore) -> None:
    for rid in ("abc111", "abc222", "abd333", "ab"):
        store.create_run(make_run(rid))
    assert store.get_run("abd").run_id == "abd333"
    assert store.get_run("abc1").run_id == "abc111"
    assert store.get_run("ab").run_id == "ab"  # an exact id wins over being a prefix
    with pytest.raises(RunNotFoundError) as err:
        store.get_run("abc")
    assert (
        "ambiguous" in str(err.value) and "abc111" in str(err.value) and "abc222" in str(err.value)
    )
    with pytest.raises(RunNotFoundError, match="no run 'zzz'"):
        store.get_run("zzz")
    with pytest.raises(RunNotFoundError, match="no run 'ABD'"):
        store.get_run("ABD")  # prefixes are case-sensitive on SQLite too
    with pytest.raises(RunNotFoundError, match="no run 'a_c'"):
        store.get_run("a_c")  # LIKE wildcards are escaped
    with pytest.raises(RunNotFoundError):
        store.get_run("")


def test_list_runs_newest_first_with_filters(store: RunStore) -> None:
    for i in range(5):
        store.create_run(make_run(f"s{i}", "sales", created_at=T0 + timedelta(minutes=i)))
    store.create_run(make_run("h0", "hr", created_at=T0 + timedelta(minutes=10)))
    store.finish_run("s3", State.SUCCEEDED)
    store.finish_run("s1", State.SUCCEEDED)
    assert [r.run_id for r in store.list_runs()] == ["h0", "s4", "s3", "s2", "s1", "s0"]
    assert [r.run_id for r in store.list_runs(pipeline="sales", limit=2)] == ["s4", "s3"]
    assert [r.run_id for r in store.list_runs(state="succeeded")] == ["s3", "s1"]
    assert [r.run_id for r in store.list_runs(pipeline="hr", state=State.PENDING)] == ["h0"]
    assert store.list_runs(pipeline="nope") == []


# --------------------------------------------------------------------------- liveness & claim


def test_heartbeat_and_is_alive(store: RunStore) -> None:
    store.create_run(make_run("live", state=State.RUNNING, host="h", pid=1))
    run = store.get_run("live")
    assert store.is_alive(run)
    later = run.heartbeat_at + timedelta(seconds=store.STALE_AFTER + 1)
    assert not store.is_alive(run, now=later)
    assert store.is_alive(run, now=run.heartbeat_at + timedelta(seconds=store.STALE_AFTER - 1))

    before = run.heartbeat_at
    assert store.heartbeat("live") is True
    assert store.get_run("live").heartbeat_at > before

    store.finish_run("live", State.SUCCEEDED)
    assert store.heartbeat("live") is False  # a finished run is not revived by a heartbeat
    assert not store.is_alive(store.get_run("live"))
    assert store.heartbeat("ghost") is False


def test_stale_after_env_override(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DATAMILL_HEARTBEAT_STALE", "0.5")
    with RunStore.open(project_root=tmp_path) as store:
        assert store.stale_after == 0.5 and RunStore.STALE_AFTER == 30.0
        store.create_run(make_run("r", state=State.RUNNING))
        run = store.get_run("r")
        assert not store.is_alive(run, now=run.heartbeat_at + timedelta(seconds=0.6))


def test_claim_refuses_alive_run(store: RunStore) -> None:
    store.create_run(make_run("busy", state=State.RUNNING, host="hostA", pid=77))
    with pytest.raises(RunLockedError) as err:
        store.claim_run("busy", "hostB", 88)
    msg = str(err.value)
    assert msg.startswith("run busy is still running (pid 77 on host hostA, heartbeat ")
    assert msg.endswith("s ago); wait or stop it first")
    assert store.get_run("busy").pid == 77


def test_claim_takes_over_dead_or_finished_run(store: RunStore) -> None:
    old = utcnow() - timedelta(seconds=store.stale_after + 60)
    store.create_run(make_run("dead", state=State.RUNNING, host="a", pid=1, heartbeat_at=old))
    claimed = store.claim_run("dead", "b", 2)
    assert (claimed.state, claimed.host, claimed.pid) == (State.RUNNING, "b", 2)
    assert claimed.heartbeat_at > old and store.is_alive(claimed)
    with pytest.raises(RunLockedError, match="pid 2 on host b"):
        store.claim_run("dead", "c", 3)

    store.create_run(make_run("failed", state=State.RUNNING, host="a", pid=1))
    store.finish_run("failed", State.FAILED, error="boom")
    resumed = store.claim_run("failed", "c", 3)
    assert resumed.state is State.RUNNING and resumed.error is None and resumed.ended_at is None
    with pytest.raises(RunNotFoundError):
        store.claim_run("ghost", "c", 3)


def test_claim_refuses_a_run_that_succeeded(store: RunStore) -> None:
    """Two resumes raced: the first claimed and finished the run; the second must not
    reopen it (the state is checked in the claim's own transaction)."""
    from datamill.errors import UsageError

    store.create_run(make_run("r", state=State.RUNNING, host="a", pid=1))
    store.finish_run("r", State.FAILED, error="boom")
    store.claim_run("r", "b", 2)  # the first resumer
    store.finish_run("r", State.SUCCEEDED)
    with pytest.raises(UsageError, match="run r succeeded; only a failed, cancelled or interrupted"):
        store.claim_run("r", "c", 3)  # the second one, late
    assert store.get_run("r").state is State.SUCCEEDED and store.get_run("r").pid == 2
    store.create_run(make_run("never", state=State.PENDING))
    with pytest.raises(UsageError, match="run never pending"):
        store.claim_run("never", "c", 3)


def test_claim_sets_trigger_and_driver_token(store: RunStore) -> None:
    import os

    from datamill.store import liveness

    store.create_run(make_run("r", state=State.RUNNING, host="a", pid=1, trigger="manual"))
    store.finish_run("r", State.CANCELLED)
    run = store.claim_run("r", liveness.hostname(), os.getpid(), trigger="resume")
    assert run.trigger == "resume"
    assert run.pid_start == liveness.start_token(os.getpid()) is not None


def _dead_pid() -> int:
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_dead_driver_on_this_host_is_not_alive(store: RunStore) -> None:
    """A fresh heartbeat does not keep a run alive when its driver process, on this host,
    is gone (or its pid now belongs to another process): resume at once."""
    import os

    from datamill.store import liveness

    me = liveness.hostname()
    dead = _dead_pid()
    store.create_run(make_run("gone", state=State.RUNNING, host=me, pid=dead,
                              pid_start=liveness.start_token(os.getpid())))
    assert not store.is_alive(store.get_run("gone"))
    assert store.claim_run("gone", me, os.getpid()).pid == os.getpid()

    # pid reuse: the pid runs, but it is another process (another start time)
    mine = liveness.start_token(os.getpid())
    reused = mine.rsplit("/", 1)[0] + "/1"
    store.create_run(make_run("reused", state=State.RUNNING, host=me, pid=os.getpid(),
                              pid_start=reused))
    assert not store.is_alive(store.get_run("reused"))

    # the same process: alive; another host: the heartbeat rule
    store.create_run(make_run("live", state=State.RUNNING, host=me, pid=os.getpid(),
                              pid_start=mine))
    assert store.is_alive(store.get_run("live"))
    store.create_run(make_run("far", state=State.RUNNING, host=me + "-elsewhere", pid=dead,
                              pid_start=mine))
    assert store.is_alive(store.get_run("far"))
    with pytest.raises(RunLockedError):
        store.claim_run("far", me, os.getpid())


def test_liveness_tokens() -> None:
    import os

    from datamill.store import liveness

    tok = liveness.start_token(os.getpid())
    assert tok and liveness.start_token(os.getpid()) == tok
    assert liveness.process_gone(os.getpid(), tok) is False
    assert liveness.process_gone(_dead_pid(), tok) is True
    assert liveness.process_gone(os.getpid(), "other-boot/ns/1") is None  # cannot judge
    assert liveness.process_gone(None, tok) is None
    wid = liveness.worker_id(os.getpid())
    assert liveness.parse_worker_id(wid) == (liveness.hostname(), os.getpid(), tok)
    assert liveness.parse_worker_id("nonsense") is None


def test_0001_store_upgrades_to_current_with_data(store_url: str, tmp_path: Path) -> None:
    """A store written by the previous release (0001) gains the 0002 columns, rows kept."""
    from datamill.store import migrations

    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        migrations.upgrade(conn, "0001")
        conn.execute(sa.text("INSERT INTO runs (run_id, pipeline, state, trigger, created_at) "
                             "VALUES ('old', 'sales', 'failed', 'manual', :t)"), {"t": T0})
    engine.dispose()
    with RunStore.open(store_url, project_root=tmp_path) as store:
        old = store.get_run("old")
        assert old.state is State.FAILED and old.options is None and old.pid_start is None
        store.create_run(make_run("new", options={"force": ["a"]}))
        assert store.get_run("new").options == {"force": ["a"]}


# --------------------------------------------------------------------------- task runs & co


def test_task_runs_upsert_roundtrip(store: RunStore) -> None:
    store.create_run(make_run("r"))
    full = TaskRunRecord(
        run_id="r",
        task_key="load[3fa9c1]",
        task="load",
        state=State.SUCCEEDED,
        map_key="3fa9c1",
        fingerprint="f" * 64,
        data_version="d" * 32,
        checkpoint="file:///ck/load/3fa9c1.parquet",
        type_tag="pandas.DataFrame",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=2),
        duration_s=2.0,
        attempts=2,
        rows_in=10_000_000_000,
        rows_out=9,
        bytes=1234,
        error=None,
        traceback=None,
        cached_from_run="prev",
    )
    store.upsert_task_runs(
        [TaskRunRecord("r", "clean", "clean", State.RUNNING, started_at=T0 - timedelta(1))]
    )
    store.upsert_task_runs([full])
    assert store.task_runs("r") == [
        TaskRunRecord("r", "clean", "clean", State.RUNNING, started_at=T0 - timedelta(1)),
        full,
    ]
    # Update in place, and collapse duplicates within one call to the last.
    store.upsert_task_runs(
        [
            TaskRunRecord("r", "clean", "clean", State.FAILED, error="x"),
            TaskRunRecord("r", "clean", "clean", State.SUCCEEDED, attempts=3, started_at=T0),
        ]
    )
    clean = [t for t in store.task_runs("r") if t.task_key == "clean"]
    assert len(clean) == 1 and clean[0].state is State.SUCCEEDED and clean[0].error is None
    assert clean[0].attempts == 3
    assert store.task_runs("other") == []


def test_task_run_needs_its_run(store: RunStore) -> None:
    with pytest.raises(StoreError, match="cannot write to the run store"):
        store.upsert_task_runs([TaskRunRecord("no-such-run", "t", "t")])


def test_attempts(store: RunStore) -> None:
    store.create_run(make_run("r"))
    store.add_attempts(
        [
            AttemptRecord("r", "load", 1, State.FAILED, T0, T0, 0.5, "Timeout", "tb...", "/logs/1"),
            AttemptRecord("r", "load", 2, State.RUNNING, T0),
            AttemptRecord("r", "clean", 1, State.SUCCEEDED, T0),
        ]
    )
    store.add_attempts([AttemptRecord("r", "load", 2, State.SUCCEEDED, T0, T0, 1.5)])
    got = store.attempts("r")
    assert [(a.task_key, a.attempt, a.state) for a in got] == [
        ("clean", 1, State.SUCCEEDED),
        ("load", 1, State.FAILED),
        ("load", 2, State.SUCCEEDED),
    ]
    assert got[1] == AttemptRecord(
        "r", "load", 1, State.FAILED, T0, T0, 0.5, "Timeout", "tb...", "/logs/1"
    )
    assert [a.attempt for a in store.attempts("r", task_key="load")] == [1, 2]


def test_lineage(store: RunStore) -> None:
    store.create_run(make_run("r1"))
    store.create_run(make_run("r2"))
    schema_json = {"fields": [{"name": "id", "type": "int64"}]}
    store.add_lineage(
        [
            LineageRecord("r1", "extract", "s3://raw/sales.csv", "input", rows=10, recorded_at=T0),
            LineageRecord(
                "r1", "load", "warehouse.sales", "output", schema_json, 9, T0 + timedelta(1)
            ),
        ]
    )
    store.add_lineage([LineageRecord("r2", "load", "warehouse.sales", "output", rows=12)])
    edges = store.lineage(dataset="warehouse.sales")
    assert [(e.run_id, e.rows) for e in edges] == [("r1", 9), ("r2", 12)]
    assert edges[0].schema == schema_json and edges[0].id is not None
    assert [e.dataset for e in store.lineage(run_id="r1")] == [
        "s3://raw/sales.csv",
        "warehouse.sales",
    ]
    assert len(store.lineage(dataset="warehouse.sales", run_id="r2")) == 1
    assert len(store.lineage()) == 3
    with pytest.raises(StoreError, match="direction 'sideways'; use 'input' or 'output'"):
        store.add_lineage([LineageRecord("r1", "x", "d", "sideways")])


def test_metrics(store: RunStore) -> None:
    store.create_run(make_run("r"))
    store.add_metrics(
        [
            MetricRecord(
                "r",
                "rows_rejected",
                3,
                task_key="clean",
                labels={"rule": "not_null"},
                recorded_at=T0,
            ),
            MetricRecord("r", "duration_s", 1.25, recorded_at=T0 + timedelta(seconds=1)),
        ]
    )
    got = store.metrics("r")
    assert [(m.name, m.value, m.task_key, m.labels) for m in got] == [
        ("rows_rejected", 3.0, "clean", {"rule": "not_null"}),
        ("duration_s", 1.25, None, None),
    ]
    assert store.metrics("other") == []


def test_saved_state(store: RunStore) -> None:
    assert store.get_state("kafka", "orders/0") is None
    assert store.get_state("kafka", "orders/0", default=-1) == -1
    store.set_state("kafka", "orders/0", 41)
    store.set_state("kafka", "orders/0", 42, run_id="r9")
    store.set_state("kafka", "orders/1", {"offset": 7, "ts": "2024-05-01"})
    store.set_state("kafka", "nothing", None)
    store.set_state("watermarks", "sales", "2024-05-01T00:00:00Z")
    assert store.get_state("kafka", "orders/0") == 42
    assert store.get_state("kafka", "nothing", default="d") is None  # stored null is not missing
    assert store.state_items("kafka") == {
        "nothing": None,
        "orders/0": 42,
        "orders/1": {"offset": 7, "ts": "2024-05-01"},
    }
    assert store.state_items("watermarks") == {"sales": "2024-05-01T00:00:00Z"}
    assert store.state_items("empty") == {}


# --------------------------------------------------------------------------- garbage collection


def test_runs_to_gc_and_delete(store: RunStore) -> None:
    now = utcnow()
    for i in range(5):  # s0 oldest ... s4 newest
        store.create_run(make_run(f"s{i}", "sales", created_at=now - timedelta(days=10 - i)))
    for i in range(2):
        store.create_run(make_run(f"h{i}", "hr", created_at=now - timedelta(days=20 - i)))
    # An alive old run is never collected; a dead "running" one (crashed) is.
    store.create_run(
        make_run("alive", "sales", state=State.RUNNING, created_at=now - timedelta(days=30))
    )
    store.create_run(
        make_run(
            "crashed",
            "sales",
            state=State.RUNNING,
            created_at=now - timedelta(days=31),
            heartbeat_at=now - timedelta(days=31),
        )
    )

    assert store.runs_to_gc(None, None) == []
    assert store.runs_to_gc(keep_last=4, older_than=None, pipeline="sales") == ["crashed", "s0"]
    assert store.runs_to_gc(keep_last=1, older_than=None) == [
        "crashed",
        "h0",
        "s0",
        "s1",
        "s2",
        "s3",
    ]
    assert store.runs_to_gc(None, older_than=now - timedelta(days=8.5)) == [
        "crashed",
        "h0",
        "h1",
        "s0",
        "s1",
    ]
    assert store.runs_to_gc(keep_last=4, older_than=now - timedelta(days=15)) == ["crashed"]

    for rid in ("s0", "s4"):
        store.upsert_task_runs(
            [TaskRunRecord(rid, "t", "t", State.SUCCEEDED, checkpoint=f"ck/{rid}")]
        )
        store.add_attempts([AttemptRecord(rid, "t", 1, State.SUCCEEDED)])
        store.add_lineage([LineageRecord(rid, "t", "ds", "output")])
        store.add_metrics([MetricRecord(rid, "m", 1.0)])
    store.set_state("ns", "k", 1, run_id="s0")
    assert store.referenced_checkpoints() == {"ck/s0", "ck/s4"}

    assert store.delete_runs(["s0", "crashed", "ghost"]) == 2
    assert store.referenced_checkpoints() == {"ck/s4"}
    assert store.task_runs("s0") == [] and store.attempts("s0") == []
    assert store.lineage(run_id="s0") == [] and store.metrics("s0") == []
    assert len(store.lineage()) == 1 and len(store.metrics("s4")) == 1
    assert store.get_state("ns", "k") == 1  # saved state outlives its run
    with pytest.raises(RunNotFoundError):
        store.get_run("s0")
    assert store.delete_runs([]) == 0


def test_delete_many_runs(store: RunStore) -> None:
    ids = [f"r{i:04d}" for i in range(1200)]
    for i in range(0, len(ids), 300):
        with store.write() as conn:
            conn.execute(
                schema.runs.insert(),
                [
                    {
                        "run_id": r,
                        "pipeline": "p",
                        "state": "succeeded",
                        "trigger": "t",
                        "created_at": T0,
                    }
                    for r in ids[i : i + 300]
                ],
            )
    assert store.delete_runs(ids[:1100]) == 1100
    assert len(store.list_runs(limit=None)) == 100


# --------------------------------------------------------------------------- migrations


def test_schema_revision_is_the_migrations_head() -> None:
    from datamill.store import migrations

    assert schema.SCHEMA_REVISION == migrations.head_revision()


def test_migrated_database_matches_schema_module(store: RunStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, schema.metadata)
    assert diff == []


def test_reopen_is_a_noop(store_url: str, tmp_path: Path) -> None:
    with RunStore.open(store_url, project_root=tmp_path) as store:
        store.create_run(make_run("keep"))
    with RunStore.open(store_url, project_root=tmp_path) as store:
        with store.engine.connect() as conn:
            versions = (
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
            )
        assert versions == [schema.SCHEMA_REVISION]
        assert store.get_run("keep").pipeline == "sales"


OPEN_AND_REPORT = textwrap.dedent(
    """
    import sys
    from datamill.store.runstore import RunStore
    RunStore.open(sys.argv[1], project_root=sys.argv[2]).close()
    print(" ".join(m for m in ("alembic", "sqlalchemy") if m in sys.modules))
    """
)


def _open_in_subprocess(url: str, root: Path) -> set[str]:
    """Which of alembic and SQLAlchemy opening the store imported, in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", OPEN_AND_REPORT, url, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_import_does_not_import_alembic_or_sqlalchemy() -> None:
    code = ("import sys, datamill.store.runstore, datamill.store.writer, datamill.store.catalog, "
            "datamill.store.retention, datamill.store.schema; "
            "print(' '.join(m for m in ('alembic', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_opening_a_sqlite_store_imports_neither_alembic_nor_sqlalchemy(tmp_path: Path) -> None:
    """A new SQLite store is created from sqlite_head.sql, an up-to-date one costs one
    version read: neither imports alembic (~260 ms) or SQLAlchemy (~150 ms)."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    assert _open_in_subprocess(url, tmp_path) == set()  # new database
    assert _open_in_subprocess(url, tmp_path) == set()  # up to date


def test_an_older_sqlite_store_is_upgraded_by_alembic(tmp_path: Path) -> None:
    from datamill.store import migrations

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        migrations.upgrade(conn, "0001")
    engine.dispose()
    assert _open_in_subprocess(url, tmp_path) == {"alembic", "sqlalchemy"}
    assert _open_in_subprocess(url, tmp_path) == set()


def test_sqlite_head_sql_is_generated_from_the_migrations() -> None:
    """sqlite_head.sql is what the migration chain creates (regenerate it with
    `python -m datamill.store.migrations sqlite-head` after adding a revision)."""
    from datamill.store import migrations

    assert migrations.SQLITE_HEAD.read_text(encoding="utf-8") == migrations.sqlite_head_sql()
    assert migrations.SQLITE_HEAD.read_text().startswith(f"-- revision {schema.SCHEMA_REVISION}\n")


def test_a_bootstrapped_store_equals_a_migrated_one(tmp_path: Path) -> None:
    from datamill.store import migrations

    RunStore.open(f"sqlite:///{tmp_path / 'new.db'}").close()
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    with engine.begin() as conn:
        migrations.upgrade(conn, "head")
    engine.dispose()

    def ddl(name: str) -> tuple[set[str], list[str]]:
        with sqlite3.connect(tmp_path / name) as conn:
            got = {r[0] for r in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")}
            versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
        conn.close()
        return got, versions

    assert ddl("new.db") == ddl("migrated.db")


def test_sql_columns_mirror_the_schema_module() -> None:
    """The column lists the SQL is built from (the record dataclasses) are the tables'."""
    from datamill.store import sql

    for name, cols in sql.COLUMNS.items():
        table = schema.metadata.tables[name]
        assert set(cols) == {c.name for c in table.columns} and len(cols) == len(table.columns)
        assert sql.PRIMARY_KEYS[name] == tuple(c.name for c in table.primary_key.columns)
        for col in table.columns:
            kind = sql.KINDS[name].get(col.name)
            if isinstance(col.type, schema.UTCDateTime):
                assert kind == "datetime", (name, col.name)
            elif isinstance(col.type, schema.JSONDocument):
                assert kind == "json", (name, col.name)
            else:
                assert kind is None, (name, col.name)


def test_empty_database_file_is_initialised(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    sqlite3.connect(db).close()
    with RunStore.open(f"sqlite:///{db}") as store:
        store.create_run(make_run("r"))
        assert store.get_run("r").run_id == "r"


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    RunStore.open(url).close()
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="schema revision 9999, newer than this datamill knows"):
        RunStore.open(url)


REVISION_NEXT = """
import sqlalchemy as sa
from alembic import op

revision = "9002"
down_revision = "%s"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("experiments", sa.Column("name", sa.String(200), primary_key=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade():
    op.drop_table("experiments")
"""


def test_an_older_store_is_upgraded_on_open(store_url: str, tmp_path: Path, monkeypatch) -> None:
    """A store at the head opened by code expecting a newer revision is upgraded in place."""
    import shutil

    from datamill.store import migrations

    with RunStore.open(store_url, project_root=tmp_path) as store:
        store.create_run(make_run("before-upgrade"))

    scripts = tmp_path / "migrations"
    shutil.copytree(
        migrations.SCRIPT_LOCATION, scripts, ignore=shutil.ignore_patterns("__pycache__")
    )
    (scripts / "versions" / "9002_experiments.py").write_text(
        REVISION_NEXT % schema.SCHEMA_REVISION
    )
    monkeypatch.setattr(migrations, "SCRIPT_LOCATION", scripts)
    monkeypatch.setattr(schema, "SCHEMA_REVISION", "9002")

    with RunStore.open(store_url, project_root=tmp_path) as store:
        with store.engine.connect() as conn:
            assert (
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "9002"
            )
            assert sa.inspect(conn).has_table("experiments")
            assert "note" in {c["name"] for c in sa.inspect(conn).get_columns("runs")}
        assert store.get_run("before-upgrade").pipeline == "sales"


def test_closing_the_store_while_another_thread_writes_lets_that_write_finish(
        tmp_path: Path) -> None:
    """The engine closes the store when a run fails early while the store writer's thread
    may still be in a transaction; closing that connection under it crashed the sqlite3
    module (a segfault in a core-only install). Busy connections close when they end."""
    import threading

    store = RunStore.open(f"sqlite:///{tmp_path / 'runs.db'}")
    store.create_run(make_run("r1"))
    inside, closed, done = threading.Event(), threading.Event(), []

    def writer() -> None:
        with store._db.write() as tx:
            inside.set()
            closed.wait(10)
            tx.run("UPDATE runs SET state = 'failed' WHERE run_id = 'r1'")
        done.append(True)

    t = threading.Thread(target=writer)
    t.start()
    inside.wait(10)
    store.close()
    closed.set()
    t.join(10)
    assert done == [True]
    with RunStore.open(f"sqlite:///{tmp_path / 'runs.db'}") as again:
        assert again.get_run("r1").state == "failed"
