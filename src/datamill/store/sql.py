"""Every query of the run store, written once as SQL text with named parameters.

The same text runs on both dialects: the standard library's ``sqlite3`` executes it for the
embedded SQLite store (its hot path imports neither SQLAlchemy nor alembic, see
docs/run-store.md for the measured reason), and SQLAlchemy's ``text()`` executes it on
PostgreSQL. So the text sticks to what SQLite (3.24+) and PostgreSQL agree on: double-quoted
identifiers, ``INSERT ... ON CONFLICT (...) DO UPDATE SET c = excluded.c``, ``LIMIT :n``,
``LIKE ... ESCAPE '/'``. Values are converted at the edge by the backend (``backends.py``):
timestamps, JSON.

Column lists come from the record dataclasses (``records.py``), which mirror the tables of
``schema.py`` one to one (a test checks that they agree).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from datamill.store.records import (
    AttemptRecord,
    LineageRecord,
    MetricRecord,
    RunRecord,
    TaskRunRecord,
)

__all__ = ["COLUMNS", "KINDS", "PRIMARY_KEYS", "in_list", "insert", "upsert"]


def _fields(cls: type, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in skip)


def _kinds(cls: type) -> dict[str, str]:
    """Columns that need converting: ``datetime`` and ``json`` (from the annotations)."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        ann = str(f.type)
        if "datetime" in ann:
            out[f.name] = "datetime"
        elif ann.startswith(("dict", "list")):
            out[f.name] = "json"
    return out


#: The columns of each table, in table order (``id`` of lineage and metrics included).
COLUMNS: dict[str, tuple[str, ...]] = {
    "runs": _fields(RunRecord),
    "task_runs": _fields(TaskRunRecord),
    "attempts": _fields(AttemptRecord),
    "lineage": ("id", *_fields(LineageRecord, ("id",))),
    "metrics": ("id", *_fields(MetricRecord, ("id",))),
    "saved_state": ("namespace", "key", "value", "run_id", "updated_at"),
}
#: Columns whose values the backend converts, per table: ``datetime`` or ``json``.
KINDS: dict[str, dict[str, str]] = {
    "runs": _kinds(RunRecord),
    "task_runs": _kinds(TaskRunRecord),
    "attempts": _kinds(AttemptRecord),
    "lineage": _kinds(LineageRecord),
    "metrics": _kinds(MetricRecord),
    "saved_state": {"value": "json", "updated_at": "datetime"},
}
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",),
    "task_runs": ("run_id", "task_key"),
    "attempts": ("run_id", "task_key", "attempt"),
    "lineage": ("id",),
    "metrics": ("id",),
    "saved_state": ("namespace", "key"),
}


def q(name: str) -> str:
    """A double-quoted identifier (``trigger``, ``key``, ``schema`` are keywords somewhere)."""
    return f'"{name}"'


def cols(table: str, skip: tuple[str, ...] = ()) -> str:
    return ", ".join(q(c) for c in COLUMNS[table] if c not in skip)


def insert(table: str, skip: tuple[str, ...] = ()) -> str:
    """``INSERT`` of every column (but ``skip``) from parameters named as the columns."""
    names = [c for c in COLUMNS[table] if c not in skip]
    return (f"INSERT INTO {table} ({', '.join(q(c) for c in names)}) "
            f"VALUES ({', '.join(':' + c for c in names)})")


def upsert(table: str) -> str:
    """Insert, or update every non-key column when the primary key exists."""
    pk = PRIMARY_KEYS[table]
    rest = [c for c in COLUMNS[table] if c not in pk]
    sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in rest)
    return f"{insert(table)} ON CONFLICT ({', '.join(q(c) for c in pk)}) DO UPDATE SET {sets}"


def in_list(name: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:
    """``(:name0, :name1, ...)`` and its parameters, for ``col IN ...``."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(":" + k for k in params) + ")", params


def like_prefix(prefix: str) -> str:
    """A ``LIKE ... ESCAPE '/'`` pattern matching values that start with ``prefix``."""
    return prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


def where(conds: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conds)}" if conds else ""


# -- runs --------------------------------------------------------------------------------------

RUN_INSERT = insert("runs")
RUN_SELECT = f"SELECT {cols('runs')} FROM runs"
RUN_BY_ID = f"{RUN_SELECT} WHERE run_id = :run_id"
RUN_BY_PREFIX = (f"{RUN_SELECT} WHERE run_id LIKE :pattern ESCAPE '/' "
                 "ORDER BY created_at DESC LIMIT 50")
RUN_EXISTS = "SELECT run_id FROM runs WHERE run_id = :run_id"
RUN_FINISH = ("UPDATE runs SET state = :state, ended_at = :ended_at, error = :error "
              "WHERE run_id = :run_id")
RUN_ORDER = " ORDER BY created_at DESC, run_id DESC"
RUN_GC_SELECT = "SELECT run_id, pipeline, state, heartbeat_at, created_at FROM runs"
RUN_GC_ORDER = " ORDER BY pipeline, created_at DESC, run_id DESC"


def heartbeat(ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """Beat the running runs among ``ids`` (a finished run is never revived)."""
    frag, params = in_list("id", ids)
    return f"UPDATE runs SET heartbeat_at = :at WHERE state = 'running' AND run_id IN {frag}", params


def list_runs(pipeline: bool, state: bool, limit: bool) -> str:
    conds = [c for c, on in (("pipeline = :pipeline", pipeline), ("state = :state", state)) if on]
    return RUN_SELECT + where(conds) + RUN_ORDER + (" LIMIT :limit" if limit else "")


def claim(seen: dict[str, Any], states: Sequence[str], trigger: bool) -> tuple[str, dict[str, Any]]:
    """The compare-and-set of a resume claim: the row must still be as ``seen`` (encoded
    values of state, heartbeat_at, host, pid; None compares as IS NULL on both dialects)."""
    frag, params = in_list("ok", states)
    conds = ["run_id = :run_id", "state = :seen_state", f"state IN {frag}"]
    for col in ("heartbeat_at", "host", "pid"):
        if seen[col] is None:
            conds.append(f"{q(col)} IS NULL")
        else:
            conds.append(f"{q(col)} = :seen_{col}")
            params[f"seen_{col}"] = seen[col]
    params["seen_state"] = seen["state"]
    sets = ["state = 'running'", "host = :host", "pid = :pid", "pid_start = :pid_start",
            "heartbeat_at = :now", "started_at = COALESCE(started_at, :now)",
            "ended_at = NULL", "error = NULL"]
    if trigger:
        sets.append(f"{q('trigger')} = :trigger")
    return f"UPDATE runs SET {', '.join(sets)}" + where(conds), params


# -- task runs, attempts, lineage, metrics, saved state -----------------------------------------

TASK_UPSERT = upsert("task_runs")
ATTEMPT_UPSERT = upsert("attempts")
STATE_UPSERT = upsert("saved_state")
LINEAGE_INSERT = insert("lineage", skip=("id",))
METRIC_INSERT = insert("metrics", skip=("id",))

TASK_RUNS = (f"SELECT {cols('task_runs')} FROM task_runs WHERE run_id = :run_id "
             "ORDER BY started_at IS NULL, started_at, task_key")
CHECKPOINT_PRODUCER = (
    "SELECT t.run_id, t.state, t.cached_from_run FROM task_runs t "
    "JOIN runs r ON r.run_id = t.run_id "
    "WHERE t.fingerprint = :fingerprint AND t.task = :task AND r.pipeline = :pipeline "
    "AND t.state IN ('succeeded', 'cached')")
CHECKPOINT_PRODUCER_ORDER = " ORDER BY t.ended_at DESC LIMIT 1"


def attempts(task_key: bool) -> str:
    conds = ["run_id = :run_id"] + (["task_key = :task_key"] if task_key else [])
    return f"SELECT {cols('attempts')} FROM attempts" + where(conds) + " ORDER BY task_key, attempt"


def lineage(dataset: bool, run_id: bool) -> str:
    conds = [c for c, on in (("dataset = :dataset", dataset), ("run_id = :run_id", run_id)) if on]
    return f"SELECT {cols('lineage')} FROM lineage" + where(conds) + " ORDER BY recorded_at, id"


METRICS = (f"SELECT {cols('metrics')} FROM metrics WHERE run_id = :run_id "
           "ORDER BY recorded_at, id")
STATE_GET = 'SELECT value FROM saved_state WHERE namespace = :namespace AND "key" = :key'
STATE_ITEMS = ('SELECT "key", value FROM saved_state WHERE namespace = :namespace '
               'ORDER BY "key"')

# -- garbage collection ------------------------------------------------------------------------

#: Children first: they reference runs (ON DELETE CASCADE is not relied on).
RUN_CHILDREN = ("metrics", "lineage", "attempts", "task_runs")


def delete_runs(table: str, ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    frag, params = in_list("id", ids)
    return f"DELETE FROM {table} WHERE run_id IN {frag}", params


REFERENCED_CHECKPOINTS = "SELECT DISTINCT checkpoint FROM task_runs WHERE checkpoint IS NOT NULL"

# -- the catalogue (catalog.py) ----------------------------------------------------------------

CATALOG_LINEAGE = (
    'SELECT l.dataset, l.direction, l."schema", l."rows", l.recorded_at, '
    " l.task_key, l.run_id, "
    "r.pipeline FROM lineage l JOIN runs r ON l.run_id = r.run_id")
CATALOG_LINEAGE_ORDER = " ORDER BY l.recorded_at"
CATALOG_WRITE_MODES = ("SELECT run_id, task_key, labels FROM metrics WHERE name = :name "
                       "ORDER BY id")
CATALOG_REPORTS = ("SELECT task_key, dataset FROM lineage WHERE run_id = :run_id "
                   "AND direction = 'output' ORDER BY id")

# -- schema version ----------------------------------------------------------------------------

SCHEMA_VERSIONS = "SELECT version_num FROM alembic_version"
