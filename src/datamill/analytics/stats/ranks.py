"""Rank tests: Mann-Whitney U, Wilcoxon signed-rank, Kruskal-Wallis."""

from __future__ import annotations

import math
from typing import Any

from datamill.analytics.stats.assumptions import _finish, _magnitude, _significance
from datamill.analytics.stats.inputs import _check_alt, _is_table, _note_unassigned, _samples
from datamill.analytics.stats.results import (
    EffectSize,
    InsufficientDataError,
    StatsInputError,
    TestResult,
    ZeroVarianceError,
    _fmt,
)
from datamill.analytics.stats.ttests import _d_magnitude_text, _paired

# -- rank tests -----------------------------------------------------------------------------


def mannwhitney(a: Any, b: Any = None, *, by: str | None = None, alternative: str = "two-sided",
                alpha: float = 0.05) -> TestResult:
    """Mann-Whitney U test (Wilcoxon rank-sum). ``statistic`` is U for the first group.

    Effect size: rank-biserial correlation ``2U/(n1 n2) - 1`` (positive when the first group
    tends to be larger); the estimate is the Hodges-Lehmann shift (median of pairwise differences).
    """
    import numpy as np
    from scipy import stats as ss

    _check_alt(alternative)
    args = [a, b] if not _is_table(a) else [a, b]
    groups = _samples([x for x in args if x is not None], by, "Mann-Whitney U test")
    if len(groups) != 2:
        raise StatsInputError(f"Mann-Whitney compares two groups, got {len(groups)}; use kruskal()")
    sa, sb = groups
    allv = np.concatenate([sa.values, sb.values])
    if allv.max() == allv.min():
        raise ZeroVarianceError("Mann-Whitney U: all values are identical in both groups, so the "
                                "ranks carry no information and the test is undefined")
    res = ss.mannwhitneyu(sa.values, sb.values, alternative=alternative, method="auto")
    u = float(res.statistic)
    p = float(res.pvalue)
    n1, n2 = sa.n, sb.n
    rb = 2 * u / (n1 * n2) - 1
    es = EffectSize("rank-biserial r", rb, _magnitude("r", rb))
    hl = None
    if n1 * n2 <= 4_000_000:
        hl = float(np.median(np.subtract.outer(sa.values, sb.values)))
    r = TestResult("Mann-Whitney U test", u, p, None, None, 0.95, hl,
                   f"Hodges-Lehmann shift {sa.label} - {sb.label}" if hl is not None else "", es,
                   {sa.label: n1, sb.label: n2}, {sa.label: sa.dropped, sb.label: sb.dropped},
                   alternative=alternative, alpha=alpha,
                   details={"prob_superiority": u / (n1 * n2),
                            "medians": {sa.label: float(np.median(sa.values)),
                                        sb.label: float(np.median(sb.values))}})
    ps = u / (n1 * n2)
    r.interpretation = (
        f"A random value from {sa.label} exceeds one from {sb.label} with probability {_fmt(ps, 3)} "
        f"(medians {_fmt(r.details['medians'][sa.label])} and {_fmt(r.details['medians'][sb.label])}). "
        + _significance(p, alpha, "the difference in distributions", "the groups having the same distribution")
        + f" {_d_magnitude_text(es)}")
    return _note_unassigned(_finish(r), groups)


def wilcoxon(a: Any, b: Any = None, c: Any = None, *, mu: float = 0.0,
             alternative: str = "two-sided", alpha: float = 0.05) -> TestResult:
    """Wilcoxon signed-rank test on paired samples (``a - b``) or one sample against ``mu``.

    ``statistic`` is W+ (the sum of the ranks of positive differences, R's V). Zero
    differences are dropped (Wilcoxon's method). Effect size: matched-pairs rank-biserial r.
    """
    import numpy as np
    from scipy import stats as ss

    _check_alt(alternative)
    if _is_table(a) and c is None:
        (s,) = _samples([a, b], None, "Wilcoxon signed-rank test")
        d, label = s.values - mu, s.label
        dropped = {s.label: s.dropped}
    elif b is None:
        (s,) = _samples([a], None, "Wilcoxon signed-rank test")
        d, label, dropped = s.values - mu, s.label, {s.label: s.dropped}
    else:
        ds, la, lb = _paired([a, b] if c is None else [a, b, c], "Wilcoxon signed-rank test")
        d, label, dropped = ds.values - mu, ds.label, {"pairs": ds.dropped}
    nz = d[d != 0]
    zeros = int(d.size - nz.size)
    if nz.size == 0:
        raise ZeroVarianceError(f"Wilcoxon signed-rank: every difference ({label}) is exactly "
                                f"{_fmt(mu)}, so the test is undefined")
    ranks = ss.rankdata(np.abs(nz))
    wplus = float(ranks[nz > 0].sum())
    wminus = float(ranks[nz < 0].sum())
    p, method = _wilcoxon_p(nz, wplus, ranks, zeros, alternative)
    rb = (wplus - wminus) / (wplus + wminus)
    es = EffectSize("matched-pairs rank-biserial r", rb, _magnitude("r", rb))
    med = float(np.median(d))
    r = TestResult("Wilcoxon signed-rank test", wplus, p, None, None, 0.95, med + mu,
                   f"median of {label}" if b is not None else f"median of {label}", es,
                   {"n": int(d.size), "nonzero": int(nz.size)}, dropped, alternative=alternative,
                   alpha=alpha, details={"w_plus": wplus, "w_minus": wminus, "zeros": zeros,
                                         "method": method})
    if zeros:
        r.warnings.append(f"{zeros} zero difference(s) dropped before ranking")
    r.interpretation = (
        f"The median of {label} is {_fmt(med + mu)} over {d.size} values (W+ = {_fmt(wplus)}, "
        f"W- = {_fmt(wminus)}). "
        + _significance(p, alpha, f"the shift away from {_fmt(mu)}", f"a median difference of {_fmt(mu)}")
        + f" {_d_magnitude_text(es)}")
    return _finish(r)


def _wilcoxon_p(nz: Any, wplus: float, ranks: Any, zeros: int, alternative: str) -> tuple[float, str]:
    """R's ``wilcox.test`` defaults (``exact = NULL, correct = TRUE``): the exact distribution
    when fewer than 50 non-zero differences and no ties or zeros; otherwise the normal
    approximation with the tie-corrected variance and a continuity correction of 0.5."""
    import numpy as np
    from scipy import stats as ss

    n = nz.size
    _, counts = np.unique(ranks, return_counts=True)
    ties = bool((counts > 1).any())
    if n < 50 and not ties and not zeros:
        return float(ss.wilcoxon(nz, alternative=alternative, method="exact").pvalue), "exact"
    z = wplus - n * (n + 1) / 4
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - float((counts**3 - counts).sum()) / 48)
    corr = {"two-sided": math.copysign(0.5, z) if z else 0.0, "greater": 0.5, "less": -0.5}[alternative]
    z = (z - corr) / sigma
    if alternative == "less":
        p = float(ss.norm.cdf(z))
    elif alternative == "greater":
        p = float(ss.norm.sf(z))
    else:
        p = float(min(1.0, 2 * min(ss.norm.cdf(z), ss.norm.sf(z))))
    return p, "normal approximation (tie-corrected, continuity correction 0.5)"


def kruskal(*samples: Any, by: str | None = None, alpha: float = 0.05) -> TestResult:
    """Kruskal-Wallis H test across 2+ groups (tie-corrected). Effect size: epsilon squared."""
    import numpy as np
    from scipy import stats as ss

    groups = _samples(samples, by, "Kruskal-Wallis test")
    if len(groups) < 2:
        raise InsufficientDataError(f"Kruskal-Wallis needs at least 2 groups, got {len(groups)}")
    allv = np.concatenate([g.values for g in groups])
    if allv.max() == allv.min():
        raise ZeroVarianceError("Kruskal-Wallis: all values are identical, so H is undefined")
    res = ss.kruskal(*[g.values for g in groups])
    h, p = float(res.statistic), float(res.pvalue)
    n = allv.size
    eps2 = h / (n - 1)
    es = EffectSize("epsilon squared", eps2, _magnitude("eta2", eps2))
    meds = {g.label: float(np.median(g.values)) for g in groups}
    r = TestResult("Kruskal-Wallis H test", h, p, len(groups) - 1, None, 0.95, None, "", es,
                   {g.label: g.n for g in groups}, {g.label: g.dropped for g in groups}, alpha=alpha,
                   details={"medians": meds})
    if any(g.n < 5 for g in groups):
        r.warnings.append("some groups have fewer than 5 values: the chi-square approximation "
                          "for H is rough")
    lo, hi = min(meds, key=meds.get), max(meds, key=meds.get)
    r.interpretation = (
        f"Medians range from {_fmt(meds[lo])} ({lo}) to {_fmt(meds[hi])} ({hi}) across "
        f"{len(groups)} groups; H = {_fmt(h)} with {len(groups) - 1} df. "
        + _significance(p, alpha, "the difference between groups", "all groups having the same distribution")
        + f" {_d_magnitude_text(es)}")
    return _note_unassigned(_finish(r), groups)


