"""The PostgreSQL fast paths against the real server: batches sliced for the binary
COPY, MERGE when the types allow (else INSERT ... ON CONFLICT), duplicate keys found in
Arrow (or by the database for float keys)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from datamill import io
from datamill.io import sql_pg


def orders(n: int, start: int = 0, v: str = "a") -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"id": pa.array(ids, pa.int64()), "v": pa.array([f"{v}{i}" for i in ids])})


@pytest.mark.parametrize("mode", ["append", "replace", "merge"])
def test_big_batches_are_sliced_for_copy_without_losing_rows(pg_url: str, mode: str,
                                                             monkeypatch) -> None:
    monkeypatch.setattr(sql_pg, "COPY_SLICE", 7)
    url = pg_url + "#sliced"
    data = orders(50)  # one 50-row batch: 8 slices
    report = io.write(url, data, mode=mode, key=["id"] if mode == "merge" else None)
    assert report.rows == 50
    back = io.read(url).sort_by("id")
    assert back.equals(data)


def _pg(pg_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as con:
        con.execute(sql)


def test_merge_into_other_column_types_takes_on_conflict(pg_url: str) -> None:
    # v is text in the table but integer in the data: MERGE could not compare text with
    # bigint; INSERT ... ON CONFLICT casts the incoming value to the column's type first
    _pg(pg_url, "CREATE TABLE mixed (id bigint PRIMARY KEY, v text)")
    _pg(pg_url, "INSERT INTO mixed VALUES (1, '10'), (2, 'old')")
    url = pg_url + "#mixed"
    data = pa.table({"id": pa.array([2, 3], pa.int64()), "v": pa.array([20, 30], pa.int64())})
    assert io.write(url, data, mode="merge", key="id", load_id="f1").rows == 2
    got = sorted((r["id"], r["v"]) for r in io.read(url).to_pylist())
    assert got == [(1, "10"), (2, "20"), (3, "30")]
    assert io.write(url, data, mode="merge", key="id", load_id="f1").skipped


@pytest.mark.parametrize("data, shown", [
    (pa.table({"id": pa.array([5, 6, 5], pa.int64()), "v": ["a", "b", "c"]}), "(id=5)"),
    (pa.table({"id": pa.array([None, 6, None], pa.int64()), "v": ["a", "b", "c"]}),
     "(id=None)"),
    (pa.table({"id": pa.array([1.5, 2.0, 1.5]), "v": ["a", "b", "c"]}), "(id=1.5)"),
    (pa.table({"id": pa.array([1, 1, 1], pa.int64()), "k": ["x", "y", "x"], "v": [1, 2, 3]}),
     "(id=1, k='x')"),
])
def test_merge_duplicate_keys_name_the_key(pg_url: str, data: pa.Table, shown: str) -> None:
    url = pg_url + "#dups"
    keys = [n for n in data.column_names if n != "v"]
    io.write(url, data.slice(1, 1), mode="merge", key=keys)
    with pytest.raises(Exception, match=r"same key .*more than once " + shown.replace(
            "(", r"\(").replace(")", r"\)")):
        io.write(url, data, mode="merge", key=keys, load_id="d")
    assert io.read(url).num_rows == 1  # nothing written


def test_merge_keeps_unchanged_rows_and_updates_changed_ones(pg_url: str) -> None:
    url = pg_url + "#m"
    io.write(url, orders(100), mode="merge", key="id")
    change = pa.concat_tables([orders(50, start=50, v="b"), orders(10, start=100)])
    assert io.write(url, change, mode="merge", key="id").rows == 60
    got = {r["id"]: r["v"] for r in io.read(url).to_pylist()}
    assert len(got) == 110
    assert got[0] == "a0" and got[49] == "a49" and got[50] == "b50" and got[109] == "a109"


def _statements(monkeypatch) -> list[str]:
    seen: list[str] = []
    orig = sql_pg.PgDialect.execute

    def spy(self, sql, params=()):
        seen.append(sql)
        return orig(self, sql, params)

    monkeypatch.setattr(sql_pg.PgDialect, "execute", spy)
    return seen


def test_merge_uses_merge_when_types_match_else_on_conflict(pg_url: str, monkeypatch) -> None:
    io.write(pg_url + "#same", orders(3), mode="merge", key="id")
    _pg(pg_url, "CREATE TABLE other (id bigint PRIMARY KEY, v varchar(20))")
    seen = _statements(monkeypatch)
    io.write(pg_url + "#same", orders(5, v="b"), mode="merge", key="id")
    assert any(s.startswith("MERGE INTO") for s in seen)
    assert not any("ON CONFLICT" in s for s in seen)
    seen.clear()
    io.write(pg_url + "#other", orders(5, v="b"), mode="merge", key="id")
    assert any("ON CONFLICT" in s for s in seen)
    assert not any(s.startswith("MERGE INTO") for s in seen)
    assert io.read(pg_url + "#same").sort_by("id").equals(orders(5, v="b"))
    assert io.read(pg_url + "#other").sort_by("id").column("v").to_pylist() == [
        f"b{i}" for i in range(5)]
