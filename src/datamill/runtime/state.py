"""What the driver keeps of one run: its options and one record per task instance.

An :class:`Inst` is the driver's working copy of a task instance (state, attempts,
timings, checkpoint metadata); store rows, results and events are built from it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from datamill.core.pipeline import Node
from datamill.store.records import State


def new_run_id() -> str:
    """Sortable, unique run ids: UTC time + random suffix (``20261127T154210-3f9a2c``)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


@dataclass(slots=True)
class Inst:
    """One task instance inside a run."""

    node: Node
    key: str
    map_key: str | None = None
    item: Any = None
    item_ref: str | None = None  # element-wise: the source instance key
    state: State = State.PENDING
    attempt: int = 0
    fingerprint: str | None = None
    meta: Any = None
    data_version: str | None = None
    handle: Any = None
    queued: float | None = None  # the current attempt was handed to the executor
    started: float | None = None  # ... and really started (None while it waits)
    first_started: float | None = None  # first handed over (None: never submitted)
    first_run: float | None = None  # first really started
    exec_s: float = 0.0  # execution time of all attempts
    wait_s: float = 0.0  # queue wait of all attempts
    worker: str | None = None
    label: str | None = None
    ended: float | None = None
    error: str | None = None
    traceback: str | None = None
    rows_in: int | None = None
    rows_out: int | None = None
    recovered: bool = False
    cached_from: str | None = None
    reuse_record: Any = None
    last_log: str | None = None
    base_attempt: int = 0  # attempts that do not count against retries (resume, recovery)
    corrupt_hits: int = 0


@dataclass
class EngineOptions:
    workers: int | None = None
    checkpoint: bool = True
    fail_fast: bool | None = None
    only: list[str] = field(default_factory=list)
    force: list[str] = field(default_factory=list)
    trigger: str = "manual"
    pools: dict[str, int] = field(default_factory=dict)
    handle_signals: bool = True
    secret_env: list[str] = field(default_factory=list)  # env vars whose values are redacted
    openlineage: Any = None  # an openlineage.Emitter, when configured
