"""Where files live and which files a location names, for the files and lakes connector.

``Storage`` is the local disk (plain calls) or an fsspec filesystem built by
``datamill.store.remote``; ``resolve`` turns a location into storage and path, confined to
``root=`` when given; ``find_files`` expands globs and folders (Hive ``key=value/``
partitions typed by ``partition_types``) and names the format of each file.
"""

from __future__ import annotations

import glob as globlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamill.errors import UsageError
from datamill.io.formats import FORMATS, format_of_name, split_compression
from datamill.io.url import Location

GLOB_CHARS = re.compile(r"[*?\[]")


# ----------------------------------------------------------------------------- storage


class Storage:
    """Where files live: the local disk (plain calls) or an fsspec filesystem."""

    def __init__(self, scheme: str, url: str | None = None):
        scheme = scheme.lower()
        self.scheme = "" if scheme in ("", "file") else ("s3" if scheme == "s3a" else scheme)
        self.local = self.scheme == ""
        self.fs: Any = None
        if not self.local:
            from datamill.store import remote

            self.fs = remote.filesystem(self.scheme, url, feature="this location")

    def strip(self, path: str) -> str:
        """The path as this storage names it (no ``s3://``)."""
        if self.local:
            return os.path.abspath(os.path.expanduser(path))
        from datamill.store import remote

        return remote.strip(self.scheme, path)

    def url(self, path: str) -> str:
        return path if self.local else f"{self.scheme}://{path}"

    def exists(self, path: str) -> bool:
        return os.path.exists(path) if self.local else self.fs.exists(path)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path) if self.local else self.fs.isdir(path)

    def size(self, path: str) -> int:
        return os.path.getsize(path) if self.local else int(self.fs.size(path))

    def glob(self, pattern: str) -> list[str]:
        if self.local:
            return sorted(p for p in globlib.glob(pattern, recursive=True) if os.path.isfile(p))
        return sorted(p for p in self.fs.glob(pattern) if not self.fs.isdir(p))

    def walk_files(self, folder: str) -> list[str]:
        """Files under ``folder``, skipping hidden and ``_``-prefixed names (``_delta_log``,
        ``_SUCCESS``, temporary files)."""
        out = []
        if self.local:
            for root, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
                out += [os.path.join(root, f) for f in sorted(files)
                        if not f.startswith((".", "_"))]
            return out
        base = folder.rstrip("/")
        for p in sorted(self.fs.find(base)):
            rel = p[len(base):].lstrip("/")
            if not any(part.startswith((".", "_")) for part in rel.split("/")):
                out.append(p)
        return out

    def open_raw(self, path: str) -> Any:
        import pyarrow as pa

        if self.local:
            return pa.OSFile(path, "rb")
        return pa.PythonFile(self.fs.open(path, "rb"), mode="r")

    def open_input(self, path: str) -> Any:
        """A binary stream of the file's content, decompressed by its extension."""
        import pyarrow as pa

        _, codec = split_compression(path)
        raw = self.open_raw(path)
        if codec == "xz":
            import lzma

            return lzma.open(raw)
        if codec:
            return pa.CompressedInputStream(raw, codec)
        return raw

    def bucket_missing(self, path: str) -> bool:
        """True when the bucket (Azure container) of ``path`` provably does not exist."""
        if self.local:
            return False
        from datamill.store import remote

        return remote.bucket_missing(self.fs, self.scheme, path)


def resolve(loc: Location) -> tuple[Storage, str]:
    """The storage and storage path of a location, confined to ``root=`` when given."""
    storage = Storage(loc.scheme, loc.path)
    root = loc.options.get("root")
    path = loc.path
    if not root:
        return storage, storage.strip(path)
    if storage.local:
        rootp = Path(str(root)).expanduser().resolve()
        p = Path(path).expanduser()
        candidate = (p if p.is_absolute() else rootp / p)
        # resolve the non-glob part (symlinks included); glob matches are checked again later
        resolved = _resolve_local(candidate)
        if resolved != rootp and not resolved.is_relative_to(rootp):
            raise UsageError(f"{path!r} is outside the allowed root {str(rootp)!r}: "
                             "give a path inside the root (no '..', no absolute paths elsewhere)")
        return storage, str(resolved)
    rootk = storage.strip(str(root)).rstrip("/")
    key = storage.strip(path) if "://" in path else posixpath.join(rootk, path)
    norm = posixpath.normpath(key)
    if norm != rootk and not norm.startswith(rootk + "/"):
        raise UsageError(f"{path!r} is outside the allowed root {storage.url(rootk)!r}")
    return storage, norm


def _resolve_local(p: Path) -> Path:
    parts = p.parts
    for i, part in enumerate(parts):
        if GLOB_CHARS.search(part):
            head = Path(*parts[:i]).resolve()
            return head.joinpath(*parts[i:])
    return p.resolve()


def check_confined(loc: Location, storage: Storage, files: list[str]) -> None:
    """Refuse glob matches that escape ``root=`` (through symlinks)."""
    root = loc.options.get("root")
    if not root or not storage.local:
        return
    rootp = Path(str(root)).expanduser().resolve()
    for f in files:
        if not Path(f).resolve().is_relative_to(rootp):
            raise UsageError(f"{f!r} resolves outside the allowed root {str(rootp)!r}")


# ----------------------------------------------------------------------------- finding files


@dataclass
class FileRef:
    path: str
    partitions: dict[str, str] = field(default_factory=dict)


def detect_format(loc: Location, storage: Storage, path: str) -> str:
    fmt = loc.options.get("format")
    if fmt:
        fmt = str(fmt).lower()
        fmt = {"jsonl": "ndjson", "xlsx": "excel", "tfrecords": "tfrecord", "pq": "parquet"}.get(
            fmt, fmt)
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r} for {loc.display}: use one of "
                             + ", ".join(FORMATS))
        return fmt
    if path.rstrip("/").endswith(".delta") or "_delta_log" in path.split("/"):
        return "delta"
    found = format_of_name(path)
    if found:
        return found
    if not GLOB_CHARS.search(path) and storage.exists(path) and storage.isdir(path):
        if storage.exists(posixpath.join(path, "_delta_log")) if not storage.local else \
                os.path.isdir(os.path.join(path, "_delta_log")):
            return "delta"
        for f in storage.walk_files(path):
            if format_of_name(f):
                return format_of_name(f)  # type: ignore[return-value]
    return ""


def find_files(loc: Location, storage: Storage, path: str, fmt: str) -> list[FileRef]:
    """The files a location names, each with its Hive partition values."""
    if GLOB_CHARS.search(path):
        parts = path.split("/")
        i = next(i for i, p in enumerate(parts) if GLOB_CHARS.search(p))
        base = "/".join(parts[:i])
        files = storage.glob(path)
        if not files:
            _missing(loc, storage, path, f"no files match {loc.display!r}")
    elif storage.exists(path) and storage.isdir(path):
        base = path
        files = [f for f in storage.walk_files(path) if not fmt or format_of_name(f) in (
            fmt, None if fmt != "tsv" else "csv")]
    elif storage.exists(path):
        base = posixpath.dirname(path) if not storage.local else os.path.dirname(path)
        files = [path]
    else:
        _missing(loc, storage, path, f"no such file or folder: {loc.display!r}")
    check_confined(loc, storage, files)
    refs = []
    for f in files:
        rel = f[len(base):].lstrip("/\\") if f.startswith(base) else ""
        parts = {}
        for seg in rel.replace("\\", "/").split("/")[:-1]:
            if "=" in seg:
                k, _, v = seg.partition("=")
                if k:
                    from urllib.parse import unquote

                    parts[k] = unquote(v)
        refs.append(FileRef(f, parts))
    return refs


def _missing(loc: Location, storage: Storage, path: str, message: str) -> Any:
    if storage.bucket_missing(path):
        raise UsageError(f"bucket {path.split('/', 1)[0]!r} does not exist (or is not "
                         f"visible with these credentials): cannot read {loc.display!r}")
    raise UsageError(message + "; check the path (and the current folder "
                     f"{os.getcwd()!r} for relative paths)")


def partition_types(refs: list[FileRef]) -> dict[str, Any]:
    """An Arrow type per partition key: int64, float64, date32 when every value fits, else
    string."""
    import datetime as dt

    import pyarrow as pa

    values: dict[str, list[str]] = {}
    for r in refs:
        for k, v in r.partitions.items():
            values.setdefault(k, []).append(v)
    out = {}
    for k, vals in values.items():
        present = [v for v in vals if v not in ("", "__HIVE_DEFAULT_PARTITION__")]
        typ: Any = pa.string()
        for cand, conv in ((pa.int64(), int), (pa.float64(), float),
                           (pa.date32(), dt.date.fromisoformat)):
            try:
                for v in present:
                    conv(v)
            except ValueError:
                continue
            if present:
                typ = cand
                break
        out[k] = typ
    return out


def partition_value(v: str, typ: Any) -> Any:
    import datetime as dt

    import pyarrow as pa

    if v in ("", "__HIVE_DEFAULT_PARTITION__"):
        return None
    if pa.types.is_integer(typ):
        return int(v)
    if pa.types.is_floating(typ):
        return float(v)
    if pa.types.is_date(typ):
        return dt.date.fromisoformat(v)
    return v


