"""Pipeline parameters: specs taken from function signatures, parsed from strings by annotation.

A task parameter that does not name another task is a pipeline parameter. Tasks that use
the same name share one parameter. ``Required[T]`` marks a parameter that has no default
and must be given; ``Secret[T]`` marks one whose value never reaches the run store, logs
or fingerprints.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from datamill.errors import ParameterError

_NO_DEFAULT = object()


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<datamill {self.name}>"


REQUIRED = _Marker("required")
SECRET = _Marker("secret")


class _MarkerAlias:
    """``Required[int]`` -> ``Annotated[int, REQUIRED]`` (works with type checkers as Annotated)."""

    def __init__(self, marker: _Marker):
        self._marker = marker

    def __getitem__(self, tp: Any) -> Any:
        return Annotated[tp, self._marker]


Required = _MarkerAlias(REQUIRED)
Secret = _MarkerAlias(SECRET)

REDACTED = "***"


@dataclass
class ParamSpec:
    """One pipeline parameter: name, type, default; who uses it."""

    name: str
    annotation: Any = str
    default: Any = _NO_DEFAULT
    required: bool = False
    secret: bool = False
    used_by: list[str] = field(default_factory=list)

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def type_name(self) -> str:
        return type_label(self.annotation)


def split_annotation(annotation: Any) -> tuple[Any, bool, bool]:
    """Return (bare type, required, secret) from a possibly ``Annotated`` annotation."""
    required = secret = False
    if typing.get_origin(annotation) is Annotated:
        base, *meta = typing.get_args(annotation)
        for m in meta:
            required |= m is REQUIRED
            secret |= m is SECRET
            if isinstance(m, typing._AnnotatedAlias):  # nested Annotated  # type: ignore[attr-defined]
                _, r, s = split_annotation(m)
                required |= r
                secret |= s
        inner, r, s = split_annotation(base)
        return inner, required or r, secret or s
    return annotation, False, False


def type_label(tp: Any) -> str:
    if tp is Any or tp is None:
        return "any"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _is_optional(tp: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)):
            return True, args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
    return False, tp


_TRUE = {"1", "true", "yes", "y", "on", "t"}
_FALSE = {"0", "false", "no", "n", "off", "f"}


def parse_value(text: str, tp: Any, name: str = "?") -> Any:
    """Parse a command-line string into ``tp``; raise ParameterError naming the parameter."""
    try:
        return _parse(text, tp)
    except ParameterError:
        raise
    except Exception as exc:  # noqa: BLE001 - turned into a clear message
        raise ParameterError(
            f"parameter {name!r}: cannot parse {text!r} as {type_label(tp)} ({exc})"
        ) from None


def _parse(text: str, tp: Any) -> Any:
    tp, _, _ = split_annotation(tp)
    optional, inner = _is_optional(tp)
    if optional:
        if text.strip().lower() in ("", "none", "null"):
            return None
        return _parse(text, inner)
    if tp in (Any, str, None) or tp is inspect_empty:
        return text
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        for choice in typing.get_args(tp):
            try:
                if choice == (_parse(text, type(choice)) if not isinstance(choice, str) else text):
                    return choice
            except (ValueError, TypeError, ParameterError):
                continue
        raise ValueError("expected one of " + ", ".join(map(repr, typing.get_args(tp))))
    if tp is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected one of true/false, yes/no, 1/0")
    if tp is int:
        return int(text.strip().replace("_", ""))
    if tp is float:
        return float(text)
    if tp is Decimal:
        return Decimal(text)
    if tp is dt.date:
        return dt.date.fromisoformat(text.strip())
    if tp is dt.datetime:
        return dt.datetime.fromisoformat(text.strip())
    if tp is dt.timedelta:
        return parse_duration(text)
    if tp is Path:
        return Path(text)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if text == member.name or text == str(member.value):
                return member
        choices = ", ".join(m.name for m in tp)
        raise ValueError(f"expected one of {choices}")
    if tp in (list, tuple, set) or origin in (list, tuple, set, typing.Sequence):
        args = typing.get_args(tp)
        item_tp = args[0] if args else str
        stripped = text.strip()
        if stripped.startswith("["):
            raw = json.loads(stripped)
            items = [it if not isinstance(it, str) else _parse(it, item_tp) for it in raw]
            items = [coerce_value(it, item_tp, "item") for it in items]
        else:
            items = [_parse(p.strip(), item_tp) for p in stripped.split(",") if p.strip()]
        container = origin or tp
        if container is typing.Sequence:
            container = list
        return container(items)
    if tp in (dict, object) or origin is dict:
        value = json.loads(text)
        if (tp is dict or origin is dict) and not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value
    if isinstance(tp, type):
        return tp(text)
    return json.loads(text)


inspect_empty = object()


def coerce_value(value: Any, tp: Any, name: str = "?") -> Any:
    """Check (and gently convert) a Python value given via ``params={...}`` or read back
    from the run store: strings are parsed for non-string types, list items, dict values
    and Optional inner types are coerced too."""
    base, _, _ = split_annotation(tp)
    if base is inspect_empty or base in (Any, object):
        return value
    optional, inner = _is_optional(base)
    if value is None:
        if optional:
            return None
        raise ParameterError(f"parameter {name!r}: None given but type is {type_label(base)}")
    base = inner
    origin = typing.get_origin(base)
    if origin is typing.Literal:
        choices = typing.get_args(base)
        if value in choices:
            return value
        if isinstance(value, str):
            return parse_value(value, base, name)
        raise ParameterError(f"parameter {name!r}: expected one of {', '.join(map(repr, choices))}, "
                             f"got {value!r}")
    if origin in (typing.Union, types.UnionType):
        for arm in typing.get_args(base):
            try:
                return coerce_value(value, arm, name)
            except ParameterError:
                continue
        raise ParameterError(f"parameter {name!r}: {value!r} is none of {type_label(base)}")
    if isinstance(value, str):
        if base is str:
            return value
        return parse_value(value, base, name)
    if base in (list, tuple, set) or origin in (list, tuple, set, typing.Sequence):
        container = origin or base
        if container is typing.Sequence:
            container = list
        if not isinstance(value, list | tuple | set | frozenset):
            raise ParameterError(
                f"parameter {name!r}: expected {type_label(base)}, got {type(value).__name__}"
            )
        args = typing.get_args(base)
        if args and args[-1] is not Ellipsis and container is not tuple or len(args) == 1:
            items = [coerce_value(v, args[0], f"{name}[{i}]") for i, v in enumerate(value)]
        elif args and container is tuple and args[-1] is Ellipsis:
            items = [coerce_value(v, args[0], f"{name}[{i}]") for i, v in enumerate(value)]
        else:
            items = list(value)
        return container(items)
    if base is dict or origin is dict:
        if not isinstance(value, dict):
            raise ParameterError(f"parameter {name!r}: expected a mapping, got {type(value).__name__}")
        args = typing.get_args(base)
        if len(args) == 2:
            return {coerce_value(k, args[0], name): coerce_value(v, args[1], f"{name}[{k!r}]")
                    for k, v in value.items()}
        return value
    if not isinstance(base, type):
        return value
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if base is int and isinstance(value, bool):
        raise ParameterError(f"parameter {name!r}: expected int, got bool")
    if base is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if base is dt.timedelta and isinstance(value, int | float) and not isinstance(value, bool):
        return dt.timedelta(seconds=value)
    if base is Decimal and isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value))
    if issubclass(base, enum.Enum) and not isinstance(value, base):
        return parse_value(str(value), base, name)
    if base is Path and isinstance(value, str):
        return Path(value)
    if not isinstance(value, base):
        raise ParameterError(
            f"parameter {name!r}: expected {type_label(base)}, got {type(value).__name__} ({value!r})"
        )
    return value


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | float | int | dt.timedelta) -> dt.timedelta:
    """Parse ``90``, ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` into a timedelta."""
    if isinstance(text, dt.timedelta):
        return text
    if isinstance(text, int | float):
        return dt.timedelta(seconds=text)
    s = text.strip().lower()
    total, num = 0.0, ""
    i = 0
    if not s:
        raise ValueError("empty duration")
    try:
        return dt.timedelta(seconds=float(s))
    except ValueError:
        pass
    while i < len(s):
        ch = s[i]
        if ch.isdigit() or ch == ".":
            num += ch
            i += 1
            continue
        unit = ""
        while i < len(s) and s[i].isalpha():
            unit += s[i]
            i += 1
        if not num or unit not in _UNITS:
            raise ValueError(f"bad duration {text!r} (use e.g. 30s, 5m, 1h30m, 7d)")
        total += float(num) * _UNITS[unit]
        num = ""
    if num:
        raise ValueError(f"bad duration {text!r}: number {num!r} has no unit")
    return dt.timedelta(seconds=total)


@dataclass(frozen=True)
class SecretRef:
    """A secret parameter's value that names where the secret is: ``env:VAR`` or
    ``file:PATH``. Core only recognises the reference; the runtime reads it
    (``datamill._secrets``), so this layer does no I/O."""

    scheme: str  # "env" | "file"
    target: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"


def secret_reference(value: Any) -> SecretRef | None:
    """The reference ``value`` makes (``env:VAR``, ``file:PATH``), or None for a plain value."""
    if isinstance(value, str):
        for scheme in ("env", "file"):
            if value.startswith(scheme + ":"):
                return SecretRef(scheme, value[len(scheme) + 1:])
    return None


def canonical_json(value: Any) -> str:
    """A deterministic text form of a parameter value, for fingerprints and the run store."""
    return json.dumps(to_jsonable(value), sort_keys=True, separators=(",", ":"))


def to_jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Path | Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((to_jsonable(v) for v in value), key=repr)
    return repr(value)
