"""The PostgreSQL fast paths: batches sliced for the binary COPY, MERGE with the
ON CONFLICT fallback, and their errors, against the real server."""

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
