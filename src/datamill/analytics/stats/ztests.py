"""z-tests for means and proportions (Wilson and Newcombe intervals)."""

from __future__ import annotations

import math
from typing import Any

from datamill.analytics.stats.assumptions import (
    _add,
    _finish,
    _magnitude,
    _normality,
    _significance,
)
from datamill.analytics.stats.inputs import (
    _check_alt,
    _check_level,
    _ci_from,
    _numeric,
    _p_from,
    _samples,
)
from datamill.analytics.stats.results import (
    Assumption,
    EffectSize,
    InsufficientDataError,
    StatsInputError,
    TestResult,
    ZeroVarianceError,
    _fmt,
    _fmt_ci,
)
from datamill.analytics.stats.ttests import _d_magnitude_text

# -- z-tests --------------------------------------------------------------------------------


def ztest(a: Any, b: Any = None, *, sigma: float, sigma_b: float | None = None, mu: float = 0.0,
          alternative: str = "two-sided", level: float = 0.95, alpha: float = 0.05) -> TestResult:
    """z-test for one mean (``mean(a) == mu``) or two means with known standard deviation(s)."""
    from scipy import stats as ss

    _check_alt(alternative)
    _check_level(level)
    for nm, sg in (("sigma", sigma), ("sigma_b", sigma_b)):
        if sg is not None and not (isinstance(sg, int | float) and math.isfinite(sg) and sg > 0):
            raise StatsInputError(f"{nm} (the known standard deviation) must be a positive number, got {sg!r}")
    samples = _samples([a] if b is None else [a, b], None, "z-test")
    dist = ss.norm()
    if len(samples) == 1:
        (s,) = samples
        m = float(s.values.mean())
        se = sigma / math.sqrt(s.n)
        est, lab, n = m, "mean", {s.label: s.n}
        z = (m - mu) / se
        d = (m - mu) / sigma
        head = f"The mean of {s.label} is {_fmt(m)} (n = {s.n}, known sd {_fmt(sigma)}), compared with {_fmt(mu)}"
        what, null = f"the difference from {_fmt(mu)}", f"a mean of {_fmt(mu)}"
    else:
        sa, sb = samples
        sb_sigma = sigma if sigma_b is None else sigma_b
        m1, m2 = float(sa.values.mean()), float(sb.values.mean())
        se = math.sqrt(sigma ** 2 / sa.n + sb_sigma ** 2 / sb.n)
        est, lab, n = m1 - m2, f"mean({sa.label}) - mean({sb.label})", {sa.label: sa.n, sb.label: sb.n}
        z = (est - mu) / se
        d = (est - mu) / math.sqrt((sigma ** 2 + sb_sigma ** 2) / 2)
        head = (f"The mean of {sa.label} ({_fmt(m1)}) minus the mean of {sb.label} ({_fmt(m2)}) "
                f"is {_fmt(est)}")
        what, null = "this difference", "equal means"
    p = _p_from(dist, z, alternative)
    ci = _ci_from(dist, est, se, level, alternative)
    es = EffectSize("Cohen's d", d, _magnitude("d", d))
    r = TestResult("z-test" if len(samples) == 1 else "Two-sample z-test", z, p, None, ci, level,
                   est, lab, es, n, {s.label: s.dropped for s in samples}, alternative=alternative,
                   alpha=alpha, details={"se": se, "sigma": sigma, "sigma_b": sigma_b, "mu": mu})
    for s in samples:
        _add(r, _normality(s))
    r.interpretation = (f"{head}, {level:.0%} CI {_fmt_ci(ci)}. "
                        + _significance(p, alpha, what, null) + f" {_d_magnitude_text(es)}")
    return _finish(r, None, min(s.n for s in samples))


def _count(count: Any, nobs: Any, label: str) -> tuple[int, int, int]:
    """(successes, trials, dropped) from counts, or from an array of 0/1 / booleans."""
    import numpy as np

    if nobs is None:
        v, dropped = _numeric(count, label, "proportion test")
        if not np.isin(v, (0.0, 1.0)).all():
            raise StatsInputError(f"{label}: without nobs, pass 0/1 or boolean outcomes "
                                  "(or the number of successes with nobs=)")
        return int(v.sum()), int(v.size), dropped
    try:
        c, n = float(count), float(nobs)
    except (TypeError, ValueError):
        raise StatsInputError(f"{label}: count and nobs must be numbers, got {count!r} and {nobs!r}") from None
    if not (math.isfinite(c) and math.isfinite(n)) or c != int(c) or n != int(n):
        raise StatsInputError(f"{label}: count and nobs must be whole numbers, got {count!r} and {nobs!r}")
    if n <= 0:
        raise InsufficientDataError(f"{label}: nobs must be at least 1, got {int(n)}")
    if not 0 <= c <= n:
        raise StatsInputError(f"{label}: count must be between 0 and nobs ({int(n)}), got {int(c)}")
    return int(c), int(n), 0


def _wilson(x: int, n: int, level: float) -> tuple[float, float]:
    from scipy import stats as ss

    z = float(ss.norm.ppf(0.5 + level / 2))
    p = x / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # at x = 0 (x = n) the bound is exactly 0 (1): centre - half cancels to rounding noise
    lo = 0.0 if x == 0 else max(0.0, centre - half)
    hi = 1.0 if x == n else min(1.0, centre + half)
    return (lo, hi)


def ztest_proportion(count: Any, nobs: int | None = None, *, p0: float = 0.5,
                     alternative: str = "two-sided", level: float = 0.95,
                     alpha: float = 0.05) -> TestResult:
    """z-test for one proportion (score test, ``p0`` in the standard error); Wilson CI.

    ``count`` is the number of successes out of ``nobs``, or an array of 0/1 outcomes.
    The exact binomial p-value is also reported in ``details["exact_binomial_p"]``.
    """
    from scipy import stats as ss

    _check_alt(alternative)
    _check_level(level)
    if not (isinstance(p0, int | float) and 0 < p0 < 1):
        raise StatsInputError(f"p0 must be strictly between 0 and 1, got {p0!r}")
    x, n, dropped = _count(count, nobs, "proportion")
    ph = x / n
    se = math.sqrt(p0 * (1 - p0) / n)
    z = (ph - p0) / se
    p = _p_from(ss.norm(), z, alternative)
    if alternative == "two-sided":
        ci = _wilson(x, n, level)
    elif alternative == "greater":
        ci = (_wilson(x, n, 2 * level - 1)[0], 1.0)
    else:
        ci = (0.0, _wilson(x, n, 2 * level - 1)[1])
    h = 2 * math.asin(math.sqrt(ph)) - 2 * math.asin(math.sqrt(p0))
    es = EffectSize("Cohen's h", h, _magnitude("h", h))
    exact = float(ss.binomtest(x, n, p0, alternative=alternative).pvalue)
    r = TestResult("One-proportion z-test", z, p, None, ci, level, ph, "proportion", es,
                   {"n": n}, {"n": dropped}, alternative=alternative, alpha=alpha,
                   details={"successes": x, "p0": p0, "exact_binomial_p": exact})
    ok = n * p0 >= 10 and n * (1 - p0) >= 10
    r.assumptions.append(Assumption("expected counts ≥ 10", ok,
                                    f"n·p0 = {_fmt(n * p0)}, n·(1-p0) = {_fmt(n * (1 - p0))}"))
    if not ok:
        r.warnings.append(f"the normal approximation is poor with n·p0 = {_fmt(n * p0)}; "
                          f"rely on the exact binomial test (p = {exact:.3g})")
    r.interpretation = (
        f"The observed proportion is {_fmt(ph)} ({x} of {n}), {level:.0%} Wilson CI {_fmt_ci(ci)}, "
        f"compared with {_fmt(p0)}. "
        + _significance(p, alpha, "the difference", f"a proportion of {_fmt(p0)}")
        + f" {_d_magnitude_text(es)}")
    if not ok:
        r.interpretation += f" The sample is small for the z approximation: the exact binomial p = {exact:.3g}."
    return _finish(r)


def _newcombe(x1: int, n1: int, x2: int, n2: int, level: float) -> tuple[float, float]:
    """Newcombe (1998) hybrid score interval for p1 - p2 (method 10)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = _wilson(x1, n1, level)
    l2, u2 = _wilson(x2, n2, level)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (max(-1.0, lo), min(1.0, hi))


def ztest_proportions(count1: Any, nobs1: int | None, count2: Any, nobs2: int | None, *,
                      alternative: str = "two-sided", level: float = 0.95,
                      alpha: float = 0.05) -> TestResult:
    """Pooled two-proportion z-test of ``p1 == p2``; Newcombe CI for ``p1 - p2``.

    When an expected count is below 5, Fisher's exact p is in ``details["fisher_exact_p"]``.
    """
    from scipy import stats as ss

    _check_alt(alternative)
    _check_level(level)
    x1, n1, d1 = _count(count1, nobs1, "group 1")
    x2, n2, d2 = _count(count2, nobs2, "group 2")
    p1, p2 = x1 / n1, x2 / n2
    pp = (x1 + x2) / (n1 + n2)
    if pp in (0.0, 1.0):
        raise ZeroVarianceError(
            f"two-proportion test: every observation is a {'success' if pp == 1 else 'failure'} "
            "in both groups, so the z statistic is undefined (the proportions are equal)")
    se = math.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se
    p = _p_from(ss.norm(), z, alternative)
    if alternative == "two-sided":
        ci = _newcombe(x1, n1, x2, n2, level)
    elif alternative == "greater":
        ci = (_newcombe(x1, n1, x2, n2, 2 * level - 1)[0], 1.0)
    else:
        ci = (-1.0, _newcombe(x1, n1, x2, n2, 2 * level - 1)[1])
    h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
    es = EffectSize("Cohen's h", h, _magnitude("h", h))
    r = TestResult("Two-proportion z-test", z, p, None, ci, level, p1 - p2, "p1 - p2", es,
                   {"group 1": n1, "group 2": n2}, {"group 1": d1, "group 2": d2},
                   alternative=alternative, alpha=alpha,
                   details={"p1": p1, "p2": p2, "pooled": pp, "successes": [x1, x2]})
    expected = [n1 * pp, n1 * (1 - pp), n2 * pp, n2 * (1 - pp)]
    ok = min(expected) >= 5
    r.assumptions.append(Assumption("expected counts ≥ 5", ok, f"smallest expected count {_fmt(min(expected))}"))
    if not ok:
        fp = float(ss.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]], alternative=alternative).pvalue)
        r.details["fisher_exact_p"] = fp
        r.warnings.append(f"an expected count is below 5 ({_fmt(min(expected))}): the z approximation "
                          f"is unreliable; use Fisher's exact test (p = {fp:.3g})")
    r.interpretation = (
        f"The proportion is {_fmt(p1)} in group 1 ({x1}/{n1}) and {_fmt(p2)} in group 2 ({x2}/{n2}): "
        f"a difference of {_fmt(p1 - p2)}, {level:.0%} CI {_fmt_ci(ci)}. "
        + _significance(p, alpha, "this difference", "equal proportions") + f" {_d_magnitude_text(es)}")
    if not ok:
        r.interpretation += f" Expected counts are small: Fisher's exact test gives p = {r.details['fisher_exact_p']:.3g}."
    return _finish(r)


