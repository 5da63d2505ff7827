"""Recovery from a corrupt checkpoint during a run (resuming a crashed run is
``resume.py``).

A checkpoint that fails its checksum when an input is loaded is not the reading task's
fault: the upstream instance that wrote it is computed again (once), and whoever waited
for it (a task instance, or a node mapping over its output) is dispatched again when it
is back, without using a retry. An output released from memory that is needed again is
recovered the same way. Recovery is impossible for outputs taken from another run
(``--only``): the waiter fails.
"""

from __future__ import annotations

import logging
from typing import Any

from datamill.store.records import State

log = logging.getLogger("datamill.run")

OK = (State.SUCCEEDED, State.CACHED)


class WaitFor(Exception):  # noqa: N818 - control flow inside the driver
    """An input is being recomputed (corrupt checkpoint): park the task until it is back."""

    def __init__(self, key: str):
        self.key = key


class InputMissing(Exception):  # noqa: N818
    """An input's value is neither checkpointed nor in memory any more."""

    def __init__(self, message: str, key: str):
        super().__init__(message)
        self.key = key


class Recovery:
    """The recomputations under way in one run, and who waits for each."""

    def __init__(self, engine: Any):
        self.engine = engine
        self.waiting: dict[str, list[Any]] = {}  # upstream key -> waiting Insts / node names

    def park(self, key: str, waiter: Any) -> None:
        """``waiter`` needs ``key``, which is being recomputed."""
        self.waiting[key].append(waiter)

    def recover(self, bad_key: str | None, waiter: Any) -> bool:
        """An upstream checkpoint is corrupt: recompute it once, then resume ``waiter``
        (a task instance, or the name of a node that maps over it). False if impossible."""
        e = self.engine
        up = e.insts.get(bad_key or "")
        if up is None or up.node.name in e.external:
            return False
        if up.key in self.waiting:
            self.waiting[up.key].append(waiter)
            return True
        if up.recovered:
            if up.state not in OK:
                return False
            self.wake(waiter, ok=True)  # recomputed already: try again with it
            return True
        log.warning("checkpoint of %s is corrupt; recomputing it", up.key)
        if up.meta is not None:
            try:
                e.artifacts.delete_checkpoint(up.meta)
            except Exception:  # noqa: BLE001 - it will be overwritten anyway
                pass
        up.recovered = True
        up.meta = None
        up.data_version = None
        up.fingerprint = None
        e.values.pop(up.key, None)
        up.state = State.PENDING
        up.base_attempt = up.attempt  # the recomputation does not use up its retries
        self.waiting[up.key] = [waiter]
        e._dispatch(up)
        return True

    def wake(self, waiter: Any, ok: bool) -> None:
        """The recomputation ``waiter`` waited for ended (``ok``: it succeeded)."""
        e = self.engine
        failed = State.CANCELLED if e.cancelled else State.UPSTREAM_FAILED
        if isinstance(waiter, str):  # a node mapping over the recovered output
            if ok:
                e._ready.append(waiter)
            else:
                e._close_node_without_run(e.p.nodes[waiter], failed)
            return
        if ok:
            waiter.fingerprint = None
            e._dispatch(waiter)
        else:
            e._finish_inst(waiter, failed)
