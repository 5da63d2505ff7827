"""Regression checked against certified and published values, plus every bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datamill.analytics.regression import logit, ols
from datamill.errors import UsageError

# NIST StRD, Linear Regression, Norris (Norris, J., NIST. Calibration of Ozone Monitors).
# https://www.itl.nist.gov/div898/strd/lls/data/Norris.shtml  -- (y, x), 36 observations.
NORRIS = [
    (0.1, 0.2), (338.8, 337.4), (118.1, 118.2), (888.0, 884.6), (9.2, 10.1), (228.1, 226.5),
    (668.5, 666.3), (998.5, 996.3), (449.1, 448.6), (778.9, 777.0), (559.2, 558.2), (0.3, 0.4),
    (0.1, 0.6), (778.1, 775.5), (668.8, 666.9), (339.3, 338.0), (448.9, 447.5), (10.8, 11.6),
    (557.7, 556.0), (228.3, 228.1), (998.0, 995.8), (888.8, 887.6), (119.6, 120.2), (0.3, 0.3),
    (0.6, 0.3), (557.6, 556.8), (339.3, 339.1), (888.0, 887.2), (998.5, 999.0), (778.9, 779.0),
    (10.2, 11.1), (117.6, 118.3), (228.9, 229.2), (668.4, 669.1), (449.2, 448.9), (0.2, 0.5),
]

# NIST StRD, Linear Regression, Longley (Longley, J. W. (1967), JASA 62, 819-841).
# https://www.itl.nist.gov/div898/strd/lls/data/Longley.shtml
# y = total employment; x1 GNP deflator, x2 GNP, x3 unemployed, x4 armed forces,
# x5 population, x6 year.
LONGLEY = [
    (60323, 83.0, 234289, 2356, 1590, 107608, 1947),
    (61122, 88.5, 259426, 2325, 1456, 108632, 1948),
    (60171, 88.2, 258054, 3682, 1616, 109773, 1949),
    (61187, 89.5, 284599, 3351, 1650, 110929, 1950),
    (63221, 96.2, 328975, 2099, 3099, 112075, 1951),
    (63639, 98.1, 346999, 1932, 3594, 113270, 1952),
    (64989, 99.0, 365385, 1870, 3547, 115094, 1953),
    (63761, 100.0, 363112, 3578, 3350, 116219, 1954),
    (66019, 101.2, 397469, 2904, 3048, 117388, 1955),
    (67857, 104.6, 419180, 2822, 2857, 118734, 1956),
    (68169, 108.4, 442769, 2936, 2798, 120445, 1957),
    (66513, 110.8, 444546, 4681, 2637, 121950, 1958),
    (68655, 112.6, 482704, 3813, 2552, 123366, 1959),
    (69564, 114.2, 502601, 3931, 2514, 125368, 1960),
    (69331, 115.7, 518173, 4806, 2572, 127852, 1961),
    (70551, 116.9, 554894, 4007, 2827, 130081, 1962),
]
LONGLEY_CERTIFIED = {  # term: (estimate, standard deviation of estimate)
    "Intercept": (-3482258.63459582, 890420.383607373),
    "x1": (15.0618722713733, 84.9149257747669),
    "x2": (-0.358191792925910e-01, 0.334910077722432e-01),
    "x3": (-2.02022980381683, 0.488399681651699),
    "x4": (-1.03322686717359, 0.214274163161675),
    "x5": (-0.511041056535807e-01, 0.226073200069370),
    "x6": (1829.15146461355, 455.478499142212),
}

# Spector, L. and Mazzeo, M. (1980), "Probit Analysis and Economic Education", Journal of
# Economic Education 11, 37-44: does the PSI teaching method raise grades? (GPA, TUCE, PSI,
# GRADE), 32 students. The logit fit is printed in Greene, Econometric Analysis (5th ed.),
# Table 21.1: constant -13.021 (4.931), GPA 2.826 (1.263), TUCE 0.095 (0.142),
# PSI 2.379 (1.065); log-likelihood -12.890. More digits below are Stata's, as recorded in
# statsmodels' discrete-model test results.
SPECTOR = [
    (2.66, 20, 0, 0), (2.89, 22, 0, 0), (3.28, 24, 0, 0), (2.92, 12, 0, 0), (4.00, 21, 0, 1),
    (2.86, 17, 0, 0), (2.76, 17, 0, 0), (2.87, 21, 0, 0), (3.03, 25, 0, 0), (3.92, 29, 0, 1),
    (2.63, 20, 0, 0), (3.32, 23, 0, 0), (3.57, 23, 0, 0), (3.26, 25, 0, 1), (3.53, 26, 0, 0),
    (2.74, 19, 0, 0), (2.75, 25, 0, 0), (2.83, 19, 0, 0), (3.12, 23, 1, 0), (3.16, 25, 1, 1),
    (2.06, 22, 1, 0), (3.62, 28, 1, 1), (2.89, 14, 1, 0), (3.51, 26, 1, 0), (3.54, 24, 1, 1),
    (2.83, 27, 1, 1), (3.39, 17, 1, 1), (2.67, 24, 1, 0), (3.65, 21, 1, 1), (4.00, 23, 1, 1),
    (3.10, 21, 1, 0), (2.39, 19, 1, 1),
]
SPECTOR_STATA = {  # term: (coefficient, standard error)
    "Intercept": (-13.0213483201, 4.93132462871),
    "GPA": (2.82611297201, 1.26294114526),
    "TUCE": (0.0951576702557, 0.141554207662),
    "PSI": (2.37868772835, 1.06456430165),
}


def norris() -> pd.DataFrame:
    return pd.DataFrame(NORRIS, columns=["y", "x"])


def longley() -> pd.DataFrame:
    return pd.DataFrame(LONGLEY, columns=["y", "x1", "x2", "x3", "x4", "x5", "x6"])


def spector() -> pd.DataFrame:
    return pd.DataFrame(SPECTOR, columns=["GPA", "TUCE", "PSI", "GRADE"])


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_norris_matches_nist_certified_values():
    r = ols(norris(), "y", "x")
    b0, b1 = r.coefficient("Intercept"), r.coefficient("x")
    assert rel(b0.coefficient, -0.262323073774029) < 1e-9
    assert rel(b1.coefficient, 1.00211681802045) < 1e-12
    assert rel(b0.std_error, 0.232818234301152) < 1e-9
    assert rel(b1.std_error, 0.429796848199937e-03) < 1e-9
    assert rel(r.residual_std_error, 0.884796396144373) < 1e-9
    assert rel(r.r_squared, 0.999993745883712) < 1e-12
    assert rel(r.f_statistic, 5436385.54079785) < 1e-7  # certified ANOVA table
    assert r.n == 36 and r.n_dropped == 0 and r.df_resid == 34


def test_longley_matches_nist_certified_values_to_1e8():
    r = ols(longley(), "y", ["x1", "x2", "x3", "x4", "x5", "x6"])
    for term, (est, sd) in LONGLEY_CERTIFIED.items():
        c = r.coefficient(term)
        assert rel(c.coefficient, est) < 1e-8, term
        assert rel(c.std_error, sd) < 1e-8, term
    assert rel(r.residual_std_error, 304.854073561965) < 1e-8
    assert rel(r.r_squared, 0.995479004577296) < 1e-8
    assert rel(r.f_statistic, 330.285339234588) < 1e-8
    # Longley is the classic multicollinear data set: the VIFs say so
    assert r.vif["x2"] > 1000
    assert any("multicollinearity" in w for w in r.warnings)


def test_formula_gives_the_same_longley_fit():
    r = ols(longley(), formula="y ~ x1 + x2 + x3 + x4 + x5 + x6")
    for term, (est, _) in LONGLEY_CERTIFIED.items():
        assert rel(r.coefficient(term).coefficient, est) < 1e-8


def test_logit_matches_spector_mazzeo_published_fit():
    r = logit(spector(), "GRADE", ["GPA", "TUCE", "PSI"])
    printed = {"Intercept": (-13.021, 4.931), "GPA": (2.826, 1.263), "TUCE": (0.095, 0.142),
               "PSI": (2.379, 1.065)}
    for term, (coef, se) in printed.items():  # Greene's table, 3 decimals
        c = r.coefficient(term)
        assert round(c.coefficient, 3) == pytest.approx(coef, abs=1e-9)
        assert round(c.std_error, 3) == pytest.approx(se, abs=1e-9)
    for term, (coef, se) in SPECTOR_STATA.items():
        c = r.coefficient(term)
        assert rel(c.coefficient, coef) < 1e-6
        assert rel(c.std_error, se) < 1e-5
        assert c.odds_ratio == pytest.approx(np.exp(coef), rel=1e-5)
    assert r.log_likelihood == pytest.approx(-12.889634, abs=1e-5)
    assert 0 < r.pseudo_r_squared < 1 and r.lr_p_value < 0.01
    assert "multiplies the odds of GRADE = 1" in r.interpretation
    p = r.predict(spector().head(3))
    assert ((p > 0) & (p < 1)).all()


def test_interpretation_table_and_outputs():
    rng = np.random.default_rng(7)
    n = 400
    df = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                       "shop": rng.choice(["north", "east", "west"], n)})
    df["y"] = 3 + 2.1 * df.x - 0.4 * df.z + np.where(df.shop == "west", 1.0, 0.0) + rng.normal(size=n)
    df.loc[[5, 9], "z"] = np.nan
    r = ols(df, "y", ["x", "z", "shop"])
    assert r.n == 398 and r.n_dropped == 2
    assert r.reference_levels == {"shop": "east"}
    assert [c.term for c in r.coefficients] == ["Intercept", "x", "z", "shop[T.north]", "shop[T.west]"]
    assert r.coefficient("x").coefficient == pytest.approx(2.1, abs=0.15)
    assert "Each extra unit of x is associated with +2.1" in r.interpretation
    assert "(95% CI" in r.interpretation and "p < 0.001" in r.interpretation
    assert "shop = west (rather than east)" in r.interpretation
    assert any("2 row(s) with a missing value" in w for w in r.warnings)
    assert r.heteroskedasticity["constant_variance"] and r.normality["p_value"] > 0.001
    assert set(r.vif) == {"x", "z", "shop[T.north]", "shop[T.west]"}
    d = json.loads(json.dumps(r.to_dict()))
    assert d["coefficients"][1]["term"] == "x" and d["n_dropped"] == 2
    page = r.to_html()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "residuals vs fitted" in page
    assert "<script" not in page
    pred = r.predict(pd.DataFrame({"x": [0.0, 1.0, None], "z": [0.0, 0.0, 0.0],
                                   "shop": ["east", "east", "west"]}))
    assert pred[1] - pred[0] == pytest.approx(r.coefficient("x").coefficient)
    assert np.isnan(pred[2])
    with pytest.raises(UsageError, match="not seen"):
        r.predict(pd.DataFrame({"x": [0.0], "z": [0.0], "shop": ["south"]}))
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(r)
    assert "shop[T.west]" in console.export_text()


def test_residual_plot_is_sampled_and_heteroskedasticity_warns():
    rng = np.random.default_rng(3)
    n = 5000
    x = rng.uniform(1, 10, n)
    df = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(size=n) * x})  # spread grows with x
    r = ols(df, "y", "x")
    assert len(r.residual_plot["fitted"]) == 2000 and r.residual_plot["sampled"] == [2000, 5000]
    assert sum(r.residual_histogram["counts"]) == n
    assert not r.heteroskedasticity["constant_variance"]
    assert any("Breusch-Pagan" in w and "robust='HC3'" in w for w in r.warnings)
    rr = ols(df, "y", "x", robust="hc3")
    assert rr.robust == "HC3"
    assert rr.coefficient("x").coefficient == pytest.approx(r.coefficient("x").coefficient)
    assert rr.coefficient("x").std_error != pytest.approx(r.coefficient("x").std_error)
    assert any("robust (HC3)" in w for w in rr.warnings)


def test_perfect_collinearity_names_the_columns():
    df = longley()
    df["x7"] = 2 * df["x1"] - df["x3"]
    with pytest.raises(UsageError, match="perfect collinearity") as e:
        ols(df, "y", ["x1", "x2", "x3", "x7"])
    msg = str(e.value)
    assert "x1" in msg and "x3" in msg and "x7" in msg and "x2" not in msg.split(":")[1].split("are")[0]


def test_more_predictors_than_rows():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(5, 8)), columns=[f"c{i}" for i in range(8)])
    with pytest.raises(UsageError, match="more rows than"):
        ols(df, "c0")


def test_constant_y_and_non_numeric_y():
    df = pd.DataFrame({"y": [3.0] * 10, "x": range(10)})
    with pytest.raises(UsageError, match="constant"):
        ols(df, "y", "x")
    df = pd.DataFrame({"y": ["yes", "no"] * 5, "x": range(10)})
    with pytest.raises(UsageError, match="not numeric.*logit"):
        ols(df, "y", "x")


def test_constant_predictor_and_missing_columns():
    df = pd.DataFrame({"y": range(10), "x": [1.0] * 10, "z": np.arange(10) ** 2})
    with pytest.raises(UsageError, match="constant"):
        ols(df, "y", ["x", "z"])
    with pytest.raises(UsageError, match="not found"):
        ols(df, "y", ["nope"])
    with pytest.raises(UsageError, match="not found"):
        ols(df, "nope", ["x"])
    with pytest.raises(UsageError, match="robust"):
        ols(df, "y", "z", robust="HC9")
    with pytest.raises(UsageError, match="no complete rows"):
        ols(pd.DataFrame({"y": [1.0, 2.0, None], "x": [None, None, 2.0]}), "y", "x")


def test_logit_rejects_a_response_that_is_not_0_1():
    df = spector()
    df["GRADE"] = df["GRADE"] * 2 + 1
    with pytest.raises(UsageError, match="0/1"):
        logit(df, "GRADE", ["GPA"])
    df["GRADE"] = np.where(df["GRADE"] == 3, "pass", "fail")
    with pytest.raises(UsageError, match="0/1"):
        logit(df, "GRADE", ["GPA"])
    df["GRADE"] = 1
    with pytest.raises(UsageError, match="both 0s and 1s"):
        logit(df, "GRADE", ["GPA"])
    ok = spector()
    ok["GRADE"] = ok["GRADE"].astype(bool)
    assert logit(ok, "GRADE", ["GPA", "TUCE", "PSI"]).n == 32


def test_logit_perfect_separation_is_an_error():
    df = pd.DataFrame({"x": np.arange(20.0), "z": np.sin(np.arange(20.0))})
    df["y"] = (df.x > 9.5).astype(int)
    with pytest.raises(UsageError, match="perfect separation.*'x'"):
        logit(df, "y", ["x", "z"])
    # separation by a combination of predictors, not any single one
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=60), rng.normal(size=60)
    df = pd.DataFrame({"a": a, "b": b, "y": (a + b > 0).astype(int)})
    with pytest.raises(UsageError, match="separation|converge"):
        logit(df, "y", ["a", "b"])


def test_formula_with_categories_and_bad_formula():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"x": rng.normal(size=80), "g": rng.choice(["a", "b"], 80)})
    df["y"] = df.x + (df.g == "b") + rng.normal(size=80) * 0.1
    r = ols(df, formula="y ~ x + C(g)")
    assert r.reference_levels == {"g": "a"}
    assert r.coefficient("C(g)[T.b]").coefficient == pytest.approx(1, abs=0.1)
    assert len(r.predict(df.head(5))) == 5
    with pytest.raises(UsageError, match="formula"):
        ols(df, formula="y ~ nope")
    with pytest.raises(UsageError, match="'~'"):
        ols(df, formula="y + x")
