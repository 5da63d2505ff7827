"""Confidence intervals: bootstrap, means, proportions, differences."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from datamill.analytics.stats import resampling
from datamill.analytics.stats.inputs import _check_level, _mean_var, _samples, lag1_autocorrelation
from datamill.analytics.stats.results import (
    ConfidenceInterval,
    InsufficientDataError,
    StatsInputError,
    _fmt,
    _fmt_ci,
)
from datamill.analytics.stats.ttests import _ttest_2
from datamill.analytics.stats.ztests import _count, _newcombe, _wilson

# -- confidence intervals -------------------------------------------------------------------

_STATS = {"mean": "mean", "median": "median", "std": "std", "sd": "std", "var": "var"}


def _stat_fn(statistic: str | Callable[..., Any]) -> tuple[str, Callable[..., Any]]:
    import numpy as np

    if callable(statistic):
        return getattr(statistic, "__name__", "statistic"), statistic
    key = _STATS.get(statistic)
    if key is None:
        raise StatsInputError(f"statistic must be one of {', '.join(_STATS)} or a function "
                              f"taking (array, axis=...), got {statistic!r}")
    if key in ("std", "var"):
        f = getattr(np, key)
        return key, lambda a, axis: f(a, axis=axis, ddof=1)
    return key, getattr(np, key)


def _resample(x: Any, fn: Callable[..., Any], n_resamples: int, rng: Any,
              key: str | None = None) -> Any:
    """``n_resamples`` bootstrap replicates of ``fn``: every index drawn (in chunks) up to
    50M draws, blockwise beyond for the built-in statistics (see ``resampling``)."""
    return resampling.resample(x, fn, n_resamples, rng, key)


def _percentile_ci(boot: Any, level: float) -> tuple[float, float]:
    import numpy as np

    lo, hi = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    return float(lo), float(hi)


def _check_resamples(n_resamples: int) -> None:
    if not isinstance(n_resamples, int) or n_resamples < 100:
        raise StatsInputError(f"n_resamples must be an integer ≥ 100, got {n_resamples!r}")


def bootstrap_ci(data: Any, statistic: str | Callable[..., Any] = "mean", *, level: float = 0.95,
                 n_resamples: int = 10_000, seed: int | None = None) -> ConfidenceInterval:
    """Percentile bootstrap CI for a statistic of one sample (``mean``, ``median``, ``std``,
    ``var`` or a function ``f(array, axis=...)``), vectorised with numpy; ``seed`` makes it
    reproducible."""
    import numpy as np

    _check_level(level)
    _check_resamples(n_resamples)
    (s,) = _samples([data], None, "bootstrap")
    if s.n < 2:
        raise InsufficientDataError(f"a bootstrap needs at least 2 values, got {s.n}")
    name, fn = _stat_fn(statistic)
    est = float(fn(s.values[None, :], axis=1)[0])
    boot = _resample(s.values, fn, n_resamples, np.random.default_rng(seed), name)
    lo, hi = _percentile_ci(boot, level)
    ci = ConfidenceInterval(name, est, lo, hi, level, f"bootstrap (percentile, {n_resamples} resamples)",
                            {s.label: s.n}, {s.label: s.dropped},
                            details={"bootstrap_se": float(boot.std(ddof=1)), "seed": seed,
                                     "resampling": resampling.method_of(s.n, n_resamples, name)})
    if s.values.max() == s.values.min():
        ci.warnings.append("the data are constant: every resample gives the same value")
    ci.interpretation = (f"The {name} is {_fmt(est)}; resampling the {s.n} values {n_resamples} times "
                         f"puts it between {_fmt(lo)} and {_fmt(hi)} with {level:.0%} confidence.")
    return ci


def ci_mean(x: Any, level: float = 0.95, *, method: str = "t", n_resamples: int = 10_000,
            seed: int | None = None) -> ConfidenceInterval:
    """CI for a mean: Student t (``method="t"``) or percentile bootstrap (``"bootstrap"``).

    ``details`` holds sd, se and the lag-1 autocorrelation (NIST definition)."""
    import numpy as np
    from scipy import stats as ss

    _check_level(level)
    if method not in ("t", "bootstrap"):
        raise StatsInputError(f"method must be 't' or 'bootstrap', got {method!r}")
    (s,) = _samples([x], None, "confidence interval for a mean")
    if s.n < 2:
        raise InsufficientDataError(f"a confidence interval for a mean needs at least 2 values, got {s.n}")
    m, var = _mean_var(s.values)
    sd = math.sqrt(var)
    se = sd / math.sqrt(s.n)
    details: dict[str, Any] = {"sd": sd, "se": se}
    warnings = []
    if sd == 0:
        warnings.append(f"all values equal {_fmt(m)}: zero variance, the interval has zero width")
    else:
        details["lag1_autocorrelation"] = lag1_autocorrelation(s.values)
    if method == "t":
        q = float(ss.t.ppf(0.5 + level / 2, s.n - 1))
        lo, hi = m - q * se, m + q * se
        desc = "t"
    else:
        _check_resamples(n_resamples)
        boot = _resample(s.values, np.mean, n_resamples, np.random.default_rng(seed), "mean")
        lo, hi = _percentile_ci(boot, level)
        desc = f"bootstrap (percentile, {n_resamples} resamples)"
        details["seed"] = seed
    ci = ConfidenceInterval("mean", m, lo, hi, level, desc, {s.label: s.n}, {s.label: s.dropped},
                            warnings, details=details)
    ci.interpretation = (f"The mean is {_fmt(m)} (sd {_fmt(sd)}, n = {s.n}); the {level:.0%} "
                         f"confidence interval is {_fmt_ci(ci.ci)}.")
    if s.dropped:
        ci.warnings.append(f"{s.dropped} missing value(s) dropped")
    return ci


def ci_proportion(count: Any, nobs: int | None = None, level: float = 0.95, *,
                  method: str = "wilson", n_resamples: int = 10_000,
                  seed: int | None = None) -> ConfidenceInterval:
    """CI for a proportion: ``wilson`` (default), ``wald``, ``exact`` (Clopper-Pearson) or
    ``bootstrap``. ``count`` is successes out of ``nobs`` or an array of 0/1 outcomes."""
    import numpy as np
    from scipy import stats as ss

    _check_level(level)
    x, n, dropped = _count(count, nobs, "proportion")
    p = x / n
    warnings = []
    if method == "wilson":
        lo, hi = _wilson(x, n, level)
    elif method == "wald":
        z = float(ss.norm.ppf(0.5 + level / 2))
        half = z * math.sqrt(p * (1 - p) / n)
        lo, hi = max(0.0, p - half), min(1.0, p + half)
        if x in (0, n) or min(x, n - x) < 5:
            warnings.append("the Wald interval is unreliable with few successes or failures; use wilson")
    elif method == "exact":
        a = 1 - level
        lo = 0.0 if x == 0 else float(ss.beta.ppf(a / 2, x, n - x + 1))
        hi = 1.0 if x == n else float(ss.beta.ppf(1 - a / 2, x + 1, n - x))
    elif method == "bootstrap":
        _check_resamples(n_resamples)
        boot = np.random.default_rng(seed).binomial(n, p, size=n_resamples) / n
        lo, hi = _percentile_ci(boot, level)
        if x in (0, n):
            warnings.append("all outcomes are the same: the bootstrap interval has zero width; use wilson")
    else:
        raise StatsInputError(f"method must be wilson, wald, exact or bootstrap, got {method!r}")
    ci = ConfidenceInterval("proportion", p, lo, hi, level, method, {"n": n}, {"n": dropped}, warnings,
                            details={"successes": x})
    ci.interpretation = (f"{x} of {n} ({_fmt(p)}) are successes; the {level:.0%} {method} "
                         f"confidence interval for the proportion is {_fmt_ci(ci.ci)}.")
    return ci


def ci_diff_means(a: Any, b: Any, level: float = 0.95, *, equal_var: bool = False,
                  method: str = "t", n_resamples: int = 10_000,
                  seed: int | None = None) -> ConfidenceInterval:
    """CI for ``mean(a) - mean(b)``: Welch t (default), Student (``equal_var``) or bootstrap."""
    import numpy as np

    _check_level(level)
    sa, sb = _samples([a, b], None, "confidence interval for a difference of means")
    if method == "t":
        res = _ttest_2(sa, sb, equal_var, "two-sided", level, 0.05)
        est = res.estimate
        lo, hi = res.ci
        desc = "Student t" if equal_var else "Welch t"
        details = {"se": res.details["se"], "dof": res.dof}
    elif method == "bootstrap":
        _check_resamples(n_resamples)
        if sa.n < 2 or sb.n < 2:
            raise InsufficientDataError("a bootstrap needs at least 2 values in each group")
        rng = np.random.default_rng(seed)
        boot = (_resample(sa.values, np.mean, n_resamples, rng, "mean")
                - _resample(sb.values, np.mean, n_resamples, rng, "mean"))
        est = float(sa.values.mean() - sb.values.mean())
        lo, hi = _percentile_ci(boot, level)
        desc = f"bootstrap (percentile, {n_resamples} resamples)"
        details = {"bootstrap_se": float(boot.std(ddof=1)), "seed": seed}
    else:
        raise StatsInputError(f"method must be 't' or 'bootstrap', got {method!r}")
    ci = ConfidenceInterval(f"mean({sa.label}) - mean({sb.label})", est, lo, hi, level, desc,
                            {sa.label: sa.n, sb.label: sb.n}, {sa.label: sa.dropped, sb.label: sb.dropped},
                            details=details)
    ci.interpretation = (f"The mean of {sa.label} minus the mean of {sb.label} is {_fmt(est)}, "
                         f"{level:.0%} CI {_fmt_ci(ci.ci)}"
                         + ("; the interval excludes 0." if lo > 0 or hi < 0 else "; the interval includes 0."))
    return ci


def ci_diff_proportions(count1: Any, nobs1: int | None, count2: Any, nobs2: int | None,
                        level: float = 0.95, *, method: str = "newcombe", n_resamples: int = 10_000,
                        seed: int | None = None) -> ConfidenceInterval:
    """CI for ``p1 - p2``: ``newcombe`` (hybrid Wilson score, default), ``wald`` or ``bootstrap``."""
    import numpy as np
    from scipy import stats as ss

    _check_level(level)
    x1, n1, d1 = _count(count1, nobs1, "group 1")
    x2, n2, d2 = _count(count2, nobs2, "group 2")
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    if method == "newcombe":
        lo, hi = _newcombe(x1, n1, x2, n2, level)
    elif method == "wald":
        z = float(ss.norm.ppf(0.5 + level / 2))
        half = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        lo, hi = max(-1.0, d - half), min(1.0, d + half)
    elif method == "bootstrap":
        _check_resamples(n_resamples)
        rng = np.random.default_rng(seed)
        boot = rng.binomial(n1, p1, n_resamples) / n1 - rng.binomial(n2, p2, n_resamples) / n2
        lo, hi = _percentile_ci(boot, level)
    else:
        raise StatsInputError(f"method must be newcombe, wald or bootstrap, got {method!r}")
    ci = ConfidenceInterval("p1 - p2", d, lo, hi, level, method, {"group 1": n1, "group 2": n2},
                            {"group 1": d1, "group 2": d2}, details={"p1": p1, "p2": p2})
    ci.interpretation = (f"The proportions are {_fmt(p1)} ({x1}/{n1}) and {_fmt(p2)} ({x2}/{n2}); "
                         f"their difference is {_fmt(d)}, {level:.0%} CI {_fmt_ci(ci.ci)}.")
    return ci


