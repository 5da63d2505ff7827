"""What travels between the driver and workers: a task call out, an outcome back.

Both are plain dataclasses that pickle small: inputs travel by reference (checkpoint
metadata) whenever a checkpoint exists, by value only between threads of one process
or for outputs that are not checkpointed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class InputRef:
    """An input of a task call: a value in memory, a checkpoint, or a list of inputs (collect)."""

    kind: str  # "value" | "ckpt" | "list"
    value: Any = None  # the value / CheckpointMeta / list[InputRef]
    key: str = ""  # the upstream task key, for error messages and corrupt-checkpoint recovery


@dataclass(slots=True)
class TaskCall:
    """One attempt of one task instance, as handed to an executor."""

    run_id: str
    pipeline: str
    task: str
    key: str
    attempt: int
    fn: Any
    fingerprint: str
    params: dict[str, Any]
    inputs: dict[str, InputRef]
    context_param: str | None = None
    map_key: str | None = None
    checkpoint: bool = True
    serializer: str | None = None
    reuse: Any = None  # a cache.Reuse: the worker may take a checkpoint under the fingerprint
    return_value: bool = True  # send the value back (threads: free; processes: only if no checkpoint)
    artifacts_root: str = ""
    secrets: tuple[str, ...] = ()
    state: dict[str, Any] = field(default_factory=dict)  # saved state snapshot of the pipeline
    is_async: bool = False
    timeout: float | None = None
    log_level: int = 20


@dataclass(slots=True)
class Outcome:
    """What a worker reports for one attempt: state, checkpoint metadata, timings, side data."""

    key: str
    attempt: int
    state: str  # succeeded | cached | failed | skipped
    started_at: float = 0.0
    ended_at: float = 0.0
    meta: Any = None  # CheckpointMeta when checkpointed
    value: Any = None
    has_value: bool = False
    rows_in: int | None = None
    rows_out: int | None = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    corrupt_input: str | None = None  # upstream key whose checkpoint failed verification
    log_path: str | None = None
    lineage: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[tuple[str, float, dict[str, str] | None]] = field(default_factory=list)
    state_updates: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return max(0.0, self.ended_at - self.started_at)
