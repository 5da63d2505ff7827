"""What a run tells its listeners: one typed dataclass per event (docs/listeners.md).

Events are emitted by the driver, on the thread that called ``datamill.run`` (the
driver thread), in the order things happen. Per task instance the order is
``TaskQueued`` < ``TaskStarted`` < ``AttemptFinished`` < (``AttemptRetried`` and the next
``TaskQueued``...) < ``CheckpointWritten`` < ``LineageRecorded`` / ``MetricRecorded`` /
``StateSaved`` < ``TaskFinished``; any of them but ``TaskFinished`` may be missing (a task
closed without running gets ``TaskFinished`` alone). Everything comes between
``RunStarted`` and ``RunFinished``.

Records (``TaskRunRecord``, ``AttemptRecord``...) are the run store's own dataclasses, as
written; treat events as read-only (they are not copied for each listener).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datamill.runtime.result import RunResult, TaskResult
from datamill.store.records import (
    AttemptRecord,
    LineageRecord,
    MetricRecord,
    RunRecord,
    State,
    TaskRunRecord,
)

__all__ = [
    "AttemptFinished",
    "AttemptRetried",
    "CheckpointWritten",
    "LineageRecorded",
    "MetricRecorded",
    "RunEvent",
    "RunFinished",
    "RunStarted",
    "StateSaved",
    "TaskEvent",
    "TaskExpanded",
    "TaskFinished",
    "TaskQueued",
    "TaskStarted",
]


@dataclass(slots=True)
class RunEvent:
    """Every event names its run and pipeline."""

    run_id: str
    pipeline: str


@dataclass(slots=True)
class RunStarted(RunEvent):
    """The run begins (a new run, or a resume of ``run_id``); ``tasks`` instances are known
    so far (mapped tasks add theirs with ``TaskExpanded``)."""

    tasks: int
    resumed: bool
    trigger: str
    record: RunRecord | None = None  # the run's store row (None for a resume: it exists)
    secrets: tuple[str, ...] = field(default=(), repr=False)  # values a display must mask


@dataclass(slots=True)
class TaskEvent(RunEvent):
    """An event of one task instance: ``key`` is ``task`` or ``task[map key]``."""

    key: str
    task: str


@dataclass(slots=True)
class TaskExpanded(RunEvent):
    """A mapped task learnt its items: it has ``instances`` instances (one was counted in
    ``RunStarted.tasks``)."""

    task: str
    instances: int


@dataclass(slots=True)
class TaskQueued(TaskEvent):
    """An attempt was handed to the executor (it may wait for a worker)."""

    attempt: int
    record: TaskRunRecord


@dataclass(slots=True)
class TaskStarted(TaskEvent):
    """The attempt really started on a worker."""

    attempt: int
    label: str | None
    started_at: float
    queued_at: float | None
    worker: str | None  # a process or Dask worker's id; None for a thread of the driver


@dataclass(slots=True)
class AttemptFinished(TaskEvent):
    """An attempt ended (succeeded, cached, failed, skipped or cancelled); what follows is
    a retry (``AttemptRetried``) or the task's end (``TaskFinished``)."""

    attempt: int
    state: State
    record: AttemptRecord


@dataclass(slots=True)
class AttemptRetried(TaskEvent):
    """A failed attempt will be retried after ``delay`` seconds."""

    attempt: int  # the attempt that failed
    retries: int  # retries the task allows
    delay: float
    error: str | None
    record: TaskRunRecord


@dataclass(slots=True)
class CheckpointWritten(TaskEvent):
    """The worker wrote the instance's output as a checkpoint (``meta``: its path, bytes,
    rows, data version). A checkpoint written in the background becomes durable after its
    task finished: the event then comes at the run's end and carries the instance's
    updated store row (``record``)."""

    meta: Any
    record: TaskRunRecord | None = None


@dataclass(slots=True)
class LineageRecorded(TaskEvent):
    """The task read or wrote a dataset (recorded only for an attempt that succeeded)."""

    record: LineageRecord


@dataclass(slots=True)
class MetricRecorded(TaskEvent):
    """The task recorded a metric (``ctx.metric``)."""

    record: MetricRecord


@dataclass(slots=True)
class StateSaved(TaskEvent):
    """The task saved state for the next run (``ctx.set_state``), committed now."""

    name: str
    value: Any


@dataclass(slots=True)
class TaskFinished(TaskEvent):
    """The instance reached its final state. ``recomputed`` marks the second end of an
    instance whose checkpoint was found corrupt downstream and computed again (its first
    end was reported already)."""

    state: State
    label: str | None
    started_at: float | None  # the last attempt's start; None if it never ran
    recomputed: bool
    record: TaskRunRecord
    result: TaskResult  # what task hooks (on_success / on_failure) receive


@dataclass(slots=True)
class RunFinished(RunEvent):
    """The run ended with ``state``. ``aborted``: the driver itself raised (the exception
    propagates after the listeners had this event). ``closed``: task runs of the resumed
    run that this resume closed as skipped because their task left the pipeline."""

    state: State
    error: str | None
    result: RunResult
    aborted: bool = False
    closed: list[TaskRunRecord] = field(default_factory=list)
