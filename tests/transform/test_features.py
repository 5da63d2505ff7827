"""Feature engineering: date parts, lags, rolling windows (vs pandas), aggregation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.errors import UsageError
from datamill.transform import aggregate, date_features, lag, rolling


def as_pl(t) -> pl.DataFrame:
    if isinstance(t, pd.DataFrame):
        return pl.from_pandas(t)
    if isinstance(t, pa.Table):
        return pl.from_arrow(t)
    return t


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_date_features(kind):
    df = pl.DataFrame({"ts": [dt.datetime(2024, 2, 29, 13, 5), dt.datetime(2023, 12, 31, 0, 0),
                              None]})
    t = {"pandas": df.to_pandas(), "polars": df, "arrow": df.to_arrow()}[kind]
    out = date_features(t, "ts")
    assert type(out) is type(t)
    got = as_pl(out).drop("ts").rows(named=True)
    assert got[0] == {"ts_year": 2024, "ts_month": 2, "ts_day": 29, "ts_weekday": 3, "ts_hour": 13,
                      "ts_is_weekend": False, "ts_day_of_year": 60, "ts_quarter": 1}
    assert got[1]["ts_weekday"] == 6 and got[1]["ts_is_weekend"] is True  # a Sunday
    assert got[1]["ts_day_of_year"] == 365 and got[1]["ts_quarter"] == 4
    assert got[2]["ts_year"] is None


def test_date_features_of_a_date_column_and_pandas_weekday_convention():
    days = pd.date_range("2024-01-01", periods=14, freq="D")
    t = pl.DataFrame({"d": pl.Series(days).dt.date()})
    out = date_features(t, "d", ["weekday", "is_weekend", "is_month_end", "week"], prefix="x")
    assert out["x_weekday"].to_list() == list(days.day_of_week)
    assert out["x_is_weekend"].to_list() == list(days.day_of_week >= 5)
    assert out["x_week"].to_list() == list(days.isocalendar().week)
    with pytest.raises(UsageError, match="not a date or datetime"):
        date_features(pl.DataFrame({"d": ["2024-01-01"]}), "d")
    with pytest.raises(UsageError, match="unknown feature 'fortnight'"):
        date_features(t, "d", ["fortnight"])


SALES = pl.DataFrame({
    "store": ["a", "b", "a", "b", "a", "a"],
    "day": [dt.date(2024, 1, d) for d in (3, 1, 1, 2, 2, 9)],
    "units": [30.0, 200.0, 10.0, 400.0, 20.0, 90.0],
})


def test_lag_per_group_in_time_order_keeps_row_order():
    out = lag(SALES, "units", [1, 2, -1], by="store", order_by="day")
    assert out["store"].to_list() == SALES["store"].to_list()  # input order kept
    assert out["units_lag1"].to_list() == [20.0, None, None, 200.0, 10.0, 30.0]
    assert out["units_lag2"].to_list() == [10.0, None, None, None, None, 20.0]
    assert out["units_lead1"].to_list() == [90.0, 400.0, 20.0, None, 30.0, None]
    with pytest.raises(UsageError, match="non-zero"):
        lag(SALES, "units", 0)


def test_rolling_time_window_and_leak_free_option():
    out = rolling(SALES, "units", "2d", ["sum", "count"], by="store", order_by="day")
    # store a: days 1,2,3,9 -> windows (d-2, d]
    assert out["units_sum_2d"].to_list() == [50.0, 200.0, 10.0, 600.0, 30.0, 90.0]
    assert out["units_count_2d"].to_list() == [2, 1, 1, 2, 2, 1]
    past = rolling(SALES, "units", "2d", "sum", by="store", order_by="day", include_current=False)
    assert past["units_sum_2d"].to_list() == [30.0, None, None, 200.0, 10.0, None]
    rows_past = rolling(SALES, "units", 2, "mean", by="store", order_by="day", include_current=False)
    assert rows_past["units_mean_2"].to_list() == [15.0, None, None, 200.0, 10.0, 25.0]
    with pytest.raises(UsageError, match="needs order_by"):
        rolling(SALES, "units", "2d")
    with pytest.raises(UsageError, match="'store' is String, not numeric"):
        rolling(SALES, "store", 2)


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.floats(-1e3, 1e3, allow_nan=False)),
             min_size=1, max_size=40),
    st.integers(1, 5),
    st.sampled_from(["mean", "sum", "min", "max", "std"]),
)
def test_rolling_rows_per_group_matches_pandas(rows, window, agg):
    rng = np.random.default_rng(len(rows))
    df = pd.DataFrame(rows, columns=["g", "x"])
    df["t"] = rng.permutation(len(df))  # time order differs from row order
    got = rolling(df, "x", window, agg, by="g", order_by="t")
    assert isinstance(got, pd.DataFrame)
    ref = (df.sort_values("t").groupby("g")["x"]
           .rolling(window, min_periods=1).agg(agg).reset_index(level=0, drop=True))
    np.testing.assert_allclose(got[f"x_{agg}_{window}"].to_numpy(dtype=float),
                               ref.sort_index().to_numpy(dtype=float), rtol=1e-7, atol=1e-6)


@given(st.lists(st.tuples(st.sampled_from("xy"), st.integers(0, 30), st.integers(-50, 50)),
                min_size=1, max_size=30, unique_by=lambda r: (r[0], r[1])))
def test_rolling_time_window_matches_pandas(rows):
    df = pd.DataFrame(rows, columns=["g", "day", "v"])
    df["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(df["day"], unit="D")
    df["v"] = df["v"].astype(float)
    got = rolling(df, "v", "3d", "sum", by="g", order_by="ts")
    # the window of a row is (ts - 3 days, ts] within its group
    same = df["g"].to_numpy()[:, None] == df["g"].to_numpy()[None, :]
    age = df["day"].to_numpy()[:, None] - df["day"].to_numpy()[None, :]
    ref = ((same & (age >= 0) & (age < 3)) * df["v"].to_numpy()[None, :]).sum(axis=1)
    assert got["v_sum_3d"].tolist() == ref.tolist()


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_aggregate(kind):
    t = {"pandas": SALES.to_pandas(), "polars": SALES, "arrow": SALES.to_arrow()}[kind]
    out = aggregate(t, by="store", metrics={"units": ["sum", "mean"], "orders": "count",
                                            "days": ("day", "n_unique"), "best": ("units", "max")})
    assert type(out) is type(t)
    assert as_pl(out).rows() == [("a", 150.0, 37.5, 4, 4, 90.0), ("b", 600.0, 300.0, 2, 2, 400.0)]
    with pytest.raises(UsageError, match=r"unknown column 'revenue'; available columns: 'store', 'day', 'units'"):
        aggregate(t, by="store", metrics={"revenue": "sum"})
    with pytest.raises(UsageError, match="unknown aggregation 'avg'"):
        aggregate(t, by="store", metrics={"units": "avg"})
    with pytest.raises(UsageError, match="'store' is String, not numeric"):
        aggregate(t, by="day", metrics={"store": "sum"})


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-100, 100)), min_size=1, max_size=50))
def test_aggregate_matches_pandas_groupby(rows):
    df = pd.DataFrame(rows, columns=["k", "v"])
    got = aggregate(df, "k", {"v": ["sum", "min", "max"], "n": "size"})
    ref = df.groupby("k").agg(v_sum=("v", "sum"), v_min=("v", "min"), v_max=("v", "max"),
                              n=("v", "size")).reset_index()
    assert got.astype("int64").values.tolist() == ref.astype("int64").values.tolist()
