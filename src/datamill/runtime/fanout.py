"""Fan-out: a mapped task becomes one instance per item of its input.

``map="files"`` over a task's output makes ``task[<item key>]`` instances (the key is a
hash of the item, ``core.fingerprint.item_keys``); mapping over a mapped task is
element-wise (``b[k]`` takes ``a[k]``'s output). Instances keep the order of the items.
"""

from __future__ import annotations

from typing import Any

from datamill.core.fingerprint import item_keys
from datamill.errors import CheckpointCorruptError
from datamill.runtime.dataflow import value_of
from datamill.runtime.labels import item_label
from datamill.runtime.rules import _propagate
from datamill.runtime.state import Inst
from datamill.store.records import State

OK = (State.SUCCEEDED, State.CACHED)


def instances(e: Any, node: Any) -> list[str] | None:
    """The instance keys of ``node`` (registered in ``e.insts``), or None when the node was
    closed without running (nothing to map over) or waits for its input's recomputation."""
    name = node.name
    src = node.map_source
    if src is None:
        e.insts[name] = Inst(node, name)
        return [name]
    if e.p.nodes[src].mapped:
        if e.node_keys[src] == [src] and e.insts[src].map_key is None:
            # the mapped source was closed without expanding (upstream failed/skipped)
            e._close_node_without_run(node, _propagate(e.node_state[src]))
            return None
        keys = []
        for sk in e.node_keys[src]:
            s = e.insts[sk]
            k = f"{name}[{s.map_key}]"
            keys.append(k)
            e.insts[k] = Inst(node, k, map_key=s.map_key, item_ref=sk, label=s.label)
        return keys
    src_state = e.insts[src].state
    if src_state not in OK:
        # the trigger rule let the task run, but there is nothing to map over
        e._close_node_without_run(node, _propagate(src_state))
        return None
    try:
        items = value_of(e, src)
    except CheckpointCorruptError as exc:
        if not e.recovery.recover(src, name):
            e._close_node_without_run(node, State.FAILED, str(exc))
        return None
    if items is None or isinstance(items, str | bytes | dict) or not hasattr(items, "__iter__"):
        e._close_node_without_run(
            node, State.FAILED,
            f"task {name!r} maps over {src!r}, whose output is a "
            f"{type(items).__name__}, not a list",
        )
        return None
    items = list(items)
    keys = []
    for mk, it in zip(item_keys(items), items, strict=True):
        k = f"{name}[{mk}]"
        keys.append(k)
        e.insts[k] = Inst(node, k, map_key=mk, item=it, label=item_label(it))
    return keys


def order_like_items(e: Any, name: str) -> None:
    """Put a mapped task's instances back in the order of the items they came from."""
    root = e.p.nodes[name]
    while root.map_source and e.p.nodes[root.map_source].mapped:
        root = e.p.nodes[root.map_source]
    src = root.map_source
    if src is None or src not in e.insts:
        return
    items = value_of(e, src)
    order = {k: i for i, k in enumerate(item_keys(list(items or [])))}
    e.node_keys[name].sort(key=lambda k: order.get(e.insts[k].map_key or "", len(order)))
