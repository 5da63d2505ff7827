"""Arrow <-> SQL type mapping for the SQL connector (SQLite, DuckDB, PostgreSQL, MariaDB).

Incoming data is first *normalised* to a small set of Arrow types every database can
hold (int16/32/64, float32/64, bool, string, binary, timestamp[us] naive or UTC,
date32, decimal128); each dialect then names the column type for that set.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from datamill.errors import UsageError

UTC_US = pa.timestamp("us", tz="UTC")
NAIVE_US = pa.timestamp("us")


def normal_type(t: pa.DataType, column: str = "?") -> pa.DataType:
    """The storable Arrow type for ``t`` (raises UsageError for nested types)."""
    if pa.types.is_dictionary(t):
        return normal_type(t.value_type, column)
    if pa.types.is_boolean(t):
        return pa.bool_()
    if pa.types.is_integer(t):
        if t in (pa.int8(), pa.uint8(), pa.int16()):
            return pa.int16()
        if t in (pa.uint16(), pa.int32()):
            return pa.int32()
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64() if t == pa.float64() else pa.float32()
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t)
    ):
        return pa.string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) or (
        hasattr(pa.types, "is_binary_view") and pa.types.is_binary_view(t)
    ):
        return pa.binary()
    if pa.types.is_timestamp(t):
        return UTC_US if t.tz else NAIVE_US
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_decimal(t):
        if t.precision > 38:
            raise UsageError(f"column {column!r}: decimal precision {t.precision} > 38 cannot be "
                             "stored; cast it to float64 or a smaller decimal first")
        return pa.decimal128(t.precision, t.scale)
    raise UsageError(f"column {column!r} has type {t}, which the SQL connector cannot store; "
                     "cast it to a string, number, timestamp, date, decimal or binary column")


def normal_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, normal_type(f.type, f.name)) for f in schema])


def normalise(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Cast ``batch`` to the normalised ``schema`` (timestamps truncated to microseconds)."""
    if batch.schema.equals(schema):
        return batch
    arrays = []
    for f in schema:
        col = batch.column(f.name)
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if col.type != f.type:
            if pa.types.is_timestamp(col.type) and col.type.tz and f.type.tz:
                col = col.cast(pa.timestamp(col.type.unit, tz="UTC"))
            col = col.cast(f.type, safe=not pa.types.is_timestamp(f.type))
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# ------------------------------------------------------------------ Arrow -> column types


def column_type(dialect: str, t: pa.DataType, key: bool = False) -> str:
    """The SQL column type of a normalised Arrow type in ``dialect``."""
    if pa.types.is_decimal(t):
        p, s = t.precision, t.scale
        return f"DECIMAL({p},{s})" if dialect != "postgresql" else f"NUMERIC({p},{s})"
    if pa.types.is_timestamp(t):
        if dialect == "mysql":
            return "DATETIME(6)"
        if dialect == "postgresql":
            return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    table = _TYPES[dialect]
    if key and dialect == "mysql" and t in (pa.string(), pa.binary()):
        return "VARCHAR(255)" if t == pa.string() else "VARBINARY(255)"
    return table[t]


_TYPES: dict[str, dict[pa.DataType, str]] = {
    "postgresql": {pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
                   pa.float32(): "REAL", pa.float64(): "DOUBLE PRECISION", pa.bool_(): "BOOLEAN",
                   pa.string(): "TEXT", pa.binary(): "BYTEA", pa.date32(): "DATE"},
    "duckdb": {pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
               pa.float32(): "REAL", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
               pa.string(): "VARCHAR", pa.binary(): "BLOB", pa.date32(): "DATE"},
    "sqlite": {pa.int16(): "SMALLINT", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
               pa.float32(): "REAL", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
               pa.string(): "TEXT", pa.binary(): "BLOB", pa.date32(): "DATE"},
    "mysql": {pa.int16(): "SMALLINT", pa.int32(): "INT", pa.int64(): "BIGINT",
              pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN",
              pa.string(): "LONGTEXT", pa.binary(): "LONGBLOB", pa.date32(): "DATE"},
}

# PostgreSQL's format_type() spelling of the types above: when a table's columns match
# exactly, binary COPY goes straight into it (no staging).
PG_FORMAT = {"SMALLINT": "smallint", "INTEGER": "integer", "BIGINT": "bigint", "REAL": "real",
             "DOUBLE PRECISION": "double precision", "BOOLEAN": "boolean", "TEXT": "text",
             "BYTEA": "bytea", "DATE": "date", "TIMESTAMP": "timestamp without time zone",
             "TIMESTAMPTZ": "timestamp with time zone"}


def pg_format(t: pa.DataType) -> str:
    name = column_type("postgresql", t)
    return PG_FORMAT.get(name, name.lower())


# ------------------------------------------------------------- values for DB-API drivers


def py_columns(batch: pa.RecordBatch, dialect: str) -> list[list[Any]]:
    """Column lists of Python values the sqlite3 / PyMySQL drivers accept."""
    out = []
    for f, col in zip(batch.schema, batch.columns, strict=True):
        t = f.type
        if pa.types.is_timestamp(t):
            if t.tz:
                col = col.cast(NAIVE_US)  # the UTC wall clock
            vals = col.to_pylist()
            if dialect == "sqlite":
                suffix = "+00:00" if t.tz else ""
                vals = [None if v is None else v.isoformat(sep=" ", timespec="microseconds") + suffix
                        for v in vals]
            out.append(vals)
        elif dialect == "sqlite" and pa.types.is_date(t):
            out.append([None if v is None else v.isoformat() for v in col.to_pylist()])
        elif dialect == "sqlite" and pa.types.is_decimal(t):
            out.append([None if v is None else str(v) for v in col.to_pylist()])
        else:
            out.append(col.to_pylist())
    return out


def py_value(value: Any, t: pa.DataType, dialect: str) -> Any:
    """One value (a watermark) as the driver of ``dialect`` binds it for a column of type ``t``."""
    arr = pa.array([value])
    nt = normal_type(t)
    try:
        arr = arr.cast(nt)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UsageError(f"since={value!r} cannot be read as {nt}: {exc}") from exc
    batch = pa.record_batch([arr], names=["v"])
    if dialect in ("sqlite", "mysql"):
        return py_columns(batch, dialect)[0][0]
    return arr[0].as_py()


# ------------------------------------------------------------------ SQL -> Arrow (reads)

_DEC = re.compile(r"(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+))?\s*\)", re.I)


def sqlite_decl_type(decl: str | None) -> pa.DataType | None:
    """The Arrow type of a SQLite declared column type (None: infer from the values)."""
    d = (decl or "").upper()
    if not d:
        return None
    m = _DEC.search(d)
    if m:
        return pa.decimal128(int(m.group(1)), int(m.group(2) or 0))
    if "BOOL" in d:
        return pa.bool_()
    if "INT" in d:
        return pa.int64()
    if any(k in d for k in ("REAL", "DOUB", "FLOA")):
        return pa.float64()
    if "TIMESTAMPTZ" in d or "WITH TIME ZONE" in d:
        return UTC_US
    if "TIMESTAMP" in d or "DATETIME" in d:
        return NAIVE_US
    if d == "DATE":
        return pa.date32()
    if "BLOB" in d:
        return pa.binary()
    if any(k in d for k in ("CHAR", "TEXT", "CLOB")):
        return pa.string()
    return None


# pymysql FIELD_TYPE codes
_MY_INT = {1: pa.int16(), 2: pa.int16(), 3: pa.int32(), 9: pa.int32(), 8: pa.int64(), 13: pa.int16()}


def mysql_type(code: int, display_size: int | None, internal_size: int | None = None,
               scale: int | None = None) -> pa.DataType | None:
    if code in (0, 246) and internal_size:  # DECIMAL: size counts the sign and the point
        s = scale or 0
        p = internal_size - (2 if s else 1)
        if 0 < p <= 38:
            return pa.decimal128(max(p, s, 1), s)
    if code == 1 and display_size == 1:
        return pa.bool_()  # TINYINT(1) / BOOLEAN
    if code in _MY_INT:
        return _MY_INT[code]
    if code == 4:
        return pa.float32()
    if code == 5:
        return pa.float64()
    if code in (7, 12):
        return NAIVE_US
    if code in (10, 14):
        return pa.date32()
    return None  # decimals, strings, blobs: from the values


def to_array(values: list[Any], t: pa.DataType | None) -> pa.Array:
    """An Arrow array of driver values, of type ``t`` when given (else inferred)."""
    if t is None:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_boolean(t):
        return pa.array([None if v is None else bool(v) for v in values], t)
    if (pa.types.is_timestamp(t) or pa.types.is_date(t)) and any(isinstance(v, str) for v in values):
        return pa.array(values, pa.string()).cast(t)
    if pa.types.is_decimal(t):
        import decimal

        return pa.array([None if v is None else decimal.Decimal(str(v)) for v in values], t)
    try:
        return pa.array(values, t)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return to_array(values, None)
