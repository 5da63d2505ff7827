"""Per-column summary statistics (``describe``), computed in Polars and numpy.

Numeric columns are sorted once (in Polars, in parallel); quantiles, median, mode, distinct
count, min / max and, for the profile report, histograms and outlier counts are then read off
the sorted values instead of each costing another pass. Moments (mean, std, skewness, excess
kurtosis) come from one Polars ``select``. Skewness and kurtosis are the bias-corrected sample
estimates (as pandas and ``scipy.stats.skew(..., bias=False)``); std and variance use ddof=1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
STATS = ("dtype", "count", "nulls", "distinct", "mean", "median", "mode", "std", "variance",
         "min", "max", "range", "q05", "q25", "q50", "q75", "q95", "skewness", "kurtosis")
HIST_BINS = 40
TOP_VALUES = 10
INTEGER_CHECK = 100_000  # float columns with at most this many distinct values are checked
                         # for integer values (integer-aligned histogram bins)


@dataclass
class ColumnStats:
    """The numbers of one column (``stats``, keyed like ``STATS``) and, when asked for, the
    aggregates a report draws: histogram, box plot fences, outlier counts, top values."""

    name: str
    kind: str  # numeric | categorical | datetime
    stats: dict[str, Any]
    extras: dict[str, Any] = field(default_factory=dict)


# -- input ------------------------------------------------------------------------------------


def to_polars(data: Any, notes: list[str] | None = None) -> Any:
    """A Polars DataFrame from pandas, Polars, Arrow (or a table file), with string column
    names; object columns that Polars cannot type (mixed values) become strings, and their
    names are appended to ``notes``."""
    import polars as pl

    mod = type(data).__module__.split(".")[0]
    if mod == "polars":
        return _normalise(data.collect() if isinstance(data, pl.LazyFrame) else data)
    if mod == "pyarrow":
        return _normalise(pl.from_arrow(data))
    from datamill.analytics.source import to_pandas

    pdf = to_pandas(data)
    names = _unique_names([str(c) for c in pdf.columns])
    cols = []
    for name, (_, s) in zip(names, pdf.items(), strict=True):
        try:
            cols.append(pl.from_pandas(s.reset_index(drop=True)).alias(name))
        except (TypeError, ValueError, ArithmeticError, pl.exceptions.PolarsError):
            cols.append(pl.Series(name, [None if _is_missing(v) else str(v) for v in s],
                                  dtype=pl.String))
            if notes is not None:
                notes.append(name)
    if any(c.dtype == pl.Object for c in cols):
        if notes is not None:
            notes.extend(c.name for c in cols if c.dtype == pl.Object)
        cols = [c.map_elements(lambda v: None if _is_missing(v) else str(v),
                               return_dtype=pl.String) if c.dtype == pl.Object else c
                for c in cols]
    return _normalise(pl.DataFrame(cols)) if cols else pl.DataFrame()


def _normalise(df: Any) -> Any:
    """Durations become seconds (numbers); types with no statistics of their own (times,
    binaries, lists, structs, all-null) become text, so every column is numeric, date-time
    or categorical."""
    import polars as pl

    fixes = []
    for c, t in df.schema.items():
        if isinstance(t, pl.Duration):
            fixes.append(pl.col(c).dt.total_microseconds().cast(pl.Float64) / 1e6)
        elif t == pl.Null:
            fixes.append(pl.col(c).cast(pl.String))
        elif t in (pl.Time, pl.Binary) or isinstance(t, pl.List | pl.Array | pl.Struct | pl.Object):
            fixes.append(pl.col(c).map_elements(lambda v: None if v is None else str(v),
                                                return_dtype=pl.String, skip_nulls=True))
    return df.with_columns(fixes) if fixes else df


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}.{k}")
    return out


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def kind_of(dtype: Any) -> str:
    """numeric, datetime or categorical (strings, booleans, categories and anything else)."""
    import polars as pl

    if dtype == pl.Boolean:
        return "categorical"
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.Date, pl.Datetime) or isinstance(dtype, pl.Datetime):
        return "datetime"
    return "categorical"


# -- the public function ----------------------------------------------------------------------


def describe(data: Any, by: str | list[str] | None = None, columns: list[str] | None = None) -> Any:
    """Summary statistics per column as a pandas DataFrame, one row per column (index
    ``column``), or with ``by`` one row per group × column (index ``(*by, column)``).

    Columns: dtype, count, nulls, distinct, mean, median, mode, std, variance, min, max,
    range, q05, q25, q50, q75, q95, skewness, kurtosis (excess). Statistics that do not apply
    (the mean of a string column, the skewness of two values) are missing.
    """
    import pandas as pd

    from datamill.errors import UsageError

    df = to_polars(data)
    keys = [by] if isinstance(by, str) else list(by or [])
    names = set(df.columns)
    for k in keys + list(columns or []):
        if k not in names:
            raise UsageError(f"describe: no column {k!r} (columns: {', '.join(df.columns)})")
    key_set = set(keys)
    cols = [c for c in (columns or df.columns) if c not in key_set]
    if not keys:
        stats = column_stats(df.select(cols))
        out = pd.DataFrame([s.stats for s in stats], columns=list(STATS),
                           index=pd.Index([s.name for s in stats], name="column"))
        return out
    return _grouped(df, keys, cols)


# -- ungrouped: the sorted-values path shared with the profile --------------------------------


def column_stats(df: Any, *, extras: bool = False, bins: int = HIST_BINS,
                 top: int = TOP_VALUES) -> list[ColumnStats]:
    """Statistics of every column of a Polars DataFrame. With ``extras`` also the aggregates
    a report draws (histogram, box plot, outliers, top values), from the same passes."""
    import polars as pl

    schema = df.schema  # built once: Polars rebuilds the whole schema on every access
    kinds = {c: kind_of(t) for c, t in schema.items()}
    num = [c for c in schema if kinds[c] == "numeric"]
    cat = [c for c in schema if kinds[c] == "categorical"]
    dts = [c for c in schema if kinds[c] == "datetime"]
    n = df.height

    # moments and counts in one parallel select; NaN counts as missing
    exprs = []
    for c in num:
        x = pl.col(c).cast(pl.Float64)
        x = pl.when(x.is_nan()).then(None).otherwise(x)
        exprs += [x.null_count().alias(f"{c}\0nulls"), x.mean().alias(f"{c}\0mean"),
                  x.std().alias(f"{c}\0std"), x.var().alias(f"{c}\0variance"),
                  x.skew(bias=False).alias(f"{c}\0skewness"),
                  x.kurtosis(bias=False).alias(f"{c}\0kurtosis")]
    for c in cat + dts:
        exprs.append(pl.col(c).null_count().alias(f"{c}\0nulls"))
    for c in dts:
        exprs += [pl.col(c).min().alias(f"{c}\0min"), pl.col(c).max().alias(f"{c}\0max"),
                  pl.col(c).n_unique().alias(f"{c}\0distinct"),
                  pl.col(c).drop_nulls().mode().sort().first().alias(f"{c}\0mode")]
    row = df.select(exprs).row(0, named=True) if exprs else {}

    # every numeric column sorted once, in one parallel select
    sorted_vals: dict[str, Any] = {}
    if num:
        srt = df.select([pl.col(c).cast(pl.Float64).fill_nan(None).drop_nulls().sort().implode()
                         for c in num])
        sorted_vals = {c: srt.get_column(c)[0].to_numpy() for c in num}
    counts: dict[str, Any] = {}
    if cat:
        vc = df.select([pl.col(c).cast(pl.String).value_counts(sort=True, name="n").implode()
                        for c in cat])
        counts = {c: vc.get_column(c)[0].struct.unnest() for c in cat}

    out = []
    for c, dtype in schema.items():
        k = kinds[c]
        nulls = int(row.get(f"{c}\0nulls", 0))
        st: dict[str, Any] = dict.fromkeys(STATS)
        st.update(dtype=str(dtype), count=n - nulls, nulls=nulls, distinct=0)
        ex: dict[str, Any] = {}
        if k == "numeric":
            _numeric(st, ex, sorted_vals[c], row, c, extras, bins, top)
        elif k == "categorical":
            _categorical(st, ex, counts[c], extras, top)
        else:
            st.update(min=row[f"{c}\0min"], max=row[f"{c}\0max"], mode=row[f"{c}\0mode"],
                      distinct=int(row[f"{c}\0distinct"]) - (1 if nulls else 0))
            if st["min"] is not None and st["max"] is not None:
                st["range"] = st["max"] - st["min"]
        out.append(ColumnStats(c, k, st, ex))
    return out


def _quantile(s: Any, q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) on sorted values."""
    pos = q * (len(s) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    if pos == lo or s[lo] == s[hi] or s[lo] == -math.inf:
        return float(s[lo])
    if s[hi] == math.inf:
        return math.inf
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _numeric(st: dict, ex: dict, s: Any, row: dict, c: str, extras: bool, bins: int,
             top: int) -> None:
    import numpy as np

    m = len(s)
    st.update(mean=_finite(row[f"{c}\0mean"]), std=_finite(row[f"{c}\0std"]),
              variance=_finite(row[f"{c}\0variance"]))
    st["skewness"] = _finite(row[f"{c}\0skewness"]) if m >= 3 else None
    st["kurtosis"] = _finite(row[f"{c}\0kurtosis"]) if m >= 4 else None
    if st["std"] == 0:
        st["skewness"] = st["kurtosis"] = None
    if m == 0:
        return
    if np.isinf(s[0]) or np.isinf(s[-1]):  # moments of infinite values are undefined
        st.update(mean=None, std=None, variance=None, skewness=None, kurtosis=None)
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    runs = np.diff(np.append(starts, m))
    st["distinct"] = len(starts)
    st["mode"] = float(s[starts[int(np.argmax(runs))]])
    qs = [_quantile(s, q) for q in QUANTILES]
    st.update(min=float(s[0]), max=float(s[-1]), range=float(s[-1] - s[0]), median=qs[2],
              q05=qs[0], q25=qs[1], q50=qs[2], q75=qs[3], q95=qs[4])
    for key in ("min", "max", "range", "median", "mode", "q05", "q25", "q50", "q75", "q95"):
        st[key] = _finite(st[key])
    if not extras:
        return
    n_lo = int(np.searchsorted(s, -np.inf, side="right"))
    n_hi = m - int(np.searchsorted(s, np.inf, side="left"))
    ex["infinite"] = n_lo + n_hi
    if n_lo or n_hi:  # the charts and outlier counts use the finite values
        s = s[n_lo:m - n_hi]
        m = len(s)
        if m == 0:
            return
        qs = [_quantile(s, q) for q in QUANTILES]
        starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
        runs = np.diff(np.append(starts, m))
    lo_v, hi_v = float(s[0]), float(s[-1])
    q1, q3 = qs[1], qs[3]
    iqr = q3 - q1
    lo_f, hi_f = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    i_lo = int(np.searchsorted(s, lo_f, side="left"))
    i_hi = int(np.searchsorted(s, hi_f, side="right"))
    ex["iqr_outliers"] = i_lo + (m - i_hi)
    mean, std = st["mean"], st["std"]
    if mean is not None and std:
        zl, zh = mean - 3 * std, mean + 3 * std
        ex["z_outliers"] = int(np.searchsorted(s, zl, side="left")
                               + m - np.searchsorted(s, zh, side="right"))
    else:
        ex["z_outliers"] = 0
    ex["box"] = {"min": lo_v, "q1": q1, "median": qs[2], "q3": q3, "max": hi_v,
                 "lo": float(s[i_lo]) if i_lo < m else lo_v,
                 "hi": float(s[i_hi - 1]) if i_hi > 0 else hi_v,
                 "outliers": ex["iqr_outliers"]}
    ex["p005"], ex["p995"] = _quantile(s, 0.005), _quantile(s, 0.995)
    if math.isfinite(hi_v - lo_v):
        integral = hi_v - lo_v < 2**53 and ("Int" in st["dtype"] or (
            len(starts) <= INTEGER_CHECK and bool(np.all(s[starts] == np.floor(s[starts])))))
        if integral:  # integer-aligned bins: a bin per value or per equal run of values
            width = max(1.0, math.ceil((hi_v - lo_v + 1) / bins))
            nb = int(math.ceil((hi_v - lo_v + 1) / width))
            edges = lo_v - 0.5 + width * np.arange(nb + 1)
        else:
            nb = max(1, min(bins, len(starts)))
            edges = np.histogram_bin_edges(s[[0, -1]], bins=nb)
        idx = np.searchsorted(s, edges, side="left")
        idx[-1] = m
        ex["histogram"] = {"edges": edges.tolist(), "counts": np.diff(idx).tolist(),
                           "integer": integral}
    k = min(top, len(runs))
    best = np.argsort(-runs, kind="stable")[:k]
    ex["top"] = [[float(s[starts[i]]), int(runs[i])] for i in best]


def _categorical(st: dict, ex: dict, vc: Any, extras: bool, top: int) -> None:
    import polars as pl

    values = vc.get_column(vc.columns[0])
    ns = vc.get_column("n")
    keep = values.is_not_null()
    values, ns = values.filter(keep), ns.filter(keep)
    st["distinct"] = len(values)
    if len(values):
        ordered = pl.DataFrame({"v": values, "n": ns}).sort(["n", "v"], descending=[True, False])
        st["mode"] = ordered.item(0, "v")
        if extras:
            head = ordered.head(top)
            ex["top"] = [[v, int(c)] for v, c in head.iter_rows()]
            ex["top_share"] = float(ordered.item(0, "n")) / max(int(ns.sum()), 1)
    elif extras:
        ex["top"] = []


# -- grouped: Polars expressions per group ----------------------------------------------------


def _grouped(df: Any, keys: list[str], cols: list[str]) -> Any:
    import pandas as pd
    import polars as pl

    exprs = [pl.len().alias("\0rows")]
    schema = df.schema  # once, not per column
    kinds = {c: kind_of(schema[c]) for c in cols}
    for c in cols:
        x = pl.col(c)
        if kinds[c] == "numeric":
            x = x.cast(pl.Float64)
            x = pl.when(x.is_nan()).then(None).otherwise(x)
        a = lambda e, s, c=c: e.alias(f"{c}\0{s}")  # noqa: E731
        exprs += [a(x.null_count(), "nulls"), a(x.drop_nulls().n_unique(), "distinct"),
                  a(x.drop_nulls().mode().sort().first(), "mode")]
        if kinds[c] != "categorical":
            exprs += [a(x.min(), "min"), a(x.max(), "max")]
        if kinds[c] == "numeric":
            exprs += [a(x.mean(), "mean"), a(x.median(), "median"), a(x.std(), "std"),
                      a(x.var(), "variance"), a(x.skew(bias=False), "skewness"),
                      a(x.kurtosis(bias=False), "kurtosis")]
            exprs += [a(x.quantile(q, "linear"), f"q{round(q * 100):02d}") for q in QUANTILES]
    g = df.group_by(keys, maintain_order=False).agg(exprs).sort(keys, nulls_last=True)
    rows = []
    index = []
    for r in g.iter_rows(named=True):
        n = r["\0rows"]
        for c in cols:
            st: dict[str, Any] = dict.fromkeys(STATS)
            st["dtype"] = str(schema[c])
            for s in STATS[1:]:
                if f"{c}\0{s}" in r:
                    st[s] = r[f"{c}\0{s}"]
            st["count"] = n - st["nulls"]
            if kinds[c] == "numeric":
                m = st["count"]
                for s in ("mean", "median", "std", "variance", "skewness", "kurtosis", "min",
                          "max", "mode", "q05", "q25", "q50", "q75", "q95"):
                    st[s] = _finite(st[s])
                if m < 3 or not st["std"]:
                    st["skewness"] = None
                if m < 4 or not st["std"]:
                    st["kurtosis"] = None
            if st["min"] is not None and st["max"] is not None:
                st["range"] = st["max"] - st["min"]
            rows.append(st)
            index.append((*(r[k] for k in keys), c))
    idx = pd.MultiIndex.from_tuples(index, names=[*keys, "column"]) if index else \
        pd.MultiIndex.from_tuples([], names=[*keys, "column"])
    return pd.DataFrame(rows, columns=list(STATS), index=idx)
