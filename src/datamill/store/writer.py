"""A background writer that batches run-store writes so a task pays a queue append, not a commit.

The run loop puts task runs, attempts, lineage, metrics and saved state; a daemon thread
commits whatever has queued every ``flush_interval`` seconds in one transaction, and
sends the heartbeat of each run it is told to keep alive.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time
from collections import deque
from typing import Any

from datamill.errors import StoreError
from datamill.store.backends import is_transient
from datamill.store.records import AttemptRecord, LineageRecord, MetricRecord, TaskRunRecord
from datamill.store.runstore import RunStore

__all__ = ["StoreWriter"]

# Queue item kinds (small ints keep put() a bare tuple append).
_TASK, _ATTEMPT, _LINEAGE, _METRIC, _STATE, _FLUSH = range(6)
_RETRIES = 3


class StoreWriter:
    """Batches writes to a RunStore on a daemon thread; ``flush()`` waits until committed.

    An error in the thread is kept and raised as StoreError by the next ``flush()`` or
    ``close()``; the batch that failed is lost, later batches are still written.
    """

    def __init__(
        self,
        store: RunStore,
        flush_interval: float = 0.05,
        max_batch: int = 1000,
        *,
        heartbeat_interval: float | None = None,
    ):
        self.store = store
        self.flush_interval = flush_interval
        self.max_batch = max(1, max_batch)
        self.heartbeat_interval = (
            heartbeat_interval if heartbeat_interval is not None else store.HEARTBEAT_INTERVAL
        )
        self._q: deque[tuple[int, Any]] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._beats: dict[str, float] = {}  # run_id -> monotonic time the next beat is due
        self._errors: list[BaseException] = []
        self._lost = 0
        self._closed = False
        self._stopping = False
        self._thread = threading.Thread(
            target=self._loop, name="datamill-store-writer", daemon=True
        )
        self._thread.start()
        # A writer left open at interpreter exit still commits what was put.
        atexit.register(self._close_at_exit)

    # ----------------------------------------------------------------- producer side

    def _put(self, kind: int, payload: Any) -> None:
        if self._closed:
            raise StoreError("the run store writer is closed; open a new StoreWriter")
        q = self._q
        q.append((kind, payload))
        if len(q) >= self.max_batch:
            self._wake.set()

    def put_task_run(self, rec: TaskRunRecord) -> None:
        """Queue an insert-or-update of a task run (the last one per key in a batch wins)."""
        self._put(_TASK, rec)

    def put_attempt(self, rec: AttemptRecord) -> None:
        """Queue an insert-or-update of an attempt."""
        self._put(_ATTEMPT, rec)

    def put_lineage(self, rec: LineageRecord) -> None:
        """Queue a lineage edge (its direction is checked now, where the caller can fix it)."""
        if rec.direction not in ("input", "output"):
            raise StoreError(
                f"lineage of task {rec.task_key!r} for dataset {rec.dataset!r} has direction "
                f"{rec.direction!r}; use 'input' or 'output'"
            )
        self._put(_LINEAGE, rec)

    def put_metric(self, rec: MetricRecord) -> None:
        """Queue a metric value."""
        self._put(_METRIC, rec)

    def put_state(self, namespace: str, key: str, value: Any, run_id: str | None = None) -> None:
        """Queue a saved-state value (JSON)."""
        self._put(_STATE, (namespace, key, value, run_id))

    def heartbeat(self, run_id: str) -> None:
        """Keep a running run alive: a heartbeat now and every ``heartbeat_interval`` s.

        It goes on until ``stop_heartbeat(run_id)`` or ``close()``; a heartbeat never
        revives a run that has finished, so calling ``finish_run`` first is harmless.
        """
        if self._closed:
            raise StoreError("the run store writer is closed; open a new StoreWriter")
        with self._lock:
            self._beats[run_id] = 0.0
        self._wake.set()

    start_heartbeat = heartbeat

    def stop_heartbeat(self, run_id: str) -> None:
        """Stop sending the run's heartbeat (call before ``finish_run``)."""
        with self._lock:
            self._beats.pop(run_id, None)

    @property
    def pending(self) -> int:
        """How many puts are queued and not yet taken by the writer thread."""
        return len(self._q)

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything put so far is committed; raise StoreError if a write failed."""
        if self._thread.is_alive():
            done = threading.Event()
            self._q.append((_FLUSH, done))
            self._wake.set()
            deadline = None if timeout is None else time.monotonic() + timeout
            while not done.wait(0.5):
                if not self._thread.is_alive():
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise StoreError(
                        f"the run store writer did not commit within {timeout}s "
                        f"({len(self._q)} writes queued) to {self.store.url_display}"
                    )
        elif self._q and not self._closed:
            raise StoreError("the run store writer thread has stopped; writes were not saved")
        self._raise_errors()

    def close(self) -> None:
        """Flush, stop the thread and raise any write error not raised yet."""
        if not self._closed:
            self._closed = True
            atexit.unregister(self._close_at_exit)
            with self._lock:
                self._beats.clear()
            try:
                self.flush()
            finally:
                self._stopping = True
                self._wake.set()
                self._thread.join()
        self._raise_errors()

    def _close_at_exit(self) -> None:
        try:
            self.close()
        except StoreError as exc:
            print(f"datamill: {exc}", file=sys.stderr)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raise_errors(self) -> None:
        with self._lock:
            errors, lost = self._errors, self._lost
            self._errors, self._lost = [], 0
        if errors:
            first = errors[0]
            more = f" (and {len(errors) - 1} more failed batches)" if len(errors) > 1 else ""
            raise StoreError(
                f"the run store writer could not save {lost} writes to "
                f"{self.store.url_display}: {first}{more}"
            ) from first

    # ----------------------------------------------------------------- writer thread

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self._drain()
            except BaseException as exc:  # pragma: no cover - _drain keeps its own errors
                with self._lock:
                    self._errors.append(exc)
            if self._stopping and not self._q:
                return

    def _due_heartbeats(self) -> list[str]:
        now = time.monotonic()
        due: list[str] = []
        with self._lock:
            for run_id, at in self._beats.items():
                if at <= now:
                    due.append(run_id)
                    self._beats[run_id] = now + self.heartbeat_interval
        return due

    def _drain(self) -> None:
        """Commit batches until the queue is empty, releasing flush markers as they pass."""
        q = self._q
        while True:
            tasks: dict[tuple[str, str], TaskRunRecord] = {}
            attempts: dict[tuple[str, str, int], AttemptRecord] = {}
            lineage: list[LineageRecord] = []
            metrics: list[MetricRecord] = []
            states: dict[tuple[str, str], tuple[str, str, Any, str | None]] = {}
            markers: list[threading.Event] = []
            n = 0
            while n < self.max_batch:
                try:
                    kind, item = q.popleft()
                except IndexError:
                    break
                n += 1
                if kind == _TASK:
                    tasks[(item.run_id, item.task_key)] = item
                elif kind == _ATTEMPT:
                    attempts[(item.run_id, item.task_key, item.attempt)] = item
                elif kind == _LINEAGE:
                    lineage.append(item)
                elif kind == _METRIC:
                    metrics.append(item)
                elif kind == _STATE:
                    states[(item[0], item[1])] = item
                else:
                    n -= 1
                    markers.append(item)
            beats = self._due_heartbeats()
            if n or beats:
                self._commit(
                    n,
                    list(tasks.values()),
                    list(attempts.values()),
                    lineage,
                    metrics,
                    list(states.values()),
                    beats,
                )
            for done in markers:
                done.set()
            if not q:
                return

    def _commit(
        self,
        n: int,
        tasks: list[TaskRunRecord],
        attempts: list[AttemptRecord],
        lineage: list[LineageRecord],
        metrics: list[MetricRecord],
        states: list[tuple[str, str, Any, str | None]],
        beats: set[str],
    ) -> None:
        """Commit one batch; if a record is refused, write the rest one by one so it alone is lost."""
        exc = self._try_write(tasks, attempts, lineage, metrics, states, beats)
        if exc is None:
            return
        if n + len(beats) <= 1 or is_transient(exc):
            self._fail(n, exc)
            return
        singles: list[tuple[Any, ...]] = [
            *(([t], [], [], [], [], ()) for t in tasks),
            *(([], [a], [], [], [], ()) for a in attempts),
            *(([], [], [e], [], [], ()) for e in lineage),
            *(([], [], [], [m], [], ()) for m in metrics),
            *(([], [], [], [], [st], ()) for st in states),
        ]
        if beats:
            singles.append(([], [], [], [], [], beats))
        failed, first = 0, None
        for single in singles:
            err = self._try_write(*single)
            if err is not None:
                failed += 1
                first = first or err
        if first is not None:
            self._fail(failed, first)

    def _try_write(self, *batch: Any) -> BaseException | None:
        """Write a batch, retrying lost connections and lock timeouts; the error, if any."""
        for attempt in range(1, _RETRIES + 1):
            try:
                self.store.write_batch(*batch)
                return None
            except StoreError as exc:
                if attempt < _RETRIES and is_transient(exc):
                    time.sleep(0.1 * attempt)
                    continue
                return exc
            except Exception as exc:
                return exc
        return None  # pragma: no cover - the loop always returns

    def _fail(self, n: int, exc: BaseException) -> None:
        with self._lock:
            self._errors.append(exc)
            self._lost += n
