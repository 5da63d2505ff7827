"""Feature engineering: date parts, lags, rolling windows and group aggregation.

Lags and rolling windows are computed per group (``by=``) in time order (``order_by=``),
and the result keeps the input's row order. They look only backwards (a lag of 1 is
the previous row of the same group), so they are safe as features for the current row;
``include_current=False`` also leaves out the current row itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from datamill.errors import UsageError
from datamill.transform._frame import (
    as_list,
    back,
    check_columns,
    check_numeric,
    not_reserved,
    to_polars,
)

DATE_FEATURES = ("year", "month", "day", "weekday", "hour", "is_weekend", "day_of_year",
                 "quarter")
_MORE_DATE_FEATURES = ("minute", "second", "week", "is_month_start", "is_month_end", "date")


def _date_part(x: pl.Expr, f: str) -> pl.Expr:
    d = x.dt
    return {
        "year": lambda: d.year(), "month": lambda: d.month(), "day": lambda: d.day(),
        "weekday": lambda: (d.weekday() - 1).cast(pl.Int8),  # Monday=0 .. Sunday=6
        "hour": lambda: d.hour(), "minute": lambda: d.minute(), "second": lambda: d.second(),
        "is_weekend": lambda: d.weekday() >= 6, "day_of_year": lambda: d.ordinal_day(),
        "quarter": lambda: d.quarter(), "week": lambda: d.week(),
        "is_month_start": lambda: d.day() == 1,
        "is_month_end": lambda: d.month_end().dt.day() == d.day(),
        "date": lambda: d.date(),
    }[f]()


def date_features(table: Any, column: str, features: Sequence[str] = DATE_FEATURES,
                  prefix: str | None = None) -> Any:
    """Add ``<prefix>_<feature>`` columns from a date or datetime column (prefix = column).

    Features: year, month, day, weekday (Monday=0 … Sunday=6, as Python and pandas),
    hour, is_weekend, day_of_year, quarter, and also minute, second, week (ISO),
    is_month_start, is_month_end, date. ``hour`` of a date is 0.
    """
    df, kind = to_polars(table)
    check_columns(df, [column], "date_features")
    t = df.schema[column]
    if not (t == pl.Date or isinstance(t, pl.Datetime)):
        raise UsageError(f"date_features: column {column!r} is {t}, not a date or datetime; "
                         f"parse it first with coerce(table, {{{column!r}: 'datetime'}})")
    feats = [features] if isinstance(features, str) else list(features)
    for f in feats:
        if f not in DATE_FEATURES + _MORE_DATE_FEATURES:
            raise UsageError(f"date_features: unknown feature {f!r}; choose from "
                             f"{', '.join(DATE_FEATURES + _MORE_DATE_FEATURES)}")
    x = pl.col(column)
    if t == pl.Date:
        x = x.cast(pl.Datetime("us"))
    p = prefix if prefix is not None else column
    names = [f"{p}_{f}" for f in feats]
    not_reserved(df, names, "date_features")
    return back(df.with_columns([_date_part(x, f).alias(n) for f, n in zip(feats, names, strict=True)]), kind)


# -- lags and rolling windows ---------------------------------------------------------------

_ROW = "__dm_row__"
ROLLING_AGGS = ("mean", "sum", "min", "max", "std", "median", "var", "count")


def _prepare(df: pl.DataFrame, columns: Any, by: Any, order_by: str | None, where: str
             ) -> tuple[list[str], list[str]]:
    cols, groups = as_list(columns), as_list(by)
    if not cols:
        raise UsageError(f"{where}: name the columns, e.g. {where}(table, 'amount', ...)")
    check_columns(df, cols + groups + ([order_by] if order_by else []), where)
    return cols, groups


def _sorted(df: pl.DataFrame, groups: list[str], order_by: str | None) -> pl.DataFrame:
    """Rows in (group, time) order, with their original position to restore it after."""
    d = df.with_row_index(_ROW)
    keys = groups + ([order_by] if order_by else [])
    return d.sort([*keys, _ROW], maintain_order=True) if keys else d


def lag(table: Any, columns: str | list[str], periods: int | Sequence[int] = 1, *,
        by: str | list[str] | None = None, order_by: str | None = None) -> Any:
    """Add ``<col>_lag<k>``: the value ``k`` rows earlier in the same group, by ``order_by``.

    A negative ``k`` is a lead (``<col>_lead<k>``): a future value, never a safe feature.
    Without ``order_by`` the table order is the time order.
    """
    df, kind = to_polars(table)
    cols, groups = _prepare(df, columns, by, order_by, "lag")
    ks = [periods] if isinstance(periods, int) else list(periods)
    if not ks or any(not isinstance(k, int) or k == 0 for k in ks):
        raise UsageError(f"lag: periods must be non-zero integers, got {periods!r}")
    d = _sorted(df, groups, order_by)
    exprs, names = [], []
    for c in cols:
        for k in ks:
            name = f"{c}_lag{k}" if k > 0 else f"{c}_lead{-k}"
            e = pl.col(c).shift(k)
            exprs.append((e.over(groups) if groups else e).alias(name))
            names.append(name)
    not_reserved(df, names, "lag")
    return back(d.with_columns(exprs).sort(_ROW).drop(_ROW), kind)


def _window_label(window: int | str | dt.timedelta) -> str:
    if isinstance(window, dt.timedelta):
        return f"{int(window.total_seconds())}s"
    return str(window)


def rolling(table: Any, columns: str | list[str], window: int | str | dt.timedelta,
            aggs: str | Sequence[str] = ("mean",), *, by: str | list[str] | None = None,
            order_by: str | None = None, min_periods: int = 1,
            include_current: bool = True) -> Any:
    """Add ``<col>_<agg>_<window>`` rolling statistics per group, in ``order_by`` order.

    ``window`` is a number of rows (``7``) or a time span over ``order_by`` (``"7d"``,
    ``"2h"``, a ``timedelta``; the window is ``(t - span, t]``). Aggregations: mean, sum,
    min, max, std (sample, ddof=1, as pandas), median, var, count. A window with fewer than
    ``min_periods`` values gives null. ``include_current=False`` uses only earlier rows
    (rows: the ``window`` rows before; time: ``[t - span, t)``), for leak-free features.
    """
    df, kind = to_polars(table)
    cols, groups = _prepare(df, columns, by, order_by, "rolling")
    check_numeric(df, cols, "rolling")
    agg_list = [aggs] if isinstance(aggs, str) else list(aggs)
    for a in agg_list:
        if a not in ROLLING_AGGS:
            raise UsageError(f"rolling: unknown aggregation {a!r}; use one of {', '.join(ROLLING_AGGS)}")
    by_time = not isinstance(window, int)
    if isinstance(window, int) and window < 1:
        raise UsageError(f"rolling: window must be >= 1 rows, got {window}")
    if by_time:
        if order_by is None:
            raise UsageError(f"rolling: a time window ({window!r}) needs order_by= (the time column)")
        ot = df.schema[order_by]
        if not (ot.is_temporal() or ot.is_integer()):
            raise UsageError(f"rolling: order_by column {order_by!r} is {ot}; a time window "
                             "needs a date, datetime or integer column")
    d = _sorted(df, groups, order_by)
    label = _window_label(window)
    exprs, names = [], []
    for c in cols:
        x = pl.col(c).cast(pl.Float64)
        for a in agg_list:
            if by_time:
                e = _rolling_by(x, a, pl.col(order_by), window, min_periods,  # type: ignore[arg-type]
                                "right" if include_current else "left")
            else:
                src = x if include_current else x.shift(1)
                e = _rolling_rows(src, a, window, min_periods)  # type: ignore[arg-type]
            name = f"{c}_{a}_{label}"
            exprs.append((e.over(groups) if groups else e).alias(name))
            names.append(name)
    not_reserved(df, names, "rolling")
    return back(d.with_columns(exprs).sort(_ROW).drop(_ROW), kind)


def _rolling_rows(x: pl.Expr, agg: str, n: int, minp: int) -> pl.Expr:
    if agg == "count":
        return x.is_not_null().cast(pl.Float64).rolling_sum(n, min_samples=1).cast(pl.Int64)
    fn = getattr(x, f"rolling_{agg}")
    return fn(n, min_samples=minp)


def _rolling_by(x: pl.Expr, agg: str, by: pl.Expr, window: Any, minp: int, closed: str) -> pl.Expr:
    if agg == "count":
        return (x.is_not_null().cast(pl.Float64)
                .rolling_sum_by(by, window, min_samples=0, closed=closed).cast(pl.Int64))  # type: ignore[arg-type]
    fn = getattr(x, f"rolling_{agg}_by")
    return fn(by, window, min_samples=minp, closed=closed)


# -- group aggregation ----------------------------------------------------------------------

AGGS = ("sum", "mean", "median", "min", "max", "std", "var", "count", "n_unique", "first",
        "last", "size", "null_count")


def aggregate(table: Any, by: str | list[str], metrics: Mapping[str, Any],
              sort: bool = True) -> Any:
    """One row per group of ``by`` with the ``metrics``.

    ``metrics`` maps an output name to an aggregation of the column of that name
    (``{"revenue": "sum"}``), to a list of them (``{"revenue": ["sum", "mean"]}`` gives
    ``revenue_sum``, ``revenue_mean``), or to ``(column, agg)`` (``{"n": ("order_id",
    "n_unique")}``). ``"count"`` / ``"size"`` under a name that is not a column count rows
    (``{"orders": "count"}``). Aggregations: sum, mean, median, min, max, std, var, count
    (non-null), n_unique, first, last, size (rows), null_count. Groups are sorted by key.
    """
    df, kind = to_polars(table)
    keys = as_list(by)
    check_columns(df, keys, "aggregate")
    if not metrics:
        raise UsageError("aggregate: metrics= is empty; e.g. {'revenue': 'sum', 'orders': 'count'}")
    exprs = []
    for name, spec in metrics.items():
        if isinstance(spec, tuple):
            if len(spec) != 2:
                raise UsageError(f"aggregate: metric {name!r}: expected (column, agg), got {spec!r}")
            exprs.append(_agg(df, spec[0], spec[1], name))
        elif isinstance(spec, str):
            exprs.append(_agg(df, name, spec, name))
        elif isinstance(spec, list | Sequence):
            exprs += [_agg(df, name, a, f"{name}_{a}") for a in spec]
        else:
            raise UsageError(f"aggregate: metric {name!r}: expected an aggregation name, a list "
                             f"of them or (column, agg), got {spec!r}")
    out = df.group_by(keys, maintain_order=not sort).agg(exprs)
    if sort:
        out = out.sort(keys, nulls_last=True)
    return back(out, kind)


def _agg(df: pl.DataFrame, column: str, agg: str, name: str) -> pl.Expr:
    if agg not in AGGS:
        raise UsageError(f"aggregate: unknown aggregation {agg!r} for {name!r}; use one of "
                         f"{', '.join(AGGS)}")
    if agg in ("size", "count") and column not in df.columns:
        return pl.len().alias(name)
    check_columns(df, [column], "aggregate")
    if agg in ("sum", "mean", "median", "std", "var"):
        check_numeric(df, [column], f"aggregate({agg})")
    x = pl.col(column)
    if agg == "size":
        return pl.len().alias(name)
    return getattr(x, agg)().alias(name)


__all__ = ["AGGS", "DATE_FEATURES", "ROLLING_AGGS", "aggregate", "date_features", "lag", "rolling"]
