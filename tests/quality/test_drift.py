"""Schema drift: new, missing and re-typed columns under each policy."""

from __future__ import annotations

import pyarrow as pa
import pytest

from datamill.quality import Column, Contract, check, detect_drift, evolve_schema


def _contract(policy: str) -> Contract:
    return Contract("t", [Column("a", "int", nullable=False), Column("b", "str")], drift=policy,
                    max_bad_share=1.0)


def test_detect_new_missing_retyped():
    schema = _contract("fail").schema
    rep = detect_drift(schema, pa.schema([("a", pa.float64()), ("c", pa.int32())]))
    assert rep.new == ["c"] and rep.missing == ["b"]
    assert rep.retyped == {"a": ("int64", "double")}
    assert "new columns: c" in rep.summary()
    # text and widening are not drift
    ok = detect_drift(schema, pa.schema([("a", pa.string()), ("b", pa.large_string())]))
    assert not ok.found
    assert not detect_drift(schema, pa.schema([("a", pa.int8()), ("b", pa.string())])).found


@pytest.mark.parametrize("policy,passed,good_cols", [
    ("fail", False, ["a", "b"]),
    ("evolve", True, ["a", "b", "c"]),
    ("ignore", True, ["a", "b"]),
])
def test_new_column_per_policy(policy, passed, good_cols):
    r = check(_contract(policy), pa.table({"a": [1], "b": ["x"], "c": [1.5]}))
    assert r.drift.new == ["c"] and r.passed is passed
    assert r.good.column_names == good_cols
    assert r.bad.num_rows == 0


@pytest.mark.parametrize("policy,passed,bad", [
    ("fail", False, 2),     # a is required: rows without it are rejected, and drift fails
    ("evolve", True, 0),    # the schema evolves: a becomes nullable
    ("ignore", False, 2),   # drift is ignored, but the rules still apply (threshold 0)
])
def test_missing_column_per_policy(policy, passed, bad):
    c = _contract(policy)
    c.max_bad_share = 0.0
    r = check(c, pa.table({"b": ["x", "y"]}))
    assert r.drift.missing == ["a"]
    assert r.bad.num_rows == bad
    assert r.good.num_rows + r.bad.num_rows == 2
    assert r.passed is passed
    assert r.good.schema.field("a").type == pa.int64()
    if bad:
        assert set(r.bad.column("_dm_rule").to_pylist()) == {"not_null"}


@pytest.mark.parametrize("policy", ["fail", "evolve", "ignore"])
def test_retyped_column_values_still_checked(policy):
    r = check(_contract(policy), pa.table({"a": [1.0, 2.5], "b": ["x", "y"]}))
    assert r.drift.retyped == {"a": ("int64", "double")}
    assert r.good.column("a").to_pylist() == [1]
    assert r.bad.column("_dm_rule").to_pylist() == ["type"]
    assert r.passed is (policy != "fail")


def test_evolve_schema():
    schema = _contract("evolve").schema
    data = pa.schema([("b", pa.string()), ("c", pa.timestamp("ms", tz="UTC"))])
    rep = detect_drift(schema, data, "evolve")
    new = evolve_schema(schema, rep, data)
    assert new.names == ["a", "b", "c"]
    assert new["a"].nullable and new["c"].type == "datetime" and new["c"].tz == "UTC"
