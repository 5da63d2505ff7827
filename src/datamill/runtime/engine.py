"""The driver: decides what runs, submits attempts, applies retries, timeouts, trigger
rules, pools and fan-out, and streams every state change to the run store.

It runs in the caller's thread and never blocks on task work: executors report
outcomes into a queue; retries and timeouts are timers on a heap.
"""

from __future__ import annotations

import gc
import heapq
import inspect
import itertools
import logging
import os
import queue
import random
import signal
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from datamill.core.fingerprint import code_fingerprint, content_hash, item_keys, task_fingerprint
from datamill.core.params import canonical_json
from datamill.core.pipeline import Node, Pipeline
from datamill.errors import CheckpointCorruptError, TaskTimeoutError, UsageError
from datamill.runtime import resume as resuming
from datamill.runtime.calls import InputRef, Outcome, TaskCall
from datamill.runtime.labels import item_label, shown
from datamill.runtime.logs import redact
from datamill.runtime.result import RunResult, TaskResult
from datamill.runtime.rules import (
    _aggregate,
    _driver_token,
    _meta_from_record,
    _propagate,
    _ref_version,
    _trigger,
)
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
BAD = (State.FAILED, State.UPSTREAM_FAILED)


class _WaitFor(Exception):  # noqa: N818 - control flow inside the driver
    """An input is being recomputed (corrupt checkpoint): park the task until it is back."""

    def __init__(self, key: str):
        self.key = key


class _InputMissing(Exception):  # noqa: N818
    """An input's value is neither checkpointed nor in memory any more."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


def new_run_id() -> str:
    """Sortable, unique run ids: UTC time + random suffix (``20261127T154210-3f9a2c``)."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


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
        self.consumers_left: dict[str, int] = {}
        self.running = 0
        self.pool_used: dict[str, int] = dict.fromkeys(self.pools, 0)
        self.task_used: dict[str, int] = {}
        self.blocked: deque[Inst] = deque()
        self._ready: deque[str] = deque()
        self._recovering: dict[str, list[Any]] = {}  # upstream key -> waiting Insts / node names
        self.cancelled = False
        self.cancel_reason = ""
        self.finished_nodes = 0
        self._code_fp: dict[str, str] = {}
        self._param_fp: dict[str, list[tuple[str, str]]] = {}
        self._state_snapshot: dict[str, Any] | None = None
        self.ckpt = options.checkpoint
        self.forced: set[str] = set()
        self.selected: set[str] = set(pipeline.nodes)
        self.external: set[str] = set()

    # -- public --------------------------------------------------------------------------------

    def run(self) -> RunResult:
        from datamill.store.writer import StoreWriter

        self._plan()
        started = time.time()
        now = _dt(started)
        if self.resume is None:
            self.store.create_run(
                RunRecord(
                    run_id=self.run_id, pipeline=self.p.name, params=self._stored_params(),
                    state=State.RUNNING, trigger=self.opts.trigger, created_at=now, started_at=now,
                    heartbeat_at=now, host=socket.gethostname(), pid=os.getpid(),
                    project=self.target, pid_start=_driver_token(),
                    options=resuming.run_options(self.opts.force, self.forced, self.opts.only),
                )
            )
        else:
            try:
                resuming.wait_for_orphans(self.store, self.run_id)
            except BaseException as exc:
                self.store.finish_run(self.run_id, State.FAILED, error=str(exc))
                raise
        self.writer = StoreWriter(self.store)
        self.writer.heartbeat(self.run_id)
        from datamill.runtime import logs

        logs.install()
        self.executor.check_artifacts(self.artifacts)
        self.executor.start()
        prev_handler = self._install_sigint()
        # everything alive before the run (modules, the pipeline, user data) is moved out of
        # the collector's sight, so the many small objects of a big run do not make each
        # collection rescan it all (a 10,000-task run spent a third of its time in gc)
        gc.freeze()
        if self.progress:
            if hasattr(self.progress, "secrets"):
                self.progress.secrets = self.secrets
            self.progress.start(self.run_id, self.p.name, len(self.selected))
        error: str | None = None
        try:
            for name in self.p.nodes:
                if name in self.selected and self.node_waiting[name] == 0:
                    self._ready.append(name)
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - record, then re-raise
            error = f"{type(exc).__name__}: {exc}"
            self._cancel_all("driver error: " + error)
            raise
        finally:
            gc.unfreeze()
            self.executor.shutdown(cancel=self.cancelled)
            settle_checkpoints(self)  # background checkpoints durable, or tasks failed
            self._restore_sigint(prev_handler)
            logs.uninstall()
            state = self._run_state()
            if error is None and self.cancelled and self.cancel_reason.startswith("fail-fast"):
                error = self.cancel_reason
            if error is None and state == State.FAILED:
                error = self._failure_summary()
            elif error is None and state == State.CANCELLED:
                error = self.cancel_reason or None
            if self.resume is not None:
                for rec in resuming.removed_records(self._previous, set(self.insts), self.p.nodes,
                                                    set(self.node_state)):
                    self.writer.put_task_run(rec)
            if self.opts.openlineage is not None:
                self.opts.openlineage.close()
            try:
                self.writer.close()
            finally:
                self.store.finish_run(self.run_id, state, error=error)
            result = self._result(state, started)
            if self.progress:
                self.progress.finish(result)
        self._run_hooks(result)
        return result

    # -- planning ------------------------------------------------------------------------------

    def _plan(self) -> None:
        p = self.p
        if self.resume is not None:
            carried, kept_only = resuming.carried_options(self.resume, p.nodes)
            self.opts.only = self.opts.only or kept_only
        only = p.check_task_names(self.opts.only, "--only")
        force = self.opts.force
        if self.resume is not None and not force:
            self.forced = carried
        elif force in (["*"], ["all"]):
            self.forced = set(p.nodes)
        else:
            roots = p.check_task_names(force, "--force")
            self.forced = set(roots) | p.descendants(roots)
        if only:
            self.selected = set(only)
            needed = p.ancestors(only) - self.selected
            self._load_external(needed)
        for name, node in p.nodes.items():
            self.node_waiting[name] = sum(1 for u in node.upstream if u in self.selected)
            self.consumers_left[name] = sum(1 for d in p.downstream[name] if d in self.selected)
        self._resume_records = {}
        self._prev_attempts: dict[str, int] = {}
        self._previous: list[TaskRunRecord] = []
        if self.resume is not None:
            self._previous = self.store.task_runs(self.run_id)
            for r in self._previous:
                self._prev_attempts[r.task_key] = r.attempts
                # a forced task reuses only what this run wrote, never an older checkpoint
                own = r.state == State.SUCCEEDED or r.cached_from_run == self.run_id
                if r.state in OK and r.checkpoint and (own or r.task not in self.forced):
                    self._resume_records[r.task_key] = r

    def _load_external(self, names: set[str]) -> None:
        """For --only: upstream tasks outside the selection come from the latest checkpoints
        of a run in which the whole task (every mapped instance) completed."""
        missing = set(names)
        for run in self.store.list_runs(pipeline=self.p.name, limit=50):
            if not missing:
                break
            by_task: dict[str, list[TaskRunRecord]] = {}
            for r in self.store.task_runs(run.run_id):
                if r.task in missing:
                    by_task.setdefault(r.task, []).append(r)
            for tname, recs in by_task.items():
                if not all(r.state in OK and r.checkpoint for r in recs):
                    continue  # partly failed there: an older run may have it whole
                node = self.p.nodes[tname]
                keys = [r.task_key for r in recs]
                self.node_keys[tname] = keys
                for r in recs:
                    self.insts[r.task_key] = Inst(
                        node, r.task_key, map_key=r.map_key, state=State.CACHED,
                        fingerprint=r.fingerprint, data_version=r.data_version,
                        meta=_meta_from_record(self.p.name, r), cached_from=run.run_id)
                self.node_state[tname] = State.CACHED
                self.node_open[tname] = 0
                self.external.add(tname)
                missing.discard(tname)
        if missing:
            first = sorted(missing)[0]
            raise UsageError(
                f"--only needs the output of task {first!r}, which has no complete checkpoint "
                f"from an earlier run of pipeline {self.p.name!r}; run the pipeline once without --only"
            )
        for name in self.external:
            if self.p.nodes[name].mapped:
                self._order_like_items(name)

    def _order_like_items(self, name: str) -> None:
        """Put a mapped task's instances back in the order of the items they came from."""
        root = self.p.nodes[name]
        while root.map_source and self.p.nodes[root.map_source].mapped:
            root = self.p.nodes[root.map_source]
        src = root.map_source
        if src is None or src not in self.insts:
            return
        items = self._value_of(src)
        order = {k: i for i, k in enumerate(item_keys(list(items or [])))}
        self.node_keys[name].sort(key=lambda k: order.get(self.insts[k].map_key or "", len(order)))

    # -- scheduling ----------------------------------------------------------------------------

    def _upstream_states(self, node: Node) -> list[State]:
        return [
            self.node_state[u] for u in node.upstream
            if u != node.map_source or not self.p.nodes[u].mapped
        ]

    def _schedule_node(self, name: str) -> None:
        node = self.p.nodes[name]
        if self.cancelled:
            return self._close_node_without_run(node, State.CANCELLED)
        verdict = _trigger(node.task.trigger, self._upstream_states(node))
        if verdict is not None:
            return self._close_node_without_run(node, verdict)
        src = node.map_source
        if src is None:
            keys = [name]
            self.insts[name] = Inst(node, name)
        elif self.p.nodes[src].mapped:
            if self.node_keys[src] == [src] and self.insts[src].map_key is None:
                # the mapped source was closed without expanding (upstream failed/skipped)
                return self._close_node_without_run(node, _propagate(self.node_state[src]))
            keys = []
            for sk in self.node_keys[src]:
                s = self.insts[sk]
                k = f"{name}[{s.map_key}]"
                keys.append(k)
                self.insts[k] = Inst(node, k, map_key=s.map_key, item_ref=sk, label=s.label)
        else:
            src_state = self.insts[src].state
            if src_state not in OK:
                # the trigger rule let the task run, but there is nothing to map over
                return self._close_node_without_run(node, _propagate(src_state))
            try:
                items = self._value_of(src)
            except CheckpointCorruptError as exc:
                if self._recover(src, name):
                    return
                return self._close_node_without_run(node, State.FAILED, str(exc))
            if items is None or isinstance(items, str | bytes | dict) or not hasattr(items, "__iter__"):
                self._close_node_without_run(
                    node, State.FAILED,
                    f"task {name!r} maps over {src!r}, whose output is a "
                    f"{type(items).__name__}, not a list",
                )
                return
            items = list(items)
            mkeys = item_keys(items)
            keys = []
            for mk, it in zip(mkeys, items, strict=True):
                k = f"{name}[{mk}]"
                keys.append(k)
                self.insts[k] = Inst(node, k, map_key=mk, item=it, label=item_label(it))
        self.node_keys[name] = keys
        self.node_open[name] = len(keys)
        if self.progress and node.mapped:
            self.progress.add_total(len(keys) - 1)
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

    def _fingerprint(self, inst: Inst, inputs: dict[str, InputRef]) -> str:
        node = inst.node
        name = node.name
        code = self._code_fp.get(name)
        if code is None:
            code = self._code_fp[name] = code_fingerprint(node.task.fn)
            self._param_fp[name] = [
                (p, "<secret>" if self.p.params[p].secret else canonical_json(self.params[p]))
                for p in node.params
            ]
        versions = [(pname, _ref_version(ref, self.insts)) for pname, ref in inputs.items()]
        if inst.item_ref is None and inst.map_key is not None:
            versions.append(("__item__", content_hash(inst.item)))
        return task_fingerprint(code, node.task.options_key(), self._param_fp[name], versions,
                                inst.map_key, self._source_version(node))

    def _source_version(self, node: Node) -> str | None:
        v = node.task.version
        if v is None or isinstance(v, str):
            return v
        try:
            kwargs = {k: self.params[k] for k in inspect.signature(v).parameters if k in self.params}
            return str(v(**kwargs))
        except Exception as exc:  # noqa: BLE001 - no version means no reuse, not a failure
            log.warning("version() of task %r failed (%s); it will run", node.name, exc)
            return f"unversioned:{time.time()}"

    def _inputs(self, inst: Inst, remote: bool) -> dict[str, InputRef]:
        node = inst.node
        refs: dict[str, InputRef] = {}
        for pname, up in node.inputs.items():
            upnode = self.p.nodes[up]
            if pname == node.map_param and node.map_source == up:
                if inst.item_ref is not None:
                    refs[pname] = self._ref(self.insts[inst.item_ref], remote)
                else:
                    refs[pname] = InputRef("value", inst.item, key=f"{up}[item]")
                continue
            if upnode.mapped:
                members = [self.insts[k] for k in self.node_keys.get(up, ()) if self.insts[k].state in OK]
                refs[pname] = InputRef("list", [self._ref(m, remote) for m in members], key=up)
            else:
                refs[pname] = self._ref(self.insts[up], remote)
        return refs

    def _ref(self, up: Inst, remote: bool) -> InputRef:
        if up.key in self._recovering:
            raise _WaitFor(up.key)
        if up.state not in OK:
            return InputRef("value", None, key=up.key)
        if up.key in self.values and (not remote or up.meta is None):
            return InputRef("value", self.values[up.key], key=up.key)
        if up.meta is not None:
            return InputRef("ckpt", up.meta, key=up.key)
        raise _InputMissing(
            f"the output of task {up.key!r} is no longer available (it has no checkpoint and was "
            "released from memory); run again, or let that task checkpoint", up.key
        )

    def _value_of(self, name: str) -> Any:
        inst = self.insts[name]
        if inst.state not in OK:
            return None
        if name in self.values:
            return self.values[name]
        if inst.meta is not None:
            value = self.artifacts.load_checkpoint(inst.meta)
            self.values[name] = value
            return value
        return None

    def _submit(self, inst: Inst) -> None:
        node, t = inst.node, inst.node.task
        remote = self.executor.is_remote(t.run_in)
        try:
            inputs = self._inputs(inst, remote)
        except _WaitFor as wait:
            inst.state = State.PENDING
            self._recovering[wait.key].append(inst)
            self._release(inst)
            return
        except _InputMissing as exc:
            # an in-memory output was released (e.g. while recovering a corrupt checkpoint
            # downstream of it): compute it again, then come back
            inst.state = State.PENDING
            inst.corrupt_hits += 1
            self._release(inst)
            if inst.corrupt_hits <= 3 and self._recover(exc.key, inst):
                return
            inst.error = str(exc)
            self._finish_inst(inst, State.FAILED)
            return
        if inst.fingerprint is None:
            inst.fingerprint = self._fingerprint(inst, inputs)
        rec = self._resume_records.get(inst.key)
        if rec is not None and rec.fingerprint == inst.fingerprint and not inst.recovered:
            inst.meta = _meta_from_record(self.p.name, rec)
            inst.cached_from = rec.cached_from_run or self.run_id
            inst.data_version = rec.data_version
            inst.rows_out = rec.rows_out
            now = time.time()
            inst.started = inst.first_started = inst.first_run = now
            self._finish_inst(inst, State.CACHED, ended=now)
            self._release(inst)
            return
        checkpoint = self.ckpt and t.checkpoint
        reusable = checkpoint and not inst.recovered
        reuse = reusable and node.name not in self.forced and t.cache != "never" \
            and (bool(node.inputs) or t.version is not None)
        reuse_after = None
        if not reuse and reusable and self.resume is not None:
            # within a resume every completed output is reused, even one whose store record
            # was lost in a crash: done means the checkpoint exists, written during this run
            # (for a forced task too: what this run recomputed is not recomputed again)
            reuse = True
            started = self.resume.started_at or self.resume.created_at
            reuse_after = started.timestamp() if started else None
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
            serializer=t.serializer, reuse=reuse, cache_expire=t.cache_expire,
            reuse_after=reuse_after,
            return_value=not remote, artifacts_root=self.artifacts.root, secrets=self.secrets,
            state=self._saved_state() if node.context_param else {}, is_async=t.is_async,
            timeout=t.timeout,
        )
        self.running += 1
        self.writer.put_task_run(self._record(inst))
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
            # recorded at once: a resume after a crash must find the worker it may wait for
            inst.worker = worker
            self.writer.put_attempt(AttemptRecord(
                self.run_id, key, attempt, state=State.RUNNING, started_at=_dt(at),
                queued_at=_dt(inst.queued), worker=worker))
        if self.progress:
            self.progress.task_started(shown(key, inst.label))
        if self.opts.openlineage is not None:
            self.opts.openlineage.event("START", self.p.name, self.run_id, key)
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
                ev = q.get(timeout=timeout if timeout is not None else 1.0)
            except queue.Empty:
                ev = None
            if ev is not None:
                self._handle(ev)
                # drain whatever else arrived without waiting
                while True:
                    try:
                        ev = q.get_nowait()
                    except queue.Empty:
                        break
                    self._handle(ev)
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, kind, data = heapq.heappop(self._timers)
                self._on_timer(kind, data)

    def _handle(self, ev: tuple[Any, ...]) -> None:
        kind = ev[0]
        if kind == "done":
            self._on_outcome(ev[1], ev[2])
        elif kind == "start":
            self._started(*ev[1:])
        elif kind == "cancel":
            self._cancel_all(ev[1])

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
        self.writer.put_attempt(
            AttemptRecord(self.run_id, inst.key, inst.attempt, state=state,
                          started_at=_dt(inst.started), ended_at=_dt(inst.ended),
                          duration_s=round(inst.ended - begun, 6),
                          error=outcome.error, traceback=outcome.traceback,
                          log_path=outcome.log_path, queued_at=_dt(inst.queued),
                          worker=inst.worker)
        )
        if state == State.FAILED:
            inst.error, inst.traceback = outcome.error, outcome.traceback
            if outcome.corrupt_input and not self.cancelled:
                # not the task's fault: it goes back to pending without using a retry
                inst.state = State.PENDING
                inst.base_attempt += 1
                self._release(inst)
                inst.corrupt_hits += 1
                if inst.corrupt_hits <= 3 and self._recover(outcome.corrupt_input, inst):
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
                self.writer.put_task_run(self._record(inst))
                self._add_timer(time.time() + max(0.0, delay), "retry", inst.key)
                self._release(inst)  # its pool slot is free while it waits
                return
        if state in OK:
            inst.data_version = (inst.meta.data_version if inst.meta is not None
                                 else "fp:" + (inst.fingerprint or ""))
            if state == State.CACHED:
                inst.cached_from = self._producer(inst, outcome)
            self._side_data(inst, outcome)
        if state == State.SKIPPED:
            inst.error = outcome.error
        # finish first (a failure may cancel the run), then free the slot for whoever waits
        self._finish_inst(inst, state, ended=inst.ended)
        self._release(inst)

    def _side_data(self, inst: Inst, outcome: Outcome) -> None:
        if self.opts.openlineage is not None and outcome.state == "succeeded":
            self.opts.openlineage.event("COMPLETE", self.p.name, self.run_id, inst.key,
                                        outcome.lineage)
        for ln in outcome.lineage:
            self.writer.put_lineage(LineageRecord(
                self.run_id, inst.key, ln["dataset"], ln["direction"], schema=ln.get("schema"),
                rows=ln.get("rows"), recorded_at=_dt(ln.get("ts")) or datetime.now(UTC)))
        for name, value, labels in outcome.metrics:
            self.writer.put_metric(MetricRecord(self.run_id, name, value, task_key=inst.key,
                                                labels=labels))
        for k, v in outcome.state_updates.items():
            self.writer.put_state(self.p.name, k, v, self.run_id)
            if self._state_snapshot is not None:
                self._state_snapshot[k] = v

    def _recover(self, bad_key: str | None, waiter: Inst | str) -> bool:
        """An upstream checkpoint is corrupt: recompute it once, then resume ``waiter``
        (a task instance, or the name of a node that maps over it). False if impossible."""
        up = self.insts.get(bad_key or "")
        if up is None or up.node.name in self.external:
            return False
        if up.key in self._recovering:
            self._recovering[up.key].append(waiter)
            return True
        if up.recovered:
            if up.state not in OK:
                return False
            self._resume_waiter(waiter, ok=True)  # recomputed already: try again with it
            return True
        log.warning("checkpoint of %s is corrupt; recomputing it", up.key)
        if up.meta is not None:
            try:
                self.artifacts.delete_checkpoint(up.meta)
            except Exception:  # noqa: BLE001 - it will be overwritten anyway
                pass
        up.recovered = True
        up.meta = None
        up.data_version = None
        up.fingerprint = None
        self.values.pop(up.key, None)
        up.state = State.PENDING
        up.base_attempt = up.attempt  # the recomputation does not use up its retries
        self._recovering[up.key] = [waiter]
        self._dispatch(up)
        return True

    def _resume_waiter(self, waiter: Inst | str, ok: bool) -> None:
        failed = State.CANCELLED if self.cancelled else State.UPSTREAM_FAILED
        if isinstance(waiter, str):  # a node mapping over the recovered output
            if ok:
                self._ready.append(waiter)
            else:
                self._close_node_without_run(self.p.nodes[waiter], failed)
            return
        if ok:
            waiter.fingerprint = None
            self._dispatch(waiter)
        else:
            self._finish_inst(waiter, failed)

    def _finish_inst(self, inst: Inst, state: State, ended: float | None = None) -> None:
        waiting = self._recovering.pop(inst.key, None)
        inst.state = state
        inst.ended = ended or time.time()
        self.writer.put_task_run(self._record(inst))
        if self.progress:
            self.progress.task_finished(shown(inst.key, inst.label), state, inst.exec_s)
        if waiting is not None:
            # a recomputed upstream: its node was counted already; wake who waited on it
            for w in waiting:
                self._resume_waiter(w, state in OK)
            return
        if state == State.FAILED:
            if self.opts.openlineage is not None and inst.started is not None:
                self.opts.openlineage.event("FAIL", self.p.name, self.run_id, inst.key,
                                            error=inst.error)
            self._hook(inst.node.task.on_failure, inst)
            log.error("task %s failed: %s", shown(inst.key, inst.label), inst.error)
            if self.fail_fast and not self.cancelled:
                self._cancel_all(f"fail-fast: task {inst.key!r} failed")
        elif state == State.SUCCEEDED:
            self._hook(inst.node.task.on_success, inst)
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
                    self.writer.put_attempt(AttemptRecord(
                        self.run_id, inst.key, inst.attempt, state=State.CANCELLED,
                        started_at=_dt(inst.started), ended_at=_dt(time.time()),
                        queued_at=_dt(inst.queued), worker=inst.worker, error=reason))
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

    def _stored_params(self) -> dict[str, Any]:
        from datamill.core.params import to_jsonable

        return to_jsonable(self.p.redact(self.params))

    def _record(self, inst: Inst) -> TaskRunRecord:
        meta = inst.meta
        done = inst.state.is_done
        return TaskRunRecord(
            run_id=self.run_id, task_key=inst.key, task=inst.node.name, state=inst.state,
            map_key=inst.map_key, fingerprint=inst.fingerprint, data_version=inst.data_version,
            checkpoint=meta.path if meta is not None else None,
            type_tag=meta.type_tag if meta is not None else None,
            started_at=_dt(inst.first_run or inst.first_started),
            ended_at=_dt(inst.ended) if done else None,
            duration_s=round(inst.exec_s, 6) if done and inst.first_started else None,
            queued_s=round(inst.wait_s, 6) if done and inst.first_started else None,
            label=inst.label,
            attempts=inst.attempt, rows_in=inst.rows_in, rows_out=inst.rows_out,
            bytes=meta.bytes if meta is not None else None,
            error=redact(inst.error, self.secrets) if inst.error else None,
            traceback=inst.traceback, cached_from_run=inst.cached_from,
        )

    def _producer(self, inst: Inst, outcome: Outcome) -> str | None:
        return resuming.producer(self, inst, outcome.meta)

    def _failure_summary(self) -> str | None:
        failed = [i for i in self.insts.values() if i.state == State.FAILED and i.error]
        summary = resuming.failure_summary(failed)
        return redact(summary, self.secrets) if summary else None

    def _run_state(self) -> State:
        if self.cancelled and not self.cancel_reason.startswith("fail-fast"):
            return State.CANCELLED
        for _k, inst in self.insts.items():
            if inst.state in BAD:
                return State.FAILED
        if self.cancelled:
            return State.FAILED
        if self.finished_nodes < len(self.selected):
            return State.FAILED
        return State.SUCCEEDED

    def _result(self, state: State, started: float) -> RunResult:
        tasks = {}
        for k, inst in self.insts.items():
            if inst.node.name in self.external:
                continue
            tasks[k] = TaskResult(
                key=k, task=inst.node.name, state=inst.state, attempts=inst.attempt,
                duration=round(inst.exec_s, 6), queued=round(inst.wait_s, 6), label=inst.label,
                error=inst.error, traceback=inst.traceback, fingerprint=inst.fingerprint,
                data_version=inst.data_version, meta=inst.meta, map_key=inst.map_key,
                log_path=inst.last_log,
            )
        leaves = {n for n in self.selected if self.consumers_left.get(n, 0) == 0}
        values = {k: v for k, v in self.values.items() if self.insts[k].node.name in leaves}
        return RunResult(
            run_id=self.run_id, pipeline=self.p.name, state=state, tasks=tasks,
            node_keys={n: list(self.node_keys.get(n, [])) for n in self.p.nodes if n in self.selected},
            started=started, ended=time.time(), values=values, artifacts=self.artifacts,
            error=self.cancel_reason or None,
        )

    def _hook(self, fn: Any, inst: Inst) -> None:
        if fn is None:
            return
        try:
            fn(self._task_info(inst))
        except Exception as exc:  # noqa: BLE001 - a hook must not break the run
            log.warning("hook %s of task %s raised %s: %s", getattr(fn, "__name__", fn), inst.key,
                        type(exc).__name__, exc)

    def _task_info(self, inst: Inst) -> TaskResult:
        return TaskResult(key=inst.key, task=inst.node.name, state=inst.state, attempts=inst.attempt,
                          duration=round(inst.exec_s, 6), queued=round(inst.wait_s, 6),
                          label=inst.label,
                          error=inst.error, traceback=inst.traceback, fingerprint=inst.fingerprint,
                          data_version=inst.data_version, meta=inst.meta, map_key=inst.map_key,
                          run_id=self.run_id)

    def _run_hooks(self, result: RunResult) -> None:
        fn = self.p.on_failure if result.state != State.SUCCEEDED else self.p.on_success
        if fn is None:
            return
        try:
            fn(result)
        except Exception as exc:  # noqa: BLE001
            log.warning("pipeline hook raised %s: %s", type(exc).__name__, exc)

    def _install_sigint(self) -> Any:
        if not self.opts.handle_signals or threading.current_thread() is not threading.main_thread():
            return None
        count = {"n": 0}

        def handler(signum: int, frame: Any) -> None:
            count["n"] += 1
            if count["n"] > 1:
                raise KeyboardInterrupt
            self._q.put(("cancel", "interrupted (Ctrl-C)"))

        prev = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            prev[sig] = signal.signal(sig, handler)
        return prev

    def _restore_sigint(self, prev: Any) -> None:
        if prev:
            for sig, h in prev.items():
                signal.signal(sig, h)
