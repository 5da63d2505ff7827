"""Coercion: text (and loosely typed) columns into a contract column's type.

A value that does not parse to its column's type is reported (rule ``type``), never
silently turned into a null. Dates and timestamps take a vectorised ISO path (and Polars'
strict parser for canonical text) before falling back to a row-by-row cast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datamill.quality.schema import Column

_INT_RE = r"^[+-]?[0-9]{1,18}$"
_FLOAT_RE = r"(?i)^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf|infinity|nan)$"
_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME_RE = r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:([0-5][0-9]|60)(\.[0-9]{1,6})?)?)?"
_OFFSET_RE = r"(Z|[+-][0-9]{2}:?[0-9]{2})$"
_TRUE = ["true", "1", "t", "yes", "y"]
_FALSE = ["false", "0", "f", "no", "n"]


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or \
        getattr(pa.types, "is_string_view", lambda _: False)(t)


def _bisect_cast(arr: pa.Array, fn: Any) -> tuple[pa.Array, pa.Array]:
    """Convert with ``fn`` (which raises on any invalid element); locate the failures by
    halving. Used only on what the vectorised pre-filters let through, so it stays small."""
    try:
        return fn(arr), pa.nulls(len(arr), pa.bool_()).fill_null(False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, OverflowError):
        if len(arr) == 1:
            out = fn(pa.nulls(1, arr.type))
            return out, pa.array([arr[0].is_valid])
    mid = len(arr) // 2
    a, am = _bisect_cast(arr.slice(0, mid), fn)
    b, bm = _bisect_cast(arr.slice(mid), fn)
    return pa.concat_arrays([a, b]), pa.concat_arrays([am, bm])


def _datetime_fn(col: Column) -> Any:
    target = col.arrow_type()
    if not col.tz:
        return lambda a: pc.cast(a, target)
    naive = pa.timestamp("us")

    def fn(a: pa.Array) -> pa.Array:
        has_off = pc.fill_null(pc.match_substring_regex(a, _OFFSET_RE), False)
        if pc.all(has_off).as_py() is not False:
            return pc.cast(a, target)
        if not pc.any(has_off).as_py():
            return pc.assume_timezone(pc.cast(a, naive), col.tz)
        aware = pc.cast(pc.if_else(has_off, a, pa.scalar(None, a.type)), target)
        local = pc.assume_timezone(pc.cast(pc.if_else(has_off, pa.scalar(None, a.type), a), naive),
                                   col.tz)
        return pc.if_else(has_off, aware, local)
    return fn


def _prefilter(text: pa.Array, col: Column) -> pa.Array | None:
    """Which text values can possibly parse (a boolean array), or None for 'all'."""
    t = col.type
    if t == "int":
        return pc.match_substring_regex(text, _INT_RE)
    if t == "float":
        return pc.match_substring_regex(text, _FLOAT_RE)
    if t == "decimal":
        whole = col.precision - col.scale
        frac = rf"(\.[0-9]{{0,{col.scale}}})?" if col.scale else r"\.?"
        return pc.match_substring_regex(text, rf"^[+-]?([0-9]{{1,{whole}}}{frac}|\.[0-9]{{1,{col.scale}}})$"
                                        if col.scale else rf"^[+-]?[0-9]{{1,{whole}}}{frac}$")
    if t in ("date", "datetime") and not col.format:
        # the common layout (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS) is checked on the raw bytes;
        # only other layouts (fractions, offsets) go through the regex
        canon, valid, _ = _iso_bytes(text, 10 if t == "date" else 19)
        ok = np.zeros(len(text), dtype=bool)
        ok[canon] = valid
        rest = np.flatnonzero(~canon & _np(pc.is_valid(text)))
        if len(rest):
            ok[rest] = _np(_iso_regex(text.take(pa.array(rest)), t))
        return pa.array(ok)
    return None


def _iso_regex(text: pa.Array, t: str) -> pa.Array:
    """ISO 8601 shape by regex, then the calendar (no 30 February)."""
    pat = _DATE_RE + ("$" if t == "date" else _TIME_RE + "(" + _OFFSET_RE[:-1] + ")?$")
    ok = pc.match_substring_regex(text, pat)
    # the calendar: '2024-02-30' has the right shape but no such day
    shaped = pc.if_else(ok, text, pa.scalar(None, text.type))
    year = pc.cast(pc.utf8_slice_codeunits(shaped, 0, 4), pa.int32())
    month = pc.cast(pc.utf8_slice_codeunits(shaped, 5, 7), pa.int32())
    day = pc.cast(pc.utf8_slice_codeunits(shaped, 8, 10), pa.int32())
    month_ok = pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12))
    m0 = pc.if_else(month_ok, pc.subtract(month, 1), 0)
    dim = pa.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int32()).take(m0)
    leap = pc.and_(pc.equal(pc.bit_wise_and(year, 3), 0),
                   pc.or_(pc.not_equal(pc.remainder(year, 100), 0),
                          pc.equal(pc.remainder(year, 400), 0)))
    dim = pc.add(dim, pc.cast(pc.and_(leap, pc.equal(month, 2)), pa.int32()))
    same = pc.and_(month_ok, pc.and_(pc.greater_equal(day, 1), pc.less_equal(day, dim)))
    return pc.fill_null(pc.and_kleene(ok, same), False)


_DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _iso_bytes(text: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows of exactly ``width`` characters, whether each of those is a real date/time,
    and its value: days, or microseconds, since 1970-01-01).

    Reads the digits straight from the Arrow buffers: a strict check of the calendar and
    the clock at a few nanoseconds a row, with no per-row Python.
    """
    n = len(text)
    offs = np.frombuffer(text.buffers()[1], np.int32)[text.offset:text.offset + n + 1]
    data = text.buffers()[2]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(1, np.uint8)
    canon = (np.diff(offs) == width) & _np(pc.is_valid(text))
    st = offs[:-1][canon]
    if len(st) and st[-1] - st[0] == (len(st) - 1) * width:
        # canonical rows back to back (the common case): a zero-copy (rows x width) view
        grid = data[st[0]:st[0] + len(st) * width].reshape(-1, width)
    else:
        grid = data[st[:, None] + np.arange(width)] if len(st) else np.zeros((0, width), np.uint8)
    positions = [0, 1, 2, 3, 5, 6, 8, 9] + ([11, 12, 14, 15, 17, 18] if width == 19 else [])
    d = grid[:, positions] - np.uint8(48)  # non-digits wrap around to > 9
    ok = np.all(d <= 9, axis=1) & (grid[:, 4] == 45) & (grid[:, 7] == 45)  # '-'
    d = d.astype(np.int32)
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month = d[:, 4] * 10 + d[:, 5]
    day = d[:, 6] * 10 + d[:, 7]
    ok &= (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    dim = _DIM[np.clip(month - 1, 0, 11)] + (leap & (month == 2))
    ok &= (day >= 1) & (day <= dim)
    if width == 19:
        sep = grid[:, 10]
        ok &= ((sep == 84) | (sep == 32)) & (grid[:, 13] == 58) & (grid[:, 16] == 58)
        hh, mi, ss = (d[:, 8] * 10 + d[:, 9], d[:, 10] * 10 + d[:, 11], d[:, 12] * 10 + d[:, 13])
        ok &= (hh <= 23) & (mi <= 59) & (ss <= 59)
    # days from the civil date (H. Hinnant's algorithm), vectorised
    y = year.astype(np.int64) - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    mp = (month.astype(np.int64) + 9) % 12
    doe = yoe * 365 + yoe // 4 - yoe // 100 + (153 * mp + 2) // 5 + day - 1
    value = era * 146097 + doe - 719468
    if width == 19:
        value = ((value * 24 + hh) * 60 + mi) * 60_000_000 + ss.astype(np.int64) * 1_000_000
    return canon, ok, value


_CANONICAL = {"date": ("%Y-%m-%d", r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
              "datetime": ("%Y-%m-%d{sep}%H:%M:%S",
                           r"^[0-9]{4}-[0-9]{2}-[0-9]{2}{sep}[0-9]{2}:[0-9]{2}:[0-5][0-9]$")}


def _canonical_polars(raw: pa.Array, t: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows in the canonical layout that are real dates/times, their values) through
    Polars' parser, or None without Polars.

    Polars (chrono) alone is lenient (``2024-1-5``, a leading ``+``, second 60); the
    shape regex pins the layout to exactly ``YYYY-MM-DD[THH:MM:SS]``, and the parser then
    rejects impossible calendar dates and clock times (no 30 February). Everything else
    takes the general path.
    """
    try:
        import polars as pl
    except ImportError:
        return None
    fmt, shape = _CANONICAL[t]
    if t == "datetime":
        first = pc.drop_null(raw[:1000])
        sep = "T"
        if len(first) and len(first[0].as_py()) > 10 and first[0].as_py()[10] == " ":
            sep = " "
        fmt, shape = fmt.replace("{sep}", sep), shape.replace("{sep}", sep)
    s = pl.from_arrow(raw)
    parsed = (pl.col("s").str.to_datetime(fmt, strict=False, exact=True, cache=False,
                                          time_unit="us") if t == "datetime"
              else pl.col("s").str.to_date(fmt, strict=False, exact=True, cache=False))
    out = pl.DataFrame({"s": s}).select(
        ok=(pl.col("s").str.contains(shape) & parsed.is_not_null()).fill_null(False),
        v=parsed.to_physical().cast(pl.Int64).fill_null(0))
    return out["ok"].to_numpy(), out["v"].to_numpy()


def _coerce_iso(raw: pa.Array, col: Column) -> tuple[pa.Array, pa.Array]:
    """Strict ISO 8601 text -> date/datetime for a batch known to hold some bad values."""
    width = 10 if col.type == "date" else 19
    n = len(raw)
    fast = _canonical_polars(raw, col.type)
    if fast is not None:  # rows the fast path did not accept are decided below
        good, vals = fast
        canon = good
    else:
        canon, valid, value = _iso_bytes(raw, width)
        good = np.zeros(n, dtype=bool)
        good[canon] = valid
        vals = np.zeros(n, dtype=np.int64)
        vals[canon] = np.where(valid, value, 0)
    if col.type == "date":
        out = pa.array(vals.astype(np.int32), pa.date32(), mask=~good)
    else:
        out = pa.array(vals, pa.timestamp("us"), mask=~good)
        if col.tz:
            out = pc.assume_timezone(out, col.tz, ambiguous="earliest", nonexistent="earliest")
    rest = np.flatnonzero(~canon & _np(pc.is_valid(raw)))
    if len(rest):  # other layouts: fractions of seconds, offsets, short times
        sub = raw.take(pa.array(rest))
        maybe = pc.if_else(_iso_regex(sub, col.type), sub, pa.scalar(None, sub.type))
        try:
            sub_out = _convert_text(maybe, col)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            sub_out, _ = _bisect_cast(maybe, lambda a: _convert_text(a, col))
        mask = np.zeros(n, dtype=bool)
        mask[rest] = True
        out = pc.replace_with_mask(out, pa.array(mask), sub_out.cast(out.type))
    return out, pc.and_(pc.is_valid(raw), pc.is_null(out))


def _convert_text(text: pa.Array, col: Column) -> pa.Array:
    """Vectorised conversion of text that may be invalid; raises on any invalid element."""
    target = col.arrow_type()
    if col.type == "bool":
        low = pc.utf8_lower(pc.utf8_trim_whitespace(text))
        is_t, is_f = pc.is_in(low, pa.array(_TRUE)), pc.is_in(low, pa.array(_FALSE))
        if not pc.all(pc.or_(pc.or_(is_t, is_f), pc.is_null(text))).as_py():
            raise pa.ArrowInvalid("not a boolean")
        return pc.if_else(pc.is_null(text), pa.scalar(None, pa.bool_()), is_t)
    if col.type in ("date", "datetime") and col.format:
        unit = "us" if col.type == "datetime" else "s"
        parsed = pc.strptime(text, col.format, unit, error_is_null=True)
        # strict: the value must print back exactly as written (no Feb 30 -> Mar 1)
        back = pc.strftime(parsed, col.format)
        if not pc.all(pc.or_kleene(pc.equal(back, text), pc.is_null(text))).as_py():
            raise pa.ArrowInvalid("does not round-trip")
        if col.type == "date":
            return pc.cast(pc.cast(parsed, pa.timestamp("s")), pa.date32())
        return pc.assume_timezone(parsed, col.tz) if col.tz else parsed
    if col.type == "datetime":
        return _datetime_fn(col)(text)
    return pc.cast(text, target)


def coerce(raw: pa.Array, col: Column) -> tuple[pa.Array, pa.Array | None]:
    """(values as the column's Arrow type, mask of values that did not convert or None)."""
    target = col.arrow_type()
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if pa.types.is_dictionary(raw.type):
        raw = raw.dictionary_decode()
    if raw.type == target:
        return raw, None
    if pa.types.is_null(raw.type):
        return pa.nulls(len(raw), target), None
    if _is_text(raw.type):
        if raw.type != pa.string():
            raw = raw.cast(pa.string())
        if col.type == "str":
            return raw, None
        try:  # fast path: everything parses
            return _convert_text(raw, col), None
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        if col.type in ("date", "datetime") and not col.format:
            return _coerce_iso(raw, col)
        ok = _prefilter(raw, col)
        if ok is not None:
            maybe = pc.if_else(ok, raw, pa.scalar(None, raw.type))
        else:
            maybe = raw
        try:
            out = _convert_text(maybe, col)
            bad = pc.and_(pc.is_valid(raw), pc.is_null(out))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            out, _ = _bisect_cast(maybe, lambda a: _convert_text(a, col))
            bad = pc.and_(pc.is_valid(raw), pc.is_null(out))
        return out, bad
    try:
        return pc.cast(raw, target), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    try:  # lossy conversion: keep only values that survive the round trip
        out = pc.cast(raw, target, safe=False)
        same = pc.equal(pc.cast(out, raw.type, safe=False), raw)
        if pa.types.is_floating(raw.type):
            same = pc.and_(same, pc.is_finite(raw))
        bad = pc.fill_null(pc.invert(same), False)
        out = pc.if_else(bad, pa.scalar(None, target), out)
        return out, bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(raw), target), pc.is_valid(raw)


def _np(m: Any) -> np.ndarray:
    if isinstance(m, np.ndarray):
        return m
    arr = m.combine_chunks() if isinstance(m, pa.ChunkedArray) else m
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)
