"""Plain records of the run store and the one state vocabulary shared by runs and tasks.

Records mirror the tables of ``schema.py`` one to one; datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

__all__ = [
    "AttemptRecord",
    "LineageRecord",
    "MetricRecord",
    "RunRecord",
    "State",
    "TaskRunRecord",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


class State(enum.StrEnum):
    """The state of a run, a task run or an attempt; the value is what the store holds."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    CACHED = "cached"
    CANCELLED = "cancelled"

    #: The states in which a run or task is finished (attached below the class).
    terminal: ClassVar[frozenset[State]]

    @property
    def is_done(self) -> bool:
        """True when nothing more will happen to the run or task in this state."""
        return self in _TERMINAL


_TERMINAL: frozenset[State] = frozenset(
    {
        State.SUCCEEDED,
        State.FAILED,
        State.UPSTREAM_FAILED,
        State.SKIPPED,
        State.CACHED,
        State.CANCELLED,
    }
)
State.terminal = _TERMINAL

#: The states a whole run can end in (``RunStore.finish_run`` accepts only these).
RUN_FINAL_STATES: frozenset[State] = frozenset({State.SUCCEEDED, State.FAILED, State.CANCELLED})


@dataclass(slots=True)
class RunRecord:
    """One run of a pipeline: who started it, where it runs, and how it ended."""

    run_id: str
    pipeline: str
    params: dict[str, Any] = field(default_factory=dict)
    state: State = State.PENDING
    trigger: str = "manual"
    parent_run_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    heartbeat_at: datetime | None = None
    host: str | None = None
    pid: int | None = None
    error: str | None = None
    project: str | None = None
    #: Options a resume honours: ``{"force": [task, ...], "only": [task, ...]}``.
    options: dict[str, Any] | None = None
    #: Start token of the driver process (see ``store.liveness``), against pid reuse.
    pid_start: str | None = None


@dataclass(slots=True)
class TaskRunRecord:
    """One task instance within a run (``task_key`` is ``load[3fa9c1]`` for a mapped one)."""

    run_id: str
    task_key: str
    task: str
    state: State = State.PENDING
    map_key: str | None = None
    fingerprint: str | None = None
    data_version: str | None = None
    checkpoint: str | None = None
    type_tag: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    attempts: int = 0
    rows_in: int | None = None
    rows_out: int | None = None
    bytes: int | None = None
    error: str | None = None
    traceback: str | None = None
    #: The run whose checkpoint this cached task reused (this run's id within a resume).
    cached_from_run: str | None = None
    #: A readable label of a mapped instance's item (``jan.csv``, ``2024-05``).
    label: str | None = None
    #: Seconds the task's attempts waited for a worker (``duration_s`` is execution time).
    queued_s: float | None = None


@dataclass(slots=True)
class AttemptRecord:
    """One attempt of a task instance; retries add attempts 2, 3, ...

    ``queued_at`` is when it was handed to the executor, ``started_at`` when it really
    started (a worker picked it up), ``duration_s`` the execution time from then on.
    """

    run_id: str
    task_key: str
    attempt: int
    state: State = State.RUNNING
    started_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: float | None = None
    error: str | None = None
    traceback: str | None = None
    log_path: str | None = None
    queued_at: datetime | None = None
    #: ``host:pid:start`` of the worker process running it (process tasks), else None.
    worker: str | None = None


@dataclass(slots=True)
class LineageRecord:
    """One lineage edge: a task of a run read (``input``) or wrote (``output``) a dataset."""

    run_id: str
    task_key: str
    dataset: str
    direction: str
    schema: dict[str, Any] | list[Any] | None = None
    rows: int | None = None
    recorded_at: datetime = field(default_factory=utcnow)
    id: int | None = None


@dataclass(slots=True)
class MetricRecord:
    """One metric value recorded by a run (``task_key`` None for run-level metrics)."""

    run_id: str
    name: str
    value: float
    task_key: str | None = None
    labels: dict[str, Any] | None = None
    recorded_at: datetime = field(default_factory=utcnow)
    id: int | None = None
