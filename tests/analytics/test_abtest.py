"""A/B tests against published values: textbook two-proportion z-tests, the Welch t-test
example of Wikipedia, Cohen's sample-size table, R's power.prop.test and Evan Miller's
sample-size calculator; the Bayesian numbers against closed forms and integration."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from datamill.analytics.abtest import (
    abtest,
    power,
    prob_beta_greater,
    sample_size,
    two_proportion_ztest,
)
from datamill.errors import UsageError


def conversions(arms: dict[str, tuple[int, int]], **extra) -> pd.DataFrame:
    """One row per visitor: ``arms`` maps arm -> (conversions, visitors)."""
    parts = []
    for arm, (x, n) in arms.items():
        parts.append(pd.DataFrame({"arm": arm, "converted": [True] * x + [False] * (n - x)}))
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------- frequentist, published values


def test_two_proportion_z_matches_worked_examples():
    # 9/31 vs 8/30: pooled z = 0.20601333, two-sided p = 0.8368
    # (worked solution, https://wizedu.com/questions/363496/what-is-the-test-statistic-and-pvalue-of-the-data)
    z, p, se = two_proportion_ztest(9, 31, 8, 30)
    assert z == pytest.approx(0.20601333, abs=1e-7)
    assert p == pytest.approx(0.8368, abs=1e-4)
    assert se == pytest.approx(0.1148271, abs=1e-7)
    # 140/200 vs 255/340: pooled p = 0.7314815, SE = 0.03949401, z = -1.266015
    # (https://homeworksource.com/p/1008622/find-the-test-statistic-z-for-the-following-situation-claim;
    # its p-value uses a t distribution with 538 df, so only z and SE are compared)
    z, p, se = two_proportion_ztest(140, 200, 255, 340)
    assert z == pytest.approx(-1.266015, abs=1e-6)
    assert se == pytest.approx(0.03949401, abs=1e-8)
    assert p == pytest.approx(2 * stats.norm.cdf(-1.266015), abs=1e-6)


def test_abtest_conversion_reproduces_the_z_test_and_direction():
    r = abtest(conversions({"control": (8, 30), "B": (9, 31)}), "arm", "converted")
    assert r.metric == "conversion" and r.control == "control"
    (c,) = r.comparisons
    assert c.treatment == "B"
    assert c.statistic == pytest.approx(0.20601333, abs=1e-7)
    assert c.p_value == pytest.approx(0.8368, abs=1e-4)
    assert c.diff == pytest.approx(9 / 31 - 8 / 30)
    assert c.lift == pytest.approx((9 / 31) / (8 / 30) - 1)
    assert not c.significant
    # unpooled Wald interval of the difference
    se = math.sqrt((9 / 31) * (22 / 31) / 31 + (8 / 30) * (22 / 30) / 30)
    assert c.ci_low == pytest.approx(c.diff - 1.959964 * se, abs=1e-6)
    assert c.ci_high == pytest.approx(c.diff + 1.959964 * se, abs=1e-6)
    assert any("fewer than 5" not in w for w in r.warnings) or r.warnings == []


def test_welch_t_test_matches_wikipedia_example():
    # Wikipedia, "Welch's t-test", example 1: t = -2.46, df = 24.99, p = 0.021
    a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    df = pd.DataFrame({"arm": ["A2"] * 15 + ["A1"] * 15, "score": a2 + a1})
    r = abtest(df, "arm", "score", control="A2")
    assert r.metric == "mean"
    (c,) = r.comparisons
    assert round(c.statistic, 2) == -2.46
    assert round(c.p_value, 3) == 0.021
    assert c.significant
    assert c.test.startswith("Welch")
    # CI of the difference excludes 0 exactly when p < alpha
    assert c.ci_high < 0


def test_multiple_treatments_are_holm_adjusted():
    rng = np.random.default_rng(3)
    n = 5000
    arms = np.repeat(["control", "B", "C", "D"], n)
    p = np.repeat([0.10, 0.14, 0.11, 0.10], n)
    df = pd.DataFrame({"arm": arms, "y": (rng.random(4 * n) < p).astype(int)})
    r = abtest(df, "arm", "y")
    assert [c.treatment for c in r.comparisons] == ["B", "C", "D"]
    raw = [c.p_value for c in r.comparisons]
    order = np.argsort(raw)
    # Holm: the smallest p is multiplied by m, the next by m - 1, then made monotone
    m = len(raw)
    expected, running = {}, 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * raw[i]))
        expected[i] = running
    for i, c in enumerate(r.comparisons):
        assert c.p_adjusted == pytest.approx(expected[i])
        assert c.significant == (c.p_adjusted < 0.05)
    assert r.comparisons[0].significant  # a 40% lift on 5,000 per arm is found
    b = abtest(df, "arm", "y", correction="bonferroni")
    assert b.comparisons[1].p_adjusted == pytest.approx(min(1.0, 3 * raw[1]))


# ---------------------------------------------------------------- Bayesian


def test_beta_closed_form_matches_numerical_integration():
    a_t, b_t, a_c, b_c = 1 + 130, 1 + 870, 1 + 110, 1 + 890

    def integrand(x):
        return stats.beta.pdf(x, a_t, b_t) * stats.beta.cdf(x, a_c, b_c)

    exact, _ = integrate.quad(integrand, 0, 1, points=[0.11, 0.13], limit=200)
    assert prob_beta_greater(a_t, b_t, a_c, b_c) == pytest.approx(exact, abs=1e-6)


def test_bayesian_conversion_result_is_consistent_and_seeded():
    df = conversions({"A": (110, 1000), "B": (130, 1000)})
    r = abtest(df, "arm", "converted", control="A")
    (c,) = r.comparisons
    assert c.prob_better == pytest.approx(prob_beta_greater(131, 871, 111, 891))
    assert 0.85 < c.prob_better < 0.95
    # Monte Carlo quantities: the lift interval brackets the observed lift, losses are
    # ordered with the probability, P(best) of two arms adds to 1 and tracks P(better)
    assert c.lift_cred_low < c.lift < c.lift_cred_high
    assert c.diff_cred_low < c.diff < c.diff_cred_high
    assert c.loss_treatment < c.loss_control
    best = {v.name: v.prob_best for v in r.variants}
    assert best["A"] + best["B"] == pytest.approx(1.0)
    assert best["B"] == pytest.approx(c.prob_better, abs=0.01)
    again = abtest(df, "arm", "converted", control="A")
    assert again.comparisons[0].loss_treatment == c.loss_treatment


def test_normal_model_for_means_matches_closed_forms():
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"arm": np.repeat(["c", "t"], 2000),
                       "revenue": np.r_[rng.normal(50, 10, 2000), rng.normal(50.3, 10, 2000)]})
    r = abtest(df, "arm", "revenue", control="c")
    (c,) = r.comparisons
    vc, vt = r.variants
    se = math.sqrt(vc.sd**2 / vc.n + vt.sd**2 / vt.n)
    mu = vt.mean - vc.mean
    assert c.prob_better == pytest.approx(stats.norm.cdf(mu / se))
    # E[max(C - T, 0)] for T - C ~ N(mu, se^2) is se*phi(mu/se) - mu*Phi(-mu/se)
    loss_t = se * stats.norm.pdf(mu / se) - mu * stats.norm.cdf(-mu / se)
    # (Monte Carlo with 100,000 draws: its error is a few thousandths of se)
    assert c.loss_treatment == pytest.approx(loss_t, abs=0.01 * se)
    assert c.loss_control == pytest.approx(loss_t + mu, abs=0.01 * se)


# ---------------------------------------------------------------- SRM


def test_sample_ratio_mismatch_is_flagged_at_p_below_0_001():
    df = conversions({"A": (1000, 10000), "B": (1060, 10600)})
    r = abtest(df, "arm", "converted")
    chi2 = 2 * 300**2 / 10300
    assert r.srm.chi2 == pytest.approx(chi2)
    assert r.srm.p_value == pytest.approx(stats.chi2.sf(chi2, 1))
    assert r.srm.mismatch
    assert any("sample ratio mismatch" in w for w in r.warnings)
    assert "sample ratio mismatch" in r.interpretation
    ok = abtest(conversions({"A": (1000, 10000), "B": (1060, 10100)}), "arm", "converted")
    assert not ok.srm.mismatch and ok.srm.p_value > 0.001
    planned = abtest(conversions({"A": (900, 9000), "B": (100, 1000)}), "arm", "converted",
                     expected_split={"A": 0.9, "B": 0.1})
    assert planned.srm.chi2 == pytest.approx(0.0) and not planned.srm.mismatch
    assert abtest(conversions({"A": (900, 9000), "B": (100, 1000)}), "arm", "converted").srm.mismatch


# ---------------------------------------------------------------- peeking


def daily(days: int, rates_by_day, n_per_arm_day: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for d in range(days):
        for arm, rate in rates_by_day(d).items():
            y = rng.random(n_per_arm_day) < rate
            rows.append(pd.DataFrame({"arm": arm, "y": y.astype(int),
                                      "ts": pd.Timestamp("2026-03-01") + pd.Timedelta(days=d, hours=12)}))
    return pd.concat(rows, ignore_index=True)


def test_peeking_warns_when_data_ends_on_first_significant_day():
    # no effect for 13 days, then a burst on the last day that tips p below alpha
    df = daily(14, lambda d: {"A": 0.10, "B": 0.10 if d < 13 else 0.30})
    r = abtest(df, "arm", "y", control="A", time="ts")
    pk = r.peeking
    assert len(pk.days) == 14 and pk.days[0] == "2026-03-01"
    assert pk.p_values["B"][-1] < 0.05
    assert pk.first_significant["B"] == "2026-03-14"
    assert pk.suspicious
    assert any("peeking" in w for w in r.warnings)
    # the last cumulative p-value is the whole-data p-value
    assert pk.p_values["B"][-1] == pytest.approx(r.comparisons[0].p_value)


def test_no_peeking_warning_for_a_steady_effect():
    df = daily(14, lambda d: {"A": 0.10, "B": 0.16})
    r = abtest(df, "arm", "y", control="A", time="ts")
    assert r.comparisons[0].significant
    assert not r.peeking.suspicious
    assert not any("peeking" in w for w in r.warnings)


def test_peeking_for_means_uses_welch_on_cumulative_sums():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"arm": np.tile(["A", "B"], 600), "v": rng.normal(10, 2, 1200),
                       "ts": np.repeat(pd.date_range("2026-01-01", periods=6), 200)})
    r = abtest(df, "arm", "v", control="A", time="ts")
    first = df[df.ts == df.ts.min()]
    expected = stats.ttest_ind(first[first.arm == "B"].v, first[first.arm == "A"].v,
                               equal_var=False).pvalue
    assert r.peeking.p_values["B"][0] == pytest.approx(expected, rel=1e-6)
    assert r.peeking.p_values["B"][-1] == pytest.approx(r.comparisons[0].p_value, rel=1e-6)


# ---------------------------------------------------------------- planning


def test_sample_size_matches_published_calculators():
    # R: power.prop.test(p1 = .20, p2 = .25, power = .80) -> n = 1093.7 per group
    assert sample_size(baseline_rate=0.20, mde=0.05, relative=False) == 1094
    # the same as a relative effect: 25% lift on 20%
    assert sample_size(baseline_rate=0.20, mde=0.25) == 1094
    # Evan Miller's calculator (evanmiller.org/ab-testing/sample-size.html), default inputs
    # baseline 20%, MDE 5% absolute, 80% power, 5% significance: 1,030 per variation
    assert abs(sample_size(baseline_rate=0.20, mde=0.05, relative=False, method="baseline") - 1030) <= 1
    # Cohen's h, as statsmodels NormalIndPower and G*Power compute it
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    h = proportion_effectsize(0.25, 0.20)
    sm = NormalIndPower().solve_power(h, power=0.8, alpha=0.05)
    assert sample_size(baseline_rate=0.20, mde=0.05, relative=False, method="arcsine") == math.ceil(sm)


def test_sample_size_for_means_matches_cohens_table():
    # Cohen (1988), Statistical Power Analysis, Table 2.4.1: two-sided alpha .05, power .80:
    # d = 0.2 -> 393, d = 0.5 -> 64, d = 0.8 -> 26 per group
    for d, n in ((0.2, 393), (0.5, 64), (0.8, 26)):
        got = sample_size(baseline_rate=100.0, mde=d * 15, sd=15, relative=False, metric="mean")
        assert abs(got - n) <= 1, (d, got)


def test_power_is_the_inverse_of_sample_size():
    for kw in ({"baseline_rate": 0.05, "mde": 0.1}, {"baseline_rate": 0.3, "mde": -0.02, "relative": False},
               {"baseline_rate": 0.1, "mde": 0.2, "ratio": 2.0}):
        n = sample_size(**kw)
        assert power(n_per_variant=n, **kw) >= 0.8
        assert power(n_per_variant=n - 1, **kw) < 0.8
    n = sample_size(baseline_rate=20.0, mde=1.0, sd=5, relative=False, metric="mean", power=0.9)
    assert power(n_per_variant=n, baseline_rate=20.0, mde=1.0, sd=5, relative=False,
                 metric="mean") >= 0.9
    with pytest.raises(UsageError, match="sd"):
        sample_size(baseline_rate=20.0, mde=0.1, metric="mean")
    with pytest.raises(UsageError, match=r"\(0, 1\)"):
        sample_size(baseline_rate=0.9, mde=0.2)


# ---------------------------------------------------------------- outputs


def test_outputs_json_html_rich():
    df = daily(5, lambda d: {"control": 0.1, "B": 0.12, "C": 0.1}, 300)
    r = abtest(df, "arm", "y", time="ts")
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["control"] == "control" and len(d["comparisons"]) == 2
    assert d["srm"]["observed"] == {"control": 1500, "B": 1500, "C": 1500}
    html = r.to_html()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    for part in ("Sample ratio check", "Posterior", "Peeking check", "<svg", "cumulative p-value"):
        assert part in html
    from rich.console import Console

    console = Console(record=True, width=160)
    console.print(r)
    text = console.export_text()
    assert "control" in text and "P(better)" in text
    assert "probability that B beats control" in r.interpretation


def test_single_row_arm_gives_warnings_not_nan_crashes():
    df = pd.DataFrame({"arm": ["a"] * 50 + ["b"], "v": list(np.linspace(0, 5, 50)) + [3.0]})
    r = abtest(df, "arm", "v", control="a")
    assert any("1 row" in w for w in r.warnings)
    json.dumps(r.to_dict(), allow_nan=False)
    assert "not enough data" in r.interpretation
    r.to_html()


# ---------------------------------------------------------------- bad input


def test_bad_input_errors_are_clear():
    df = conversions({"A": (10, 100), "B": (12, 100)})
    with pytest.raises(UsageError, match=r"unknown column 'variant'.*arm, converted"):
        abtest(df, "variant", "converted")
    with pytest.raises(UsageError, match="unknown column 'sold'"):
        abtest(df, "arm", "sold")
    with pytest.raises(UsageError, match="one value"):
        abtest(df[df.arm == "A"], "arm", "converted")
    with pytest.raises(UsageError, match=r"control 'Z' is not a value of 'arm' \(values: A, B\)"):
        abtest(df, "arm", "converted", control="Z")
    with pytest.raises(UsageError, match="no rows"):
        abtest(df.iloc[:0], "arm", "converted")
    money = pd.DataFrame({"arm": ["A", "B"] * 10, "spend": np.arange(20.0)})
    with pytest.raises(UsageError, match="0/1 or boolean"):
        abtest(money, "arm", "spend", metric="conversion")
    words = pd.DataFrame({"arm": ["A", "B"] * 10, "y": ["yes", "no"] * 10})
    with pytest.raises(UsageError, match="not numeric"):
        abtest(words, "arm", "y")
    with pytest.raises(UsageError, match="expected_split"):
        abtest(df, "arm", "converted", expected_split={"A": 1, "C": 1})
    with pytest.raises(UsageError, match="correction"):
        abtest(df, "arm", "converted", correction="magic")


def test_missing_values_are_dropped_with_a_warning():
    df = conversions({"A": (10, 100), "B": (12, 100)})
    df["converted"] = df["converted"].astype(object)
    df.loc[0, "converted"] = None
    df.loc[150, "arm"] = None
    r = abtest(df, "arm", "converted")
    assert r.metric == "conversion"
    assert sum(v.n for v in r.variants) == 198
    assert any("2 rows" in w for w in r.warnings)


def test_infinite_outcomes_and_mixed_time_zones():
    df = pd.DataFrame({"arm": ["A", "B"] * 40, "v": [1.0, 2.0, 3.0, np.inf] * 20,
                       "ts": ["2026-05-01T23:30:00+02:00", "2026-05-01T23:30:00-05:00"] * 40})
    r = abtest(df, "arm", "v", control="A", time="ts")
    assert any("20 rows with an infinite 'v'" in w for w in r.warnings)
    assert r.peeking.days == ["2026-05-01", "2026-05-02"]  # compared in UTC
    json.dumps(r.to_dict(), allow_nan=False)


# -- issue #9: power convention, tails, constant arms, wording ------------------------------


def test_t_power_matches_r_power_t_test():
    from datamill.analytics.abtest import sample_size_unrounded

    # R's ?power.t.test examples: power.t.test(n = 20, delta = 1) -> power = 0.8689528;
    # power.t.test(power = .90, delta = 1) -> n = 22.02110 (strict = FALSE: one tail)
    assert power(n_per_variant=20, baseline_rate=0.0, mde=1.0, sd=1.0, relative=False,
                 metric="mean") == pytest.approx(0.8689528, abs=1e-7)
    kw = dict(baseline_rate=0.0, mde=1.0, sd=1.0, relative=False, metric="mean", power=0.9)
    assert sample_size_unrounded(**kw) == pytest.approx(22.02110, abs=1e-5)
    assert sample_size(**kw) == 23
    # the proportion n before rounding: R's power.prop.test(p1 = .2, p2 = .25, power = .8)
    # prints n = 1093.739
    assert sample_size_unrounded(baseline_rate=0.2, mde=0.05, relative=False) == pytest.approx(1093.739, abs=1e-3)


def test_mean_power_is_finite_bounded_and_monotone_over_a_grid():
    ns = [2, 3, 5, 10, 30, 100, 300, 1000, 3000, 10_000, 100_000]
    effects = [0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
    grid = np.array([[power(n_per_variant=n, baseline_rate=0.0, mde=e, sd=1.0, relative=False,
                            metric="mean") for e in effects] for n in ns])
    assert np.isfinite(grid).all() and (grid >= 0).all() and (grid <= 1).all()
    assert (np.diff(grid, axis=0) >= -1e-12).all()  # monotone in n
    assert (np.diff(grid, axis=1) >= -1e-12).all()  # monotone in the effect
    assert grid[ns.index(1000), effects.index(0.5)] > 0.99999999


def test_two_constant_arms_agree_with_stats_ttest():
    from datamill.analytics import stats

    df = pd.DataFrame({"arm": ["a"] * 20 + ["b"] * 20, "y": [1.0] * 20 + [2.0] * 20})
    with pytest.raises(stats.ZeroVarianceError, match="constant"):
        stats.ttest(df, "y", by="arm")
    with pytest.raises(stats.ZeroVarianceError, match="both arms are constant"):
        abtest(df, "arm", "y", metric="mean")


def test_tiny_p_values_read_as_prose():
    r = abtest(conversions({"a": (100, 1000), "b": (300, 1000)}), "arm", "converted")
    assert "p < 0.0001" in r.interpretation and "p = <" not in r.interpretation


def _peek_once_data():
    """Seed 8: B's cumulative p-value is below 0.05 for a few days, then ends above it."""
    rng = np.random.default_rng(8)
    n = 4000
    return pd.DataFrame({"arm": rng.choice(["control", "B"], n), "y": rng.random(n) < 0.1,
                         "day": pd.Timestamp("2026-03-01")
                         + pd.to_timedelta(rng.integers(0, 14, n), unit="D")})


def test_a_p_value_that_crossed_alpha_on_one_spell_is_warned_about():
    r = abtest(_peek_once_data(), "arm", "y", time="day")
    assert r.peeking.first_significant["B"] is not None and not r.comparisons[0].significant
    assert r.peeking.crossings["B"] == 1
    assert r.peeking.suspicious and any("was below alpha" in w for w in r.warnings)
    html = r.to_html()
    assert "Nothing to warn about" not in html
    assert "check the peeking warning" in r.verdict


def test_ab_report_leads_with_a_one_sentence_verdict():
    rng = np.random.default_rng(1)
    n = 20_000
    arm = rng.choice(["control", "B"], n)
    y = rng.random(n) < np.where(arm == "B", 0.12, 0.10)
    r = abtest(pd.DataFrame({"arm": arm, "y": y}), "arm", "y")
    assert r.verdict.startswith("B beats control on conversion: +")
    assert r.verdict.count(". ") == 0 and r.verdict.endswith(".")
    html = r.to_html()
    assert html.index("class='verdict'") < html.index(r.variants[0].name + " (control)") \
        or html.index("class='verdict'") < html.index("<h3>Details</h3>")
    assert r.to_dict()["verdict"] == r.verdict
    flat = abtest(pd.DataFrame({"arm": arm, "y": rng.random(n) < 0.1}), "arm", "y")
    assert flat.verdict.startswith("No significant difference from control")
