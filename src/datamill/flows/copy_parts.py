"""Pieces of ``datamill copy`` kept out of ``flows/copy.py``: the line accounting (bad lines
set aside by a reader go to quarantine, counted), ``--dedupe`` and the chain of sources."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import UsageError

DEDUPE = ("first", "last")


def rejected_of(src: Any) -> list[tuple[Any, str, str]]:
    """What a source set aside while reading, as (line or message id, raw text, reason)."""
    out = []
    for r in getattr(src, "rejected", None) or []:
        if isinstance(r, tuple):
            line, raw, reason = r[0], r[1], r[2]
        else:
            line, raw, reason = getattr(r, "id", None), getattr(r, "payload", b""), \
                getattr(r, "reason", "")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        out.append((line, str(raw), str(reason)))
    return out


def bad_lines_table(rows: list[tuple[Any, str, str]], file: str) -> Any:
    """Quarantine rows for lines a reader could not parse (rule ``bad_line``)."""
    import pyarrow as pa

    lines = [r[0] if isinstance(r[0], int) else None for r in rows]
    return pa.table({
        "_dm_line": pa.array(lines, pa.int64()),
        "_dm_raw": pa.array([r[1] for r in rows], pa.string()),
        "_dm_file": pa.array([file] * len(rows), pa.string()),
        "_dm_rule": pa.array(["bad_line"] * len(rows), pa.string()),
        "_dm_reason": pa.array([r[2] for r in rows], pa.string()),
        "_dm_column": pa.array([None] * len(rows), pa.string()),
    })


def dedupe(batches: Iterable[Any], key: list[str], keep: str, counter: list[int]) -> Iterator[Any]:
    """The rows of ``batches`` with one row per ``key``: the first or the last occurrence in
    source order, across batches. Holds the stream in memory (it must see the last
    occurrence before it can write anything); ``counter[0]`` counts the rows dropped."""
    import numpy as np
    import pyarrow as pa

    if keep not in DEDUPE:
        raise UsageError(f"--dedupe must be 'first' or 'last', not {keep!r}")
    if not key:
        raise UsageError("--dedupe needs --key COLUMNS (the columns that identify a row)")
    held = [b for b in batches if b.num_rows]
    if not held:
        return
    table = pa.Table.from_batches(held)
    missing = [k for k in key if k not in table.column_names]
    if missing:
        raise UsageError(f"--key {', '.join(missing)}: not a column of the source "
                         f"(columns: {', '.join(table.column_names)})")
    idx = "__dm_row"
    keys = table.select(key).append_column(idx, pa.array(np.arange(table.num_rows)))
    agg = "min" if keep == "first" else "max"
    picked = keys.group_by(key, use_threads=False).aggregate([(idx, agg)])
    rows = np.sort(picked.column(f"{idx}_{agg}").to_numpy())
    counter[0] += table.num_rows - len(rows)
    out = table.take(pa.array(rows))
    yield from out.to_batches()


def conform(batch: Any, target: Any, source: str) -> Any:
    """A batch of a later source in the schema of the first one (``copy A B DEST``)."""
    if batch.schema.equals(target):
        return batch
    if set(batch.schema.names) != set(target.names):
        raise UsageError(f"{source} has columns {batch.schema.names}, but the first source has "
                         f"{target.names}: copy them separately")
    try:
        return batch.select(target.names).cast(target)
    except Exception as exc:  # noqa: BLE001 - arrow raises several types here
        raise UsageError(f"{source}: its column types do not fit the first source's "
                         f"({exc}); copy them separately") from exc
