"""Arrow table helpers shared by the layers: row selection that neither copies whole
chunked columns nor runs on one core."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa


def take_sorted(table: pa.Table, idx: np.ndarray) -> pa.Table:
    """Rows ``idx`` (ascending) of a table, batch by batch: Arrow's take on a chunked
    column first concatenates all its chunks, a copy of the whole column."""
    out, start = [], 0
    for b in table.to_batches():
        end = start + b.num_rows
        lo, hi = np.searchsorted(idx, [start, end])
        if hi > lo:
            out.append(b.take(pa.array(idx[lo:hi] - start)))
        start = end
    return pa.Table.from_batches(out, schema=table.schema)


def filter_rows(table: pa.Table, keep: np.ndarray, pool: Any = None) -> pa.Table:
    """The rows where ``keep`` is true, batches filtered in parallel threads (Arrow's
    filter releases the GIL); ``pool``: an executor to use, else one for the call."""
    batches = table.to_batches()
    starts = np.cumsum([0] + [b.num_rows for b in batches])

    def one(i: int) -> pa.RecordBatch:
        return batches[i].filter(pa.array(keep[starts[i]:starts[i + 1]]))

    workers = min(len(batches), os.cpu_count() or 1)
    if pool is None and workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="datamill-filter") as own:
            kept = list(own.map(one, range(len(batches))))
    elif pool is not None:
        kept = list(pool.map(one, range(len(batches))))
    else:
        kept = [one(i) for i in range(len(batches))]
    return pa.Table.from_batches(kept, schema=table.schema)


def first_occurrence(v: np.ndarray, keep: str = "first") -> Any:
    """numpy mask of the first (``keep="first"``) or last occurrence of each value of an
    integer array, or True when no value repeats.

    A stable sort instead of a hash table: values that arrive nearly sorted (ids,
    timestamps: the common case) sort in close to linear time, where hashing 10M values
    misses the cache on every row; values in random order cost about what hashing does.
    """
    order = np.argsort(v, kind="stable")
    sv = v[order]
    edge = np.empty(len(v), dtype=bool)
    if not len(v):
        return True
    if keep == "first":
        edge[0] = True
        np.not_equal(sv[1:], sv[:-1], out=edge[1:])
    else:
        edge[-1] = True
        np.not_equal(sv[1:], sv[:-1], out=edge[:-1])
    if bool(edge.all()):
        return True
    mask = np.zeros(len(v), dtype=bool)
    mask[order[edge]] = True
    return mask


def int_keys(col: Any) -> np.ndarray | None:
    """An integer, date or timestamp Arrow column as int64 numpy values (nulls as 0), or
    None for other types."""
    t = col.type
    if not (pa.types.is_integer(t) or pa.types.is_temporal(t)) or pa.types.is_uint64(t) \
            or pa.types.is_interval(t):  # (months, days, nanoseconds): not one integer
        return None
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_temporal(t):
        arr = arr.view(pa.int64() if t.bit_width == 64 else pa.int32())
    if arr.null_count:
        arr = arr.fill_null(0)
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.int64)
