"""Opening a run store: its URL, its backend, and a schema at ``SCHEMA_REVISION``.

The fast path matters: every ``datamill run`` and CLI call opens the store. On SQLite an
up-to-date store costs one read of ``alembic_version`` through ``sqlite3``; a brand-new
SQLite file gets the head schema from ``migrations/sqlite_head.sql`` (the tables exactly as
the alembic chain creates them, generated from it and checked by a test) and is stamped
at the head. Neither imports SQLAlchemy or alembic. A store that is behind (or any new or
behind PostgreSQL store) is upgraded by alembic, in one write transaction.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from datamill.errors import StoreError, require
from datamill.store import sql
from datamill.store.backends import Backend, SqlAlchemyBackend, SqliteBackend, Tx

__all__ = ["ENV_URL", "display", "make_backend", "resolve_url", "sa_engine"]

ENV_URL = "DATAMILL_STORE"
DEFAULT_DIR = ".datamill"
DEFAULT_FILE = "runs.db"

# Advisory lock key PostgreSQL schema upgrades serialise on ("datamill" in ASCII, as int).
_PG_MIGRATION_LOCK = 0x646174616D696C6C
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][\w+.-]*)://(?P<rest>.*)$", re.S)
_SQLITE = re.compile(r"^(?P<host>[^/?]*)(?:/(?P<db>[^?]*))?(?:\?(?P<query>.*))?$", re.S)
_PASSWORD = re.compile(r"^(?P<head>[^/@:]*:)(?P<pw>[^@/]*)(?P<tail>@.*)$", re.S)
HEAD_SQL = Path(__file__).resolve().parent / "migrations" / "sqlite_head.sql"


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


def display(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    m = _SCHEME.match(url)
    if m is None:
        return url
    rest = m.group("rest")
    auth, sep, after = rest.partition("@")
    if not sep or "/" in auth:
        return url
    pw = _PASSWORD.match(rest)
    if pw is None:
        return url
    return f"{m.group('scheme')}://{pw.group('head')}***{pw.group('tail')}"


def _bad_url(url: str, why: str) -> StoreError:
    return StoreError(f"cannot parse run store URL {url!r}: {why}; use sqlite:///path/runs.db "
                      "or postgresql://user@host/db")


def _sqlite_path(url: str, rest: str) -> str:
    m = _SQLITE.match(rest)
    if m is None or m.group("host"):
        raise _bad_url(url, "a SQLite URL has no host")
    database = unquote(m.group("db") or "")
    query = dict(parse_qsl(m.group("query") or ""))
    if database in ("", ":memory:") or query.get("mode") == "memory":
        raise StoreError(
            f"the run store needs a SQLite file, not an in-memory database ({url!r}); "
            "use sqlite:///path/runs.db"
        )
    return database


def make_backend(url: str) -> Backend:
    """The backend for a resolved store URL (sqlite3 for SQLite, SQLAlchemy for PostgreSQL)."""
    m = _SCHEME.match(url)
    if m is None:
        raise _bad_url(url, "it has no scheme")
    scheme = m.group("scheme").lower()
    backend, _, driver = scheme.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return SqliteBackend(_sqlite_path(url, m.group("rest")), url)
    if backend == "postgresql":
        if driver == "psycopg":
            require("psycopg", "postgres", "the PostgreSQL run store")
        return SqlAlchemyBackend(sa_engine(url), display(url))
    raise StoreError(
        f"unsupported run store URL {display(url)!r}: the run store runs on SQLite "
        "(sqlite:///path/runs.db) or PostgreSQL (postgresql://user@host/db)"
    )


def sa_engine(url: str) -> Any:
    """A SQLAlchemy engine with the store's connection settings (SQLite pragmas and
    ``BEGIN IMMEDIATE`` for writes, as the sqlite3 backend does): for migrations, for
    PostgreSQL, and for layers that use SQLAlchemy Core on ``store.engine``."""
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = sa.engine.make_url(url)
    except ArgumentError as exc:
        raise _bad_url(url, str(exc)) from None
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    engine = sa.create_engine(parsed, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        from datamill.store.backends import _set_wal

        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself, below
        dbapi_conn.execute("PRAGMA busy_timeout=30000")
        _set_wal(dbapi_conn)
        dbapi_conn.execute("PRAGMA synchronous=NORMAL")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("datamill_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


# -- the schema ---------------------------------------------------------------------------------


def _versions(db: Backend, tx: Tx) -> set[str]:
    if not db.has_table(tx, "alembic_version"):
        return set()
    return {r["version_num"] for r in tx.rows(sql.SCHEMA_VERSIONS)}


def head_statements() -> tuple[str | None, list[str]]:
    """The revision and the DDL statements of ``sqlite_head.sql`` (None if absent)."""
    try:
        text = HEAD_SQL.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, []
    first, _, body = text.partition("\n")
    rev = first.removeprefix("-- revision ").strip() if first.startswith("-- revision ") else None
    body = "\n".join(line for line in body.splitlines() if not line.startswith("--"))
    return rev, [s.strip() for s in body.split(";\n") if s.strip()]


def ensure_schema(db: Backend, url: str, engine: Any) -> None:
    """Bring the store to ``SCHEMA_REVISION``; a cheap version read when it is there.

    ``engine()`` gives the SQLAlchemy engine alembic runs on (made only when needed).
    """
    from datamill.store import schema

    want = {schema.SCHEMA_REVISION}
    with db.read() as tx:
        if _versions(db, tx) == want:
            return
    if db.dialect == "sqlite" and _bootstrap_sqlite(db, want):
        return
    _migrate(db, engine(), want)


def _bootstrap_sqlite(db: Backend, want: set[str]) -> bool:
    """Create the head schema in an empty SQLite file without alembic; False when the file
    is not empty (alembic upgrades it) or the shipped DDL is not for ``want``."""
    rev, statements = head_statements()
    if rev is None or {rev} != want:
        return False
    with db.write() as tx:
        if _versions(db, tx) == want:
            return True  # another process created it meanwhile
        if tx.rows("SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1"):
            return False
        for stmt in statements:
            tx.run(stmt)
        tx.run("INSERT INTO alembic_version (version_num) VALUES (:v)", {"v": rev})
    return True


def _migrate(db: Backend, engine: Any, want: set[str]) -> None:
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    from datamill.store import migrations, schema

    display = db.display

    def versions(conn: Any) -> set[str]:
        if not sa.inspect(conn).has_table("alembic_version"):
            return set()
        return set(conn.exec_driver_sql(sql.SCHEMA_VERSIONS).scalars())

    try:
        with engine.execution_options(datamill_write=True).begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            # Re-read under the lock: another process may have upgraded meanwhile.
            have = versions(conn)
            if have == want:
                return
            unknown = have - migrations.known_revisions()
            if unknown:
                raise StoreError(
                    f"the run store at {display} is at schema revision "
                    f"{', '.join(sorted(unknown))}, newer than this datamill knows "
                    f"(up to {schema.SCHEMA_REVISION}); upgrade datamill"
                )
            try:
                migrations.upgrade(conn, schema.SCHEMA_REVISION)
            except SQLAlchemyError:
                raise
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(
                    f"cannot upgrade the run store at {display} to schema "
                    f"{schema.SCHEMA_REVISION}: {exc}"
                ) from exc
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(f"cannot write to the run store at {display}: {detail}") from exc
