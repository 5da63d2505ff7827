"""datamill.analytics.bayes against published worked examples, closed forms and Monte Carlo."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st_
from scipy import stats as ss

from datamill.analytics import bayes
from datamill.analytics import stats as st


def test_bda_placenta_previa_beta_binomial():
    # Gelman et al., Bayesian Data Analysis (3rd ed.), §2.4: 437 girls in 980 placenta previa
    # births, uniform prior -> Beta(438, 544); posterior mean 0.446, sd 0.016, central 95%
    # interval [0.415, 0.477].
    p = bayes.beta_binomial(437, 980)
    assert p.params == {"alpha": 438.0, "beta": 544.0}
    assert p.mean == pytest.approx(0.446, abs=5e-4)
    assert p.sd == pytest.approx(0.016, abs=5e-4)
    assert p.credible_interval == pytest.approx((0.415, 0.477), abs=5e-4)
    assert "Beta(438, 544)" in p.interpretation
    outcomes = [1] * 437 + [0] * 543
    assert bayes.beta_binomial(outcomes).params == p.params


def test_bda_asthma_gamma_poisson():
    # Gelman et al., BDA3 §2.6: Gamma(3.0, 5.0) prior on the death rate per 100,000; 3 deaths in
    # a population of 200,000 (exposure 2.0) -> Gamma(6.0, 7.0), mean 0.86; with 30 deaths over
    # ten years (exposure 20) -> Gamma(33.0, 25.0), mean 1.32.
    p = bayes.gamma_poisson([3], exposure=2.0, prior=(3.0, 5.0))
    assert p.params == {"shape": 6.0, "rate": 7.0}
    assert p.mean == pytest.approx(0.86, abs=5e-3)
    q = bayes.gamma_poisson([30], exposure=20.0, prior=(3.0, 5.0))
    assert q.params == {"shape": 33.0, "rate": 25.0}
    assert q.mean == pytest.approx(1.32, abs=5e-3)
    assert q.variance == pytest.approx(33 / 625)
    # per-observation exposures add up
    r = bayes.gamma_poisson([10, 20], exposure=[8.0, 12.0], prior=(3.0, 5.0))
    assert r.params == q.params


def test_normal_known_variance_closed_form():
    x = np.array([9.8, 10.4, 10.1, 9.7, 10.6])
    p = bayes.normal_known_variance(x, sigma=0.5, prior_mean=9.0, prior_sd=1.0)
    prec = 1 / 1.0 + 5 / 0.25
    mean = (9.0 / 1.0 + 5 * x.mean() / 0.25) / prec
    assert p.mean == pytest.approx(mean)
    assert p.variance == pytest.approx(1 / prec)
    z = ss.norm.ppf(0.975)
    assert p.credible_interval == pytest.approx((mean - z / math.sqrt(prec), mean + z / math.sqrt(prec)))
    # a vague prior gives back the classical known-sigma z interval
    v = bayes.normal_known_variance(x, sigma=0.5, prior_sd=1e8)
    zt = st.ztest(x, sigma=0.5)
    assert v.credible_interval == pytest.approx(zt.ci, rel=1e-9)


def test_reference_prior_matches_classical_t_interval():
    # BDA3 §3.2: under p(mu, sigma^2) ∝ 1/sigma^2 the marginal posterior of mu is
    # t_{n-1}(xbar, s^2/n), so the credible interval equals the t confidence interval.
    x = [299.85, 299.74, 299.90, 300.07, 299.93, 299.85, 299.95, 299.98]
    p = bayes.normal_unknown_variance(x)
    ci = st.ci_mean(x)
    assert p.credible_interval == pytest.approx(ci.ci, rel=1e-12)
    assert p.params["df"] == pytest.approx(len(x) - 1)
    assert p.details["sigma2_mean"] == pytest.approx(
        np.var(x, ddof=1) * (len(x) - 1) / (len(x) - 3))


def test_normal_inverse_gamma_matches_monte_carlo():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, 12)
    mu0, k0, a0, b0 = 1.0, 2.0, 3.0, 4.0
    p = bayes.normal_unknown_variance(x, prior=(mu0, k0, a0, b0))
    d = p.details
    # simulate the posterior directly from the conjugate updates' definition
    kn, an, bn, mun = d["kappa_n"], d["alpha_n"], d["beta_n"], d["mu_n"]
    assert kn == k0 + 12 and an == a0 + 6
    assert mun == pytest.approx((k0 * mu0 + 12 * x.mean()) / kn)
    assert bn == pytest.approx(b0 + 0.5 * ((x - x.mean()) ** 2).sum()
                               + k0 * 12 * (x.mean() - mu0) ** 2 / (2 * kn))
    sigma2 = 1 / rng.gamma(an, 1 / bn, 200_000)
    mu = rng.normal(mun, np.sqrt(sigma2 / kn))
    assert np.quantile(mu, [0.025, 0.975]) == pytest.approx(p.credible_interval, abs=0.02)
    assert mu.var() == pytest.approx(p.variance, rel=0.02)


@settings(max_examples=25, deadline=None)
@given(st_.floats(0.3, 50), st_.floats(0.3, 50), st_.integers(0, 40), st_.integers(0, 40))
def test_beta_hpd_is_shortest_and_has_level_mass(a, b, s, f):
    p = bayes.beta_binomial(s, s + f, prior=(a, b), level=0.9)
    pa, pb = p.params["alpha"], p.params["beta"]
    d = ss.beta(pa, pb)
    if pa <= 1 and pb <= 1:
        assert p.hpd is None
        return
    lo, hi = p.hpd
    assert d.cdf(hi) - d.cdf(lo) == pytest.approx(0.9, abs=1e-6)
    eq = p.credible_interval
    assert hi - lo <= eq[1] - eq[0] + 1e-9
    if pa > 1 and pb > 1:
        # the density is equal at both ends of an HPD interval of a unimodal density
        assert d.pdf(lo) == pytest.approx(d.pdf(hi), rel=1e-3, abs=1e-6)


def test_hpd_of_skewed_gamma():
    p = bayes.gamma_poisson([0, 1, 0], prior=(1.5, 1.0))
    lo, hi = p.hpd
    d = ss.gamma(p.params["shape"], scale=1 / p.params["rate"])
    assert d.cdf(hi) - d.cdf(lo) == pytest.approx(0.95, abs=1e-6)
    assert d.pdf(lo) == pytest.approx(d.pdf(hi), rel=1e-3)
    assert hi - lo < p.credible_interval[1] - p.credible_interval[0]
    # shape <= 1: the density decreases from 0, so the HPD starts at 0
    q = bayes.gamma_poisson([0, 0], prior=(1.0, 1.0))
    assert q.hpd[0] == 0.0


def test_posterior_helpers_and_serialisation():
    from rich.console import Console

    p = bayes.beta_binomial(30, 100, prior=(2, 2))
    assert p.prob_greater(0.5) == pytest.approx(ss.beta(32, 72).sf(0.5))
    assert p.prob_less(0.5) + p.prob_greater(0.5) == pytest.approx(1)
    assert p.interval(0.5) == pytest.approx(tuple(ss.beta(32, 72).ppf([0.25, 0.75])))
    assert p.interval(0.5, "hpd")[1] - p.interval(0.5, "hpd")[0] <= p.interval(0.5)[1] - p.interval(0.5)[0]
    for post in (p, bayes.normal_unknown_variance([1.0, 2.0, 4.0]),
                 bayes.gamma_poisson([1, 2, 3]), bayes.normal_known_variance([1.0], sigma=1)):
        json.dumps(post.to_dict(), allow_nan=False)
        c = Console(record=True, width=100)
        c.print(post)
        assert "posterior" in c.export_text()


def test_bad_input():
    with pytest.raises(st.StatsInputError, match="successes"):
        bayes.beta_binomial(11, 10)
    with pytest.raises(st.StatsInputError, match="prior alpha"):
        bayes.beta_binomial(1, 10, prior=(0, 1))
    with pytest.raises(st.StatsInputError, match="0/1"):
        bayes.beta_binomial([0, 1, 2])
    with pytest.raises(st.InsufficientDataError):
        bayes.normal_known_variance([], sigma=1)
    with pytest.raises(st.StatsInputError, match="sigma"):
        bayes.normal_known_variance([1.0], sigma=0)
    with pytest.raises(st.InsufficientDataError):
        bayes.normal_unknown_variance([1.0])
    with pytest.raises(st.StatsInputError, match="degenerate"):
        bayes.normal_unknown_variance([2.0, 2.0, 2.0])
    with pytest.raises(st.StatsInputError, match="whole numbers"):
        bayes.gamma_poisson([1.5, 2])
    with pytest.raises(st.NonNumericError):
        bayes.gamma_poisson(["a", "b"])
    # NaN values are dropped and counted
    p = bayes.gamma_poisson([1, np.nan, 3])
    assert p.n == 2 and p.details["dropped"] == 1
