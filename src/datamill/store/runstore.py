"""The run store: runs, task runs, attempts, lineage, metrics and saved state in SQL.

SQLAlchemy Core over SQLite (WAL, the default at ``<project>/.datamill/runs.db``) or
PostgreSQL (``DATAMILL_STORE=postgresql://...``, always psycopg 3). Opening the store
upgrades its schema with alembic, which is imported only when the database is behind.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from datamill.errors import RunLockedError, RunNotFoundError, StoreError, UsageError, require
from datamill.store import liveness, schema
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

__all__ = ["RunStore", "resolve_url"]

#: The states a run can be resumed from (besides running with a dead driver).
RESUMABLE_STATES = (State.FAILED, State.CANCELLED)

ENV_URL = "DATAMILL_STORE"
ENV_STALE = "DATAMILL_HEARTBEAT_STALE"
DEFAULT_DIR = ".datamill"
DEFAULT_FILE = "runs.db"

# Advisory lock key PostgreSQL schema upgrades serialise on ("datamill" in ASCII, as int).
_PG_MIGRATION_LOCK = 0x646174616D696C6C
_CHUNK = 500  # ids per IN (...) list

R = TypeVar("R")


def resolve_url(url: str | None = None, project_root: Path | str = ".") -> str:
    """The store URL to use: ``url``, else $DATAMILL_STORE, else SQLite under the project.

    A path without a scheme means a SQLite file (relative to ``project_root``); plain
    ``postgresql://`` and ``postgres://`` URLs are rewritten to the psycopg 3 driver.
    """
    url = url or os.environ.get(ENV_URL) or None
    root = Path(project_root)
    if url is None:
        return f"sqlite:///{(root / DEFAULT_DIR / DEFAULT_FILE).resolve()}"
    if "://" not in url:
        path = Path(url).expanduser()
        return f"sqlite:///{(path if path.is_absolute() else root / path).resolve()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return url


def _display(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _create_engine(url: str) -> Engine:
    """An engine with the store's connection settings (SQLite pragmas, BEGIN IMMEDIATE)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"cannot parse run store URL {url!r}: {exc}; use sqlite:///path/runs.db "
            "or postgresql://user@host/db"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
            raise StoreError(
                f"the run store needs a SQLite file, not an in-memory database ({url!r}); "
                "use sqlite:///path/runs.db"
            )
        if not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 30})
        _install_sqlite_hooks(engine)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() == "psycopg":
            require("psycopg", "postgres", "the PostgreSQL run store")
        return sa.create_engine(parsed, pool_pre_ping=True)
    raise StoreError(
        f"unsupported run store URL {_display(url)!r}: the run store runs on SQLite "
        "(sqlite:///path/runs.db) or PostgreSQL (postgresql://user@host/db)"
    )


def _install_sqlite_hooks(engine: Engine) -> None:
    """Set the pragmas on every connection and take the write lock up front for writes.

    ``BEGIN IMMEDIATE`` makes a write transaction wait (busy_timeout) for the lock when it
    starts instead of failing with "database is locked" when a reader upgrades to a writer.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA busy_timeout=30000")
            _set_wal(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("datamill_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


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


def _row_dict(rec: Any, fields: Sequence[str]) -> dict[str, Any]:
    out = {f: getattr(rec, f) for f in fields}
    if "state" in out:
        out["state"] = _state_value(out["state"])
    return out


def _record(cls: type[R], row: Any) -> R:
    data = dict(row._mapping)
    if "state" in data:
        data["state"] = State(data["state"])
    return cls(**data)


_RUN_FIELDS = tuple(c.name for c in schema.runs.columns)
_TASK_FIELDS = tuple(c.name for c in schema.task_runs.columns)
_ATTEMPT_FIELDS = tuple(c.name for c in schema.attempts.columns)
_LINEAGE_FIELDS = tuple(c.name for c in schema.lineage.columns if c.name != "id")
_METRIC_FIELDS = tuple(c.name for c in schema.metrics.columns if c.name != "id")


class RunStore:
    """Every run, task run, attempt, lineage edge, metric and saved value of a project."""

    #: Seconds between heartbeats of a running run (StoreWriter sends them).
    HEARTBEAT_INTERVAL: ClassVar[float] = 5.0
    #: A running run whose heartbeat is older than this many seconds is considered dead.
    STALE_AFTER: ClassVar[float] = 30.0

    def __init__(self, engine: Engine, url: str):
        """Wrap an engine made by ``_create_engine``; use ``RunStore.open`` instead."""
        self._engine = engine
        self._write_engine = engine.execution_options(datamill_write=True)
        self.url = url
        self.url_display = _display(url)
        self.dialect: str = engine.dialect.name
        stale = os.environ.get(ENV_STALE)
        self.stale_after: float = float(stale) if stale else self.STALE_AFTER
        self._upserts: dict[str, Any] = {}

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def open(cls, url: str | None = None, project_root: Path | str = ".") -> RunStore:
        """Open (and create or upgrade if needed) the run store at ``url``.

        ``url`` None means $DATAMILL_STORE, else ``<project_root>/.datamill/runs.db``.
        """
        resolved = resolve_url(url, project_root)
        engine = _create_engine(resolved)
        store = cls(engine, resolved)
        try:
            store._ensure_schema()
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.url_display!r})"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for layers that add their own tables (see docs)."""
        return self._engine

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error("read from", exc) from exc

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite), committed on success."""
        try:
            with self._write_engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error("write to", exc) from exc

    def _error(self, verb: str, exc: SQLAlchemyError) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StoreError(f"cannot {verb} the run store at {self.url_display}: {detail}")

    # ----------------------------------------------------------------- schema

    @staticmethod
    def _schema_versions(conn: Connection) -> set[str]:
        if not sa.inspect(conn).has_table("alembic_version"):
            return set()
        return set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())

    def _ensure_schema(self) -> None:
        """Upgrade the schema to SCHEMA_REVISION; a cheap version read when up to date."""
        want = {schema.SCHEMA_REVISION}
        with self._read() as conn:
            if self._schema_versions(conn) == want:
                return
        with self.write() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            # Re-read under the lock: another process may have upgraded meanwhile.
            have = self._schema_versions(conn)
            if have == want:
                return
            from datamill.store import migrations

            unknown = have - migrations.known_revisions()
            if unknown:
                raise StoreError(
                    f"the run store at {self.url_display} is at schema revision "
                    f"{', '.join(sorted(unknown))}, newer than this datamill knows "
                    f"(up to {schema.SCHEMA_REVISION}); upgrade datamill"
                )
            try:
                migrations.upgrade(conn, schema.SCHEMA_REVISION)
            except SQLAlchemyError:
                raise  # becomes a StoreError in write()
            except Exception as exc:
                raise StoreError(
                    f"cannot upgrade the run store at {self.url_display} to schema "
                    f"{schema.SCHEMA_REVISION}: {exc}"
                ) from exc

    # ----------------------------------------------------------------- runs

    def create_run(self, run: RunRecord) -> None:
        """Insert a new run; a running run counts as alive (heartbeat) from now on."""
        row = _row_dict(run, _RUN_FIELDS)
        row["created_at"] = row["created_at"] or utcnow()
        if row["state"] == State.RUNNING.value:
            row["started_at"] = row["started_at"] or row["created_at"]
            row["heartbeat_at"] = row["heartbeat_at"] or utcnow()
        try:
            with self.write() as conn:
                conn.execute(schema.runs.insert(), row)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError) and self._exists(run.run_id):
                raise StoreError(
                    f"run {run.run_id!r} already exists in the run store at "
                    f"{self.url_display}; use a new run id"
                ) from None
            raise

    def _exists(self, run_id: str) -> bool:
        with self._read() as conn:
            q = sa.select(schema.runs.c.run_id).where(schema.runs.c.run_id == run_id)
            return conn.execute(q).first() is not None

    def heartbeat(self, run_id: str, at: datetime | None = None) -> bool:
        """Mark a running run alive now; False if it is not running (or does not exist)."""
        with self.write() as conn:
            return self._heartbeat(conn, [run_id], at or utcnow()) > 0

    def _heartbeat(self, conn: Connection, run_ids: Iterable[str], at: datetime) -> int:
        t = schema.runs
        ids = sorted(set(run_ids))
        if not ids:
            return 0
        stmt = (
            sa.update(t)
            .where(t.c.run_id.in_(ids), t.c.state == State.RUNNING.value)
            .values(heartbeat_at=at)
        )
        return conn.execute(stmt).rowcount

    def finish_run(self, run_id: str, state: State | str, error: str | None = None) -> None:
        """Record how a run ended: succeeded, failed or cancelled."""
        value = _state_value(state)
        if State(value) not in RUN_FINAL_STATES:
            raise StoreError(
                f"a run cannot finish as {value!r}; use one of: "
                + ", ".join(sorted(s.value for s in RUN_FINAL_STATES))
            )
        t = schema.runs
        with self.write() as conn:
            res = conn.execute(
                sa.update(t)
                .where(t.c.run_id == run_id)
                .values(state=value, ended_at=utcnow(), error=error)
            )
        if res.rowcount == 0:
            raise self._not_found(run_id)

    def _not_found(self, run_id: str) -> RunNotFoundError:
        return RunNotFoundError(
            f"no run {run_id!r} in the run store at {self.url_display}; "
            "list the runs with `datamill runs`"
        )

    def get_run(self, run_id: str) -> RunRecord:
        """The run with this id, or with this unique id prefix."""
        t = schema.runs
        if not run_id:
            raise RunNotFoundError("an empty run id matches no run; give a run id or prefix")
        with self._read() as conn:
            row = conn.execute(sa.select(t).where(t.c.run_id == run_id)).first()
            if row is None:
                q = (
                    sa.select(t)
                    .where(t.c.run_id.startswith(run_id, autoescape=True))
                    .order_by(t.c.created_at.desc())
                    .limit(50)
                )
                # LIKE is case-insensitive on SQLite: keep exact prefix matches only.
                rows = [r for r in conn.execute(q) if r.run_id.startswith(run_id)]
                if not rows:
                    raise self._not_found(run_id)
                if len(rows) > 1:
                    shown = ", ".join(r.run_id for r in rows[:10])
                    more = f" and {len(rows) - 10} more" if len(rows) > 10 else ""
                    raise RunNotFoundError(
                        f"run id prefix {run_id!r} is ambiguous: it matches {shown}{more}; "
                        "give more characters"
                    )
                row = rows[0]
        return _record(RunRecord, row)

    def list_runs(
        self,
        pipeline: str | None = None,
        state: State | str | None = None,
        limit: int | None = 20,
    ) -> list[RunRecord]:
        """Runs newest first, optionally of one pipeline and in one state."""
        t = schema.runs
        q = sa.select(t).order_by(t.c.created_at.desc(), t.c.run_id.desc())
        if pipeline is not None:
            q = q.where(t.c.pipeline == pipeline)
        if state is not None:
            q = q.where(t.c.state == _state_value(state))
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [_record(RunRecord, r) for r in conn.execute(q)]

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
        t = schema.runs
        now = utcnow()
        with self.write() as conn:
            row = conn.execute(sa.select(t).where(t.c.run_id == run_id)).first()
            if row is None:
                raise self._not_found(run_id)
            seen = _record(RunRecord, row)
            if seen.state not in RESUMABLE_STATES and seen.state != State.RUNNING:
                raise UsageError(
                    f"run {run_id} {seen.state.value}; only a failed, cancelled or "
                    "interrupted run can be resumed (use `datamill run` to run again)"
                )
            if self.is_alive(seen, now):
                raise self._locked(seen, now)
            values: dict[str, Any] = {
                "state": State.RUNNING.value,
                "host": host,
                "pid": pid,
                "pid_start": pid_start,
                "heartbeat_at": now,
                "started_at": sa.func.coalesce(t.c.started_at, now),
                "ended_at": None,
                "error": None,
            }
            if trigger is not None:
                values["trigger"] = trigger
            res = conn.execute(
                sa.update(t)
                .where(
                    t.c.run_id == run_id,
                    t.c.state == seen.state.value,
                    t.c.state.in_([s.value for s in (*RESUMABLE_STATES, State.RUNNING)]),
                    t.c.heartbeat_at.is_not_distinct_from(seen.heartbeat_at),
                    t.c.host.is_not_distinct_from(seen.host),
                    t.c.pid.is_not_distinct_from(seen.pid),
                )
                .values(**values)
            )
            won = res.rowcount == 1
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

    def _upsert(self, table: sa.Table) -> Any:
        """INSERT ... ON CONFLICT (primary key) DO UPDATE of every other column."""
        key = table.name
        stmt = self._upserts.get(key)
        if stmt is None:
            if self.dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            elif self.dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:  # pragma: no cover - _create_engine refuses other dialects
                raise StoreError(f"no upsert for dialect {self.dialect}")
            ins = insert(table)
            pk = [c.name for c in table.primary_key.columns]
            stmt = ins.on_conflict_do_update(
                index_elements=pk,
                set_={c.name: ins.excluded[c.name] for c in table.columns if c.name not in pk},
            )
            self._upserts[key] = stmt
        return stmt

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
        with self.write() as conn:
            self._write_batch(conn, task_runs, attempts, lineage, metrics, states, heartbeats)

    def _write_batch(
        self,
        conn: Connection,
        task_runs: Sequence[TaskRunRecord],
        attempts: Sequence[AttemptRecord],
        lineage: Sequence[LineageRecord],
        metrics: Sequence[MetricRecord],
        states: Sequence[tuple[str, str, Any, str | None]],
        heartbeats: Iterable[str],
    ) -> None:
        now = utcnow()
        if task_runs:
            # Sorted by key so two writers lock rows in the same order (no deadlock on PG).
            rows = sorted(
                (_row_dict(r, _TASK_FIELDS) for r in task_runs),
                key=lambda d: (d["run_id"], d["task_key"]),
            )
            conn.execute(self._upsert(schema.task_runs), rows)
        if attempts:
            rows = sorted(
                (_row_dict(r, _ATTEMPT_FIELDS) for r in attempts),
                key=lambda d: (d["run_id"], d["task_key"], d["attempt"]),
            )
            conn.execute(self._upsert(schema.attempts), rows)
        if lineage:
            rows = []
            for rec in lineage:
                if rec.direction not in ("input", "output"):
                    raise StoreError(
                        f"lineage of task {rec.task_key!r} for dataset {rec.dataset!r} has "
                        f"direction {rec.direction!r}; use 'input' or 'output'"
                    )
                rows.append(_row_dict(rec, _LINEAGE_FIELDS))
            conn.execute(schema.lineage.insert(), rows)
        if metrics:
            conn.execute(schema.metrics.insert(), [_row_dict(r, _METRIC_FIELDS) for r in metrics])
        if states:
            rows = sorted(
                (
                    {"namespace": ns, "key": k, "value": v, "run_id": rid, "updated_at": now}
                    for ns, k, v, rid in states
                ),
                key=lambda d: (d["namespace"], d["key"]),
            )
            conn.execute(self._upsert(schema.saved_state), rows)
        self._heartbeat(conn, heartbeats, now)

    def upsert_task_runs(self, records: Sequence[TaskRunRecord]) -> None:
        """Insert or update task runs by (run_id, task_key), all in one transaction."""
        self.write_batch(task_runs=_last_per_key(records, lambda r: (r.run_id, r.task_key)))

    def task_runs(self, run_id: str) -> list[TaskRunRecord]:
        """The task runs of a run, in the order they started (not started last)."""
        t = schema.task_runs
        q = (
            sa.select(t)
            .where(t.c.run_id == run_id)
            .order_by(t.c.started_at.is_(None), t.c.started_at, t.c.task_key)
        )
        with self._read() as conn:
            return [_record(TaskRunRecord, r) for r in conn.execute(q)]

    def checkpoint_producer(
        self, pipeline: str, task: str, fingerprint: str, exclude: str | None = None
    ) -> str | None:
        """The run that last computed ``task`` with this fingerprint (whose checkpoint a
        cached task reuses), or None if no run in the store did."""
        t, r = schema.task_runs, schema.runs
        done = (State.SUCCEEDED.value, State.CACHED.value)
        q = (
            sa.select(t.c.run_id, t.c.state, t.c.cached_from_run)
            .join(r, r.c.run_id == t.c.run_id)
            .where(
                t.c.fingerprint == fingerprint,
                t.c.task == task,
                r.c.pipeline == pipeline,
                t.c.state.in_(done),
            )
            .order_by(t.c.ended_at.desc())
            .limit(1)
        )
        if exclude is not None:
            q = q.where(t.c.run_id != exclude)
        with self._read() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        # a cached record names its producer (older rows may say "checkpoint": unknown)
        if row.state == State.CACHED.value:
            return row.cached_from_run if row.cached_from_run != "checkpoint" else None
        return row.run_id

    def add_attempts(self, records: Sequence[AttemptRecord]) -> None:
        """Insert or update attempts by (run_id, task_key, attempt)."""
        self.write_batch(
            attempts=_last_per_key(records, lambda r: (r.run_id, r.task_key, r.attempt))
        )

    def attempts(self, run_id: str, task_key: str | None = None) -> list[AttemptRecord]:
        """The attempts of a run (or of one of its tasks), by task then attempt number."""
        t = schema.attempts
        q = sa.select(t).where(t.c.run_id == run_id)
        if task_key is not None:
            q = q.where(t.c.task_key == task_key)
        q = q.order_by(t.c.task_key, t.c.attempt)
        with self._read() as conn:
            return [_record(AttemptRecord, r) for r in conn.execute(q)]

    def add_lineage(self, records: Sequence[LineageRecord]) -> None:
        """Append lineage edges."""
        self.write_batch(lineage=records)

    def lineage(self, dataset: str | None = None, run_id: str | None = None) -> list[LineageRecord]:
        """Lineage edges, oldest first, optionally of one dataset and/or one run."""
        t = schema.lineage
        q = sa.select(t).order_by(t.c.recorded_at, t.c.id)
        if dataset is not None:
            q = q.where(t.c.dataset == dataset)
        if run_id is not None:
            q = q.where(t.c.run_id == run_id)
        with self._read() as conn:
            return [_record(LineageRecord, r) for r in conn.execute(q)]

    def add_metrics(self, records: Sequence[MetricRecord]) -> None:
        """Append metric values."""
        self.write_batch(metrics=records)

    def metrics(self, run_id: str) -> list[MetricRecord]:
        """The metrics of a run, oldest first."""
        t = schema.metrics
        q = sa.select(t).where(t.c.run_id == run_id).order_by(t.c.recorded_at, t.c.id)
        with self._read() as conn:
            return [_record(MetricRecord, r) for r in conn.execute(q)]

    # ----------------------------------------------------------------- saved state

    def get_state(self, namespace: str, key: str, default: Any = None) -> Any:
        """A saved value (watermark, offset, ...), or ``default`` if never set."""
        t = schema.saved_state
        q = sa.select(t.c.value).where(t.c.namespace == namespace, t.c.key == key)
        with self._read() as conn:
            row = conn.execute(q).first()
        return default if row is None else row.value

    def set_state(self, namespace: str, key: str, value: Any, run_id: str | None = None) -> None:
        """Save a JSON value under (namespace, key), replacing any previous one."""
        self.write_batch(states=[(namespace, key, value, run_id)])

    def state_items(self, namespace: str) -> dict[str, Any]:
        """Every saved key and value of a namespace."""
        t = schema.saved_state
        q = sa.select(t.c.key, t.c.value).where(t.c.namespace == namespace).order_by(t.c.key)
        with self._read() as conn:
            return {r.key: r.value for r in conn.execute(q)}

    # ----------------------------------------------------------------- garbage collection

    def delete_runs(self, run_ids: Iterable[str]) -> int:
        """Delete runs with their task runs, attempts, lineage and metrics; returns how many."""
        ids = sorted(set(run_ids))
        deleted = 0
        with self.write() as conn:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                for child in (schema.metrics, schema.lineage, schema.attempts, schema.task_runs):
                    conn.execute(sa.delete(child).where(child.c.run_id.in_(chunk)))
                res = conn.execute(sa.delete(schema.runs).where(schema.runs.c.run_id.in_(chunk)))
                deleted += res.rowcount
        return deleted

    def runs_to_gc(
        self,
        keep_last: int | None,
        older_than: datetime | None,
        pipeline: str | None = None,
    ) -> list[str]:
        """Run ids that garbage collection may delete, oldest first.

        A run qualifies when it is beyond the newest ``keep_last`` runs of its pipeline and
        (if given) created before ``older_than``; with neither limit nothing qualifies.
        Running runs that are alive never qualify.
        """
        if keep_last is None and older_than is None:
            return []
        if keep_last is not None and keep_last < 0:
            raise StoreError(f"keep_last must be 0 or more, not {keep_last}")
        cutoff = _as_utc(older_than) if older_than is not None else None
        t = schema.runs
        q = sa.select(t.c.run_id, t.c.pipeline, t.c.state, t.c.heartbeat_at, t.c.created_at)
        if pipeline is not None:
            q = q.where(t.c.pipeline == pipeline)
        q = q.order_by(t.c.pipeline, t.c.created_at.desc(), t.c.run_id.desc())
        now = utcnow()
        rank: dict[str, int] = {}
        doomed: list[tuple[datetime, str]] = []
        with self._read() as conn:
            for r in conn.execute(q):
                n = rank.get(r.pipeline, 0)
                rank[r.pipeline] = n + 1
                if keep_last is not None and n < keep_last:
                    continue
                if cutoff is not None and r.created_at >= cutoff:
                    continue
                probe = RunRecord(
                    run_id=r.run_id,
                    pipeline=r.pipeline,
                    state=State(r.state),
                    heartbeat_at=r.heartbeat_at,
                )
                if self.is_alive(probe, now):
                    continue
                doomed.append((r.created_at, r.run_id))
        return [run_id for _, run_id in sorted(doomed)]

    def referenced_checkpoints(self) -> set[str]:
        """Every checkpoint path or URI that a task run still in the store points to."""
        t = schema.task_runs
        q = sa.select(t.c.checkpoint).where(t.c.checkpoint.is_not(None)).distinct()
        with self._read() as conn:
            return set(conn.execute(q).scalars())


def _set_wal(cur: Any) -> None:
    """Switch to WAL. On a brand-new file several processes race for this; SQLite answers
    "database is locked" at once for a journal-mode change (the busy timeout does not
    apply), so retry with a short backoff."""
    import sqlite3
    import time

    delay, deadline = 0.005, time.monotonic() + 30.0
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def _last_per_key(records: Sequence[R], key: Any) -> list[R]:
    """The last record of each key, in first-seen key order (one upsert per row)."""
    out: dict[Any, R] = {}
    for rec in records:
        out[key(rec)] = rec
    return list(out.values())
