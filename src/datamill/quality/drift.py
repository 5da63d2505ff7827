"""Schema drift: columns that appeared, disappeared or changed type against a schema.

Text columns are not drift for a typed column: text is what CSV and JSON deliver and
it is parsed (and rejected row by row when it does not parse). Widening (an int where
a float is expected, any timestamp unit) is not drift either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from datamill.quality.schema import Column, Schema

POLICIES = ("fail", "evolve", "ignore")


@dataclass
class DriftReport:
    """What differs between a schema and the data; ``policy`` says what the check did."""

    new: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (expected, found)
    policy: str = "fail"

    @property
    def found(self) -> bool:
        return bool(self.new or self.missing or self.retyped)

    def __bool__(self) -> bool:
        return self.found

    def summary(self) -> str:
        if not self.found:
            return "no schema drift"
        parts = []
        if self.new:
            parts.append("new columns: " + ", ".join(self.new))
        if self.missing:
            parts.append("missing columns: " + ", ".join(self.missing))
        if self.retyped:
            parts.append("retyped: " + ", ".join(f"{n} ({e} -> {f})"
                                                 for n, (e, f) in self.retyped.items()))
        return "; ".join(parts) + f" (policy {self.policy})"

    def to_dict(self) -> dict[str, Any]:
        return {"new": list(self.new), "missing": list(self.missing),
                "retyped": {n: {"expected": e, "found": f} for n, (e, f) in self.retyped.items()},
                "policy": self.policy, "found": self.found}


def _compatible(col: Column, t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t) or pa.types.is_string(t) or pa.types.is_large_string(t) \
            or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return True  # text is parsed; all-null columns carry no type
    kind = col.type
    if kind == "int":
        return pa.types.is_integer(t)
    if kind == "float":
        return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)
    if kind == "decimal":
        return pa.types.is_decimal(t) or pa.types.is_integer(t)
    if kind == "bool":
        return pa.types.is_boolean(t)
    if kind == "date":
        return pa.types.is_date(t)
    if kind == "datetime":
        return pa.types.is_timestamp(t) and (t.tz is None) == (col.tz is None)
    if kind == "binary":
        return pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
    return False  # str expected, something typed found


def detect_drift(schema: Schema, data_schema: pa.Schema, policy: str = "fail") -> DriftReport:
    """Compare the data's Arrow schema with ``schema`` (names are case-sensitive)."""
    names = set(schema.names)
    found = {f.name: f.type for f in data_schema}
    report = DriftReport(policy=policy)
    report.new = [f.name for f in data_schema if f.name not in names and not f.name.startswith("_dm_")]
    report.missing = [c.name for c in schema if c.name not in found]
    for c in schema:
        if c.name in found and not _compatible(c, found[c.name]):
            report.retyped[c.name] = (str(c.arrow_type()), str(found[c.name]))
    return report


def evolve_schema(schema: Schema, report: DriftReport, data_schema: pa.Schema) -> Schema:
    """The schema the data now has: new columns appended (typed from the data), missing
    columns kept but made nullable, retyped columns left as the contract says."""
    cols = []
    for c in schema:
        if c.name in report.missing and not c.nullable:
            d = c.to_dict()
            d.pop("nullable", None)
            c = Column.from_dict(d)
        cols.append(c)
    for name in report.new:
        f = data_schema.field(name)
        try:
            cols.append(Column.from_arrow(f))
        except Exception:  # noqa: BLE001 - a nested type: keep it out of the schema
            continue
    return Schema(cols)
