"""``datamill copy``: move data between any two connectors, validated, as a recorded run.

A copy is a one-task pipeline run through the ordinary engine, so it gets a run id, a row
in the run store, logs, lineage (source -> copy -> destination), metrics (rows read,
written, quarantined) and, with ``incremental=COLUMN``, a watermark kept as saved state:
the next copy of the same pair reads only rows with a larger value. Rows a contract
rejects go to quarantine with their reason; the destination is written all or nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from datamill.core.task import Context
from datamill.errors import UsageError


@dataclass
class CopyReport:
    """What a copy did (also printed by the CLI)."""

    source: str
    dest: str
    run_id: str | None = None
    state: str = "succeeded"
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0
    watermark: Any = None
    skipped: bool = False
    quarantine: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "dest": self.dest, "run_id": self.run_id, "state": self.state,
            "rows_read": self.rows_read, "rows_written": self.rows_written,
            "rows_quarantined": self.rows_quarantined, "seconds": round(self.seconds, 4),
            "rows_per_second": round(self.rows_per_second, 1), "watermark": self.watermark,
            "skipped": self.skipped, "quarantine": self.quarantine, "error": self.error,
        }


def copy_pipeline_name(source: str, dest: str) -> str:
    """A stable, readable pipeline name per (source, dest) pair: it keys the copy's runs
    and its watermark (``copy_orders_to_warehouse_3f9a1c``)."""
    import re

    from datamill.io.url import redact_url

    def stem(url: str) -> str:
        tail = url.rsplit("#", 1)[-1] if "#" in url else url.rstrip("/").rsplit("/", 1)[-1]
        tail = tail.split("?")[0].split(".")[0] if "#" not in url else tail.split("?")[0]
        return re.sub(r"[^A-Za-z0-9]+", "_", tail).strip("_")[:24] or "data"

    digest = hashlib.blake2b(f"{redact_url(source)}\n{redact_url(dest)}".encode(),
                             digest_size=3).hexdigest()
    return f"copy_{stem(source)}_to_{stem(dest)}_{digest}"


def copy(
    source: str,
    dest: str,
    *,
    contract: str | Any = None,
    mode: str = "append",
    key: list[str] | None = None,
    incremental: str | None = None,
    batch_size: int = 100_000,
    project: Any = None,
    on_batch: Callable[[int], None] | None = None,
    handle_signals: bool = True,
) -> CopyReport:
    """Copy ``source`` to ``dest`` (any two connector locations) and report what happened."""
    import datamill
    from datamill.io.api import open_source, parse_url, write

    src_loc, dst_loc = parse_url(source), parse_url(dest)  # bad URLs fail before a run
    if src_loc.family == "file":
        open_source(source)  # a missing file is bad usage (exit 2), found before the run
    if mode == "merge" and not key:
        raise UsageError("--mode merge needs --key COLUMNS")
    checker = _CopyContract(contract) if contract is not None else None
    report = CopyReport(src_loc.display, dst_loc.display)
    name = copy_pipeline_name(source, dest)

    def copy_data(ctx: Context) -> dict[str, Any]:
        t0 = time.perf_counter()
        since = ctx.get_state("watermark") if incremental else None
        opts: dict[str, Any] = {}
        native = src_loc.family == "sql"  # databases filter on the server; others here
        if incremental and native:
            opts["incremental"] = incremental
            if since is not None:
                opts["since"] = since
        read = written_batches = 0
        quarantined = 0
        watermark = since
        loc, src = open_source(source, **opts)
        schema_seen: list[Any] = []

        def stream_batches() -> Any:
            for b in src.batches(batch_size=batch_size):
                if not schema_seen:
                    schema_seen.append(b.schema)
                yield b

        stream = stream_batches()
        seen = None
        if checker is not None:
            from datamill.quality import SeenKeys

            seen = SeenKeys()  # a retry starts again from the first batch: keys too
            checker.start(ctx)

        def good_batches() -> Any:
            nonlocal read, quarantined, watermark
            for batch in stream:
                if incremental and since is not None and not native:
                    batch = _newer_than(batch, incremental, since)
                read += batch.num_rows
                if incremental and batch.num_rows and incremental in batch.schema.names:
                    import pyarrow.compute as pc

                    top = pc.max(batch.column(incremental)).as_py()
                    if top is not None and (watermark is None or top > watermark):
                        watermark = top
                if checker is not None:
                    good, bad = checker(batch, ctx, seen)
                    quarantined += bad
                    if good is None:
                        continue
                    batch = good
                if on_batch is not None:
                    on_batch(read)
                if batch.num_rows:
                    yield batch
            if checker is not None and read:
                # the contract's bad-row share is of the whole copy, not of one batch; raised
                # here, before the sink commits, so a failing copy loads nothing
                checker.finish(read, quarantined, ctx)

        try:
            result = write(dest, good_batches(), mode=mode, key=key, ctx=ctx,
                           load_id=ctx.run_id)  # a resumed copy is recognised, not loaded twice
        except BaseException:
            _release(src)  # a broker gets its messages back for the next try
            raise
        # acknowledge broker messages only now that the load is committed (at least once)
        if callable(getattr(src, "commit", None)):
            src.commit()
        _release(src)
        ctx.record_input(loc.dataset, rows=read, schema=[
            {"name": f.name, "type": str(f.type)} for f in schema_seen[0]] if schema_seen else None)
        written_batches = result.rows
        if incremental and watermark is not None:
            ctx.set_state("watermark", _jsonable(watermark))
        ctx.metric("rows_read", read)
        ctx.metric("rows_written", written_batches)
        ctx.metric("rows_quarantined", quarantined)
        return {"rows_read": read, "rows_written": written_batches,
                "rows_quarantined": quarantined, "seconds": time.perf_counter() - t0,
                "watermark": _jsonable(watermark), "skipped": result.skipped}

    task = datamill.task(copy_data, name="copy", cache="never")
    pipeline = datamill.Pipeline(name, [task], description=f"copy {report.source} -> {report.dest}")
    t0 = time.perf_counter()
    result = datamill.run(pipeline, project=project, trigger="copy", handle_signals=handle_signals)
    report.run_id, report.state = result.run_id, result.state.value
    report.seconds = time.perf_counter() - t0
    if result.ok:
        out = result["copy"]
        report.rows_read, report.rows_written = out["rows_read"], out["rows_written"]
        report.rows_quarantined, report.watermark = out["rows_quarantined"], out["watermark"]
        report.skipped = out["skipped"]
        report.seconds = out["seconds"]
    else:
        t = result.tasks.get("copy")
        report.error = t.error if t else result.error
    return report


def _release(src: Any) -> None:
    for name in ("close", "release"):
        fn = getattr(src, name, None)
        if callable(fn):
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort after the load decided
                pass
            return


def _newer_than(batch: Any, column: str, since: Any) -> Any:
    """Rows of ``batch`` whose ``column`` is above the saved watermark."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in batch.schema.names:
        raise UsageError(f"--incremental {column!r}: the source has no such column "
                         f"(columns: {', '.join(batch.schema.names)})")
    col = batch.column(column)
    bound = pa.scalar(since)
    if pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
        bound = pc.cast(pa.scalar(str(since)), pa.timestamp("us")) if pa.types.is_timestamp(
            col.type) else pa.scalar(__import__("datetime").date.fromisoformat(str(since)[:10]))
        bound = pc.cast(bound, col.type) if pa.types.is_timestamp(col.type) else bound
    return batch.filter(pc.greater(col, bound))


def _jsonable(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


class _CopyContract:
    """The contract of a copy, checked batch by batch.

    Rejected rows are written to quarantine (``<artifacts>/quarantine/<dataset>/``) with
    their rule and reason. Unique keys are checked across the whole copy (the caller passes
    one ``SeenKeys`` per attempt with every batch), and the bad-row share is of the whole
    copy (``finish``), so a small last batch cannot fail a good load."""

    def __init__(self, contract: str | Any):
        from datamill.quality import load_contract

        self.contract = load_contract(contract)

    def _quarantine(self, ctx: Any) -> Any:
        from datamill.quality import Quarantine

        store = getattr(ctx, "_artifacts", None)
        if store is None:
            raise UsageError("copy --contract needs an artifact store for the quarantine")
        return Quarantine(store.root)

    def start(self, ctx: Any) -> None:
        """Before an attempt reads its first batch: a retried or resumed copy reads the same
        rows again, so what an earlier attempt of this run quarantined is dropped, not
        doubled."""
        n = self._quarantine(ctx).discard(self.contract.name, ctx.run_id)
        if n:
            ctx.log.info("dropped %d quarantine file(s) of an earlier attempt of this run", n)

    def __call__(self, batch: Any, ctx: Any, seen: Any) -> tuple[Any, int]:
        """(good rows as one batch or None, rows rejected)."""
        import pyarrow as pa

        from datamill.quality import check

        c = self.contract
        # the store's root: a local folder or an s3:// URL, both valid quarantine locations
        res = check(c, pa.Table.from_batches([batch]), quarantine=self._quarantine(ctx),
                    source=c.name, run_id=ctx.run_id, task_key=ctx.key, seen=seen)
        if res.drift.policy == "fail" and res.drift.found:
            raise UsageError(res.summary())
        good = res.good.combine_chunks()
        return (good.to_batches()[0] if good.num_rows else None), res.bad_rows

    def finish(self, rows: int, bad: int, ctx: Any) -> None:
        """Record the error rate; raise (before the sink commits) when it is too high."""
        c, rate = self.contract, bad / rows
        ctx.metric("rows_checked", rows)
        ctx.metric("rows_rejected", bad)
        ctx.metric("error_rate", rate)
        if rate > c.max_bad_share:
            raise UsageError(f"contract {c.name!r} FAILED: {rows - bad} good, {bad} bad of {rows} "
                             f"rows (error rate {rate:.4%}, allowed {c.max_bad_share:.4%})")
