"""The driver's loop: decides what runs next, submits attempts, applies retries,
timeouts, pools and fan-out, and tells its listeners every change.

It runs in the caller's thread and never blocks on task work: executors report
outcomes into a queue; retries and timeouts are timers on a heap. What is not the loop
lives beside it: planning (``planning.py``), the cache policy (``cache.py``), recovery
from corrupt checkpoints (``recovery.py``) and from crashes (``resume.py``), trigger rules
and state arithmetic (``rules.py``), and everything that watches the run, the run store
included, as listeners of its events (``listeners.py``, ``recording.py``, ``events.py``).
"""

from __future__ import annotations

import gc
import heapq
import itertools
import logging
import os
import queue
import random
import time
from collections import deque
from typing import Any

from datamill.core.pipeline import Node, Pipeline
from datamill.errors import TaskTimeoutError
from datamill.runtime import dataflow, fanout, planning, recording, signals
from datamill.runtime import events as ev
from datamill.runtime import resume as resuming
from datamill.runtime.cache import CachePolicy
from datamill.runtime.calls import Outcome, TaskCall
from datamill.runtime.labels import shown
from datamill.runtime.listeners import (
    HooksListener,
    Listeners,
    OpenLineageListener,
    ProgressListener,
)
from datamill.runtime.recording import StoreRecorder, dt, task_result, task_run_record
from datamill.runtime.recovery import InputMissing, Recovery, WaitFor
from datamill.runtime.result import RunResult, TaskResult
from datamill.runtime.rules import (  # noqa: F401 - _aggregate, _meta_from_record: old import paths
    _aggregate,
    _meta_from_record,
    _propagate,
    _trigger,
    run_state,
    upstream_states,
)
from datamill.runtime.state import EngineOptions, Inst, new_run_id
from datamill.runtime.worker import settle_checkpoints
from datamill.store.records import (
    AttemptRecord,
    LineageRecord,
    MetricRecord,
    RunRecord,
    State,
    TaskRunRecord,
)

log = logging.getLogger("datamill.run")

OK = (State.SUCCEEDED, State.CACHED)


class Engine:
    """Runs one pipeline run (new or resumed) to the end."""

    def __init__(
        self,
        pipeline: Pipeline,
        params: dict[str, Any],
        *,
        store: Any,
        artifacts: Any,
        executor: Any,
        options: EngineOptions,
        progress: Any = None,
        run_id: str | None = None,
        resume: RunRecord | None = None,
        target: str | None = None,
        listeners: Any = (),
    ):
        self.p = pipeline
        self.params = params
        self.store = store
        self.artifacts = artifacts
        self.executor = executor
        self.opts = options
        self.progress = progress
        self.resume = resume
        self.run_id = resume.run_id if resume else (run_id or new_run_id())
        self.target = target
        self.fail_fast = pipeline.fail_fast if options.fail_fast is None else options.fail_fast
        self.pools = {**pipeline.pools, **options.pools}
        env_secrets = [os.environ[v] for v in options.secret_env if os.environ.get(v)]
        self.secrets = tuple(pipeline.secret_values(params)) + tuple(env_secrets)
        self._q: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self.insts: dict[str, Inst] = {}
        self.node_keys: dict[str, list[str]] = {}
        self.node_open: dict[str, int] = {}
        self.node_state: dict[str, State] = {}
        self.node_waiting: dict[str, int] = {}
        self.values: dict[str, Any] = {}
        self.results: dict[str, TaskResult] = {}  # per instance, as it finished
        self.consumers_left: dict[str, int] = {}
        self.running = 0
        self.pool_used: dict[str, int] = dict.fromkeys(self.pools, 0)
        self.task_used: dict[str, int] = {}
        self.blocked: deque[Inst] = deque()
        self._ready: deque[str] = deque()
        self.recovery = Recovery(self)
        self.cancelled = False
        self.cancel_reason = ""
        self.finished_nodes = 0
        self._state_snapshot: dict[str, Any] | None = None
        self.forced: set[str] = set()
        self.selected: set[str] = set(pipeline.nodes)
        self.external: set[str] = set()
        self._prev_attempts: dict[str, int] = {}
        self._previous: list[TaskRunRecord] = []
        self.cache: CachePolicy  # made by _plan, once the forced tasks are known
        # who watches the run: the store first, then the built-ins, then the caller's own
        builtin: list[Any] = [StoreRecorder(store)]
        if progress is not None:
            builtin.append(ProgressListener(progress))
        if options.openlineage is not None:
            builtin.append(OpenLineageListener(options.openlineage))
        if HooksListener.needed(pipeline):
            builtin.append(HooksListener(pipeline))
        self.listeners = Listeners([*builtin, *pipeline.listeners, *listeners])
        self._emit = self.listeners.emit
        self._wants = self.listeners.wants
        to = self.listeners.to  # per-event emitters of the per-task path
        self._queued, self._started_ev = to[ev.TaskQueued], to[ev.TaskStarted]
        self._attempt_ev, self._finished_ev = to[ev.AttemptFinished], to[ev.TaskFinished]

    # -- public --------------------------------------------------------------------------------

    def run(self) -> RunResult:
        self._plan()
        started = time.time()
        now = dt(started)
        record = None
        if self.resume is None:
            record = recording.run_record(self, now)
        else:
            try:
                resuming.wait_for_orphans(self.store, self.run_id)
            except BaseException as exc:
                self.store.finish_run(self.run_id, State.FAILED, error=str(exc))
                raise
        self._emit(ev.RunStarted(self.run_id, self.p.name, len(self.selected),
                                 self.resume is not None, self.opts.trigger, record,
                                 self.secrets))
        from datamill.runtime import logs

        logs.install()
        self.executor.check_artifacts(self.artifacts)
        self.executor.start()
        prev_handler = signals.install(self._q, self.opts.handle_signals)
        # everything alive before the run (modules, the pipeline, user data) is moved out of
        # the collector's sight, so the many small objects of a big run do not make each
        # collection rescan it all (a 10,000-task run spent a third of its time in gc)
        gc.freeze()
        error: str | None = None
        aborted = False
        try:
            for name in self.p.nodes:
                if name in self.selected and self.node_waiting[name] == 0:
                    self._ready.append(name)
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - record, then re-raise
            error = f"{type(exc).__name__}: {exc}"
            aborted = True
            self._cancel_all("driver error: " + error)
            raise
        finally:
            gc.unfreeze()
            self.executor.shutdown(cancel=self.cancelled)
            settle_checkpoints(self)  # background checkpoints durable, or tasks failed
            signals.restore(prev_handler)
            logs.uninstall()
            state = run_state(self.cancelled, self.cancel_reason, self.insts.values(),
                              self.finished_nodes, len(self.selected))
            if error is None and self.cancelled and self.cancel_reason.startswith("fail-fast"):
                error = self.cancel_reason
            if error is None and state == State.FAILED:
                error = recording.failure_summary(self)
            elif error is None and state == State.CANCELLED:
                error = self.cancel_reason or None
            closed = []
            if self.resume is not None:
                closed = resuming.removed_records(self._previous, set(self.insts), self.p.nodes,
                                                  set(self.node_state))
            result = recording.run_result(self, state, started)
            self.listeners.emit_all(ev.RunFinished(self.run_id, self.p.name, state, error,
                                                   result, aborted, closed))
            self.listeners.summary()
        return result

    # -- planning ------------------------------------------------------------------------------

    def _plan(self) -> None:
        p = self.p
        sel = planning.select(p, self.opts.only, self.opts.force, self.resume, self.store)
        self.opts.only, self.forced, self.selected = sel.only, sel.forced, sel.selected
        for tname, (run_id, recs) in sel.external.items():
            node = p.nodes[tname]
            self.node_keys[tname] = [r.task_key for r in recs]
            for r in recs:
                self.insts[r.task_key] = Inst(
                    node, r.task_key, map_key=r.map_key, state=State.CACHED,
                    fingerprint=r.fingerprint, data_version=r.data_version,
                    meta=_meta_from_record(p.name, r), cached_from=run_id)
            self.node_state[tname] = State.CACHED
            self.node_open[tname] = 0
            self.external.add(tname)
        for name in self.external:
            if p.nodes[name].mapped:
                fanout.order_like_items(self, name)
        self.node_waiting, self.consumers_left = planning.counts(p, self.selected)
        self.cache = CachePolicy(p, self.params, run_id=self.run_id,
                                 checkpoint=self.opts.checkpoint, forced=self.forced,
                                 resume=self.resume, store=self.store)
        if self.resume is not None:
            self._previous = self.store.task_runs(self.run_id)
            self._prev_attempts = {r.task_key: r.attempts for r in self._previous}
            self.cache.take_resumed(self._previous)

    # -- scheduling ----------------------------------------------------------------------------

    def _schedule_node(self, name: str) -> None:
        node = self.p.nodes[name]
        if self.cancelled:
            return self._close_node_without_run(node, State.CANCELLED)
        verdict = _trigger(node.task.trigger, upstream_states(self.p, self.node_state, node))
        if verdict is not None:
            return self._close_node_without_run(node, verdict)
        keys = fanout.instances(self, node)
        if keys is None:
            return  # closed without running, or waiting for its input to be recomputed
        self.node_keys[name] = keys
        self.node_open[name] = len(keys)
        if node.mapped and self._wants[ev.TaskExpanded]:
            self._emit(ev.TaskExpanded(self.run_id, self.p.name, name, len(keys)))
        if not keys:
            self._finish_node(name)
            return
        for k in keys:
            inst = self.insts[k]
            if inst.item_ref is not None:
                src_state = self.insts[inst.item_ref].state
                if src_state not in OK:
                    self._finish_inst(inst, _propagate(src_state))
                    continue
            self._dispatch(inst)

    def _close_node_without_run(self, node: Node, state: State, error: str | None = None) -> None:
        self.node_keys[node.name] = [node.name]
        inst = Inst(node, node.name, error=error)
        self.insts[node.name] = inst
        self.node_open[node.name] = 1
        self._finish_inst(inst, state)

    def _dispatch(self, inst: Inst) -> None:
        if self.cancelled:
            self._finish_inst(inst, State.CANCELLED)
            return
        t = inst.node.task
        if t.pool and self.pool_used[t.pool] >= self.pools[t.pool] or (
            t.concurrency and self.task_used.get(t.name, 0) >= t.concurrency
        ):
            self.blocked.append(inst)
            return
        if t.pool:
            self.pool_used[t.pool] += 1
        if t.concurrency:
            self.task_used[t.name] = self.task_used.get(t.name, 0) + 1
        self._submit(inst)

    def _release(self, inst: Inst) -> None:
        t = inst.node.task
        if t.pool:
            self.pool_used[t.pool] -= 1
        if t.concurrency:
            self.task_used[t.name] -= 1
        if self.blocked:
            waiting, self.blocked = self.blocked, deque()
            while waiting:
                self._dispatch(waiting.popleft())

    def _submit(self, inst: Inst) -> None:
        node, t = inst.node, inst.node.task
        remote = self.executor.is_remote(t.run_in)
        try:
            inputs = dataflow.inputs(self, inst, remote)
        except WaitFor as wait:
            inst.state = State.PENDING
            self.recovery.park(wait.key, inst)
            self._release(inst)
            return
        except InputMissing as exc:
            # an in-memory output was released (e.g. while recovering a corrupt checkpoint
            # downstream of it): compute it again, then come back
            inst.state = State.PENDING
            inst.corrupt_hits += 1
            self._release(inst)
            if inst.corrupt_hits <= 3 and self.recovery.recover(exc.key, inst):
                return
            inst.error = str(exc)
            self._finish_inst(inst, State.FAILED)
            return
        cache = self.cache
        if inst.fingerprint is None:
            inst.fingerprint = cache.fingerprint(inst, inputs, self.insts)
        rec = cache.resumed(inst)
        if rec is not None:
            inst.meta = _meta_from_record(self.p.name, rec)
            inst.cached_from = rec.cached_from_run or self.run_id
            inst.data_version = rec.data_version
            inst.rows_out = rec.rows_out
            now = time.time()
            inst.started = inst.first_started = inst.first_run = now
            self._finish_inst(inst, State.CACHED, ended=now)
            self._release(inst)
            return
        checkpoint = cache.checkpoints(inst)
        if inst.first_started is None and inst.key in self._prev_attempts:
            inst.attempt = inst.base_attempt = self._prev_attempts[inst.key]
        inst.attempt += 1
        inst.state = State.RUNNING
        inst.queued = time.time()
        inst.started = inst.worker = None
        if inst.first_started is None:
            inst.first_started = inst.queued
        call = TaskCall(
            run_id=self.run_id, pipeline=self.p.name, task=node.name, key=inst.key,
            attempt=inst.attempt, fn=t.fn, fingerprint=inst.fingerprint,
            params={p: self.params[p] for p in node.params}, inputs=inputs,
            context_param=node.context_param, map_key=inst.map_key, checkpoint=checkpoint,
            serializer=t.serializer, reuse=cache.reuse(inst), return_value=not remote, artifacts_root=self.artifacts.root, secrets=self.secrets,
            state=self._saved_state() if node.context_param else {}, is_async=t.is_async,
            timeout=t.timeout,
        )
        self.running += 1
        self._queued(ev.TaskQueued(self.run_id, self.p.name, inst.key, node.name, inst.attempt,
                                 task_run_record(inst, self.run_id, self.secrets)))
        inst.handle = self.executor.submit(call, t.run_in, self._on_done, self._on_start)

    def _on_start(self, call: TaskCall, worker: str | None = None) -> None:
        self._q.put(("start", call.key, call.attempt, time.time(), worker))

    def _started(self, key: str, attempt: int, at: float, worker: str | None = None) -> None:
        inst = self.insts[key]
        if inst.state != State.RUNNING or inst.attempt != attempt:
            return
        inst.started = at
        if inst.first_run is None:
            inst.first_run = at
        if worker is not None:
            inst.worker = worker
        self._started_ev(ev.TaskStarted(self.run_id, self.p.name, key, inst.node.name, attempt,
                                  inst.label, at, inst.queued, worker))
        t = inst.node.task
        if t.timeout and not getattr(self.executor, "enforces_timeouts", False):
            self._add_timer(at + t.timeout, "timeout", (key, attempt))

    def _on_done(self, call: TaskCall, outcome: Outcome | BaseException) -> None:
        self._q.put(("done", call, outcome))

    # -- the loop ------------------------------------------------------------------------------

    def _total_open(self) -> bool:
        return self.finished_nodes < len(self.selected)

    def _loop(self) -> None:
        q = self._q
        while True:
            while self._ready:
                self._schedule_node(self._ready.popleft())
            if not self._total_open():
                break
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.time())
            if self.running == 0 and not self._timers and not self.blocked:
                # nothing can make progress: a bug, or everything remaining was cancelled
                if not self.cancelled:
                    raise RuntimeError("scheduler stalled with open tasks: "
                                       + ", ".join(n for n in self.selected if n not in self.node_state))
                break
            try:
                msg = q.get(timeout=timeout if timeout is not None else 1.0)
            except queue.Empty:
                msg = None
            if msg is not None:
                self._handle(msg)
                # drain whatever else arrived without waiting
                while True:
                    try:
                        msg = q.get_nowait()
                    except queue.Empty:
                        break
                    self._handle(msg)
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, kind, data = heapq.heappop(self._timers)
                self._on_timer(kind, data)

    def _handle(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "done":
            self._on_outcome(msg[1], msg[2])
        elif kind == "start":
            self._started(*msg[1:])
        elif kind == "cancel":
            self._cancel_all(msg[1])

    def _add_timer(self, when: float, kind: str, data: Any) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), kind, data))

    def _on_timer(self, kind: str, data: Any) -> None:
        if kind == "retry":
            inst = self.insts[data]
            self.running -= 1  # the hold taken while the retry waited
            if inst.state == State.PENDING:
                self._dispatch(inst)  # takes a pool slot again, or waits for one
        elif kind == "timeout":
            key, attempt = data
            inst = self.insts[key]
            if inst.state == State.RUNNING and inst.attempt == attempt:
                self.executor.cancel(inst.handle)
                t = inst.node.task
                err = TaskTimeoutError(f"task {key!r} exceeded its timeout of {t.timeout:g}s "
                                       f"(attempt {attempt})")
                out = Outcome(key, attempt, "failed", inst.started or inst.queued or time.time(),
                              time.time(),
                              error=f"TaskTimeoutError: {err}", error_type="TaskTimeoutError")
                self._on_outcome(None, out)

    def _on_outcome(self, call: TaskCall | None, outcome: Outcome | BaseException) -> None:
        if isinstance(outcome, BaseException):
            assert call is not None
            key, attempt = call.key, call.attempt
            outcome = Outcome(key, attempt, "failed", time.time(), time.time(),
                              error=f"{type(outcome).__name__}: {outcome}",
                              error_type=type(outcome).__name__)
        inst = self.insts.get(outcome.key)
        if inst is None or inst.state != State.RUNNING or inst.attempt != outcome.attempt:
            return  # a late result of an attempt that timed out or was cancelled
        self.running -= 1
        inst.handle = None  # the attempt's call and inputs must not outlive it
        state = State(outcome.state)
        inst.ended = outcome.ended_at or time.time()
        # execution from the real start (the executor's signal, else the worker's clock);
        # the wait before it is queue time, shown apart
        begun = inst.started or outcome.started_at or inst.queued or inst.ended
        begun = min(max(begun, inst.queued or begun), inst.ended)
        inst.started = begun
        if inst.first_run is None:
            inst.first_run = begun
        inst.exec_s += inst.ended - begun
        inst.wait_s += begun - (inst.queued or begun)
        inst.rows_in, inst.rows_out = outcome.rows_in, outcome.rows_out
        inst.last_log = outcome.log_path
        if state in OK:
            inst.meta = outcome.meta
            if outcome.has_value:
                self.values[inst.key] = outcome.value
        self._attempt_ev(ev.AttemptFinished(
            self.run_id, self.p.name, inst.key, inst.node.name, inst.attempt, state,
            AttemptRecord(self.run_id, inst.key, inst.attempt, state=state,
                          started_at=dt(inst.started), ended_at=dt(inst.ended),
                          duration_s=round(inst.ended - begun, 6),
                          error=outcome.error, traceback=outcome.traceback,
                          log_path=outcome.log_path, queued_at=dt(inst.queued),
                          worker=inst.worker)))
        if state == State.FAILED:
            inst.error, inst.traceback = outcome.error, outcome.traceback
            if outcome.corrupt_input and not self.cancelled:
                # not the task's fault: it goes back to pending without using a retry
                inst.state = State.PENDING
                inst.base_attempt += 1
                self._release(inst)
                inst.corrupt_hits += 1
                if inst.corrupt_hits <= 3 and self.recovery.recover(outcome.corrupt_input, inst):
                    return
                self._finish_inst(inst, State.FAILED, ended=inst.ended)  # cannot be recovered
                return
            t = inst.node.task
            if inst.attempt - inst.base_attempt <= t.retries and not self.cancelled:
                delay = min(t.max_retry_delay, t.retry_delay * (t.backoff ** (inst.attempt - 1)))
                delay *= 1 + random.uniform(-t.jitter, t.jitter) if t.jitter else 1
                inst.state = State.PENDING
                self.running += 1  # a hold so the loop waits for the retry timer
                log.info("task %s failed (attempt %d of %d), retrying in %.2fs: %s",
                         shown(inst.key, inst.label), inst.attempt - inst.base_attempt, t.retries + 1, delay,
                         outcome.error)
                self._emit(ev.AttemptRetried(self.run_id, self.p.name, inst.key, inst.node.name,
                                             inst.attempt, t.retries, delay, outcome.error,
                                             task_run_record(inst, self.run_id, self.secrets)))
                self._add_timer(time.time() + max(0.0, delay), "retry", inst.key)
                self._release(inst)  # its pool slot is free while it waits
                return
        if state in OK:
            inst.data_version = (inst.meta.data_version if inst.meta is not None
                                 else "fp:" + (inst.fingerprint or ""))
            if state == State.CACHED:
                inst.cached_from = self.cache.producer(inst, outcome.meta)
            elif inst.meta is not None and self._wants[ev.CheckpointWritten]:
                self._emit(ev.CheckpointWritten(self.run_id, self.p.name, inst.key,
                                                inst.node.name, inst.meta))
            self._side_data(inst, outcome)
        if state == State.SKIPPED:
            inst.error = outcome.error
        # finish first (a failure may cancel the run), then free the slot for whoever waits
        self._finish_inst(inst, state, ended=inst.ended)
        self._release(inst)

    def _side_data(self, inst: Inst, outcome: Outcome) -> None:
        run_id, pipeline, key, task = self.run_id, self.p.name, inst.key, inst.node.name
        for ln in outcome.lineage:
            self._emit(ev.LineageRecorded(run_id, pipeline, key, task, LineageRecord(
                run_id, key, ln["dataset"], ln["direction"], schema=ln.get("schema"),
                rows=ln.get("rows"), recorded_at=dt(ln.get("ts") or time.time()))))
        for name, value, labels in outcome.metrics:
            self._emit(ev.MetricRecorded(run_id, pipeline, key, task, MetricRecord(
                run_id, name, value, task_key=key, labels=labels)))
        for k, v in outcome.state_updates.items():
            self._emit(ev.StateSaved(run_id, pipeline, key, task, k, v))
            if self._state_snapshot is not None:
                self._state_snapshot[k] = v

    def _finish_inst(self, inst: Inst, state: State, ended: float | None = None) -> None:
        waiting = self.recovery.waiting.pop(inst.key, None) if self.recovery.waiting else None
        inst.state = state
        inst.ended = ended or time.time()
        result = self.results[inst.key] = task_result(inst, self.run_id)
        self._finished_ev(ev.TaskFinished(self.run_id, self.p.name, inst.key, inst.node.name, state,
                                   inst.label, inst.started, waiting is not None,
                                   task_run_record(inst, self.run_id, self.secrets), result))
        if waiting is not None:
            # a recomputed upstream: its node was counted already; wake who waited on it
            for w in waiting:
                self.recovery.wake(w, state in OK)
            return
        if state == State.FAILED:
            log.error("task %s failed: %s", shown(inst.key, inst.label), inst.error)
            if self.fail_fast and not self.cancelled:
                self._cancel_all(f"fail-fast: task {inst.key!r} failed")
        name = inst.node.name
        self.node_open[name] -= 1
        if self.node_open[name] == 0:
            self._finish_node(name)

    def _finish_node(self, name: str) -> None:
        if name not in self.node_state or self.node_state[name] != State.FAILED:
            self.node_state[name] = _aggregate([self.insts[k].state for k in self.node_keys[name]])
        self.finished_nodes += 1
        node = self.p.nodes[name]
        for up in node.upstream:
            if up in self.consumers_left:
                self.consumers_left[up] -= 1
                if self.consumers_left[up] == 0:
                    for k in self.node_keys.get(up, ()):
                        self.values.pop(k, None)
        for d in self.p.downstream[name]:
            if d not in self.selected:
                continue
            self.node_waiting[d] -= 1
            if self.node_waiting[d] == 0:
                self._ready.append(d)

    def _cancel_all(self, reason: str) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self.cancel_reason = reason
        log.warning("cancelling run %s: %s", self.run_id, reason)
        for inst in list(self.insts.values()):
            if inst.state == State.RUNNING:
                self.executor.cancel(inst.handle)
                inst.handle = None
                self.running -= 1
                inst.error = reason
                if inst.worker is not None:  # its "running" attempt row is closed too
                    self._emit(ev.AttemptFinished(
                        self.run_id, self.p.name, inst.key, inst.node.name, inst.attempt,
                        State.CANCELLED, AttemptRecord(
                            self.run_id, inst.key, inst.attempt, state=State.CANCELLED,
                            started_at=dt(inst.started), ended_at=dt(time.time()),
                            queued_at=dt(inst.queued), worker=inst.worker, error=reason)))
                self._release(inst)
                self._finish_inst(inst, State.CANCELLED)
        while self.blocked:
            inst = self.blocked.popleft()
            self._finish_inst(inst, State.CANCELLED)
        for _when, _, kind, data in list(self._timers):
            if kind == "retry":
                inst = self.insts[data]
                self.running -= 1
                self._finish_inst(inst, State.CANCELLED)
        self._timers.clear()

    # -- helpers -------------------------------------------------------------------------------

    def _saved_state(self) -> dict[str, Any]:
        if self._state_snapshot is None:
            self._state_snapshot = dict(self.store.state_items(self.p.name))
        return dict(self._state_snapshot)
