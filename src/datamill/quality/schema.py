"""The one schema model: named, typed columns with their constraints.

Contracts, serving input validation, the reference statistics kept with a model, drift
checks and stream validation all describe data with the same ``Schema`` of ``Column``s.
It converts to and from Arrow schemas, plain dicts, JSON and YAML. Eight logical types
cover what tables hold: ``int``, ``float``, ``str``, ``bool``, ``date``, ``datetime``
(naive, or zoned with ``tz``), ``decimal`` (``precision``/``scale``) and ``binary``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from datamill.errors import UsageError

TYPES = ("int", "float", "str", "bool", "date", "datetime", "decimal", "binary")
_ALIASES = {"integer": "int", "int64": "int", "double": "float", "float64": "float",
            "string": "str", "text": "str", "boolean": "bool", "timestamp": "datetime",
            "bytes": "binary"}
_FIELDS = ("name", "type", "nullable", "tz", "format", "precision", "scale", "min", "max",
           "inclusive", "allowed", "regex", "unique", "description")


@dataclass
class Column:
    """One column: its logical type, whether nulls are allowed, and optional constraints.

    ``min``/``max`` bound the value (both ends ``inclusive`` unless set False); ``allowed``
    lists the only permitted values; ``regex`` must match the whole text of a ``str``
    column; ``unique`` forbids repeated non-null values. ``format`` is the strptime format
    of text input for ``date``/``datetime`` (ISO 8601 when unset).
    """

    name: str
    type: str = "str"
    nullable: bool = True
    tz: str | None = None
    format: str | None = None
    precision: int = 38
    scale: int = 9
    min: Any = None
    max: Any = None
    inclusive: bool = True
    allowed: list[Any] | None = None
    regex: str | None = None
    unique: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        self.type = _ALIASES.get(self.type, self.type)
        if self.type not in TYPES:
            raise UsageError(f"column {self.name!r}: field 'type': unknown type {self.type!r} "
                             f"(use one of {', '.join(TYPES)})")
        if self.tz is not None and self.type != "datetime":
            raise UsageError(f"column {self.name!r}: field 'tz' applies only to datetime columns")
        if self.regex is not None:
            if self.type != "str":
                raise UsageError(f"column {self.name!r}: field 'regex' applies only to str columns")
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise UsageError(f"column {self.name!r}: field 'regex': invalid pattern "
                                 f"{self.regex!r} ({exc})") from None
        if self.type == "decimal" and not (0 <= self.scale <= self.precision <= 38):
            raise UsageError(f"column {self.name!r}: field 'precision'/'scale': need "
                             f"0 <= scale <= precision <= 38, got {self.precision}/{self.scale}")
        self.min = self.parse_value(self.min, "min")
        self.max = self.parse_value(self.max, "max")
        if self.allowed is not None:
            if not isinstance(self.allowed, list | tuple | set):
                raise UsageError(f"column {self.name!r}: field 'allowed': expected a list")
            self.allowed = [self.parse_value(v, "allowed") for v in self.allowed]

    # -- values ------------------------------------------------------------------------
    def parse_value(self, value: Any, what: str) -> Any:
        """Turn a bound or allowed value (as written in YAML/JSON) into this column's type."""
        if value is None:
            return None
        t = self.type
        try:
            if t == "int":
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                return int(value)
            if t == "float":
                if isinstance(value, bool):
                    raise ValueError
                return float(value)
            if t == "decimal":
                return Decimal(str(value))
            if t == "str":
                if not isinstance(value, str):
                    raise ValueError
                return value
            if t == "bool":
                if not isinstance(value, bool):
                    raise ValueError
                return value
            if t == "date":
                if isinstance(value, dt.datetime):
                    raise ValueError
                return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
            if t == "datetime":
                v = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
                if self.tz and v.tzinfo is None:
                    import zoneinfo

                    v = v.replace(tzinfo=zoneinfo.ZoneInfo(self.tz))
                return v
            if t == "binary":
                return value if isinstance(value, bytes) else str(value).encode()
        except (ValueError, TypeError, InvalidOperation):
            pass
        raise UsageError(f"column {self.name!r}: field {what!r}: {value!r} is not a valid {t}")

    # -- conversions -------------------------------------------------------------------
    def arrow_type(self) -> pa.DataType:
        """The Arrow type values of this column are coerced to."""
        return {
            "int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
            "date": pa.date32(), "binary": pa.binary(),
            "datetime": pa.timestamp("us", tz=self.tz),
            "decimal": pa.decimal128(self.precision, self.scale),
        }[self.type]

    def to_arrow(self) -> pa.Field:
        return pa.field(self.name, self.arrow_type(), nullable=self.nullable)

    @classmethod
    def from_arrow(cls, f: pa.Field) -> Column:
        """The column for an Arrow field (integers of any width become ``int``, and so on)."""
        kw: dict[str, Any] = {}
        t = f.type
        if pa.types.is_dictionary(t):
            t = t.value_type
        if pa.types.is_integer(t):
            name = "int"
        elif pa.types.is_floating(t):
            name = "float"
        elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t) \
                or getattr(pa.types, "is_string_view", lambda _: False)(t):
            name = "str"
        elif pa.types.is_boolean(t):
            name = "bool"
        elif pa.types.is_date(t):
            name = "date"
        elif pa.types.is_timestamp(t):
            name, kw["tz"] = "datetime", t.tz
        elif pa.types.is_decimal(t):
            name, kw["precision"], kw["scale"] = "decimal", min(t.precision, 38), t.scale
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            name = "binary"
        else:
            raise UsageError(f"column {f.name!r}: Arrow type {t} has no datamill schema type "
                             f"(supported: {', '.join(TYPES)})")
        return cls(f.name, name, nullable=f.nullable, **kw)

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that differ from their defaults, in a stable order."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if not self.nullable:
            out["nullable"] = False
        if self.tz:
            out["tz"] = self.tz
        if self.format:
            out["format"] = self.format
        if self.type == "decimal":
            out["precision"], out["scale"] = self.precision, self.scale
        for key in ("min", "max"):
            v = getattr(self, key)
            if v is not None:
                out[key] = _plain(v)
        if not self.inclusive:
            out["inclusive"] = False
        if self.allowed is not None:
            out["allowed"] = [_plain(v) for v in self.allowed]
        if self.regex:
            out["regex"] = self.regex
        if self.unique:
            out["unique"] = True
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> Column:
        """Build from a mapping, raising UsageError naming ``where``, the column and the field."""
        prefix = f"{where}: " if where else ""
        if isinstance(d, str):
            d = {"name": d}
        if not isinstance(d, dict):
            raise UsageError(f"{prefix}each column must be a mapping with name and type, got {d!r}")
        name = d.get("name")
        if not isinstance(name, str) or not name:
            raise UsageError(f"{prefix}a column has no 'name' (got {d!r})")
        unknown = sorted(set(d) - set(_FIELDS))
        if unknown:
            raise UsageError(f"{prefix}column {name!r}: unknown field {unknown[0]!r} "
                             f"(known: {', '.join(_FIELDS)})")
        for key, kind in (("nullable", bool), ("inclusive", bool), ("unique", bool),
                          ("precision", int), ("scale", int)):
            if key in d and not isinstance(d[key], kind):
                raise UsageError(f"{prefix}column {name!r}: field {key!r}: expected "
                                 f"{kind.__name__}, got {d[key]!r}")
        for key in ("type", "tz", "format", "regex", "description"):
            if key in d and d[key] is not None and not isinstance(d[key], str):
                raise UsageError(f"{prefix}column {name!r}: field {key!r}: expected text, "
                                 f"got {d[key]!r}")
        try:
            return cls(**d)
        except UsageError as exc:
            raise UsageError(f"{prefix}{exc}") from None


def _plain(v: Any) -> Any:
    """A YAML/JSON-friendly form of a bound or allowed value."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


@dataclass
class Schema:
    """An ordered list of columns; what every layer that checks data agrees on."""

    columns: list[Column] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for c in self.columns:
            if c.name in seen:
                raise UsageError(f"column {c.name!r} appears twice in the schema")
            seen.add(c.name)

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_arrow(self) -> pa.Schema:
        return pa.schema([c.to_arrow() for c in self.columns])

    @classmethod
    def from_arrow(cls, schema: pa.Schema) -> Schema:
        return cls([Column.from_arrow(f) for f in schema])

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> Schema:
        cols = d.get("columns") if isinstance(d, dict) else d
        return cls(parse_columns(cols, where))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str, where: str = "") -> Schema:
        try:
            return cls.from_dict(json.loads(text), where)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where or 'schema'}: not valid JSON ({exc})") from None

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    @classmethod
    def from_yaml(cls, text: str, where: str = "") -> Schema:
        return cls.from_dict(load_yaml(text, where), where)


def parse_columns(cols: Any, where: str = "") -> list[Column]:
    """Columns given as a list of mappings or as a mapping ``name: type`` / ``name: {...}``."""
    prefix = f"{where}: " if where else ""
    if isinstance(cols, dict):
        out = []
        for name, spec in cols.items():
            if isinstance(spec, str):
                spec = {"type": spec}
            elif spec is None:
                spec = {}
            if not isinstance(spec, dict):
                raise UsageError(f"{prefix}column {name!r}: expected a type or a mapping, got {spec!r}")
            out.append(Column.from_dict({"name": str(name), **spec}, where))
        return out
    if isinstance(cols, list):
        return [Column.from_dict(c, where) for c in cols]
    raise UsageError(f"{prefix}'columns' must be a list or a mapping of columns, got {cols!r}")


def load_yaml(text: str, where: str = "") -> Any:
    from datamill.errors import require

    yaml = require("yaml", "etl", "YAML contracts")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{where or 'YAML'}: not valid YAML ({exc})") from None


def dump_yaml(data: Any) -> str:
    from datamill.errors import require

    yaml = require("yaml", "etl", "YAML contracts")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
