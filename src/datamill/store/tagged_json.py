"""Tagged JSON: plain JSON stays plain, everything JSON cannot hold exactly is tagged.

The checkpoint format of plain Python values (tag ``json``), and the exact round trip the
rest of datamill uses for parameters and saved state (``encode_json``/``decode_json``).
See docs/checkpoints.md ("Tagged JSON") for the encoding of each type.
"""

from __future__ import annotations

import base64
import datetime as _dt
import enum
import json
import math
import sys
from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal
from typing import Any, BinaryIO

from datamill.errors import SerializationError
from datamill.store.serializer_core import FIX, mro_keys, type_key, type_name

__all__ = ["decode_json", "encode_json", "json_accepts", "json_dump"]

#
# Plain JSON values stay plain: str, int, bool, None, finite floats, lists, and dicts whose
# keys are all str not starting with "~". Everything else becomes a one-key object whose key
# starts with "~" (a tag) and whose value is the payload. Plain dicts never carry a "~" key,
# so decoding is unambiguous.


class _Unsupported(Exception):
    def __init__(self, obj: Any, why: str = ""):
        super().__init__(obj)
        self.obj, self.why = obj, why


def _enc(v: Any) -> Any:
    t = type(v)
    if t is str or t is int or t is bool or v is None:
        return v
    if t is float:
        if math.isfinite(v):
            return v
        return {"~f": repr(v)}
    if t is list:
        return [_enc(x) for x in v]
    if t is dict:
        for k in v:
            if type(k) is not str or k[:1] == "~":
                return {"~d": [[_enc(k), _enc(x)] for k, x in v.items()]}
        return {k: _enc(x) for k, x in v.items()}
    fn = _ENCODERS.get(t)
    if fn is not None:
        return fn(v)
    return _enc_other(v, t)


def _enc_tz(tz: _dt.tzinfo | None) -> Any:
    if tz is None:
        return None
    if type(tz) is _dt.timezone:
        off = tz.utcoffset(None)
        name = None if tz is _dt.UTC else tz.tzname(None)
        # a timezone built without a name reports "UTC+01:00"; keep only explicit names
        if name == _dt.timezone(off).tzname(None):
            name = None
        return ["o", off // _dt.timedelta(microseconds=1), name]
    key = getattr(tz, "key", None)
    if type_key(type(tz)) == "zoneinfo.ZoneInfo" and key:
        return ["z", key]
    raise _Unsupported(tz, "only datetime.timezone and zoneinfo.ZoneInfo time zones are supported")


def _dec_tz(spec: Any) -> _dt.tzinfo | None:
    if spec is None:
        return None
    if spec[0] == "o":
        off = _dt.timedelta(microseconds=spec[1])
        return _dt.timezone(off, spec[2]) if spec[2] is not None else _dt.timezone(off)
    import zoneinfo

    return zoneinfo.ZoneInfo(spec[1])


def _enc_datetime(v: _dt.datetime) -> Any:
    if v.tzinfo is None and not v.fold:
        return {"~dt": v.isoformat()}
    return {"~dt": [v.replace(tzinfo=None, fold=0).isoformat(), _enc_tz(v.tzinfo), v.fold]}


def _dec_datetime(p: Any) -> _dt.datetime:
    if type(p) is str:
        return _dt.datetime.fromisoformat(p)
    return _dt.datetime.fromisoformat(p[0]).replace(tzinfo=_dec_tz(p[1]), fold=p[2])


def _enc_time(v: _dt.time) -> Any:
    if v.tzinfo is None and not v.fold:
        return {"~time": v.isoformat()}
    return {"~time": [v.replace(tzinfo=None, fold=0).isoformat(), _enc_tz(v.tzinfo), v.fold]}


def _dec_time(p: Any) -> _dt.time:
    if type(p) is str:
        return _dt.time.fromisoformat(p)
    return _dt.time.fromisoformat(p[0]).replace(tzinfo=_dec_tz(p[1]), fold=p[2])


def _enc_set(v: set | frozenset) -> list:
    """Set items in a canonical order, so equal sets give equal bytes (and data versions)
    whatever the hash seed of the process."""
    items = [_enc(x) for x in v]
    if len(items) > 1:
        items.sort(key=_JSON_ENCODER.encode)
    return items


def _b64(b: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(b).decode("ascii")


def _class_ref(cls: type) -> str:
    if "<locals>" in cls.__qualname__:
        raise _Unsupported(cls, "classes defined inside a function cannot be found again on load")
    return f"{cls.__module__}:{cls.__qualname__}"


def _resolve_class(ref: str) -> type:
    """Find a class named in a checkpoint: already-imported module first, then import it."""
    mod_name, _, qual = ref.partition(":")
    mod = sys.modules.get(mod_name)
    if mod is None:
        import importlib

        try:
            mod = importlib.import_module(mod_name)
        except ImportError as exc:
            raise SerializationError(
                f"checkpoint refers to class {ref!r} but module {mod_name!r} cannot be imported"
            ) from exc
    obj: Any = mod
    for part in qual.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise SerializationError(f"checkpoint refers to class {ref!r}, which no longer exists")
    if not isinstance(obj, type):
        raise SerializationError(f"checkpoint refers to {ref!r}, which is not a class")
    return obj


def _enc_other(v: Any, t: type) -> Any:
    """Encode values whose type is not a plain builtin: enums, dataclasses, NumPy, ..."""
    if isinstance(v, enum.Enum):
        return {"~enum": [_class_ref(t), _enc(v._value_)]}
    if hasattr(t, "__dataclass_fields__") and not isinstance(v, type):
        return {
            "~dc": [
                _class_ref(t),
                {f.name: _enc(getattr(v, f.name)) for f in fields(v)},
            ]
        }
    if issubclass(t, tuple) and hasattr(t, "_fields"):
        return {"~nt": [_class_ref(t), [_enc(x) for x in v]]}
    key = type_key(t)
    if key == "uuid.UUID":
        return {"~uuid": str(v)}
    if key.startswith("pathlib.") and t.__name__ in _PATH_CLASSES:
        return {"~path": [t.__name__, str(v)]}
    if key == "numpy.ndarray":
        if v.dtype.kind not in _NUMPY_KINDS or v.dtype.fields is not None:
            raise _Unsupported(v, f"NumPy arrays of dtype {v.dtype} are not JSON-able")
        return {"~nd": [v.dtype.str, list(v.shape), _b64(v.tobytes())]}
    if "numpy.generic" in mro_keys(t):
        if v.dtype.kind not in _NUMPY_KINDS or v.dtype.fields is not None:
            raise _Unsupported(v, f"NumPy scalars of dtype {v.dtype} are not JSON-able")
        return {"~np": [v.dtype.str, _b64(v.tobytes())]}
    raise _Unsupported(v)


_PATH_CLASSES = {"Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"}
_NUMPY_KINDS = set("biufcmMSU")  # bool, ints, floats, complex, datetime64, timedelta64, bytes, str


def _dec_enum(p: list) -> enum.Enum:
    cls = _resolve_class(p[0])
    if not issubclass(cls, enum.Enum):
        raise SerializationError(f"checkpoint refers to {p[0]!r}, which is not an Enum")
    return cls(p[1])


def _dec_dataclass(p: list) -> Any:
    cls = _resolve_class(p[0])
    fields = getattr(cls, "__dataclass_fields__", None)
    if fields is None:
        raise SerializationError(f"checkpoint refers to {p[0]!r}, which is not a dataclass")
    obj = cls.__new__(cls)
    for name, value in p[1].items():
        if name not in fields:
            raise SerializationError(f"dataclass {p[0]!r} has no field {name!r} any more")
        object.__setattr__(obj, name, value)
    return obj


def _dec_namedtuple(p: list) -> Any:
    cls = _resolve_class(p[0])
    if not (issubclass(cls, tuple) and hasattr(cls, "_fields")):
        raise SerializationError(f"checkpoint refers to {p[0]!r}, which is not a namedtuple")
    return cls(*p[1])


def _dec_path(p: list) -> Any:
    import pathlib

    if p[0] not in _PATH_CLASSES:
        raise SerializationError(f"unknown path class {p[0]!r} in checkpoint")
    return getattr(pathlib, p[0])(p[1])


def _dec_ndarray(p: list) -> Any:
    import numpy as np

    return np.frombuffer(base64.b64decode(p[2]), dtype=np.dtype(p[0])).reshape(p[1]).copy()


def _dec_npscalar(p: list) -> Any:
    import numpy as np

    return np.frombuffer(base64.b64decode(p[1]), dtype=np.dtype(p[0]))[0]


def _dec_uuid(p: str) -> Any:
    import uuid

    return uuid.UUID(p)


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    tuple: lambda v: {"~t": [_enc(x) for x in v]},
    set: lambda v: {"~s": _enc_set(v)},
    frozenset: lambda v: {"~fs": _enc_set(v)},
    bytes: lambda v: {"~b": _b64(v)},
    bytearray: lambda v: {"~ba": _b64(v)},
    complex: lambda v: {"~c": [_enc(v.real), _enc(v.imag)]},
    _dt.datetime: _enc_datetime,
    _dt.date: lambda v: {"~date": v.isoformat()},
    _dt.time: _enc_time,
    _dt.timedelta: lambda v: {"~td": [v.days, v.seconds, v.microseconds]},
    Decimal: lambda v: {"~dec": str(v)},
}

_DECODERS: dict[str, Callable[[Any], Any]] = {
    "~f": float,
    "~d": lambda p: {k: v for k, v in p},
    "~t": tuple,
    "~s": set,
    "~fs": frozenset,
    "~b": base64.b64decode,
    "~ba": lambda p: bytearray(base64.b64decode(p)),
    "~c": lambda p: complex(p[0], p[1]),
    "~dt": _dec_datetime,
    "~date": _dt.date.fromisoformat,
    "~time": _dec_time,
    "~td": lambda p: _dt.timedelta(days=p[0], seconds=p[1], microseconds=p[2]),
    "~dec": Decimal,
    "~uuid": _dec_uuid,
    "~path": _dec_path,
    "~enum": _dec_enum,
    "~dc": _dec_dataclass,
    "~nt": _dec_namedtuple,
    "~nd": _dec_ndarray,
    "~np": _dec_npscalar,
}

_JSON_EXACT = {type(None), bool, int, float, str, list, dict, *_ENCODERS}
_JSON_NAMED = {"uuid.UUID", *(f"pathlib.{n}" for n in _PATH_CLASSES)}


def json_accepts(cls: type) -> bool:
    if cls in _JSON_EXACT or type_key(cls) in _JSON_NAMED:
        return True
    if issubclass(cls, enum.Enum) or hasattr(cls, "__dataclass_fields__"):
        return True
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return True
    return "numpy.generic" in mro_keys(cls)


_JSON_ENCODER = json.JSONEncoder(ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def _object_hook(d: dict) -> Any:
    if len(d) == 1:
        for k in d:
            if k[:1] == "~":
                dec = _DECODERS.get(k)
                if dec is None:
                    raise SerializationError(f"unknown JSON tag {k!r} in checkpoint")
                return dec(d[k])
    return d


def _path_to(root: Any, target: Any) -> str | None:
    """Where ``target`` sits inside ``root`` (for error messages), e.g. ``['a'][2]``."""
    stack: list[tuple[Any, str]] = [(root, "")]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        if id(node) in seen:
            continue
        seen.add(id(node))
        t = type(node)
        if t is dict:
            for k, v in node.items():
                stack.append((k, f"{path}<key {k!r}>"))
                stack.append((v, f"{path}[{k!r}]"))
        elif t in (list, tuple) or (issubclass(t, tuple) and hasattr(t, "_fields")):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))
        elif t in (set, frozenset):
            stack.extend((v, f"{path}{{item}}") for v in node)
        elif hasattr(t, "__dataclass_fields__"):
            stack.extend((getattr(node, f.name), f"{path}.{f.name}") for f in fields(node))
        elif isinstance(node, enum.Enum):
            stack.append((node._value_, f"{path}.value"))
    return None


def encode_json(value: Any) -> bytes:
    """Encode a JSON-able value (see module doc) to compact tagged JSON bytes."""
    try:
        doc = _enc(value)
    except _Unsupported as exc:
        where = _path_to(value, exc.obj)
        loc = f" at value{where}" if where else ""
        why = f" ({exc.why})" if exc.why else ""
        raise SerializationError(
            f"cannot checkpoint a value of type {type_name(type(exc.obj))}{loc}{why}: {FIX}"
        ) from None
    except RecursionError:
        raise SerializationError(
            f"cannot checkpoint a self-referencing or too deeply nested value: {FIX}"
        ) from None
    return _JSON_ENCODER.encode(doc).encode()


def decode_json(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode bytes written by :func:`encode_json` back to the exact value."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    return json.loads(data, object_hook=_object_hook)


def json_dump(value: Any, f: BinaryIO) -> None:
    f.write(encode_json(value))
    return None
