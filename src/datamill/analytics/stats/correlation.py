"""Pearson / Spearman / Kendall correlation tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    _column,
    _is_table,
    _p_from,
    _Sample,
)
from datamill.analytics.stats.results import (
    EffectSize,
    InsufficientDataError,
    StatsInputError,
    TestResult,
    ZeroVarianceError,
    _fmt,
    _fmt_ci,
)
from datamill.analytics.stats.ttests import _numeric_keep

# -- correlation ----------------------------------------------------------------------------


def correlation(x: Any, y: Any = None, z: Any = None, *, method: str = "pearson",
                alternative: str = "two-sided", level: float = 0.95,
                alpha: float = 0.05) -> TestResult:
    """Correlation test: ``correlation(x, y)`` or ``correlation(df, "x", "y")``.

    ``method`` is pearson (t-test, Fisher-z CI), spearman or kendall (scipy p-values; Fisher-z
    CI with the Fieller-Hartley-Pearson variances 1.06/(n-3) and 0.437/(n-4)).
    """
    from scipy import stats as ss

    _check_alt(alternative)
    _check_level(level)
    method = method.lower()
    if method not in ("pearson", "spearman", "kendall"):
        raise StatsInputError(f"method must be pearson, spearman or kendall, got {method!r}")
    args = [x, y] if z is None else [x, y, z]
    xs, ys, la, lb, dropped = _pairs(args, f"{method} correlation")
    n = xs.size
    if n < 3:
        raise InsufficientDataError(f"a correlation test needs at least 3 complete pairs, got {n}")
    for lab, v in ((la, xs), (lb, ys)):
        if v.max() == v.min():
            raise ZeroVarianceError(f"{method} correlation: {lab} is constant ({_fmt(float(v[0]))}), "
                                    "so the correlation is undefined")
    dof = None
    if method == "pearson":
        xm, ym = xs - xs.mean(), ys - ys.mean()
        rr = float(xm @ ym / math.sqrt((xm @ xm) * (ym @ ym)))
        rr = max(-1.0, min(1.0, rr))
        dof = n - 2
        if abs(rr) == 1:
            stat, p = math.copysign(math.inf, rr), 0.0 if alternative == "two-sided" or \
                (alternative == "greater") == (rr > 0) else 1.0
        else:
            stat = rr * math.sqrt(dof / (1 - rr * rr))
            p = _p_from(ss.t(dof), stat, alternative)
        var = 1.0
        name, es_name = "Pearson correlation test", "Pearson r"
    elif method == "spearman":
        res = ss.spearmanr(xs, ys, alternative=alternative)
        rr, p = float(res.statistic), float(res.pvalue)
        stat, var = rr, 1.06
        name, es_name = "Spearman rank correlation test", "Spearman rho"
    else:
        res = ss.kendalltau(xs, ys, alternative=alternative)
        rr, p = float(res.statistic), float(res.pvalue)
        stat, var = rr, 0.437
        name, es_name = "Kendall rank correlation test", "Kendall tau"
    ci = None
    k = 3 if method != "kendall" else 4
    if n > k and abs(rr) < 1:
        zr = math.atanh(rr)
        se = math.sqrt(var / (n - k))
        lo, hi = _ci_from(ss.norm(), zr, se, level, alternative)
        ci = (math.tanh(lo) if math.isfinite(lo) else -1.0, math.tanh(hi) if math.isfinite(hi) else 1.0)
    es = EffectSize(es_name, rr, _magnitude("r", rr))
    r = TestResult(name, stat, p, dof, ci, level, rr, es_name, es, {"pairs": n},
                   {"pairs": dropped}, alternative=alternative, alpha=alpha)
    if method == "pearson":
        _add(r, _normality(_Sample(la, xs)))
        _add(r, _normality(_Sample(lb, ys)))
    direction = "positive" if rr > 0 else "negative" if rr < 0 else "no"
    r.interpretation = (
        f"{la} and {lb} show a {es.magnitude} {direction} association ({es}"
        + (f", {level:.0%} CI {_fmt_ci(ci)}" if ci else "") + f", {n} pairs). "
        + _significance(p, alpha, "the correlation", "no correlation"))
    return _finish(r, "Spearman's rank correlation", n)


def _pairs(args: Sequence[Any], purpose: str) -> tuple[Any, Any, str, str, int]:
    import numpy as np

    if _is_table(args[0]):
        from datamill.analytics.source import to_pandas

        df = to_pandas(args[0])
        if len(args) != 3:
            raise StatsInputError(f"a {purpose} on a table needs two column names")
        a, b = _column(df, args[1]), _column(df, args[2])
        la, lb = str(args[1]), str(args[2])
    else:
        if len(args) != 2 or args[1] is None:
            raise StatsInputError(f"a {purpose} needs two samples of the same length")
        a, b = args[0], args[1]
        names = [getattr(v, "name", None) for v in (a, b)]
        la, lb = (str(names[0]), str(names[1])) if all(isinstance(n, str) and n for n in names) \
            and names[0] != names[1] else ("x", "y")
    va, _ = _numeric_keep(_series(a), la, purpose)
    vb, _ = _numeric_keep(_series(b), lb, purpose)
    if va.size != vb.size:
        raise StatsInputError(f"{purpose}: {la} has {va.size} values and {lb} has {vb.size}; "
                              "they must be paired (same length)")
    ok = np.isfinite(va) & np.isfinite(vb)
    return va[ok], vb[ok], la, lb, int((~ok).sum())


def _series(x: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(x, pd.Series):
        return x.reset_index(drop=True)
    if hasattr(x, "to_pandas"):
        return x.to_pandas().reset_index(drop=True)
    return pd.Series(np.asarray(x, dtype=object))


