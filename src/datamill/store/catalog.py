"""The dataset catalogue, derived from the lineage rows every read and write records.

A dataset is its normalised identity (URL + table or path, passwords removed). The
catalogue answers: which datasets exist, their last known schema and row count, when and
by which pipeline they were last written, how fresh they are, and what produced and
consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from datamill.errors import UsageError
from datamill.store import sql


@dataclass
class DatasetInfo:
    """One dataset of the catalogue."""

    dataset: str
    schema: Any = None
    rows: int | None = None
    last_written: datetime | None = None
    last_read: datetime | None = None
    written_by: str | None = None  # "pipeline.task"
    writes: int = 0
    reads: int = 0
    producers: list[str] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)
    rows_exact: bool = True  # False once a merge made ``rows`` a lower bound
    read_rows_only: bool = False  # ``rows`` came from a read (nothing wrote it yet)

    @property
    def freshness_s(self) -> float | None:
        if self.last_written is None:
            return None
        return (datetime.now(UTC) - self.last_written).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset, "schema": self.schema, "rows": self.rows,
            "rows_exact": self.rows_exact,
            "last_written": self.last_written.isoformat() if self.last_written else None,
            "last_read": self.last_read.isoformat() if self.last_read else None,
            "written_by": self.written_by, "writes": self.writes, "reads": self.reads,
            "freshness_seconds": None if self.freshness_s is None else round(self.freshness_s, 1),
            "producers": self.producers, "consumers": self.consumers,
        }


_KINDS = {"schema": "json", "labels": "json", "recorded_at": "datetime"}


def _query(store: Any, query: str, params: dict[str, Any]) -> list[SimpleNamespace]:
    rows = store._rows(query, params, _KINDS)  # noqa: SLF001 - the catalogue is part of the store layer
    return [SimpleNamespace(**r) for r in rows]


def _rows(store: Any, dataset: str | None = None) -> list[Any]:
    query, params = sql.CATALOG_LINEAGE, {}
    if dataset is not None:
        query += " WHERE l.dataset = :dataset"
        params["dataset"] = dataset
    return _query(store, query + sql.CATALOG_LINEAGE_ORDER, params)


def _task(r: Any) -> str:
    return f"{r.pipeline}.{r.task_key.split('[')[0]}"


#: The metric ``datamill.io.write`` records with every write (see ``_write_modes``).
WRITE_METRIC = "dataset_rows_written"


def _write_modes(store: Any) -> dict[tuple[str, str, str], list[str]]:
    """(run, task, dataset) -> the modes of its writes in order, from the metric that
    ``datamill.io.write`` records beside each output lineage row."""
    out: dict[tuple[str, str, str], list[str]] = {}
    for r in _query(store, sql.CATALOG_WRITE_MODES, {"name": WRITE_METRIC}):
        labels = r.labels or {}
        if labels.get("dataset"):
            out.setdefault((r.run_id, r.task_key or "", labels["dataset"]), []).append(
                str(labels.get("mode") or ""))
    return out


def _apply_write(info: DatasetInfo, rows: int | None, mode: str | None) -> None:
    """The dataset's rows after one write: an append adds to the rows since the last
    replace; a replace (or a task's own ``record_output``, which states the rows) sets
    them; a merge updates some rows and adds others, so the count becomes a lower bound."""
    if rows is None:
        return
    if mode == "append" and info.rows is not None:
        info.rows += rows
    elif mode == "merge":
        info.rows = max(info.rows or 0, rows)
        info.rows_exact = False
        return
    else:
        info.rows = rows
    if mode != "append":
        info.rows_exact = True


def list_datasets(store: Any) -> list[DatasetInfo]:
    """Every dataset seen in lineage, newest write first. ``rows`` is the dataset's size:
    the rows of its last replace plus every append since (``rows_exact`` is False once a
    merge made it a lower bound)."""
    out: dict[str, DatasetInfo] = {}
    modes = _write_modes(store)
    for r in _rows(store):
        info = out.setdefault(r.dataset, DatasetInfo(r.dataset))
        if r.direction == "output":
            pending = modes.get((r.run_id, r.task_key, r.dataset))
            mode = pending.pop(0) if pending else None
            if not info.writes and info.read_rows_only:
                info.rows = None  # a read's count gives way to what writes state
            info.writes += 1
            info.last_written = r.recorded_at
            info.written_by = _task(r)
            if r.schema is not None and (r.rows or mode != "append" or info.schema is None):
                info.schema = r.schema
            _apply_write(info, r.rows, mode)
            if _task(r) not in info.producers:
                info.producers.append(_task(r))
        else:
            info.reads += 1
            info.last_read = r.recorded_at
            if info.schema is None and r.schema is not None:
                info.schema = r.schema
            if info.rows is None and r.rows is not None and not info.writes:
                info.rows = r.rows
                info.read_rows_only = True
            if _task(r) not in info.consumers:
                info.consumers.append(_task(r))
    far = datetime.min.replace(tzinfo=UTC)
    return sorted(out.values(), key=lambda i: i.last_written or i.last_read or far, reverse=True)


def find_dataset(store: Any, name: str) -> DatasetInfo:
    """A dataset by its identity, or by a unique substring of it."""
    infos = list_datasets(store)
    exact = [i for i in infos if i.dataset == name]
    if exact:
        return exact[0]
    partial = [i for i in infos if name in i.dataset]
    if len(partial) == 1:
        return partial[0]
    if not partial:
        raise UsageError(f"no dataset {name!r} in the catalogue (datamill datasets lists them)")
    names = ", ".join(i.dataset for i in partial[:8])
    raise UsageError(f"{name!r} matches several datasets: {names}")


def lineage(store: Any, dataset: str, depth: int = 3) -> dict[str, Any]:
    """What produced ``dataset`` (upstream) and what consumes it (downstream), as edges
    ``(from, to)`` between datasets and tasks, up to ``depth`` hops each way."""
    rows = _rows(store)
    reads: dict[str, set[str]] = {}  # task -> datasets it read
    writes: dict[str, set[str]] = {}  # task -> datasets it wrote
    for r in rows:
        (writes if r.direction == "output" else reads).setdefault(_task(r), set()).add(r.dataset)
    edges: set[tuple[str, str]] = set()
    frontier = {dataset}
    for _ in range(depth):  # upstream
        nxt = set()
        for task, outs in writes.items():
            hit = outs & frontier
            for d in hit:
                edges.add((f"task:{task}", d))
            if hit:
                for d in reads.get(task, ()):
                    edges.add((d, f"task:{task}"))
                    nxt.add(d)
        frontier = nxt
        if not frontier:
            break
    frontier = {dataset}
    for _ in range(depth):  # downstream
        nxt = set()
        for task, ins in reads.items():
            hit = ins & frontier
            for d in hit:
                edges.add((d, f"task:{task}"))
            if hit:
                for d in writes.get(task, ()):
                    edges.add((f"task:{task}", d))
                    nxt.add(d)
        frontier = nxt
        if not frontier:
            break
    return {"dataset": dataset, "edges": sorted(edges)}


def run_reports(store: Any, run_id: str) -> list[dict[str, str]]:
    """The reports a run saved (``ctx.save_report``): task and location, in saving order."""
    marker = f"/reports/{run_id}/"
    return [{"task": r.task_key, "location": r.dataset}
            for r in _query(store, sql.CATALOG_REPORTS, {"run_id": run_id})
            if marker in r.dataset]
