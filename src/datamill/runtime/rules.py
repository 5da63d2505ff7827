"""Trigger rules and state arithmetic of the driver: when a task runs, what state a task
or node takes from its upstream and its instances."""

from __future__ import annotations

from datamill.core.task import Trigger
from datamill.store.records import State

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
