"""The local executor: a thread pool for I/O-bound tasks, a process pool for CPU-bound ones.

Threads share memory with the driver, so inputs and outputs pass by reference. Process
tasks receive their function by cloudpickle (pipeline files are pickled by value) and
their inputs as checkpoint references. A timed-out or cancelled process task has its
process killed and replaced; a thread cannot be killed, so it is told (``ctx.cancelled``)
and abandoned, its late result discarded.

Process workers die with their driver: each watches a lifeline pipe whose only writer is
the driver (end of file means the driver is gone, however it died) and, on Linux, also
asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
from collections import deque
from typing import Any

from datamill.runtime.calls import Outcome, TaskCall
from datamill.runtime.executors.base import OnDone, OnStart
from datamill.runtime.worker import execute


class _ThreadJob:
    __slots__ = ("call", "on_done", "on_start", "event", "thread", "cancelled")

    def __init__(self, call: TaskCall, on_done: OnDone, on_start: OnStart):
        self.call, self.on_done, self.on_start = call, on_done, on_start
        self.event = threading.Event()
        self.thread: threading.Thread | None = None
        self.cancelled = False


class ThreadPool:
    """Worker threads that can abandon a hung attempt without losing capacity.

    A thread cannot be killed; when its attempt is cancelled (a timeout) the pool starts
    a replacement thread, and the abandoned one exits when its attempt finally returns.
    """

    def __init__(self, size: int):
        self.size = size
        self._q: queue.SimpleQueue[_ThreadJob | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        self._retiring: set[threading.Thread] = set()
        self._closed = False

    def submit(self, job: _ThreadJob) -> None:
        with self._lock:
            if self._idle == 0 and self._threads < self.size:
                self._spawn()
            else:
                self._idle -= 1 if self._idle else 0
        self._q.put(job)

    def _spawn(self) -> None:
        self._threads += 1
        threading.Thread(target=self._work, daemon=True, name="datamill-task").start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            job = self._q.get()
            if job is None:
                return
            if not job.cancelled:
                job.thread = me
                if job.on_start is not None:
                    job.on_start(job.call)
                try:
                    outcome: Any = execute(job.call, job.event)
                except BaseException as exc:  # noqa: BLE001 - reported, never lost
                    outcome = exc
                if not job.cancelled:
                    job.on_done(job.call, outcome)
            with self._lock:
                if me in self._retiring:
                    self._retiring.discard(me)
                    return
                self._idle += 1

    def abandon(self, job: _ThreadJob) -> None:
        """Cancel ``job``; if a thread is running it, replace that thread."""
        job.cancelled = True
        job.event.set()
        with self._lock:
            th = job.thread
            if th is not None and th.is_alive() and th not in self._retiring and not self._closed:
                self._retiring.add(th)
                self._threads -= 1
                self._spawn()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            n = self._threads
        for _ in range(n):
            self._q.put(None)


class LocalExecutor:
    name = "local"
    enforces_timeouts = False

    def __init__(self, workers: int | None = None, processes: int | None = None):
        cpu = os.cpu_count() or 2
        self.workers = workers or min(32, cpu + 4)
        self.processes = processes or min(self.workers, cpu)
        self._threads: ThreadPool | None = None
        self._procs: ProcessPool | None = None

    def start(self) -> None:
        self._threads = ThreadPool(self.workers)

    def is_remote(self, run_in: str) -> bool:
        return run_in == "process"

    def check_artifacts(self, artifacts: Any) -> None:
        return None

    def submit(self, call: TaskCall, run_in: str, on_done: OnDone, on_start: OnStart = None) -> Any:
        if run_in == "process":
            if self._procs is None:
                self._procs = ProcessPool(self.processes)
            return self._procs.submit(call, on_done, on_start)
        assert self._threads is not None, "executor not started"
        job = _ThreadJob(call, on_done, on_start)
        self._threads.submit(job)
        return job

    def cancel(self, handle: Any) -> None:
        if isinstance(handle, _ThreadJob):
            if self._threads is not None:
                self._threads.abandon(handle)
        elif self._procs is not None:
            self._procs.cancel(handle)

    def shutdown(self, cancel: bool = False) -> None:
        if self._threads is not None:
            self._threads.shutdown()
        if self._procs is not None:
            self._procs.shutdown()
            self._procs = None


# -- process pool --------------------------------------------------------------------------


_PR_SET_PDEATHSIG = 1


def _die() -> None:  # pragma: no cover - runs in the child
    import signal

    try:
        os.kill(os.getpid(), signal.SIGKILL)
    finally:
        os._exit(70)


def _set_parent_death_signal(parent: int) -> None:  # pragma: no cover - runs in the child
    """Linux: SIGKILL this process when the thread that started it exits."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the driver died before the request took effect
        _die()


def _watch_lifeline(lifeline: Any) -> None:  # pragma: no cover - runs in the child
    """Die the moment the driver's end of the lifeline closes: it never writes to it."""

    def watch() -> None:
        try:
            while True:
                lifeline.recv_bytes()
        except (EOFError, OSError):
            pass
        _die()

    threading.Thread(target=watch, daemon=True, name="datamill-lifeline").start()


def _worker_main(conn: Any, lifeline: Any = None, parent: int = 0,
                 deathsig: bool = False) -> None:  # pragma: no cover - runs in the child
    import cloudpickle

    from datamill.runtime.worker import execute_remote

    if lifeline is not None:
        _watch_lifeline(lifeline)
    if deathsig:
        _set_parent_death_signal(parent)

    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        call = cloudpickle.loads(data)
        conn.send_bytes(b"S")  # started: the driver's timeout counts from here
        try:
            outcome = execute_remote(call)
            payload = cloudpickle.dumps(outcome)
        except BaseException as exc:  # noqa: BLE001 - report rather than die silently
            outcome = Outcome(call.key, call.attempt, "failed", error=f"{type(exc).__name__}: {exc}",
                              error_type=type(exc).__name__)
            outcome.value, outcome.has_value = None, False
            payload = cloudpickle.dumps(outcome)
        conn.send_bytes(payload)


class _Proc:
    def __init__(self, ctx: Any):
        parent, child = ctx.Pipe()
        life_r, life_w = ctx.Pipe(duplex=False)
        self.conn = parent
        self.lifeline = life_w  # never written; closed (or the driver dead) = worker exits
        # the parent-death signal fires when the *thread* that started the child exits, so
        # it is asked for only when that thread is the main one (the lifeline covers the rest)
        deathsig = threading.current_thread() is threading.main_thread()
        self.process = ctx.Process(target=_worker_main, args=(child, life_r, os.getpid(), deathsig),
                                   daemon=True, name="datamill-proc")
        self.process.start()
        child.close()
        life_r.close()
        self.busy: tuple[TaskCall, OnDone] | None = None
        self.lock = threading.Lock()
        self._worker: str | None = None

    @property
    def worker(self) -> str:
        """``host:pid:start`` of the process (read once, see ``store.liveness``)."""
        if self._worker is None:
            from datamill.store.liveness import worker_id

            self._worker = worker_id(self.process.pid)
        return self._worker

    def close(self) -> None:
        for c in (self.conn, self.lifeline):
            try:
                c.close()
            except OSError:
                pass


class ProcessPool:
    """A small pool of spawned worker processes that can kill one worker on cancel/timeout."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self._ctx = mp.get_context("spawn")
        self._idle: deque[_Proc] = deque()
        self._all: set[_Proc] = set()
        self._queue: deque[tuple[TaskCall, OnDone, dict[str, Any], OnStart]] = deque()
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, call: TaskCall, on_done: OnDone, on_start: OnStart = None) -> Any:
        handle: dict[str, Any] = {"call": call, "proc": None, "cancelled": False}
        with self._lock:
            self._queue.append((call, on_done, handle, on_start))
        self._dispatch()
        return handle

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if not self._queue or self._closed:
                    return
                if self._idle:
                    proc = self._idle.popleft()
                elif len(self._all) < self.size:
                    proc = None
                else:
                    return
                call, on_done, handle, on_start = self._queue.popleft()
            if proc is None:
                proc = _Proc(self._ctx)
                with self._lock:
                    self._all.add(proc)
            self._run(proc, call, on_done, handle, on_start)

    def _run(self, proc: _Proc, call: TaskCall, on_done: OnDone, handle: dict[str, Any],
             on_start: OnStart) -> None:
        import cloudpickle

        handle["proc"] = proc
        proc.busy = (call, on_done)
        try:
            proc.conn.send_bytes(cloudpickle.dumps(call))
        except Exception as exc:  # noqa: BLE001 - e.g. an unpicklable closure, or a dead worker
            proc.busy = None
            handle["proc"] = None
            with self._lock:
                if proc.process.is_alive():
                    self._idle.append(proc)
                else:
                    self._all.discard(proc)
            on_done(call, exc)
            self._dispatch()
            return
        threading.Thread(target=self._wait, args=(proc, call, on_done, handle, on_start),
                         daemon=True, name="datamill-proc-wait").start()

    def _wait(self, proc: _Proc, call: TaskCall, on_done: OnDone, handle: dict[str, Any],
              on_start: OnStart) -> None:
        import cloudpickle

        try:
            data = proc.conn.recv_bytes()
            if data == b"S":
                if on_start is not None:
                    on_start(call, proc.worker)
                data = proc.conn.recv_bytes()
            outcome = cloudpickle.loads(data)
        except (EOFError, OSError) as exc:
            with self._lock:
                self._all.discard(proc)
            proc.close()
            if not handle["cancelled"]:
                code = proc.process.exitcode
                on_done(call, RuntimeError(f"worker process died (exit code {code}) while running "
                                           f"task {call.key!r}: {exc or 'connection closed'}"))
            self._dispatch()
            return
        proc.busy = None
        handle["proc"] = None  # finished: a late cancel must not kill the next task's process
        with self._lock:
            if not self._closed:
                self._idle.append(proc)
        if not handle["cancelled"]:
            on_done(call, outcome)
        self._dispatch()

    def cancel(self, handle: Any) -> None:
        handle["cancelled"] = True
        with self._lock:
            proc = handle.get("proc")
            if proc is None:
                self._queue = deque(q for q in self._queue if q[2] is not handle)
                return
        proc.process.kill()
        proc.lifeline.close()

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            procs = list(self._all)
            self._all.clear()
            self._idle.clear()
        for p in procs:
            try:
                p.conn.close()
            except OSError:
                pass
            p.process.join(timeout=0.5)
            if p.process.is_alive():
                p.process.kill()
            p.close()
