"""Table checkpoints written in the background, overlapped with the tasks downstream.

A task's table output goes on to the next task in memory at once; its checkpoint file is
written by one daemon thread per process, in submission order. Durability is waited for
wherever it matters:

* ``load``/``read_meta`` of a checkpoint still being written wait for that write;
* the run's end waits for every write of the run (``drain``) and fails the task whose
  write failed (the engine's ``settle_checkpoints`` hook);
* ``submit`` blocks while ``MAX_PENDING`` writes are queued or running, so a producer
  faster than the disk cannot hold every intermediate table in memory at once.

One thread, because a checkpoint write is a copy into the page cache: a second thread
would take a core from the tasks, not make the disk faster.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_PENDING", "Job", "drain", "pending_for", "set_hook", "submit"]

log = logging.getLogger("datamill.store.background")

MAX_PENDING = 1  # writes queued or running per process before submit() waits

_lock = threading.Condition()
_queue: deque[Job] = deque()
_by_slot: dict[tuple[str, str], Job] = {}  # (store root, meta rel path) -> latest write
_by_run: dict[str, list[Job]] = {}
_thread: threading.Thread | None = None
_hook: Callable[[Job], None] | None = None


class Job:
    """One background checkpoint write; ``result()`` waits and returns its final meta."""

    __slots__ = ("_done", "error", "fn", "key", "meta", "root", "run_id", "slot", "task")

    def __init__(self, fn: Callable[[], Any], *, root: str, slot: str, run_id: str,
                 key: str, task: str):
        self.fn, self.root, self.slot, self.run_id = fn, root, slot, run_id
        self.key, self.task = key, task
        self.meta: Any = None
        self.error: BaseException | None = None
        self._done = threading.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self) -> None:
        self._done.wait()

    def result(self) -> Any:
        self._done.wait()
        if self.error is not None:
            raise self.error
        return self.meta


def set_hook(fn: Callable[[Job], None] | None) -> None:
    """Called in the writer thread before each write (the runtime's kill points)."""
    global _hook
    _hook = fn


def submit(fn: Callable[[], Any], *, root: str, slot: str, run_id: str, key: str,
           task: str) -> Job:
    """Queue ``fn`` (which writes the checkpoint and returns its meta); returns its Job."""
    global _thread
    job = Job(fn, root=root, slot=slot, run_id=run_id, key=key, task=task)
    with _lock:
        while len(_queue) >= MAX_PENDING:
            _lock.wait()
        _queue.append(job)
        _by_slot[(root, slot)] = job
        _by_run.setdefault(run_id, []).append(job)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="datamill-checkpoints", daemon=True)
            _thread.start()
        _lock.notify_all()
    return job


def pending_for(root: str, slot: str) -> Job | None:
    """The write of the checkpoint whose meta file is ``slot`` in store ``root``, if one
    is still running or queued."""
    job = _by_slot.get((root, slot))
    return job if job is not None and not job.done else None


def drain(run_id: str) -> list[Job]:
    """Wait for every write submitted for ``run_id``; returns them (errors in ``error``)."""
    with _lock:
        jobs = _by_run.pop(run_id, [])
    for job in jobs:
        job.wait()
    return jobs


def _loop() -> None:
    while True:
        with _lock:
            while not _queue:
                _lock.wait()
            job = _queue[0]
        try:
            if _hook is not None:
                _hook(job)
            job.meta = job.fn()
        except BaseException as exc:  # noqa: BLE001 - kept for the task, raised by result()
            job.error = exc
            log.debug("background checkpoint of %s failed: %s", job.key, exc)
        finally:
            job.fn = _noop  # the table is released as soon as it is written
            with _lock:
                _queue.popleft()
                if _by_slot.get((job.root, job.slot)) is job:
                    del _by_slot[(job.root, job.slot)]
                _lock.notify_all()
            job._done.set()


def _noop() -> None:
    return None
