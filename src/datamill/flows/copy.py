"""``datamill copy``: move data between any two connectors, validated, as a recorded run.

A copy is a one-task pipeline run through the ordinary engine, so it gets a run id, a row
in the run store, logs, lineage (source -> copy -> destination), metrics (rows read,
written, quarantined, deduplicated) and, with ``incremental=COLUMN``, a watermark kept as
saved state with its type (see ``datamill.io.watermark``): the next copy of the same pair
reads only rows with a larger value. Rows a contract rejects and lines a reader could not
parse go to quarantine with their reason; the destination is written all or nothing, keyed
by the run id, so ``datamill resume RUN`` of a copy killed after its commit finds the load
done and does not write it again. Every row read is written, quarantined or counted as
deduplicated: ``rows_read == rows_written + rows_quarantined + rows_deduplicated``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from datamill.core.task import Context
from datamill.errors import UsageError, missing_extra

MODULE = "datamill.flows.copy"  # where `datamill resume` finds a copy run's pipeline again


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
    rows_deduplicated: int = 0
    seconds: float = 0.0
    watermark: Any = None
    skipped: bool = False
    quarantine: str | None = None
    error: str | None = None
    exit_code: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "dest": self.dest, "run_id": self.run_id, "state": self.state,
            "rows_read": self.rows_read, "rows_written": self.rows_written,
            "rows_quarantined": self.rows_quarantined,
            "rows_deduplicated": self.rows_deduplicated, "seconds": round(self.seconds, 4),
            "rows_per_second": round(self.rows_per_second, 1), "watermark": self.watermark,
            "skipped": self.skipped, "quarantine": self.quarantine, "error": self.error,
        }


def copy_pipeline_name(source: str | Sequence[str], dest: str) -> str:
    """A stable, readable pipeline name per (source, dest) pair: it keys the copy's runs
    and its watermark (``copy_orders_to_warehouse_3f9a1c``)."""
    import re

    from datamill.io.url import redact_url

    sources = [source] if isinstance(source, str) else list(source)

    def stem(url: str) -> str:
        tail = url.rsplit("#", 1)[-1] if "#" in url else url.rstrip("/").rsplit("/", 1)[-1]
        tail = tail.split("?")[0].split(".")[0] if "#" not in url else tail.split("?")[0]
        return re.sub(r"[^A-Za-z0-9]+", "_", tail).strip("_")[:24] or "data"

    joined = "\n".join(redact_url(s) for s in sources)
    digest = hashlib.blake2b(f"{joined}\n{redact_url(dest)}".encode(), digest_size=3).hexdigest()
    return f"copy_{stem(sources[0])}_to_{stem(dest)}_{digest}"


def copy(
    source: str | Sequence[str],
    dest: str,
    *,
    contract: str | Any = None,
    mode: str = "append",
    key: list[str] | None = None,
    incremental: str | None = None,
    dedupe: str | None = None,
    batch_size: int = 100_000,
    project: Any = None,
    on_batch: Callable[[int], None] | None = None,
    handle_signals: bool = True,
) -> CopyReport:
    """Copy ``source`` (one location, or several read one after the other) to ``dest`` and
    report what happened. ``dedupe='first'|'last'`` keeps one row per ``key``."""
    import datamill
    from datamill.io.url import redact_url

    sources = [source] if isinstance(source, str) else list(source)
    if not sources:
        raise UsageError("copy needs at least one source")
    spec = {"mode": mode, "key": list(key) if key else None, "incremental": incremental,
            "dedupe": dedupe, "batch_size": batch_size,
            "contract": _abspath(contract) if isinstance(contract, str | os.PathLike) else None}
    # the project and its connections are read once, here: every location is parsed once
    # against them and handed down parsed, to the check below and to the task
    from datamill.io.connections import connections
    from datamill.store.project import Project, find_project

    project = project if isinstance(project, Project) else find_project(project)
    conns = connections(project.config)
    locs = _validate(sources, dest, spec, conns)
    report = CopyReport(", ".join(loc.display for loc in locs[:-1]), locs[-1].display)
    name = copy_pipeline_name(sources, dest)
    failure: list[BaseException] = []
    checker = _CopyContract(contract) if contract is not None else None
    secret = any(redact_url(u) != u for u in (*sources, dest))
    pipeline = _pipeline(name, "\n".join(sources), dest, spec, secret=secret, checker=checker,
                         on_batch=on_batch, failure=failure, project=project,
                         connections=conns, locations=locs)
    pipeline.description = f"copy {report.source} -> {report.dest}"
    t0 = time.perf_counter()
    result = datamill.run(pipeline, project=project, trigger="copy", handle_signals=handle_signals)
    report.run_id, report.state = result.run_id, result.state.value
    report.seconds = time.perf_counter() - t0
    if result.ok:
        _fill(report, result["copy"])
    else:
        t = result.tasks.get("copy")
        report.error = t.error if t else result.error
        bad_usage = failure and (isinstance(failure[-1], UsageError)
                                 or missing_extra(failure[-1]) is not None)
        report.exit_code = 2 if bad_usage else 1
        if report.state == "cancelled":
            report.exit_code = 130
    return report


def _abspath(path: Any) -> str:
    """A contract file as an absolute path, so a resume from another folder finds it."""
    text = str(path)
    return os.path.abspath(text) if os.path.exists(text) else text


def _fill(report: CopyReport, out: dict[str, Any]) -> None:
    report.rows_read, report.rows_written = out["rows_read"], out["rows_written"]
    report.rows_quarantined, report.watermark = out["rows_quarantined"], out["watermark"]
    report.rows_deduplicated = out.get("rows_deduplicated", 0)
    report.skipped, report.seconds = out["skipped"], out["seconds"]
    report.quarantine = out.get("quarantine")


def _validate(sources: list[str], dest: str, spec: dict[str, Any],
              conns: dict[str, Any]) -> list[Any]:
    """The parsed locations (sources, then dest). Bad usage found before a run starts
    (exit 2): URLs, missing files, options."""
    from datamill.flows.copy_parts import DEDUPE
    from datamill.io.api import open_source, parse_url

    locs = [parse_url(u, connections=conns) for u in (*sources, dest)]
    for loc in locs[:-1]:
        if loc.family == "file":
            open_source(loc)  # a missing file is bad usage (exit 2), found before the run
    if spec["mode"] == "merge" and not spec["key"]:
        raise UsageError("--mode merge needs --key COLUMNS")
    if spec["dedupe"] is not None:
        if spec["dedupe"] not in DEDUPE:
            raise UsageError(f"--dedupe must be 'first' or 'last', not {spec['dedupe']!r}")
        if not spec["key"]:
            raise UsageError("--dedupe needs --key COLUMNS (the columns that identify a row)")
    return locs


def _pipeline(name: str, sources: str, dest: str, spec: dict[str, Any], *, secret: bool,
              checker: Any = None, on_batch: Any = None, failure: list[Any] | None = None,
              project: Any = None, connections: dict[str, Any] | None = None,
              locations: list[Any] | None = None) -> Any:
    """The one-task pipeline of a copy. Its arguments are run parameters (``sources``,
    ``dest``, ``options``), so ``datamill resume`` rebuilds it from the run store; URLs
    holding a password are secret parameters (never stored: pass them again on resume)."""
    import datamill
    from datamill.core.params import REDACTED, Secret
    from datamill.core.pipeline import SourceRef

    parsed_for = [*sources.split("\n"), dest]

    def copy_data(ctx: Context, sources: str = "", dest: str = "",
                  options: str = "{}") -> dict[str, Any]:
        if REDACTED in (sources, dest) or not sources or not dest:
            raise UsageError("this copy's URLs hold a password, which is never stored: pass "
                             "them again with --param sources=URL --param dest=URL")
        try:
            urls = [*sources.split("\n"), dest]
            # parsed by copy() for these very URLs, or (a resume) parsed here, once
            locs = locations if locations is not None and urls == parsed_for \
                else _parse_all(urls, project, connections)
            return _copy_task(ctx, locs, json.loads(options), checker, on_batch)
        except BaseException as exc:
            if failure is not None:
                failure.append(exc)
            raise

    text = Secret[str] if secret else str
    copy_data.__annotations__ = {"ctx": Context, "sources": text, "dest": text, "options": str,
                                 "return": dict[str, Any]}
    copy_data.__defaults__ = (sources, dest, json.dumps(spec, sort_keys=True))
    # no checkpoint: a resumed copy runs again (the sink finds its load done by the run id)
    # and saves its watermark and metrics, instead of reusing the output of a killed attempt
    task = datamill.task(copy_data, name="copy", cache="never", checkpoint=False)
    p = datamill.Pipeline(name, [task])
    p.source = SourceRef("module", MODULE, name, MODULE)
    return p


def __getattr__(name: str) -> Any:
    """``datamill resume`` of a copy run loads ``datamill.flows.copy:<pipeline name>``: the
    same one-task pipeline, its arguments coming from the run's stored parameters."""
    if name.startswith("copy_"):
        return _pipeline(name, "", "", {}, secret=False)
    raise AttributeError(name)


def _parse_all(urls: list[str], project: Any, conns: dict[str, Any] | None) -> list[Any]:
    """The locations of a copy run rebuilt by ``datamill resume`` (or in a worker that
    did not get them parsed): the project read once, each URL parsed once."""
    from datamill.io.api import parse_url

    if conns is None:
        from datamill.io.connections import connections
        from datamill.store.project import find_project

        conns = connections((project or find_project()).config)
    return [parse_url(u, connections=conns) for u in urls]


def _copy_task(ctx: Context, locs: list[Any], spec: dict[str, Any], checker: Any,
               on_batch: Any) -> dict[str, Any]:
    """The copy itself: ``locs`` are the parsed sources, then the destination."""
    from datamill.flows.copy_parts import bad_lines_table, conform, dedupe, rejected_of
    from datamill.io import watermark as wm
    from datamill.io.api import open_source, write

    sources, dest = locs[:-1], locs[-1]

    t0 = time.perf_counter()
    mode, key, incremental = spec.get("mode", "append"), spec.get("key"), spec.get("incremental")
    batch_size = int(spec.get("batch_size") or 100_000)
    if checker is None and spec.get("contract"):
        checker = _CopyContract(spec["contract"])
    since = wm.decode(ctx.get_state("watermark")) if incremental else None
    qname = checker.contract.name if checker is not None else sources[0].dataset
    quarantine = _Quarantine(ctx, qname)
    quarantine.start()
    if checker is not None:
        from datamill.quality import SeenKeys

        seen = SeenKeys()  # a retry starts again from the first batch: keys too
    counts = {"read": 0, "quarantined": 0, "bad": 0}
    state: dict[str, Any] = {"watermark": since, "since": since, "typed": False}
    opened: list[tuple[Any, Any]] = []
    schema_seen: list[Any] = []

    def source_batches() -> Any:
        for loc in sources:
            opts: dict[str, Any] = {}
            native = loc.family == "sql"  # databases filter on the server; others here
            if incremental and native:
                opts["incremental"] = incremental
                if since is not None:
                    opts["since"] = since
            elif incremental and since is not None and loc.options.get("incremental_param"):
                opts["since"] = _jsonable(since)  # the API narrows; rows are filtered here too
            loc, src = open_source(loc, **opts)
            opened.append((loc, src))
            for b in src.batches(batch_size=batch_size):
                if not schema_seen:
                    schema_seen.append(b.schema)
                elif len(sources) > 1:
                    b = conform(b, schema_seen[0], loc.display)
                if incremental:
                    b = _track(b, incremental, state, native)
                counts["read"] += b.num_rows
                yield b
            bad = rejected_of(src)
            if bad:  # lines the reader set aside: read, and quarantined with line and text
                counts["read"] += len(bad)
                counts["bad"] += len(bad)
                quarantine.write(bad_lines_table(bad, loc.display))

    def good_batches() -> Any:
        for batch in source_batches():
            if checker is not None:
                good, bad = checker(batch, ctx, seen, quarantine.store)
                counts["quarantined"] += bad
                if good is None:
                    continue
                batch = good
            if on_batch is not None:
                on_batch(counts["read"])
            if batch.num_rows:
                yield batch
        if checker is not None and counts["read"] - counts["bad"]:
            # the contract's bad-row share is of the whole copy, not of one batch; raised
            # here, before the sink commits, so a failing copy loads nothing
            checker.finish(counts["read"] - counts["bad"], counts["quarantined"], ctx)

    dropped = [0]
    stream: Any = good_batches()
    if spec.get("dedupe"):
        stream = dedupe(stream, list(key or []), spec["dedupe"], dropped)
    passed = [0]

    def counted(batches: Any) -> Any:
        for b in batches:
            passed[0] += b.num_rows
            yield b

    stream = counted(stream)
    first = next(stream, None)
    written, skipped = 0, False
    try:
        if first is None and incremental and mode != "replace":
            pass  # nothing new: no empty part file, no empty load
        else:
            import itertools

            result = write(dest, itertools.chain([] if first is None else [first], stream),
                           mode=mode, key=key, ctx=ctx, load_id=ctx.run_id)
            skipped = result.skipped
            if skipped:  # resumed after its commit: the load is there; count, do not write
                for _ in stream:
                    pass
            written = passed[0] if skipped else result.rows
    except BaseException:
        for _, src in opened:
            _release(src)  # a broker gets its messages back for the next try
        raise
    for _, src in opened:  # acknowledge broker messages only now that the load is committed
        if callable(getattr(src, "commit", None)):
            src.commit()
        _release(src)
    if opened:
        ctx.record_input(opened[0][0].dataset, rows=counts["read"], schema=[
            {"name": f.name, "type": str(f.type)} for f in schema_seen[0]]
            if schema_seen else None)
    quarantined = counts["quarantined"] + counts["bad"]
    watermark = state["watermark"]
    if incremental and watermark is not None:
        ctx.set_state("watermark", wm.encode(watermark))
    ctx.metric("rows_read", counts["read"])
    ctx.metric("rows_written", written)
    ctx.metric("rows_quarantined", quarantined)
    ctx.metric("rows_deduplicated", dropped[0])
    if counts["read"] != written + quarantined + dropped[0]:
        ctx.log.warning("rows read %d != written %d + quarantined %d + deduplicated %d",
                        counts["read"], written, quarantined, dropped[0])
    return {"rows_read": counts["read"], "rows_written": written,
            "rows_quarantined": quarantined, "rows_deduplicated": dropped[0],
            "seconds": time.perf_counter() - t0, "watermark": _jsonable(watermark),
            "skipped": skipped, "quarantine": quarantine.where if quarantined else None}


def _track(batch: Any, column: str, state: dict[str, Any], native: bool) -> Any:
    """Filter ``batch`` to rows past the saved watermark (non-database sources) and keep
    the largest value seen, in the column's own type."""
    from datamill.io import watermark as wm

    if column not in batch.schema.names:
        raise UsageError(f"--incremental {column!r}: the source has no such column "
                         f"(columns: {', '.join(batch.schema.names)})")
    col_type = batch.schema.field(column).type
    if not state["typed"]:
        state["since"] = wm.coerce(state["since"], col_type, column)
        state["watermark"] = state["since"]
        state["typed"] = True
    if state["since"] is not None and not native:
        batch = wm.newer_than(batch, column, state["since"])
    state["watermark"] = wm.later(state["watermark"], wm.column_max(batch.column(column)))
    return batch


def _release(src: Any) -> None:
    for name in ("close", "release"):
        fn = getattr(src, name, None)
        if callable(fn):
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort after the load decided
                pass
            return


def _jsonable(value: Any) -> Any:
    import datetime as dt
    import decimal

    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


class _Quarantine:
    """The quarantine of one copy attempt: ``<artifacts>/quarantine/<name>/``."""

    def __init__(self, ctx: Any, name: str):
        self.ctx, self.name = ctx, name
        self._store: Any = None

    @property
    def store(self) -> Any:
        if self._store is None:
            from datamill.quality import Quarantine

            root = self.ctx.quarantine_root()
            if root is None:
                raise UsageError("copy needs an artifact store for the quarantine")
            self._store = Quarantine(root)
        return self._store

    @property
    def where(self) -> str:
        from datamill.quality.quarantine import slug

        folder = self.store.folder
        return f"{folder}/{slug(self.name)}" if isinstance(folder, str) else \
            str(folder / slug(self.name))

    def start(self) -> None:
        """Before an attempt reads its first batch: a retried or resumed copy reads the same
        rows again, so what an earlier attempt of this run quarantined is dropped, not
        doubled."""
        if self.ctx.quarantine_root() is None:
            return
        n = self.store.discard(self.name, self.ctx.run_id)
        if n:
            self.ctx.log.info("dropped %d quarantine file(s) of an earlier attempt of this run",
                              n)

    def write(self, table: Any) -> None:
        self.store.write(table, source=self.name, run_id=self.ctx.run_id, task_key=self.ctx.key)


class _CopyContract:
    """The contract of a copy, checked batch by batch.

    Rejected rows are written to quarantine (``<artifacts>/quarantine/<dataset>/``) with
    their rule and reason. Unique keys are checked across the whole copy (the caller passes
    one ``SeenKeys`` per attempt with every batch), and the bad-row share is of the whole
    copy (``finish``), so a small last batch cannot fail a good load."""

    def __init__(self, contract: str | Any):
        from datamill.quality import load_contract

        self.contract = load_contract(contract)

    def __call__(self, batch: Any, ctx: Any, seen: Any, quarantine: Any) -> tuple[Any, int]:
        """(good rows as one batch or None, rows rejected)."""
        import pyarrow as pa

        from datamill.quality import check

        c = self.contract
        res = check(c, pa.Table.from_batches([batch]), quarantine=quarantine,
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
