"""Table checkpoints: the snapshot of a DataFrame as Arrow, its content hash, and the file
formats it can be stored in.

A table output (pandas, Polars, Arrow) is first taken as an immutable Arrow table in the
task's thread (``to_table`` of its serializer). That snapshot is what gets hashed and
written, so a write can run in the background while the task's own value goes on to the
next task. Three formats:

* ``arrow`` (the default): the Arrow IPC file format, uncompressed. Writing is a copy of
  the buffers (6x faster than Parquet here), reading is a memory map with no decoding.
  It takes about 2.5x the disk of Parquet.
* ``arrow-lz4``: the same with LZ4-frame compressed buffers (about 1.5x Parquet's size,
  3x faster to write).
* ``parquet``: snappy-compressed Parquet, the smallest, and what other tools read.

Readers tell the formats apart by their magic bytes (``ARROW1`` / ``PAR1``), so a type
tag loads whichever format its file has. ``content_hash`` is the data version of a
table (see docs/checkpoints.md, "Data versions of tables").
"""

from __future__ import annotations

import struct
from typing import Any, BinaryIO

import xxhash

from datamill.errors import SerializationError, UsageError
from datamill.store.serializer_core import FIX
from datamill.store.tagged_json import decode_json, encode_json

__all__ = ["DEFAULT_FORMAT", "EXTS", "FORMATS", "content_hash", "ext_of", "read_table",
           "write_table"]

FORMATS = ("arrow", "arrow-lz4", "parquet")
DEFAULT_FORMAT = "arrow"
EXTS = ("arrow", "parquet")
_ARROW_MAGIC = b"ARROW1"
_PARQUET_MAGIC = b"PAR1"


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"unknown checkpoint format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def ext_of(fmt: str) -> str:
    """The data file extension of a table format."""
    return "parquet" if check_format(fmt) == "parquet" else "arrow"


# --------------------------------------------------------------------------- the formats


def write_table(table: Any, f: BinaryIO, fmt: str = DEFAULT_FORMAT) -> int:
    """Write ``table`` to ``f`` in format ``fmt``; returns its row count."""
    import pyarrow as pa

    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            # keep Arrow's list field names ("item") so the schema comes back equal
            pq.write_table(_without_views(table), f, use_compliant_nested_type=False)
        else:
            import pyarrow.ipc as ipc

            comp = "lz4" if fmt == "arrow-lz4" else None
            with ipc.new_file(f, table.schema,
                              options=ipc.IpcWriteOptions(compression=comp)) as w:
                w.write_table(table)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise arrow_error("table", exc, fmt) from exc
    return table.num_rows


def _plain(t: Any) -> Any:
    """``t`` with string/binary views (Polars' own layout) as large strings/binaries,
    which Parquet's writer takes in every position (it refuses dictionaries of views)."""
    import pyarrow as pa

    if pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary_view(t):
        return pa.large_binary()
    if pa.types.is_dictionary(t):
        return pa.dictionary(t.index_type, _plain(t.value_type), t.ordered)
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(_plain(t.value_type)))
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_plain(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(_plain(t.value_type)), t.list_size)
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_plain(t.field(i).type))
                          for i in range(t.num_fields)])
    return t


def _without_views(table: Any) -> Any:
    schema = table.schema
    plain = [f.with_type(_plain(f.type)) for f in schema]
    if all(a.type == b.type for a, b in zip(plain, schema, strict=True)):
        return table
    import pyarrow as pa

    return table.cast(pa.schema(plain, metadata=schema.metadata))


def read_table(data: Any) -> Any:
    """The Arrow table in ``data`` (bytes or an Arrow buffer, e.g. a memory map), Arrow IPC
    or Parquet. IPC data is not copied: the table's buffers point into ``data``."""
    import pyarrow as pa

    buf = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    head = buf[:6].to_pybytes()
    if head == _ARROW_MAGIC:
        import pyarrow.ipc as ipc

        return ipc.open_file(buf).read_all()
    if head[:4] != _PARQUET_MAGIC:
        raise ValueError("the checkpoint is neither an Arrow IPC nor a Parquet file")
    import pyarrow.parquet as pq

    return pq.ParquetFile(pa.BufferReader(buf)).read()


def arrow_error(what: str, exc: Exception, fmt: str = "parquet") -> SerializationError:
    name = "Parquet" if fmt == "parquet" else "Arrow IPC"
    return SerializationError(
        f"cannot write this {what} as {name}: {exc}. Give columns unique names and one type "
        f"each (e.g. cast mixed object columns to str), or {FIX}"
    )


# --------------------------------------------------------------------------- content hash


def content_hash(table: Any) -> str:
    """xxh3-128 of a table's schema and Arrow buffers, without serialising it.

    Each column chunk contributes its offset, length, null count and every buffer with its
    size, so tables that differ in any value hash differently. Equal tables laid out the
    same way (the same code on the same input) hash equal; an equal table chunked or sliced
    differently may not, which only makes a downstream task run again. Nested, dictionary
    and extension columns are hashed through their IPC encoding, which normalises the
    offsets of their children.
    """
    h = xxhash.xxh3_128()
    h.update(table.schema.serialize())
    for col in table.columns:
        h.update(struct.pack("<q", col.num_chunks))
        for chunk in col.chunks:
            _hash_array(h, chunk)
    return h.hexdigest()


def _hash_array(h: Any, arr: Any) -> None:
    import pyarrow as pa

    t = arr.type
    h.update(struct.pack("<qqq", arr.offset, len(arr), arr.null_count))
    if t.num_fields or pa.types.is_dictionary(t) or isinstance(t, pa.ExtensionType):
        batch = pa.RecordBatch.from_arrays([arr], ["c"])
        h.update(batch.serialize())
        return
    for b in arr.buffers():
        if b is None:
            h.update(b"\xff" * 8)
        else:
            h.update(struct.pack("<q", b.size))
            h.update(b)


# --------------------------------------------------------------------------- per type


def _pandas_to_arrow(df: Any) -> Any:
    import pyarrow as pa

    try:
        return pa.Table.from_pandas(df, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise arrow_error("pandas DataFrame", exc) from exc


def pandas_from_table(table: Any) -> Any:
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


pandas_to_table = _pandas_to_arrow

_SERIES_COL = "__datamill_series__"
_SERIES_NAME_KEY = b"datamill.series_name"


def pandas_series_to_table(s: Any) -> Any:
    table = _pandas_to_arrow(s.to_frame(name=_SERIES_COL))
    meta = dict(table.schema.metadata or {})
    meta[_SERIES_NAME_KEY] = encode_json(s.name)
    return table.replace_schema_metadata(meta)


def pandas_series_from_table(table: Any) -> Any:
    s = pandas_from_table(table)[_SERIES_COL]
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


def polars_to_table(df: Any) -> Any:
    bad = [name for name, dtype in df.schema.items() if _polars_has_object(dtype)]
    if bad:  # Polars would export the objects' memory addresses as binary
        raise SerializationError(
            f"cannot write this Polars DataFrame as Parquet: column(s) {', '.join(bad)} hold "
            f"Python objects (dtype Object); {FIX}"
        )
    import polars as pl

    try:  # newest: Polars' own string views, shared rather than copied to large_string
        return df.to_arrow(compat_level=pl.CompatLevel.newest())
    except Exception as exc:  # polars raises its own error types for unsupported dtypes
        raise arrow_error("Polars DataFrame", exc) from exc


def polars_from_table(table: Any) -> Any:
    import polars as pl

    return pl.from_arrow(table)


def polars_series_to_table(s: Any) -> Any:
    return polars_to_table(s.to_frame())


def polars_series_from_table(table: Any) -> Any:
    return polars_from_table(table).to_series(0)


def arrow_to_table(table: Any) -> Any:
    return table


def arrow_from_table(table: Any) -> Any:
    return table


def batch_to_table(batch: Any) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches([batch])


def batch_from_table(table: Any) -> Any:
    import pyarrow as pa

    arrays = [col.combine_chunks() for col in table.columns]
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)
