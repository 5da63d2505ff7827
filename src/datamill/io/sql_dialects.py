"""The per-database half of the SQL connector: connect, quote, read in chunks, bulk insert.

One class per database family (SQLite, DuckDB, MariaDB/MySQL here; PostgreSQL in
``sql_pg.py``). :mod:`datamill.io.sql` drives them with one write algorithm.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from datamill._secrets import from_file
from datamill.errors import DatamillError, require
from datamill.io import sql_types as st
from datamill.io.url import Location


class DatabaseError(DatamillError):
    """A database could not be reached, or a read or write failed there."""


PG_PASSTHROUGH = ("sslmode", "sslrootcert", "sslcert", "sslkey", "application_name",
                  "connect_timeout", "options", "target_session_attrs")


def password_for(loc: Location, url_password: str | None) -> str | None:
    """The password: from the URL, else the ``password_file=`` option, else
    ``DATAMILL_DB_PASSWORD``."""
    if url_password:
        return url_password
    pf = loc.options.get("password_file")
    if pf:
        return from_file(str(pf), f"password_file of {loc.display}")
    return os.environ.get("DATAMILL_DB_PASSWORD") or None


def rechunk(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of record batches into batches of exactly ``size`` rows (the last
    may be shorter), holding at most about one batch in memory."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for b in batches:
        while b.num_rows:
            take = min(size - count, b.num_rows)
            pending.append(b.slice(0, take))
            count += take
            b = b.slice(take)
            if count == size:
                yield _concat(pending)
                pending, count = [], 0
    if count:
        yield _concat(pending)


def _concat(parts: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(parts) == 1:
        return parts[0]
    return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]


class Dialect:
    """The common part of every database: quoting, SQL text, the DB-API calls."""

    name = "?"
    quote_char = '"'
    transactional_ddl = True
    checks_duplicates = False  # True: the upsert itself fails on a key given twice
    # True: keys given twice are found in Arrow as the rows stream to the stage (when the
    # key types compare by value there as in the database), not by a GROUP BY on the stage
    arrow_duplicate_check = False

    def __init__(self, loc: Location):
        from sqlalchemy.engine import make_url

        self.loc = loc
        self.url = make_url(loc.path)
        self.password = password_for(loc, self.url.password)
        self.conn: Any = None

    # ----------------------------------------------------------------- connection

    def connect(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # a dead server: nothing to close
                pass
            self.conn = None

    def clean(self, text: str) -> str:
        """An error message with the password removed."""
        if self.password:
            text = text.replace(self.password, "***")
        return text

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except Exception:  # the connection is gone: the server rolls back for us
            pass

    # ------------------------------------------------------------------------ SQL

    def q(self, ident: str) -> str:
        c = self.quote_char
        return c + str(ident).replace(c, c + c) + c

    def qual(self, schema: str | None, table: str) -> str:
        return f"{self.q(schema)}.{self.q(table)}" if schema else self.q(table)

    def ph(self, i: int) -> str:
        return "?"

    def execute(self, sql: str, params: Any = ()) -> Any:
        cur = self.conn.cursor()
        cur.execute(sql, params) if params else cur.execute(sql)
        return cur

    def fetchall(self, sql: str, params: Any = ()) -> list[tuple]:
        cur = self.execute(sql, params)
        try:
            return list(cur.fetchall())
        finally:
            cur.close()

    def column_types(self, schema: str | None, table: str) -> list[tuple[str, str]] | None:
        """``[(name, declared type)]`` of a table, or None if it does not exist."""
        raise NotImplementedError

    def unique_keys(self, schema: str | None, table: str) -> list[set[str]]:
        """The column sets of the table's unique indexes / constraints."""
        return []

    def create_table(self, schema: str | None, table: str, arrow: pa.Schema,
                     keys: list[str] | None = None, temporary: bool = False) -> None:
        cols = ", ".join(
            f"{self.q(f.name)} {st.column_type(self.name, f.type, key=f.name in (keys or []))}"
            for f in arrow)
        kind = "TEMPORARY TABLE" if temporary else "TABLE"
        self.execute(f"CREATE {kind} {self.qual(schema, table)} ({cols})").close()

    def rename_sql(self, schema: str | None, old: str, new: str) -> list[str]:
        return [f"ALTER TABLE {self.qual(schema, old)} RENAME TO {self.q(new)}"]

    def upsert_sql(self, target: str, stage: str, cols: list[str], keys: list[str]) -> str:
        names = ", ".join(self.q(c) for c in cols)
        updates = [c for c in cols if c not in keys]
        action = ("DO UPDATE SET " + ", ".join(f"{self.q(c)} = excluded.{self.q(c)}" for c in updates)
                  if updates else "DO NOTHING")
        return (f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage} WHERE true "
                f"ON CONFLICT ({', '.join(self.q(k) for k in keys)}) {action}")

    def upsert(self, target: str, stage: str, cols: list[str], keys: list[str]) -> None:
        """Insert the staged rows, updating the rows whose keys exist (no duplicate keys
        in the stage: checked before)."""
        self.execute(self.upsert_sql(target, stage, cols, keys)).close()

    def stage_name(self) -> str:
        return f"_dm_stage_{uuid.uuid4().hex[:12]}"

    # ----------------------------------------------------------------- data paths

    def insert(self, schema: str | None, table: str, arrow: pa.Schema,
               batches: Iterable[pa.RecordBatch], fresh: bool = False) -> int:
        """Insert every batch into an existing table; returns the row count."""
        target = self.qual(schema, table)
        names = ", ".join(self.q(f.name) for f in arrow)
        marks = ", ".join(self.ph(i + 1) for i in range(len(arrow)))
        sql = f"INSERT INTO {target} ({names}) VALUES ({marks})"
        rows = 0
        cur = self.conn.cursor()
        try:
            for b in batches:
                cur.executemany(sql, list(zip(*st.py_columns(b, self.name), strict=True)))
                rows += b.num_rows
        finally:
            cur.close()
        return rows

    def stage(self, arrow: pa.Schema, batches: Iterable[pa.RecordBatch]) -> tuple[str, int]:
        """Load the batches into a new temporary table; returns (its quoted name, rows)."""
        name = self.stage_name()
        self.create_table(None, name, arrow, temporary=True)
        return self.q(name), self.insert(None, name, arrow, batches)

    def drop_stage(self, stage: str) -> None:
        self.execute(f"DROP TABLE {stage}").close()

    def read(self, sql: str, params: list[Any], batch_size: int,
             types: dict[str, pa.DataType | None]) -> Iterator[pa.RecordBatch]:
        """Run a query and yield its rows as record batches of ``batch_size`` rows."""
        cur = self.read_cursor()
        try:
            cur.execute(sql, params) if params else cur.execute(sql)
            names = [d[0] for d in cur.description]
            kinds = [types.get(n) or self.description_type(d) for n, d in
                     zip(names, cur.description, strict=True)]
            while True:
                rows = cur.fetchmany(batch_size)
                if not rows:
                    break
                cols = list(zip(*rows, strict=True))
                yield pa.RecordBatch.from_arrays(
                    [st.to_array(list(c), k) for c, k in zip(cols, kinds, strict=True)], names=names)
        finally:
            cur.close()

    def read_cursor(self) -> Any:
        return self.conn.cursor()

    def description_type(self, d: Any) -> pa.DataType | None:
        return None

    def empty_schema(self, sql: str, types: dict[str, pa.DataType | None]) -> pa.Schema:
        cur = self.read_cursor()
        try:
            cur.execute(f"SELECT * FROM ({sql}) AS _dm_s WHERE 1 = 0")
            fields = [pa.field(d[0], types.get(d[0]) or self.description_type(d) or pa.string())
                      for d in cur.description]
            cur.fetchall()
        finally:
            cur.close()
        return pa.schema(fields)


# ---------------------------------------------------------------------------- SQLite


class SqliteDialect(Dialect):
    name = "sqlite"

    def connect(self) -> None:
        import sqlite3

        path = self.url.database or ":memory:"
        if path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise DatabaseError(f"cannot open {self.loc.display}: folder {parent} does not "
                                    "exist")
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)

    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn is not None and self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def qual(self, schema: str | None, table: str) -> str:
        return f"{self.q(schema)}.{self.q(table)}" if schema else self.q(table)

    def column_types(self, schema: str | None, table: str) -> list[tuple[str, str]] | None:
        pragma = f"PRAGMA {self.q(schema)}.table_info({self.q(table)})" if schema else \
            f"PRAGMA table_info({self.q(table)})"
        rows = self.fetchall(pragma)
        return [(r[1], r[2]) for r in rows] or None

    def unique_keys(self, schema: str | None, table: str) -> list[set[str]]:
        pre = f"{self.q(schema)}." if schema else ""
        out = []
        for row in self.fetchall(f"PRAGMA {pre}index_list({self.q(table)})"):
            if row[2] and not row[4]:  # unique, not partial
                cols = self.fetchall(f"PRAGMA {pre}index_info({self.q(row[1])})")
                out.append({c[2] for c in cols})
        return out

    def create_unique(self, schema: str | None, table: str, keys: list[str]) -> None:
        idx = self.q(f"{table}__dm_key")
        name = f"{self.q(schema)}.{idx}" if schema else idx
        cols = ", ".join(self.q(k) for k in keys)
        self.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {self.q(table)} ({cols})").close()

    def stage(self, arrow: pa.Schema, batches: Iterable[pa.RecordBatch]) -> tuple[str, int]:
        name = self.stage_name()
        self.create_table("temp", name, arrow, temporary=False)
        return self.qual("temp", name), self.insert("temp", name, arrow, batches)


# ---------------------------------------------------------------------------- DuckDB


class DuckDialect(Dialect):
    name = "duckdb"

    def connect(self) -> None:
        duckdb = require("duckdb", "etl", "DuckDB tables")
        path = self.url.database or ":memory:"
        try:
            self.conn = duckdb.connect(path)
        except Exception as exc:
            raise DatabaseError(f"cannot open {self.loc.display}: {exc}") from exc

    def begin(self) -> None:
        self.conn.begin()

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except Exception:  # no transaction open
            pass

    def execute(self, sql: str, params: Any = ()) -> Any:
        # Not conn.cursor(): a DuckDB cursor is another connection, outside this transaction.
        self.conn.execute(sql, params or None)
        return _Done()

    def fetchall(self, sql: str, params: Any = ()) -> list[tuple]:
        return self.conn.execute(sql, params or None).fetchall()

    def column_types(self, schema: str | None, table: str) -> list[tuple[str, str]] | None:
        rows = self.conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = coalesce(?, current_schema()) ORDER BY ordinal_position",
            [table, schema]).fetchall()
        return [(r[0], r[1]) for r in rows] or None

    def insert(self, schema: str | None, table: str, arrow: pa.Schema,
               batches: Iterable[pa.RecordBatch], fresh: bool = False) -> int:
        counter = _Counter(batches)
        reader = pa.RecordBatchReader.from_batches(arrow, counter)
        view = f"_dm_in_{uuid.uuid4().hex[:12]}"
        self.conn.register(view, reader)
        try:
            names = ", ".join(self.q(f.name) for f in arrow)
            self.conn.execute(f"INSERT INTO {self.qual(schema, table)} ({names}) "
                              f"SELECT {names} FROM {self.q(view)}")
        finally:
            self.conn.unregister(view)
        return counter.rows

    def stage(self, arrow: pa.Schema, batches: Iterable[pa.RecordBatch]) -> tuple[str, int]:
        name = self.stage_name()
        self.create_table(None, name, arrow, temporary=True)
        return self.q(name), self.insert(None, name, arrow, batches)

    def upsert_sql(self, target: str, stage: str, cols: list[str], keys: list[str]) -> str:
        # MERGE needs no unique index on the keys (DuckDB's ON CONFLICT would).
        on = " AND ".join(f"_dm_t.{self.q(k)} = _dm_s.{self.q(k)}" for k in keys)
        names = ", ".join(self.q(c) for c in cols)
        values = ", ".join(f"_dm_s.{self.q(c)}" for c in cols)
        updates = [c for c in cols if c not in keys]
        matched = ("WHEN MATCHED THEN UPDATE SET " +
                   ", ".join(f"{self.q(c)} = _dm_s.{self.q(c)}" for c in updates)) if updates else ""
        return (f"MERGE INTO {target} AS _dm_t USING {stage} AS _dm_s ON ({on}) {matched} "
                f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})")

    def read(self, sql: str, params: list[Any], batch_size: int,
             types: dict[str, pa.DataType | None]) -> Iterator[pa.RecordBatch]:
        cur = self.conn.cursor()  # its own connection: the read does not block writers
        try:
            rel = cur.sql(sql, params=params or None)
            yield from (_utc(b) for b in rechunk(rel.to_arrow_reader(batch_size), batch_size))
        finally:
            cur.close()

    def empty_schema(self, sql: str, types: dict[str, pa.DataType | None]) -> pa.Schema:
        rel = self.conn.sql(f"SELECT * FROM ({sql}) AS _dm_s LIMIT 0")
        return _utc(pa.RecordBatch.from_pylist([], schema=rel.to_arrow_table().schema)).schema


def _utc(batch: pa.RecordBatch) -> pa.RecordBatch:
    """DuckDB names the session time zone (Etc/UTC); datamill's timestamps say UTC."""
    if not any(pa.types.is_timestamp(f.type) and f.type.tz for f in batch.schema):
        return batch
    cols = [c.cast(pa.timestamp(c.type.unit, tz="UTC")) if pa.types.is_timestamp(c.type)
            and c.type.tz else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


class _Done:
    def close(self) -> None:
        pass


class _Counter:
    """An iterator of record batches that counts the rows passing through."""

    def __init__(self, batches: Iterable[pa.RecordBatch]):
        self.it = iter(batches)
        self.rows = 0

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> pa.RecordBatch:
        b = next(self.it)
        self.rows += b.num_rows
        return b


# ---------------------------------------------------------------------- MariaDB/MySQL


class MysqlDialect(Dialect):
    name = "mysql"
    quote_char = "`"
    transactional_ddl = False  # DDL commits implicitly: it runs before the data transaction

    def connect(self) -> None:
        pymysql = require("pymysql", "mysql", "MariaDB / MySQL tables")
        u = self.url
        try:
            self.conn = pymysql.connect(
                host=u.host or "127.0.0.1", port=u.port or 3306, user=u.username or "root",
                password=self.password or "", database=u.database, charset="utf8mb4",
                connect_timeout=int(self.loc.options.get("connect_timeout", 10)),
                autocommit=False, local_infile=False)
        except Exception as exc:
            raise DatabaseError(self.clean(f"cannot connect to {self.loc.display}: {exc}")) from exc
        with self.conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")

    def q(self, ident: str) -> str:
        return "`" + str(ident).replace("`", "``") + "`"

    def ph(self, i: int) -> str:
        return "%s"

    def begin(self) -> None:
        self.conn.begin()

    def column_types(self, schema: str | None, table: str) -> list[tuple[str, str]] | None:
        rows = self.fetchall(
            "SELECT column_name, column_type FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = COALESCE(%s, DATABASE()) ORDER BY ordinal_position",
            (table, schema))
        return [(r[0], r[1]) for r in rows] or None

    def unique_keys(self, schema: str | None, table: str) -> list[set[str]]:
        rows = self.fetchall(
            "SELECT index_name, column_name FROM information_schema.statistics WHERE table_name = %s "
            "AND table_schema = COALESCE(%s, DATABASE()) AND non_unique = 0", (table, schema))
        out: dict[str, set[str]] = {}
        for idx, col in rows:
            out.setdefault(idx, set()).add(col)
        return list(out.values())

    def create_unique(self, schema: str | None, table: str, keys: list[str]) -> None:
        cols = ", ".join(self.q(k) for k in keys)
        idx = self.q(f"{table[:50]}__dm_key")
        self.execute(f"CREATE UNIQUE INDEX {idx} ON {self.qual(schema, table)} ({cols})").close()

    def rename_sql(self, schema: str | None, old: str, new: str) -> list[str]:
        return [f"RENAME TABLE {self.qual(schema, old)} TO {self.qual(schema, new)}"]

    def swap_sql(self, schema: str | None, table: str, new: str, old: str) -> str:
        """One atomic RENAME TABLE moving the old table away and the new one in."""
        return (f"RENAME TABLE {self.qual(schema, table)} TO {self.qual(schema, old)}, "
                f"{self.qual(schema, new)} TO {self.qual(schema, table)}")

    def upsert_sql(self, target: str, stage: str, cols: list[str], keys: list[str]) -> str:
        names = ", ".join(self.q(c) for c in cols)
        updates = [c for c in cols if c not in keys] or keys[:1]
        sets = ", ".join(f"{self.q(c)} = _dm_s.{self.q(c)}" for c in updates)
        return (f"INSERT INTO {target} ({names}) SELECT {names} FROM {stage} AS _dm_s "
                f"ON DUPLICATE KEY UPDATE {sets}")

    def drop_stage(self, stage: str) -> None:
        self.execute(f"DROP TEMPORARY TABLE {stage}").close()

    def read_cursor(self) -> Any:
        import pymysql.cursors

        return self.conn.cursor(pymysql.cursors.SSCursor)

    def description_type(self, d: Any) -> pa.DataType | None:
        return st.mysql_type(d[1], d[3], d[4], d[5])
