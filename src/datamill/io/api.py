"""``read``, ``read_batches`` and ``write``: the one call shape of every connector.

Inside a task, pass ``ctx=`` (the run context) and the read or write is recorded as
lineage (dataset identity, schema, rows) of the running task. A location is a URL (or a
named connection) or a ``Location`` parsed once by the caller; ``connections=`` (or
``project=``) gives the project's named connections, read once at the top.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import UsageError
from datamill.io.base import MODES, FrameBatches, WriteReport, whole_batches
from datamill.io.connections import connections as project_connections
from datamill.io.connections import lookup
from datamill.io.registry import connector_for
from datamill.io.url import Location, with_options
from datamill.io.url import parse_url as _parse

#: Recorded with every write inside a task: rows written, labelled with dataset and mode.
WRITE_METRIC = "dataset_rows_written"


def parse_url(url: str | Location, project: Any = None, *,
              connections: dict[str, dict[str, Any]] | None = None, **options: Any) -> Location:
    """Parse a location, resolving a named connection first. An already-parsed
    ``Location`` is taken as it is (``options`` added to its own), so a caller that parsed
    once never parses again. ``connections``: the project's connections, read once by the
    caller (``io.connections.connections(project.config)``); else those of ``project``;
    else those of the ``datamill.toml`` around the current folder."""
    if isinstance(url, Location):
        return with_options(url, **options)
    text = str(url)
    if "://" not in text.split("#")[0]:
        if connections is None:
            if project is None:
                from datamill.store.project import find_project

                project = find_project()
            connections = project_connections(project.config)
        text, conn_opts = lookup(text, connections)
        options = {**conn_opts, **options}
    return _parse(text, **options)


def open_source(url: str | Location, **options: Any) -> tuple[Location, Any]:
    """The parsed location and its connector's source (for callers that need the source
    itself, e.g. to acknowledge broker messages after a load)."""
    loc = parse_url(url, **options)
    return loc, connector_for(loc).open_source(loc)


def read_batches(url: str | Location, *, columns: list[str] | None = None, batch_size: int = 100_000,
                 ctx: Any = None, **options: Any) -> Iterator[Any]:
    """Stream ``pyarrow.RecordBatch``es from a location."""
    loc, src = open_source(url, **options)
    rows = 0
    schema = None
    for batch in src.batches(columns=columns, batch_size=batch_size):
        rows += batch.num_rows
        schema = batch.schema
        yield batch
    if ctx is not None:
        ctx.record_input(loc.dataset, schema=_schema_json(schema), rows=rows)


def read(url: str | Location, *, columns: list[str] | None = None, ctx: Any = None, **options: Any) -> Any:
    """Read a whole location into a ``pyarrow.Table``."""
    import pyarrow as pa

    loc, src = open_source(url, **options)
    batches = list(whole_batches(src, columns))
    if batches:
        table = pa.Table.from_batches(batches)
    else:
        schema = src.schema()
        table = schema.empty_table() if schema is not None else pa.table({})
    if ctx is not None:
        ctx.record_input(loc.dataset, schema=_schema_json(table.schema), rows=table.num_rows)
    return table


def write(url: str | Location, data: Any, *, mode: str = "append", key: list[str] | str | None = None,
          load_id: str | None = None, ctx: Any = None, **options: Any) -> WriteReport:
    """Write a table (pandas, Polars, Arrow, or an iterable of record batches) to a location,
    all or nothing. ``mode``: append, replace, or merge on ``key`` columns."""
    if mode not in MODES:
        raise UsageError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    keys = [key] if isinstance(key, str) else list(key or [])
    if mode == "merge" and not keys:
        raise UsageError("mode='merge' needs key columns (key=['id'])")
    loc = parse_url(url, **options)
    sink = connector_for(loc).open_sink(loc)
    seen: list[Any] = []

    def tap(batches: Iterable[Any]) -> Iterator[Any]:
        for b in batches:
            if not seen:
                seen.append(b.schema)
            yield b

    batches = to_batches(data)
    if isinstance(batches, FrameBatches):  # kept whole for writers that take the frame
        seen.append(batches.schema)
        stream: Iterable[Any] = batches
    else:
        stream = tap(batches)
    report = sink.write(stream, mode=mode, key=keys or None, load_id=load_id)
    if ctx is not None:
        ctx.record_output(loc.dataset, schema=_schema_json(seen[0] if seen else None),
                          rows=report.rows)
        if callable(getattr(ctx, "metric", None)):  # the catalogue sums appends with it
            ctx.metric(WRITE_METRIC, report.rows, dataset=loc.dataset, mode=mode)
    return report


def to_batches(data: Any) -> Iterable[Any]:
    """Arrow record batches from pandas, Polars, Arrow tables or an iterable of batches."""
    import pyarrow as pa

    mod = type(data).__module__.split(".")[0]
    if isinstance(data, pa.Table):
        return data.to_batches()
    if isinstance(data, pa.RecordBatch):
        return [data]
    if mod == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False).to_batches()
    if mod == "polars":
        if hasattr(data, "collect"):  # a LazyFrame
            data = data.collect()
        return FrameBatches(data)
    if isinstance(data, Iterable):
        return data
    raise UsageError(f"cannot write a {type(data).__name__}: pass a DataFrame, an Arrow table "
                     "or record batches")


def _schema_json(schema: Any) -> list[dict[str, str]] | None:
    if schema is None:
        return None
    return [{"name": f.name, "type": str(f.type)} for f in schema]
