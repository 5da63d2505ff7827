"""Quarantine: bad rows kept as Parquet files with why, where from, which run and when.

Layout: ``<root>/quarantine/<dataset-slug>/<run_id>-<n>.parquet``, where ``root`` is a
local folder or an object-store URL: ``s3://bucket/prefix``, ``az://container/prefix`` (also
``abfs://``) or ``gs://bucket/prefix``, with credentials and endpoints from the environment
as for every datamill location of that scheme (``datamill.store.remote``).

A reader never sees half a file and two writers never take the same name:

* local: each file is written to a temporary name and hard-linked into place; the link
  fails if the name is taken, so ``n`` is the next free number (1, 2, 3, ...).
* object stores: each file is written to a local temporary file, then uploaded with one PUT
  (a multipart / block / resumable upload committed at the end for big files): an object
  appears whole or not at all. Not every store has "create if absent", so ``n`` is not counted but made unique without asking the bucket:
  ``<20-digit nanosecond UTC time>-<8 hex of a uuid4>`` (strictly increasing within one
  process). Names then sort by run, then by write time, like the local numbers do.

``files()`` lists a dataset's (or every dataset's) files ordered by run, then write order.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datamill.errors import UsageError

META_COLUMNS = ("_dm_source", "_dm_run_id", "_dm_task", "_dm_quarantined_at")

# <run>-<n>.parquet (local) and <run>-<ns>-<hex>.parquet (S3)
_REMOTE_NAME = re.compile(r"^(?P<run>.+)-(?P<n>\d{20})-(?P<tag>[0-9a-f]{8})\.parquet$")
_LOCAL_NAME = re.compile(r"^(?P<run>.+)-(?P<n>\d+)\.parquet$")

_clock_lock = threading.Lock()
_last_ns = 0


def slug(dataset: str) -> str:
    """A folder name for a dataset identity (URL, path or name)."""
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", dataset.strip().lower())
    text = re.sub(r"[^a-z0-9._-]+", "-", text).strip("-.")
    return text[:120] or "dataset"


def _safe(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", run_id)


def _unique_ns() -> int:
    """Nanoseconds since the epoch, strictly increasing within this process."""
    global _last_ns
    with _clock_lock:
        _last_ns = max(time.time_ns(), _last_ns + 1)
        return _last_ns


def _name_key(name: str) -> tuple[str, int, str]:
    """(run prefix, write number or time, tie-break) of a quarantine file name."""
    m = _REMOTE_NAME.match(name) or _LOCAL_NAME.match(name)
    if not m:
        return (name, 0, "")
    return (m.group("run"), int(m.group("n")), m.groupdict().get("tag") or "")


class Quarantine:
    """Where rejected rows go; ``location`` is a local folder (a project or artifact root,
    ``file://`` allowed) or an ``s3://bucket/prefix`` URL."""

    def __init__(self, location: str | Path):
        loc = str(location).strip()
        if not loc:
            raise UsageError("empty quarantine location: give a folder or s3://bucket/prefix")
        self._storage: Any = None
        if "://" not in loc or loc.startswith("file://"):
            self.remote = False
            self.root: Path | str = Path(loc[len("file://"):] if loc.startswith("file://")
                                         else loc)
            self._base = ""
            return
        from datamill.store import remote

        scheme = loc.split("://", 1)[0].lower()
        if remote.family(scheme) is None:
            raise UsageError(f"quarantine location {loc!r}: unsupported scheme "
                             f"{scheme + '://'!r}; use a local folder or "
                             "s3://bucket/prefix (also az://, abfs://, gs://)")
        remote.require_client(scheme, "a quarantine location")
        self.remote = True
        self._scheme = "s3" if scheme == "s3a" else scheme
        self._url = loc.partition("?")[0]
        bucket_and_prefix = remote.strip(self._scheme, self._url).strip("/")
        if not bucket_and_prefix:
            raise UsageError(f"quarantine location {loc!r}: name a bucket "
                             f"({self._scheme}://bucket/prefix)")
        self._base = re.sub(r"/+", "/", bucket_and_prefix)
        self.root = f"{self._scheme}://{self._base}"

    def __repr__(self) -> str:
        return f"Quarantine({str(self.root)!r})"

    @property
    def fs(self) -> Any:
        """The fsspec filesystem of a remote root (None for a local one), built by
        ``datamill.store.remote`` like every other location of its scheme."""
        if self.remote and self._storage is None:
            from datamill.store import remote

            self._storage = remote.filesystem(self._scheme, self._url,
                                              feature="a quarantine location")
        return self._storage

    def _key(self, url: str) -> str:
        from datamill.store import remote

        return remote.strip(self._scheme, url)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_storage": None}

    @property
    def folder(self) -> Path | str:
        """``<root>/quarantine``: a Path, or an ``s3://`` URL."""
        if self.remote:
            return f"{self.root}/quarantine"
        return Path(self.root) / "quarantine"

    def write(self, bad: pa.Table, *, source: str, run_id: str | None = None,
              task_key: str | None = None) -> str | None:
        """Write ``bad`` (rows with their ``_dm_*`` reasons); returns the file path (an
        ``s3://`` URL for a remote root), or None when there is nothing to write."""
        if bad.num_rows == 0:
            return None
        n = bad.num_rows
        now = dt.datetime.now(dt.UTC)
        meta = {
            "_dm_source": pa.array([source] * n, pa.string()),
            "_dm_run_id": pa.array([run_id] * n, pa.string()),
            "_dm_task": pa.array([task_key] * n, pa.string()),
            "_dm_quarantined_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
        }
        table = bad
        for name, arr in meta.items():
            if name in table.column_names:
                table = table.drop_columns([name])
            table = table.append_column(name, arr)
        prefix = _safe(run_id) if run_id else now.strftime("%Y%m%dT%H%M%S")
        if self.remote:
            return self._write_remote(table, slug(source), prefix)
        return self._write_local(table, slug(source), prefix)

    def _write_local(self, table: pa.Table, dataset: str, prefix: str) -> str:
        folder = Path(self.folder) / dataset
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".tmp-{uuid.uuid4().hex}.parquet"
        pq.write_table(table, tmp)
        try:
            k = 1 + max((_number(p.name, prefix) for p in folder.glob(f"{prefix}-*.parquet")),
                        default=0)
            while True:
                final = folder / f"{prefix}-{k}.parquet"
                try:
                    os.link(tmp, final)  # fails if the name is taken: no overwrite
                    break
                except FileExistsError:
                    k += 1
        finally:
            tmp.unlink(missing_ok=True)
        return str(final)

    def _write_remote(self, table: pa.Table, dataset: str, prefix: str) -> str:
        from datamill.store import remote

        fs = self.fs
        key = (f"{self._base}/quarantine/{dataset}/"
               f"{prefix}-{_unique_ns():020d}-{uuid.uuid4().hex[:8]}.parquet")
        if remote.bucket_missing(fs, self._scheme, key):
            raise UsageError(f"bucket {self._base.split('/', 1)[0]!r} does not exist (or is "
                             f"not visible with these credentials): cannot quarantine to "
                             f"{self.root}")
        fd, tmp = tempfile.mkstemp(prefix="datamill-quarantine-", suffix=".parquet")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            fs.put_file(tmp, key)  # one PUT (or a multipart upload): all or nothing
        finally:
            os.unlink(tmp)
        return f"{self._scheme}://{key}"

    def files(self, source: str | None = None, run_id: str | None = None) -> list[Any]:
        """Quarantine files (of one dataset, one run), ordered by run then write order:
        Paths for a local root, ``s3://`` URLs for a remote one."""
        safe = _safe(run_id) if run_id else None
        if self.remote:
            base = f"{self._base}/quarantine" + (f"/{slug(source)}" if source else "")
            depth = 1 if source else 2
            try:
                found = self.fs.find(base)
            except FileNotFoundError:
                found = []
            items = []
            for p in found:
                rel = p[len(base):].strip("/").split("/")
                if len(rel) == depth and rel[-1].endswith(".parquet") and \
                        not rel[-1].startswith(".tmp-"):
                    items.append(("/".join(rel[:-1]), rel[-1], f"{self._scheme}://{p}"))
        else:
            base_p = Path(self.folder) / slug(source) if source else Path(self.folder)
            if not base_p.exists():
                return []
            pattern = "*.parquet" if source else "*/*.parquet"
            items = [(p.parent.name if not source else "", p.name, p)
                     for p in base_p.glob(pattern) if not p.name.startswith(".tmp-")]
        if safe:
            items = [i for i in items if _name_key(i[1])[0] == safe]
        items.sort(key=lambda i: (i[0], *_name_key(i[1])))
        return [i[2] for i in items]

    def runs(self, source: str | None = None) -> list[str]:
        """Run ids (as written in file names) that quarantined rows, newest first (run ids
        sort by their start time)."""
        found = {_name_key(Path(str(p)).name)[0] for p in self.files(source)}
        return sorted(found, reverse=True)

    def discard(self, source: str, run_id: str) -> int:
        """Delete the files one run wrote for one dataset (a retried or resumed load that
        reads its rows again writes them again); returns how many were deleted."""
        found = self.files(source, run_id)
        if self.remote and found:
            self.fs.rm([self._key(str(p)) for p in found])
        else:
            for p in found:
                Path(p).unlink(missing_ok=True)
        return len(found)

    def _read_file(self, path: Any) -> pa.Table:
        if not self.remote:
            return pq.read_table(path)
        with self.fs.open(self._key(str(path)), "rb") as f:
            return pq.read_table(f)

    def read(self, source: str | None = None, run_id: str | None = None) -> pa.Table:
        """All quarantined rows (of one dataset, one run), oldest file first."""
        tables = [self._read_file(p) for p in self.files(source, run_id)]
        if source:
            tables = [t.filter(pc.equal(t.column("_dm_source"), source)) for t in tables]
        if run_id:
            tables = [t.filter(pc.equal(t.column("_dm_run_id"), run_id)) for t in tables]
        if not tables:
            return pa.table({name: pa.array([], pa.string()) for name in
                             ("_dm_rule", "_dm_reason", "_dm_column", *META_COLUMNS[:3])})
        return pa.concat_tables(tables, promote_options="permissive")


def _number(name: str, prefix: str) -> int:
    stem = name[len(prefix) + 1:-len(".parquet")]
    return int(stem) if stem.isdigit() else 0


def read_quarantine(location: str | Path, source: str | None = None,
                    run_id: str | None = None) -> pa.Table:
    """Read back quarantined rows written under ``location`` (a folder or ``s3://`` URL)."""
    return Quarantine(location).read(source, run_id)


def write_quarantine(location: str | Path, bad: pa.Table, **kw: Any) -> str | None:
    return Quarantine(location).write(bad, **kw)
