"""Run one task attempt where the executor placed it (a thread, a process, a Dask worker).

The worker loads inputs (by reference from checkpoints when it can), calls the function,
writes the checkpoint atomically and returns a small Outcome: results travel by
reference, the driver records store rows.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from typing import Any

from datamill._killpoint import reached
from datamill.core.task import Skip
from datamill.errors import CheckpointCorruptError, missing_extra
from datamill.runtime import logs
from datamill.runtime.calls import InputRef, Outcome, TaskCall
from datamill.runtime.context import RunContext

_log = logging.getLogger("datamill.run")
_stores: dict[str, Any] = {}
# DATAMILL_CHECKPOINT_BACKGROUND=0: every checkpoint is written before its task ends
_BACKGROUND = os.environ.get("DATAMILL_CHECKPOINT_BACKGROUND", "1") != "0"


def artifact_store(root: str) -> Any:
    """One ArtifactStore per root per process."""
    st = _stores.get(root)
    if st is None:
        from datamill.store import background
        from datamill.store.artifacts import ArtifactStore

        background.set_hook(_before_background_write)
        st = _stores[root] = ArtifactStore(root)
    return st


def _rows(value: Any) -> int | None:
    mod = type(value).__module__.split(".")[0]
    if mod in ("pandas", "polars", "pyarrow"):
        try:
            return int(value.shape[0]) if hasattr(value, "shape") else int(value.num_rows)
        except Exception:  # noqa: BLE001
            return None
    return None


def _load(ref: InputRef, store: Any, rows: list[int]) -> Any:
    if ref.kind == "value":
        r = _rows(ref.value)
        if r is not None:
            rows.append(r)
        return ref.value
    if ref.kind == "ckpt":
        meta = ref.value
        try:
            value = store.load_checkpoint(meta)
        except CheckpointCorruptError as exc:
            exc.task = ref.key  # the instance key, so the driver recomputes the right one
            raise
        if meta.rows is not None:
            rows.append(meta.rows)
        return value
    return [_load(r, store, rows) for r in ref.value]


def execute(call: TaskCall, cancel_event: Any = None) -> Outcome:
    """Run the attempt described by ``call`` and report what happened."""
    started = time.time()
    store = artifact_store(call.artifacts_root) if call.artifacts_root else None
    if call.reuse is not None and call.checkpoint and store is not None:
        # the driver's cache policy decided; the worker applies its rule (runtime/cache.py)
        meta = store.read_meta(call.pipeline, call.task, call.fingerprint,
                               serializer=call.serializer)
        if meta is not None and call.reuse.accepts(meta):
            return Outcome(call.key, call.attempt, "cached", started, time.time(), meta=meta,
                           rows_out=meta.rows)
    buf = logs.TaskLogBuffer(call.task, call.key, call.attempt, call.secrets)
    out = Outcome(call.key, call.attempt, "failed", started)
    ctx: RunContext | None = None
    try:
        with logs.capture(buf):
            rows_in: list[int] = []
            kwargs = dict(call.params)
            for pname, ref in call.inputs.items():
                kwargs[pname] = _load(ref, store, rows_in)
            out.rows_in = sum(rows_in) if rows_in else None
            if call.context_param:
                ctx = RunContext(call.run_id, call.pipeline, call.task, call.key, call.attempt,
                                 call.params, call.state, call.secrets, call.map_key, store)
                if cancel_event is not None:
                    ctx._cancel = cancel_event
                kwargs[call.context_param] = ctx
            reached(f"task-start.{call.task}")
            if call.is_async:
                import asyncio  # only async tasks pay its import (~30 ms)

                value = asyncio.run(call.fn(**kwargs))
            else:
                value = call.fn(**kwargs)
            if call.checkpoint and store is not None:
                # a value that stays in this process (call.return_value) goes on to the next
                # task at once; its table checkpoint is written in the background
                out.meta = store.write_checkpoint(
                    call.pipeline, call.task, call.fingerprint, value, serializer=call.serializer,
                    table_format=call.checkpoint if isinstance(call.checkpoint, str) else None,
                    background=call.run_id if call.return_value and _BACKGROUND else None,
                    key=call.key,
                )
                out.rows_out = out.meta.rows
            else:
                out.rows_out = _rows(value)
            if call.return_value or not call.checkpoint:
                out.value, out.has_value = value, True
            out.state = "succeeded"
            reached(f"task-done.{call.task}")
    except Skip as exc:
        out.state = "skipped"
        out.error = exc.reason or "skipped"
    except CheckpointCorruptError as exc:
        out.state = "failed"
        out.error, out.error_type = str(exc), type(exc).__name__
        out.corrupt_input = exc.task
    except BaseException as exc:  # noqa: BLE001 - any task error is an outcome, not a crash
        if isinstance(exc, KeyboardInterrupt | SystemExit) and not isinstance(exc, SystemExit):
            raise
        exc = missing_extra(exc) or exc  # an optional dependency: the pip line, not a trace
        out.state = "failed"
        out.error = logs.redact(f"{type(exc).__name__}: {exc}", buf.secrets)
        out.error_type = type(exc).__name__
        out.traceback = logs.redact(_short_traceback(exc), buf.secrets)
        buf.add("ERROR", out.traceback, "datamill")
    out.ended_at = time.time()
    if ctx is not None:
        out.lineage, out.metrics = ctx.lineage, ctx.metrics
        if out.state == "succeeded":
            out.state_updates = ctx._updates
    if buf.lines and store is not None:
        rel = f"logs/{call.run_id}/{call.key}/{call.attempt}.jsonl"
        try:
            store.write_bytes(rel, buf.to_jsonl())
            out.log_path = rel
        except Exception:  # noqa: BLE001 - logs must never fail a task
            pass
    return out


def _before_background_write(job: Any) -> None:
    reached(f"checkpoint-write.{job.task}")


def settle_checkpoints(engine: Any) -> None:
    """The run's end: wait until every background checkpoint of the run is durable.

    A task whose write succeeded gets its complete meta (and its run-store row its
    checkpoint path, which stays empty until then, so a run killed before durability is
    resumed by recomputing only such tasks). A task whose write failed fails, with the
    write's error, and the run with it; its downstream tasks, which ran on the value in
    memory, keep their own checkpoints, so a resume recomputes only that task.
    """
    from datamill.runtime import events as ev
    from datamill.runtime.recording import task_result, task_run_record
    from datamill.store import background
    from datamill.store.records import State

    run_id, pipeline = engine.run_id, engine.p.name
    for job in background.drain(run_id):
        inst = engine.insts.get(job.key)
        if inst is None or getattr(inst.meta, "job", None) is not job:
            continue  # recomputed since (a later write is the one that counts)
        if job.error is None:
            inst.meta = job.meta
            if inst.key in engine.results:  # the run's result shows the durable checkpoint
                engine.results[inst.key] = task_result(inst, run_id)
            engine._emit(ev.CheckpointWritten(
                run_id, pipeline, inst.key, inst.node.name, inst.meta,
                task_run_record(inst, run_id, engine.secrets)))
            continue
        err = job.error
        inst.meta, inst.data_version = None, None
        inst.state = State.FAILED
        inst.error = (f"the checkpoint of task {job.key!r} could not be written: "
                      f"{type(err).__name__}: {err}")
        _log.error("task %s failed: %s", job.key, inst.error)
        result = engine.results[inst.key] = task_result(inst, run_id)
        engine._emit(ev.TaskFinished(  # its second end: the write failed after the task did
            run_id, pipeline, inst.key, inst.node.name, State.FAILED, inst.label,
            inst.started, True, task_run_record(inst, run_id, engine.secrets), result))


def _short_traceback(exc: BaseException) -> str:
    """The traceback without datamill's own frames (the user's code is what matters)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_globals.get("__name__", "").startswith("datamill.runtime"):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def execute_remote(call: TaskCall, enforce_timeout: bool = False) -> Outcome:
    """Entry point on process and Dask workers: capture installed once per process.

    With ``enforce_timeout`` (Dask, where the driver cannot see when a task starts) the
    attempt runs in a thread and is abandoned at its deadline, as on the local executor.
    """
    if not getattr(execute_remote, "_installed", False):
        logs.install()
        execute_remote._installed = True  # type: ignore[attr-defined]
    if not enforce_timeout or not call.timeout:
        return execute(call)
    import threading

    event = threading.Event()
    box: list[Outcome] = []
    started = time.time()
    th = threading.Thread(target=lambda: box.append(execute(call, event)), daemon=True,
                          name=f"datamill-task-{call.key}")
    th.start()
    th.join(call.timeout)
    if box:
        return box[0]
    event.set()
    return Outcome(call.key, call.attempt, "failed", started, time.time(),
                   error=f"TaskTimeoutError: task {call.key!r} exceeded its timeout of "
                         f"{call.timeout:g}s (attempt {call.attempt})",
                   error_type="TaskTimeoutError")
