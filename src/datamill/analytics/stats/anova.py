"""One-way ANOVA (Welch's too) and Tukey HSD."""

from __future__ import annotations

import math
from typing import Any

from datamill.analytics.stats.assumptions import (
    _add,
    _finish,
    _levene,
    _magnitude,
    _normality,
    _significance,
)
from datamill.analytics.stats.inputs import (
    _check_level,
    _mean_var,
    _note_unassigned,
    _Sample,
    _samples,
)
from datamill.analytics.stats.results import (
    Comparison,
    EffectSize,
    InsufficientDataError,
    TestResult,
    ZeroVarianceError,
    _fmt,
)

# -- ANOVA and Tukey HSD --------------------------------------------------------------------


def _anova_parts(samples: list[_Sample]) -> dict[str, float]:
    """Sums of squares computed on data shifted by the overall median, two-pass (stable)."""
    import numpy as np

    allv = np.concatenate([s.values for s in samples])
    shift = float(np.median(allv))
    ys = [s.values - shift for s in samples]
    means = [float(y.mean()) for y in ys]
    # second pass: correct each mean by the mean residual (compensated mean)
    means = [m + float((y - m).mean()) for m, y in zip(means, ys, strict=True)]
    n = sum(y.size for y in ys)
    grand = float(sum(y.sum() for y in ys)) / n
    grand += float(sum((y - grand).sum() for y in ys)) / n
    ssb = float(sum(y.size * (m - grand) ** 2 for y, m in zip(ys, means, strict=True)))
    ssw = float(sum(((y - m) ** 2).sum() for y, m in zip(ys, means, strict=True)))
    return {"ssb": ssb, "ssw": ssw, "n": n, "k": len(ys), "shift": shift,
            "means": [m + shift for m in means]}


def anova(*samples: Any, by: str | None = None, posthoc: bool = True, alpha: float = 0.05,
          level: float = 0.95) -> TestResult:
    """One-way ANOVA: ``anova(a, b, c)``, ``anova({"x": a, "y": b})`` or ``anova(df, "value", by="group")``.

    ``details`` holds the ANOVA table (``between`` / ``within`` df, SS, MS), R², the residual
    sd, omega squared and Welch's ANOVA; with ``posthoc`` and 3+ groups, ``posthoc`` holds the
    Tukey HSD comparisons. Effect size: eta squared.
    """
    from scipy import stats as ss

    _check_level(level)
    groups = _samples(samples, by, "one-way ANOVA")
    k = len(groups)
    if k < 2:
        raise InsufficientDataError(f"ANOVA needs at least 2 groups, got {k}")
    parts = _anova_parts(groups)
    n = parts["n"]
    dfb, dfw = k - 1, n - k
    if dfw < 1:
        raise InsufficientDataError(f"ANOVA needs more observations than groups ({n} values in {k} groups)")
    ssb, ssw = parts["ssb"], parts["ssw"]
    if ssw == 0:
        if ssb == 0:
            raise ZeroVarianceError("ANOVA: all values are equal, so F is undefined")
        raise ZeroVarianceError("ANOVA: every group is constant (zero within-group variance), so F "
                                "is infinite/undefined; the groups differ without any noise")
    msb, msw = ssb / dfb, ssw / dfw
    f = msb / msw
    p = float(ss.f.sf(f, dfb, dfw))
    sst = ssb + ssw
    eta2 = ssb / sst
    omega2 = (ssb - dfb * msw) / (sst + msw)
    es = EffectSize("eta squared", eta2, _magnitude("eta2", eta2))
    labels = [g.label for g in groups]
    r = TestResult("One-way ANOVA", f, p, (float(dfb), float(dfw)), None, level, None, "", es,
                   {g.label: g.n for g in groups}, {g.label: g.dropped for g in groups}, alpha=alpha,
                   details={
                       "between": {"df": dfb, "ss": ssb, "ms": msb},
                       "within": {"df": dfw, "ss": ssw, "ms": msw},
                       "total": {"df": n - 1, "ss": sst}, "r_squared": eta2,
                       "residual_sd": math.sqrt(msw), "omega_squared": omega2,
                       "means": dict(zip(labels, parts["means"], strict=True)),
                   })
    for g in groups:
        _add(r, _normality(g))
    lev = _levene(groups)
    if lev:
        r.assumptions.append(lev)
    welch = _welch_anova(groups)
    if welch:
        r.details["welch_anova"] = welch
    order = sorted(zip(parts["means"], labels, strict=True))
    r.interpretation = (
        f"Group means range from {_fmt(order[0][0])} ({order[0][1]}) to {_fmt(order[-1][0])} "
        f"({order[-1][1]}) across {k} groups (n = {n}); F({dfb}, {dfw}) = {_fmt(f)}. "
        + _significance(p, alpha, "the difference between group means", "equal means")
        + f" Group membership explains {eta2:.1%} of the variance; the effect is {es.magnitude} "
        f"({es}, omega squared = {_fmt(omega2, 3)}).")
    if lev and not lev.passed and welch:
        r.interpretation += f" Welch's ANOVA, which does not assume equal variances, gives p = {welch['p_value']:.3g}."
    if posthoc and k >= 3:
        r.posthoc = _tukey(groups, parts, msw, dfw, level, alpha)
        sig = [f"{c.group1} vs {c.group2}" for c in r.posthoc if c.reject]
        r.interpretation += (f" Tukey HSD finds {len(sig)} of {len(r.posthoc)} pairs different"
                             + (f" ({', '.join(sig)})." if sig else "."))
    return _note_unassigned(_finish(r, "the Kruskal-Wallis test", min(g.n for g in groups)), groups)


def _welch_anova(groups: list[_Sample]) -> dict[str, float] | None:
    from scipy import stats as ss

    k = len(groups)
    if any(g.n < 2 for g in groups):
        return None
    mv = [_mean_var(g.values) for g in groups]
    if any(v == 0 for _, v in mv):
        return None
    w = [g.n / v for g, (_, v) in zip(groups, mv, strict=True)]
    sw = sum(w)
    mw = sum(wi * m for wi, (m, _) in zip(w, mv, strict=True)) / sw
    a = sum(wi * (m - mw) ** 2 for wi, (m, _) in zip(w, mv, strict=True)) / (k - 1)
    lam = sum((1 - wi / sw) ** 2 / (g.n - 1) for wi, g in zip(w, groups, strict=True))
    b = 1 + 2 * (k - 2) / (k * k - 1) * lam
    f = a / b
    df2 = (k * k - 1) / (3 * lam)
    return {"statistic": f, "df1": float(k - 1), "df2": df2, "p_value": float(ss.f.sf(f, k - 1, df2))}


def _tukey(groups: list[_Sample], parts: dict[str, Any], msw: float, dfw: float, level: float,
           alpha: float) -> list[Comparison]:
    from scipy import stats as ss

    k = len(groups)
    means = parts["means"]
    qcrit = float(ss.studentized_range.ppf(level, k, dfw))
    out = []
    for i in range(k):
        for j in range(i + 1, k):
            diff = means[i] - means[j]
            se = math.sqrt(msw / 2 * (1 / groups[i].n + 1 / groups[j].n))
            q = abs(diff) / se
            p = float(min(1.0, max(0.0, ss.studentized_range.sf(q, k, dfw))))
            out.append(Comparison(groups[i].label, groups[j].label, diff,
                                  (diff - qcrit * se, diff + qcrit * se), p, p < alpha, q))
    return out


def tukey_hsd(*samples: Any, by: str | None = None, level: float = 0.95,
              alpha: float = 0.05) -> TestResult:
    """Tukey's honestly significant difference (Tukey-Kramer for unequal sizes).

    ``posthoc`` holds one :class:`Comparison` per pair (``diff = mean(group1) - mean(group2)``,
    simultaneous CI, adjusted p); ``statistic`` is the largest studentized range q and
    ``p_value`` its adjusted p-value.
    """
    _check_level(level)
    groups = _samples(samples, by, "Tukey HSD")
    if len(groups) < 2:
        raise InsufficientDataError(f"Tukey HSD needs at least 2 groups, got {len(groups)}")
    parts = _anova_parts(groups)
    dfw = parts["n"] - parts["k"]
    if dfw < 1:
        raise InsufficientDataError("Tukey HSD needs more observations than groups")
    if parts["ssw"] == 0:
        raise ZeroVarianceError("Tukey HSD: zero within-group variance, the q statistics are undefined")
    msw = parts["ssw"] / dfw
    comps = _tukey(groups, parts, msw, dfw, level, alpha)
    top = max(comps, key=lambda c: c.statistic)
    r = TestResult("Tukey HSD", top.statistic, top.p_value, float(dfw), None, level, None, "", None,
                   {g.label: g.n for g in groups}, {g.label: g.dropped for g in groups}, alpha=alpha,
                   details={"mse": msw, "means": dict(zip([g.label for g in groups], parts["means"], strict=True))},
                   posthoc=comps)
    sig = [f"{c.group1} vs {c.group2} (diff {_fmt(c.diff)}, p = {c.p_value:.3g})" for c in comps if c.reject]
    r.interpretation = (f"Of {len(comps)} pairwise comparisons, {len(sig)} are significant at "
                        f"family-wise alpha {alpha:g}" + (f": {'; '.join(sig)}." if sig else "."))
    for g in groups:
        _add(r, _normality(g))
    lev = _levene(groups)
    if lev:
        r.assumptions.append(lev)
    return _note_unassigned(_finish(r, "Dunn's test after Kruskal-Wallis", min(g.n for g in groups)),
                            groups)


