"""Checking a checkpoint's meta file against the slot it sits in, before it is believed.

The artifact store may be shared (an S3 bucket) and written by others, so a meta file is
input, not truth: it must name the pipeline, task and fingerprint of the slot it was read
from, its data must live in that slot, and its ``type_tag`` picks a loader only if that
loader cannot run code, or is the serializer the task itself declared (pickle is opt-in on
both write and read). A meta file that fails a check is treated as corrupt: the checkpoint
counts as absent, the task is recomputed and its checkpoint rewritten, with a warning.
See docs/checkpoints.md ("What the artifact store is trusted with").
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from datamill.errors import SerializationError
from datamill.store.serializers import get_serializer

__all__ = ["data_in_slot", "inline_payload", "loader_problem", "slot_problem", "warn_ignored"]

# a child of datamill.run, so the CLI shows it with the run's own warnings
log = logging.getLogger("datamill.run.checkpoint")


def loader_problem(type_tag: str, declared: str | None) -> str | None:
    """Why a checkpoint of ``type_tag`` may not be loaded for a task declaring ``declared``
    (its ``serializer=``, None when the type picks it), or None when it may."""
    try:
        ser = get_serializer(type_tag)
    except SerializationError:
        return f"its type {type_tag!r} is not a known serializer"
    if declared:
        want = get_serializer(declared).tag
        if ser.tag != want:
            return f"its type is {type_tag!r} but the task declares serializer={declared!r}"
    elif ser.opt_in:
        return (f"its type {type_tag!r} can run code when loaded and the task does not declare "
                f"serializer={type_tag!r}")
    return None


def slot_problem(meta: Any, pipeline: str, task: str, fingerprint: str, stem: str,
                 declared: str | None) -> str | None:
    """Why ``meta`` (read from the meta file of the slot ``stem``) is not that slot's
    checkpoint, or None when it is."""
    if (meta.pipeline, meta.task) != (pipeline, task):
        return f"it is the checkpoint of {meta.pipeline}/{meta.task}, not of {pipeline}/{task}"
    if meta.fingerprint != fingerprint:
        return f"it records fingerprint {meta.fingerprint!r}, not the slot's {fingerprint!r}"
    problem = loader_problem(meta.type_tag, declared)
    if problem:
        return problem
    exts = get_serializer(meta.type_tag).exts
    if meta.path != stem + ".meta.json" and meta.path not in {f"{stem}.{e}" for e in exts}:
        return f"its data path {meta.path!r} lies outside the slot"
    return None


def data_in_slot(path: str, meta_rel: str) -> bool:
    """Whether a meta file at ``meta_rel`` keeps its data (``path``) in its own slot: itself
    (inline) or ``<same folder>/<same fingerprint>.<ext>``, never another file of the store."""
    stem = meta_rel.removesuffix(".meta.json")
    if path == meta_rel:
        return True
    rest = path[len(stem):] if path.startswith(stem + ".") else ""
    return len(rest) > 1 and "/" not in rest and not rest.endswith(".meta.json")


def warn_ignored(where: str, problem: str) -> None:
    log.warning("checkpoint %s is not trusted and will be recomputed: %s", where, problem)


def inline_payload(raw: bytes) -> bytes | None:
    """The data stored in an inline meta file; None when the file is torn or has none."""
    try:
        doc = json.loads(raw)
        return base64.b64decode(doc["inline"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
