"""The SQL connector: tables and queries of SQLite, DuckDB, PostgreSQL and MariaDB/MySQL.

    sqlite:///shop.db#orders                        duckdb:///wh.duckdb#main.orders
    postgresql://user@host/db#public.orders         mysql+pymysql://root@host/db#orders
    postgresql://user@host/db#?query=SELECT id, total FROM orders WHERE total > 10

Reads stream Arrow record batches through server-side cursors; ``incremental=<column>``
with ``since=<value>`` reads only rows past a watermark and leaves the new one in
``source.max_watermark``. Writes (append, replace, merge) are one transaction each and
record their load id in ``_datamill_loads`` so a retried load is skipped. See
``docs/io-sql.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

import pyarrow as pa

from datamill.errors import DatamillError, UsageError
from datamill.io import sql_types as st
from datamill.io.base import WriteReport
from datamill.io.sql_dialects import (
    DatabaseError,
    Dialect,
    DuckDialect,
    MysqlDialect,
    SqliteDialect,
)
from datamill.io.sql_errors import limit_hint, short_message
from datamill.io.url import Location, opt_bool

__all__ = ["DatabaseError", "SqlSink", "SqlSource", "open_sink", "open_source"]

LOADS_TABLE = "_datamill_loads"
NEW_SUFFIX, OLD_SUFFIX = "__dm_new", "__dm_old"


def dialect_for(loc: Location) -> Dialect:
    """The dialect object for a database URL (not connected yet)."""
    scheme = loc.scheme
    if scheme == "sqlite":
        return SqliteDialect(loc)
    if scheme == "duckdb":
        return DuckDialect(loc)
    if scheme == "postgresql":
        from datamill.io.sql_pg import PgDialect

        return PgDialect(loc)
    if scheme in ("mysql", "mariadb"):
        return MysqlDialect(loc)
    raise UsageError(f"no SQL dialect for {loc.display!r}: use sqlite, duckdb, postgresql or "
                     "mysql+pymysql / mariadb URLs")


def open_source(loc: Location, **opts: Any) -> SqlSource:
    return SqlSource(Location(loc.raw, loc.family, loc.scheme, loc.path, loc.table, loc.schema,
                              {**loc.options, **opts}) if opts else loc)


def open_sink(loc: Location, **opts: Any) -> SqlSink:
    return SqlSink(Location(loc.raw, loc.family, loc.scheme, loc.path, loc.table, loc.schema,
                            {**loc.options, **opts}) if opts else loc)


# ----------------------------------------------------------------------------- reads


class SqlSource:
    """Rows of a table (``#schema.table``) or of a query (``query=`` option)."""

    def __init__(self, loc: Location):
        self.location = loc
        self.query: str | None = loc.options.get("query")
        if not self.query and not loc.table:
            raise UsageError(f"{loc.display}: name a table (URL#table or URL#schema.table) or "
                             "give a query (URL#?query=SELECT ... or query='SELECT ...')")
        self.incremental: str | None = loc.options.get("incremental") or None
        self.since: Any = loc.options.get("since")
        if self.since == "":
            self.since = None
        self.max_watermark: Any = None  # set after a full read when incremental= is given
        self.rows = 0

    def _from(self, d: Dialect) -> str:
        if self.query:
            return f"({self.query.strip().rstrip(';')}) AS _dm_q"
        return d.qual(self.location.schema, self.location.table)  # type: ignore[arg-type]

    def _declared(self, d: Dialect) -> dict[str, pa.DataType | None]:
        if self.query:
            return {}
        if isinstance(d, SqliteDialect):
            decl = d.column_types(self.location.schema, self.location.table) or []
            return {name: st.sqlite_decl_type(t) for name, t in decl}
        if d.name == "postgresql":
            return d.numeric_types(self.location.schema, self.location.table)  # type: ignore[attr-defined]
        return {}

    def schema(self) -> pa.Schema | None:
        with _connected(self.location) as d:
            return self._schema(d)

    def _schema(self, d: Dialect) -> pa.Schema:
        return d.empty_schema(f"SELECT * FROM {self._from(d)}", self._declared(d))

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000) -> Iterator[pa.RecordBatch]:
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, not {batch_size}")
        loc = self.location
        with _connected(loc) as d:
            types = self._declared(d)
            inc = self.incremental
            cols = list(columns) if columns else None
            extra = inc is not None and cols is not None and inc not in cols
            select = "*" if cols is None else ", ".join(d.q(c) for c in cols + ([inc] if extra else []))
            sql = f"SELECT {select} FROM {self._from(d)}"
            params: list[Any] = []
            if inc is not None:
                schema = self._schema(d)
                if inc not in schema.names:
                    raise UsageError(f"incremental column {inc!r} is not a column of "
                                     f"{loc.display} (columns: {', '.join(schema.names)})")
                t = schema.field(inc).type
                if self.since is not None:
                    if d.name == "postgresql":
                        bound = d.bind_since(self.since, t, d.q(inc), self._from(d))  # type: ignore[attr-defined]
                        sql += f" WHERE {d.q(inc)} > {bound}"
                    else:
                        sql += f" WHERE {d.q(inc)} > {d.ph(1)}"
                        params.append(st.py_value(self.since, t, d.name))
                sql += f" ORDER BY {d.q(inc)}"
            self.max_watermark = None
            self.rows = 0
            try:
                for batch in d.read(sql, params, batch_size, types):
                    if inc is not None and batch.num_rows:
                        import pyarrow.compute as pc

                        top = pc.max(batch.column(inc)).as_py()
                        if top is not None and (self.max_watermark is None or top > self.max_watermark):
                            self.max_watermark = top
                        if extra:
                            batch = batch.drop_columns([inc])
                    self.rows += batch.num_rows
                    yield batch
            except DatamillError:
                raise
            except Exception as exc:
                raise DatabaseError(d.clean(f"reading {loc.display} failed: {_msg(exc)}")) from exc
            if inc is not None and self.max_watermark is None:
                self.max_watermark = self.since  # nothing new: the watermark stays


# ---------------------------------------------------------------------------- writes


class SqlSink:
    """Writes to one table; every write is one transaction, keyed by its load id."""

    def __init__(self, loc: Location):
        if not loc.table:
            raise UsageError(f"{loc.display}: name the table to write (URL#table or "
                             "URL#schema.table)")
        self.location = loc
        self.evolve = opt_bool(loc.options.get("evolve"), False, name="evolve")

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        if mode not in ("append", "replace", "merge"):
            raise UsageError(f"mode must be append, replace or merge, not {mode!r}")
        keys = [key] if isinstance(key, str) else list(key or [])
        if mode == "merge" and not keys:
            raise UsageError("mode='merge' needs key columns (key=['id'])")
        it = iter(batches)
        first = next(it, None)
        if first is not None and isinstance(first, pa.Table):
            it = chain(first.to_batches()[1:], it)
            first = first.to_batches()[0] if first.num_rows else pa.RecordBatch.from_pylist(
                [], schema=first.schema)
        arrow = st.normal_schema(first.schema) if first is not None else None
        stream: Iterator[pa.RecordBatch] = iter(())
        if first is not None and arrow is not None:
            stream = (st.normalise(b, arrow) for b in chain([first], it) if b.num_rows)
        if arrow is not None:
            missing = [k for k in keys if k not in arrow.names]
            if missing:
                raise UsageError(f"merge key column(s) {', '.join(map(repr, missing))} are not in "
                                 f"the data written to {self.location.display}")
        loc = self.location
        report = WriteReport(dataset=loc.dataset, mode=mode, load_id=load_id)
        d = dialect_for(loc)
        d.connect()
        try:
            self._write(d, arrow, stream, mode, keys, load_id, report)
        except DatamillError:
            d.rollback()
            raise
        except Exception as exc:
            d.rollback()
            raise DatabaseError(d.clean(
                f"writing {loc.display} ({mode}) failed and nothing was written; once the cause is "
                f"fixed, retry with the same load_id={load_id!r} (a `datamill copy`: `datamill "
                f"resume {load_id}`): {_msg(exc)}"
                f"{limit_hint(exc, len(arrow.names) if arrow is not None else None)}")) from exc
        finally:
            d.close()
        return report

    def _write(self, d: Dialect, arrow: pa.Schema | None, stream: Iterator[pa.RecordBatch],
               mode: str, keys: list[str], load_id: str | None, report: WriteReport) -> None:
        loc = self.location
        schema, table = loc.schema, loc.table
        assert table is not None
        loads = d.qual(schema, LOADS_TABLE)
        if d.transactional_ddl:
            d.begin()
        d.execute(_loads_ddl(d, loads)).close()
        if load_id is not None:
            seen = d.fetchall(f"SELECT 1 FROM {loads} WHERE table_name = {d.ph(1)} "
                              f"AND load_id = {d.ph(2)}", (table, str(load_id)))
            if seen:
                d.rollback()
                report.skipped = True
                return
        existing = d.column_types(schema, table)
        new_name = table[:40] + NEW_SUFFIX if len(table) > 40 else table + NEW_SUFFIX
        old_name = new_name[: -len(NEW_SUFFIX)] + OLD_SUFFIX

        # -- DDL (on MariaDB each statement commits, so all of it comes before the data)
        added: list[str] = []
        if mode == "replace":
            if arrow is not None:
                d.execute(f"DROP TABLE IF EXISTS {d.qual(schema, new_name)}").close()
                d.create_table(schema, new_name, arrow)
        elif arrow is not None:
            if existing is None:
                d.create_table(schema, table, arrow, keys=keys)
            else:
                names = {c for c, _ in existing}
                added = [f.name for f in arrow if f.name not in names]
                if added and not self.evolve:
                    raise UsageError(
                        f"{loc.display} has no column(s) {', '.join(map(repr, added))}; add them "
                        "to the table, drop them from the data, or write with evolve=True to "
                        "add them (ALTER TABLE ADD COLUMN)")
                for name in added:
                    ctype = st.column_type(d.name, arrow.field(name).type)
                    d.execute(f"ALTER TABLE {d.qual(schema, table)} ADD COLUMN {d.q(name)} "
                              f"{ctype}").close()
            if mode == "merge":
                bad = [k for k in keys if existing is not None and k not in {c for c, _ in existing}]
                if bad:
                    raise UsageError(f"merge key column(s) {', '.join(map(repr, bad))} are not "
                                     f"columns of {loc.display}")
                if not isinstance(d, DuckDialect) and set(keys) not in d.unique_keys(schema, table):
                    d.create_unique(schema, table, keys)  # type: ignore[attr-defined]
        if not d.transactional_ddl:
            d.begin()

        # -- data
        rows = 0
        target = d.qual(schema, table)
        if mode == "replace":
            if arrow is None:
                if existing is not None:
                    d.execute(f"DELETE FROM {target}").close()
            else:
                rows = d.insert(schema, new_name, arrow, stream, fresh=True)
                if existing is None:
                    for sql in d.rename_sql(schema, new_name, table):
                        d.execute(sql).close()
                elif isinstance(d, MysqlDialect):
                    d.execute(f"DROP TABLE IF EXISTS {d.qual(schema, old_name)}").close()
                    d.execute(d.swap_sql(schema, table, new_name, old_name)).close()
                    d.execute(f"DROP TABLE {d.qual(schema, old_name)}").close()
                else:
                    for sql in d.rename_sql(schema, table, old_name) + d.rename_sql(
                            schema, new_name, table):
                        d.execute(sql).close()
                    d.execute(f"DROP TABLE {d.qual(schema, old_name)}").close()
        elif arrow is not None and mode == "append":
            rows = d.insert(schema, table, arrow, stream)
        elif arrow is not None:  # merge
            tap = _KeyTap(arrow, keys) if d.arrow_duplicate_check else None
            stage, rows = d.stage(arrow, tap.tap(stream) if tap is not None else stream)
            kcols = ", ".join(d.q(k) for k in keys)
            dups = [] if d.checks_duplicates else tap.duplicates() if tap is not None else None
            if dups is None:
                dups = d.fetchall(f"SELECT {kcols}, COUNT(*) FROM {stage} GROUP BY {kcols} "
                                  "HAVING COUNT(*) > 1 LIMIT 5")
            if dups:
                shown = "; ".join(", ".join(f"{k}={v!r}" for k, v in zip(keys, r, strict=False))
                                  for r in dups)
                raise _duplicate_keys(loc, keys, f" ({shown})")
            try:
                d.upsert(target, stage, list(arrow.names), keys)
            except Exception as exc:
                if "second time" in str(exc) or "21000" in str(exc):
                    raise _duplicate_keys(loc, keys, "") from exc
                raise
            d.drop_stage(stage)

        if load_id is not None:
            d.execute(f"INSERT INTO {loads} (table_name, load_id, mode, row_count) VALUES "
                      f"({d.ph(1)}, {d.ph(2)}, {d.ph(3)}, {d.ph(4)})",
                      (table, str(load_id), mode, rows)).close()
        d.commit()
        report.rows = rows
        if added:
            report.details["added_columns"] = added


class _KeyTap:
    """Keeps the key columns of the rows streaming to the stage, to find keys given more
    than once in Arrow instead of with a GROUP BY over the staged rows. Only for key types
    whose values are equal in the database exactly when they are equal in Arrow (not
    floats: -0.0 and NaN); beyond ``LIMIT`` bytes of keys it gives up (``None``: ask the
    database)."""

    LIMIT = 256 << 20

    def __init__(self, arrow: pa.Schema, keys: list[str]):
        self.keys = keys
        exact = all(_exact_key(arrow.field(k).type) for k in keys)
        self.parts: list[pa.RecordBatch] | None = [] if exact else None
        self.size = 0

    def tap(self, stream: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in stream:
            if self.parts is not None:
                part = b.select(self.keys)
                self.size += part.nbytes
                if self.size > self.LIMIT:
                    self.parts = None
                else:
                    self.parts.append(part)
            yield b

    def duplicates(self) -> list[tuple] | None:
        """Up to five keys given more than once, or None when the database must check."""
        if self.parts is None:
            return None
        if not self.parts:
            return []
        import pyarrow.compute as pc

        t = pa.Table.from_batches(self.parts)
        if len(self.keys) == 1 and pc.count_distinct(t.column(0), mode="all").as_py() == len(t):
            return []
        counts = t.group_by(self.keys).aggregate([([], "count_all")])
        dup = counts.filter(pc.greater(counts["count_all"], 1)).slice(0, 5)
        return [tuple(r[k] for k in self.keys) for r in dup.to_pylist()]


def _exact_key(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_boolean(t)
            or pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t)
            or pa.types.is_decimal(t) or pa.types.is_fixed_size_binary(t))


def _duplicate_keys(loc: Location, keys: list[str], shown: str) -> UsageError:
    return UsageError(f"merge into {loc.display}: the data holds the same key "
                      f"({', '.join(keys)}) more than once{shown}; deduplicate it first (keep "
                      "the row you want per key: `datamill copy --dedupe first|last`)")


def _loads_ddl(d: Dialect, loads: str) -> str:
    text = "VARCHAR(255)"
    ts = "TIMESTAMP" if d.name != "mysql" else "TIMESTAMP(6)"
    return (f"CREATE TABLE IF NOT EXISTS {loads} (table_name {text} NOT NULL, load_id {text} NOT "
            f"NULL, mode VARCHAR(16), row_count BIGINT, loaded_at {ts} DEFAULT CURRENT_TIMESTAMP, "
            "PRIMARY KEY (table_name, load_id))")


class _connected:
    """``with _connected(loc) as dialect``: a connection for the duration of a read."""

    def __init__(self, loc: Location):
        self.d = dialect_for(loc)

    def __enter__(self) -> Dialect:
        self.d.connect()
        if self.d.name == "mysql":
            self.d.conn.autocommit(True)
        return self.d

    def __exit__(self, *exc: Any) -> None:
        self.d.rollback()
        self.d.close()


def _msg(exc: BaseException) -> str:
    return short_message(exc)
