"""Garbage collection of the run store: which runs go, and the retention policy that
deletes them with their logs and the checkpoints no kept run points to.

The policy lives here, in the store layer, so the CLI (``datamill gc``) and any other
caller (the server's scheduled clean-up) apply the same rules: ``keep_last`` runs per
pipeline and/or runs ``older_than`` a duration, from ``[retention]`` in datamill.toml
when not given, else the newest 20 of each pipeline.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from datamill.errors import StoreError, UsageError
from datamill.store import sql
from datamill.store.records import RunRecord, State, utcnow

__all__ = ["DEFAULT_KEEP_LAST", "RetentionReport", "apply_retention", "delete_run_logs",
           "runs_to_gc"]

#: What ``datamill gc`` keeps when neither the command nor datamill.toml says.
DEFAULT_KEEP_LAST = 20
#: Unreferenced checkpoints younger than this may belong to a run still writing.
CHECKPOINT_GRACE_S = 3600.0
LOGS = "logs"


def runs_to_gc(
    store: Any,
    keep_last: int | None,
    older_than: datetime | None,
    pipeline: str | None = None,
) -> list[str]:
    """Run ids that garbage collection may delete, oldest first.

    A run qualifies when it is beyond the newest ``keep_last`` runs of its pipeline and
    (if given) created before ``older_than``; with neither limit nothing qualifies.
    Running runs that are alive never qualify.
    """
    if keep_last is None and older_than is None:
        return []
    if keep_last is not None and keep_last < 0:
        raise StoreError(f"keep_last must be 0 or more, not {keep_last}")
    cutoff = None
    if older_than is not None:
        cutoff = (older_than.replace(tzinfo=UTC) if older_than.tzinfo is None
                  else older_than.astimezone(UTC))
    query = sql.RUN_GC_SELECT
    params: dict[str, Any] = {}
    if pipeline is not None:
        query += " WHERE pipeline = :pipeline"
        params["pipeline"] = pipeline
    now = utcnow()
    rank: dict[str, int] = {}
    doomed: list[tuple[datetime, str]] = []
    for r in store._rows(query + sql.RUN_GC_ORDER, params, sql.KINDS["runs"]):  # noqa: SLF001
        n = rank.get(r["pipeline"], 0)
        rank[r["pipeline"]] = n + 1
        if keep_last is not None and n < keep_last:
            continue
        if cutoff is not None and r["created_at"] >= cutoff:
            continue
        probe = RunRecord(run_id=r["run_id"], pipeline=r["pipeline"], state=State(r["state"]),
                          heartbeat_at=r["heartbeat_at"])
        if store.is_alive(probe, now):
            continue
        doomed.append((r["created_at"], r["run_id"]))
    return [run_id for _, run_id in sorted(doomed)]


def delete_run_logs(arts: Any, run_id: str) -> int:
    """Remove the logs of a run (``logs/<run_id>/``) from the artifact store, local or
    remote (S3, GCS, Azure); returns how many files went."""
    top = f"{LOGS}/{run_id}"
    files = [rel for rel, _size, _mtime in arts._walk_files(top)]  # noqa: SLF001
    if arts.is_local:
        import os

        shutil.rmtree(os.path.join(arts.root, LOGS, run_id), ignore_errors=True)
    elif files:
        arts._delete_many(files)  # noqa: SLF001 - the artifact store's batched delete
    return len(files)


@dataclass
class RetentionReport:
    """What ``apply_retention`` deleted (or, with ``dry_run``, would delete)."""

    run_ids: list[str] = field(default_factory=list)
    log_files_deleted: int = 0
    checkpoints_deleted: int = 0
    bytes_freed: int = 0
    dry_run: bool = False
    keep_last: int | None = None
    older_than: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"runs_deleted": len(self.run_ids), "run_ids": self.run_ids,
                "dry_run": self.dry_run, "checkpoints_deleted": self.checkpoints_deleted,
                "bytes_freed": self.bytes_freed, "log_files_deleted": self.log_files_deleted,
                "seconds": round(self.seconds, 3),
                "policy": {"keep_last": self.keep_last, "older_than": self.older_than}}


def policy(config: dict[str, Any] | None, keep_last: int | None,
           older_than: str | None) -> tuple[int | None, str | None]:
    """The limits to apply: the given ones, else ``[retention]``, else keep the last 20."""
    if keep_last is None and older_than is None:
        retention = (config or {}).get("retention", {}) or {}
        keep_last = retention.get("keep_last")
        older_than = retention.get("older_than")
        if keep_last is None and older_than is None:
            keep_last = DEFAULT_KEEP_LAST
    return keep_last, older_than


def apply_retention(
    store: Any,
    arts: Any,
    keep_last: int | None = None,
    older_than: str | None = None,
    pipeline: str | None = None,
    *,
    config: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> RetentionReport:
    """Delete the runs the policy lets go, their logs (local or remote), and the
    checkpoints no remaining run points to (older than an hour)."""
    from datamill.core.params import parse_duration

    keep_last, older_than = policy(config, keep_last, older_than)
    cutoff = None
    if older_than:
        try:
            cutoff = datetime.now(UTC) - parse_duration(older_than)
        except ValueError as exc:
            raise UsageError(f"--older-than {older_than!r}: {exc}") from None
    t0 = time.time()
    doomed = runs_to_gc(store, keep_last, cutoff, pipeline)
    report = RetentionReport(run_ids=doomed, dry_run=dry_run, keep_last=keep_last,
                             older_than=older_than)
    if not dry_run and doomed:
        store.delete_runs(doomed)
        for rid in doomed:
            report.log_files_deleted += delete_run_logs(arts, rid)
    if hasattr(arts, "gc"):
        ck = arts.gc(store.referenced_checkpoints(), older_than_s=CHECKPOINT_GRACE_S,
                     dry_run=dry_run)
        report.checkpoints_deleted, report.bytes_freed = ck.deleted, ck.bytes_freed
    report.seconds = time.time() - t0
    return report
