"""Planning a run before its loop starts: which tasks run, which are forced, and where
the tasks left out by ``--only`` take their outputs from.

* ``--only a,b`` runs those tasks; their upstream tasks outside the selection come from
  the latest run in which the whole task (every mapped instance) completed with a
  checkpoint ("external" tasks), or the run is refused;
* ``--force t`` recomputes ``t`` and everything downstream of it (``*``/``all``: every
  task); a resume keeps the ``--force`` and ``--only`` of the run it continues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from datamill.core.pipeline import Pipeline
from datamill.errors import UsageError
from datamill.runtime import resume as resuming
from datamill.store.records import RunRecord, State, TaskRunRecord

OK = (State.SUCCEEDED, State.CACHED)


@dataclass
class Selection:
    """What a run covers, decided before it starts."""

    selected: set[str]
    forced: set[str]
    only: list[str]  # as given (or carried by a resume), stored with the run
    #: task -> (the run it comes from, its task run records), for --only
    external: dict[str, tuple[str, list[TaskRunRecord]]] = field(default_factory=dict)


def select(p: Pipeline, only: list[str], force: list[str], resume: RunRecord | None,
           store: Any) -> Selection:
    """The selected and forced tasks of a run (a resume carries its run's options)."""
    carried: set[str] = set()
    if resume is not None:
        carried, kept_only = resuming.carried_options(resume, p.nodes)
        only = only or kept_only
    raw_only = list(only)
    only = p.check_task_names(only, "--only")
    if resume is not None and not force:
        forced = carried
    elif force in (["*"], ["all"]):
        forced = set(p.nodes)
    else:
        roots = p.check_task_names(force, "--force")
        forced = set(roots) | p.descendants(roots)
    sel = Selection(selected=set(p.nodes), forced=forced, only=raw_only)
    if only:
        sel.selected = set(only)
        sel.external = find_external(p, store, p.ancestors(only) - sel.selected)
    return sel


def find_external(p: Pipeline, store: Any, names: set[str]) -> dict[str, tuple[str, list[TaskRunRecord]]]:
    """For --only: the latest complete checkpoints of each task in ``names``."""
    found: dict[str, tuple[str, list[TaskRunRecord]]] = {}
    missing = set(names)
    for run in store.list_runs(pipeline=p.name, limit=50):
        if not missing:
            break
        by_task: dict[str, list[TaskRunRecord]] = {}
        for r in store.task_runs(run.run_id):
            if r.task in missing:
                by_task.setdefault(r.task, []).append(r)
        for tname, recs in by_task.items():
            if not all(r.state in OK and r.checkpoint for r in recs):
                continue  # partly failed there: an older run may have it whole
            found[tname] = (run.run_id, recs)
            missing.discard(tname)
    if missing:
        first = sorted(missing)[0]
        raise UsageError(
            f"--only needs the output of task {first!r}, which has no complete checkpoint "
            f"from an earlier run of pipeline {p.name!r}; run the pipeline once without --only"
        )
    return found


def counts(p: Pipeline, selected: set[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Per task: how many selected upstream tasks it waits for, and how many selected
    downstream tasks still need its output (when that reaches 0 the value is released)."""
    waiting = {name: sum(1 for u in node.upstream if u in selected)
               for name, node in p.nodes.items()}
    consumers = {name: sum(1 for d in p.downstream[name] if d in selected) for name in p.nodes}
    return waiting, consumers
