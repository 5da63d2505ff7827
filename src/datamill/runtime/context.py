"""The run context: the one seam between a task and the platform.

A task receives it by annotating a parameter with ``datamill.Context``. It carries the
logger, metrics, lineage, saved state (watermarks, positions), secrets and sub-task
submission. Everything it records travels back with the attempt's outcome and is
written by the driver only if the attempt succeeds, so a watermark never advances
past data that was not committed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from datamill._secrets import from_file
from datamill.core.redaction import redact_deep
from datamill.core.task import Context
from datamill.errors import UsageError
from datamill.runtime.logs import task_logger

_sub_pool: ThreadPoolExecutor | None = None
_sub_lock = threading.Lock()


def _subtask_pool() -> ThreadPoolExecutor:
    global _sub_pool
    with _sub_lock:
        if _sub_pool is None:
            _sub_pool = ThreadPoolExecutor(
                max_workers=max(4, (os.cpu_count() or 2) * 2), thread_name_prefix="datamill-sub"
            )
        return _sub_pool


class RunContext(Context):
    """What a running task can ask of datamill (see docs/concepts.md#run-context)."""

    __slots__ = (
        "run_id", "pipeline", "task", "key", "attempt", "map_key", "params", "log",
        "_secrets", "_state", "_updates", "lineage", "metrics", "_cancel", "_children",
        "_artifacts",
    )

    def __init__(
        self,
        run_id: str,
        pipeline: str,
        task: str,
        key: str,
        attempt: int,
        params: dict[str, Any],
        state: dict[str, Any],
        secrets: tuple[str, ...] = (),
        map_key: str | None = None,
        artifacts: Any = None,
    ):
        self.run_id, self.pipeline, self.task, self.key = run_id, pipeline, task, key
        self.attempt, self.map_key, self.params = attempt, map_key, params
        self.log: logging.Logger = task_logger(task)
        self._secrets = list(secrets)
        self._state = state
        self._updates: dict[str, Any] = {}
        self.lineage: list[dict[str, Any]] = []
        self.metrics: list[tuple[str, float, dict[str, str] | None]] = []
        self._cancel = threading.Event()
        self._children: list[Future[Any]] = []
        self._artifacts = artifacts

    def __repr__(self) -> str:
        return f"<RunContext run={self.run_id} task={self.key} attempt={self.attempt}>"

    # -- saved state -----------------------------------------------------------------
    def get_state(self, key: str, default: Any = None) -> Any:
        """Saved state of this pipeline (a watermark, a broker position) from earlier runs."""
        if key in self._updates:
            return self._updates[key]
        return self._state.get(key, default)

    def set_state(self, key: str, value: Any) -> None:
        """Save state for the next run; committed only if this attempt succeeds."""
        self._updates[key] = value

    # -- metrics and lineage ---------------------------------------------------------
    def metric(self, name: str, value: float, **labels: str) -> None:
        """Record a numeric metric for this task attempt (rows, rejected, latency...)."""
        self.metrics.append((name, float(value), redact_deep(labels, self._secrets) or None))

    def record_input(self, dataset: str, schema: Any = None, rows: int | None = None) -> None:
        """Record that this task read ``dataset`` (normalised URL + table or path)."""
        self._record(dataset, "input", schema, rows)

    def record_output(self, dataset: str, schema: Any = None, rows: int | None = None) -> None:
        """Record that this task wrote ``dataset``."""
        self._record(dataset, "output", schema, rows)

    def _record(self, dataset: str, direction: str, schema: Any, rows: int | None) -> None:
        # masked here, so neither the run store nor OpenLineage events ever hold a URL
        # password or a secret's value (in any of its encoded forms)
        self.lineage.append({
            "dataset": redact_deep(str(dataset), self._secrets), "direction": direction,
            "schema": redact_deep(schema, self._secrets), "rows": rows, "ts": time.time(),
        })

    # -- reports -------------------------------------------------------------------
    def save_report(self, report: Any, name: str = "report.html") -> str:
        """Store a report with the run (an object with ``to_html()``/``to_dict()``, HTML text,
        or bytes) under ``reports/<run_id>/<task_key>/<name>`` in the artifact store; the
        location is recorded as an output of the task and returned."""
        if self._artifacts is None:
            raise UsageError("no artifact store: save_report works inside a datamill run")
        if isinstance(report, bytes):
            data = report
        elif isinstance(report, str):
            data = report.encode("utf-8")
        elif name.endswith(".json") and hasattr(report, "to_dict"):
            import json

            data = json.dumps(report.to_dict(), indent=2, default=str).encode("utf-8")
        elif hasattr(report, "to_html"):
            data = report.to_html().encode("utf-8")
        else:
            raise UsageError(f"task {self.task!r}: save_report needs HTML, bytes, or an object "
                             f"with to_html(), not {type(report).__name__}")
        safe = name.replace("/", "_").replace("\\", "_") or "report.html"
        rel = f"reports/{self.run_id}/{self.key}/{safe}"
        self._artifacts.write_bytes(rel, data)
        url = self._artifacts.url_for(rel)
        self.record_output(url if "://" in url else "file://" + url)
        return rel

    # -- quarantine ------------------------------------------------------------------
    def quarantine_root(self) -> str | None:
        """Where this run sets rejected rows aside: the artifact store's root (a local
        folder or an object-store URL), under which ``datamill.quality.Quarantine`` keeps
        ``quarantine/<dataset>/<run>-<n>.parquet``; None when the run has no artifact store.
        Code that quarantines asks the context, never the run's artifact store itself."""
        return None if self._artifacts is None else str(self._artifacts.root)

    # -- secrets ---------------------------------------------------------------------
    def secret(self, name: str, default: str | None = None) -> str:
        """A secret from env ``NAME`` or from the file named by ``NAME_FILE``; redacted in logs."""
        value = os.environ.get(name)
        if value is None and os.environ.get(f"{name}_FILE"):
            value = from_file(os.environ[f"{name}_FILE"], f"task {self.task!r}: secret {name!r}")
        if value is None:
            if default is not None:
                return default
            raise UsageError(
                f"task {self.task!r} needs secret {name!r}: set the environment variable {name} "
                f"or {name}_FILE (a file holding it)"
            )
        self._secrets.append(value)
        from datamill.runtime import logs

        buf = logs.current()
        if buf is not None:
            buf.secrets = tuple(self._secrets)
        return value

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(self._secrets)

    # -- cancellation and sub-tasks --------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """True once the attempt timed out or the run was cancelled; long loops should check it."""
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            from datamill.errors import TaskTimeoutError

            raise TaskTimeoutError(f"task {self.key!r} was cancelled")

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run a sub-task (a tuning trial, a chunk) in parallel; returns a Future."""
        fut = _subtask_pool().submit(fn, *args, **kwargs)
        self._children.append(fut)
        return fut

    def map(self, fn: Callable[..., Any], items: Any) -> list[Any]:
        """Run ``fn`` over items in parallel sub-tasks and return the results in order."""
        futs = [self.submit(fn, it) for it in items]
        return [f.result() for f in futs]
