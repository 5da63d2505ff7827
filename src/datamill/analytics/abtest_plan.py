"""A/B test planning: the sample size per arm for a minimum detectable effect, and the
power of a given size. One convention for both metrics (R's: the power counts the tail of
the effect only, see docs/analytics-abtest-explain.md). Re-exported by ``abtest``."""

from __future__ import annotations

import math

from datamill.errors import UsageError


def _z(alpha: float, power_: float) -> tuple[float, float]:
    from scipy import stats as st

    if not 0 < alpha < 1 or not 0 < power_ < 1:
        raise UsageError(f"alpha and power must be between 0 and 1 (got {alpha}, {power_})")
    return float(st.norm.ppf(1 - alpha / 2)), float(st.norm.ppf(power_))


def _target(baseline_rate: float, mde: float, relative: bool, metric: str,
            sd: float | None) -> tuple[float, float]:
    if metric not in ("conversion", "mean"):
        raise UsageError(f"unknown metric {metric!r}: use 'conversion' or 'mean'")
    delta = mde * baseline_rate if relative else mde
    if delta == 0:
        raise UsageError("the minimum detectable effect (mde) must not be 0")
    if metric == "conversion":
        p2 = baseline_rate + delta
        if not 0 < baseline_rate < 1 or not 0 < p2 < 1:
            raise UsageError(f"conversion rates must lie in (0, 1): baseline {baseline_rate}, "
                             f"with the effect {p2}")
    elif sd is None or sd <= 0:
        raise UsageError("metric 'mean' needs the standard deviation of the outcome (sd=...)")
    return delta, baseline_rate + delta


def sample_size(*, baseline_rate: float, mde: float, alpha: float = 0.05, power: float = 0.8,
                ratio: float = 1.0, metric: str = "conversion", sd: float | None = None,
                relative: bool = True, method: str = "pooled") -> int:
    """Rows needed in the control arm (the treatment needs ``ceil(n * ratio)``) for a two-sided
    test at ``alpha`` to detect ``mde`` with probability ``power``.

    ``mde`` is relative to the baseline (0.1 = a 10% lift) unless ``relative=False``.
    Conversions: ``method="pooled"`` is the textbook formula of R's ``power.prop.test``
    (variance under H0 at the average rate); ``"baseline"`` is Evan Miller's calculator (H0
    variance at the baseline rate); ``"arcsine"`` is Cohen's h as in statsmodels'
    ``NormalIndPower`` and G*Power. Means use the noncentral t power of R's ``power.t.test``.
    One power convention for both: the probability of rejecting in the direction of the
    effect (R's default, ``strict = FALSE``); the opposite tail adds under 1e-3 at any useful
    power. :func:`sample_size_unrounded` gives the n before rounding up.
    """
    return math.ceil(sample_size_unrounded(
        baseline_rate=baseline_rate, mde=mde, alpha=alpha, power=power, ratio=ratio,
        metric=metric, sd=sd, relative=relative, method=method) - 1e-9)


def sample_size_unrounded(*, baseline_rate: float, mde: float, alpha: float = 0.05,
                          power: float = 0.8, ratio: float = 1.0, metric: str = "conversion",
                          sd: float | None = None, relative: bool = True,
                          method: str = "pooled") -> float:
    """The control-arm n of :func:`sample_size` before rounding up (R's ``power.*.test`` print
    this number; ``sample_size`` is its ceiling)."""
    if ratio <= 0:
        raise UsageError(f"ratio must be positive, got {ratio}")
    delta, p2 = _target(baseline_rate, mde, relative, metric, sd)
    if metric == "mean":
        from scipy.optimize import brentq

        _z(alpha, power)
        d = abs(delta) / sd

        def gap(n: float) -> float:
            return _t_power(d, n, ratio, alpha) - power

        hi = 4.0
        while gap(hi) < 0:
            hi *= 2
        lo = 2 / (1 + ratio) + 1e-6  # both arms above one row: df > 0
        hi = max(hi, 2 * lo)
        return float(brentq(gap, lo, hi, xtol=1e-10))
    za, zb = _z(alpha, power)
    p1 = baseline_rate
    if method == "arcsine":
        h = abs(2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1)))
        n = (za + zb) ** 2 * (1 + 1 / ratio) / h**2
    elif method in ("pooled", "baseline"):
        pbar = (p1 + ratio * p2) / (1 + ratio) if method == "pooled" else p1
        sd0 = math.sqrt(pbar * (1 - pbar) * (1 + 1 / ratio))
        sd1 = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / ratio)
        n = (za * sd0 + zb * sd1) ** 2 / delta**2
    else:
        raise UsageError(f"unknown method {method!r}: use 'pooled', 'baseline' or 'arcsine'")
    return float(n)


def _t_power(d: float, n1: float, ratio: float, alpha: float) -> float:
    """Power of the two-sided two-sample t-test at standardised effect ``d``, counting the
    rejection tail in the direction of the effect only (R's ``power.t.test`` default,
    ``strict = FALSE``; the same convention as the proportion formulas). The noncentral t
    survival function stays finite far in the tail (its lower-tail CDF underflows to NaN);
    a normal approximation stands in if it ever does not."""
    from scipy import stats as st

    n2 = n1 * ratio
    df = n1 + n2 - 2
    nc = d * math.sqrt(n1 * n2 / (n1 + n2))
    crit = float(st.t.ppf(1 - alpha / 2, df))
    p = float(st.nct.sf(crit, df, nc))
    if not math.isfinite(p):
        p = float(st.norm.sf(crit - nc))
    return min(1.0, max(0.0, p))


def power(*, n_per_variant: int, baseline_rate: float, mde: float, alpha: float = 0.05,
          ratio: float = 1.0, metric: str = "conversion", sd: float | None = None,
          relative: bool = True, method: str = "pooled") -> float:
    """Probability that a two-sided test at ``alpha`` detects ``mde`` with ``n_per_variant``
    rows in the control arm (and ``n * ratio`` in the treatment); the inverse of
    :func:`sample_size`, same formulas."""
    from scipy import stats as st

    if n_per_variant <= 1 or ratio <= 0:
        raise UsageError("n_per_variant must be above 1 and ratio positive")
    delta, p2 = _target(baseline_rate, mde, relative, metric, sd)
    if metric == "mean":
        _z(alpha, 0.5)
        return _t_power(abs(delta) / sd, n_per_variant, ratio, alpha)
    za, _ = _z(alpha, 0.5)
    p1, n = baseline_rate, n_per_variant
    if method == "arcsine":
        h = abs(2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1)))
        return float(st.norm.cdf(h * math.sqrt(n / (1 + 1 / ratio)) - za))
    if method not in ("pooled", "baseline"):
        raise UsageError(f"unknown method {method!r}: use 'pooled', 'baseline' or 'arcsine'")
    pbar = (p1 + ratio * p2) / (1 + ratio) if method == "pooled" else p1
    sd0 = math.sqrt(pbar * (1 - pbar) * (1 + 1 / ratio))
    sd1 = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / ratio)
    return float(st.norm.cdf((abs(delta) * math.sqrt(n) - za * sd0) / sd1))
