"""Effect sizes: Cohen's d, Hedges' g, Cramer's V, eta / omega squared."""

from __future__ import annotations

import math
from typing import Any

from datamill.analytics.stats.anova import anova
from datamill.analytics.stats.assumptions import _magnitude
from datamill.analytics.stats.contingency import chi2_independence
from datamill.analytics.stats.inputs import _mean_var, _samples
from datamill.analytics.stats.results import EffectSize, InsufficientDataError, ZeroVarianceError
from datamill.analytics.stats.ttests import _paired

# -- effect sizes ---------------------------------------------------------------------------


def cohens_d(a: Any, b: Any = None, *, mu: float = 0.0, paired: bool = False) -> EffectSize:
    """Cohen's d: ``(mean(a) - mu) / sd(a)``; two samples: ``(mean(a) - mean(b)) / pooled sd``;
    ``paired``: d_z on the differences."""
    if paired:
        s, _, _ = _paired([a, b], "Cohen's d")
        m, v = _mean_var(s.values)
        if v == 0:
            raise ZeroVarianceError("Cohen's d_z: the differences are constant")
        d = m / math.sqrt(v)
        return EffectSize("Cohen's d_z", d, _magnitude("d", d))
    if b is None:
        (s,) = _samples([a], None, "Cohen's d")
        if s.n < 2:
            raise InsufficientDataError("Cohen's d needs at least 2 values")
        m, v = _mean_var(s.values)
        if v == 0:
            raise ZeroVarianceError("Cohen's d: the data are constant (sd = 0)")
        d = (m - mu) / math.sqrt(v)
        return EffectSize("Cohen's d", d, _magnitude("d", d))
    sa, sb = _samples([a, b], None, "Cohen's d")
    if sa.n + sb.n < 3:
        raise InsufficientDataError("Cohen's d needs at least 3 values in total")
    m1, v1 = _mean_var(sa.values)
    m2, v2 = _mean_var(sb.values)
    pooled = ((sa.n - 1) * v1 + (sb.n - 1) * v2) / (sa.n + sb.n - 2)
    if pooled == 0:
        raise ZeroVarianceError("Cohen's d: both groups are constant (pooled sd = 0)")
    d = (m1 - m2) / math.sqrt(pooled)
    return EffectSize("Cohen's d", d, _magnitude("d", d))


def hedges_g(a: Any, b: Any) -> EffectSize:
    """Hedges' g: Cohen's d times the small-sample correction ``1 - 3 / (4 (n1 + n2) - 9)``."""
    d = cohens_d(a, b)
    sa, sb = _samples([a, b], None, "Hedges' g")
    g = d.value * (1 - 3 / (4 * (sa.n + sb.n) - 9))
    return EffectSize("Hedges' g", g, _magnitude("d", g))


def cramers_v(data: Any, row: str | None = None, col: str | None = None) -> EffectSize:
    """Cramér's V of a contingency table (or two DataFrame columns)."""
    return chi2_independence(data, row, col, correction=False).effect_size  # type: ignore[return-value]


def eta_squared(*samples: Any, by: str | None = None) -> EffectSize:
    """Eta squared (SS between / SS total) of a one-way layout."""
    return anova(*samples, by=by, posthoc=False).effect_size  # type: ignore[return-value]


def omega_squared(*samples: Any, by: str | None = None) -> EffectSize:
    """Omega squared ``(SSB - (k-1) MSW) / (SST + MSW)``, less biased than eta squared."""
    w = anova(*samples, by=by, posthoc=False).details["omega_squared"]
    return EffectSize("omega squared", w, _magnitude("eta2", w))


