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

from typing import Any, BinaryIO

from datamill.errors import SerializationError
from datamill.store import table_formats as _tf
from datamill.store.serializer_core import FIX, Serializer, type_key, type_name
from datamill.store.tagged_json import decode_json, encode_json, json_accepts, json_dump

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

_REGISTRY: dict[str, Serializer] = {}
_ORDER: list[Serializer] = []  # resolution order: later registrations win
_BY_TYPE: dict[type, Serializer] = {}  # cache of resolved types


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
            raise SerializationError(f"cannot checkpoint a value of type {type_name(cls)}: {FIX}")
        _BY_TYPE[cls] = ser
    return ser


# --------------------------------------------------------------------------- tables


def _table(tag: str, type_: str, to_table: Any, from_table: Any) -> Serializer:
    """A table serializer: ``dump``/``load`` (Parquet, or any table format on load) for
    direct callers; the store uses ``to_table``/``from_table`` and the task's format."""

    def dump(value: Any, f: BinaryIO) -> int:
        return _tf.write_table(to_table(value), f, "parquet")

    def load(data: Any) -> Any:
        return from_table(_tf.read_table(data))

    return Serializer(tag, "parquet", dump, load, types=(type_,), to_table=to_table,
                      from_table=from_table)


# --------------------------------------------------------------------------- numpy, bytes


def _numpy_dump(arr: Any, f: BinaryIO) -> None:
    import numpy as np

    if arr.dtype.hasobject:
        raise SerializationError(
            f"cannot checkpoint a NumPy array of dtype {arr.dtype} without pickle: {FIX}"
        )
    try:
        np.save(f, arr, allow_pickle=False)
    except ValueError as exc:
        raise SerializationError(f"cannot checkpoint NumPy array: {exc}; {FIX}") from exc
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
    _table("arrow.batch", "pyarrow.RecordBatch", _tf.batch_to_table, _tf.batch_from_table),
    _table("arrow", "pyarrow.Table", _tf.arrow_to_table, _tf.arrow_from_table),
    _table("polars.series", "polars.Series", _tf.polars_series_to_table,
           _tf.polars_series_from_table),
    _table("polars", "polars.DataFrame", _tf.polars_to_table, _tf.polars_from_table),
    _table("pandas.series", "pandas.Series", _tf.pandas_series_to_table,
           _tf.pandas_series_from_table),
    _table("pandas", "pandas.DataFrame", _tf.pandas_to_table, _tf.pandas_from_table),
    Serializer("json", "json", json_dump, decode_json, accepts=json_accepts, dumps=encode_json),
    Serializer("bytes", "bin", _bytes_dump, _bytes_load, types=("builtins.bytes",), dumps=bytes),
):
    register(_ser)
del _ser
