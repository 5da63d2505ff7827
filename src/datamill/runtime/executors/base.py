"""The executor contract: submit task calls, report outcomes through a callback.

An executor never decides what runs; the driver does. It places an attempt on a thread,
a process or a Dask worker, calls ``on_done(outcome)`` from any thread when it ends
(an ``Outcome``, or the exception that prevented it from running), and cancels on
request. Workers write checkpoints themselves; only small outcomes come back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from datamill.runtime.calls import Outcome, TaskCall

OnDone = Callable[[TaskCall, "Outcome | BaseException"], None]
#: ``on_start(call)``, or ``on_start(call, worker)`` where ``worker`` is the
#: ``host:pid:start`` id of the process running it (see ``store.liveness.worker_id``).
OnStart = Callable[..., None] | None


class Executor(Protocol):
    name: str
    #: True when the executor enforces ``TaskCall.timeout`` itself (no start signal back);
    #: otherwise it calls ``on_start`` when an attempt really starts and the driver times it.
    enforces_timeouts: bool

    def start(self) -> None:
        """Acquire resources (pools, a cluster client)."""

    def is_remote(self, run_in: str) -> bool:
        """True when an attempt placed by ``run_in`` runs in another process (inputs by reference)."""

    def submit(self, call: TaskCall, run_in: str, on_done: OnDone, on_start: OnStart = None) -> Any:
        """Queue the attempt; call ``on_start`` when it starts; return a handle for ``cancel``."""

    def cancel(self, handle: Any) -> None:
        """Stop an attempt: processes are killed; threads are told (ctx.cancelled) and abandoned."""

    def shutdown(self, cancel: bool = False) -> None:
        """Release resources; with ``cancel`` stop whatever still runs."""

    def check_artifacts(self, artifacts: Any) -> None:
        """Refuse an artifact store the workers cannot reach."""
