"""Draft a contract from a sample: a starting point for a person to read and edit.

Types come from the data (text columns that all parse as numbers, booleans, dates or
datetimes get that type), nullability from the nulls seen, ranges from the values seen
widened by some slack, allowed values for small vocabularies, uniqueness for id-like
columns, and a regex for obvious codes (ISO country or currency codes, UUIDs).
"""

from __future__ import annotations

import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datamill.quality.checks import to_table
from datamill.quality.coercion import _convert_text, _is_text
from datamill.quality.contract import Contract
from datamill.quality.schema import Column

SLACK = 0.1          # ranges are widened by this share of the span seen
MAX_ALLOWED = 20     # at most this many distinct values become an allowed list
_PATTERNS = [        # checked in order; the first that every value matches wins
    (r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", "uuid"),
    (r"^[A-Z]{2}$", "two-letter code"),
    (r"^[A-Z]{3}$", "three-letter code"),
]
_ID_NAME = re.compile(r"(^id$|_id$|^id_|Id$|^key$|_key$|^uuid$)")


def _text_type(arr: pa.Array) -> tuple[str, dict[str, Any]]:
    """The narrowest type all non-null text values parse to."""
    values = arr.drop_null()
    if len(values) == 0:
        return "str", {}
    for kind in ("int", "float", "bool", "date", "datetime"):
        kw: dict[str, Any] = {}
        if kind == "datetime":
            has_off = pc.match_substring_regex(values, r"(Z|[+-][0-9]{2}:?[0-9]{2})$")
            if pc.all(has_off).as_py():
                kw["tz"] = "UTC"
            elif pc.any(has_off).as_py():
                continue
        if kind == "bool" and not pc.all(pc.match_substring_regex(
                values, r"(?i)^(true|false|yes|no)$")).as_py():
            continue  # 0/1 columns stay numbers
        try:
            _convert_text(values, Column("_", kind, **kw))
            return kind, kw
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return "str", {}


def _nice(x: float, up: bool, integer: bool) -> float | int:
    if integer:
        return int(math.ceil(x) if up else math.floor(x))
    if x == 0:
        return 0.0
    digits = 2 - math.floor(math.log10(abs(x)))  # three significant digits
    mag = 10.0 ** -digits
    return round((math.ceil if up else math.floor)(x / mag) * mag, max(digits, 0))


def infer(data: Any, name: str | None = None, *, sample_rows: int = 100_000) -> Contract:
    """A draft contract for ``data`` (a table or frame; only the first ``sample_rows``)."""
    table = to_table(data)
    if table.num_rows > sample_rows:
        table = table.slice(0, sample_rows)
    columns: list[Column] = []
    for f in table.schema:
        arr = table.column(f.name).combine_chunks()
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if _is_text(arr.type):
            arr = arr.cast(pa.string())
            kind, kw = _text_type(arr)
        else:
            try:
                col = Column.from_arrow(f)
            except Exception:  # noqa: BLE001 - nested types are left out of the draft
                continue
            kind, kw = col.type, {k: getattr(col, k) for k in ("tz",) if getattr(col, k)}
            if kind == "decimal":
                kw = {"precision": col.precision, "scale": col.scale}
        col = Column(f.name, kind, nullable=arr.null_count > 0, **kw)
        values = arr if kind in ("str", "binary") or not _is_text(arr.type) \
            else _convert_text(arr, col)
        present = values.drop_null()
        has_nan = kind == "float" and bool(pc.any(pc.invert(pc.is_finite(present))).as_py())
        n = len(present)
        distinct = pc.count_distinct(present).as_py() if n else 0
        if kind in ("int", "float") and n and not has_nan:  # NaN is out of any range
            mm = pc.min_max(present).as_py()
            lo, hi = mm["min"], mm["max"]
            slack = max((hi - lo) * SLACK, 1 if kind == "int" else abs(hi) * SLACK)
            col.min = 0 if lo >= 0 else _nice(lo - slack, False, kind == "int")
            col.max = _nice(hi + slack, True, kind == "int")
            if kind == "float":
                col.min = float(col.min)
        if kind == "str" and n:
            if _ID_NAME.search(f.name) is None and distinct <= MAX_ALLOWED and distinct * 2 <= n:
                col.allowed = sorted(pc.unique(present).to_pylist())
            for pattern, _label in _PATTERNS:
                if pc.all(pc.match_substring_regex(present, pattern)).as_py():
                    col.regex = pattern
                    break
        if kind in ("int", "str") and n and _ID_NAME.search(f.name) and distinct == len(arr):
            col.unique = True
            col.nullable = False
        columns.append(col)
    return Contract(name=name or "dataset", columns=columns, max_bad_share=0.0, drift="fail",
                    description="drafted by datamill infer: review ranges, allowed values "
                                "and uniqueness before use")
