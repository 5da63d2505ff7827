"""describe and profile stay linear in the number of columns: the frame's schema (which
Polars rebuilds in full on every access) is read once per call, not once per column."""

from __future__ import annotations

import polars as pl
import pytest

from datamill.analytics.describe import describe
from datamill.analytics.profile import profile


def _wide(n: int) -> pl.DataFrame:
    half = n // 2
    return pl.DataFrame({**{f"n{i}": [i, i + 1, None, 3] for i in range(half)},
                         **{f"s{i}": ["a", "b", "a", None] for i in range(n - half)}})


@pytest.fixture
def schema_reads(monkeypatch):
    """How often ``DataFrame.schema`` is built."""
    count = {"n": 0}
    original = pl.DataFrame.schema

    def counted(self):
        count["n"] += 1
        return original.fget(self)

    monkeypatch.setattr(pl.DataFrame, "schema", property(counted))
    return count


@pytest.mark.parametrize("call", [describe, profile,
                                  lambda df: describe(df, columns=list(df.columns)),
                                  lambda df: describe(df.with_columns(g=pl.lit(1)), by="g")])
def test_schema_is_not_rebuilt_per_column(schema_reads, call):
    call(_wide(2_000))
    assert schema_reads["n"] < 20


@pytest.mark.timeout(600)
def test_twenty_thousand_columns_complete():
    df = _wide(20_000)
    out = describe(df)
    assert out.shape[0] == 20_000
    assert out.loc["n5", "max"] == 6 and out.loc["s7", "distinct"] == 2
    report = profile(df, minimal=True)
    assert report.to_dict()["overview"]["columns"] == 20_000
