"""Pure helpers of the driver: trigger rules and state arithmetic (when a task runs, what
state a task or node takes from its upstream and its instances), input versions, and
checkpoint metadata rebuilt from a run-store record."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from datamill.core.params import canonical_json
from datamill.core.task import Trigger
from datamill.runtime.calls import InputRef
from datamill.store.records import State, TaskRunRecord

BAD = (State.FAILED, State.UPSTREAM_FAILED)


def _trigger(rule: Trigger, states: list[State]) -> State | None:
    """None to run; otherwise the state the task takes without running."""
    failed = any(s in BAD for s in states)
    if rule == Trigger.ALL_SUCCESS:
        if failed:
            return State.UPSTREAM_FAILED
        if State.CANCELLED in states:
            return State.CANCELLED
        if State.SKIPPED in states:
            return State.SKIPPED
        return None
    if rule == Trigger.NONE_FAILED:
        if failed:
            return State.UPSTREAM_FAILED
        if State.CANCELLED in states:
            return State.CANCELLED
        return None
    if rule == Trigger.ALL_DONE:
        return None
    if rule == Trigger.ANY_FAILED:
        return None if failed else State.SKIPPED
    return None


def _propagate(state: State) -> State:
    if state in BAD:
        return State.UPSTREAM_FAILED
    return state if state in (State.SKIPPED, State.CANCELLED) else State.UPSTREAM_FAILED


def _aggregate(states: list[State]) -> State:
    if not states:
        return State.SUCCEEDED
    if State.FAILED in states:
        return State.FAILED
    if State.UPSTREAM_FAILED in states:
        return State.UPSTREAM_FAILED
    if State.CANCELLED in states:
        return State.CANCELLED
    if all(s == State.SKIPPED for s in states):
        return State.SKIPPED
    if all(s == State.CACHED for s in states):
        return State.CACHED
    return State.SUCCEEDED


def _driver_token() -> str | None:
    from datamill.store.liveness import start_token

    return start_token(os.getpid())


def _meta_from_record(pipeline: str, r: TaskRunRecord) -> Any:
    from datamill.store.artifacts import CheckpointMeta

    return CheckpointMeta(
        path=r.checkpoint or "", type_tag=r.type_tag or "", checksum=r.data_version or "",
        data_version=r.data_version or "", bytes=r.bytes or 0, rows=r.rows_out,
        created_at=r.ended_at.timestamp() if r.ended_at else 0.0, fingerprint=r.fingerprint or "",
        task=r.task, pipeline=pipeline,
    )


def _ref_version(ref: InputRef, insts: dict[str, Any]) -> str:
    if ref.kind == "list":
        return "[" + ",".join(_ref_version(r, insts) for r in ref.value) + "]"
    inst = insts.get(ref.key)
    if inst is None:  # a mapped item given by value
        return canonical_json(ref.value) if ref.kind == "value" else str(ref.value)
    return inst.data_version or "none"


def run_state(cancelled: bool, cancel_reason: str, insts: Iterable[Any], finished_nodes: int,
              selected: int) -> State:
    """A run's final state: cancelled (not by fail-fast), failed (a failed instance, a
    fail-fast cancel, tasks left open) or succeeded."""
    if cancelled and not cancel_reason.startswith("fail-fast"):
        return State.CANCELLED
    for inst in insts:
        if inst.state in BAD:
            return State.FAILED
    if cancelled:
        return State.FAILED
    if finished_nodes < selected:
        return State.FAILED
    return State.SUCCEEDED


def upstream_states(p: Any, node_state: dict[str, State], node: Any) -> list[State]:
    """The states a trigger rule looks at: every upstream's, except a mapped source's for
    an element-wise map (each instance follows its own item)."""
    return [node_state[u] for u in node.upstream
            if u != node.map_source or not p.nodes[u].mapped]
