"""Watermarks of incremental copies: saved with their type, compared in the column's type.

A watermark is saved in the run store's JSON ``saved_state``. Plain JSON has no timestamp,
date or decimal, so those are saved tagged (``{"$type": "timestamp", "value":
"2026-06-01T10:00:00+00:00"}``) and come back as ``datetime`` / ``date`` / ``Decimal``;
integers, floats and strings are saved as they are. ``coerce`` turns a saved value (typed,
or a plain string saved by an older version) into a value of the column's Arrow type, so
comparisons never mix ``datetime`` and ``str``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

from datamill.errors import UsageError

_TAG = "$type"


def encode(value: Any) -> Any:
    """A JSON value that ``decode`` turns back into ``value`` (type included)."""
    if isinstance(value, dt.datetime):
        return {_TAG: "timestamp", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {_TAG: "date", "value": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {_TAG: "decimal", "value": str(value)}
    if isinstance(value, bytes):
        return {_TAG: "bytes", "value": value.hex()}
    return value


def decode(stored: Any) -> Any:
    """The value ``encode`` saved (plain values pass through)."""
    if not (isinstance(stored, dict) and _TAG in stored):
        return stored
    kind, text = stored[_TAG], stored.get("value")
    if text is None:
        return None
    if kind == "timestamp":
        return dt.datetime.fromisoformat(text)
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "decimal":
        return decimal.Decimal(text)
    if kind == "bytes":
        return bytes.fromhex(text)
    raise UsageError(f"saved watermark has unknown type {kind!r}")


def coerce(value: Any, typ: Any, column: str = "") -> Any:
    """``value`` as a Python value of Arrow type ``typ`` (the watermark column's type)."""
    import pyarrow as pa

    if value is None:
        return None
    try:
        if pa.types.is_timestamp(typ):
            v = value
            if isinstance(v, str):
                v = dt.datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
            elif isinstance(v, dt.date) and not isinstance(v, dt.datetime):
                v = dt.datetime(v.year, v.month, v.day)
            if not isinstance(v, dt.datetime):
                raise TypeError(f"not a timestamp: {v!r}")
            if typ.tz is None and v.tzinfo is not None:
                v = v.astimezone(dt.UTC).replace(tzinfo=None)  # naive columns hold UTC wall time
            elif typ.tz is not None and v.tzinfo is None:
                v = v.replace(tzinfo=dt.UTC)
            return pa.scalar(v, type=typ).as_py()
        if pa.types.is_date(typ):
            v = value
            if isinstance(v, str):
                v = dt.date.fromisoformat(v.strip()[:10])
            elif isinstance(v, dt.datetime):
                v = v.date()
            return pa.scalar(v, type=typ).as_py()
        if pa.types.is_decimal(typ):
            return decimal.Decimal(str(value))
        if pa.types.is_integer(typ):
            if isinstance(value, float) and not value.is_integer():
                raise TypeError(f"not an integer: {value!r}")
            return int(value)
        if pa.types.is_floating(typ):
            return float(value)
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            if isinstance(value, dt.date):
                return value.isoformat()
            return str(value)
    except (TypeError, ValueError, decimal.InvalidOperation, pa.ArrowException) as exc:
        raise UsageError(f"the saved watermark {value!r} does not fit the type {typ} of column "
                         f"{column!r} ({exc}); the column's type changed since the last "
                         "copy: copy with --mode replace to start again") from exc
    return value


def column_max(column: Any) -> Any:
    """The largest value of an Arrow column (None when it has none)."""
    import pyarrow.compute as pc

    if len(column) == 0:
        return None
    return pc.max(column).as_py()


def newer_than(batch: Any, column: str, since: Any) -> Any:
    """The rows of ``batch`` whose ``column`` is above ``since``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in batch.schema.names:
        raise UsageError(f"--incremental {column!r}: the source has no such column "
                         f"(columns: {', '.join(batch.schema.names)})")
    col = batch.column(column)
    bound = pa.scalar(coerce(since, col.type, column), type=col.type)
    return batch.filter(pc.fill_null(pc.greater(col, bound), False))


def later(a: Any, b: Any) -> Any:
    """The larger of two watermarks of one column (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    return b if b > a else a
