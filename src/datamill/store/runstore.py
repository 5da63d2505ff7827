"""The run store: runs, task runs, attempts, lineage, metrics and saved state in SQL.

SQLite (WAL, the default at ``<project>/.datamill/runs.db``) through the standard library's
``sqlite3``, or PostgreSQL (``DATAMILL_STORE=postgresql://...``, always psycopg 3) through
SQLAlchemy; both run the same SQL text (``sql.py``, executed by ``backends.py``). Opening
the store checks its schema with one read; alembic is imported only when the database is
behind (``opening.py``). Garbage collection and the retention policy are in ``retention.py``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from datamill.errors import RunLockedError, RunNotFoundError, StoreError, UsageError
from datamill.store import liveness, sql
from datamill.store.backends import Backend, Tx, is_integrity
from datamill.store.opening import ENV_URL, display, make_backend, resolve_url, sa_engine
from datamill.store.records import (
    RUN_FINAL_STATES,
    AttemptRecord,
    LineageRecord,
    MetricRecord,
    RunRecord,
    State,
    TaskRunRecord,
    utcnow,
)

__all__ = ["ENV_URL", "RunStore", "resolve_url"]

#: The states a run can be resumed from (besides running with a dead driver).
RESUMABLE_STATES = (State.FAILED, State.CANCELLED)

ENV_STALE = "DATAMILL_HEARTBEAT_STALE"
_CHUNK = 500  # ids per IN (...) list

R = TypeVar("R")
_K = sql.KINDS


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _state_value(state: State | str) -> str:
    """The stored text of a state; refuses words outside the vocabulary."""
    try:
        return State(state).value
    except ValueError:
        raise StoreError(
            f"unknown state {state!r}; use one of: {', '.join(s.value for s in State)}"
        ) from None


class RunStore:
    """Every run, task run, attempt, lineage edge, metric and saved value of a project."""

    #: Seconds between heartbeats of a running run (StoreWriter sends them).
    HEARTBEAT_INTERVAL: ClassVar[float] = 5.0
    #: A running run whose heartbeat is older than this many seconds is considered dead.
    STALE_AFTER: ClassVar[float] = 30.0

    def __init__(self, backend: Backend, url: str):
        """Wrap a backend made by ``opening.make_backend``; use ``RunStore.open`` instead."""
        self._db = backend
        self.url = url
        self.url_display = display(url)
        self.dialect: str = backend.dialect
        stale = os.environ.get(ENV_STALE)
        self.stale_after: float = float(stale) if stale else self.STALE_AFTER
        self._engine: Any = getattr(backend, "engine", None)

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, url: str | None = None, project_root: Path | str = ".") -> RunStore:
        """Open (and create or upgrade if needed) the run store at ``url``.

        ``url`` None means $DATAMILL_STORE, else ``<project_root>/.datamill/runs.db``.
        """
        from datamill.store.opening import ensure_schema

        resolved = resolve_url(url, project_root)
        store = cls(make_backend(resolved), resolved)
        try:
            ensure_schema(store._db, resolved, lambda: store.engine)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection."""
        self._db.close()
        if self._engine is not None:
            self._engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.url_display!r})"

    @property
    def engine(self) -> Any:
        """A SQLAlchemy engine on the same database, for layers that use SQLAlchemy Core on
        their own tables (see docs). On SQLite it is made (and SQLAlchemy imported) on first
        use; the store's own queries do not go through it."""
        if self._engine is None:
            self._engine = sa_engine(self.url)
        return self._engine

    @contextmanager
    def write(self) -> Iterator[Any]:
        """One SQLAlchemy write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on
        success, for layers using SQLAlchemy Core; the store itself uses ``_write``."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.execution_options(datamill_write=True).begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(f"cannot write to the run store at {self.url_display}: "
                             f"{detail}") from exc

    def _read(self) -> Any:
        """A read transaction on the store's own backend (a ``backends.Tx``)."""
        return self._db.read()

    def _write(self) -> Any:
        """A write transaction on the store's own backend (a ``backends.Tx``)."""
        return self._db.write()

    def _rows(self, query: str, params: dict[str, Any], kinds: dict[str, str]) -> list[dict]:
        with self._db.read() as tx:
            return [self._db.decode(r, kinds) for r in tx.rows(query, params)]

    def _enc(self, rec: Any, table: str) -> dict[str, Any]:
        out = {c: getattr(rec, c) for c in sql.COLUMNS[table] if c != "id" or table not in (
            "lineage", "metrics")}
        if "state" in out:
            out["state"] = _state_value(out["state"])
        return self._db.encode(out, _K[table])

    @staticmethod
    def _record(cls: type[R], row: dict[str, Any]) -> R:
        if "state" in row:
            row["state"] = State(row["state"])
        return cls(**row)

    # ----------------------------------------------------------------- runs

    def create_run(self, run: RunRecord) -> None:
        """Insert a new run; a running run counts as alive (heartbeat) from now on."""
        row = {c: getattr(run, c) for c in sql.COLUMNS["runs"]}
        row["state"] = _state_value(row["state"])
        row["created_at"] = row["created_at"] or utcnow()
        if row["state"] == State.RUNNING.value:
            row["started_at"] = row["started_at"] or row["created_at"]
            row["heartbeat_at"] = row["heartbeat_at"] or utcnow()
        try:
            with self._db.write() as tx:
                tx.run(sql.RUN_INSERT, self._db.encode(row, _K["runs"]))
        except StoreError as exc:
            if is_integrity(exc) and self._exists(run.run_id):
                raise StoreError(
                    f"run {run.run_id!r} already exists in the run store at "
                    f"{self.url_display}; use a new run id"
                ) from None
            raise

    def _exists(self, run_id: str) -> bool:
        with self._db.read() as tx:
            return bool(tx.rows(sql.RUN_EXISTS, {"run_id": run_id}))

    def heartbeat(self, run_id: str, at: datetime | None = None) -> bool:
        """Mark a running run alive now; False if it is not running (or does not exist)."""
        with self._db.write() as tx:
            return self._heartbeat(tx, [run_id], at or utcnow()) > 0

    def _heartbeat(self, tx: Tx, run_ids: Iterable[str], at: datetime) -> int:
        ids = sorted(set(run_ids))
        if not ids:
            return 0
        query, params = sql.heartbeat(ids)
        params["at"] = self._db.enc_dt(at)
        return tx.run(query, params)

    def finish_run(self, run_id: str, state: State | str, error: str | None = None) -> None:
        """Record how a run ended: succeeded, failed or cancelled."""
        value = _state_value(state)
        if State(value) not in RUN_FINAL_STATES:
            raise StoreError(
                f"a run cannot finish as {value!r}; use one of: "
                + ", ".join(sorted(s.value for s in RUN_FINAL_STATES))
            )
        params = {"run_id": run_id, "state": value, "error": error,
                  "ended_at": self._db.enc_dt(utcnow())}
        with self._db.write() as tx:
            n = tx.run(sql.RUN_FINISH, params)
        if n == 0:
            raise self._not_found(run_id)

    def _not_found(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(
            f"no run {run_id!r} in the run store at {self.url_display}; "
            "list the runs with `datamill runs`"
        )

    def _run_row(self, tx: Tx, run_id: str) -> dict[str, Any] | None:
        got = tx.rows(sql.RUN_BY_ID, {"run_id": run_id})
        return self._db.decode(got[0], _K["runs"]) if got else None

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or with this unique id prefix."""
        if not run_id:
            raise RunNotFoundError("an empty run id matches no run; give a run id or prefix")
        with self._db.read() as tx:
            row = self._run_row(tx, run_id)
            if row is None:
                found = tx.rows(sql.RUN_BY_PREFIX, {"pattern": sql.like_prefix(run_id)})
                # LIKE is case-insensitive on SQLite: keep exact prefix matches only.
                rows = [r for r in found if r["run_id"].startswith(run_id)]
                if not rows:
                    raise self._not_found(run_id)
                if len(rows) > 1:
                    shown = ", ".join(r["run_id"] for r in rows[:10])
                    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
                    raise RunNotFoundError(
                        f"run id prefix {run_id!r} is ambiguous: it matches {shown}{more}; "
                        "give more characters"
                    )
                row = self._db.decode(rows[0], _K["runs"])
        return self._record(RunRecord, row)

    def list_runs(
        self,
        pipeline: str | None = None,
        state: State | str | None = None,
        limit: int | None = 20,
    ) -> list[RunRecord]:
        """Runs newest first, optionally of one pipeline and in one state."""
        params: dict[str, Any] = {"pipeline": pipeline, "limit": limit}
        if state is not None:
            params["state"] = _state_value(state)
        query = sql.list_runs(pipeline is not None, state is not None, limit is not None)
        params = {k: v for k, v in params.items() if v is not None}
        return [self._record(RunRecord, r) for r in self._rows(query, params, _K["runs"])]

    def is_alive(self, run: RunRecord, now: datetime | None = None) -> bool:
        """True if the run is running and its driver may still be at work.

        On the run's own host the driver process is looked at (pid and start token, see
        ``store.liveness``): gone means dead at once. Elsewhere, or when that cannot be
        told, the heartbeat decides: alive while at most ``stale_after`` s old.
        """
        if run.state != State.RUNNING or run.heartbeat_at is None:
            return False
        if run.host is not None and run.host == liveness.hostname():
            gone = liveness.process_gone(run.pid, run.pid_start)
            if gone is True:
                return False
        now = _as_utc(now) if now is not None else utcnow()
        return (now - _as_utc(run.heartbeat_at)).total_seconds() <= self.stale_after

    def claim_run(
        self,
        run_id: str,
        host: str | None = None,
        pid: int | None = None,
        *,
        pid_start: str | None = None,
        trigger: str | None = None,
    ) -> RunRecord:
        """Take over a run to resume it: refused while it is alive, won by one caller only.

        Only a failed, cancelled or interrupted (running, but its driver is dead) run can be
        claimed; the state is checked in the same transaction as the update, and the update
        is a compare-and-set on the row as read (state, heartbeat, host, pid): of two
        resumers the second finds the row changed and gets RunLockedError, and a run that
        succeeded meanwhile is refused with UsageError.
        """
        host = host if host is not None else socket.gethostname()
        pid = pid if pid is not None else os.getpid()
        if pid_start is None and pid == os.getpid():
            pid_start = liveness.start_token(pid)
        now = utcnow()
        with self._db.write() as tx:
            raw = tx.rows(sql.RUN_BY_ID, {"run_id": run_id})
            if not raw:
                raise self._not_found(run_id)
            seen_raw = dict(raw[0])  # as stored: the compare-and-set compares these
            seen = self._record(RunRecord, self._db.decode(raw[0], _K["runs"]))
            if seen.state not in RESUMABLE_STATES and seen.state != State.RUNNING:
                raise UsageError(
                    f"run {run_id} {seen.state.value}; only a failed, cancelled or "
                    "interrupted run can be resumed (use `datamill run` to run again)"
                )
            if self.is_alive(seen, now):
                raise self._locked(seen, now)
            query, params = sql.claim(
                seen_raw, [s.value for s in (*RESUMABLE_STATES, State.RUNNING)],
                trigger is not None)
            params.update(run_id=run_id, host=host, pid=pid, pid_start=pid_start,
                          now=self._db.enc_dt(now))
            if trigger is not None:
                params["trigger"] = trigger
            won = tx.run(query, params) == 1
        if not won:
            current = self.get_run(run_id)
            if current.state not in RESUMABLE_STATES and current.state != State.RUNNING:
                raise UsageError(f"run {run_id} {current.state.value} meanwhile; nothing to resume")
            raise self._locked(current, utcnow())
        return self.get_run(run_id)

    @staticmethod
    def _locked(run: RunRecord, now: datetime) -> RunLockedError:
        ago = (now - _as_utc(run.heartbeat_at)).total_seconds() if run.heartbeat_at else 0.0
        return RunLockedError(
            f"run {run.run_id} is still running (pid {run.pid} on host {run.host}, "
            f"heartbeat {max(ago, 0):.0f}s ago); wait or stop it first"
        )

    # ----------------------------------------------------------------- task runs & co

    def write_batch(
        self,
        task_runs: Sequence[TaskRunRecord] = (),
        attempts: Sequence[AttemptRecord] = (),
        lineage: Sequence[LineageRecord] = (),
        metrics: Sequence[MetricRecord] = (),
        states: Sequence[tuple[str, str, Any, str | None]] = (),
        heartbeats: Iterable[str] = (),
    ) -> None:
        """Write all of these in one transaction (the path StoreWriter batches through)."""
        if not (task_runs or attempts or lineage or metrics or states or heartbeats):
            return
        for rec in lineage:
            if rec.direction not in ("input", "output"):
                raise StoreError(
                    f"lineage of task {rec.task_key!r} for dataset {rec.dataset!r} has "
                    f"direction {rec.direction!r}; use 'input' or 'output'"
                )
        enc = self._enc
        # Sorted by key so two writers lock rows in the same order (no deadlock on PG).
        tasks = sorted((enc(r, "task_runs") for r in task_runs),
                       key=lambda d: (d["run_id"], d["task_key"]))
        atts = sorted((enc(r, "attempts") for r in attempts),
                      key=lambda d: (d["run_id"], d["task_key"], d["attempt"]))
        now = utcnow()
        st_rows = sorted(
            (self._db.encode({"namespace": ns, "key": k, "value": v, "run_id": rid,
                              "updated_at": now}, _K["saved_state"])
             for ns, k, v, rid in states),
            key=lambda d: (d["namespace"], d["key"]),
        )
        with self._db.write() as tx:
            if tasks:
                tx.many(sql.TASK_UPSERT, tasks)
            if atts:
                tx.many(sql.ATTEMPT_UPSERT, atts)
            if lineage:
                tx.many(sql.LINEAGE_INSERT, [enc(r, "lineage") for r in lineage])
            if metrics:
                tx.many(sql.METRIC_INSERT, [enc(r, "metrics") for r in metrics])
            if st_rows:
                tx.many(sql.STATE_UPSERT, st_rows)
            self._heartbeat(tx, heartbeats, now)

    def upsert_task_runs(self, records: Sequence[TaskRunRecord]) -> None:
        """Insert or update task runs by (run_id, task_key), all in one transaction."""
        self.write_batch(task_runs=_last_per_key(records, lambda r: (r.run_id, r.task_key)))

    def task_runs(self, run_id: str) -> list[TaskRunRecord]:
        """The task runs of a run, in the order they started (not started last)."""
        rows = self._rows(sql.TASK_RUNS, {"run_id": run_id}, _K["task_runs"])
        return [self._record(TaskRunRecord, r) for r in rows]

    def checkpoint_producer(
        self, pipeline: str, task: str, fingerprint: str, exclude: str | None = None
    ) -> str | None:
        """The run that last computed ``task`` with this fingerprint (whose checkpoint a
        cached task reuses), or None if no run in the store did."""
        query = sql.CHECKPOINT_PRODUCER
        params = {"pipeline": pipeline, "task": task, "fingerprint": fingerprint}
        if exclude is not None:
            query += " AND t.run_id != :exclude"
            params["exclude"] = exclude
        got = self._rows(query + sql.CHECKPOINT_PRODUCER_ORDER, params, {})
        if not got:
            return None
        row = got[0]
        # a cached record names its producer (older rows may say "checkpoint": unknown)
        if row["state"] == State.CACHED.value:
            return row["cached_from_run"] if row["cached_from_run"] != "checkpoint" else None
        return row["run_id"]

    def add_attempts(self, records: Sequence[AttemptRecord]) -> None:
        """Insert or update attempts by (run_id, task_key, attempt)."""
        self.write_batch(
            attempts=_last_per_key(records, lambda r: (r.run_id, r.task_key, r.attempt))
        )

    def attempts(self, run_id: str, task_key: str | None = None) -> list[AttemptRecord]:
        """The attempts of a run (or of one of its tasks), by task then attempt number."""
        params = {"run_id": run_id, "task_key": task_key}
        rows = self._rows(sql.attempts(task_key is not None), params, _K["attempts"])
        return [self._record(AttemptRecord, r) for r in rows]

    def add_lineage(self, records: Sequence[LineageRecord]) -> None:
        """Append lineage edges."""
        self.write_batch(lineage=records)

    def lineage(self, dataset: str | None = None, run_id: str | None = None) -> list[LineageRecord]:
        """Lineage edges, oldest first, optionally of one dataset and/or one run."""
        query = sql.lineage(dataset is not None, run_id is not None)
        params = {k: v for k, v in (("dataset", dataset), ("run_id", run_id)) if v is not None}
        return [self._record(LineageRecord, r) for r in self._rows(query, params, _K["lineage"])]

    def add_metrics(self, records: Sequence[MetricRecord]) -> None:
        """Append metric values."""
        self.write_batch(metrics=records)

    def metrics(self, run_id: str) -> list[MetricRecord]:
        """The metrics of a run, oldest first."""
        rows = self._rows(sql.METRICS, {"run_id": run_id}, _K["metrics"])
        return [self._record(MetricRecord, r) for r in rows]

    # ----------------------------------------------------------------- saved state

    def get_state(self, namespace: str, key: str, default: Any = None) -> Any:
        """A saved value (watermark, offset, ...), or ``default`` if never set."""
        got = self._rows(sql.STATE_GET, {"namespace": namespace, "key": key}, _K["saved_state"])
        return default if not got else got[0]["value"]

    def set_state(self, namespace: str, key: str, value: Any, run_id: str | None = None) -> None:
        """Save a JSON value under (namespace, key), replacing any previous one."""
        self.write_batch(states=[(namespace, key, value, run_id)])

    def state_items(self, namespace: str) -> dict[str, Any]:
        """Every saved key and value of a namespace."""
        rows = self._rows(sql.STATE_ITEMS, {"namespace": namespace}, _K["saved_state"])
        return {r["key"]: r["value"] for r in rows}

    # ----------------------------------------------------------------- garbage collection

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        """Delete runs with their task runs, attempts, lineage and metrics; returns how many."""
        ids = sorted(set(run_ids))
        deleted = 0
        with self._db.write() as tx:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                for child in sql.RUN_CHILDREN:
                    tx.run(*sql.delete_runs(child, chunk))
                deleted += tx.run(*sql.delete_runs("runs", chunk))
        return deleted

    def runs_to_gc(
        self,
        keep_last: int | None,
        older_than: datetime | None,
        pipeline: str | None = None,
    ) -> list[str]:
        """Run ids that garbage collection may delete, oldest first (``retention.py``)."""
        from datamill.store.retention import runs_to_gc

        return runs_to_gc(self, keep_last, older_than, pipeline)

    def referenced_checkpoints(self) -> set[str]:
        """Every checkpoint path or URI that a task run still in the store points to."""
        with self._db.read() as tx:
            return {r["checkpoint"] for r in tx.rows(sql.REFERENCED_CHECKPOINTS)}


def _last_per_key(records: Sequence[R], key: Any) -> list[R]:
    """The last record of each key, in first-seen key order (one upsert per row)."""
    out: dict[Any, R] = {}
    for rec in records:
        out[key(rec)] = rec
    return list(out.values())
