"""Data contracts: a schema plus row rules, a bad-row threshold and a drift policy.

``check(contract, data)`` splits a batch into ``good`` rows (coerced to the contract's
types) and ``bad`` rows (as they came, with the rules they failed), vectorised over
Arrow compute, with DuckDB for row expressions. Values that do not parse to their
column type are rejected with rule ``type``, never silently turned into nulls.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datamill._arrow import filter_rows, first_occurrence, int_keys, take_sorted
from datamill.errors import UsageError
from datamill.quality.drift import POLICIES, DriftReport, detect_drift
from datamill.quality.rules_sql import connect as _connect
from datamill.quality.rules_sql import validate_column_regexes, validate_expressions
from datamill.quality.schema import Column, Schema, dump_yaml, load_yaml, parse_columns
from datamill.quality.seen import SeenKeys

RULE_COLUMNS = ("_dm_rule", "_dm_rules", "_dm_reason", "_dm_column", "_dm_row")
_SLICE = 1 << 20  # rows per parallel slice


@dataclass
class Rule:
    """A row-level rule: a SQL boolean expression over the contract's columns.

    Evaluated by DuckDB over the coerced batch; a row fails when the expression is FALSE
    (NULL passes, as in a SQL CHECK constraint). Only scalar expressions are allowed:
    no subqueries, no table functions, no file or network access.
    """

    name: str
    expr: str
    description: str = ""


@dataclass
class Contract:
    """What a dataset must look like; build it in Python or load it from YAML."""

    name: str
    columns: list[Column] = field(default_factory=list)
    unique: list[list[str]] = field(default_factory=list)  # composite keys
    rules: list[Rule] = field(default_factory=list)
    max_bad_share: float = 0.0
    drift: str = "fail"
    description: str = ""

    def __post_init__(self) -> None:
        self.schema  # noqa: B018 - validates duplicate names
        if self.drift not in POLICIES:
            raise UsageError(f"contract {self.name!r}: field 'drift': {self.drift!r} is not one of "
                             f"{', '.join(POLICIES)}")
        if not isinstance(self.max_bad_share, int | float) or isinstance(self.max_bad_share, bool) \
                or not 0 <= self.max_bad_share <= 1:
            raise UsageError(f"contract {self.name!r}: field 'max_bad_share': expected a share "
                             f"between 0 and 1, got {self.max_bad_share!r}")
        names = {c.name for c in self.columns}
        self.unique = [[k] if isinstance(k, str) else list(k) for k in self.unique]
        for key in self.unique:
            for k in key:
                if k not in names:
                    raise UsageError(f"contract {self.name!r}: field 'unique': column {k!r} is "
                                     "not a column of the contract")
        validate_column_regexes(self)
        self.rules = [r if isinstance(r, Rule) else Rule(str(r), str(r)) for r in self.rules]
        if self.rules:
            validate_expressions(self)

    @property
    def schema(self) -> Schema:
        return Schema(self.columns)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["max_bad_share"] = self.max_bad_share
        out["drift"] = self.drift
        out["columns"] = [c.to_dict() for c in self.columns]
        if self.unique:
            out["unique"] = [list(k) for k in self.unique]
        if self.rules:
            out["rules"] = [{"name": r.name, "expr": r.expr,
                             **({"description": r.description} if r.description else {})}
                            for r in self.rules]
        return out

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> Contract:
        prefix = f"{where}: " if where else ""
        if not isinstance(d, dict):
            raise UsageError(f"{prefix}a contract must be a mapping with name and columns")
        known = {"name", "description", "max_bad_share", "drift", "columns", "unique", "rules"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UsageError(f"{prefix}unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        if "columns" not in d:
            raise UsageError(f"{prefix}the contract has no 'columns'")
        name = d.get("name") or (Path(where).stem if where else "dataset")
        rules_in = d.get("rules") or []
        if isinstance(rules_in, dict):
            rules_in = [{"name": k, "expr": v} for k, v in rules_in.items()]
        if not isinstance(rules_in, list):
            raise UsageError(f"{prefix}field 'rules': expected a list of {{name, expr}}")
        rules = []
        for i, r in enumerate(rules_in):
            if isinstance(r, str):
                r = {"name": f"rule_{i + 1}", "expr": r}
            if not isinstance(r, dict) or not isinstance(r.get("expr"), str) \
                    or set(r) - {"name", "expr", "description"}:
                raise UsageError(f"{prefix}rule {i + 1}: expected a mapping with 'name' and "
                                 f"'expr' (text), got {r!r}")
            rules.append(Rule(str(r.get("name") or f"rule_{i + 1}"), r["expr"],
                              str(r.get("description") or "")))
        unique = d.get("unique") or []
        if not isinstance(unique, list) or not all(
                isinstance(k, str) or (isinstance(k, list) and all(isinstance(x, str) for x in k))
                for k in unique):
            raise UsageError(f"{prefix}field 'unique': expected a list of column names or of "
                             f"lists of column names, got {unique!r}")
        try:
            return cls(name=str(name), columns=parse_columns(d["columns"], where), unique=unique,
                       rules=rules, max_bad_share=d.get("max_bad_share", 0.0),
                       drift=d.get("drift", "fail"), description=str(d.get("description") or ""))
        except UsageError as exc:
            msg = str(exc)
            raise UsageError(msg if where and msg.startswith(where) else f"{prefix}{msg}") from None

    @classmethod
    def from_yaml(cls, text: str, where: str = "") -> Contract:
        return cls.from_dict(load_yaml(text, where), where)


def load_contract(source: str | Path | dict[str, Any] | Contract) -> Contract:
    """A contract from a YAML/JSON file, a Python file defining one, a mapping, or as is.

    A Python file must define a ``Contract`` in a variable named ``contract`` (or exactly
    one ``Contract`` anywhere at module level).
    """
    if isinstance(source, Contract):
        return source
    if isinstance(source, dict):
        return Contract.from_dict(source)
    path = Path(source)
    if not path.exists():
        raise UsageError(f"contract file {str(path)!r} does not exist")
    where = str(path)
    if path.suffix == ".py":
        import importlib.util

        spec = importlib.util.spec_from_file_location(f"_datamill_contract_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{where}: cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
        found = getattr(module, "contract", None)
        if not isinstance(found, Contract):
            all_ = [v for v in vars(module).values() if isinstance(v, Contract)]
            if len(all_) != 1:
                raise UsageError(f"{where}: define the contract as a module variable named "
                                 f"'contract' (found {len(all_)} Contract objects)")
            found = all_[0]
        return found
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        import json

        try:
            return Contract.from_dict(json.loads(text), where)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc})") from None
    return Contract.from_yaml(text, where)


# -- expressions -------------------------------------------------------------------------

# -- coercion ----------------------------------------------------------------------------

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


# -- checking ----------------------------------------------------------------------------

@dataclass
class _Check:
    rule: str        # type, not_null, range, allowed, regex, unique, expression
    label: str       # what goes into _dm_rules, e.g. "range:qty"
    column: str | None
    reason: str      # suffix after the value, or the full text when value is None


@dataclass
class CheckResult:
    """The outcome of checking one batch against a contract."""

    contract: str
    good: pa.Table
    bad: pa.Table
    rows: int
    drift: DriftReport
    max_bad_share: float
    quarantine_path: str | None = None
    failures: dict[str, int] = field(default_factory=dict)  # _dm_rules label -> rows

    @property
    def good_rows(self) -> int:
        return self.good.num_rows

    @property
    def bad_rows(self) -> int:
        return self.bad.num_rows

    @property
    def error_rate(self) -> float:
        return self.bad_rows / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        if self.drift.policy == "fail" and self.drift.found:
            return False
        return self.error_rate <= self.max_bad_share

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = (f"contract {self.contract!r} {verdict}: {self.good_rows} good, {self.bad_rows} bad "
                f"of {self.rows} rows (error rate {self.error_rate:.4%}, allowed "
                f"{self.max_bad_share:.4%})")
        if self.drift.found:
            text += f"; {self.drift.summary()}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"contract": self.contract, "passed": self.passed, "rows": self.rows,
                "good_rows": self.good_rows, "bad_rows": self.bad_rows,
                "error_rate": self.error_rate, "max_bad_share": self.max_bad_share,
                "failures": dict(self.failures), "drift": self.drift.to_dict(),
                "quarantine": self.quarantine_path}


def to_table(data: Any) -> pa.Table:
    """An Arrow table from a table, record batch(es), pandas or Polars frame."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    mod = type(data).__module__
    if mod.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if mod.startswith("polars"):
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if isinstance(data, list | tuple) and data and all(isinstance(b, pa.RecordBatch) for b in data):
        return pa.Table.from_batches(list(data))
    if isinstance(data, dict):
        return pa.table(data)
    raise UsageError(f"cannot check a {type(data).__name__}: give an Arrow table or record "
                     "batch, a pandas or a Polars DataFrame")


def _plan(contract: Contract) -> list[_Check]:
    checks: list[_Check] = []
    for c in contract.columns:
        n = c.name
        checks.append(_Check("type", f"type:{n}", n, f" does not parse as {c.type}"
                             + (f" (format {c.format})" if c.format else "")))
        if not c.nullable:
            checks.append(_Check("not_null", f"not_null:{n}", n, "is null but the column is required"))
        if c.min is not None or c.max is not None:
            op = "<=" if c.inclusive else "<"
            lo = f"{c.min} {op} " if c.min is not None else ""
            hi = f" {op} {c.max}" if c.max is not None else ""
            checks.append(_Check("range", f"range:{n}", n, f" is out of range ({lo}{n}{hi})"))
        if c.allowed is not None:
            shown = ", ".join(map(str, c.allowed[:10])) + (", ..." if len(c.allowed) > 10 else "")
            checks.append(_Check("allowed", f"allowed:{n}", n, f" is not one of {shown}"))
        if c.regex:
            checks.append(_Check("regex", f"regex:{n}", n, f" does not match {c.regex}"))
        if c.unique:
            checks.append(_Check("unique", f"unique:{n}", n, " repeats an earlier row's value"))
    for key in contract.unique:
        if len(key) == 1 and contract.schema[key[0]].unique:
            continue
        label = ",".join(key)
        checks.append(_Check("unique", f"unique:{label}", label if len(key) == 1 else None,
                             f"the key ({label}) repeats an earlier row's key"))
    for r in contract.rules:
        checks.append(_Check("expression", f"expression:{r.name}", None,
                             f"rule {r.name!r} is false: {r.expr}"))
    return checks


def _n_keys(contract: Contract) -> int:
    """How many composite unique keys are checked apart from the column flags."""
    return sum(1 for key in contract.unique
               if not (len(key) == 1 and contract.schema[key[0]].unique))


def _column_masks(raw: pa.Array, col: Column, treat_nullable: bool) -> tuple[pa.Array, list[Any]]:
    """Coerce one column slice and compute its rule masks (None when nothing failed)."""
    values, type_bad = coerce(raw, col)
    masks: list[Any] = [type_bad]
    if not col.nullable:
        if treat_nullable:
            masks.append(None)
        else:
            nulls = pc.is_null(values)
            if type_bad is not None:
                nulls = pc.and_(nulls, pc.invert(type_bad))
            masks.append(nulls)
    if col.min is not None or col.max is not None:
        t = values.type
        bad = None
        if col.min is not None:
            lo = pa.scalar(col.min, t)
            bad = pc.less(values, lo) if col.inclusive else pc.less_equal(values, lo)
        if col.max is not None:
            hi = pa.scalar(col.max, t)
            b2 = pc.greater(values, hi) if col.inclusive else pc.greater_equal(values, hi)
            bad = b2 if bad is None else pc.or_(bad, b2)
        if col.type == "float":
            bad = pc.or_(bad, pc.is_nan(values))
        masks.append(pc.fill_null(bad, False))
    if col.allowed is not None:
        ok = pc.is_in(values, pa.array(col.allowed, values.type))
        masks.append(pc.and_(pc.invert(ok), pc.is_valid(values)))
    if col.regex:
        masks.append(pc.invert(pc.fill_null(pc.match_substring_regex(values, f"^(?:{col.regex})$"), True)))
    if col.unique:
        masks.append(None)  # filled in over the whole table
    return values, [m if m is None or pc.any(m).as_py() else None for m in masks]


def _key_valid(table: pa.Table, key: list[str]) -> np.ndarray:
    """Rows whose key has no null."""
    valid = np.ones(table.num_rows, dtype=bool)
    for k in key:
        col = table.column(k)
        if col.null_count:
            valid &= _np(pc.is_valid(col))
    return valid


def _duplicates(table: pa.Table, key: list[str],
                valid: np.ndarray | None = None) -> np.ndarray | None:
    """Rows whose non-null key already appeared in an earlier row (``valid``: the rows
    whose key has no null, when the caller has it)."""
    n = table.num_rows
    if n < 2:
        return None
    if valid is None:
        valid = _key_valid(table, key)
    v = int_keys(table.column(key[0])) if len(key) == 1 else None
    if v is not None:  # integer, date, timestamp: a stable sort, exact
        if valid.all():
            if len(v) and bool(np.all(v[1:] > v[:-1])):
                return None  # strictly increasing: no repeats (the common id case)
            first = first_occurrence(v)
            dup = np.zeros(n, dtype=bool) if first is True else ~first
        else:
            rows = np.flatnonzero(valid)
            first = first_occurrence(v[rows])
            dup = np.zeros(n, dtype=bool)
            if first is not True:
                dup[rows[~first]] = True
        return dup if dup.any() else None
    sub = table.select(key)
    try:
        import polars as pl
    except ImportError:
        sub = sub.append_column("__dm_i", pa.array(np.arange(n, dtype=np.int64)))
        firsts = sub.group_by(key, use_threads=True).aggregate([("__dm_i", "min")])
        dup = np.ones(n, dtype=bool)
        dup[firsts.column("__dm_i_min").to_numpy()] = False
    else:
        df = pl.from_arrow(sub, rechunk=False)
        assert isinstance(df, pl.DataFrame)
        expr = pl.col(key[0]) if len(key) == 1 else pl.struct(key)
        dup = ~df.select(expr.is_first_distinct())[:, 0].to_numpy()
    dup &= valid
    return dup if dup.any() else None


def _unique_mask(table: pa.Table, key: list[str], seen: SeenKeys | None) -> np.ndarray | None:
    """Repeats within the table and, with ``seen``, of keys from earlier batches."""
    if seen is None:
        return _duplicates(table, key)
    valid = _key_valid(table, key)
    dup = _duplicates(table, key, valid)
    prior = seen.repeats(table, key, valid)
    seen.add(table, key, valid)
    mask = prior if dup is None else (dup | prior)
    return mask if mask.any() else None


def _reasons(checks: list[_Check], first: np.ndarray, bad_raw: pa.Table,
             bad_values: dict[str, pa.Array]) -> pa.Array:
    """Human text for each bad row's first failure, built column-wise per rule."""
    n = len(first)
    parts_idx, parts_txt = [], []
    for i in np.unique(first):
        sel = np.flatnonzero(first == i)
        ck = checks[i]
        if ck.rule in ("type", "range", "allowed", "regex", "unique") and ck.column and \
                (ck.column in bad_raw.column_names or ck.column in bad_values):
            src = bad_raw.column(ck.column) if ck.rule == "type" or ck.column not in bad_values \
                else bad_values[ck.column]
            vals = src.take(pa.array(sel))
            try:
                txt = pc.cast(vals, pa.string())
                quote = "'" if _is_text(vals.type) else ""
                txt = pc.binary_join_element_wise(f"{ck.column} = {quote}", pc.fill_null(txt, "null"),
                                                  f"{quote}{ck.reason}", "")
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                txt = pa.array([f"{ck.column}{ck.reason}"] * len(sel), pa.string())
        elif ck.rule == "not_null":
            txt = pa.array([f"{ck.column} {ck.reason}"] * len(sel), pa.string())
        else:
            txt = pa.array([ck.reason.strip()] * len(sel), pa.string())
        parts_idx.append(sel)
        parts_txt.append(txt)
    order = np.argsort(np.concatenate(parts_idx), kind="stable") if parts_idx else np.array([], int)
    allt = pa.concat_arrays([t.combine_chunks() if isinstance(t, pa.ChunkedArray) else t
                             for t in parts_txt]) if parts_txt else pa.array([], pa.string())
    return allt.take(pa.array(order)) if n else allt


def check(contract: Contract | str | Path, data: Any, *, ctx: Any = None,
          quarantine: Any = None, source: str | None = None, run_id: str | None = None,
          task_key: str | None = None, seen: SeenKeys | None = None) -> CheckResult:
    """Check ``data`` against ``contract``; every input row ends in ``good`` or ``bad``.

    ``seen``: for a stream checked batch by batch, one ``SeenKeys`` passed with every
    batch, so a unique key repeated from an earlier batch is caught too.

    With ``quarantine`` (a ``Quarantine`` or a folder) the bad rows are written there,
    tagged with ``source`` (the dataset identity, default the contract name), the run id
    and task key (taken from ``ctx`` when given). With ``ctx`` the counts are recorded as
    the metrics ``rows_checked``, ``rows_rejected`` and ``error_rate``.
    """
    contract = load_contract(contract) if not isinstance(contract, Contract) else contract
    table = to_table(data)
    n = table.num_rows
    drift = detect_drift(contract.schema, table.schema, contract.drift)
    checks = _plan(contract)
    missing = set(drift.missing)
    evolve = contract.drift == "evolve"

    # slices in parallel threads (Arrow compute releases the GIL)
    bounds = [(s, min(s + _SLICE, n)) for s in range(0, n, _SLICE)] or [(0, 0)]

    def run_slice(b: tuple[int, int]) -> tuple[list[pa.Array], list[Any]]:
        part = table.slice(b[0], b[1] - b[0])
        vals, masks = [], []
        for c in contract.columns:
            raw = part.column(c.name) if c.name not in missing else pa.nulls(part.num_rows)
            v, m = _column_masks(raw, c, treat_nullable=evolve and c.name in missing)
            vals.append(v)
            masks.extend(m)
        return vals, masks

    workers = min(len(bounds), os.cpu_count() or 2)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="datamill-check") if workers > 1 \
        else None
    try:
        parts = list(pool.map(run_slice, bounds)) if pool else [run_slice(b) for b in bounds]
        return _finish(contract, table, parts, bounds, checks, drift, pool, ctx=ctx,
                       quarantine=quarantine, source=source, run_id=run_id, task_key=task_key,
                       seen=seen)
    finally:
        if pool is not None:
            pool.shutdown()


def _finish(contract: Contract, table: pa.Table, parts: list[Any], bounds: list[tuple[int, int]],
            checks: list[_Check], drift: DriftReport, pool: ThreadPoolExecutor | None, *,
            ctx: Any, quarantine: Any, source: str | None, run_id: str | None,
            task_key: str | None, seen: SeenKeys | None) -> CheckResult:
    """Combine the slices' masks, split good from bad rows, write the quarantine."""
    n = table.num_rows
    evolve = contract.drift == "evolve"

    n_col = len(checks) - len(contract.rules) - _n_keys(contract)
    coerced = pa.table({c.name: pa.chunked_array([p[0][j] for p in parts], c.arrow_type())
                        for j, c in enumerate(contract.columns)})
    masks: list[Any] = []
    for k in range(n_col):
        ms = [p[1][k] for p in parts]
        if checks[k].rule == "unique":  # single-column unique flag, over the whole table
            masks.append(_unique_mask(coerced, [checks[k].column], seen))
        elif all(m is None for m in ms):
            masks.append(None)
        else:
            masks.append(pa.chunked_array([
                m if m is not None else pa.array(np.zeros(b - a, bool))
                for m, (a, b) in zip(ms, bounds, strict=True)], pa.bool_()))
    for ck in checks[n_col:]:
        if ck.rule == "unique":
            masks.append(_unique_mask(coerced, ck.label.split(":", 1)[1].split(","), seen))
    if contract.rules:
        masks.extend(_expressions(contract, coerced))

    # combine
    bad_np = np.zeros(n, dtype=bool)
    for m in masks:
        if m is not None:
            bad_np |= _np(m)
    if evolve and drift.new:
        extra = table.select(drift.new)
        for name in drift.new:
            coerced = coerced.append_column(name, extra.column(name))
    if not bad_np.any():
        good = coerced
        bad = _empty_bad(table)
        failures: dict[str, int] = {}
    else:
        idx = np.flatnonzero(bad_np)
        good = filter_rows(coerced, ~bad_np, pool)
        bad_raw = take_sorted(table, idx)
        live = [(k, m) for k, m in enumerate(masks) if m is not None]
        mat = np.stack([_np(m)[idx] for _, m in live])  # (rules failing somewhere) x bad rows
        failures = {checks[k].label: int(mat[j].sum()) for j, (k, _) in enumerate(live)
                    if mat[j].any()}
        first_local = np.argmax(mat, axis=0)
        first = np.array([k for k, _ in live])[first_local]
        rows_t, which = np.nonzero(mat.T)  # ordered by bad row, then by rule
        labels = pa.array([checks[k].label for k, _ in live], pa.string())
        offsets = np.concatenate([[0], np.cumsum(np.bincount(rows_t, minlength=len(idx)))])
        rules_list = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                              labels.take(pa.array(which)))
        rule_names = pa.array([c.rule for c in checks], pa.string()).take(pa.array(first))
        cols = pa.array([c.column for c in checks], pa.string()).take(pa.array(first))
        bad_coerced = take_sorted(coerced.select([c.name for c in contract.columns]), idx)
        bad_vals = {c.name: bad_coerced.column(c.name) for c in contract.columns}
        reasons = _reasons(checks, first, bad_raw, bad_vals)
        bad = bad_raw
        for name, arr in zip(RULE_COLUMNS, (rule_names, rules_list, reasons, cols,
                                            pa.array(idx, pa.int64())), strict=True):
            if name in bad.column_names:
                bad = bad.drop_columns([name])
            bad = bad.append_column(name, arr)
    result = CheckResult(contract.name, good, bad, n, drift, contract.max_bad_share,
                         failures=failures)
    if ctx is not None:
        run_id = run_id or getattr(ctx, "run_id", None)
        task_key = task_key or getattr(ctx, "key", None)
    if quarantine is not None and bad.num_rows:
        from datamill.quality.quarantine import Quarantine

        q = quarantine if isinstance(quarantine, Quarantine) else Quarantine(quarantine)
        result.quarantine_path = q.write(bad, source=source or contract.name, run_id=run_id,
                                         task_key=task_key)
    if ctx is not None:
        ctx.metric("rows_checked", n)
        ctx.metric("rows_rejected", result.bad_rows)
        ctx.metric("error_rate", result.error_rate)
    return result


def _np(m: Any) -> np.ndarray:
    if isinstance(m, np.ndarray):
        return m
    arr = m.combine_chunks() if isinstance(m, pa.ChunkedArray) else m
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _empty_bad(table: pa.Table) -> pa.Table:
    empty = table.schema.empty_table()
    for name, t in zip(RULE_COLUMNS, (pa.string(), pa.list_(pa.string()), pa.string(),
                                      pa.string(), pa.int64()), strict=True):
        if name in empty.column_names:
            empty = empty.drop_columns([name])
        empty = empty.append_column(name, pa.array([], t))
    return empty


def _expressions(contract: Contract, coerced: pa.Table) -> list[Any]:
    """One failure mask per rule, evaluated by DuckDB over the coerced batch."""
    con = _connect()
    con.register("batch", coerced.select(contract.schema.names))
    sel = ", ".join(f"(({r.expr}) IS FALSE) AS r{i}" for i, r in enumerate(contract.rules))
    try:
        out = con.sql(f"SELECT {sel} FROM batch").to_arrow_table()
    except Exception as exc:  # noqa: BLE001 - a run-time error in a rule (e.g. a bad cast)
        raise UsageError(f"contract {contract.name!r}: a rule failed to evaluate: "
                         f"{str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    masks = []
    for i in range(len(contract.rules)):
        m = out.column(f"r{i}")
        masks.append(m if pc.any(m).as_py() else None)
    return masks

