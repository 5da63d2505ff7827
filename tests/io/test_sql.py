"""The SQL connector against real SQLite, DuckDB, PostgreSQL and MariaDB databases."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid
from collections.abc import Iterator

import pyarrow as pa
import pytest

from datamill import io
from datamill.errors import UsageError
from datamill.io.sql import DatabaseError, open_source
from datamill.io.sql_dialects import password_for
from datamill.io.url import parse_url
from datamill.testing.instances import free_port
from servicecheck import require_service

MY_HOST, MY_PORT = "127.0.0.1", 3306
UTC = dt.UTC


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A new, empty MariaDB database, dropped after the test."""
    require_service("mariadb", MY_HOST, MY_PORT)
    import pymysql

    name = f"dm_test_{uuid.uuid4().hex[:16]}"
    admin = pymysql.connect(host=MY_HOST, port=MY_PORT, user="root", password="", autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE `{name}`")
    try:
        yield f"mysql+pymysql://root@{MY_HOST}:{MY_PORT}/{name}"
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(params=["sqlite", "duckdb", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL (without #table) of an empty database of each kind."""
    kind = request.param
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if kind == "duckdb":
        return f"duckdb:///{tmp_path / 'test.duckdb'}"
    if kind == "postgresql":
        return request.getfixturevalue("pg_url")
    return request.getfixturevalue("mysql_url")


def sample(n: int = 3, start: int = 0) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "qty": pa.array([i if i % 2 else None for i in ids], pa.int32()),
        "price": pa.array([i * 1.5 if i % 3 else None for i in ids], pa.float64()),
        "ok": pa.array([None if i % 3 == 2 else i % 2 == 0 for i in ids]),
        "name": pa.array([None if i % 4 == 3 else f"n{i}é" for i in ids]),
        "ts": pa.array([dt.datetime(2024, 1, 1, 0, 0, i % 60, 123456) if i % 5 != 4 else None
                        for i in ids], pa.timestamp("us")),
        "tz": pa.array([dt.datetime(2024, 2, 1, 12, i % 60, tzinfo=UTC) if i % 2 else None
                        for i in ids], pa.timestamp("us", "UTC")),
        "day": pa.array([dt.date(2024, 3, 1 + i % 28) if i % 3 != 1 else None for i in ids]),
        "amount": pa.array([decimal.Decimal(f"{i}.25") if i % 2 == 0 else None for i in ids],
                           pa.decimal128(12, 2)),
        "blob": pa.array([bytes([i % 256, 0]) if i % 2 == 0 else None for i in ids], pa.binary()),
    })


def rows(url: str, order: str = "id") -> list[dict]:
    return sorted(io.read(url).to_pylist(), key=lambda r: r[order])


def comparable(r: dict) -> dict:
    """A row as every database gives it back: tz-aware values in UTC (MariaDB: naive UTC)."""
    out = dict(r)
    if out.get("tz") is not None:
        out["tz"] = out["tz"].astimezone(UTC).replace(tzinfo=None)
    return out


# ------------------------------------------------------------------------- round trip


def test_round_trip_types_and_nulls(db: str) -> None:
    data = sample(8)
    report = io.write(db + "#things", data)
    assert report.rows == 8 and not report.skipped
    back = io.read(db + "#things")
    assert back.num_rows == 8
    types = dict(zip(back.schema.names, back.schema.types, strict=True))
    assert pa.types.is_integer(types["id"]) and pa.types.is_integer(types["qty"])
    assert types["price"] == pa.float64() and types["ok"] == pa.bool_()
    assert types["name"] == pa.string() and types["blob"] == pa.binary()
    assert types["ts"] == pa.timestamp("us") and types["day"] == pa.date32()
    assert types["amount"] == pa.decimal128(12, 2)
    if not db.startswith("mysql"):
        assert types["tz"] == pa.timestamp("us", "UTC")
    got = [comparable(r) for r in sorted(back.to_pylist(), key=lambda r: r["id"])]
    assert got == [comparable(r) for r in data.to_pylist()]


def test_chunked_read_batch_sizes(db: str) -> None:
    io.write(db + "#c", sample(10))
    for size, expected in [(3, [3, 3, 3, 1]), (5, [5, 5]), (100, [10])]:
        sizes = [b.num_rows for b in io.read_batches(db + "#c", batch_size=size)]
        assert sizes == expected
    only = io.read(db + "#c", columns=["id", "name"])
    assert only.schema.names == ["id", "name"]


def test_query_option(db: str) -> None:
    io.write(db + "#q", sample(6))
    got = io.read(db + "#?query=SELECT id, name FROM q WHERE id >= 3")
    assert sorted(got.column("id").to_pylist()) == [3, 4, 5]
    got = io.read(db, query="SELECT id FROM q WHERE id < 2")
    assert sorted(got.column("id").to_pylist()) == [0, 1]


def test_incremental_watermark(db: str) -> None:
    url = db + "#events"
    io.write(url, sample(5))
    first = open_source(parse_url(url, incremental="id"))
    assert [r["id"] for b in first.batches(batch_size=2) for r in b.to_pylist()] == [0, 1, 2, 3, 4]
    assert first.max_watermark == 4
    io.write(url, sample(3, start=5))
    nxt = open_source(parse_url(url, incremental="id", since=str(first.max_watermark)))
    got = [r["id"] for b in nxt.batches(batch_size=2) for r in b.to_pylist()]
    assert got == [5, 6, 7] and nxt.max_watermark == 7
    # nothing new: the watermark stays where it was
    again = open_source(parse_url(url, incremental="id", since=7))
    assert list(again.batches()) == [] and again.max_watermark == 7
    # by timestamp, given as text; the watermark column need not be among the columns read
    ts = open_source(parse_url(url, incremental="ts", since="2024-01-01 00:00:02"))
    got = [r["id"] for b in ts.batches(columns=["id"]) for r in b.to_pylist()]
    assert got == [2, 3, 5, 6, 7] and ts.max_watermark == dt.datetime(2024, 1, 1, 0, 0, 7, 123456)


# ------------------------------------------------------------------------- write modes


def test_append_records_load_id_and_skips_repeat(db: str) -> None:
    url = db + "#orders"
    first = io.write(url, sample(4), load_id="load-1")
    again = io.write(url, sample(4), load_id="load-1")
    assert first.rows == 4 and not first.skipped
    assert again.skipped and again.rows == 0
    io.write(url, sample(2, start=4), load_id="load-2")
    assert [r["id"] for r in rows(url)] == [0, 1, 2, 3, 4, 5]
    loads = io.read(db + "#_datamill_loads").to_pylist()
    assert sorted((r["table_name"], r["load_id"], r["row_count"]) for r in loads) == [
        ("orders", "load-1", 4), ("orders", "load-2", 2)]


def test_replace_swaps_and_is_repeatable(db: str) -> None:
    url = db + "#snap"
    io.write(url, sample(5))
    for _ in range(2):
        report = io.write(url, sample(2, start=100), mode="replace", load_id=None)
        assert report.rows == 2
        assert [r["id"] for r in rows(url)] == [100, 101]
    # a repeated load id is skipped
    io.write(url, sample(3), mode="replace", load_id="r1")
    assert io.write(url, sample(1), mode="replace", load_id="r1").skipped
    assert [r["id"] for r in rows(url)] == [0, 1, 2]
    names = _tables(db)
    assert not any("__dm_" in n for n in names)


def test_merge_upserts_and_is_repeatable(db: str) -> None:
    url = db + "#dim"
    io.write(url, sample(4), mode="merge", key=["id"])
    change = sample(3, start=2).set_column(4, "name", pa.array(["x", "y", "z"]))
    for _ in range(2):  # the same merge twice gives the same table
        report = io.write(url, change, mode="merge", key="id")
        assert report.rows == 3
        got = {r["id"]: r["name"] for r in rows(url)}
        assert got == {0: "n0é", 1: "n1é", 2: "x", 3: "y", 4: "z"}
    assert io.write(url, change, mode="merge", key="id", load_id="m1").rows == 3
    assert io.write(url, change, mode="merge", key="id", load_id="m1").skipped


def test_merge_on_two_keys(db: str) -> None:
    url = db + "#pairs"
    t = pa.table({"a": [1, 1, 2], "b": ["x", "y", "x"], "v": [1.0, 2.0, 3.0]})
    io.write(url, t, mode="merge", key=["a", "b"])
    io.write(url, pa.table({"a": [1, 3], "b": ["y", "z"], "v": [20.0, 4.0]}), mode="merge",
             key=["a", "b"])
    got = sorted((r["a"], r["b"], r["v"]) for r in io.read(url).to_pylist())
    assert got == [(1, "x", 1.0), (1, "y", 20.0), (2, "x", 3.0), (3, "z", 4.0)]


def test_merge_duplicate_keys_is_a_clear_error(db: str) -> None:
    url = db + "#dups"
    io.write(url, sample(2), mode="merge", key="id")
    bad = sample(3, start=1).set_column(0, "id", pa.array([1, 2, 1], pa.int64()))
    with pytest.raises(UsageError, match="same key .*more than once"):
        io.write(url, bad, mode="merge", key="id", load_id="d1")
    assert [r["id"] for r in rows(url)] == [0, 1]  # nothing written
    assert not io.write(url, sample(2, start=1), mode="merge", key="id", load_id="d1").skipped


def test_new_column_needs_evolve(db: str) -> None:
    url = db + "#evo"
    io.write(url, sample(2))
    wider = sample(2, start=2).append_column("extra", pa.array(["e2", "e3"]))
    with pytest.raises(UsageError, match="'extra'.*evolve=True"):
        io.write(url, wider, load_id="w1")
    assert len(rows(url)) == 2
    report = io.write(url, wider, load_id="w1", evolve=True)
    assert report.details["added_columns"] == ["extra"]
    got = {r["id"]: r["extra"] for r in rows(url)}
    assert got == {0: None, 1: None, 2: "e2", 3: "e3"}
    # merge evolves the same way
    io.write(url, wider.set_column(10, "extra", pa.array(["E2", "E3"])).append_column(
        "more", pa.array([1, 2])), mode="merge", key="id", evolve="true")
    assert {r["id"]: r["more"] for r in rows(url)} == {0: None, 1: None, 2: 1, 3: 2}


def test_empty_write(db: str) -> None:
    url = db + "#empty"
    io.write(url, sample(3))
    assert io.write(url, sample(0), load_id="e").rows == 0
    assert io.write(url, sample(0), load_id="e").skipped
    io.write(url, [], mode="replace")
    assert io.read(url).num_rows == 0


# ----------------------------------------------------------------------------- security


EVIL_TABLE = 'x"; DROP TABLE victim; --`'
EVIL_COL = "c'); DROP TABLE victim; --\""


def test_injection_shaped_names_round_trip(db: str) -> None:
    io.write(db + "#victim", pa.table({"id": [1]}))
    url = db + "#" + EVIL_TABLE
    t = pa.table({"id": [1, 2], EVIL_COL: ["'; DELETE FROM victim; --", "b"]})
    io.write(url, t, load_id="x'; --")
    io.write(url, t.slice(1), mode="merge", key=["id"])
    io.write(url, t, mode="replace")
    back = sorted(io.read(url).to_pylist(), key=lambda r: r["id"])
    assert back == t.to_pylist()
    src = open_source(parse_url(url, incremental=EVIL_COL, since="a"))
    assert [r["id"] for b in src.batches() for r in b.to_pylist()] == [2]
    assert io.read(db + "#victim").to_pylist() == [{"id": 1}]
    assert EVIL_TABLE in _tables(db)


# ------------------------------------------------------------------- errors and secrets


@pytest.mark.parametrize("scheme", ["postgresql", "mysql+pymysql"])
def test_unreachable_database_is_a_clear_error(scheme: str) -> None:
    url = f"{scheme}://u:s3cretpw@127.0.0.1:{free_port()}/nodb#t"
    with pytest.raises(DatabaseError, match="cannot connect to") as err:
        io.read(url)
    assert "s3cretpw" not in str(err.value) and "***" in str(err.value)
    with pytest.raises(DatabaseError, match="cannot connect to") as err:
        io.write(url, sample(1))
    assert "s3cretpw" not in str(err.value)


def test_missing_table_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(DatabaseError, match="reading .*nope"):
        io.read(f"sqlite:///{tmp_path / 'a.db'}#nope")


def test_password_sources(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMILL_DB_PASSWORD", "from-env")
    loc = parse_url("postgresql://u@h/db#t")
    assert password_for(loc, None) == "from-env"
    pf = tmp_path / "pw"
    pf.write_text("from-file\n")
    loc = parse_url(f"postgresql://u@h/db#t?password_file={pf}")
    assert password_for(loc, None) == "from-file"
    assert password_for(loc, "in-url") == "in-url"
    assert "in-url" not in parse_url("postgresql://u:in-url@h/db#t").display


def test_pg_password_from_env_reaches_the_server(pg_url: str, monkeypatch) -> None:
    # trust auth accepts any password: this checks the env password does not break the URL
    monkeypatch.setenv("DATAMILL_DB_PASSWORD", "p@ss:w/rd")
    io.write(pg_url + "#t", sample(2))
    assert io.read(pg_url + "#t").num_rows == 2


def _tables(db: str) -> list[str]:
    if db.startswith("sqlite"):
        q = "SELECT name FROM sqlite_master WHERE type = 'table'"
    elif db.startswith("mysql"):
        q = "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()"
    else:
        q = ("SELECT table_name AS name FROM information_schema.tables WHERE table_schema NOT IN "
             "('pg_catalog', 'information_schema')")
    t = io.read(db, query=q)
    return [str(v) for v in t.column(0).to_pylist()]


def test_sqlite_missing_folder(tmp_path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        io.write(f"sqlite:///{tmp_path / 'no' / 'x.db'}#t", sample(1))
    assert not os.path.exists(tmp_path / "no")
