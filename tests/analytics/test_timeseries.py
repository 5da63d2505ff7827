"""Time series: decomposition, stationarity, forecasting and anomalies on series with a
known answer, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datamill.analytics import timeseries as ts
from datamill.errors import UsageError

# Box, G. E. P. and Jenkins, G. M., Time Series Analysis: Forecasting and Control (1976),
# Series G: international airline passengers, monthly totals in thousands, Jan 1949 - Dec 1960.
AIRLINE = [
    112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118,  # 1949
    115, 126, 141, 135, 125, 149, 170, 170, 158, 133, 114, 140,  # 1950
    145, 150, 178, 163, 172, 178, 199, 199, 184, 162, 146, 166,  # 1951
    171, 180, 193, 181, 183, 218, 230, 242, 209, 191, 172, 194,  # 1952
    196, 196, 236, 235, 229, 243, 264, 272, 237, 211, 180, 201,  # 1953
    204, 188, 235, 227, 234, 264, 302, 293, 259, 229, 203, 229,  # 1954
    242, 233, 267, 269, 270, 315, 364, 347, 312, 274, 237, 278,  # 1955
    284, 277, 317, 313, 318, 374, 413, 405, 355, 306, 271, 306,  # 1956
    315, 301, 356, 348, 355, 422, 465, 467, 404, 347, 305, 336,  # 1957
    340, 318, 362, 348, 363, 435, 491, 505, 404, 359, 310, 337,  # 1958
    360, 342, 406, 396, 420, 472, 548, 559, 463, 407, 362, 405,  # 1959
    417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432,  # 1960
]


def airline() -> pd.Series:
    assert len(AIRLINE) == 144
    return pd.Series(AIRLINE, index=pd.date_range("1949-01-01", periods=144, freq="MS"),
                     name="passengers", dtype=float)


def synthetic(n: int = 8 * 12, noise: float = 0.5, seed: int = 0) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Monthly: a linear trend 100 + 0.5 t and a sine season of amplitude 10."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    trend = 100 + 0.5 * t
    season = 10 * np.sin(2 * np.pi * t / 12)
    s = pd.Series(trend + season + rng.normal(0, noise, n),
                  index=pd.date_range("2015-01-01", periods=n, freq="MS"), name="sales")
    return s, trend, season


def test_decompose_recovers_known_trend_and_season():
    s, trend, season = synthetic()
    d = ts.decompose(s)
    assert d.period == 12  # inferred from the monthly frequency
    inner = slice(12, -12)  # STL's trend is least certain at the ends
    assert np.max(np.abs(d.trend.to_numpy()[inner] - trend[inner])) < 1.0
    assert np.max(np.abs(d.seasonal.to_numpy()[inner] - season[inner])) < 1.0
    assert np.std(d.residual) < 0.8
    assert d.trend_strength > 0.9 and d.seasonal_strength > 0.9
    assert "strong" in d.interpretation
    out = json.loads(json.dumps(d.to_dict()))
    assert len(out["trend"]) == len(s) and out["period"] == 12
    page = d.to_html()
    assert page.count("<svg") == 3 and "<script" not in page


def test_decompose_from_a_table_and_explicit_period():
    s, _, _ = synthetic()
    df = pd.DataFrame({"when": s.index.astype(str), "amount": s.to_numpy()})
    d = ts.decompose(df, period=12, time="when", value="amount")
    assert d.period == 12 and d.observed.name == "amount"


def test_adf_random_walk_vs_white_noise():
    rng = np.random.default_rng(42)
    idx = pd.date_range("2020-01-01", periods=500, freq="D")
    walk = ts.stationarity(pd.Series(np.cumsum(rng.normal(size=500)), index=idx, name="walk"))
    noise = ts.stationarity(pd.Series(rng.normal(size=500), index=idx, name="noise"))
    assert walk.adf_p_value > 0.05 and walk.stationary is False and walk.verdict == "non-stationary"
    assert noise.adf_p_value < 0.01 and noise.stationary is True and noise.verdict == "stationary"
    assert set(noise.adf_critical_values) == {"1%", "5%", "10%"}
    assert noise.kpss_p_value >= 0.05 and walk.kpss_p_value < 0.05
    assert "not stationary" in walk.interpretation and "stationary" in noise.interpretation
    json.dumps(walk.to_dict())
    assert "ADF statistic" in walk.to_html()


def test_airline_forecast_beats_seasonal_naive_and_covers_holdout():
    s = airline()
    f = ts.forecast(s, 12, method="ets", level=0.95)
    bt = f.backtest
    assert bt["holdout"] == 12 and bt["baseline"].startswith("seasonal naive")
    # seasonal naive is ~10% MAPE on 1960; a seasonal model should be well under it
    assert bt["model"]["mape"] < 6 and bt["model"]["mape"] < 0.6 * bt["baseline_errors"]["mape"]
    assert bt["coverage"] >= 0.9
    assert len(f.mean) == 12 and f.mean.index[0] == pd.Timestamp("1961-01-01")
    assert (f.lower < f.mean).all() and (f.mean < f.upper).all()
    assert f.mean.iloc[6] > f.mean.iloc[10]  # July peaks above November, as every year
    assert "better than the baseline" in f.interpretation
    d = json.loads(json.dumps(f.to_dict()))
    assert len(d["mean"]) == 12 and d["backtest"]["model"]["rmse"] > 0
    page = f.to_html()
    assert "<polygon" in page and "Backtest" in page  # the interval band is drawn
    from rich.console import Console

    c = Console(record=True, width=140)
    c.print(f)
    assert "backtest MAPE" in c.export_text()


def test_airline_arima_and_auto():
    s = airline()
    a = ts.forecast(s, 12, method="arima")
    assert a.method.startswith("SARIMA") and a.backtest["model"]["mape"] < 6
    assert a.backtest["coverage"] >= 0.8
    auto = ts.forecast(s, 12)
    assert auto.backtest["model"]["smape"] == min(c["smape"] for c in auto.backtest["candidates"].values())
    assert any("auto" in n for n in auto.notes)


def _spiky(seed: int = 1) -> tuple[pd.Series, list[int]]:
    s, _, _ = synthetic(n=120, noise=1.0, seed=seed)
    spikes = [17, 50, 93]
    s.iloc[spikes[0]] += 15
    s.iloc[spikes[1]] -= 15
    s.iloc[spikes[2]] += 20
    return s, spikes


def test_stl_anomalies_find_injected_spikes():
    s, spikes = _spiky()
    a = ts.anomalies(s, method="stl", threshold=3.5)
    found = set(a.positions)
    assert set(spikes) <= found
    assert len(found - set(spikes)) <= 2  # few false positives on 120 points
    assert a.anomalies.shape[0] == len(found)
    assert "anomalous" in a.interpretation
    d = a.to_dict()
    assert d["count"] == len(found) and d["anomalies"][0]["time"].startswith("20")
    assert "<circle" in a.to_html()  # marks on the line


def test_zscore_and_iqr_anomalies():
    rng = np.random.default_rng(5)
    x = rng.normal(50, 2, 300)
    x[[40, 200]] = [80, 10]
    s = pd.Series(x, index=pd.date_range("2024-01-01", periods=300, freq="h"), name="latency")
    z = ts.anomalies(s, method="zscore", threshold=4)
    assert set(z.positions) == {40, 200}
    q = ts.anomalies(s, method="iqr", threshold=3)
    assert set(q.positions) == {40, 200}
    quiet = ts.anomalies(pd.Series(rng.normal(size=300), index=s.index), method="zscore", threshold=5)
    assert quiet.positions == [] and "No point" in quiet.interpretation


def test_resample_sum_mean_count():
    df = pd.DataFrame({"t": pd.to_datetime(["2024-01-01 01:00", "2024-01-01 05:00", "2024-01-03 09:00"]),
                       "v": [1.0, 2.0, 4.0]})
    out = ts.resample(df, "t", "v", "D", how="sum")
    assert out.tolist() == [3.0, 0.0, 4.0]
    assert ts.resample(df, "t", "v", "D", how="count").tolist() == [2, 0, 1]
    m = ts.resample(df, "t", "v", "D", how="mean")
    assert m.iloc[0] == 1.5 and np.isnan(m.iloc[1])
    with pytest.raises(UsageError, match="how"):
        ts.resample(df, "t", "v", "D", how="median")
    with pytest.raises(UsageError, match="frequency"):
        ts.resample(df, "t", "v", "fortnightly")


def test_irregular_timestamps_are_resampled_with_a_note():
    rng = np.random.default_rng(3)
    base = pd.date_range("2024-01-01", periods=200, freq="D")
    jitter = pd.to_timedelta(rng.integers(0, 6 * 3600, 200), unit="s")
    s = pd.Series(np.sin(np.arange(200) * 2 * np.pi / 7) + rng.normal(0, 0.1, 200), index=base + jitter)
    d = ts.decompose(s)
    assert d.period == 7 and len(d.observed) == 200
    assert any("irregular timestamps" in n for n in d.notes)


def test_gaps_are_interpolated_and_counted():
    s, _, _ = synthetic()
    s.iloc[[10, 11, 40]] = np.nan
    s = s.drop(s.index[60])  # a missing time step, not just a missing value
    d = ts.decompose(s)
    assert len(d.observed) == 96 and not d.observed.isna().any()
    assert any("4 missing time step(s) filled" in n for n in d.notes)
    spiky, spikes = _spiky()
    spiky.iloc[30] = np.nan
    a = ts.anomalies(spiky, threshold=3.5)
    assert 30 not in a.positions and set(spikes) <= set(a.positions)


def test_too_many_gaps_is_an_error():
    s, _, _ = synthetic()
    s.iloc[::2] = np.nan
    s.iloc[1::4] = np.nan
    with pytest.raises(UsageError, match="too many gaps"):
        ts.decompose(s)


def test_too_few_points_says_how_many_are_needed():
    s, _, _ = synthetic(n=20)
    with pytest.raises(UsageError, match=r"20 observations, needs at least 25"):
        ts.decompose(s)
    with pytest.raises(UsageError, match="needs at least"):
        ts.forecast(s.iloc[:10], 6)
    with pytest.raises(UsageError, match="at least 12"):
        ts.stationarity(s.iloc[:8])
    with pytest.raises(UsageError, match="at least 3"):
        ts.decompose(s.iloc[:2])


def test_short_seasonal_series_forecasts_without_season_and_says_so():
    s, _, _ = synthetic(n=26)
    f = ts.forecast(s, 3, method="ets")
    assert f.period is None and any("non-seasonal" in n for n in f.notes)


def test_constant_series_is_an_error():
    s = pd.Series(5.0, index=pd.date_range("2024-01-01", periods=60, freq="D"))
    for fn in (ts.decompose, ts.stationarity, ts.anomalies):
        with pytest.raises(UsageError, match="constant"):
            fn(s)
    with pytest.raises(UsageError, match="constant"):
        ts.forecast(s, 7)


def test_non_datetime_time_inputs():
    df = pd.DataFrame({"t": range(50), "v": np.arange(50.0)})
    with pytest.raises(UsageError, match="not dates"):
        ts.decompose(df, time="t", value="v")
    df["t"] = [f"day {i}" for i in range(50)]
    with pytest.raises(UsageError, match="cannot be read as dates"):
        ts.decompose(df, time="t", value="v")
    with pytest.raises(UsageError, match="DatetimeIndex"):
        ts.decompose(pd.Series(np.arange(50.0)))
    with pytest.raises(UsageError, match="time="):
        ts.decompose(df)
    with pytest.raises(UsageError, match="not found"):
        ts.decompose(df, time="when", value="v")


def test_bad_parameters():
    s = airline()
    with pytest.raises(UsageError, match="method"):
        ts.forecast(s, 12, method="prophet")
    with pytest.raises(UsageError, match="horizon"):
        ts.forecast(s, 0)
    with pytest.raises(UsageError, match="level"):
        ts.forecast(s, 12, level=95)
    with pytest.raises(UsageError, match="method"):
        ts.anomalies(s, method="lof")
    yearly = pd.Series(np.arange(30.0) + np.sin(np.arange(30)), index=pd.date_range("1990", periods=30, freq="YS"))
    with pytest.raises(UsageError, match="period="):
        ts.decompose(yearly)
    assert ts.decompose(yearly, period=5).period == 5


def test_stationarity_caps_the_adf_lag_search_on_long_series():
    import numpy as np
    import pandas as pd
    from statsmodels.tsa.stattools import adfuller

    x = pd.Series(np.random.default_rng(2).normal(size=5000), name="noise",
                  index=pd.date_range("2020-01-01", periods=5000, freq="D"))
    r = ts.stationarity(x)
    assert r.adf_lags <= ts.ADF_MAX_LAG
    assert any("capped" in n for n in r.notes)
    ref = adfuller(x.to_numpy(), maxlag=ts.ADF_MAX_LAG, autolag="AIC")
    assert r.adf_statistic == ref[0] and r.adf_lags == ref[2]


@pytest.mark.parametrize("case", range(6))
def test_adf_lag_from_one_qr_matches_statsmodels_autolag(case):
    """stationarity's lag search (one QR instead of maxlag + 1 regressions, the 22 s at
    n = 1e5) picks the lag adfuller(autolag='AIC') picks, so the statistic is the same."""
    import warnings

    from statsmodels.tsa.stattools import adfuller

    from datamill.analytics.timeseries import adf_lag

    rng = np.random.default_rng(case)
    n = (200, 1000, 3000)[case % 3]
    x = (np.cumsum(rng.normal(0, 1, n)) if case < 3
         else np.sin(np.arange(n) / 7) + rng.normal(0, 1, n))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ref = adfuller(x, maxlag=12, autolag="AIC")
        lag = adf_lag(x, 12)
        mine = adfuller(x, maxlag=lag, autolag=None)
    assert lag == ref[2]
    assert mine[0] == pytest.approx(ref[0], rel=1e-9) and mine[1] == pytest.approx(ref[1], rel=1e-9)
