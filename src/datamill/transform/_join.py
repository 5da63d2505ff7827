"""Joins, lookups and point-in-time (as-of) joins for leak-free features.

``asof_join`` attaches to each left row the right row that was known at that time:
with ``strategy="backward"`` (default) the latest right row with ``right.on <= left.on``
(``< `` with ``allow_exact_matches=False``), optionally within ``tolerance``, so no value
from the future leaks into a training row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from datamill.errors import UsageError
from datamill.transform._frame import as_list, back, check_columns, to_polars

HOWS = ("inner", "left", "right", "full", "semi", "anti", "cross")
_ROW = "__dm_row__"


def join(left: Any, right: Any, on: str | list[str] | None = None, *, how: str = "inner",
         left_on: str | list[str] | None = None, right_on: str | list[str] | None = None,
         suffix: str = "_right", validate: str = "m:m") -> Any:
    """Join two tables (returned as the kind of ``left``).

    ``validate`` checks key uniqueness: ``"1:1"``, ``"1:m"``, ``"m:1"`` or ``"m:m"`` (none).
    Null keys never match.
    """
    ldf, kind = to_polars(left)
    rdf, _ = to_polars(right)
    if how not in HOWS:
        raise UsageError(f"join: how must be one of {', '.join(HOWS)}, got {how!r}")
    lk, rk = _keys(ldf, rdf, on, left_on, right_on, "join", how == "cross")
    try:
        if how == "cross":
            out = ldf.join(rdf, how="cross", suffix=suffix)
        else:
            out = ldf.join(rdf, left_on=lk, right_on=rk, how=how, suffix=suffix,  # type: ignore[arg-type]
                           validate=validate, maintain_order="left" if how in ("left", "inner") else "none",  # type: ignore[arg-type]
                           coalesce=True)
    except pl.exceptions.ComputeError as exc:
        if "validation" in str(exc).lower() or "unique" in str(exc).lower():
            raise UsageError(f"join: keys are not unique as validate={validate!r} requires: {exc}") from None
        raise
    except pl.exceptions.SchemaError as exc:
        raise UsageError(f"join: key types do not match ({exc}); cast them with coerce()") from None
    return back(out, kind)


def _keys(ldf: pl.DataFrame, rdf: pl.DataFrame, on: Any, left_on: Any, right_on: Any,
          where: str, cross: bool = False) -> tuple[list[str], list[str]]:
    if cross:
        return [], []
    if on is not None:
        lk = rk = as_list(on)
    else:
        lk, rk = as_list(left_on), as_list(right_on)
    if not lk or len(lk) != len(rk):
        raise UsageError(f"{where}: give on= (same key names) or left_on= and right_on= of equal length")
    check_columns(ldf, lk, f"{where} (left)")
    check_columns(rdf, rk, f"{where} (right)")
    return lk, rk


def lookup(table: Any, reference: Any, on: str | list[str], columns: str | list[str] | None = None,
           *, default: Any = None, suffix: str = "_right") -> Any:
    """Add ``columns`` of ``reference`` (default: all but the key) to each row, by key.

    A left join that never multiplies rows: a key that appears twice in ``reference`` is
    an error. Keys not found get ``default`` (null unless given).
    """
    df, kind = to_polars(table)
    ref, _ = to_polars(reference)
    keys = as_list(on)
    check_columns(df, keys, "lookup (table)")
    check_columns(ref, keys, "lookup (reference)")
    cols = as_list(columns) or [c for c in ref.columns if c not in keys]
    check_columns(ref, cols, "lookup (reference)")
    dup = ref.select(keys).is_duplicated()
    if dup.any():
        example = ref.filter(dup).select(keys).row(0)
        raise UsageError(f"lookup: the reference has duplicate keys {keys} (e.g. {example!r}); "
                         "dedupe it first (datamill.transform.dedupe)")
    right = ref.select(keys + cols)
    out = df.join(right, on=keys, how="left", suffix=suffix, maintain_order="left")
    if default is not None:
        added = [c if c not in df.columns else f"{c}{suffix}" for c in cols]
        out = out.with_columns([pl.col(c).fill_null(pl.lit(default)) for c in added])
    return back(out, kind)


def asof_join(left: Any, right: Any, on: str, *, by: str | list[str] | None = None,
              strategy: str = "backward", tolerance: str | int | float | dt.timedelta | None = None,
              allow_exact_matches: bool = True, suffix: str = "_right",
              left_on: str | None = None, right_on: str | None = None) -> Any:
    """Point-in-time join: each left row gets the nearest right row by ``on`` (per ``by``).

    ``strategy``: ``backward`` (latest right row at or before the left time: the
    leak-free choice for features), ``forward`` (earliest at or after) or ``nearest``.
    ``tolerance`` caps the distance (``"7d"``, a ``timedelta`` or a number for numeric
    keys); ``allow_exact_matches=False`` requires a strictly earlier (later) right row.
    Left rows keep their order; rows without a match get nulls. The right table's time
    column is kept (as ``<on><suffix>`` when the names are equal), so the age of each
    feature can be checked.
    """
    ldf, kind = to_polars(left)
    rdf, _ = to_polars(right)
    if strategy not in ("backward", "forward", "nearest"):
        raise UsageError(f"asof_join: strategy must be backward, forward or nearest, got {strategy!r}")
    lon, ron = left_on or on, right_on or on
    groups = as_list(by)
    check_columns(ldf, [lon, *groups], "asof_join (left)")
    check_columns(rdf, [ron, *groups], "asof_join (right)")
    lt, rt = ldf.schema[lon], rdf.schema[ron]
    if lt != rt:
        raise UsageError(f"asof_join: key {lon!r} is {lt} on the left but {ron!r} is {rt} on the "
                         "right; cast one of them (coerce) so they match")
    if not (lt.is_temporal() or lt.is_numeric()):
        raise UsageError(f"asof_join: key {lon!r} is {lt}; it must be a date, datetime or number")
    if isinstance(tolerance, str) and not lt.is_temporal():
        raise UsageError(f"asof_join: tolerance {tolerance!r} is a duration but {lon!r} is {lt}")
    l_sorted = ldf.with_row_index(_ROW).filter(pl.col(lon).is_not_null()).sort(lon)
    r_sorted = rdf.filter(pl.col(ron).is_not_null()).sort(ron)
    out = l_sorted.join_asof(
        r_sorted, left_on=lon, right_on=ron, by=groups or None, strategy=strategy,  # type: ignore[arg-type]
        tolerance=tolerance, allow_exact_matches=allow_exact_matches, suffix=suffix,
        check_sortedness=False, coalesce=False,
    )
    if ldf[lon].null_count():  # rows with no time cannot be matched; keep them, with nulls
        missing = ldf.with_row_index(_ROW).filter(pl.col(lon).is_null())
        out = pl.concat([out, missing], how="diagonal_relaxed").select(out.columns)
    return back(out.sort(_ROW).drop(_ROW), kind)


__all__ = ["HOWS", "asof_join", "join", "lookup"]
