"""How much of an ``explain`` change is noise: standard errors for the total change and
for each segment's contribution.

The unit of replication is the **day** when both periods span at least ``MIN_DAYS`` days
(the day-to-day variation of each segment's daily total, calendar days without rows
counting as 0), otherwise the **row** (each row an independent event: a Poisson count, a
compound-Poisson sum). For a summed metric the variance of a period's total is
``n_days * s^2`` of the daily totals (days) or ``sum(x^2)`` (rows); a contribution is the
difference of two independent period totals, so the variances add. For a ratio of sums the
contributions are non-linear, so their standard errors come from a Poisson bootstrap over
the same units (``N_BOOT`` replicates, seeded: the result is reproducible).

A change (total or a segment's) is *within noise* when its ``level`` interval includes 0:
``|change| <= q * se`` with ``q`` the normal quantile (rows, bootstrap) or Student t with
Welch-Satterthwaite degrees of freedom (days).
"""

from __future__ import annotations

import math
from typing import Any

MIN_DAYS = 7
N_BOOT = 400
SEED = 20260601


def unit_codes(ts: Any, start: Any, n_rows: int, by_day: bool) -> Any:
    """Per-row unit number inside its period: the day index, or the row index."""
    import numpy as np

    if not by_day:
        return np.arange(n_rows)
    import pandas as pd

    return ((pd.Series(ts) - pd.Timestamp(start)) // pd.Timedelta(days=1)).to_numpy().astype(int)


def quantile(level: float, df: float | None) -> float:
    from scipy import stats as ss

    if df is None or not math.isfinite(df):
        return float(ss.norm.ppf(0.5 + level / 2))
    return float(ss.t.ppf(0.5 + level / 2, max(df, 1.0)))


def sum_variances(codes: Any, n_seg: int, x: Any, units: Any, n_units: int, by_day: bool) -> tuple[Any, Any]:
    """Variance of each segment's period total (and the degrees of freedom behind it)."""
    import numpy as np

    if not by_day:
        var = np.bincount(codes, weights=x * x, minlength=n_seg)
        return var, np.full(n_seg, np.inf)
    tot = np.bincount(codes * n_units + units, weights=x, minlength=n_seg * n_units)
    tot = tot.reshape(n_seg, n_units)
    var = n_units * tot.var(axis=1, ddof=1) if n_units > 1 else np.zeros(n_seg)
    return var, np.full(n_seg, float(n_units - 1))


def welch_df(va: Any, dfa: Any, vb: Any, dfb: Any) -> Any:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        den = np.where(np.isfinite(dfa), va * va / dfa, 0.0) + np.where(np.isfinite(dfb), vb * vb / dfb, 0.0)
        df = (va + vb) ** 2 / den
    return np.where(np.isfinite(dfa) & np.isfinite(dfb), df, np.inf)


def ratio_boot_se(ca: Any, cb: Any, n_seg: int, na: Any, da: Any, nb: Any, db: Any,
                  ua: Any, nua: int, ub: Any, nub: int) -> tuple[Any, float]:
    """Bootstrap standard errors of the shift-share contributions and of the total change
    of a ratio of sums; Poisson weights per unit (day or row)."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    contrib = np.empty((N_BOOT, n_seg))
    total = np.empty(N_BOOT)
    ok = np.ones(N_BOOT, bool)
    for i in range(N_BOOT):
        wa = rng.poisson(1.0, nua)[ua]
        wb = rng.poisson(1.0, nub)[ub]
        sna = np.bincount(ca, weights=wa * na, minlength=n_seg)
        sda = np.bincount(ca, weights=wa * da, minlength=n_seg)
        snb = np.bincount(cb, weights=wb * nb, minlength=n_seg)
        sdb = np.bincount(cb, weights=wb * db, minlength=n_seg)
        tda, tdb = sda.sum(), sdb.sum()
        if tda == 0 or tdb == 0:
            ok[i] = False
            continue
        ra, rb = sna.sum() / tda, snb.sum() / tdb
        rbar = (ra + rb) / 2
        contrib[i] = (snb / tdb - sna / tda) - (sdb / tdb - sda / tda) * rbar
        total[i] = rb - ra
    if ok.sum() < 20:
        return np.full(n_seg, np.nan), math.nan
    return contrib[ok].std(axis=0, ddof=1), float(total[ok].std(ddof=1))


def annotate(res: Any, a: Any, b: Any, groups: list[list[str]], keys: Any, col_num: str | None,
             col_den: str | None, ts_a: Any, ts_b: Any, level: float) -> None:
    """Set ``se``, ``ci`` and ``within_noise`` on ``res`` and ``se`` / ``significant`` on
    every shown segment."""
    import numpy as np

    pa, pb = res.period_a, res.period_b
    days_a, days_b = res.days_a, res.days_b
    by_day = min(days_a, days_b) >= MIN_DAYS
    nua = int(math.ceil(days_a)) if by_day else len(a)
    nub = int(math.ceil(days_b)) if by_day else len(b)
    ua = np.clip(unit_codes(ts_a, pa.start, len(a), by_day), 0, nua - 1)
    ub = np.clip(unit_codes(ts_b, pb.start, len(b), by_day), 0, nub - 1)
    res.noise_unit = "day" if by_day else "row"
    for g, br in zip([None, *groups], [None, *res.dimensions], strict=True):
        if g is None:
            ka = np.zeros(len(a), int)
            kb = np.zeros(len(b), int)
            labels = ["(total)"]
        else:
            sa, sb = keys(a, g), keys(b, g)
            labels_all = sorted(set(sa.tolist()) | set(sb.tolist()))
            pos = {v: i for i, v in enumerate(labels_all)}
            ka = np.fromiter((pos[v] for v in sa.tolist()), int, len(sa))
            kb = np.fromiter((pos[v] for v in sb.tolist()), int, len(sb))
            labels = labels_all
        n_seg = len(labels)
        if res.kind == "ratio":
            se, se_total = ratio_boot_se(ka, kb, n_seg, a[col_num].to_numpy(), a[col_den].to_numpy(),
                                         b[col_num].to_numpy(), b[col_den].to_numpy(), ua, nua, ub, nub)
            df = np.full(n_seg, np.inf)
            df_total = math.inf
        else:
            xa, xb = a[col_num].to_numpy(), b[col_num].to_numpy()
            va, dfa = sum_variances(ka, n_seg, xa, ua, nua, by_day)
            vb, dfb = sum_variances(kb, n_seg, xb, ub, nub, by_day)
            se = np.sqrt(va + vb)
            df = welch_df(va, dfa, vb, dfb)
            se_total, df_total = float(se[0]), float(df[0])
        if g is None:
            if res.kind != "ratio":
                se_total, df_total = float(se[0]), float(df[0])
            res.se = se_total if math.isfinite(se_total) else None
            if res.se is not None:
                q = quantile(level, df_total)
                res.ci = (res.change - q * res.se, res.change + q * res.se)
                res.within_noise = not abs(res.change) > q * res.se
            continue
        idx = {str(v): i for i, v in enumerate(labels)}
        for s in br.segments:
            i = idx.get(s.value)
            if i is None or not math.isfinite(float(se[i])):
                continue
            s.se = float(se[i])
            s.significant = bool(abs(s.contribution) > quantile(level, float(df[i])) * s.se)
