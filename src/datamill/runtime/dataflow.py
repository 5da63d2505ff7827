"""How outputs flow between tasks: an attempt's inputs as values or checkpoint references,
and the driver's own reads of an output (mapped items, ``--only`` ordering).

Outputs stay in the driver's memory only while a downstream task still needs them
(``Engine._finish_node`` releases them); a checkpoint is the way back once they are gone.
"""

from __future__ import annotations

from typing import Any

from datamill.runtime.calls import InputRef
from datamill.runtime.recovery import InputMissing, WaitFor
from datamill.store.records import State

OK = (State.SUCCEEDED, State.CACHED)


def inputs(e: Any, inst: Any, remote: bool) -> dict[str, InputRef]:
    """The inputs of an attempt of ``inst``: by value between threads of the driver's
    process, by checkpoint reference for a remote worker (or a value no longer in memory)."""
    node = inst.node
    refs: dict[str, InputRef] = {}
    for pname, up in node.inputs.items():
        upnode = e.p.nodes[up]
        if pname == node.map_param and node.map_source == up:
            if inst.item_ref is not None:
                refs[pname] = ref(e, e.insts[inst.item_ref], remote)
            else:
                refs[pname] = InputRef("value", inst.item, key=f"{up}[item]")
            continue
        if upnode.mapped:
            members = [e.insts[k] for k in e.node_keys.get(up, ()) if e.insts[k].state in OK]
            refs[pname] = InputRef("list", [ref(e, m, remote) for m in members], key=up)
        else:
            refs[pname] = ref(e, e.insts[up], remote)
    return refs

def ref(e: Any, up: Any, remote: bool) -> InputRef:
    """One upstream instance as an input; raises WaitFor while it is being recomputed and
    InputMissing when its value is gone (no checkpoint, released from memory)."""
    if e.recovery.waiting and up.key in e.recovery.waiting:
        raise WaitFor(up.key)
    if up.state not in OK:
        return InputRef("value", None, key=up.key)
    if up.key in e.values and (not remote or up.meta is None):
        return InputRef("value", e.values[up.key], key=up.key)
    if up.meta is not None:
        return InputRef("ckpt", up.meta, key=up.key)
    raise InputMissing(
        f"the output of task {up.key!r} is no longer available (it has no checkpoint and was "
        "released from memory); run again, or let that task checkpoint", up.key
    )

def value_of(e: Any, name: str) -> Any:
    """The output of instance ``name`` on the driver (loaded from its checkpoint once)."""
    inst = e.insts[name]
    if inst.state not in OK:
        return None
    if name in e.values:
        return e.values[name]
    if inst.meta is not None:
        value = e.artifacts.load_checkpoint(inst.meta)
        e.values[name] = value
        return value
    return None
