"""The cache policy: when a task instance's output comes from a checkpoint instead of its
function.

In the vocabulary of :mod:`datamill.core.fingerprint`: an instance's *fingerprint* (its
cache key) hashes its normalised code, its output-relevant options, its parameter values,
the *data versions* of its inputs and its map item key; a checkpoint is stored under it.
For each attempt the policy answers one of three ways:

* **resumed**: the run being resumed recorded this instance done, with the same
  fingerprint: the driver closes it as cached from that record, no worker is asked;
* **reuse**: the worker may take a checkpoint found under the fingerprint, if it passes
  the attempt's :class:`Reuse` rule (no older than ``cache="6h"``; in a resume, written
  since the resumed run started, for outputs the store lost in a crash);
* **compute**: no reuse (checkpoints off, ``cache="never"``, ``--force``, a source task
  without ``version``, a checkpoint found corrupt and being recomputed).

The decision is taken here, once, on the driver; the worker only applies the rule it is
handed (:meth:`Reuse.accepts`), so reuse, expiry and resume are read in one place.
"""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass
from typing import Any

from datamill.core.fingerprint import code_fingerprint, content_hash, task_fingerprint
from datamill.core.params import canonical_json
from datamill.core.pipeline import Node, Pipeline
from datamill.runtime.calls import InputRef
from datamill.runtime.rules import _ref_version
from datamill.store.records import RunRecord, State, TaskRunRecord

log = logging.getLogger("datamill.run")

OK = (State.SUCCEEDED, State.CACHED)


@dataclass(frozen=True, slots=True)
class Reuse:
    """The rule a worker applies to a checkpoint found under an attempt's fingerprint."""

    max_age: float | None = None  # seconds (``cache="6h"``); None: any age
    written_after: float | None = None  # epoch seconds (a resume: since the run started)

    def accepts(self, meta: Any, now: float | None = None) -> bool:
        """Whether the checkpoint described by ``meta`` (its ``created_at``) may be reused."""
        created = meta.created_at
        if self.max_age is not None and (now if now is not None else time.time()) - created > self.max_age:
            return False
        return self.written_after is None or created >= self.written_after


class CachePolicy:
    """Reuse, expiry and resume decisions of one run, and the fingerprints they rest on."""

    def __init__(self, pipeline: Pipeline, params: dict[str, Any], *, run_id: str,
                 checkpoint: bool, forced: set[str], resume: RunRecord | None, store: Any):
        self.p = pipeline
        self.params = params
        self.run_id = run_id
        self.checkpoint = checkpoint
        self.forced = forced
        self.resume = resume
        self.store = store
        self._code_fp: dict[str, str] = {}
        self._param_fp: dict[str, list[tuple[str, str]]] = {}
        self._resumed: dict[str, TaskRunRecord] = {}
        self._rules: dict[tuple[float | None, float | None], Reuse] = {}
        self._resume_started: float | None = None
        if resume is not None:
            started = resume.started_at or resume.created_at
            self._resume_started = started.timestamp() if started else None

    # -- what a resume may take from the run it continues ---------------------------------

    def take_resumed(self, previous: list[TaskRunRecord]) -> None:
        """Remember the completed, checkpointed instances of the resumed run; a forced task
        reuses only what this run wrote, never an older checkpoint."""
        for r in previous:
            own = r.state == State.SUCCEEDED or r.cached_from_run == self.run_id
            if r.state in OK and r.checkpoint and (own or r.task not in self.forced):
                self._resumed[r.task_key] = r

    def resumed(self, inst: Any) -> TaskRunRecord | None:
        """The resumed run's record of ``inst``, when its output can be taken as it is."""
        rec = self._resumed.get(inst.key) if self._resumed else None
        if rec is not None and rec.fingerprint == inst.fingerprint and not inst.recovered:
            return rec
        return None

    # -- the fingerprint ---------------------------------------------------------------------

    def fingerprint(self, inst: Any, inputs: dict[str, InputRef], insts: dict[str, Any]) -> str:
        """The cache key of one attempt of ``inst`` given its inputs (code and parameter
        parts are computed once per task)."""
        node = inst.node
        name = node.name
        code = self._code_fp.get(name)
        if code is None:
            code = self._code_fp[name] = code_fingerprint(node.task.fn)
            self._param_fp[name] = [
                (p, "<secret>" if self.p.params[p].secret else canonical_json(self.params[p]))
                for p in node.params
            ]
        versions = [(pname, _ref_version(ref, insts)) for pname, ref in inputs.items()]
        if inst.item_ref is None and inst.map_key is not None:
            versions.append(("__item__", content_hash(inst.item)))
        return task_fingerprint(code, node.task.options_key(), self._param_fp[name], versions,
                                inst.map_key, self._source_version(node))

    def _source_version(self, node: Node) -> str | None:
        v = node.task.version
        if v is None or isinstance(v, str):
            return v
        try:
            kwargs = {k: self.params[k] for k in inspect.signature(v).parameters if k in self.params}
            return str(v(**kwargs))
        except Exception as exc:  # noqa: BLE001 - no version means no reuse, not a failure
            log.warning("version() of task %r failed (%s); it will run", node.name, exc)
            return f"unversioned:{time.time()}"

    # -- the decision of one attempt ---------------------------------------------------------

    def checkpoints(self, inst: Any) -> bool:
        """Whether the attempt writes (and so may reuse) a checkpoint."""
        return self.checkpoint and inst.node.task.checkpoint

    def reuse(self, inst: Any) -> Reuse | None:
        """The rule the worker applies to a checkpoint under the fingerprint; None: compute."""
        node, t = inst.node, inst.node.task
        if not (self.checkpoint and t.checkpoint) or inst.recovered:
            return None
        if node.name not in self.forced and t.cache != "never" \
                and (bool(node.inputs) or t.version is not None):
            return self._rule(t.cache_expire, None)
        if self.resume is not None:
            # within a resume every completed output is reused, even one whose store record
            # was lost in a crash: done means the checkpoint exists, written during this run
            # (for a forced task too: what this run recomputed is not recomputed again)
            return self._rule(t.cache_expire, self._resume_started)
        return None

    def _rule(self, max_age: float | None, after: float | None) -> Reuse:
        """One Reuse object per distinct rule of the run (they are immutable and shared)."""
        rule = self._rules.get((max_age, after))
        if rule is None:
            rule = self._rules[(max_age, after)] = Reuse(max_age, after)
        return rule

    def producer(self, inst: Any, meta: Any) -> str | None:
        """The run that wrote the checkpoint a cached instance reused (``cached_from_run``)."""
        started = self.resume.started_at if self.resume is not None else None
        if started is not None and meta is not None and meta.created_at >= started.timestamp():
            return self.run_id  # written by this run before the resume
        find = getattr(self.store, "checkpoint_producer", None)
        if find is None or inst.fingerprint is None:
            return None
        return find(self.p.name, inst.node.name, inst.fingerprint, exclude=self.run_id)
