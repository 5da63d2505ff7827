"""The files and lakes connector: CSV, TSV, JSON, NDJSON, Parquet, Excel, TFRecord, Delta.

Locations are local paths (globs, ``**``, Hive ``key=value/`` folders) or object-store URLs:
``s3://``, ``az://`` / ``abfs://`` (Azure Blob Storage), ``gs://`` (Google Cloud Storage),
with credentials and endpoints from the environment (``datamill.store.remote``).
Local files go through plain file calls, remote ones through fsspec. Writes are all or
nothing: a temporary file renamed into place locally, one upload (or a multipart / block /
resumable upload that commits at the end) on an object store. See ``docs/io-files.md`` for every option.

    source = open_source(parse_url("data/*.csv", on_bad_lines="quarantine"))
    for batch in source.batches(): ...
    source.rejected                  # [(line_no, raw_text, reason), ...]
    read_tables("events.ndjson")     # {"events": ..., "events__items": ...} (nested records)
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from datamill.errors import UsageError
from datamill.io.base import WriteReport
from datamill.io.formats import WRITE_EXTENSIONS, format_of_name, split_compression
from datamill.io.storage import (
    GLOB_CHARS,
    FileRef,
    Storage,
    detect_format,
    find_files,
    partition_types,
    partition_value,
    resolve,
)
from datamill.io.url import Location, opt_bool, parse_url

log = logging.getLogger("datamill.io.files")

__all__ = ["FileSink", "FileSource", "open_sink", "open_source", "read_tables"]

_LOAD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


# ----------------------------------------------------------------------------- source


class FileSource:
    """Batches from one file, a folder dataset or a glob, in file name order.

    ``rejected`` holds ``(line_no, raw_text, reason)`` of lines skipped under
    ``on_bad_lines="quarantine"``; ``notes`` says what was read differently than inferred
    (a CSV column widened because its type changed mid-file).
    """

    def __init__(self, loc: Location, storage: Storage, path: str, fmt: str):
        self.location = loc
        self.storage, self.path, self.format = storage, path, fmt
        self.files = find_files(loc, storage, path, fmt)
        if not fmt:
            raise UsageError(f"cannot tell the format of {loc.display!r}: add ?format=csv "
                             "(or tsv, json, ndjson, parquet, excel, tfrecord, delta)")
        self.rejected: list[tuple[int | None, str, str]] = []
        self.notes: list[str] = []
        self._ptypes = partition_types(self.files)
        self._tables: dict[str, Any] | None = None

    # -- helpers shared by the format readers
    def opener(self, ref: FileRef) -> Callable[[], Any]:
        return lambda: self.storage.open_input(ref.path)

    def name(self, ref: FileRef) -> str:
        return self.storage.url(ref.path)

    def option(self, name: str, default: Any = None) -> Any:
        return self.location.options.get(name, default)

    def note(self, text: str) -> None:
        log.warning(text)
        self.notes.append(text)

    # -- the contract
    def schema(self) -> Any | None:
        import pyarrow as pa

        if self.format in ("csv", "tsv", "parquet") and self.files:
            ref = self.files[0]
            if self.format == "parquet":
                from datamill.io.formats import columnar

                base = columnar.parquet_schema(self, ref)
            else:
                from datamill.io.formats import delimited

                base = delimited.header_schema(self, ref)
            if base is None:
                return pa.schema([])
            return self._with_partition_fields(base)
        if all(self.storage.size(r.path) == 0 for r in self.files):
            return pa.schema([])
        return None

    def _with_partition_fields(self, schema: Any) -> Any:
        for k, t in self._ptypes.items():
            if k not in schema.names:
                schema = schema.append(__import__("pyarrow").field(k, t))
        return schema.remove_metadata()

    reads_whole = True  # batches(whole=True): see datamill.io.base.whole_batches

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000, whole: bool = False) -> Iterator[Any]:
        """``whole=True``: the caller keeps every batch (a whole-table read), so a reader
        may parse a file in one go, faster and with more memory, instead of streaming."""
        import pyarrow as pa

        if opt_bool(self.option("normalize")):
            main = self.tables()[self.table_name()]
            table = main.select(columns) if columns else main
            yield from table.to_batches(max_chunksize=batch_size)
            return
        target = None
        pcols = [c for c in self._ptypes if columns is None or c in columns]
        for ref in self.files:
            file_cols = None if columns is None else [c for c in columns if c not in pcols]
            for batch in self._read_file(ref, file_cols, batch_size, whole):
                batch = batch.replace_schema_metadata(None)
                for k in pcols:
                    if k in batch.schema.names:
                        continue
                    typ = self._ptypes[k]
                    value = partition_value(ref.partitions.get(k, ""), typ)
                    batch = batch.append_column(
                        pa.field(k, typ), pa.array([value] * batch.num_rows, type=typ))
                if columns is not None:
                    batch = batch.select(columns)
                if target is None:
                    target = batch.schema
                elif not batch.schema.equals(target):
                    batch = _conform(batch, target, self.name(ref), self.notes)
                yield batch

    def _read_file(self, ref: FileRef, columns: list[str] | None,
                   batch_size: int, whole: bool = False) -> Iterator[Any]:
        fmt = self.format
        if fmt in ("csv", "tsv"):
            from datamill.io.formats import delimited

            yield from delimited.read(self, ref, columns, batch_size, whole)
        elif fmt in ("json", "ndjson"):
            from datamill.io.formats import jsonfmt

            yield from jsonfmt.read(self, ref, columns, batch_size)
        elif fmt == "parquet":
            from datamill.io.formats import columnar

            yield from columnar.read_parquet(self, ref, columns, batch_size, whole)
        elif fmt == "excel":
            from datamill.io.formats import columnar

            yield from columnar.read_excel(self, ref, columns, batch_size)
        elif fmt == "tfrecord":
            from datamill.io.formats import tfrecord

            with self.storage.open_input(ref.path) as f:
                yield from tfrecord.read_batches(f, self.name(ref), columns, batch_size)
        else:  # pragma: no cover - detect_format guards this
            raise UsageError(f"cannot read format {fmt!r}")

    # -- nested records
    def table_name(self) -> str:
        name = self.option("table")
        if name:
            return str(name)
        base = split_compression(posixpath.basename(self.path.rstrip("/")))[0]
        stem = base.split(".")[0] if "." in base else base
        stem = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")
        return stem or "data"

    def tables(self) -> dict[str, Any]:
        """Every table of the location: the main one and, for nested JSON records under
        ``normalize=True``, one child table per list field (``parent__field``)."""
        if self._tables is not None:
            return self._tables
        import pyarrow as pa

        if self.format in ("json", "ndjson") and opt_bool(self.option("normalize")):
            from datamill.io.formats import jsonfmt

            self._tables = jsonfmt.normalized_tables(self, self.table_name())
        else:
            batches = list(self.batches(whole=True))
            schema = self.schema() or pa.schema([])
            self._tables = {self.table_name(): pa.Table.from_batches(batches) if batches
                            else schema.empty_table()}
        return self._tables


def _conform(batch: Any, target: Any, name: str, notes: list[str]) -> Any:
    """Cast a later file's batch to the schema of the first one, or say why not."""
    if batch.schema.names != target.names:
        if set(batch.schema.names) == set(target.names):
            batch = batch.select(target.names)
        else:
            raise UsageError(
                f"{name} has columns {batch.schema.names}, but the first file has "
                f"{target.names}: read the files separately or pass columns=[...]")
    try:
        return batch.cast(target)
    except Exception as exc:  # noqa: BLE001 - arrow raises several types here
        raise UsageError(f"{name}: its column types {batch.schema} do not fit the first "
                         f"file's {target} ({exc}); read the files separately") from exc


# ----------------------------------------------------------------------------- sink


def new_load_id() -> str:
    """A fresh, sortable load id: UTC time then random digits."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{uuid.uuid4().hex[:10]}"


class FileSink:
    """Writes a file or a folder dataset (``part-<load_id>.<ext>`` files), all or nothing."""

    def __init__(self, loc: Location, storage: Storage, path: str, fmt: str):
        self.location, self.storage, self.path = loc, storage, path
        self.folder = (loc.path.endswith("/") or not format_of_name(path)
                       or (storage.exists(path) and storage.isdir(path)))
        self.format = fmt or "parquet"
        if self.format == "excel":
            raise UsageError(f"{loc.display}: Excel files are read only; write csv or parquet")

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        loc = self.location
        if mode == "merge":
            raise UsageError(f"mode='merge' needs a Delta table; {loc.display} is a plain "
                             f"{self.format} location: write to a .delta path (or ?format=delta)"
                             " or use mode='append' / 'replace'")
        if load_id is not None and not _LOAD_ID.match(load_id):
            raise UsageError(f"load_id {load_id!r} must be letters, digits, '.', '_' or '-'")
        lid = load_id or new_load_id()
        report = WriteReport(dataset=loc.dataset, mode=mode, load_id=lid)
        if self.folder:
            return self._write_folder(batches, mode, lid, load_id is not None, report)
        return self._write_file(batches, mode, lid, load_id is not None, report)

    # -- single file
    def _write_file(self, batches: Iterable[Any], mode: str, lid: str, given: bool,
                    report: WriteReport) -> WriteReport:
        path = self.path
        if given and self.format == "parquet" and self.storage.exists(path) \
                and _parquet_load_id(self.storage, path) == lid:
            report.skipped = True
            return report
        if mode == "append" and self.storage.exists(path):
            raise UsageError(
                f"cannot append to the existing file {self.location.display}: a file is "
                "written whole. Use mode='replace', or write to a folder (a path ending in '/')"
                " where each append adds a part file")
        report.rows, report.bytes = self._publish(batches, path, lid)
        return report

    # -- folder dataset
    def _write_folder(self, batches: Iterable[Any], mode: str, lid: str, given: bool,
                      report: WriteReport) -> WriteReport:
        st, folder = self.storage, self.path.rstrip("/")
        ext = WRITE_EXTENSIONS.get(self.format)
        if ext is None:
            raise UsageError(f"cannot write format {self.format!r}")
        codec = self.location.options.get("compression")
        if codec and self.format != "parquet":
            ext += {"gzip": ".gz", "bz2": ".bz2", "zstd": ".zst", "xz": ".xz"}.get(
                str(codec), "")
        part_name = f"part-{lid}{ext}"
        part = _join(st, folder, part_name)
        existing = st.walk_files(folder) if st.exists(folder) else []
        if given and any(_basename(p).startswith(f"part-{lid}.") for p in existing):
            report.skipped = True
            report.details["path"] = st.url(part)
            return report
        if mode == "append" or st.exists(folder) is False:
            report.rows, report.bytes = self._publish(batches, part, lid)
        elif st.local:
            parent, name = os.path.split(folder)
            stage = os.path.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:8]}")
            os.makedirs(stage)
            try:
                report.rows, report.bytes = self._publish(batches, os.path.join(stage, part_name),
                                                          lid)
                old = os.path.join(parent, f".{name}.old-{uuid.uuid4().hex[:8]}")
                os.rename(folder, old)
                os.rename(stage, folder)
                shutil.rmtree(old, ignore_errors=True)
            finally:
                if os.path.exists(stage):
                    shutil.rmtree(stage, ignore_errors=True)
        else:  # object stores have no folder rename: add the new part, then drop the old ones
            report.rows, report.bytes = self._publish(batches, part, lid)
            old = [p for p in existing if p != part]
            if old:
                st.fs.rm(old)
        report.details["path"] = st.url(part)
        return report

    def _publish(self, batches: Iterable[Any], dest: str, lid: str) -> tuple[int, int]:
        """Write to a temporary file, then move it into place (local) or upload it (remote)."""
        st = self.storage
        if st.local:
            folder = os.path.dirname(dest)
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp",
                                       dir=folder)
        else:
            fd, tmp = tempfile.mkstemp(prefix="datamill-", suffix=".tmp")
        os.close(fd)
        try:
            if st.local:  # mkstemp makes 0600: the published file gets the umask's mode
                os.chmod(tmp, 0o666 & ~_umask())
            rows = write_local(tmp, dest, self.format, batches, self.location.options, lid)
            size = os.path.getsize(tmp)
            if st.local:
                os.replace(tmp, dest)
            else:
                self._upload(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return rows, size

    def _upload(self, tmp: str, dest: str) -> None:
        st = self.storage
        bucket = dest.split("/", 1)[0]
        if st.bucket_missing(dest):
            raise UsageError(f"bucket {bucket!r} does not exist: cannot write "
                             f"{self.location.display}")
        # put_file: one PUT for small files, a multipart upload (aborted on error) for big ones
        st.fs.put_file(tmp, dest)


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _join(st: Storage, folder: str, name: str) -> str:
    return os.path.join(folder, name) if st.local else f"{folder}/{name}"


def _basename(p: str) -> str:
    return p.replace("\\", "/").rsplit("/", 1)[-1]


def _parquet_load_id(st: Storage, path: str) -> str | None:
    import pyarrow.parquet as pq

    try:
        with st.open_raw(path) as f:
            meta = pq.ParquetFile(f).metadata.metadata or {}  # the footer's key-value pairs
    except Exception:  # noqa: BLE001 - not a parquet file: no load id
        return None
    value = meta.get(b"datamill.load_id")
    return value.decode() if value else None


def write_local(tmp: str, dest: str, fmt: str, batches: Iterable[Any],
                options: dict[str, Any], load_id: str) -> int:
    """Write ``batches`` in ``fmt`` to the local file ``tmp`` (compressed by ``dest``'s
    extension); returns the row count."""
    if fmt == "parquet":
        from datamill.io.formats import columnar

        return columnar.write_parquet(tmp, batches, options, load_id)
    import pyarrow as pa

    _, codec = split_compression(dest)
    raw = open(tmp, "wb")  # noqa: SIM115 - closed below
    try:
        if codec == "xz":
            import lzma

            out: Any = lzma.open(raw, "wb")
        elif codec:
            out = pa.CompressedOutputStream(pa.PythonFile(raw, mode="w"), codec)
        else:
            out = raw
        try:
            if fmt in ("csv", "tsv"):
                from datamill.io.formats import delimited

                return delimited.write(out, fmt, batches, options)
            if fmt in ("json", "ndjson"):
                from datamill.io.formats import jsonfmt

                return jsonfmt.write(out, fmt, batches)
            if fmt == "tfrecord":
                from datamill.io.formats import tfrecord

                return tfrecord.write_batches(out, batches)
            raise UsageError(f"cannot write format {fmt!r}")
        finally:
            if out is not raw:
                out.close()
    finally:
        if not raw.closed:
            raw.close()


# ----------------------------------------------------------------------------- entry points


def open_source(loc: Location) -> Any:
    """A source for a file, folder dataset, glob or Delta table."""
    storage, path = resolve(loc)
    fmt = detect_format(loc, storage, path)
    if fmt == "delta":
        from datamill.io.delta import DeltaSource

        return DeltaSource(loc, storage, path)
    return FileSource(loc, storage, path, fmt)


def open_sink(loc: Location) -> Any:
    """A sink for a file, folder dataset or Delta table."""
    storage, path = resolve(loc)
    if GLOB_CHARS.search(path):
        raise UsageError(f"cannot write to a glob pattern: {loc.display}")
    fmt = detect_format(loc, storage, path)
    if fmt == "delta":
        from datamill.io.delta import DeltaSink

        return DeltaSink(loc, storage, path)
    return FileSink(loc, storage, path, fmt)


def read_tables(url: str | Path, **options: Any) -> dict[str, Any]:
    """Every table of a location as ``{name: pyarrow.Table}``.

    For JSON / NDJSON records (``normalize`` defaults to True here) nested objects flatten
    into ``a__b`` columns and each list field becomes a child table ``<table>__<field>``
    linked by ``_dm_parent_id`` (the parent's ``_dm_id``) and ``_dm_list_idx``. Other
    formats give one table named after the file (or ``table=``).
    """
    options.setdefault("normalize", True)
    loc = parse_url(url, **options)
    src = open_source(loc)
    if not isinstance(src, FileSource):
        return {src.table_name(): src.read_table()}
    return src.tables()
