"""What a resume must carry over from the run it continues, and what it must clean up.

* the run's options (``--force``, ``--only``) are stored with it and honoured: a forced
  task reuses only checkpoints written by this run, never older ones;
* an attempt of the previous driver that may still run (a process worker on this host)
  is waited for, and killed if it outlives its driver, before anything is started again;
* a task of the run that is no longer in the pipeline is closed as ``skipped`` with a note
  instead of staying ``upstream_failed`` inside a run that succeeds.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from datamill.errors import RunLockedError
from datamill.store import liveness
from datamill.store.records import AttemptRecord, RunRecord, State, TaskRunRecord

log = logging.getLogger("datamill.run")

#: Seconds a resume waits for a worker of the dead driver to exit before killing it.
ORPHAN_GRACE = 10.0
REMOVED_NOTE = "removed from the pipeline before the resume; not run"
STALE_ITEM_NOTE = "its item is no longer in the mapped input at the resume; not run"
INTERRUPTED_NOTE = "interrupted: the run's driver stopped while this attempt ran"


def run_options(force: list[str], forced: set[str], only: list[str]) -> dict[str, Any]:
    """The options stored with a run (``runs.options``)."""
    out: dict[str, Any] = {}
    if forced:
        out["force"] = sorted(forced)
    if only:
        out["only"] = list(only)
    return out


def carried_options(rec: RunRecord, nodes: Any) -> tuple[set[str], list[str]]:
    """The forced task names and the --only selection a resume of ``rec`` keeps."""
    opts = rec.options or {}
    forced = {n for n in opts.get("force") or () if n in nodes}
    only = [n for n in opts.get("only") or () if n in nodes]
    return forced, only


def wait_for_orphans(store: Any, run_id: str, grace: float = ORPHAN_GRACE) -> None:
    """Make sure no attempt of the previous driver still runs in a worker process here.

    Workers die with their driver (a lifeline pipe, the parent-death signal); one that has
    not exited within ``grace`` seconds is killed (it is verified by its start token, so a
    reused pid is never hit). Attempts left ``running`` are closed as cancelled.
    """
    me = liveness.hostname()
    stale: list[AttemptRecord] = []
    for a in store.attempts(run_id):
        if a.state != State.RUNNING:
            continue
        stale.append(a)
        parsed = liveness.parse_worker_id(a.worker or "")
        if parsed is None:
            continue
        host, pid, token = parsed
        if host != me:
            log.warning("attempt %d of task %s ran on worker %s of another host, which a "
                        "resume cannot check; it may still run", a.attempt, a.task_key, a.worker)
            continue
        _end_orphan(a, pid, token, grace)
    if stale:
        for a in stale:
            a.state = State.CANCELLED
            a.error = a.error or INTERRUPTED_NOTE
        store.add_attempts(stale)


def _end_orphan(a: AttemptRecord, pid: int, token: str | None, grace: float) -> None:
    deadline = time.monotonic() + grace
    while liveness.process_gone(pid, token) is False:
        if time.monotonic() > deadline:
            log.warning("worker pid %d still runs attempt %d of task %s of a dead driver; "
                        "killing it", pid, a.attempt, a.task_key)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            except PermissionError:
                break
            end = time.monotonic() + 5.0
            while liveness.process_gone(pid, token) is False and time.monotonic() < end:
                time.sleep(0.05)
            break
        time.sleep(0.05)
    if liveness.process_gone(pid, token) is False:
        raise RunLockedError(
            f"attempt {a.attempt} of task {a.task_key} of run {a.run_id} still runs in worker "
            f"process {pid}, which cannot be stopped; stop it, then resume"
        )


def removed_records(previous: list[TaskRunRecord], touched: set[str], nodes: Any,
                    finished: set[str]) -> list[TaskRunRecord]:
    """Task runs of the resumed run that this resume did not reach because their task is
    gone from the pipeline (or, for a mapped instance, its item is gone from a finished
    task's input) and that had not completed: closed as skipped with a note, so a run that
    succeeds holds no failure."""
    out = []
    for r in previous:
        if r.task_key in touched or r.state in (State.SUCCEEDED, State.CACHED, State.SKIPPED):
            continue
        if r.task in nodes and r.task not in finished:
            continue
        r.state = State.SKIPPED
        r.error = REMOVED_NOTE if r.task not in nodes else STALE_ITEM_NOTE
        r.traceback = None
        out.append(r)
    return out


def failure_summary(failed: list[Any]) -> str | None:
    """A failed run's error: the first failed task's error, and how many more failed."""
    if not failed:
        return None
    from datamill.runtime.labels import shown

    failed = sorted(failed, key=lambda i: i.ended or 0)
    first = failed[0]
    text = f"task {shown(first.key, first.label)} failed: {first.error.splitlines()[0][:300]}"
    if len(failed) > 1:
        text += f" (and {len(failed) - 1} more failed tasks)"
    return text
