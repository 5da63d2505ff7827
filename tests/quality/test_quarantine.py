"""Quarantine: bad rows written with their reasons and read back; nothing is ever lost."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from datamill.quality import Column, Contract, Quarantine, Rule, check, read_quarantine

ORDERS = Contract("orders", [
    Column("id", "int", nullable=False, unique=True),
    Column("ts", "datetime"),
    Column("country", allowed=["DE", "FR", "US"]),
    Column("qty", "int", min=0),
], rules=[Rule("small", "qty < 1000")])


def test_round_trip_with_reasons_source_run_and_task(tmp_path: Path):
    t = pa.table({"id": [1, 2, 3], "ts": ["2024-01-01T00:00:00", "2024-02-30T08:15:00", None],
                  "country": ["DE", "FR", "XX"], "qty": [1, 2, 3]})
    r = check(ORDERS, t, quarantine=Quarantine(tmp_path), source="file:///data/orders.csv",
              run_id="run-7", task_key="load")
    assert r.quarantine_path is not None
    path = Path(r.quarantine_path)
    assert path.parent == tmp_path / "quarantine" / "data-orders.csv"
    assert path.name == "run-7-1.parquet"
    back = read_quarantine(tmp_path, source="file:///data/orders.csv")
    rows = back.sort_by("id").to_pylist()
    assert [(x["id"], x["_dm_rule"], x["_dm_column"]) for x in rows] == [
        (2, "type", "ts"), (3, "allowed", "country")]
    assert rows[0]["ts"] == "2024-02-30T08:15:00"  # as it came
    assert "does not parse as datetime" in rows[0]["_dm_reason"]
    assert all(x["_dm_run_id"] == "run-7" and x["_dm_task"] == "load" for x in rows)
    assert all(x["_dm_source"] == "file:///data/orders.csv" for x in rows)
    assert all(x["_dm_quarantined_at"] is not None for x in rows)


def test_each_write_is_a_new_file_and_nothing_is_overwritten(tmp_path: Path):
    q = Quarantine(tmp_path)
    t = pa.table({"id": [1, 1], "ts": [None, None], "country": ["DE", "DE"], "qty": [1, 1]})
    first = check(ORDERS, t, quarantine=q, run_id="r1").quarantine_path
    second = check(ORDERS, t, quarantine=q, run_id="r1").quarantine_path
    assert first != second and second.endswith("r1-2.parquet")
    assert read_quarantine(tmp_path, run_id="r1").num_rows == 2
    assert not list((tmp_path / "quarantine").rglob(".tmp-*"))


def test_nothing_to_quarantine_writes_nothing(tmp_path: Path):
    t = pa.table({"id": [1], "ts": [None], "country": ["DE"], "qty": [1]})
    assert check(ORDERS, t, quarantine=tmp_path).quarantine_path is None
    assert read_quarantine(tmp_path).num_rows == 0


_rows = st.lists(st.fixed_dictionaries({
    "id": st.one_of(st.none(), st.integers(-3, 3)),
    "ts": st.one_of(st.none(), st.sampled_from(
        ["2024-01-31T00:00:00", "2024-02-30T08:15:00", "2023-02-29T00:00:00", "nope",
         "2024-12-31 23:59:59", "2024-06-01T12:00:00+02:00"])),
    "country": st.one_of(st.none(), st.sampled_from(["DE", "FR", "US", "XX", ""])),
    "qty": st.one_of(st.none(), st.text("0123456789-x.", max_size=5)),
}), max_size=40)


@given(_rows)
def test_nothing_lost_good_plus_bad_is_the_input(rows):
    schema = pa.schema([("id", pa.int64()), ("ts", pa.string()), ("country", pa.string()),
                        ("qty", pa.string())])
    t = pa.Table.from_pylist(rows, schema=schema)
    r = check(ORDERS, t)
    assert r.good.num_rows + r.bad.num_rows == t.num_rows
    assert sorted(r.bad.column("_dm_row").to_pylist()) == r.bad.column("_dm_row").to_pylist()
    # every input row is either good or bad, exactly once
    bad_rows = set(r.bad.column("_dm_row").to_pylist())
    assert len(bad_rows) == r.bad.num_rows
    assert r.bad.select(t.column_names).to_pylist() == [rows[i] for i in sorted(bad_rows)]
    assert all(x for x in r.bad.column("_dm_rules").to_pylist())
    assert [f.type for f in r.good.schema] == [f.type for f in ORDERS.schema.to_arrow()]


# -- locations: local folders and s3://bucket/prefix ------------------------------------

BAD = pa.table({"id": [1, 1], "ts": [None, None], "country": ["DE", "DE"], "qty": [1, 1]})


def test_s3_write_list_and_read_back(s3_bucket: str):
    root = f"s3://{s3_bucket}/team/lake"
    q = Quarantine(root)
    first = check(ORDERS, BAD, quarantine=q, source="s3://raw/orders.csv", run_id="run-7",
                  task_key="load").quarantine_path
    second = check(ORDERS, BAD, quarantine=root, source="s3://raw/orders.csv",
                   run_id="run-7").quarantine_path
    other = check(ORDERS, BAD, quarantine=q, source="s3://raw/orders.csv",
                  run_id="run-8").quarantine_path
    assert first and second and other and len({first, second, other}) == 3
    assert first.startswith(f"s3://{s3_bucket}/team/lake/quarantine/raw-orders.csv/run-7-")
    # two writes of one run: two files, in write order, nothing overwritten
    assert q.files("s3://raw/orders.csv", run_id="run-7") == [first, second]
    assert q.files("s3://raw/orders.csv") == [first, second, other]
    assert q.files() == [first, second, other]
    back = read_quarantine(root, source="s3://raw/orders.csv", run_id="run-7")
    assert back.num_rows == 2 and set(back.column("_dm_run_id").to_pylist()) == {"run-7"}
    assert back.column("_dm_task").to_pylist() == ["load", None]
    assert read_quarantine(root).num_rows == 3
    assert read_quarantine(f"s3://{s3_bucket}/elsewhere").num_rows == 0
    assert Quarantine(f"s3://{s3_bucket}/elsewhere").files() == []


def test_s3_many_writers_of_one_run_lose_nothing(s3_bucket: str):
    from concurrent.futures import ThreadPoolExecutor

    q = Quarantine(f"s3://{s3_bucket}/q")
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda i: q.write(BAD.slice(0, 1), source="orders", run_id="r1",
                                                task_key=f"t{i}"), range(16)))
    assert len(set(paths)) == 16 and sorted(q.files("orders", "r1")) == sorted(paths)
    assert sorted(q.read("orders", "r1").column("_dm_task").to_pylist()) == \
        sorted(f"t{i}" for i in range(16))


def test_s3_missing_bucket_is_a_usage_error(s3_bucket: str):
    import pytest

    from datamill.errors import UsageError

    with pytest.raises(UsageError, match="does not exist"):
        Quarantine(f"s3://{s3_bucket}-missing/q").write(BAD, source="orders", run_id="r1")


def test_bad_locations_are_usage_errors():
    import pytest

    from datamill.errors import UsageError

    for loc in ("ftp://host/q", "hdfs://bucket/q", "postgresql://h/db#t"):
        with pytest.raises(UsageError, match="unsupported scheme.*local folder or s3://"):
            Quarantine(loc)
    with pytest.raises(UsageError, match="name a bucket"):
        Quarantine("s3://")


def test_file_urls_and_write_order_past_nine(tmp_path: Path):
    q = Quarantine(f"file://{tmp_path}")
    paths = [q.write(BAD, source="orders", run_id="r1") for _ in range(11)]
    assert [Path(p).name for p in paths[-2:]] == ["r1-10.parquet", "r1-11.parquet"]
    assert q.files("orders", "r1") == [Path(p) for p in paths]  # 10 after 9, not after 1
    assert q.files("orders", "r") == []  # a run id is matched whole, not as a prefix


def _bad(n: int) -> pa.Table:
    return pa.table({"id": list(range(n)), "_dm_rule": ["type"] * n, "_dm_reason": ["x"] * n})


def test_discard_drops_one_runs_files_of_one_dataset_only(tmp_path: Path, s3_bucket: str):
    for root in (tmp_path, f"s3://{s3_bucket}/q"):
        q = Quarantine(root)
        q.write(_bad(2), source="orders", run_id="r1")
        q.write(_bad(3), source="orders", run_id="r1")
        q.write(_bad(1), source="orders", run_id="r2")
        q.write(_bad(4), source="other", run_id="r1")
        assert q.discard("orders", "r1") == 2
        assert q.read("orders").column("_dm_run_id").to_pylist() == ["r2"]
        assert q.read("other").num_rows == 4
        assert q.discard("orders", "r1") == 0
