"""Run listeners: how anything that watches a run plugs into it (docs/listeners.md).

The driver emits typed events (:mod:`datamill.runtime.events`) to a list of listeners;
the run store's recorder, the progress display, OpenLineage events and task hooks are
listeners like any a user registers (``datamill.run(..., listeners=[...])``), and so will
be the server, the UI, metrics and alerts. A listener is

* an object with ``on_<event>`` methods (subclass :class:`RunListener` and override the
  ones wanted: ``on_task_finished(self, event)``...), or
* a plain callable, which receives every event.

Listeners are called on the driver thread, in registration order (built-ins first), one
event at a time: a slow listener slows the run, so hand heavy work to a thread of your own.
A listener that raises does not break the run: the first error of each listener is logged
with its traceback, every error is counted (``RunResult.listener_errors``). Only the run
store's recorder is ``critical`` (a run that cannot be recorded must not go on silently).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from datamill.runtime import events as ev
from datamill.runtime.labels import shown
from datamill.store.records import State

log = logging.getLogger("datamill.run")

#: event class -> listener method
METHODS: dict[type, str] = {
    ev.RunStarted: "on_run_started",
    ev.TaskExpanded: "on_task_expanded",
    ev.TaskQueued: "on_task_queued",
    ev.TaskStarted: "on_task_started",
    ev.AttemptFinished: "on_attempt_finished",
    ev.AttemptRetried: "on_attempt_retried",
    ev.CheckpointWritten: "on_checkpoint_written",
    ev.LineageRecorded: "on_lineage_recorded",
    ev.MetricRecorded: "on_metric_recorded",
    ev.StateSaved: "on_state_saved",
    ev.TaskFinished: "on_task_finished",
    ev.RunFinished: "on_run_finished",
}


class RunListener:
    """Base class of listeners: every method does nothing; override those you need."""

    #: errors of a critical listener propagate (and fail the run) instead of being counted
    critical: bool = False

    def on_run_started(self, event: ev.RunStarted) -> None: ...
    def on_task_expanded(self, event: ev.TaskExpanded) -> None: ...
    def on_task_queued(self, event: ev.TaskQueued) -> None: ...
    def on_task_started(self, event: ev.TaskStarted) -> None: ...
    def on_attempt_finished(self, event: ev.AttemptFinished) -> None: ...
    def on_attempt_retried(self, event: ev.AttemptRetried) -> None: ...
    def on_checkpoint_written(self, event: ev.CheckpointWritten) -> None: ...
    def on_lineage_recorded(self, event: ev.LineageRecorded) -> None: ...
    def on_metric_recorded(self, event: ev.MetricRecorded) -> None: ...
    def on_state_saved(self, event: ev.StateSaved) -> None: ...
    def on_task_finished(self, event: ev.TaskFinished) -> None: ...
    def on_run_finished(self, event: ev.RunFinished) -> None: ...


def _ignore(event: Any) -> None:
    """The emitter of an event nobody listens to."""


def _name(listener: Any) -> str:
    kind = listener if callable(listener) and not hasattr(listener, "on_run_started") \
        and hasattr(listener, "__qualname__") else type(listener)
    return f"{getattr(kind, '__module__', '?')}.{getattr(kind, '__qualname__', repr(kind))}"


class Listeners:
    """The listeners of one run, with each event's handlers looked up once."""

    __slots__ = ("_handlers", "errors", "_names", "wants", "to")

    def __init__(self, listeners: Iterable[Any]):
        self._handlers: dict[type, list[tuple[Callable[[Any], None], bool, int]]] = {
            cls: [] for cls in METHODS}
        self._names: list[str] = []
        self.errors: dict[str, int] = {}
        for i, listener in enumerate(listeners):
            self._names.append(_name(listener))
            critical = bool(getattr(listener, "critical", False))
            methods = [m for m in METHODS.values() if hasattr(listener, m)]
            if not methods:
                if not callable(listener):
                    raise TypeError(f"a run listener is a callable or has on_<event> methods "
                                    f"(see datamill.runtime.listeners); got {listener!r}")
                for cls in METHODS:
                    self._handlers[cls].append((listener, critical, i))
                continue
            for cls, m in METHODS.items():
                fn = getattr(listener, m, None)
                if fn is None or getattr(type(listener), m, None) is getattr(RunListener, m):
                    continue  # not overridden: not called at all
                self._handlers[cls].append((fn, critical, i))
        #: event class -> whether anyone listens (the driver builds no event nobody wants)
        self.wants: dict[type, bool] = {cls: bool(h) for cls, h in self._handlers.items()}
        #: event class -> the function the driver calls with such an event: the handler
        #: itself when it is the only one and critical (the run store alone: no extra layer
        #: on the per-task path), else a loop that isolates non-critical handlers
        self.to: dict[type, Callable[[Any], None]] = {
            cls: self._emitter(h) for cls, h in self._handlers.items()}

    def _emitter(self, handlers: list[tuple[Callable[[Any], None], bool, int]]) -> Callable[[Any], None]:
        if not handlers:
            return _ignore
        if len(handlers) == 1 and handlers[0][1]:
            return handlers[0][0]

        def emit(event: Any) -> None:
            for fn, critical, i in handlers:
                if critical:
                    fn(event)
                    continue
                try:
                    fn(event)
                except Exception:  # noqa: BLE001 - a listener must not break the run
                    self._failed(i, event)

        return emit

    def emit(self, event: Any) -> None:
        """Hand ``event`` to every listener of its kind."""
        self.to[type(event)](event)

    def emit_all(self, event: Any) -> None:
        """Like :meth:`emit`, but every listener gets the event even if a critical one
        raised; the first critical error is raised at the end (the run's last event)."""
        first: BaseException | None = None
        for fn, critical, i in self._handlers[type(event)]:
            try:
                fn(event)
            except Exception as exc:  # noqa: BLE001
                if critical:
                    first = first or exc
                else:
                    self._failed(i, event)
        if first is not None:
            raise first

    def _failed(self, i: int, event: Any) -> None:
        name = self._names[i]
        n = self.errors.get(name, 0) + 1
        self.errors[name] = n
        if n == 1:  # logged once; later errors of the same listener are only counted
            log.warning("run listener %s raised on %s; the run goes on (further errors of "
                        "this listener are counted, not logged)", name, type(event).__name__,
                        exc_info=True)

    def summary(self) -> None:
        """Log how often each failing listener raised (at the run's end)."""
        for name, n in self.errors.items():
            if n > 1:
                log.warning("run listener %s raised %d times during the run", name, n)


# -- the built-in listeners -----------------------------------------------------------------


class ProgressListener(RunListener):
    """Drives a progress display: an object with ``start(run_id, pipeline, total)``,
    ``add_total(n)``, ``task_started(key)``, ``task_finished(key, state, seconds)`` and
    ``finish(result)`` (``runtime/progress.py``; ``datamill.run(progress=...)``)."""

    def __init__(self, progress: Any):
        self.progress = progress

    def on_run_started(self, event: ev.RunStarted) -> None:
        if hasattr(self.progress, "secrets"):
            self.progress.secrets = event.secrets
        self.progress.start(event.run_id, event.pipeline, event.tasks)

    def on_task_expanded(self, event: ev.TaskExpanded) -> None:
        self.progress.add_total(event.instances - 1)

    def on_task_started(self, event: ev.TaskStarted) -> None:
        self.progress.task_started(shown(event.key, event.label))

    def on_task_finished(self, event: ev.TaskFinished) -> None:
        self.progress.task_finished(shown(event.key, event.label), event.state,
                                    event.result.duration)

    def on_run_finished(self, event: ev.RunFinished) -> None:
        self.progress.finish(event.result)


class OpenLineageListener(RunListener):
    """OpenLineage START / COMPLETE / FAIL events of each task instance (``openlineage.py``)."""

    def __init__(self, emitter: Any):
        self.emitter = emitter
        self._lineage: dict[str, list[dict[str, Any]]] = {}

    def on_task_started(self, event: ev.TaskStarted) -> None:
        self.emitter.event("START", event.pipeline, event.run_id, event.key)

    def on_lineage_recorded(self, event: ev.LineageRecorded) -> None:
        r = event.record
        self._lineage.setdefault(event.key, []).append(
            {"dataset": r.dataset, "direction": r.direction, "schema": r.schema, "rows": r.rows})

    def on_task_finished(self, event: ev.TaskFinished) -> None:
        lineage = self._lineage.pop(event.key, [])
        if event.state == State.SUCCEEDED:
            self.emitter.event("COMPLETE", event.pipeline, event.run_id, event.key, lineage)
        elif event.state == State.FAILED and event.started_at is not None \
                and not event.recomputed:
            self.emitter.event("FAIL", event.pipeline, event.run_id, event.key,
                               error=event.result.error)

    def on_run_finished(self, event: ev.RunFinished) -> None:
        self.emitter.close()


class HooksListener(RunListener):
    """Task hooks (``@task(on_failure=..., on_success=...)``, called with the instance's
    TaskResult) and pipeline hooks (``datamill.options(on_failure=...)``, called with the
    RunResult); a hook that raises is logged and the run goes on."""

    def __init__(self, pipeline: Any):
        self.p = pipeline

    def on_task_finished(self, event: ev.TaskFinished) -> None:
        if event.recomputed:
            return
        t = self.p.nodes[event.task].task
        fn = t.on_failure if event.state == State.FAILED else \
            t.on_success if event.state == State.SUCCEEDED else None
        if fn is None:
            return
        try:
            fn(event.result)
        except Exception as exc:  # noqa: BLE001 - a hook must not break the run
            log.warning("hook %s of task %s raised %s: %s", getattr(fn, "__name__", fn),
                        event.key, type(exc).__name__, exc)

    def on_run_finished(self, event: ev.RunFinished) -> None:
        if event.aborted:
            return
        result = event.result
        fn = self.p.on_failure if result.state != State.SUCCEEDED else self.p.on_success
        if fn is None:
            return
        try:
            fn(result)
        except Exception as exc:  # noqa: BLE001
            log.warning("pipeline hook raised %s: %s", type(exc).__name__, exc)

    @staticmethod
    def needed(pipeline: Any) -> bool:
        """Whether the pipeline or any of its tasks has a hook (else the listener is left out)."""
        return pipeline.on_failure is not None or pipeline.on_success is not None or any(
            n.task.on_failure is not None or n.task.on_success is not None
            for n in pipeline.nodes.values())
