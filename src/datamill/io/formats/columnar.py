"""Parquet (read and write, zstd by default) and Excel (read only, through openpyxl)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import UsageError


def parquet_schema(src: Any, ref: Any) -> Any:
    import pyarrow.parquet as pq

    with src.storage.open_raw(ref.path) as f:
        return pq.read_schema(f).remove_metadata()


def read_parquet(src: Any, ref: Any, columns: list[str] | None,
                 batch_size: int, whole: bool = False) -> Iterator[Any]:
    """Batches of one Parquet file. ``whole`` (the caller keeps every batch): a remote
    object is fetched in one GET and parsed from memory, instead of ranged reads through
    a file-like object (about 3x faster against S3), and row groups are decoded in
    parallel; local files are memory-mapped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if src.storage.size(ref.path) == 0:
        return
    if src.storage.local:
        source: Any = ref.path
    elif whole:
        source = pa.BufferReader(src.storage.fs.cat_file(ref.path))
    else:
        source = src.storage.fs.open(ref.path, "rb")
    try:
        pf = pq.ParquetFile(source, memory_map=src.storage.local)
    except pa.ArrowInvalid as exc:
        raise UsageError(f"{src.name(ref)} is not a Parquet file ({exc})") from exc
    try:
        missing = [c for c in columns or [] if c not in pf.schema_arrow.names]
        if missing:
            raise UsageError(f"{src.name(ref)} has no column(s) {missing}; it has "
                             f"{pf.schema_arrow.names}")
        if whole:  # every row group decoded in parallel threads
            yield from pf.read(columns=columns, use_threads=True).to_batches(batch_size)
        else:
            yield from pf.iter_batches(batch_size=batch_size, columns=columns)
    finally:
        pf.close()
        if not src.storage.local:
            source.close()


ROW_GROUP_ROWS = 1 << 20
_POLARS_CODECS = {"zstd": "zstd", "snappy": "snappy", "gzip": "gzip", "lz4": "lz4",
                  "brotli": "brotli", "none": "uncompressed", "uncompressed": "uncompressed"}


def write_parquet(path: str, batches: Iterable[Any], options: dict[str, Any],
                  load_id: str) -> int:
    """Batches into one Parquet file; small batches are gathered into row groups of about
    ``row_group_size`` rows (default 1,048,576): a row group per 64k-row batch would
    compress worse (a dictionary per group), and write slower."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    compression = str(options.get("compression") or "zstd")
    group = int(options.get("row_group_size") or ROW_GROUP_ROWS)
    if group < 1:
        raise UsageError(f"row_group_size must be a positive number of rows, got {group}")
    from datamill.io.base import FrameBatches

    if isinstance(batches, FrameBatches) and batches.frame.width \
            and compression in _POLARS_CODECS:
        # a whole Polars frame: Polars' writer encodes the columns in parallel
        batches.frame.write_parquet(path, compression=_POLARS_CODECS[compression],
                                    row_group_size=group,
                                    metadata={"datamill.load_id": load_id})
        return batches.frame.height
    writer = None
    rows = 0
    meta = {b"datamill.load_id": load_id.encode()}
    pending: list[Any] = []
    pending_rows = 0

    def flush() -> None:
        nonlocal pending, pending_rows
        if pending:
            assert writer is not None
            writer.write_table(pa.Table.from_batches(pending, schema=writer.schema),
                               row_group_size=group)
            pending, pending_rows = [], 0

    try:
        for batch in batches:
            if writer is None:
                schema = batch.schema.with_metadata({**(batch.schema.metadata or {}), **meta})
                writer = pq.ParquetWriter(path, schema, compression=compression)
            if batch.schema.metadata != writer.schema.metadata:
                batch = batch.replace_schema_metadata(writer.schema.metadata)
            pending.append(batch)
            pending_rows += batch.num_rows
            rows += batch.num_rows
            if pending_rows >= group:
                flush()
        flush()
        if writer is None:  # no data at all: an empty file with no columns
            writer = pq.ParquetWriter(path, pa.schema([]).with_metadata(meta),
                                      compression=compression)
    finally:
        if writer is not None:
            writer.close()
    return rows


def read_excel(src: Any, ref: Any, columns: list[str] | None,
               batch_size: int) -> Iterator[Any]:
    """The rows of one sheet (``sheet=`` name or 0-based index, the first by default); the
    first row is the header unless ``header=false``."""
    import io

    import openpyxl
    import pyarrow as pa

    from datamill.io.formats.jsonfmt import to_table
    from datamill.io.url import opt_bool

    name = src.name(ref)
    with src.storage.open_raw(ref.path) as f:
        data = f.read()
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types
        raise UsageError(f"{name} is not an Excel workbook ({exc})") from exc
    try:
        sheet = src.option("sheet")
        if sheet is None:
            ws = wb.worksheets[0]
        elif str(sheet).isdigit():
            ws = wb.worksheets[int(sheet)]
        elif sheet in wb.sheetnames:
            ws = wb[sheet]
        else:
            raise UsageError(f"{name} has no sheet {sheet!r}; it has {wb.sheetnames}")
        rows = ws.iter_rows(values_only=True)
        header = opt_bool(src.option("header"), True)
        first = next(rows, None)
        if first is None:
            return
        if header:
            names = [str(v) if v is not None else f"column_{i}" for i, v in enumerate(first)]
            body: Iterable[Any] = rows
        else:
            names = [f"f{i}" for i in range(len(first))]
            body = [first, *rows]
        records = [dict(zip(names, r, strict=False)) for r in body
                   if any(v is not None for v in r)]
    finally:
        wb.close()
    table = to_table(records, src, name) if records else pa.table(
        {n: pa.array([], pa.string()) for n in names})
    if columns:
        table = table.select(columns)
    yield from table.to_batches(max_chunksize=batch_size)
