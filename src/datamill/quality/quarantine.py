"""Quarantine: bad rows kept as Parquet files with why, where from, which run and when.

Layout: ``<root>/quarantine/<dataset-slug>/<run_id>-<n>.parquet``. Each file is written
to a temporary name and linked into place, so a reader never sees half a file and two
writers never take the same name.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datamill.errors import UsageError

META_COLUMNS = ("_dm_source", "_dm_run_id", "_dm_task", "_dm_quarantined_at")


def slug(dataset: str) -> str:
    """A folder name for a dataset identity (URL, path or name)."""
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", dataset.strip().lower())
    text = re.sub(r"[^a-z0-9._-]+", "-", text).strip("-.")
    return text[:120] or "dataset"


class Quarantine:
    """Where rejected rows go; ``root`` is a local folder (a project or artifact root)."""

    def __init__(self, location: str | Path):
        loc = str(location)
        if loc.startswith("file://"):
            loc = loc[len("file://"):]
        elif "://" in loc:
            raise UsageError(f"quarantine location {loc!r}: only local folders are supported")
        self.root = Path(loc)

    def __repr__(self) -> str:
        return f"Quarantine({str(self.root)!r})"

    @property
    def folder(self) -> Path:
        return self.root / "quarantine"

    def write(self, bad: pa.Table, *, source: str, run_id: str | None = None,
              task_key: str | None = None) -> str | None:
        """Write ``bad`` (rows with their ``_dm_*`` reasons); returns the file path, or
        None when there is nothing to write."""
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
        folder = self.folder / slug(source)
        folder.mkdir(parents=True, exist_ok=True)
        prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id) if run_id else \
            now.strftime("%Y%m%dT%H%M%S")
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

    def files(self, source: str | None = None, run_id: str | None = None) -> list[Path]:
        base = self.folder / slug(source) if source else self.folder
        if not base.exists():
            return []
        pattern = "*.parquet" if source else "*/*.parquet"
        out = [p for p in base.glob(pattern) if not p.name.startswith(".tmp-")]
        if run_id:
            safe = re.sub(r"[^A-Za-z0-9._-]+", "-", run_id)
            out = [p for p in out if p.name.startswith(f"{safe}-")]
        return sorted(out)

    def read(self, source: str | None = None, run_id: str | None = None) -> pa.Table:
        """All quarantined rows (of one dataset, one run), oldest file first."""
        tables = [pq.read_table(p) for p in self.files(source, run_id)]
        if source:
            tables = [t.filter(pc.equal(t.column("_dm_source"), source)) for t in tables]
        if not tables:
            return pa.table({name: pa.array([], pa.string()) for name in
                             ("_dm_rule", "_dm_reason", "_dm_column", *META_COLUMNS[:3])})
        return pa.concat_tables(tables, promote_options="permissive")


def _number(name: str, prefix: str) -> int:
    stem = name[len(prefix) + 1:-len(".parquet")]
    return int(stem) if stem.isdigit() else 0


def read_quarantine(location: str | Path, source: str | None = None,
                    run_id: str | None = None) -> pa.Table:
    """Read back quarantined rows written under ``location``."""
    return Quarantine(location).read(source, run_id)


def write_quarantine(location: str | Path, bad: pa.Table, **kw: Any) -> str | None:
    return Quarantine(location).write(bad, **kw)
