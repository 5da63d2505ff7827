"""Analytics as a pipeline: a footwear store's June, explained, profiled and tested.

``datamill run footwear.py`` (from this folder) generates two months of web traffic and a
checkout experiment, then:

* ``why_june`` explains the June traffic surge by footwear type and device (sandals),
* ``traffic_profile`` profiles the traffic table,
* ``checkout_test`` analyses the A/B test of a new checkout page,
* ``weekly_forecast`` forecasts daily views two weeks ahead,

and stores each HTML report with the run (``ctx.save_report``); ``datamill runs show``
lists them as outputs. The data are generated with a fixed seed, so the run is repeatable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import datamill
from datamill import Context
from datamill.analytics import abtest, explain, forecast, profile


@datamill.task(version="v1")
def traffic(traffic_seed: int = 7) -> pd.DataFrame:
    """Page views in May and June; June adds a surge of sandal views, mostly on mobile."""
    rng = np.random.default_rng(traffic_seed)
    frames = []
    for month, extra_sandals in (("2026-05", 0), ("2026-06", 4000)):
        for kind, base in (("sandals", 1500), ("boots", 1200), ("sneakers", 2500), ("slippers", 600)):
            n = base + (extra_sandals if kind == "sandals" else int(rng.integers(-100, 100)))
            days = rng.integers(1, 31, n)
            mobile_share = 0.8 if (kind == "sandals" and extra_sandals) else 0.55
            frames.append(pd.DataFrame({
                "date": pd.to_datetime([f"{month}-{d:02d}" for d in days]),
                "footwear": kind,
                "device": np.where(rng.random(n) < mobile_share, "mobile", "desktop"),
                "views": 1,
                "seconds_on_page": rng.gamma(2.0, 30.0, n).round(1),
            }))
    return pd.concat(frames, ignore_index=True)


@datamill.task(version="v1")
def checkout(checkout_seed: int = 11, visitors: int = 12000) -> pd.DataFrame:
    """A checkout experiment: the new page converts 11.5% against 10% for the old one."""
    rng = np.random.default_rng(checkout_seed)
    variant = rng.choice(["old_page", "new_page"], visitors)
    rate = np.where(variant == "old_page", 0.10, 0.115)
    day = pd.Timestamp("2026-06-01") + pd.to_timedelta(rng.integers(0, 21, visitors), unit="D")
    return pd.DataFrame({"variant": variant, "converted": (rng.random(visitors) < rate).astype(int),
                         "day": day})


@datamill.task
def why_june(traffic: pd.DataFrame, ctx: Context) -> dict:
    """Why did traffic rise from May to June? Ranked segments by footwear and device."""
    result = explain(traffic, "views", "date", ["footwear", "device"], ("2026-05", "2026-06"))
    ctx.save_report(result, "why_june.html")
    ctx.log.info(result.summary)
    return result.to_dict()


@datamill.task
def traffic_profile(traffic: pd.DataFrame, ctx: Context) -> list[str]:
    """An EDA report of the traffic table; returns its warnings."""
    report = profile(traffic, title="footwear traffic")
    ctx.save_report(report, "traffic_profile.html")
    return report.warnings


@datamill.task
def checkout_test(checkout: pd.DataFrame, ctx: Context) -> dict:
    """The A/B test: frequentist and Bayesian results, sample ratio and peeking checks."""
    result = abtest(checkout, "variant", "converted", control="old_page", time="day")
    ctx.save_report(result, "checkout_test.html")
    return result.to_dict()


@datamill.task
def weekly_forecast(traffic: pd.DataFrame, ctx: Context) -> dict:
    """Daily views, forecast 14 days ahead with a 95% interval and a backtest."""
    daily = traffic.set_index("date")["views"].resample("D").sum()
    result = forecast(daily, horizon=14, method="ets", period=7)
    ctx.save_report(result, "forecast.html")
    return result.to_dict()
