"""SeenKeys: a stream checked batch by batch finds the repeats a whole-table check finds."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.quality import Column, Contract, SeenKeys, check
from datamill.quality import seen as seen_mod


def _batched(contract, table, size):
    seen = SeenKeys()
    bad = []
    for start in range(0, table.num_rows, size):
        r = check(contract, table.slice(start, size), seen=seen)
        bad += [start + i for i in r.bad.column("_dm_row").to_pylist()]
    return bad


@settings(max_examples=60)
@given(st.lists(st.one_of(st.none(), st.integers(-5, 30)), max_size=80),
       st.integers(1, 25), st.sampled_from(["int", "str", "pair", "date"]))
def test_batched_check_flags_the_same_rows_as_the_whole_table(keys, size, kind):
    if kind == "int":
        cols = [Column("k", "int", unique=True)]
        table = pa.table({"k": pa.array(keys, pa.int64())})
        contract = Contract("c", cols)
    elif kind == "date":
        cols = [Column("k", "date", unique=True)]
        day0 = dt.date(2024, 1, 1)
        table = pa.table({"k": pa.array([None if k is None else day0 + dt.timedelta(days=k)
                                         for k in keys], pa.date32())})
        contract = Contract("c", cols)
    elif kind == "str":
        table = pa.table({"k": pa.array([None if k is None else f"key-{k}" for k in keys])})
        contract = Contract("c", [Column("k", "str", unique=True)])
    else:
        table = pa.table({"a": pa.array([None if k is None else k % 3 for k in keys], pa.int64()),
                          "b": pa.array([None if k is None else f"{k // 3}" for k in keys])})
        contract = Contract("c", [Column("a", "int"), Column("b", "str")], unique=[["a", "b"]])
    whole = check(contract, table).bad.column("_dm_row").to_pylist()
    assert _batched(contract, table, size) == whole


def test_hash_collisions_never_reject_a_row(monkeypatch):
    # every key hashes alike: the stored key values decide
    monkeypatch.setattr(seen_mod, "_hashes", lambda keys: np.zeros(keys.num_rows, np.uint64))
    contract = Contract("c", [Column("k", "str", unique=True)])
    table = pa.table({"k": ["a", "b", "c", "b", "d", "a", "e"]})
    assert _batched(contract, table, 2) == [3, 5]


def test_a_key_that_changes_type_between_batches_is_refused():
    seen = SeenKeys()
    valid = np.ones(2, dtype=bool)
    seen.add(pa.table({"k": pa.array([1, 2])}), ["k"], valid)
    with pytest.raises(Exception, match="changed type between batches"):
        seen.repeats(pa.table({"k": pa.array(["x", "y"])}), ["k"], valid)


@settings(max_examples=80)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(-3, 6)),
                          st.one_of(st.none(), st.sampled_from("ab"))), max_size=60),
       st.sampled_from(["int", "timestamp", "str", "pair"]))
def test_duplicates_are_later_repeats_of_a_non_null_key(rows, kind):
    # the sort path (integers, timestamps) and the hash path (text, composite) against a
    # plain Python reference: a row repeats when its whole key is non-null and seen before
    from datamill.quality.checks import _duplicates

    a = [r[0] for r in rows]
    if kind == "timestamp":
        col = pa.array([None if x is None else dt.datetime(2024, 1, 1) + dt.timedelta(hours=x)
                        for x in a], pa.timestamp("us"))
    elif kind == "str":
        col = pa.array([None if x is None else f"k{x}" for x in a])
    else:
        col = pa.array(a, pa.int64())
    table = pa.table({"a": col, "b": pa.array([r[1] for r in rows], pa.string())})
    key = ["a", "b"] if kind == "pair" else ["a"]
    seen_keys, want = set(), []
    for r in rows:
        k = r if kind == "pair" else (r[0],)
        dup = None not in k and k in seen_keys
        want.append(dup)
        if None not in k:
            seen_keys.add(k)
    got = _duplicates(table, key)
    assert (list(got) if got is not None else [False] * len(rows)) == want


def test_float_keys_nan_and_signed_zero_across_batches_as_within_one():
    # whatever the whole-table check calls a repeat (NaN after NaN, -0.0 after 0.0), the
    # batched check must call a repeat too
    contract = Contract("c", [Column("k", "float", unique=True)])
    table = pa.table({"k": pa.array([1.5, float("nan"), 0.0, 2.5, float("nan"), -0.0, 1.5])})
    whole = check(contract, table).bad.column("_dm_row").to_pylist()
    assert whole == [4, 5, 6]
    for size in (1, 2, 3):
        assert _batched(contract, table, size) == whole
