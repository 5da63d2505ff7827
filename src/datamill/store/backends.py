"""Where the run store's SQL (``sql.py``) runs: the standard library's sqlite3, or SQLAlchemy.

Why two: a one-task ``datamill run`` in a fresh process paid ~150 ms importing SQLAlchemy
(and ~260 ms for alembic on a new store) before running anything, on a 2-core machine,
where the run itself takes a few milliseconds. The embedded SQLite store is the path every
``datamill run`` and CLI call takes, so it runs on ``sqlite3`` directly, with the same
semantics as before: WAL, ``synchronous=NORMAL``, ``busy_timeout``, foreign keys, and
write transactions that start with ``BEGIN IMMEDIATE``. PostgreSQL keeps SQLAlchemy (its
pool, pre-ping and psycopg 3). Both execute the same SQL text; only the conversion of
values at the edge differs (SQLite keeps naive-UTC timestamp text and JSON text, as
SQLAlchemy wrote them, so stores written before stay readable and ordered).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datamill.errors import StoreError

__all__ = ["Backend", "SqliteBackend", "SqlAlchemyBackend", "Tx", "is_integrity", "is_transient"]


def is_transient(exc: BaseException) -> bool:
    """True if a StoreError came from a lost connection or a lock wait (worth a retry)."""
    return bool(getattr(exc, "transient", False))


def is_integrity(exc: BaseException) -> bool:
    """True if a StoreError came from a refused constraint (duplicate key, missing run)."""
    return bool(getattr(exc, "integrity", False))


def _store_error(verb: str, display: str, exc: BaseException, *, transient: bool,
                 integrity: bool) -> StoreError:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    err = StoreError(f"cannot {verb} the run store at {display}: {detail}")
    err.transient = transient  # type: ignore[attr-defined]
    err.integrity = integrity  # type: ignore[attr-defined]
    return err


class Tx:
    """One transaction: ``rows`` for queries, ``run`` for statements, ``many`` for batches."""

    __slots__ = ("_cur",)

    def __init__(self, cur: Any):
        self._cur = cur

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    def run(self, sql: str, params: dict[str, Any] | None = None) -> int:
        raise NotImplementedError

    def many(self, sql: str, rows: Sequence[dict[str, Any]]) -> None:
        raise NotImplementedError

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        got = self.rows(sql, params)
        return next(iter(got[0].values())) if got else None


class Backend:
    """The dialect-specific half of the run store: transactions and value conversion."""

    dialect: str
    display: str
    #: Write transactions committed so far (tests count batches with it).
    commits: int = 0

    @contextmanager
    def read(self) -> Iterator[Tx]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    @contextmanager
    def write(self) -> Iterator[Tx]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def has_table(self, tx: Tx, name: str) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # values going in and coming out, per column kind (sql.KINDS)
    def enc_dt(self, value: datetime | None) -> Any:
        raise NotImplementedError

    def dec_dt(self, value: Any) -> datetime | None:
        raise NotImplementedError

    def enc_json(self, value: Any) -> Any:
        raise NotImplementedError

    def dec_json(self, value: Any) -> Any:
        raise NotImplementedError

    def encode(self, row: dict[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
        for col, kind in kinds.items():
            if col in row:
                v = row[col]
                row[col] = self.enc_dt(v) if kind == "datetime" else self.enc_json(v)
        return row

    def decode(self, row: dict[str, Any], kinds: dict[str, str]) -> dict[str, Any]:
        for col, kind in kinds.items():
            if col in row:
                v = row[col]
                row[col] = self.dec_dt(v) if kind == "datetime" else self.dec_json(v)
        return row


# -- SQLite on the standard library -------------------------------------------------------------


class _SqliteTx(Tx):
    __slots__ = ()

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        cur = self._cur.execute(sql, params or {})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def run(self, sql: str, params: dict[str, Any] | None = None) -> int:
        return self._cur.execute(sql, params or {}).rowcount

    def many(self, sql: str, rows: Sequence[dict[str, Any]]) -> None:
        self._cur.executemany(sql, rows)


class SqliteBackend(Backend):
    """A SQLite file through ``sqlite3``: a small pool of connections shared by threads.

    Connections run in autocommit mode (``isolation_level=None``), so the transactions are
    the ones this class begins: ``BEGIN IMMEDIATE`` for writes (the write lock is taken up
    front, a second writer waits ``busy_timeout`` instead of failing with "database is
    locked" when a read transaction tries to become a write one), a deferred ``BEGIN`` for
    reads.
    """

    dialect = "sqlite"

    def __init__(self, path: str, display: str):
        if not path.startswith("file:"):
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.display = display
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closing = False

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                               check_same_thread=False, uri=self.path.startswith("file:"))
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            _set_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self, begin: str, verb: str) -> Iterator[Tx]:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        try:
            if conn is None:
                conn = self._connect()
            conn.execute(begin)
        except sqlite3.Error as exc:
            if conn is not None:
                self._release(conn)
            raise self._error(verb, exc) from exc
        try:
            yield _SqliteTx(conn.cursor())
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._release(conn)
            if isinstance(exc, sqlite3.Error):
                raise self._error(verb, exc) from exc
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self._release(conn)
            raise self._error(verb, exc) from exc
        if begin != "BEGIN":
            self.commits += 1
        self._release(conn)

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if conn not in self._all:
                return
            if not self._closing:
                self._idle.append(conn)
                return
            self._all.remove(conn)
        conn.close()  # the store was closed while this transaction ran

    def _error(self, verb: str, exc: sqlite3.Error) -> StoreError:
        return _store_error(verb, self.display, exc,
                            transient=isinstance(exc, sqlite3.OperationalError),
                            integrity=isinstance(exc, sqlite3.IntegrityError))

    def read(self) -> Any:
        return self._tx("BEGIN", "read from")

    def write(self) -> Any:
        return self._tx("BEGIN IMMEDIATE", "write to")

    def has_table(self, tx: Tx, name: str) -> bool:
        return bool(tx.rows("SELECT name FROM sqlite_master WHERE type = 'table' AND name = :n",
                            {"n": name}))

    def close(self) -> None:
        """Close the idle connections now and each busy one when its transaction ends:
        closing a connection another thread is using (the store writer's last batch)
        crashes the sqlite3 module. A transaction begun after close gets a connection
        of its own, closed when it ends."""
        with self._lock:
            self._closing = True
            idle, self._idle = self._idle, []
            self._all = [c for c in self._all if c not in idle]
        for conn in idle:
            conn.close()

    # SQLite has no time zones: naive UTC text with microseconds, so text order is time order
    # (the format SQLAlchemy's DateTime wrote, so older stores read and sort the same).
    def enc_dt(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")

    def dec_dt(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def enc_json(self, value: Any) -> Any:
        return None if value is None else json.dumps(value)

    def dec_json(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. On a brand-new file several processes race for this; SQLite answers
    "database is locked" at once for a journal-mode change (the busy timeout does not
    apply), so retry with a short backoff."""
    delay, deadline = 0.005, time.monotonic() + 30.0
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


# -- PostgreSQL (and the SQLAlchemy engine of any store) ----------------------------------------


class _SaTx(Tx):
    __slots__ = ("_texts",)

    def __init__(self, conn: Any, texts: dict[str, Any]):
        super().__init__(conn)
        self._texts = texts

    def _text(self, sql: str) -> Any:
        t = self._texts.get(sql)
        if t is None:
            import sqlalchemy as sa

            t = self._texts[sql] = sa.text(sql)
        return t

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self._cur.execute(self._text(sql), params or {})]

    def run(self, sql: str, params: dict[str, Any] | None = None) -> int:
        return self._cur.execute(self._text(sql), params or {}).rowcount

    def many(self, sql: str, rows: Sequence[dict[str, Any]]) -> None:
        self._cur.execute(self._text(sql), list(rows))


class SqlAlchemyBackend(Backend):
    """The store's SQL through a SQLAlchemy engine (PostgreSQL over psycopg 3)."""

    def __init__(self, engine: Any, display: str):
        self.engine = engine
        self.display = display
        self.dialect = engine.dialect.name
        self._texts: dict[str, Any] = {}
        self._jsonb: Any = None if engine.dialect.driver == "psycopg" else json.dumps

    @contextmanager
    def _tx(self, write: bool) -> Iterator[Tx]:
        from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

        verb = "write to" if write else "read from"
        try:
            if write:
                with self.engine.execution_options(datamill_write=True).begin() as conn:
                    yield _SaTx(conn, self._texts)
                self.commits += 1
            else:
                with self.engine.connect() as conn:
                    yield _SaTx(conn, self._texts)
        except SQLAlchemyError as exc:
            raise _store_error(verb, self.display, exc,
                               transient=isinstance(exc, OperationalError),
                               integrity=isinstance(exc, IntegrityError)) from exc

    def read(self) -> Any:
        return self._tx(False)

    def write(self) -> Any:
        return self._tx(True)

    def has_table(self, tx: Tx, name: str) -> bool:
        import sqlalchemy as sa

        return sa.inspect(tx._cur).has_table(name)  # noqa: SLF001

    def close(self) -> None:
        self.engine.dispose()

    # psycopg 3 hands timestamptz and JSONB over as Python values already
    def enc_dt(self, value: datetime | None) -> Any:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)

    def dec_dt(self, value: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def enc_json(self, value: Any) -> Any:
        if value is None:
            return None
        if self._jsonb is None:
            from psycopg.types.json import Jsonb

            self._jsonb = Jsonb
        return self._jsonb(value)

    def dec_json(self, value: Any) -> Any:
        return value
