"""datamill.analytics.stats against certified (NIST StRD) and published textbook values,
then cross-checked against scipy / statsmodels on random data, then bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_
from hypothesis.extra.numpy import arrays
from scipy import stats as ss

from datamill.analytics import stats as st
from datamill.errors import UsageError

# -- NIST StRD univariate summary statistics -------------------------------------------------
# Data and certified values from NIST Statistical Reference Datasets, Univariate Summary
# Statistics, https://www.itl.nist.gov/div898/strd/univ/ (Lew.dat, Mavro.dat, Michelso.dat,
# NumAcc1-4.dat). Certified: sample mean, sample standard deviation, lag-1 autocorrelation
# r1 = sum((y_i - m)(y_{i+1} - m)) / sum((y_i - m)^2).

LEW = [  # NIST "Lew": beam deflection, 200 observations (lower difficulty)
    -213, -564, -35, -15, 141, 115, -420, -360, 203, -338, -431, 194,
    -220, -513, 154, -125, -559, 92, -21, -579, -52, 99, -543, -175,
    162, -457, -346, 204, -300, -474, 164, -107, -572, -8, 83, -541,
    -224, 180, -420, -374, 201, -236, -531, 83, 27, -564, -112, 131,
    -507, -254, 199, -311, -495, 143, -46, -579, -90, 136, -472, -338,
    202, -287, -477, 169, -124, -568, 17, 48, -568, -135, 162, -430,
    -422, 172, -74, -577, -13, 92, -534, -243, 194, -355, -465, 156,
    -81, -578, -64, 139, -449, -384, 193, -198, -538, 110, -44, -577,
    -6, 66, -552, -164, 161, -460, -344, 205, -281, -504, 134, -28,
    -576, -118, 156, -437, -381, 200, -220, -540, 83, 11, -568, -160,
    172, -414, -408, 188, -125, -572, -32, 139, -492, -321, 205, -262,
    -504, 142, -83, -574, 0, 48, -571, -106, 137, -501, -266, 190,
    -391, -406, 194, -186, -553, 83, -13, -577, -49, 103, -515, -280,
    201, 300, -506, 131, -45, -578, -80, 138, -462, -361, 201, -211,
    -554, 32, 74, -533, -235, 187, -372, -442, 182, -147, -566, 25,
    68, -535, -244, 194, -351, -463, 174, -125, -570, 15, 72, -550,
    -190, 172, -424, -385, 198, -218, -536, 96,
]
MAVRO = [  # NIST "Mavro": filter transmittance, 50 observations (lower difficulty)
    2.00180, 2.00170, 2.00180, 2.00190, 2.00180, 2.00170, 2.00150,
    2.00140, 2.00150, 2.00150, 2.00170, 2.00180, 2.00180, 2.00190,
    2.00190, 2.00210, 2.00200, 2.00160, 2.00140, 2.00130, 2.00130,
    2.00150, 2.00150, 2.00160, 2.00150, 2.00140, 2.00130, 2.00140,
    2.00150, 2.00140, 2.00150, 2.00160, 2.00150, 2.00160, 2.00190,
    2.00200, 2.00200, 2.00210, 2.00220, 2.00230, 2.00240, 2.00250,
    2.00270, 2.00260, 2.00260, 2.00260, 2.00270, 2.00260, 2.00250,
    2.00240,
]
MICHELSO = [  # NIST "Michelso": Michelson's 1879 speed of light, 100 observations
    299.85, 299.74, 299.90, 300.07, 299.93, 299.85, 299.95, 299.98,
    299.98, 299.88, 300.00, 299.98, 299.93, 299.65, 299.76, 299.81,
    300.00, 300.00, 299.96, 299.96, 299.96, 299.94, 299.96, 299.94,
    299.88, 299.80, 299.85, 299.88, 299.90, 299.84, 299.83, 299.79,
    299.81, 299.88, 299.88, 299.83, 299.80, 299.79, 299.76, 299.80,
    299.88, 299.88, 299.88, 299.86, 299.72, 299.72, 299.62, 299.86,
    299.97, 299.95, 299.88, 299.91, 299.85, 299.87, 299.84, 299.84,
    299.85, 299.84, 299.84, 299.84, 299.89, 299.81, 299.81, 299.82,
    299.80, 299.77, 299.76, 299.74, 299.75, 299.76, 299.91, 299.92,
    299.89, 299.86, 299.88, 299.72, 299.84, 299.85, 299.85, 299.78,
    299.89, 299.84, 299.78, 299.81, 299.76, 299.81, 299.79, 299.81,
    299.82, 299.85, 299.87, 299.87, 299.81, 299.74, 299.81, 299.94,
    299.95, 299.80, 299.81, 299.87,
]


def numacc(center: float) -> list[float]:
    """NIST NumAcc2/3/4: the centre, then 500 pairs (centre - 0.1, centre + 0.1); n = 1001."""
    return [center] + [center - 0.1, center + 0.1] * 500


# (data, certified mean, certified sd, certified lag-1 autocorrelation, rtol)
NIST_UNIVARIATE = {
    "Lew": (LEW, -177.435000000000, 277.332168044316, -0.307304800605679, 1e-12),
    "Mavro": (MAVRO, 2.00185600000000, 0.000429123454003053, 0.937989183438248, 1e-10),
    "Michelso": (MICHELSO, 299.852400000000, 0.0790105478190518, 0.535199668621283, 1e-11),
    "NumAcc1": ([10000001, 10000003, 10000002], 10000002.0, 1.0, -0.5, 1e-14),
    "NumAcc2": (numacc(1.2), 1.2, 0.1, -0.999, 1e-12),
    "NumAcc3": (numacc(1000000.2), 1000000.2, 0.1, -0.999, 1e-8),
    # NumAcc4 (10000000.2 +- 0.1): the decimal inputs themselves carry ~1e-9 relative error in
    # binary64, so 8 digits is the ceiling for any float64 implementation.
    "NumAcc4": (numacc(10000000.2), 10000000.2, 0.1, -0.999, 1e-7),
}


@pytest.mark.parametrize("name", list(NIST_UNIVARIATE))
def test_nist_univariate_mean_sd_autocorrelation(name):
    data, mean, sd, r1, rtol = NIST_UNIVARIATE[name]
    ci = st.ci_mean(data)
    assert ci.estimate == pytest.approx(mean, rel=1e-14, abs=0)
    assert (ci.low + ci.high) / 2 == pytest.approx(mean, rel=1e-13)
    assert ci.details["sd"] == pytest.approx(sd, rel=rtol)
    assert ci.details["lag1_autocorrelation"] == pytest.approx(r1, rel=rtol)
    assert st.lag1_autocorrelation(data) == pytest.approx(r1, rel=rtol)
    # the t interval half-width is t_{n-1} * sd / sqrt(n) with the certified sd
    n = len(data)
    half = ss.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    # (the bounds are ~|mean| in size, so their difference carries eps * |mean| of rounding)
    assert (ci.high - ci.low) / 2 == pytest.approx(half, rel=max(rtol, 1e-12), abs=4e-16 * abs(mean))


def test_nist_mavro_one_sample_t_flags_serial_correlation():
    r = st.ttest_1samp(MAVRO, mu=2.0018)
    assert r.estimate == pytest.approx(2.001856, rel=1e-14)
    assert r.details["sd"] == pytest.approx(0.000429123454003053, rel=1e-10)
    assert r.details["lag1_autocorrelation"] == pytest.approx(0.937989183438248, rel=1e-10)
    indep = [a for a in r.assumptions if a.name.startswith("independence")]
    assert indep and not indep[0].passed
    assert "serially correlated" in r.interpretation


# -- NIST StRD one-way ANOVA ------------------------------------------------------------------
# https://www.itl.nist.gov/div898/strd/anova/anova.html ; SiRstv.dat (lower difficulty,
# 3 constant leading digits) and AtmWtAg.dat (average difficulty, 7 constant leading digits).

SIRSTV = {
    "1": [196.3052, 196.1240, 196.1890, 196.2569, 196.3403],
    "2": [196.3042, 196.3825, 196.1669, 196.3257, 196.0422],
    "3": [196.1303, 196.2005, 196.2889, 196.0343, 196.1811],
    "4": [196.2795, 196.1748, 196.1494, 196.1485, 195.9885],
    "5": [196.2119, 196.1051, 196.1850, 196.0052, 196.2090],
}
ATMWTAG = {
    "1": [107.8681568, 107.8681465, 107.8681572, 107.8681785, 107.8681446, 107.8681903,
          107.8681526, 107.8681494, 107.8681616, 107.8681587, 107.8681519, 107.8681486,
          107.8681419, 107.8681569, 107.8681508, 107.8681672, 107.8681385, 107.8681518,
          107.8681662, 107.8681424, 107.8681360, 107.8681333, 107.8681610, 107.8681477],
    "2": [107.8681079, 107.8681344, 107.8681513, 107.8681197, 107.8681604, 107.8681385,
          107.8681642, 107.8681365, 107.8681151, 107.8681082, 107.8681517, 107.8681448,
          107.8681198, 107.8681482, 107.8681334, 107.8681609, 107.8681101, 107.8681512,
          107.8681469, 107.8681360, 107.8681254, 107.8681261, 107.8681450, 107.8681368],
}
# name: (data, df between, SS between, MS between, df within, SS within, MS within, F, R^2,
#        residual sd, rtol)
NIST_ANOVA = {
    "SiRstv": (SIRSTV, 4, 5.11462616000000e-02, 1.27865654000000e-02, 20, 2.16636560000000e-01,
               1.08318280000000e-02, 1.18046237440255e00, 1.90999039051129e-01,
               1.04076068334656e-01, 1e-10),
    # AtmWtAg: float64 parsing of 107.868xxxx loses ~1e-14 absolute on deviations of 1e-5,
    # so ~9-10 significant digits is the attainable accuracy.
    "AtmWtAg": (ATMWTAG, 1, 3.63834187500000e-09, 3.63834187500000e-09, 46, 1.04951729166667e-08,
                2.28155932971014e-10, 1.59467335677930e01, 2.57426544538321e-01,
                1.51048314446410e-05, 1e-9),
}


@pytest.mark.parametrize("name", list(NIST_ANOVA))
def test_nist_anova(name):
    data, dfb, ssb, msb, dfw, ssw, msw, f, r2, rsd, rtol = NIST_ANOVA[name]
    r = st.anova(data, posthoc=False)
    assert r.dof == (dfb, dfw)
    assert r.statistic == pytest.approx(f, rel=rtol)
    assert r.details["between"]["ss"] == pytest.approx(ssb, rel=rtol)
    assert r.details["between"]["ms"] == pytest.approx(msb, rel=rtol)
    assert r.details["within"]["ss"] == pytest.approx(ssw, rel=rtol)
    assert r.details["within"]["ms"] == pytest.approx(msw, rel=rtol)
    assert r.details["r_squared"] == pytest.approx(r2, rel=rtol)
    assert r.effect_size.value == pytest.approx(r2, rel=rtol)  # eta squared == R^2 one-way
    assert r.details["residual_sd"] == pytest.approx(rsd, rel=rtol)


def test_nist_anova_from_long_dataframe():
    df = pd.DataFrame([(g, v) for g, vs in ATMWTAG.items() for v in vs], columns=["instrument", "agwt"])
    r = st.anova(df, "agwt", by="instrument")
    assert r.statistic == pytest.approx(1.59467335677930e01, rel=1e-9)
    assert r.n == {"1": 24, "2": 24}


# -- textbook examples ---------------------------------------------------------------------

# Student (1908) / Cushny & Peebles (1905) sleep data (R dataset `sleep`): extra hours of sleep
# under two drugs for the same 10 patients. Printed results of R's t.test() on these data
# (R documentation example, `t.test(extra ~ group, data = sleep)`):
#   Welch: t = -1.8608, df = 17.776, p-value = 0.07939, 95% CI -3.3654832 0.2054832
#   paired: t = -4.0621, df = 9, p-value = 0.002833, 95% CI -2.4598858 -0.7001142
SLEEP1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_student_sleep_welch():
    r = st.ttest(SLEEP1, SLEEP2)
    assert r.name.startswith("Welch")
    assert r.statistic == pytest.approx(-1.8608, abs=5e-5)
    assert r.dof == pytest.approx(17.776, abs=5e-4)
    assert r.p_value == pytest.approx(0.07939, abs=5e-6)
    assert r.ci == pytest.approx((-3.3654832, 0.2054832), abs=5e-8)
    assert r.estimate == pytest.approx(0.75 - 2.33)
    assert not r.significant
    assert "not statistically significant" in r.interpretation
    assert "B (2.33) is 1.58 higher than A (0.75)" in r.interpretation


def test_student_sleep_paired():
    r = st.ttest(SLEEP1, SLEEP2, paired=True)
    assert r.statistic == pytest.approx(-4.0621, abs=5e-5)
    assert r.dof == 9
    assert r.p_value == pytest.approx(0.002833, abs=5e-7)
    assert r.ci == pytest.approx((-2.4598858, -0.7001142), abs=5e-8)
    assert r.significant and "statistically significant" in r.interpretation
    df = pd.DataFrame({"d1": SLEEP1, "d2": SLEEP2})
    assert st.ttest(df, "d1", "d2", paired=True).statistic == pytest.approx(r.statistic)


def test_student_sleep_dataframe_by_group():
    df = pd.DataFrame({"extra": SLEEP1 + SLEEP2, "group": ["1"] * 10 + ["2"] * 10})
    r = st.ttest(df, "extra", by="group")
    assert r.statistic == pytest.approx(-1.8608, abs=5e-5)
    assert r.n == {"1": 10, "2": 10}
    # Student's pooled test on the same data: t = -1.8608, df = 18, p = 0.07919 (R var.equal=TRUE)
    s = st.ttest(df, "extra", by="group", equal_var=True)
    assert s.dof == 18
    assert s.p_value == pytest.approx(0.07919, abs=5e-6)


def test_agresti_chi_square_independence():
    # Agresti (2007), An Introduction to Categorical Data Analysis, Table 2.5: gender by party
    # identification (Dem, Ind, Rep); X^2 = 30.07, df = 2, p = 2.954e-07 (R chisq.test example).
    table = pd.DataFrame([[762, 327, 468], [484, 239, 477]], index=["F", "M"],
                         columns=["Democrat", "Independent", "Republican"])
    r = st.chi2_independence(table)
    assert r.statistic == pytest.approx(30.07, abs=5e-3)
    assert r.dof == 2
    assert r.p_value == pytest.approx(2.954e-07, rel=1e-3)
    assert r.assumptions[0].passed and not r.warnings
    # Cramér's V = sqrt(X^2 / (N (min(r, c) - 1)))
    assert r.effect_size.value == pytest.approx(math.sqrt(30.0701 / 2757), rel=1e-4)
    # same table from raw rows
    rows = [(g, p) for g, row in zip(["F", "M"], table.to_numpy(), strict=True)
            for p, k in zip(table.columns, row, strict=True) for _ in range(k)]
    raw = pd.DataFrame(rows, columns=["gender", "party"])
    r2 = st.chi2_independence(raw, "gender", "party")
    assert r2.statistic == pytest.approx(r.statistic, rel=1e-12)
    assert "gender" in r2.interpretation and "party" in r2.interpretation


def test_fisher_tea_tasting_small_expected_counts():
    # Fisher (1935), The Design of Experiments: the lady tasting tea, [[3, 1], [1, 3]];
    # two-sided exact p = 0.4857 (34/70).
    r = st.chi2_independence([[3, 1], [1, 3]])
    assert not r.assumptions[0].passed
    assert r.details["fisher_exact_p"] == pytest.approx(34 / 70, rel=1e-12)
    assert any("Fisher" in w for w in r.warnings)
    assert "Fisher" in r.interpretation
    f = st.fisher_exact([[3, 1], [1, 3]], alternative="greater")
    assert f.p_value == pytest.approx(17 / 70, rel=1e-12)
    assert f.estimate == pytest.approx(9.0)


def test_mendel_goodness_of_fit():
    # Mendel's dihybrid cross: 315 round-yellow, 108 round-green, 101 wrinkled-yellow,
    # 32 wrinkled-green vs 9:3:3:1; X^2 = 0.470, df = 3, p = 0.925 (e.g. Agresti 2013 §1.5).
    r = st.chi2_goodness_of_fit([315, 108, 101, 32], probs=[9 / 16, 3 / 16, 3 / 16, 1 / 16])
    assert r.statistic == pytest.approx(0.470, abs=5e-4)
    assert r.dof == 3
    assert r.p_value == pytest.approx(0.925, abs=5e-4)
    assert not r.significant


def test_montgomery_cotton_anova_and_tukey():
    # Montgomery, Design and Analysis of Experiments (Example 3.1 / §3.5.7): tensile strength by
    # cotton weight percentage. SS_treatments = 475.76, SS_E = 161.20, F0 = 14.76;
    # Tukey: T_0.05 = q_0.05(5, 20) sqrt(MS_E / n) = 4.23 sqrt(8.06 / 5) = 5.37, and the pairs
    # 15-20, 15-25, 15-30, 20-30, 25-35, 30-35 differ.
    data = {"15": [7, 7, 15, 11, 9], "20": [12, 17, 12, 18, 18], "25": [14, 18, 18, 19, 19],
            "30": [19, 25, 22, 19, 23], "35": [7, 10, 11, 15, 11]}
    r = st.anova(data)
    assert r.details["between"]["ss"] == pytest.approx(475.76, rel=1e-12)
    assert r.details["within"]["ss"] == pytest.approx(161.20, rel=1e-12)
    assert r.statistic == pytest.approx(14.76, abs=5e-3)
    assert len(r.posthoc) == 10
    for c in r.posthoc:
        assert (c.ci[1] - c.ci[0]) / 2 == pytest.approx(5.37, abs=5e-3)
    sig = {(c.group1, c.group2) for c in r.posthoc if c.reject}
    assert sig == {("15", "20"), ("15", "25"), ("15", "30"), ("20", "30"), ("25", "35"), ("30", "35")}
    t = st.tukey_hsd(data)
    assert [c.p_value for c in t.posthoc] == pytest.approx([c.p_value for c in r.posthoc])


# Hollander & Wolfe (1973), Nonparametric Statistical Methods; printed results of the R
# documentation examples for wilcox.test, kruskal.test and cor.test on these data.
def test_hollander_wolfe_mann_whitney():
    x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
    y = [1.15, 0.88, 0.90, 0.74, 1.21]
    r = st.mannwhitney(x, y, alternative="greater")  # W = 35, p-value = 0.1272
    assert r.statistic == 35
    assert r.p_value == pytest.approx(0.1272, abs=5e-5)
    assert r.effect_size.value == pytest.approx(2 * 35 / 50 - 1)


def test_hollander_wolfe_wilcoxon_signed_rank():
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    r = st.wilcoxon(x, y, alternative="greater")  # V = 40, p-value = 0.01953
    assert r.statistic == 40
    assert r.p_value == pytest.approx(0.01953, abs=5e-6)
    assert r.details["w_minus"] == 5


def test_hollander_wolfe_kruskal_wallis():
    normal = [2.9, 3.0, 2.5, 2.6, 3.2]
    obstructive = [3.8, 2.7, 4.0, 2.4]
    asbestosis = [2.8, 3.4, 3.7, 2.2, 2.0]
    r = st.kruskal(normal, obstructive, asbestosis)  # chi-squared = 0.77143, df = 2, p = 0.68
    assert r.statistic == pytest.approx(0.77143, abs=5e-6)
    assert r.dof == 2
    assert r.p_value == pytest.approx(0.68, abs=5e-3)


HW_X = [44.4, 45.9, 41.9, 53.3, 44.7, 44.1, 50.7, 45.2, 60.1]
HW_Y = [2.6, 3.1, 2.5, 5.0, 3.6, 4.0, 5.2, 2.8, 3.8]


def test_hollander_wolfe_correlations():
    p = st.correlation(HW_X, HW_Y)  # t = 1.8411, df = 7, p = 0.1082, cor 0.5711816
    assert p.statistic == pytest.approx(1.8411, abs=5e-5)
    assert p.dof == 7
    assert p.p_value == pytest.approx(0.1082, abs=5e-5)
    assert p.estimate == pytest.approx(0.5711816, abs=5e-8)
    assert p.ci == pytest.approx((-0.1497426, 0.8955795), abs=5e-8)
    k = st.correlation(HW_X, HW_Y, method="kendall", alternative="greater")  # T = 26, p = 0.05972
    assert k.estimate == pytest.approx(4 / 9)  # tau = (2 T / (n (n-1)/2)) - 1 with T = 26
    assert k.p_value == pytest.approx(0.05972, abs=5e-6)
    s = st.correlation(HW_X, HW_Y, method="spearman")  # S = 48, rho = 0.6
    assert s.estimate == pytest.approx(0.6)
    assert (9 ** 3 - 9) * (1 - s.estimate) / 6 == pytest.approx(48)


def test_newcombe_wilson_intervals():
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score).
    for x, n, lo, hi in [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                         (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)]:
        ci = st.ci_proportion(x, n)
        assert ci.ci == pytest.approx((lo, hi), abs=5e-5)
    # Newcombe (1998), Statistics in Medicine 17:873-890, method 10 (hybrid score):
    # 56/70 - 48/80 = 0.2000, 95% CI 0.0524 to 0.3339.
    d = st.ci_diff_proportions(56, 70, 48, 80)
    assert d.estimate == pytest.approx(0.2)
    assert d.ci == pytest.approx((0.0524, 0.3339), abs=5e-5)


BH_P = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240,
        0.4262, 0.5719, 0.6528, 0.7590, 1.000]


def test_benjamini_hochberg_paper_example():
    # Benjamini & Hochberg (1995), JRSS B 57:289-300, section 4: 15 p-values; at q = 0.05 the
    # Bonferroni procedure rejects 3 hypotheses and the FDR procedure rejects 4.
    assert sum(st.adjust_pvalues(BH_P, "bonferroni").reject) == 3
    bh = st.adjust_pvalues(BH_P, "bh")
    assert bh.reject == [True] * 4 + [False] * 11
    assert "4 of 15" in bh.interpretation


# -- cross-checks against scipy / statsmodels on random data ----------------------------------

finite = st_.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
sample = arrays(np.float64, st_.integers(3, 40), elements=finite)


def _spread(x):
    return np.ptp(x) > 1e-6 * (1 + np.abs(x).max())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy's own precision notice on near-ties
@settings(max_examples=25, deadline=None)
@given(sample, sample, st_.sampled_from(st.ALTERNATIVES), st_.booleans())
def test_ttest_ind_matches_scipy(a, b, alternative, equal_var):
    if not (_spread(a) or _spread(b)):
        return
    r = st.ttest_ind(a, b, equal_var=equal_var, alternative=alternative)
    ref = ss.ttest_ind(a, b, equal_var=equal_var, alternative=alternative)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-7, abs=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    assert r.dof == pytest.approx(ref.df, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert r.ci == pytest.approx((ci.low, ci.high), rel=1e-7, abs=1e-7)


@settings(max_examples=25, deadline=None)
@given(sample, st_.floats(-10, 10), st_.sampled_from(st.ALTERNATIVES))
def test_ttest_1samp_and_paired_match_scipy(a, mu, alternative):
    if not _spread(a):
        return
    r = st.ttest_1samp(a, mu, alternative=alternative)
    ref = ss.ttest_1samp(a, mu, alternative=alternative)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-7, abs=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    b = a[::-1] * 0.5 + 1.0
    if _spread(a - b):
        p = st.ttest_paired(a, b, alternative=alternative)
        refp = ss.ttest_rel(a, b, alternative=alternative)
        assert p.statistic == pytest.approx(refp.statistic, rel=1e-7, abs=1e-9)
        assert p.p_value == pytest.approx(refp.pvalue, rel=1e-6, abs=1e-12)


@settings(max_examples=6, deadline=None)
@given(st_.lists(arrays(np.float64, st_.integers(2, 15), elements=finite), min_size=3, max_size=4))
def test_anova_and_tukey_match_scipy(groups):
    if not any(_spread(g) for g in groups):
        return
    r = st.anova(*groups)
    ref = ss.f_oneway(*groups)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-6)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-5, abs=1e-12)
    tk = ss.tukey_hsd(*groups)
    ci = tk.confidence_interval(0.95)
    labels = st._letters(len(groups))
    for c in r.posthoc:
        i, j = labels.index(c.group1), labels.index(c.group2)
        assert c.diff == pytest.approx(tk.statistic[i, j], rel=1e-9, abs=1e-9)
        assert c.p_value == pytest.approx(tk.pvalue[i, j], abs=1e-5)
        assert c.ci == pytest.approx((ci.low[i, j], ci.high[i, j]), rel=1e-5, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(arrays(np.int64, st_.tuples(st_.integers(2, 4), st_.integers(2, 4)), elements=st_.integers(1, 60)),
       st_.booleans())
def test_chi2_independence_matches_scipy(table, correction):
    r = st.chi2_independence(table, correction=correction)
    ref = ss.chi2_contingency(table, correction=correction)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-14)
    assert r.dof == ref.dof
    assert np.allclose(r.details["expected"], ref.expected_freq)
    v = ss.contingency.association(table, method="cramer")
    assert r.effect_size.value == pytest.approx(v, rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st_.lists(st_.floats(0, 1), min_size=1, max_size=30),
       st_.sampled_from(["bonferroni", "holm", "bh"]))
def test_adjust_pvalues_matches_statsmodels(ps, method):
    from statsmodels.stats.multitest import multipletests

    r = st.adjust_pvalues(ps, method)
    rej, adj, _, _ = multipletests(ps, alpha=0.05, method={"bh": "fdr_bh"}.get(method, method))
    assert r.adjusted == pytest.approx(list(adj), abs=1e-12)
    # decisions use adjusted p < alpha, the rule of every other test (statsmodels uses
    # <=, so the two differ only where an adjusted p equals alpha exactly)
    assert r.reject == [a < 0.05 for a in r.adjusted]
    assert all(ours == theirs for ours, theirs, a in zip(r.reject, rej, adj, strict=True)
               if a != 0.05)


def test_adjust_pvalues_rejects_below_alpha_not_at_it():
    r = st.adjust_pvalues([0.0, 0.0, 0.0, 0.0, 0.01], "bonferroni")
    assert r.adjusted[-1] == pytest.approx(0.05)
    assert r.reject == [True, True, True, True, False]


@settings(max_examples=25, deadline=None)
@given(st_.integers(1, 200), st_.integers(0, 200), st_.integers(1, 200), st_.integers(0, 200))
def test_proportions_match_statsmodels(n1, x1, n2, x2):
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        proportion_confint,
        proportions_ztest,
    )

    x1, x2 = min(x1, n1), min(x2, n2)
    lo, hi = proportion_confint(x1, n1, method="wilson")
    assert st.ci_proportion(x1, n1).ci == pytest.approx((lo, hi), abs=1e-12)
    elo, ehi = proportion_confint(x1, n1, method="beta")
    assert st.ci_proportion(x1, n1, method="exact").ci == pytest.approx((elo, ehi), abs=1e-9)
    if 0 < x1 + x2 < n1 + n2:
        r = st.ztest_proportions(x1, n1, x2, n2)
        z, p = proportions_ztest([x1, x2], [n1, n2])
        assert r.statistic == pytest.approx(z, rel=1e-9, abs=1e-12)
        assert r.p_value == pytest.approx(p, rel=1e-7, abs=1e-14)
    nlo, nhi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb")
    assert st.ci_diff_proportions(x1, n1, x2, n2).ci == pytest.approx((nlo, nhi), abs=1e-9)
    if 0 < x1 < n1:
        one = st.ztest_proportion(x1, n1, p0=0.3)
        z1, p1 = proportions_ztest(x1, n1, value=0.3, prop_var=0.3)
        assert one.statistic == pytest.approx(z1, rel=1e-9)
        assert one.p_value == pytest.approx(p1, rel=1e-7, abs=1e-14)


@settings(max_examples=20, deadline=None)
@given(sample, sample, st_.sampled_from(st.ALTERNATIVES))
def test_rank_tests_and_correlation_match_scipy(a, b, alternative):
    if _spread(np.concatenate([a, b])):
        r = st.mannwhitney(a, b, alternative=alternative)
        ref = ss.mannwhitneyu(a, b, alternative=alternative)
        assert r.statistic == ref.statistic
        assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        k = st.kruskal(a, b)
        assert k.statistic == pytest.approx(ss.kruskal(a, b).statistic, rel=1e-9)
    n = min(a.size, b.size)
    x, y = a[:n], b[:n]
    if _spread(x) and _spread(y):
        c = st.correlation(x, y, alternative=alternative)
        ref = ss.pearsonr(x, y, alternative=alternative)
        assert c.estimate == pytest.approx(ref.statistic, abs=1e-9)
        assert c.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-9)
        if n > 3 and abs(ref.statistic) < 0.999999:
            ci = ref.confidence_interval(0.95)
            assert c.ci == pytest.approx((ci.low, ci.high), abs=1e-7)
        d = x - y
        if np.count_nonzero(d) >= 1:
            w = st.wilcoxon(x, y, alternative=alternative)
            nz = d[d != 0]  # R's rules: exact below 50 without ties or zeros, else
            tied = np.unique(np.abs(nz)).size < nz.size  # normal with continuity correction
            exact = nz.size < 50 and not tied and nz.size == d.size
            refw = ss.wilcoxon(nz, alternative=alternative, method="exact" if exact else "approx",
                               correction=True)
            assert w.p_value == pytest.approx(refw.pvalue, rel=1e-9)


def test_effect_sizes_by_formula():
    a, b = np.array([1.0, 2, 3, 4, 5]), np.array([3.0, 4, 5, 6, 7, 8])
    sp = math.sqrt((4 * a.var(ddof=1) + 5 * b.var(ddof=1)) / 9)
    assert st.cohens_d(a, b).value == pytest.approx((3 - 5.5) / sp)
    assert st.hedges_g(a, b).value == pytest.approx((3 - 5.5) / sp * (1 - 3 / (4 * 11 - 9)))
    assert st.cohens_d(a, mu=1).value == pytest.approx(2 / a.std(ddof=1))
    diff = a - np.array([3.0, 5, 4, 7, 6])
    assert st.cohens_d(a, [3.0, 5, 4, 7, 6], paired=True).value == pytest.approx(diff.mean() / diff.std(ddof=1))
    groups = [[1.0, 2, 3], [2.0, 3, 4], [5.0, 6, 7]]
    allv = np.concatenate(groups)
    ssb = sum(3 * (np.mean(g) - allv.mean()) ** 2 for g in groups)
    sst = ((allv - allv.mean()) ** 2).sum()
    msw = (sst - ssb) / 6
    assert st.eta_squared(*groups).value == pytest.approx(ssb / sst)
    assert st.omega_squared(*groups).value == pytest.approx((ssb - 2 * msw) / (sst + msw))
    assert st.cramers_v([[10, 0], [0, 10]]).value == pytest.approx(1.0)
    assert st.cohens_d([0.0, 1, 2, 3], [1.0, 2, 3, 4]).magnitude == "medium"


def test_ztest_known_sigma_by_formula():
    x = [10.2, 9.8, 10.5, 10.1, 9.9, 10.4]
    r = st.ztest(x, sigma=0.3, mu=10)
    m = np.mean(x)
    z = (m - 10) / (0.3 / math.sqrt(6))
    assert r.statistic == pytest.approx(z)
    assert r.p_value == pytest.approx(2 * ss.norm.sf(abs(z)))
    assert r.ci == pytest.approx((m - 1.959963985 * 0.3 / math.sqrt(6), m + 1.959963985 * 0.3 / math.sqrt(6)))
    two = st.ztest(x, [9.0, 9.5, 9.2], sigma=0.3, sigma_b=0.5)
    se = math.sqrt(0.09 / 6 + 0.25 / 3)
    assert two.statistic == pytest.approx((m - np.mean([9.0, 9.5, 9.2])) / se)


# -- bootstrap ---------------------------------------------------------------------------------


def test_bootstrap_is_seeded_vectorised_and_agrees_with_t():
    rng = np.random.default_rng(1)
    x = rng.normal(10, 2, 1000)
    b1 = st.ci_mean(x, method="bootstrap", seed=42)
    b2 = st.ci_mean(x, method="bootstrap", seed=42)
    assert b1.ci == b2.ci
    assert st.ci_mean(x, method="bootstrap", seed=7).ci != b1.ci
    t = st.ci_mean(x)
    assert b1.low == pytest.approx(t.low, abs=0.03) and b1.high == pytest.approx(t.high, abs=0.03)
    assert b1.low < x.mean() < b1.high
    med = st.bootstrap_ci(x, "median", seed=1, n_resamples=2000)
    assert med.low < np.median(x) < med.high
    d = st.ci_diff_means(x, x + 1, method="bootstrap", seed=3)
    assert d.estimate == pytest.approx(-1)
    assert d.low < -1 < d.high
    assert st.ci_diff_means(x, x + 1).ci == pytest.approx(d.ci, abs=0.05)
    p = st.ci_proportion(30, 100, method="bootstrap", seed=0)
    w = st.ci_proportion(30, 100)
    assert p.ci == pytest.approx(w.ci, abs=0.03)


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input_raises_usage_errors_with_names():
    with pytest.raises(st.InsufficientDataError, match="empty"):
        st.ttest([])
    with pytest.raises(st.InsufficientDataError, match="all 3 values are missing"):
        st.ttest([np.nan, None, np.nan])
    with pytest.raises(st.InsufficientDataError, match="at least 2"):
        st.ttest([5.0])
    with pytest.raises(st.InsufficientDataError):
        st.ttest([1.0], [2.0])
    with pytest.raises(st.InsufficientDataError, match="equal_var=True"):
        st.ttest([1.0], [2.0, 3.0, 4.0])
    assert st.ttest([1.0], [2.0, 3.0, 4.0], equal_var=True).dof == 2  # Student pools the variance
    df = pd.DataFrame({"city": ["a", "b", "c"], "g": [1, 1, 2]})
    with pytest.raises(st.NonNumericError, match=r"column 'city'.*dtype (object|str)"):
        st.ttest(df, "city", by="g")
    with pytest.raises(st.NonNumericError, match="'x'"):
        st.ttest([1.0, 2.0, "x"])
    with pytest.raises(st.StatsInputError, match="not in the table"):
        st.ttest(df, "nope", by="g")
    with pytest.raises(st.StatsInputError, match="same length"):
        st.ttest([1, 2, 3], [1, 2], paired=True)
    three = pd.DataFrame({"v": [1.0, 2, 3, 4, 5, 6], "g": list("aabbcc")})
    with pytest.raises(st.StatsInputError, match="use anova"):
        st.ttest(three, "v", by="g")
    with pytest.raises(UsageError):  # exit code 2 family
        st.anova([1.0])
    with pytest.raises(st.StatsInputError):
        st.ttest([1.0, 2.0], alternative="bigger")
    assert issubclass(st.ZeroVarianceError, UsageError)


def test_zero_variance_is_a_clear_error():
    with pytest.raises(st.ZeroVarianceError, match="both groups are constant"):
        st.ttest([3.0, 3.0, 3.0], [5.0, 5.0])
    with pytest.raises(st.ZeroVarianceError, match="standard deviation is zero"):
        st.ttest([2.0, 2.0, 2.0], mu=1)
    with pytest.raises(st.ZeroVarianceError):
        st.ttest([1.0, 2.0], [1.0, 2.0], paired=True)  # every difference is 0
    with pytest.raises(st.ZeroVarianceError):
        st.anova([1.0, 1.0], [2.0, 2.0])
    with pytest.raises(st.ZeroVarianceError):
        st.mannwhitney([1.0, 1.0], [1.0, 1.0])
    with pytest.raises(st.ZeroVarianceError):
        st.wilcoxon([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(st.ZeroVarianceError):
        st.kruskal([4.0, 4.0], [4.0])
    with pytest.raises(st.ZeroVarianceError, match="constant"):
        st.correlation([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    with pytest.raises(st.ZeroVarianceError):
        st.ztest_proportions(0, 10, 0, 12)
    # one constant group is fine for Welch (the other carries the variance)
    assert st.ttest([3.0, 3.0, 3.0], [4.0, 5.0, 6.0]).p_value > 0


def test_nan_dropped_and_counted():
    r = st.ttest([1.0, 2.0, np.nan, 3.0, 4.0], pd.Series([2.0, None, 5.0, 6.0, 7.0], name="b"))
    assert r.n == {"A": 4, "b": 4} or r.n == {"A": 4, "B": 4}
    assert sum(r.dropped.values()) == 2
    assert any("missing" in w for w in r.warnings)
    ref = ss.ttest_ind([1.0, 2, 3, 4], [2.0, 5, 6, 7], equal_var=False)
    assert r.statistic == pytest.approx(ref.statistic)
    p = st.ttest([1.0, 2.0, np.nan, 4.0], [1.5, np.nan, 3.0, 5.5], paired=True)
    assert p.n == {"A - B": 2} and p.dropped == {"A - B": 2}
    df = pd.DataFrame({"v": [1.0, 2, 3, 4, 5, 6, 7], "g": ["a", "a", "a", "b", "b", "b", None]})
    g = st.ttest(df, "v", by="g")
    assert g.dropped["missing g"] == 1


def test_non_normal_data_warns_and_suggests_nonparametric():
    rng = np.random.default_rng(0)
    a = rng.exponential(1.0, 40) ** 3
    r = st.ttest(a, rng.normal(1, 1, 40))
    norm = [x for x in r.assumptions if x.name == "normality of A"]
    assert norm and not norm[0].passed and "Shapiro-Wilk" in norm[0].detail
    assert any("normality of A" in w for w in r.warnings)
    assert "Mann-Whitney" in r.interpretation
    big = st.ttest_1samp(rng.exponential(1.0, 6000))
    assert "D'Agostino" in big.assumptions[0].detail
    lev = st.ttest(rng.normal(0, 1, 50), rng.normal(0, 10, 50), equal_var=True)
    assert any(a.name == "equal variances" and not a.passed for a in lev.assumptions)
    assert any("Welch" in w for w in lev.warnings)


def test_results_serialise_and_render():
    from rich.console import Console

    results = [
        st.ttest(SLEEP1, SLEEP2), st.anova({"a": [1.0, 2, 3], "b": [2.0, 3, 5], "c": [7.0, 8, 9.5]}),
        st.chi2_independence([[3, 1], [1, 3]]), st.ci_mean(MICHELSO),
        st.adjust_pvalues(BH_P, "holm"), st.correlation(HW_X, HW_Y, alternative="greater"),
    ]
    for r in results:
        d = r.to_dict()
        json.dumps(d, allow_nan=False)
        console = Console(record=True, width=120)
        console.print(r)
        assert console.export_text().strip()
    d = results[0].to_dict()
    assert d["effect_size"]["name"] == "Cohen's d" and isinstance(d["assumptions"], list)
    assert d["ci"] == pytest.approx([-3.3654832, 0.2054832], abs=1e-7)
    one_sided = st.ttest(SLEEP1, SLEEP2, alternative="less").to_dict()
    assert one_sided["ci"][0] is None  # -inf is not JSON; None marks the open end


def test_import_is_light():
    code = ("import sys, datamill.analytics.stats, datamill.analytics.bayes; "
            "print(any(m in sys.modules for m in ('scipy', 'numpy', 'statsmodels')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- issue #9: statistics defects ------------------------------------------------------------


def test_wording_below_alpha_0001_and_at_the_floating_point_floor():
    assert st._significance(5e-5, 0.0001, "x", "y").startswith("With p = 5e-05 < 0.0001, x is")
    assert st._significance(5e-4, 0.0001, "x", "y").startswith("With p = 0.0005 ≥ 0.0001, x is not")
    assert st._significance(5e-4, 0.05, "x", "y").startswith("With p < 0.001, x is")
    r = st.ztest_proportions(9000, 10000, 1000, 10000)
    assert r.p_value == 0.0 and r.to_dict()["p_value"] == 0.0  # the number is kept
    assert "p < 1e-16" in r.interpretation and "p < 0.001" not in r.interpretation


def test_adjust_pvalues_rejects_below_alpha_like_every_test():
    res = st.adjust_pvalues([0.05, 0.01], method="bonferroni", alpha=0.1)
    assert res.adjusted == [0.1, 0.02] and res.reject == [False, True]
    assert st.adjust_pvalues([0.05], method="holm").reject == [False]


def test_wilson_interval_bounds_are_exact_at_0_and_n():
    ci = st.ci_proportion(0, 50)
    assert ci.low == 0.0 and ci.high > 0
    assert st.ci_proportion(50, 50).high == 1.0


def test_wilcoxon_matches_r_defaults():
    # R, ?wilcox.test: depression scale before/after (Hollander & Wolfe 1973, p. 29):
    # wilcox.test(x, y, paired = TRUE, alternative = "greater") -> V = 40, p-value = 0.01953
    x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
    y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
    r = st.wilcoxon(x, y, alternative="greater")
    assert r.statistic == 40 and r.p_value == pytest.approx(0.01953, abs=5e-6)
    assert r.details["method"] == "exact"
    # with ties R uses the normal approximation with correct = TRUE (wilcox.test.default:
    # z = (V - n(n+1)/4 - sign(z)/2) / sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48))
    d = np.array([1, 2, 2, 3, 3, 3, -1, 4, 5, -2, 6, 6], float)
    r = st.wilcoxon(d)
    ranks = ss.rankdata(np.abs(d))
    v, n = ranks[d > 0].sum(), d.size
    _, t = np.unique(ranks, return_counts=True)
    z = v - n * (n + 1) / 4
    z = (z - np.sign(z) * 0.5) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - (t**3 - t).sum() / 48)
    assert r.statistic == v and r.p_value == pytest.approx(2 * ss.norm.sf(abs(z)), rel=1e-12)
    assert r.p_value == pytest.approx(ss.wilcoxon(d, correction=True, method="approx").pvalue, rel=1e-12)
    assert "continuity" in r.details["method"]


def test_bootstrap_large_n_memory_is_bounded():
    import tracemalloc

    x = np.random.default_rng(1).normal(5.0, 2.0, 1_000_000)
    tracemalloc.start()
    ci = st.bootstrap_ci(x, "mean", n_resamples=200, seed=3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 120e6, peak  # chunks of indices, never a (resamples x n) matrix
    se = 2.0 / 1000
    assert ci.low < x.mean() < ci.high
    assert ci.details["bootstrap_se"] == pytest.approx(se, rel=0.25)


@pytest.mark.parametrize("dist", ["normal", "lognormal"])
@pytest.mark.parametrize("key", ["mean", "median", "std", "var"])
def test_blocked_bootstrap_has_the_plain_bootstraps_distribution(dist, key):
    """The large-n path (block counts, exact middle block for the median, exact tails)
    gives replicates distributed as every-index resampling: same spread and quantiles."""
    from scipy import stats as ss

    from datamill.analytics.stats import resampling

    rng = np.random.default_rng(11)
    x = rng.normal(5, 2, 16_000) if dist == "normal" else rng.lognormal(0, 1.2, 16_000)
    fn = st._stat_fn(key)[1]
    plain = resampling.direct(x, fn, 2000, np.random.default_rng(1))
    fast = resampling.blocked(x, key, 2000, np.random.default_rng(2), blocks=32)
    assert fast.std() == pytest.approx(plain.std(), rel=0.1)
    assert ss.ks_2samp(plain, fast).pvalue > 1e-3
    for q in (0.025, 0.975):
        assert np.quantile(fast, q) == pytest.approx(np.quantile(plain, q), abs=0.25 * plain.std())


def test_bootstrap_at_a_million_rows_takes_the_blocked_path_with_default_resamples():
    x = np.random.default_rng(5).exponential(3.0, 1_000_000)
    ci = st.bootstrap_ci(x, "mean", seed=9)
    assert ci.details["resampling"] == "blocked"
    assert ci.details["bootstrap_se"] == pytest.approx(x.std() / 1000, rel=0.05)
    assert ci.low < x.mean() < ci.high
    assert st.bootstrap_ci(x, "mean", seed=9).ci == ci.ci  # seeded
    # a custom function still resamples every index
    small = st.bootstrap_ci(x[:1000], lambda a, axis: a.max(axis=axis), n_resamples=200, seed=1)
    assert small.details["resampling"] == "direct"
