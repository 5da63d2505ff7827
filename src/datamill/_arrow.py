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
