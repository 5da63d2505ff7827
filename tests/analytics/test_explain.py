"""The diagnostic drill-down: the footwear traffic surge, a pure mix shift in a conversion
rate, exact additivity of contributions, periods and bad input."""

from __future__ import annotations

import datetime as dt
import json
import math

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.analytics.explain import explain, parse_period
from datamill.errors import UsageError

TYPES = {"sneakers": 400, "boots": 150, "sandals": 120, "loafers": 80}


def footwear() -> pd.DataFrame:
    """Daily page views per footwear type and device, May and June 2026: in June the views
    of sandals rise 3.5x, everything else is flat except boots, which lose 10%."""
    rows = []
    for day in pd.date_range("2026-05-01", "2026-06-30"):
        june = day.month == 6
        for ptype, base in TYPES.items():
            views = base * (3.5 if june and ptype == "sandals" else 0.9 if june and ptype == "boots" else 1)
            for device, part in (("mobile", 0.6), ("desktop", 0.4)):
                rows.append({"date": day + pd.Timedelta(hours=9), "product_type": ptype,
                             "device": device, "views": round(views * part)})
    return pd.DataFrame(rows)


def test_footwear_traffic_surge_is_explained_by_sandals():
    df = footwear()
    r = explain(df, "views", "date", ["product_type", "device"], ("2026-05", "2026-06"),
                per="total")
    may = df[df.date.dt.month == 5].views.sum()
    june = df[df.date.dt.month == 6].views.sum()
    assert (r.total_a, r.total_b, r.change) == (may, june, june - may)
    assert r.pct_change == pytest.approx((june - may) / may)
    by_type = r.dimensions[0]
    assert by_type.dimension == "product_type"
    top = by_type.segments[0]
    assert top.value == "sandals"
    sandals = df[df.product_type == "sandals"]
    extra = sandals[sandals.date.dt.month == 6].views.sum() - sandals[sandals.date.dt.month == 5].views.sum()
    assert top.contribution == extra
    assert top.share == pytest.approx(extra / (june - may))
    assert by_type.segments[1].value == "boots" and by_type.segments[1].contribution < 0
    assert [b.dimension for b in r.dimensions] == ["product_type", "device", "product_type × device"]
    # the summary names sandals first, with their share and their change
    assert r.summary.startswith(f"Views rose {abs(r.pct_change) * 100:.0f}% (+{june - may:,})")
    assert f"{top.share * 100:.0f}% of the increase came from product_type = sandals (+{extra:,})" in r.summary
    assert "offset by product_type = boots" in r.summary
    assert r.summary.index("sandals") < r.summary.index("boots")


def test_ratio_change_from_mix_only_is_all_mix_effect():
    # conversion = orders / visits; desktop converts at 6%, mobile at 2% in both months, but
    # June's traffic moved to mobile: the total rate falls from 4% to 3% by mix alone
    def seg(month, device, visits, rate):
        return {"t": f"2026-{month:02d}-15", "device": device, "visits": visits,
                "orders": round(visits * rate)}

    df = pd.DataFrame([seg(5, "desktop", 1000, 0.06), seg(5, "mobile", 1000, 0.02),
                       seg(6, "desktop", 500, 0.06), seg(6, "mobile", 1500, 0.02)])
    r = explain(df, "orders/visits", "t", "device", ("2026-05", "2026-06"))
    assert r.kind == "ratio" and r.denominator == "visits"
    assert r.total_a == pytest.approx(0.04) and r.total_b == pytest.approx(0.03)
    (b,) = r.dimensions
    assert b.mix_total == pytest.approx(r.change, abs=1e-15)
    assert b.rate_total == pytest.approx(0.0, abs=1e-15)
    for s in b.segments:
        assert s.rate == pytest.approx(0.0, abs=1e-15)
        assert s.change == pytest.approx(0.0, abs=1e-15)
    # desktop lost weight and converts above average: it is the largest (negative) mix
    assert b.segments[0].value in ("desktop", "mobile")
    assert sum(s.contribution for s in b.segments) == pytest.approx(r.change, abs=1e-15)
    assert "mix effect" in r.summary and "100% of the change" in r.summary


def test_ratio_rate_change_only_is_all_rate_effect():
    df = pd.DataFrame({"t": ["2026-05-01", "2026-05-01", "2026-06-01", "2026-06-01"],
                       "device": ["desktop", "mobile"] * 2, "visits": [1000, 3000, 1000, 3000],
                       "orders": [60, 60, 60, 120]})
    r = explain(df, "orders/visits", "t", ["device"], ("2026-05", "2026-06"))
    (b,) = r.dimensions
    assert b.mix_total == pytest.approx(0.0, abs=1e-15)
    assert b.segments[0].value == "mobile"
    assert b.segments[0].rate == pytest.approx(0.015) and b.segments[0].share == pytest.approx(1.0)


def test_new_and_disappeared_segments():
    df = pd.DataFrame({"d": ["2026-01-05"] * 3 + ["2026-02-05"] * 3,
                       "channel": ["ads", "email", "old", "ads", "email", "tiktok"],
                       "revenue": [100.0, 50.0, 30.0, 110.0, 50.0, 70.0],
                       "orders": [10, 5, 3, 11, 5, 5]})
    r = explain(df, "revenue", "d", "channel", ("2026-01", "2026-02"), per="total")
    segs = {s.value: s for s in r.dimensions[0].segments}
    assert segs["tiktok"].status == "new" and segs["tiktok"].contribution == 70
    assert segs["old"].status == "gone" and segs["old"].contribution == -30
    assert r.dimensions[0].segments[0].value == "tiktok"
    ratio = explain(df, "revenue/orders", "d", "channel", ("2026-01", "2026-02"))
    rs = {s.value: s for s in ratio.dimensions[0].segments}
    assert rs["tiktok"].a is None and rs["tiktok"].b == 14.0
    assert rs["tiktok"].rate == pytest.approx(0.0, abs=1e-12)  # a new segment is pure mix
    assert rs["old"].rate == pytest.approx(0.0, abs=1e-12)
    assert math.fsum(s.contribution for s in rs.values()) == pytest.approx(ratio.change, abs=1e-12)


ROW = st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y", "z", None]),
                st.sampled_from(["p", "q", "r", "s"]), st.integers(0, 50), st.integers(1, 40))


@given(st.lists(ROW, min_size=1, max_size=60))
def test_contributions_add_up_to_the_total_change(rows):
    rows = rows + [("a", "x", "p", 1, 1), ("b", "y", "q", 2, 3)]  # both periods present
    df = pd.DataFrame(rows, columns=["period", "region", "product", "sales", "visits"])
    df["t"] = df.pop("period").map({"a": "2026-03-02", "b": "2026-04-09"})
    for metric in ("sales", "count", "sales/visits"):
        r = explain(df, metric, "t", ["region", "product"], ("2026-03", "2026-04"), top=3)
        scale = max(1.0, abs(r.total_a), abs(r.total_b))
        for b in r.dimensions:
            total = math.fsum([*(s.contribution for s in b.segments), b.other])
            assert total == pytest.approx(r.change, abs=1e-9 * scale), (metric, b.dimension)
            if metric == "sales/visits":
                for s in b.segments:
                    assert s.mix + s.rate == pytest.approx(s.contribution, abs=1e-12)
                assert b.mix_total + b.rate_total == pytest.approx(r.change, abs=1e-12)
            assert len(b.segments) <= 3
            contributions = [abs(s.contribution) for s in b.segments]
            assert contributions == sorted(contributions, reverse=True)


def test_periods():
    assert parse_period("2026").start == dt.datetime(2026, 1, 1)
    assert parse_period("2026").end == dt.datetime(2027, 1, 1)
    assert parse_period("2026-12").end == dt.datetime(2027, 1, 1)
    assert parse_period("2026-06-03").end == dt.datetime(2026, 6, 4)
    p = parse_period("2026-06-01..2026-06-15")
    assert (p.start, p.end) == (dt.datetime(2026, 6, 1), dt.datetime(2026, 6, 16))
    for bad in ("June", "2026-13", "2026-02-30", "2026-06-15..2026-06-01"):
        with pytest.raises(UsageError):
            parse_period(bad)
    df = pd.DataFrame({"t": pd.to_datetime(["2026-06-01", "2026-06-15 23:59", "2026-06-16",
                                            "2026-05-31"], format="mixed"), "k": ["a"] * 4})
    r = explain(df, "count", "t", "k", ("2026-05-31", "2026-06-01..2026-06-15"), per="total")
    assert (r.total_a, r.total_b, r.rows_b) == (1, 2, 2)
    zones = pd.DataFrame({"t": ["2026-05-31T23:00:00-02:00", "2026-05-31T23:00:00+02:00"],
                          "k": ["a", "b"]})
    r = explain(zones, "count", "t", "k", ("2026-05", "2026-06"), per="total")  # mixed zones: UTC
    assert (r.total_a, r.total_b) == (1, 1)


def test_outputs_and_other_inputs():
    import polars as pl

    df = footwear()
    r = explain(pl.from_pandas(df), "count", "date", "product_type,device", ("2026-05", "2026-06"),
                top=2, per="total")
    # one row per type and device a day: May has 31 days, June 30
    assert (r.total_a, r.total_b, r.change) == (31 * 8, 30 * 8, -8)
    assert r.summary.startswith("Row count fell 3% (-8)")
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["period_a"]["start"] == "2026-05-01T00:00:00"
    assert d["dimensions"][0]["other_count"] == 2
    html = explain(df, "views", "date", ["product_type"], ("2026-05", "2026-06")).to_html()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "sandals" in html
    from rich.console import Console

    console = Console(record=True, width=150)
    console.print(explain(df, "views", "date", "product_type", ("2026-05", "2026-06")))
    assert "sandals" in console.export_text()


def test_bad_input():
    df = footwear()
    with pytest.raises(UsageError, match=r"unknown column 'clicks'; available columns: date, product_type"):
        explain(df, "clicks", "date", "device", ("2026-05", "2026-06"))
    with pytest.raises(UsageError, match="unknown column 'colour'"):
        explain(df, "views", "date", ["colour"], ("2026-05", "2026-06"))
    with pytest.raises(UsageError, match="not numeric"):
        explain(df, "device", "date", "product_type", ("2026-05", "2026-06"))
    with pytest.raises(UsageError, match=r"no rows in period 2026-08 .*2026-05-01 to 2026-06-30"):
        explain(df, "views", "date", "device", ("2026-05", "2026-08"))
    with pytest.raises(UsageError, match="no rows"):
        explain(df.iloc[:0], "views", "date", "device", ("2026-05", "2026-06"))
    with pytest.raises(UsageError, match="no readable dates"):
        explain(df.assign(date="soon"), "views", "date", "device", ("2026-05", "2026-06"))
    zero = df.assign(visits=0)
    with pytest.raises(UsageError, match="sums to 0"):
        explain(zero, "views/visits", "date", "device", ("2026-05", "2026-06"))
    with pytest.raises(UsageError, match="dimension"):
        explain(df, "views", "date", [], ("2026-05", "2026-06"))
    r = explain(df, "views", "date", "device", ("2026", "2026-06"))
    assert any("overlap" in w for w in r.warnings)


# -- noise (issue #9) ------------------------------------------------------------------------


def events(rng, n_a, n_b, devices=("m", "d", "t"), p_a=None, p_b=None, start="2026-03-02", days=14):
    """Raw events (one row per view) over two periods of ``days`` days each."""
    t0 = pd.Timestamp(start)
    frames = []
    for n, p, off in ((n_a, p_a, 0), (n_b, p_b, days)):
        k = rng.poisson(n)
        frames.append(pd.DataFrame({
            "t": t0 + pd.to_timedelta(off + rng.uniform(0, days, k), unit="D"),
            "dev": rng.choice(list(devices), size=k, p=p),
            "value": rng.exponential(10.0, k),
            "bought": rng.random(k) < 0.1}))
    return pd.concat(frames, ignore_index=True)


PA, PB = "2026-03-02..2026-03-15", "2026-03-16..2026-03-29"


def test_flat_data_names_a_driver_in_about_5_percent_of_data_sets():
    import numpy as np

    rng = np.random.default_rng(9)
    named = {"count": 0, "value": 0}
    within = 0
    for _ in range(200):
        df = events(rng, 300, 300)
        for metric in named:
            r = explain(df, metric, "t", "dev", (PA, PB), combinations=False)
            named[metric] += "came from" in r.summary
            within += bool(r.within_noise)
    assert named["count"] <= 16 and named["value"] <= 16, named  # 5% of 200 = 10, +2 sd
    assert within >= 360
    r = explain(df, "count", "t", "dev", (PA, PB))
    assert r.noise_unit == "day" and r.se > 0 and r.ci[0] < r.change < r.ci[1]


def test_flat_ratio_within_noise_and_planted_shifts_found():
    import numpy as np

    rng = np.random.default_rng(3)
    flat_named = 0
    for _ in range(40):
        df = events(rng, 400, 400)
        df["one"] = 1.0
        df["buy"] = df.bought.astype(float)
        r = explain(df, "buy/one", "t", "dev", (PA, PB), combinations=False)
        flat_named += "came from" in r.summary
    assert flat_named <= 6
    # mix shift: traffic moves to the low-converting device
    rows = []
    for period, share_m in ((PA, 0.3), (PB, 0.7)):
        start = pd.Timestamp(period.split("..")[0])
        for day in range(14):
            for dev, share, rate in (("m", share_m, 0.02), ("d", 1 - share_m, 0.08)):
                visits = rng.poisson(1000 * share)
                rows.append({"t": start + pd.Timedelta(days=day), "dev": dev, "visits": visits,
                             "orders": rng.binomial(visits, rate)})
    df = pd.DataFrame(rows)
    r = explain(df, "orders/visits", "t", "dev", (PA, PB))
    assert r.within_noise is False and "came from dev" in r.summary
    assert abs(r.dimensions[0].mix_total) > 0.8 * abs(r.change)
    # rate shift: desktop's own rate doubles, traffic split unchanged
    for row in rows:
        if row["dev"] == "d" and pd.Timestamp(row["t"]) >= pd.Timestamp("2026-03-16"):
            row["visits"] = rng.poisson(500)
            row["orders"] = rng.binomial(row["visits"], 0.16)
        elif row["dev"] == "d" or row["dev"] == "m":
            row["visits"] = rng.poisson(500)
            row["orders"] = rng.binomial(row["visits"], 0.02 if row["dev"] == "m" else 0.08)
    r = explain(pd.DataFrame(rows), "orders/visits", "t", "dev", (PA, PB))
    assert r.within_noise is False
    assert "came from dev = d" in r.summary
    assert abs(r.dimensions[0].rate_total) > 0.8 * abs(r.change)


def test_planted_count_effect_is_found_and_noise_segments_not_named():
    import numpy as np

    rng = np.random.default_rng(5)
    df = events(rng, 300, 300)
    extra = events(rng, 0, 150, devices=("m",))
    r = explain(pd.concat([df, extra]), "count", "t", "dev", (PA, PB))
    assert r.within_noise is False
    assert "came from dev = m" in r.summary
    m = next(s for s in r.dimensions[0].segments if s.value == "m")
    assert m.significant and m.se > 0
    assert all(not s.significant for s in r.dimensions[0].segments if s.value != "m")


def test_footwear_default_is_per_day_and_sandals_still_lead():
    df = footwear()
    r = explain(df, "views", "date", ["product_type", "device"], ("2026-05", "2026-06"))
    assert r.per == "day" and r.days_a == 31 and r.days_b == 30
    may = df[df.date.dt.month == 5].views.sum()
    june = df[df.date.dt.month == 6].views.sum()
    assert r.total_a == pytest.approx(may / 31) and r.total_b == pytest.approx(june / 30)
    assert any("differ in length" in w and "per day" in w for w in r.warnings)
    assert r.summary.startswith("Views per day rose")
    assert "came from product_type = sandals" in r.summary and "offset by product_type = boots" in r.summary


def test_january_vs_february_flat_per_day():
    days = pd.date_range("2026-01-01", "2026-02-28")
    df = pd.DataFrame({"t": days, "seg": "x", "views": 100.0})
    r = explain(df, "views", "t", "seg", ("2026-01", "2026-02"))
    assert r.per == "day" and r.change == 0 and "did not change" in r.summary
    tot = explain(df, "views", "t", "seg", ("2026-01", "2026-02"), per="total")
    assert tot.change == -300 and any("compared as totals" in w for w in tot.warnings)
    with pytest.raises(UsageError, match="per must be"):
        explain(df, "views", "t", "seg", ("2026-01", "2026-02"), per="week")


def test_cli_explain_per_option(tmp_path):
    from click.testing import CliRunner

    from datamill.cli import main

    days = pd.date_range("2026-01-01", "2026-02-28")
    path = tmp_path / "v.csv"
    pd.DataFrame({"t": days.strftime("%Y-%m-%d"), "seg": "x", "views": 100}).to_csv(path, index=False)
    base = ["explain", str(path), "--metric", "views", "--time", "t", "--by", "seg",
            "--compare", "2026-01", "2026-02", "--json"]
    out = CliRunner().invoke(main, base)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["per"] == "day"
    out = CliRunner().invoke(main, [*base, "--per", "total"])
    assert out.exit_code == 0 and json.loads(out.output)["change"] == -300
    assert CliRunner().invoke(main, [*base, "--per", "week"]).exit_code == 2


def test_ratio_metrics_are_written_with_one_number_format():
    """A small ratio (orders per visit ~ 3e-4) in the summary, the bars and the tables: fixed
    decimals everywhere, never scientific notation beside plain decimals."""
    import re

    import numpy as np

    rng = np.random.default_rng(0)
    n = 40_000
    df = pd.DataFrame({"t": pd.Timestamp("2026-05-01") + pd.to_timedelta(rng.integers(0, 61, n), unit="D"),
                       "device": rng.choice(["desktop", "mobile", "tablet"], n),
                       "visits": rng.integers(50, 100, n)})
    rate = np.where(df["device"] == "mobile", 0.0002, 0.0003) * np.where(df["t"] >= "2026-06-01", 1.5, 1)
    df["orders"] = rng.binomial(df["visits"], rate)
    r = explain(df, "orders/visits", "t", "device", ("2026-05", "2026-06"))
    html = r.to_html()
    for text in (r.summary, html):
        assert not re.search(r"\d(\.\d+)?e[-+]\d", text), text[:300]
    decimals = {len(m) for m in re.findall(r"[+-]?0\.(\d+)(?=[ <),])", r.summary)}
    assert decimals == {7}  # 4 significant digits of 0.000x
    assert "-0%" not in r.summary
