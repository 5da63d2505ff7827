"""describe: hand-computed values, scipy/numpy on generated data, grouping, input kinds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from datamill.analytics.describe import describe
from datamill.errors import UsageError


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "x": [1.0, 2.0, 2.0, 3.0, 10.0, None],
        "s": ["a", "b", "b", None, "c", "b"],
        "g": ["p", "p", "p", "q", "q", "q"],
    })


def test_hand_computed_numeric_column():
    d = describe(frame())
    x = d.loc["x"]
    assert x["count"] == 5 and x["nulls"] == 1 and x["distinct"] == 4
    assert x["mean"] == pytest.approx(3.6)
    assert x["median"] == 2.0 and x["mode"] == 2.0
    # sample variance: deviations -2.6 -1.6 -1.6 -0.6 6.4 -> 53.2 / 4
    assert x["variance"] == pytest.approx(13.3)
    assert x["std"] == pytest.approx(math.sqrt(13.3))
    assert (x["min"], x["max"], x["range"]) == (1.0, 10.0, 9.0)
    # linear interpolation between closest ranks (numpy's default)
    assert x["q05"] == pytest.approx(1.2)
    assert x["q25"] == 2.0 and x["q50"] == 2.0 and x["q75"] == 3.0
    assert x["q95"] == pytest.approx(8.6)
    assert x["skewness"] == pytest.approx(sps.skew([1, 2, 2, 3, 10], bias=False))
    assert x["kurtosis"] == pytest.approx(sps.kurtosis([1, 2, 2, 3, 10], bias=False))


def test_string_column_has_counts_and_mode_only():
    s = describe(frame()).loc["s"]
    assert (s["count"], s["nulls"], s["distinct"], s["mode"]) == (5, 1, 3, "b")
    assert pd.isna(s["mean"]) and pd.isna(s["min"])


def test_columns_are_selected_and_unknown_ones_rejected():
    assert list(describe(frame(), columns=["x"]).index) == ["x"]
    with pytest.raises(UsageError, match="nope"):
        describe(frame(), columns=["nope"])
    with pytest.raises(UsageError, match="nope"):
        describe(frame(), by="nope")


def test_grouped_by_one_column():
    d = describe(frame(), by="g")
    assert d.index.names == ["g", "column"]
    assert set(d.index) == {("p", "x"), ("p", "s"), ("q", "x"), ("q", "s")}
    p, q = d.loc[("p", "x")], d.loc[("q", "x")]
    assert (p["count"], p["mean"], p["median"]) == (3, pytest.approx(5 / 3), 2.0)
    assert (q["count"], q["nulls"], q["mean"], q["min"], q["max"]) == (2, 1, 6.5, 3.0, 10.0)
    assert pd.isna(q["skewness"])  # undefined for two values
    assert d.loc[("p", "s")]["mode"] == "b"


def test_grouped_by_two_columns_and_matches_ungrouped_on_one_group():
    df = frame().assign(h=1)
    d = describe(df, by=["g", "h"])
    assert d.index.names == ["g", "h", "column"]
    whole = describe(df.assign(k=0), by="k", columns=["x"]).loc[(0, "x")]
    plain = describe(df, columns=["x"]).loc["x"]
    for stat in ("count", "nulls", "distinct", "mean", "median", "std", "q05", "q95",
                 "skewness", "kurtosis", "mode"):
        assert whole[stat] == pytest.approx(plain[stat]), stat


@pytest.mark.parametrize("convert", [pl.from_pandas, pa.Table.from_pandas])
def test_polars_and_arrow_inputs(convert):
    d = describe(convert(frame()))
    assert d.loc["x"]["mean"] == pytest.approx(3.6)
    assert d.loc["s"]["mode"] == "b"


def test_bad_inputs_do_not_crash():
    empty = describe(pd.DataFrame({"x": pd.Series([], dtype=float), "s": pd.Series([], dtype=str)}))
    assert empty.loc["x"]["count"] == 0 and pd.isna(empty.loc["x"]["mean"])
    one = describe(pd.DataFrame({"x": [5.0]})).loc["x"]
    assert one["mean"] == 5.0 and pd.isna(one["std"]) and pd.isna(one["skewness"])
    const = describe(pd.DataFrame({"x": [2.0] * 10})).loc["x"]
    assert const["std"] == 0 and pd.isna(const["skewness"])
    nulls = describe(pd.DataFrame({"x": [None, None]}, dtype=float)).loc["x"]
    assert (nulls["count"], nulls["nulls"]) == (0, 2)
    mixed = describe(pd.DataFrame({"m": [1, "a", 2.5, None, "a"]})).loc["m"]
    assert (mixed["count"], mixed["distinct"], mixed["mode"]) == (4, 3, "a")


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=4, max_size=200))
def test_against_numpy_and_scipy(values):
    x = np.array(values)
    d = describe(pd.DataFrame({"x": x})).loc["x"]
    tol = dict(rel=1e-6, abs=1e-6)
    assert d["mean"] == pytest.approx(x.mean(), **tol)
    for q, key in ((0.05, "q05"), (0.25, "q25"), (0.5, "q50"), (0.75, "q75"), (0.95, "q95")):
        assert d[key] == pytest.approx(np.quantile(x, q), **tol)
    assert d["std"] == pytest.approx(x.std(ddof=1), rel=1e-6, abs=1e-6)
    if x.std() > 1e-3 * max(1.0, abs(x).max()):
        assert d["skewness"] == pytest.approx(sps.skew(x, bias=False), rel=1e-4, abs=1e-4)
        assert d["kurtosis"] == pytest.approx(sps.kurtosis(x, bias=False), rel=1e-4, abs=1e-4)
    assert d["distinct"] == len(np.unique(x))


def test_describe_reads_connector_locations(tmp_path, s3_bucket):
    # a database table URL and an S3 object go through datamill.io; ISO text becomes datetime
    from datamill import io

    t = pa.table({"x": [1.0, 2.0, 3.0], "day": ["2026-01-01", "2026-01-02", "2026-01-03"]})
    db = f"sqlite:///{tmp_path / 'w.db'}#t"
    io.write(db, t)
    d = describe(db)
    assert d.loc["x", "mean"] == 2.0 and d.loc["day", "dtype"].startswith("Datetime")
    io.write(f"s3://{s3_bucket}/lake/t.parquet", t, mode="replace")
    assert describe(f"s3://{s3_bucket}/lake/t.parquet").loc["x", "max"] == 3.0
    with pytest.raises(UsageError):
        describe(f"s3://{s3_bucket}/lake/missing.parquet")


def test_one_jsonable_helper_behind_every_analytics_result():
    """Every result's to_dict() goes through analytics.jsonable: NaN/inf to None, numpy to
    Python, dates to ISO text, dataclasses and to_dict() objects to dicts."""
    import dataclasses
    import datetime as dt
    import json
    from pathlib import Path

    import numpy as np

    import datamill.analytics as an
    from datamill.analytics.jsonable import jsonable

    @dataclasses.dataclass
    class Point:
        x: float
        when: dt.date

    v = jsonable({1: np.float64("nan"), "a": np.arange(3), "b": (np.int32(4), float("inf")),
                  "c": Point(np.float32(1.5), dt.date(2026, 1, 2)), "d": dt.timedelta(seconds=3),
                  "e": np.bool_(True)})
    assert v == {"1": None, "a": [0, 1, 2], "b": [4, None], "c": {"x": 1.5, "when": "2026-01-02"},
                 "d": "0:00:03", "e": True}
    json.dumps(v, allow_nan=False)
    # no module of the package keeps its own copy
    src = Path(an.__file__).parent
    own = [p.name for p in src.rglob("*.py") for name in ("def _jsonable", "def _clean", "def _json(")
           if name in p.read_text()]
    assert own == []
