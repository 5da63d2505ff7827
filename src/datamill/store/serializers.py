"""Checkpoint serializers: one safe on-disk format per type tag, chosen by the value's type.

A serializer turns a task output into bytes (``dump`` writes to a file object and
returns a row count for tables) and back (``load`` takes the bytes). The type tag is
stored with the checkpoint so a value comes back with its type: pandas as pandas,
Polars as Polars, Arrow as Arrow, NumPy as NumPy, plain Python values through a tagged
JSON encoding that round-trips tuples, sets, dates, Decimals and non-str dict keys.

Nothing here imports pandas, Polars, pyarrow or NumPy until a value of that kind is
dumped or loaded: types are recognised by module and class name. Pickle exists only as
an opt-in serializer (tag ``pickle``), never chosen automatically.
"""

from __future__ import annotations

import base64
import datetime as _dt
import enum
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, BinaryIO

from datamill.errors import SerializationError

__all__ = [
    "Serializer",
    "decode_json",
    "encode_json",
    "get_serializer",
    "register",
    "registered_tags",
    "serializer_for",
    "type_key",
]

_FIX = (
    "return a DataFrame/Arrow table/JSON-able value, or set `serializer='pickle'` on the task "
    "to allow pickle for trusted project-local checkpoints, or `checkpoint=False`"
)


@dataclass(frozen=True, slots=True)
class Serializer:
    """How one kind of value is written and read back.

    ``types`` are exact type keys (see :func:`type_key`, e.g. ``"pandas.DataFrame"``) this
    serializer is chosen for; ``accepts`` is an optional extra predicate on the type.
    ``opt_in`` serializers are used only when asked for by tag. ``dumps``, when set, is an
    in-memory shortcut (value -> bytes) the store prefers for small values.
    """

    tag: str
    ext: str
    dump: Callable[[Any, BinaryIO], int | None]
    load: Callable[[bytes], Any]
    types: tuple[str, ...] = ()
    accepts: Callable[[type], bool] | None = None
    opt_in: bool = False
    dumps: Callable[[Any], bytes] | None = None


_REGISTRY: dict[str, Serializer] = {}
_ORDER: list[Serializer] = []  # resolution order: later registrations win
_BY_TYPE: dict[type, Serializer] = {}  # cache of resolved types


def type_key(cls: type) -> str:
    """``"<top-level package>.<qualname>"``: how serializers name the types they take."""
    return f"{cls.__module__.partition('.')[0]}.{cls.__qualname__}"


def register(serializer: Serializer, *, replace: bool = False) -> None:
    """Add a serializer; it takes precedence over the built-in ones for its types."""
    if serializer.tag in _REGISTRY and not replace:
        raise ValueError(f"a serializer with tag {serializer.tag!r} is already registered")
    old = _REGISTRY.get(serializer.tag)
    if old is not None:
        _ORDER.remove(old)
    _REGISTRY[serializer.tag] = serializer
    _ORDER.insert(0, serializer)
    _BY_TYPE.clear()


def registered_tags() -> list[str]:
    """The known type tags, sorted."""
    return sorted(_REGISTRY)


def get_serializer(tag: str) -> Serializer:
    """The serializer for a type tag; SerializationError when the tag is unknown."""
    try:
        return _REGISTRY[tag]
    except KeyError:
        raise SerializationError(
            f"unknown checkpoint serializer {tag!r}; known: {', '.join(registered_tags())}"
        ) from None


def serializer_for(value: Any) -> Serializer:
    """The serializer chosen for ``value`` by its exact type (pickle is never chosen)."""
    cls = type(value)
    ser = _BY_TYPE.get(cls)
    if ser is None:
        key = type_key(cls)
        for cand in _ORDER:
            if cand.opt_in:
                continue
            if key in cand.types or (cand.accepts is not None and cand.accepts(cls)):
                ser = cand
                break
        else:
            raise SerializationError(f"cannot checkpoint a value of type {_type_name(cls)}: {_FIX}")
        _BY_TYPE[cls] = ser
    return ser


def _type_name(cls: type) -> str:
    mod = cls.__module__
    return cls.__qualname__ if mod == "builtins" else f"{mod}.{cls.__qualname__}"


def _mro_keys(cls: type) -> set[str]:
    return {type_key(c) for c in cls.__mro__}


# --------------------------------------------------------------------------- tagged JSON
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
    if "numpy.generic" in _mro_keys(t):
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


def _json_accepts(cls: type) -> bool:
    if cls in _JSON_EXACT or type_key(cls) in _JSON_NAMED:
        return True
    if issubclass(cls, enum.Enum) or hasattr(cls, "__dataclass_fields__"):
        return True
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return True
    return "numpy.generic" in _mro_keys(cls)


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
            f"cannot checkpoint a value of type {_type_name(type(exc.obj))}{loc}{why}: {_FIX}"
        ) from None
    except RecursionError:
        raise SerializationError(
            f"cannot checkpoint a self-referencing or too deeply nested value: {_FIX}"
        ) from None
    return _JSON_ENCODER.encode(doc).encode()


def decode_json(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode bytes written by :func:`encode_json` back to the exact value."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    return json.loads(data, object_hook=_object_hook)


def _json_dump(value: Any, f: BinaryIO) -> None:
    f.write(encode_json(value))
    return None


# --------------------------------------------------------------------------- tables


def _write_parquet(table: Any, f: BinaryIO) -> None:
    import pyarrow.parquet as pq

    # keep Arrow's list field names ("item") so the schema comes back equal
    pq.write_table(table, f, use_compliant_nested_type=False)


def _parquet_dump(table: Any, f: BinaryIO) -> int:
    _write_parquet(table, f)
    return table.num_rows


def _parquet_read(data: bytes) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pq.ParquetFile(pa.BufferReader(pa.py_buffer(data))).read()


def _arrow_error(what: str, exc: Exception) -> SerializationError:
    return SerializationError(
        f"cannot write this {what} as Parquet: {exc}. Give columns unique names and one type "
        f"each (e.g. cast mixed object columns to str), or {_FIX}"
    )


def _pandas_to_arrow(df: Any) -> Any:
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(df, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise _arrow_error("pandas DataFrame", exc) from exc


def _pandas_from_arrow(table: Any) -> Any:
    df = table.to_pandas()
    # pandas >= 3 reads strings as its str dtype; restore columns that were object dtype
    meta = table.schema.pandas_metadata or {}
    if df.columns.is_unique:
        for i, col in enumerate(meta.get("columns", ())):
            if col.get("numpy_type") != "object" or col.get("pandas_type") != "unicode":
                continue
            name = col.get("field_name")
            if name is None or name not in table.schema.names:
                continue
            pos = i if i < len(df.columns) else None
            if pos is not None and df.iloc[:, pos].dtype != object:
                import pandas as pd

                arr = table.column(name).to_numpy(zero_copy_only=False)
                df[df.columns[pos]] = pd.Series(arr, index=df.index, dtype=object)
    return df


def _pandas_dump(df: Any, f: BinaryIO) -> int:
    _write_parquet(_pandas_to_arrow(df), f)
    return len(df)


def _pandas_load(data: bytes) -> Any:
    return _pandas_from_arrow(_parquet_read(data))


_SERIES_COL = "__datamill_series__"
_SERIES_NAME_KEY = b"datamill.series_name"


def _pandas_series_dump(s: Any, f: BinaryIO) -> int:
    table = _pandas_to_arrow(s.to_frame(name=_SERIES_COL))
    meta = dict(table.schema.metadata or {})
    meta[_SERIES_NAME_KEY] = encode_json(s.name)
    _write_parquet(table.replace_schema_metadata(meta), f)
    return len(s)


def _pandas_series_load(data: bytes) -> Any:
    table = _parquet_read(data)
    s = _pandas_from_arrow(table)[_SERIES_COL]
    s.name = decode_json((table.schema.metadata or {}).get(_SERIES_NAME_KEY, b"null"))
    return s


def _polars_has_object(dtype: Any) -> bool:
    import polars as pl

    if dtype == pl.Object:
        return True
    inner = getattr(dtype, "inner", None)
    if inner is not None and _polars_has_object(inner):
        return True
    return any(_polars_has_object(f.dtype) for f in getattr(dtype, "fields", None) or ())


def _polars_dump(df: Any, f: BinaryIO) -> int:
    import pyarrow as pa

    bad = [name for name, dtype in df.schema.items() if _polars_has_object(dtype)]
    if bad:  # Polars would export the objects' memory addresses as binary
        raise SerializationError(
            f"cannot write this Polars DataFrame as Parquet: column(s) {', '.join(bad)} hold "
            f"Python objects (dtype Object); {_FIX}"
        )
    try:
        table = df.to_arrow()
    except Exception as exc:  # polars raises its own error types for unsupported dtypes
        raise _arrow_error("Polars DataFrame", exc) from exc
    try:
        _write_parquet(table, f)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise _arrow_error("Polars DataFrame", exc) from exc
    return df.height


def _polars_load(data: bytes) -> Any:
    import polars as pl

    return pl.from_arrow(_parquet_read(data))


def _polars_series_dump(s: Any, f: BinaryIO) -> int:
    return _polars_dump(s.to_frame(), f)


def _polars_series_load(data: bytes) -> Any:
    return _polars_load(data).to_series(0)


def _arrow_dump(table: Any, f: BinaryIO) -> int:
    import pyarrow as pa

    try:
        return _parquet_dump(table, f)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise _arrow_error("Arrow table", exc) from exc


def _arrow_batch_dump(batch: Any, f: BinaryIO) -> int:
    import pyarrow as pa

    return _arrow_dump(pa.Table.from_batches([batch]), f)


def _arrow_batch_load(data: bytes) -> Any:
    import pyarrow as pa

    table = _parquet_read(data)
    arrays = [col.combine_chunks() for col in table.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)


# --------------------------------------------------------------------------- numpy, bytes


def _numpy_dump(arr: Any, f: BinaryIO) -> None:
    import numpy as np

    if arr.dtype.hasobject:
        raise SerializationError(
            f"cannot checkpoint a NumPy array of dtype {arr.dtype} without pickle: {_FIX}"
        )
    try:
        np.save(f, arr, allow_pickle=False)
    except ValueError as exc:
        raise SerializationError(f"cannot checkpoint NumPy array: {exc}; {_FIX}") from exc
    return None


def _numpy_load(data: bytes) -> Any:
    import io

    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


def _bytes_dump(value: bytes, f: BinaryIO) -> None:
    f.write(value)
    return None


def _bytes_load(data: bytes) -> bytes:
    return bytes(data)


# --------------------------------------------------------------------------- pickle (opt-in)


def _pickle_dump(value: Any, f: BinaryIO) -> None:
    try:
        import cloudpickle as pickler
    except ImportError:
        import pickle as pickler
    pickler.dump(value, f, protocol=5)
    return None


def _pickle_load(data: bytes) -> Any:
    import pickle

    return pickle.loads(data)


for _ser in (
    Serializer("pickle", "pkl", _pickle_dump, _pickle_load, opt_in=True),
    Serializer("numpy", "npy", _numpy_dump, _numpy_load, types=("numpy.ndarray",)),
    Serializer(
        "arrow.batch",
        "parquet",
        _arrow_batch_dump,
        _arrow_batch_load,
        types=("pyarrow.RecordBatch",),
    ),
    Serializer("arrow", "parquet", _arrow_dump, _parquet_read, types=("pyarrow.Table",)),
    Serializer(
        "polars.series",
        "parquet",
        _polars_series_dump,
        _polars_series_load,
        types=("polars.Series",),
    ),
    Serializer("polars", "parquet", _polars_dump, _polars_load, types=("polars.DataFrame",)),
    Serializer(
        "pandas.series",
        "parquet",
        _pandas_series_dump,
        _pandas_series_load,
        types=("pandas.Series",),
    ),
    Serializer("pandas", "parquet", _pandas_dump, _pandas_load, types=("pandas.DataFrame",)),
    Serializer("json", "json", _json_dump, decode_json, accepts=_json_accepts, dumps=encode_json),
    Serializer("bytes", "bin", _bytes_dump, _bytes_load, types=("builtins.bytes",), dumps=bytes),
):
    register(_ser)
del _ser
