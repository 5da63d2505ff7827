"""Recording a run in the run store: the store's listener, and the records it writes.

The driver writes every store row (docs/design-notes.md: workers write checkpoints and
logs, never rows), through one batching ``StoreWriter`` per run. The writes follow the
run's events: the run row at ``RunStarted``, a task run row whenever an instance is
queued, retried or finished, an attempt row when an attempt starts on a named worker (a
resume after a crash must find the worker it may wait for) and when it ends, lineage,
metrics and saved state as the driver learns them, and the run's end last, once the
writer has flushed. The recorder is the one ``critical`` listener: a run that cannot be
recorded fails instead of going on unrecorded.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from datamill.runtime import events as ev
from datamill.runtime.listeners import RunListener
from datamill.runtime.logs import redact
from datamill.runtime.result import RunResult, TaskResult
from datamill.store.records import AttemptRecord, RunRecord, State, TaskRunRecord


def dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def run_record(e: Any, now: datetime | None) -> RunRecord:
    """The store row of a new run of engine ``e`` (parameters redacted, options kept for a
    resume)."""
    import os
    import socket

    from datamill.core.params import to_jsonable
    from datamill.runtime.resume import run_options
    from datamill.runtime.rules import _driver_token

    return RunRecord(
        run_id=e.run_id, pipeline=e.p.name, params=to_jsonable(e.p.redact(e.params)),
        state=State.RUNNING, trigger=e.opts.trigger, created_at=now, started_at=now,
        heartbeat_at=now, host=socket.gethostname(), pid=os.getpid(),
        project=e.target, pid_start=_driver_token(),
        options=run_options(e.opts.force, e.forced, e.opts.only),
    )


def task_run_record(inst: Any, run_id: str, secrets: tuple[str, ...]) -> TaskRunRecord:
    """The store row of a task instance as it stands (errors masked)."""
    meta = inst.meta
    done = inst.state.is_done
    return TaskRunRecord(
        run_id=run_id, task_key=inst.key, task=inst.node.name, state=inst.state,
        map_key=inst.map_key, fingerprint=inst.fingerprint, data_version=inst.data_version,
        checkpoint=meta.path if meta is not None else None,
        type_tag=meta.type_tag if meta is not None else None,
        started_at=dt(inst.first_run or inst.first_started),
        ended_at=dt(inst.ended) if done else None,
        duration_s=round(inst.exec_s, 6) if done and inst.first_started else None,
        queued_s=round(inst.wait_s, 6) if done and inst.first_started else None,
        label=inst.label,
        attempts=inst.attempt, rows_in=inst.rows_in, rows_out=inst.rows_out,
        bytes=meta.bytes if meta is not None else None,
        error=redact(inst.error, secrets) if inst.error else None,
        traceback=inst.traceback, cached_from_run=inst.cached_from,
    )


def task_result(inst: Any, run_id: str) -> TaskResult:
    """The TaskResult of an instance as it stands: what its hooks and listeners receive when
    it finishes, and what the RunResult holds for it (the same object)."""
    return TaskResult(key=inst.key, task=inst.node.name, state=inst.state, attempts=inst.attempt,
                      duration=round(inst.exec_s, 6), queued=round(inst.wait_s, 6),
                      label=inst.label, error=inst.error, traceback=inst.traceback,
                      fingerprint=inst.fingerprint, data_version=inst.data_version,
                      meta=inst.meta, map_key=inst.map_key, run_id=run_id,
                      log_path=inst.last_log)


class StoreRecorder(RunListener):
    """Writes the run's events to the run store (``critical``: its errors fail the run)."""

    critical = True

    def __init__(self, store: Any):
        self.store = store
        self.writer: Any = None

    def on_run_started(self, event: ev.RunStarted) -> None:
        from datamill.store.writer import StoreWriter

        if event.record is not None:
            self.store.create_run(event.record)
        self.writer = StoreWriter(self.store)
        self.writer.heartbeat(event.run_id)

    def on_task_queued(self, event: ev.TaskQueued) -> None:
        self.writer.put_task_run(event.record)

    def on_task_started(self, event: ev.TaskStarted) -> None:
        if event.worker is not None:
            # recorded at once: a resume after a crash must find the worker it may wait for
            self.writer.put_attempt(AttemptRecord(
                event.run_id, event.key, event.attempt, state=State.RUNNING,
                started_at=dt(event.started_at), queued_at=dt(event.queued_at),
                worker=event.worker))

    def on_attempt_finished(self, event: ev.AttemptFinished) -> None:
        self.writer.put_attempt(event.record)

    def on_attempt_retried(self, event: ev.AttemptRetried) -> None:
        self.writer.put_task_run(event.record)

    def on_checkpoint_written(self, event: ev.CheckpointWritten) -> None:
        if event.record is not None:  # a background write made durable at the run's end
            self.writer.put_task_run(event.record)

    def on_lineage_recorded(self, event: ev.LineageRecorded) -> None:
        self.writer.put_lineage(event.record)

    def on_metric_recorded(self, event: ev.MetricRecorded) -> None:
        self.writer.put_metric(event.record)

    def on_state_saved(self, event: ev.StateSaved) -> None:
        self.writer.put_state(event.pipeline, event.name, event.value, event.run_id)

    def on_task_finished(self, event: ev.TaskFinished) -> None:
        self.writer.put_task_run(event.record)

    def on_run_finished(self, event: ev.RunFinished) -> None:
        for rec in event.closed:
            self.writer.put_task_run(rec)
        try:
            self.writer.close()
        finally:
            self.store.finish_run(event.run_id, event.state, error=event.error)


def run_result(e: Any, state: State, started: float) -> RunResult:
    """The RunResult of engine ``e``'s run: every instance of this run (not the ``--only``
    outputs taken from others), and the in-memory outputs of its leaf tasks."""
    tasks = {}
    finished = e.results  # built when each instance finished
    for k, inst in e.insts.items():
        if inst.node.name in e.external:
            continue
        done = finished.get(k)
        tasks[k] = done if done is not None and done.state == inst.state \
            else task_result(inst, e.run_id)
    leaves = {n for n in e.selected if e.consumers_left.get(n, 0) == 0}
    values = {k: v for k, v in e.values.items() if e.insts[k].node.name in leaves}
    return RunResult(
        run_id=e.run_id, pipeline=e.p.name, state=state, tasks=tasks,
        node_keys={n: list(e.node_keys.get(n, [])) for n in e.p.nodes if n in e.selected},
        started=started, ended=time.time(), values=values, artifacts=e.artifacts,
        error=e.cancel_reason or None, listener_errors=e.listeners.errors,
    )


def failure_summary(e: Any) -> str | None:
    """A failed run's error: its first failed task's, masked."""
    from datamill.runtime.resume import failure_summary as summary_of

    failed = [i for i in e.insts.values() if i.state == State.FAILED and i.error]
    summary = summary_of(failed)
    return redact(summary, e.secrets) if summary else None
