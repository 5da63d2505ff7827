"""Cleaning: dedupe, nulls, strict type coercion, string normalisation, outliers.

All functions take a pandas, Polars or Arrow table and return the same kind; all work
column-wise in Polars (no per-row Python). ``coerce`` never turns a bad value into a null:
it returns the rows that did not parse, each with the column and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from datamill._arrow import first_occurrence, int_keys
from datamill.errors import UsageError
from datamill.transform._frame import (
    Fitted,
    as_list,
    back,
    check_columns,
    check_numeric,
    kind_of,
    not_reserved,
    numeric_columns,
    to_polars,
)

# -- duplicates ------------------------------------------------------------------------------

_ROW = "__dm_row__"


def dedupe(table: Any, key: str | list[str] | None = None,
           order_by: str | list[str] | None = None, keep: str = "last") -> Any:
    """Drop duplicate rows.

    With no ``key``: exact duplicates (all columns equal), first occurrence kept. With a
    ``key``: one row per key, the ``keep="last"`` (latest) or ``"first"`` row by ``order_by``
    (nulls sort first), or by table order when ``order_by`` is not given. Surviving rows
    keep their original order.
    """
    keys, order = as_list(key), as_list(order_by)
    if keep not in ("first", "last"):
        raise UsageError(f"dedupe: keep must be 'first' or 'last', got {keep!r}")
    if kind_of(table) == "arrow" and len(keys) == 1 and not order \
            and keys[0] in table.schema.names:
        # an Arrow table stays in Arrow: no conversion of its text columns either way
        import pyarrow as pa

        t = table if isinstance(table, pa.Table) else pa.Table.from_batches([table])
        mask = _first_or_last_arrow(t.column(keys[0]), keep)
        if mask is True:
            return t
        if mask is not None:
            from datamill._arrow import filter_rows

            return filter_rows(t, mask)
    df, kind = to_polars(table)
    check_columns(df, keys + order, "dedupe")
    if not keys:
        if order:
            raise UsageError("dedupe: order_by needs a key= (exact duplicates are identical rows)")
        return _back_as(df.unique(maintain_order=True, keep="first"), kind, table)
    if not order and len(keys) == 1:
        keep_mask = _first_or_last(df.get_column(keys[0]), keep)
        if keep_mask is not None:
            return _back_as(df if keep_mask is True else df.filter(keep_mask), kind, table)
    d = df.with_row_index(_ROW)
    if order:
        d = d.sort([*order, _ROW], nulls_last=False, maintain_order=True)
    d = d.unique(subset=keys, keep=keep, maintain_order=True).sort(_ROW).drop(_ROW)
    return _back_as(d, kind, table)


def _back_as(df: pl.DataFrame, kind: str, table: Any) -> Any:
    """``back``, with an Arrow input's own column types (the Arrow path above keeps them:
    a result must not change type by which path picked its rows)."""
    out = back(df, kind)
    if kind == "arrow":
        import pyarrow as pa

        try:
            return out.cast(table.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            return out
    return out


def _first_or_last_arrow(key: Any, keep: str) -> Any:
    """``_first_or_last`` of an Arrow key column, as a numpy mask."""
    if key.null_count or len(key) < 2:
        return None
    v = int_keys(key)
    return None if v is None else first_occurrence(v, keep)


def _first_or_last(key: pl.Series, keep: str) -> pl.Series | bool | None:
    """Which rows hold the first (or last) occurrence of their key, for one integer or
    temporal key without nulls; ``True`` when no key repeats, None to take the general path.

    A stable sort of the keys instead of a hash table: keys that arrive nearly sorted (ids,
    timestamps: the common case) sort in close to linear time, where hashing 10M keys
    misses the cache on every row; keys in random order cost about what hashing does.
    """

    t = key.dtype
    if not (t.is_integer() or t.is_temporal()) or key.null_count() or key.len() < 2:
        return None
    mask = first_occurrence(key.to_physical().to_numpy(), keep)
    return mask if mask is True else pl.Series(mask)


# -- nulls -----------------------------------------------------------------------------------

FILL_STRATEGIES = ("forward", "backward", "mean", "median", "min", "max", "zero", "mode")


def drop_nulls(table: Any, columns: str | list[str] | None = None, how: str = "any") -> Any:
    """Drop rows with a null in any (``how="any"``) or all (``"all"``) of ``columns`` (default: all)."""
    df, kind = to_polars(table)
    cols = as_list(columns) or df.columns
    check_columns(df, cols, "drop_nulls")
    if how == "any":
        out = df.drop_nulls(cols)
    elif how == "all":
        out = df.filter(~pl.all_horizontal([pl.col(c).is_null() for c in cols]))
    else:
        raise UsageError(f"drop_nulls: how must be 'any' or 'all', got {how!r}")
    return back(out, kind)


def fill_nulls(table: Any, value: Any = None, *, strategy: str | None = None,
               columns: str | list[str] | None = None, by: str | list[str] | None = None) -> Any:
    """Fill nulls with a ``value`` (a scalar, or ``{column: value}``) or a ``strategy``.

    Strategies: ``forward`` / ``backward`` (in table order; within groups with ``by=``),
    ``mean``, ``median``, ``min``, ``max``, ``mode``, ``zero``; statistics are of the table
    given (use ``Imputer`` to learn them on training data and reuse them when serving).
    """
    df, kind = to_polars(table)
    groups = as_list(by)
    if (value is None) == (strategy is None):
        raise UsageError("fill_nulls: give either value= or strategy= (one of "
                         f"{', '.join(FILL_STRATEGIES)})")
    if isinstance(value, Mapping):
        cols = list(value)
    else:
        cols = as_list(columns) or [c for c in df.columns if c not in groups]
    check_columns(df, cols + groups, "fill_nulls")
    if value is not None:
        vals = value if isinstance(value, Mapping) else dict.fromkeys(cols, value)
        exprs = [pl.col(c).fill_null(pl.lit(v)).alias(c) for c, v in vals.items()]
    else:
        if strategy not in FILL_STRATEGIES:
            raise UsageError(f"fill_nulls: unknown strategy {strategy!r}; use one of "
                             f"{', '.join(FILL_STRATEGIES)}")
        if strategy in ("mean", "median"):
            check_numeric(df, cols, f"fill_nulls(strategy={strategy!r})")
        exprs = [_fill(pl.col(c), strategy).alias(c) for c in cols]
        if groups:
            exprs = [e.over(groups) for e in exprs]
    try:
        return back(df.with_columns(exprs), kind)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError,
            pl.exceptions.SchemaError) as exc:
        raise UsageError(f"fill_nulls: the fill value does not fit the column type: {exc}") from None


def _fill(x: pl.Expr, strategy: str) -> pl.Expr:
    if strategy == "forward":
        return x.forward_fill()
    if strategy == "backward":
        return x.backward_fill()
    if strategy == "zero":
        return x.fill_null(0)
    if strategy == "mode":
        return x.fill_null(x.drop_nulls().mode().sort().first())
    return x.fill_null(getattr(x, strategy)())


def flag_nulls(table: Any, columns: str | list[str] | None = None,
               suffix: str = "_was_null") -> Any:
    """Add a boolean ``<col><suffix>`` column per column: True where the value is null.

    With no ``columns``, flags the columns that have nulls in this table (pass them
    explicitly when the same schema is needed at serving time).
    """
    df, kind = to_polars(table)
    if columns is None:
        counts = df.null_count().row(0)
        cols = [c for c, n in zip(df.columns, counts, strict=True) if n]
    else:
        cols = as_list(columns)
    check_columns(df, cols, "flag_nulls")
    names = [f"{c}{suffix}" for c in cols]
    not_reserved(df, names, "flag_nulls")
    return back(df.with_columns([pl.col(c).is_null().alias(n) for c, n in zip(cols, names, strict=True)]), kind)


class Imputer(Fitted):
    """Fill nulls with statistics learnt on training data (``mean``, ``median``, ``mode``,
    ``constant``), so serving fills exactly as training did."""

    kind = "imputer"

    def __init__(self, columns: str | list[str] | None = None, strategy: str = "median",
                 value: Any = None):
        if strategy not in ("mean", "median", "mode", "constant"):
            raise UsageError(f"Imputer: strategy must be mean, median, mode or constant, got {strategy!r}")
        if strategy == "constant" and value is None:
            raise UsageError("Imputer: strategy='constant' needs value=")
        self.columns, self.strategy, self.value = as_list(columns) or None, strategy, value

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns, "strategy": self.strategy, "value": self.value}

    def _fit(self, df: pl.DataFrame) -> None:
        cols = self.columns or (numeric_columns(df) if self.strategy in ("mean", "median")
                                else df.columns)
        if self.strategy in ("mean", "median"):
            check_numeric(df, cols, "Imputer.fit")
        else:
            check_columns(df, cols, "Imputer.fit")
        if self.strategy == "constant":
            fills = dict.fromkeys(cols, self.value)
        else:
            row = df.select([_stat(pl.col(c), self.strategy).alias(c) for c in cols]).row(0)
            fills = dict(zip(cols, row, strict=True))
        for c, v in fills.items():
            if v is not None and not isinstance(v, bool | int | float | str):
                raise UsageError(f"Imputer.fit: fill value of {c!r} ({v!r}) is not JSON-able; "
                                 "use strategy='constant' with a plain value")
        self.state = {"fill": fills}

    def _transform(self, df: pl.DataFrame) -> pl.DataFrame:
        fills: dict[str, Any] = self.state["fill"]  # type: ignore[index]
        check_columns(df, list(fills), "Imputer.transform")
        return df.with_columns([pl.col(c).fill_null(pl.lit(v)).alias(c)
                                for c, v in fills.items() if v is not None])


def _stat(x: pl.Expr, strategy: str) -> pl.Expr:
    if strategy == "mode":
        return x.drop_nulls().mode().sort().first()
    return getattr(x.cast(pl.Float64), strategy)()


# -- type coercion ---------------------------------------------------------------------------

TYPES = {
    "int": pl.Int64, "integer": pl.Int64, "int64": pl.Int64,
    "float": pl.Float64, "double": pl.Float64, "float64": pl.Float64,
    "bool": pl.Boolean, "boolean": pl.Boolean,
    "str": pl.String, "string": pl.String,
    "date": pl.Date,
    "datetime": pl.Datetime("us"), "timestamp": pl.Datetime("us"),
    "datetime_tz": pl.Datetime("us", "UTC"),
}

#: Text accepted as ``datetime`` (naive) by default: ISO 8601 date, optional time after a
#: space or ``T`` (``HH:MM``, ``HH:MM:SS``, fractions up to nanoseconds).
DATETIME_PATTERN = r"^(\d{4}-\d{1,2}-\d{1,2})(?:[ T](\d{1,2}:\d{2})(:\d{2})?(\.\d{1,9})?)?$"
#: Text accepted as ``datetime_tz``: the same with a required ``Z`` or ``+HH:MM`` offset.
DATETIME_TZ_PATTERN = (r"^(\d{4}-\d{1,2}-\d{1,2})[ T](\d{1,2}:\d{2})(:\d{2})?(\.\d{1,9})?"
                       r" ?(Z|z|[+-]\d{2}:?\d{2})$")
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


def coerce(table: Any, types: Mapping[str, str], *, formats: Mapping[str, str] | None = None,
           empty_as_null: bool = True) -> tuple[Any, Any]:
    """Cast columns to ``types`` and split the rows into ``(good, rejected)``.

    ``types`` maps a column to ``int``, ``float``, ``bool``, ``str``, ``date``, ``datetime``
    (naive) or ``datetime_tz`` (offset required, stored as UTC). Parsing is strict: a value
    that does not parse (``"abc"`` as int, ``"1.5"`` as int, ``"2024-02-30"`` as date) rejects
    its row instead of becoming null. ``good`` holds the clean rows with the new types;
    ``rejected`` holds the bad rows as they came plus ``_dm_rule`` (``"type"``, as in
    ``datamill.quality``), ``_dm_column`` (the failing columns,
    comma-separated) and ``_dm_reason`` (one reason per failing column, ``"; "``-separated).
    Nulls (and, with ``empty_as_null``, blank strings) are kept as nulls, not rejected.
    ``formats={"ts": "%d/%m/%Y"}`` sets the strptime format of a date/datetime column.
    """
    df, kind = to_polars(table)
    check_columns(df, list(types), "coerce")
    formats = dict(formats or {})
    check_columns(df, list(formats), "coerce(formats=)")
    names = list(types)
    tmp = {c: f"{c}\0new" for c in names}
    converted = []
    for c, tname in types.items():
        t = TYPES.get(str(tname).lower())
        if t is None:
            raise UsageError(f"coerce: column {c!r}: unknown type {tname!r}; use one of "
                             f"{', '.join(TYPES)}")
        src = pl.col(c)
        if df.schema[c] == pl.String and empty_as_null:
            src = pl.when(src.str.strip_chars() == "").then(None).otherwise(src)
        converted.append(_convert(src, df.schema[c], t, formats.get(c)).alias(tmp[c]))
    marked = df.with_columns(converted)
    bad = {c: pl.col(c).is_not_null() & pl.col(tmp[c]).is_null() for c in names}
    if empty_as_null:
        bad = {c: b & (pl.col(c).str.strip_chars() != "") if df.schema[c] == pl.String else b
               for c, b in bad.items()}
    marked = marked.with_columns(
        (pl.any_horizontal(list(bad.values())) if bad else pl.lit(False)).alias("\0bad"))
    good = (marked.filter(~pl.col("\0bad")).drop(names).rename({v: k for k, v in tmp.items()})
            .select(df.columns))
    rejected = marked.filter(pl.col("\0bad")).with_columns(
        pl.lit("type").alias("_dm_rule"),
        pl.concat_str([pl.when(b).then(pl.lit(c)) for c, b in bad.items()]
                      or [pl.lit(None, pl.String)], separator=",", ignore_nulls=True)
        .alias("_dm_column"),
        pl.concat_str([pl.when(b).then(pl.format("{}: {} is not a valid {}", pl.lit(c),
                                                 _quoted(pl.col(c)), pl.lit(str(types[c]))))
                       for c, b in bad.items()] or [pl.lit(None, pl.String)],
                      separator="; ", ignore_nulls=True).alias("_dm_reason"),
    ).drop([*tmp.values(), "\0bad"])
    return back(good, kind), back(rejected, kind)


def _iso_datetime(s: pl.Expr, with_tz: bool) -> pl.Expr:
    """Parse ISO 8601 text strictly in one pass: rewrite each value to the one full form
    ``YYYY-MM-DD HH:MM:SS.f`` (plus offset), then parse that with one format, so invalid
    dates (Feb 30, month 13, hour 25) fail instead of being guessed at."""
    g = s.str.extract_groups(DATETIME_TZ_PATTERN if with_tz else DATETIME_PATTERN)
    parts = [g.struct.field("1"), pl.lit(" "), g.struct.field("2").fill_null("00:00"),
             g.struct.field("3").fill_null(":00"), g.struct.field("4").fill_null(".0")]
    if with_tz:
        parts.append(g.struct.field("5").str.replace(r"^[Zz]$", "+00:00"))
        return pl.concat_str(parts).str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", time_unit="us",
                                                    time_zone="UTC", strict=False)
    return pl.concat_str(parts).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us",
                                                strict=False)


def _quoted(x: pl.Expr) -> pl.Expr:
    return pl.format("'{}'", x.cast(pl.String))


def _convert(x: pl.Expr, src: pl.DataType, t: pl.DataType, fmt: str | None) -> pl.Expr:
    """The value as ``t``, null where it does not convert exactly."""
    if src == t:
        return x
    if src == pl.String:
        s = x.str.strip_chars()
        if t == pl.String:
            return x
        if t == pl.Int64:
            return pl.when(s.str.contains(r"^[+-]?\d+$")).then(s.cast(pl.Int64, strict=False))
        if t == pl.Float64:
            return s.cast(pl.Float64, strict=False)
        if t == pl.Boolean:
            low = s.str.to_lowercase()
            return (pl.when(low.is_in(_TRUE)).then(True)
                    .when(low.is_in(_FALSE)).then(False).otherwise(None))
        if t == pl.Date:
            return s.str.to_date(fmt or "%Y-%m-%d", strict=False)
        if isinstance(t, pl.Datetime):
            if fmt:
                tz = "UTC" if t.time_zone else None
                return s.str.to_datetime(fmt, time_unit="us", time_zone=tz, strict=False)
            return _iso_datetime(s, t.time_zone is not None)
    if t == pl.String:
        return x.cast(pl.String)
    if src.is_float() and t.is_integer():
        return pl.when(x.is_finite() & (x == x.floor())).then(x.cast(t, strict=False))
    if isinstance(t, pl.Datetime) and isinstance(src, pl.Datetime):
        if t.time_zone is None and src.time_zone is not None:
            return x.dt.convert_time_zone("UTC").dt.replace_time_zone(None).dt.cast_time_unit("us")
        if t.time_zone is not None and src.time_zone is None:
            return x.dt.replace_time_zone("UTC").dt.cast_time_unit("us")
        return x.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    return x.cast(t, strict=False)


# -- strings ---------------------------------------------------------------------------------

NORMAL_FORMS = ("NFC", "NFKC", "NFD", "NFKD")


def normalize_text(table: Any, columns: str | list[str] | None = None, *, trim: bool = True,
                   case: str | None = None, unicode: str | None = "NFC",
                   collapse_whitespace: bool = True) -> Any:
    """Normalise string columns (default: all string columns) in place.

    In order: Unicode normal form (``NFC`` default; ``NFKC`` also folds compatibility
    characters such as full-width letters and non-breaking spaces), collapse runs of
    whitespace to one space, trim, then ``case`` (``lower``, ``upper``, ``title``).
    """
    df, kind = to_polars(table)
    cols = as_list(columns) or [c for c, t in df.schema.items() if t == pl.String]
    check_columns(df, cols, "normalize_text")
    for c in cols:
        if df.schema[c] != pl.String:
            raise UsageError(f"normalize_text: column {c!r} is {df.schema[c]}, not text")
    opts = {"trim": trim, "case": case, "unicode": unicode,
            "collapse_whitespace": collapse_whitespace}
    _norm(pl.col("x"), **opts)  # validates the options before any work
    return back(df.with_columns([_norm_column(df.get_column(c), opts) for c in cols]), kind)


def _norm_column(s: pl.Series, opts: dict[str, Any]) -> pl.Series:
    """One column normalised. Codes and categories (few distinct values, the usual case for
    text worth normalising) are normalised once per distinct value and mapped back, which
    costs a hash lookup per row instead of four string rewrites."""
    distinct = s.drop_nulls().unique()
    if len(distinct) * 4 > len(s):
        return s.to_frame().select(_norm(pl.col(s.name), **opts)).to_series()
    normed = distinct.to_frame().select(_norm(pl.col(s.name), **opts)).to_series()
    if normed.equals(distinct):
        return s
    # each row's position among the distinct values (an Enum's codes), then gather: no
    # hash join (which holds ~3x the column while it runs)
    enum = pl.Enum(distinct.to_list())
    # chunk by chunk, so the column lines up with the frame's other columns (a column
    # chunked differently makes Polars copy the whole frame into one chunk later)
    parts = [normed.gather(c.cast(enum).to_physical()) for c in s.get_chunks()]
    return (pl.concat(parts, rechunk=False) if len(parts) > 1 else parts[0]).alias(s.name)


def _norm(x: pl.Expr, *, trim: bool, case: str | None, unicode: str | None,
          collapse_whitespace: bool) -> pl.Expr:
    if unicode is not None:
        form = unicode.upper()
        if form not in NORMAL_FORMS:
            raise UsageError(f"unicode must be one of {', '.join(NORMAL_FORMS)} or None, got {unicode!r}")
        x = x.str.normalize(form)  # type: ignore[arg-type]
    if collapse_whitespace:
        x = x.str.replace_all(r"\s+", " ")
    if trim:
        x = x.str.strip_chars()
    if case is not None:
        if case not in ("lower", "upper", "title"):
            raise UsageError(f"case must be 'lower', 'upper' or 'title', got {case!r}")
        x = getattr(x.str, {"lower": "to_lowercase", "upper": "to_uppercase",
                            "title": "to_titlecase"}[case])()
    return x


# -- outliers --------------------------------------------------------------------------------

def _bounds(df: pl.DataFrame, cols: list[str], method: str, k: float | None
            ) -> dict[str, tuple[float | None, float | None]]:
    if method == "iqr":
        k = 1.5 if k is None else k
        row = df.select([e for c in cols for e in (
            pl.col(c).cast(pl.Float64).quantile(0.25, interpolation="linear"),
            pl.col(c).cast(pl.Float64).quantile(0.75, interpolation="linear").alias(f"{c}\0h"))]).row(0)
        out = {}
        for i, c in enumerate(cols):
            q1, q3 = row[2 * i], row[2 * i + 1]
            out[c] = (None, None) if q1 is None else (q1 - k * (q3 - q1), q3 + k * (q3 - q1))
        return out
    if method == "zscore":
        k = 3.0 if k is None else k
        row = df.select([e for c in cols for e in (
            pl.col(c).cast(pl.Float64).mean(),
            pl.col(c).cast(pl.Float64).std(ddof=0).alias(f"{c}\0s"))]).row(0)
        out = {}
        for i, c in enumerate(cols):
            m, s = row[2 * i], row[2 * i + 1]
            out[c] = (None, None) if m is None else (m - k * s, m + k * s)
        return out
    raise UsageError(f"outliers: method must be 'iqr' or 'zscore', got {method!r}")


def _outlier_cols(df: pl.DataFrame, columns: Any, where: str) -> list[str]:
    cols = as_list(columns) or numeric_columns(df)
    check_numeric(df, cols, where)
    return cols


def flag_outliers(table: Any, columns: str | list[str] | None = None, *, method: str = "iqr",
                  k: float | None = None, suffix: str = "_outlier") -> Any:
    """Add a boolean ``<col><suffix>`` column: True outside the fences.

    ``iqr``: below Q1 - k·IQR or above Q3 + k·IQR (k = 1.5); ``zscore``: more than k
    standard deviations from the mean (k = 3). Nulls are not outliers.
    """
    df, kind = to_polars(table)
    cols = _outlier_cols(df, columns, "flag_outliers")
    names = [f"{c}{suffix}" for c in cols]
    not_reserved(df, names, "flag_outliers")
    b = _bounds(df, cols, method, k)
    exprs = []
    for c, n in zip(cols, names, strict=True):
        lo, hi = b[c]
        e = pl.lit(False) if lo is None else ((pl.col(c) < lo) | (pl.col(c) > hi)).fill_null(False)
        exprs.append(e.alias(n))
    return back(df.with_columns(exprs), kind)


def clip_outliers(table: Any, columns: str | list[str] | None = None, *, method: str = "iqr",
                  k: float | None = None) -> Any:
    """Clip values to the fences of ``method`` (see ``flag_outliers``), computed on this table.

    Use ``Clipper`` to learn the fences on training data and apply them when serving.
    """
    df, kind = to_polars(table)
    cols = _outlier_cols(df, columns, "clip_outliers")
    b = _bounds(df, cols, method, k)
    return back(df.with_columns([_clip(c, *b[c]) for c in cols]), kind)


def _clip(c: str, lo: float | None, hi: float | None) -> pl.Expr:
    x = pl.col(c)
    if lo is None:
        return x
    return x.cast(pl.Float64).clip(lo, hi).alias(c)


class Clipper(Fitted):
    """Outlier fences learnt on training data (``iqr`` or ``zscore``), applied by clipping."""

    kind = "clipper"

    def __init__(self, columns: str | list[str] | None = None, method: str = "iqr",
                 k: float | None = None):
        if method not in ("iqr", "zscore"):
            raise UsageError(f"Clipper: method must be 'iqr' or 'zscore', got {method!r}")
        self.columns, self.method, self.k = as_list(columns) or None, method, k

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns, "method": self.method, "k": self.k}

    def _fit(self, df: pl.DataFrame) -> None:
        cols = _outlier_cols(df, self.columns, "Clipper.fit")
        self.state = {"bounds": {c: list(v) for c, v in _bounds(df, cols, self.method, self.k).items()}}

    def _transform(self, df: pl.DataFrame) -> pl.DataFrame:
        b: dict[str, list[float | None]] = self.state["bounds"]  # type: ignore[index]
        check_numeric(df, list(b), "Clipper.transform")
        return df.with_columns([_clip(c, lo, hi) for c, (lo, hi) in b.items()])


__all__ = [
    "DATETIME_PATTERN", "DATETIME_TZ_PATTERN", "Clipper", "Imputer", "clip_outliers", "coerce",
    "dedupe", "drop_nulls", "fill_nulls", "flag_nulls", "flag_outliers", "normalize_text",
]
