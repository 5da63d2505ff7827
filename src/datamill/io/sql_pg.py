"""PostgreSQL through ADBC: Arrow-native binary COPY in and out, inside one transaction.

The ADBC connection runs with autocommit off, so the DDL, the COPY (``adbc_ingest``), the
upsert and the load-id row of a write all commit together or not at all. Reads go
through ``COPY (query) TO STDOUT (FORMAT binary)``, streamed and re-cut into batches.
A watermark value is bound as a parameter into a one-row temporary table, because ADBC
materialises the whole result of a query that has parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from datamill.errors import require
from datamill.io import sql_types as st
from datamill.io.sql_dialects import PG_PASSTHROUGH, DatabaseError, Dialect, _Counter, rechunk
from datamill.io.sql_errors import trim

# Batches go to the binary COPY in slices of at most this many rows (zero-copy): the
# driver encodes one batch while the server is still inserting the previous one, instead
# of encoding a whole 1M-row batch before the server sees a byte (about 1.3-1.7x faster
# on two cores).
COPY_SLICE = 65_536


class PgDialect(Dialect):
    name = "postgresql"
    arrow_duplicate_check = True

    def libpq_uri(self) -> str:
        u = self.url.set(drivername="postgresql", password=self.password, query={})
        query = {k: str(v) for k, v in self.loc.options.items() if k in PG_PASSTHROUGH}
        query.setdefault("connect_timeout", "10")
        return u.set(query=query).render_as_string(hide_password=False)

    def connect(self) -> None:
        dbapi = require("adbc_driver_postgresql.dbapi", "postgres", "PostgreSQL tables")
        try:
            self.conn = dbapi.connect(self.libpq_uri())
        except Exception as exc:
            raise DatabaseError(self.clean(f"cannot connect to {self.loc.display}: "
                                           f"{_first_line(exc)}")) from exc

    def ph(self, i: int) -> str:
        return f"${i}"

    def execute(self, sql: str, params: Any = ()) -> Any:
        cur = self.conn.cursor()
        cur.execute(sql, parameters=params or None)
        return cur

    def column_types(self, schema: str | None, table: str) -> list[tuple[str, str]] | None:
        rows = self.fetchall(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (self.qual(schema, table),))
        return [(r[0], r[1]) for r in rows] or None

    def unique_keys(self, schema: str | None, table: str) -> list[set[str]]:
        rows = self.fetchall(
            "SELECT i.indexrelid::int8, a.attname::text FROM pg_index i JOIN pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indpred IS NULL",
            (self.qual(schema, table),))
        out: dict[int, set[str]] = {}
        for idx, col in rows:
            out.setdefault(idx, set()).add(col)
        return list(out.values())

    def create_unique(self, schema: str | None, table: str, keys: list[str]) -> None:
        cols = ", ".join(self.q(k) for k in keys)
        idx = self.q(f"{table[:50]}__dm_key")
        self.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {idx} ON {self.qual(schema, table)} "
                     f"({cols})").close()

    def upsert_sql(self, target: str, stage: str, cols: list[str], keys: list[str]) -> str:
        sql = super().upsert_sql(target, stage, cols, keys).replace(" WHERE true ", " ")
        updates = [c for c in cols if c not in keys]
        if updates:  # rows that did not change are not rewritten (no new row version)
            old = ", ".join(f"{target}.{self.q(c)}" for c in updates)
            new = ", ".join(f"excluded.{self.q(c)}" for c in updates)
            sql += f" WHERE ({old}) IS DISTINCT FROM ({new})"
        return sql

    def server_version(self) -> int:
        """``server_version_num`` as libpq reports it at connect (no round trip)."""
        try:
            return int(self.conn.adbc_get_info().get("vendor_version") or 0)
        except Exception:  # an older driver: take the portable path
            return 0

    def merge_sql(self, target: str, stage: str, cols: list[str], keys: list[str]) -> str:
        """PostgreSQL 15 ``MERGE``: a join of the stage with the target, then plain inserts
        and updates; unchanged rows are neither rewritten nor locked."""
        t, s = "_dm_t", "_dm_s"
        on = " AND ".join(f"{t}.{self.q(k)} = {s}.{self.q(k)}" for k in keys)
        updates = [c for c in cols if c not in keys]
        old = ", ".join(f"{t}.{self.q(c)}" for c in updates)
        new = ", ".join(f"{s}.{self.q(c)}" for c in updates)
        sets = ", ".join(f"{self.q(c)} = {s}.{self.q(c)}" for c in updates)
        names = ", ".join(self.q(c) for c in cols)
        values = ", ".join(f"{s}.{self.q(c)}" for c in cols)
        return (f"MERGE INTO {target} AS {t} USING {stage} AS {s} ON ({on}) "
                f"WHEN MATCHED AND ({old}) IS DISTINCT FROM ({new}) THEN UPDATE SET {sets} "
                f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})")

    def upsert(self, target: str, stage: str, cols: list[str], keys: list[str]) -> None:
        """``MERGE`` on PostgreSQL 15+ when the stage's column types are the table's (the
        usual case), else ``INSERT ... ON CONFLICT``, which probes the key index row by row
        and locks every matched row, changed or not. The table is locked against other
        writers (readers go on) for the ``MERGE``: unlike ``ON CONFLICT`` it would fail on
        a key that another transaction inserts meanwhile; with the lock, concurrent loads
        of one table wait for each other and end as they would have with the upsert."""
        if (self.server_version() < 150000 or not [c for c in cols if c not in keys]
                or not self._same_types(target, stage, cols)):
            self.execute(self.upsert_sql(target, stage, cols, keys)).close()
            return
        self.execute(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE").close()
        self.execute(self.merge_sql(target, stage, cols, keys)).close()

    def _same_types(self, target: str, stage: str, cols: list[str]) -> bool:
        rows = self.fetchall(
            "SELECT attrelid = $1::regclass, attname::text, format_type(atttypid, atttypmod) "
            "FROM pg_attribute WHERE attrelid IN ($1::regclass, $2::regclass) AND attnum > 0 "
            "AND NOT attisdropped", (target, stage))
        types: dict[bool, dict[str, str]] = {True: {}, False: {}}
        for is_target, name, decl in rows:
            types[bool(is_target)][name] = decl
        return all(c in types[True] and types[True][c] == types[False].get(c) for c in cols)

    # --------------------------------------------------------------------- writes

    def insert(self, schema: str | None, table: str, arrow: pa.Schema,
               batches: Iterable[pa.RecordBatch], fresh: bool = False) -> int:
        """Binary COPY straight into the table when its columns are exactly the incoming
        ones (name, order, type); otherwise COPY into a temporary table and INSERT SELECT,
        letting PostgreSQL cast."""
        existing = [] if fresh else (self.column_types(schema, table) or [])
        wanted = [(f.name, st.pg_format(f.type)) for f in arrow]
        counter = _Counter(_sliced(batches))
        reader = pa.RecordBatchReader.from_batches(arrow, counter)
        cur = self.conn.cursor()
        try:
            if fresh or existing == wanted:
                cur.adbc_ingest(table, reader, mode="append", db_schema_name=schema)
                return counter.rows
        finally:
            cur.close()
        stage, rows = self.stage(arrow, counter)
        names = ", ".join(self.q(f.name) for f in arrow)
        self.execute(f"INSERT INTO {self.qual(schema, table)} ({names}) "
                     f"SELECT {names} FROM {stage}").close()
        self.drop_stage(stage)
        return rows

    def stage(self, arrow: pa.Schema, batches: Iterable[pa.RecordBatch]) -> tuple[str, int]:
        name = self.stage_name()
        counter = batches if isinstance(batches, _Counter) else _Counter(_sliced(batches))
        before = counter.rows
        cur = self.conn.cursor()
        try:
            cur.adbc_ingest(name, pa.RecordBatchReader.from_batches(arrow, counter),
                            mode="create", temporary=True)
        finally:
            cur.close()
        return self.q(name), counter.rows - before

    # ---------------------------------------------------------------------- reads

    def bind_since(self, value: Any, t: pa.DataType, column_sql: str, base_from: str) -> str:
        """Put the watermark into a temp table (bound as a typed parameter); returns the SQL
        expression to compare with."""
        name = self.stage_name()
        self.execute(f"CREATE TEMP TABLE {self.q(name)} AS SELECT {column_sql} AS v "
                     f"FROM {base_from} LIMIT 0").close()
        arr = pa.array([value]).cast(st.normal_type(t))
        self.execute(f"INSERT INTO {self.q(name)} (v) VALUES ($1)",
                     pa.record_batch([arr], names=["v"])).close()
        return f"(SELECT v FROM {self.q(name)})"

    def read(self, sql: str, params: list[Any], batch_size: int,
             types: dict[str, pa.DataType | None]) -> Iterator[pa.RecordBatch]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, parameters=params or None)
            yield from (_fix_numeric(b, types) for b in rechunk(cur.fetch_record_batch(), batch_size))
        finally:
            cur.close()

    def empty_schema(self, sql: str, types: dict[str, pa.DataType | None]) -> pa.Schema:
        cur = self.conn.cursor()
        try:
            cur.execute(f"SELECT * FROM ({sql}) AS _dm_s LIMIT 0")
            table = cur.fetch_arrow_table()
        finally:
            cur.close()
        return _fix_numeric(table.to_batches()[0] if table.num_rows else
                            pa.RecordBatch.from_pylist([], schema=table.schema), types).schema

    def numeric_types(self, schema: str | None, table: str) -> dict[str, pa.DataType | None]:
        """``numeric(p,s)`` columns as Arrow decimals (ADBC hands numerics over as text)."""
        out: dict[str, pa.DataType | None] = {}
        for name, decl in self.column_types(schema, table) or []:
            t = st.sqlite_decl_type(decl) if decl.startswith("numeric(") else None
            if t is not None:
                out[name] = t
        return out


def _sliced(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for b in batches:
        if b.num_rows <= COPY_SLICE:
            yield b
        else:
            for start in range(0, b.num_rows, COPY_SLICE):
                yield b.slice(start, COPY_SLICE)


def _fix_numeric(batch: pa.RecordBatch, types: dict[str, pa.DataType | None]) -> pa.RecordBatch:
    if not types:
        return batch
    cols, changed = [], False
    for f, col in zip(batch.schema, batch.columns, strict=True):
        t = types.get(f.name)
        if t is not None and pa.types.is_decimal(t) and not pa.types.is_decimal(col.type):
            col = col.cast(pa.string()).cast(t) if col.type != pa.string() else col.cast(t)
            changed = True
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names) if changed else batch


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return trim(text.splitlines()[0]) if text else type(exc).__name__
