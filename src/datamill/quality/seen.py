"""Keys seen in earlier batches, so a stream checked batch by batch still finds repeats.

``check(contract, batch, seen=SeenKeys())`` with the same ``SeenKeys`` for every batch of
a stream (``datamill copy`` does this) flags a row whose unique key appeared in any earlier
batch, as ``check`` of the whole table at once would.

Integer, date and timestamp keys are kept exactly, as one sorted array: a batch is looked
up by binary search and merged in (a merge of two sorted runs), so 10M keys cost 80 MB and
about linear time. Other keys (text, composite) are kept as a sorted array of 64-bit hashes
beside the key values themselves; a hash hit is confirmed against the stored value, so a
hash collision never rejects a row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datamill._arrow import int_keys


class SeenKeys:
    """The unique keys of every batch checked so far, per key (column list)."""

    def __init__(self) -> None:
        self._sets: dict[tuple[str, ...], _KeySet] = {}

    def repeats(self, table: pa.Table, key: list[str], valid: np.ndarray) -> np.ndarray:
        """Rows (among ``valid``: no null in the key) whose key was seen before."""
        ks = self._sets.get(tuple(key))
        if ks is None or not valid.any():
            return np.zeros(table.num_rows, dtype=bool)
        return ks.contains(table.select(key), valid)

    def add(self, table: pa.Table, key: list[str], valid: np.ndarray) -> None:
        ks = self._sets.setdefault(tuple(key), _KeySet())
        ks.add(table.select(key), valid)

    def __len__(self) -> int:
        return sum(len(s) for s in self._sets.values())


def _exact(keys: pa.Table) -> np.ndarray | None:
    """One integer/temporal column as int64 values, or None for the hashed kind."""
    return int_keys(keys.column(0)) if keys.num_columns == 1 else None


def _hashes(keys: pa.Table) -> np.ndarray:
    import polars as pl

    df = pl.from_arrow(keys)
    assert isinstance(df, pl.DataFrame)
    h = df.select(pl.struct(df.columns).hash(seed=7).alias("h"))["h"]
    return h.to_numpy().astype(np.uint64, copy=False)


class _KeySet:
    def __init__(self) -> None:
        self.sorted: np.ndarray | None = None   # exact int64 keys or uint64 hashes, sorted
        self.pos: np.ndarray | None = None      # hashed kind: where each hash's key is stored
        self.store: list[pa.Table] = []         # hashed kind: the key values, in order added
        self.starts: list[int] = []             # first position of each stored table
        self.stored = 0
        self.exact: bool | None = None

    def __len__(self) -> int:
        return 0 if self.sorted is None else len(self.sorted)

    def _values(self, keys: pa.Table) -> np.ndarray:
        v = _exact(keys)
        if self.exact is None:
            self.exact = v is not None
        if self.exact and v is not None:
            return v
        if self.exact:
            from datamill.errors import UsageError

            raise UsageError(f"unique key ({', '.join(keys.column_names)}) changed type "
                             f"between batches (now {keys.schema.types})")
        return _hashes(keys)

    def contains(self, keys: pa.Table, valid: np.ndarray) -> np.ndarray:
        out = np.zeros(keys.num_rows, dtype=bool)
        if self.sorted is None or not len(self.sorted):
            return out
        v = self._values(keys)
        first = np.minimum(np.searchsorted(self.sorted, v), len(self.sorted) - 1)
        hit = (self.sorted[first] == v) & valid
        if self.exact or not hit.any():
            return hit
        # a hash matched: confirm against the stored key, so a collision rejects nothing
        rows = np.flatnonzero(hit)
        same = self._equal(keys, rows, first[rows])
        for j in np.flatnonzero(~same):  # same hash, other key: try the rest of that run
            k = first[rows[j]] + 1
            while k < len(self.sorted) and self.sorted[k] == v[rows[j]]:
                if self._equal(keys, rows[j:j + 1], np.array([k]))[0]:
                    same[j] = True
                    break
                k += 1
        out[rows] = same
        return out

    def _equal(self, keys: pa.Table, rows: np.ndarray, at: np.ndarray) -> np.ndarray:
        """Whether key row ``rows[i]`` equals the stored key behind sorted entry ``at[i]``."""
        assert self.pos is not None
        stored = self._take(self.pos[at])
        mine = keys.take(pa.array(rows))
        same = np.ones(len(rows), dtype=bool)
        for name in keys.column_names:
            a, b = stored.column(name), mine.column(name)
            eq = pc.fill_null(pc.equal(a, b), False)
            if pa.types.is_floating(a.type):  # NaN repeats NaN, as within one batch
                eq = pc.or_(eq, pc.fill_null(pc.and_(pc.is_nan(a), pc.is_nan(b)), False))
            same &= np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)
        return same

    def _take(self, positions: np.ndarray) -> pa.Table:
        """Stored key rows by global position, table by table (no concatenation)."""
        which = np.searchsorted(np.array(self.starts), positions, side="right") - 1
        parts, order = [], []
        for t in np.unique(which):
            sel = np.flatnonzero(which == t)
            parts.append(self.store[t].take(pa.array(positions[sel] - self.starts[t])))
            order.append(sel)
        table = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        return table.take(pa.array(np.argsort(np.concatenate(order), kind="stable")))

    def add(self, keys: pa.Table, valid: np.ndarray) -> None:
        v = self._values(keys)[valid]
        if self.exact:
            v = np.sort(v, kind="stable")
            self.sorted = v if self.sorted is None else \
                np.sort(np.concatenate([self.sorted, v]), kind="stable")  # merges two runs
            return
        kept = keys.filter(pa.array(valid)).combine_chunks()
        pos = np.arange(self.stored, self.stored + kept.num_rows, dtype=np.int64)
        self.store.append(kept)
        self.starts.append(self.stored)
        self.stored += kept.num_rows
        order = np.argsort(v, kind="stable")
        v, pos = v[order], pos[order]
        if self.sorted is None or self.pos is None:
            self.sorted, self.pos = v, pos
            return
        merged = np.concatenate([self.sorted, v])
        o = np.argsort(merged, kind="stable")
        self.sorted, self.pos = merged[o], np.concatenate([self.pos, pos])[o]
