"""A/B/n tests: sample ratio mismatch, frequentist and Bayesian comparisons of each
treatment with the control, a peeking check over time, and power / sample-size planning.

Conversions (a 0/1 or boolean outcome) use the two-proportion z-test and a Beta-Binomial
model with a Beta(1, 1) prior; means use Welch's t-test and a normal model of each mean.
scipy and statsmodels are imported when a function runs, not when the module loads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from datamill.analytics.abtest_plan import power, sample_size, sample_size_unrounded
from datamill.analytics.abtest_report import (
    _cl,
    _html,
    _interpret,
    _num,
    _p,
    _pct,
    _pp,
    _sizes,
    _val,
    _verdict,
    peeking_note,
)
from datamill.analytics.jsonable import jsonable
from datamill.analytics.source import require_columns as _require
from datamill.analytics.source import to_pandas
from datamill.errors import UsageError

SRM_ALPHA = 0.001
DRAWS = 100_000
CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "sidak", "holm-sidak", "none")
CONTROL_NAMES = ("control", "ctrl", "baseline", "a")


# ---------------------------------------------------------------- records


@dataclass
class VariantStats:
    """One arm: its size and outcome summary (``mean`` is the conversion rate for conversions)."""

    name: str
    n: int
    mean: float
    sd: float
    conversions: int | None = None
    share: float = 0.0
    prob_best: float | None = None


@dataclass
class Comparison:
    """One treatment against the control, frequentist and Bayesian."""

    treatment: str
    control: str
    control_value: float
    treatment_value: float
    diff: float
    lift: float | None
    ci_low: float
    ci_high: float
    lift_ci_low: float | None
    lift_ci_high: float | None
    statistic: float
    p_value: float
    p_adjusted: float
    significant: bool
    test: str
    prob_better: float
    loss_treatment: float
    loss_control: float
    lift_cred_low: float | None
    lift_cred_high: float | None
    diff_cred_low: float
    diff_cred_high: float


@dataclass
class SRMCheck:
    """Chi-square goodness of fit of the arm sizes against the expected split."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float
    mismatch: bool
    threshold: float = SRM_ALPHA


@dataclass
class PeekingCheck:
    """Cumulative daily p-values of each treatment and what their path suggests."""

    days: list[str]
    p_values: dict[str, list[float | None]]
    first_significant: dict[str, str | None]
    crossings: dict[str, int]
    suspicious: bool
    messages: list[str] = field(default_factory=list)


@dataclass
class ABTestResult:
    variant: str
    outcome: str
    metric: str
    control: str
    alpha: float
    correction: str
    variants: list[VariantStats]
    comparisons: list[Comparison]
    srm: SRMCheck
    peeking: PeekingCheck | None
    warnings: list[str]
    interpretation: str
    seed: int = 0
    verdict: str = ""  # the result in one sentence, first in the report and the table

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (no NaN: undefined values are None)."""
        return jsonable(asdict(self))

    def to_html(self) -> str:
        return _html(self)

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        pct = self.metric == "conversion"
        t = Table(title=f"A/B test: {self.outcome} by {self.variant} ({self.metric})")
        for h in ("variant", "n", "rate" if pct else "mean", "diff", "lift", f"{_cl(self.alpha)} CI",
                  "p", "p adj", "sig", "P(better)"):
            t.add_column(h, justify="left" if h in ("variant", "sig") else "right")
        by = {c.treatment: c for c in self.comparisons}
        for v in self.variants:
            c = by.get(v.name)
            row = [v.name + (" (control)" if v.name == self.control else ""), f"{v.n:,}",
                   _val(v.mean, pct)]
            if c:
                row += [_val(c.diff, pct, signed=True), _pct(c.lift, signed=True),
                        f"{_val(c.ci_low, pct, signed=True)} … {_val(c.ci_high, pct, signed=True)}",
                        _p(c.p_value), _p(c.p_adjusted), "yes" if c.significant else "no",
                        _pct(c.prob_better)]
            else:
                row += [""] * 7
            t.add_row(*row)
        parts: list[Any] = [Text(self.verdict, style="bold"), t, Text(self.interpretation)]
        parts += [Text("! " + w, style="yellow") for w in self.warnings]
        return Group(*parts)


# ---------------------------------------------------------------- main entry


def abtest(data: Any, variant: str, outcome: str, *, control: Any = None,
           metric: str | None = None, alpha: float = 0.05,
           expected_split: dict[Any, float] | None = None, time: str | None = None,
           correction: str = "holm", seed: int = 0) -> ABTestResult:
    """Compare every treatment arm with the control on ``outcome``.

    ``metric`` is ``"conversion"`` (0/1 or boolean outcome) or ``"mean"``; by default it is
    chosen from the data. ``expected_split`` maps arm -> weight (equal by default) for the
    sample ratio mismatch check; ``time`` turns on the daily peeking check.
    """
    import numpy as np
    import pandas as pd

    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, got {alpha}")
    if correction not in CORRECTIONS:
        raise UsageError(f"unknown correction {correction!r}: use one of {', '.join(CORRECTIONS)}")
    if metric not in (None, "conversion", "mean"):
        raise UsageError(f"unknown metric {metric!r}: use 'conversion' or 'mean'")
    df = to_pandas(data)
    _require(df, [variant, outcome] + ([time] if time else []))
    if len(df) == 0:
        raise UsageError("the data has no rows: nothing to test")
    warnings: list[str] = []

    y_raw = df[outcome]
    groups = df[variant]
    keep = groups.notna() & y_raw.notna()
    if (~keep).any():
        warnings.append(f"{int((~keep).sum()):,} rows with a missing {variant!r} or {outcome!r} "
                        "were left out")
    df = df.loc[keep]
    if len(df) == 0:
        raise UsageError(f"no row has both {variant!r} and {outcome!r}: nothing to test")
    y = _numeric_outcome(df[outcome], outcome)
    finite = np.isfinite(y)
    if not finite.all():
        warnings.append(f"{int((~finite).sum()):,} rows with an infinite {outcome!r} were left out")
        df, y = df.loc[finite], y[finite]
        if len(df) == 0:
            raise UsageError(f"no finite value of {outcome!r}: nothing to test")
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    if metric is None:
        metric = "conversion" if binary else "mean"
    elif metric == "conversion" and not binary:
        bad = pd.unique(y[~np.isin(y, (0.0, 1.0))])[:5]
        raise UsageError(f"metric 'conversion' needs a 0/1 or boolean outcome, but {outcome!r} "
                         f"holds other values (e.g. {', '.join(map(_num, bad))}); use --metric mean")

    labels = df[variant].astype(str).to_numpy()
    names = sorted(pd.unique(labels).tolist(), key=_natural)
    if len(names) < 2:
        raise UsageError(f"the variant column {variant!r} has one value ({names[0]!r}): an A/B "
                         "test needs at least two arms")
    ctrl = _pick_control(names, control, variant)
    if control is None and ctrl.lower() not in CONTROL_NAMES:
        warnings.append(f"no control given: using {ctrl!r} (the first arm); pass control= to choose")
    order = [ctrl] + [n for n in names if n != ctrl]

    stats = {}
    for name in order:
        v = y[labels == name]
        n = int(v.size)
        sd = float(v.std(ddof=1)) if n > 1 else float("nan")
        stats[name] = VariantStats(name=name, n=n, mean=float(v.mean()), sd=sd,
                                   conversions=int(v.sum()) if metric == "conversion" else None,
                                   share=n / len(y))

    srm = _srm(stats, expected_split, order)
    if srm.mismatch:
        warnings.append(f"sample ratio mismatch: the arm sizes ({_sizes(srm.observed)}) differ from "
                        f"the expected split (chi-square {_pp(srm.p_value)} < {SRM_ALPHA}); the "
                        "assignment or logging is probably broken, so do not trust the comparison "
                        "until it is explained")
    for s in stats.values():
        if s.n < 2:
            warnings.append(f"arm {s.name!r} has {s.n} row(s): its results are undefined")
        elif metric == "conversion" and min(s.conversions, s.n - s.conversions) < 5:
            warnings.append(f"arm {s.name!r} has fewer than 5 conversions or non-conversions: the "
                            "normal approximation of the z-test is rough")
        elif metric == "mean" and s.n < 30:
            warnings.append(f"arm {s.name!r} has {s.n} rows: Welch's t-test assumes near-normal means")

    rng = np.random.default_rng(seed)
    draws = {name: _posterior_draws(stats[name], metric, rng) for name in order}
    comps = [_compare(stats[ctrl], stats[t], metric, alpha, draws[ctrl], draws[t])
             for t in order[1:]]
    _adjust(comps, alpha, correction)
    stacked = np.vstack([draws[n] for n in order])
    if np.isfinite(stacked).all():
        best = np.bincount(stacked.argmax(axis=0), minlength=len(order)) / stacked.shape[1]
        for name, p in zip(order, best, strict=True):
            stats[name].prob_best = float(p)

    peeking = None
    if time:
        peeking = _peeking(df, labels, y, time, order, metric, alpha)
        warnings += peeking.messages
    result = ABTestResult(variant=variant, outcome=outcome, metric=metric, control=ctrl,
                          alpha=alpha, correction=correction, variants=[stats[n] for n in order],
                          comparisons=comps, srm=srm, peeking=peeking, warnings=warnings,
                          interpretation="", seed=seed)
    result.interpretation = _interpret(result)
    result.verdict = _verdict(result)
    return result


# ---------------------------------------------------------------- pieces


def _numeric_outcome(s: Any, name: str) -> Any:
    import numpy as np
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return s.astype(float).to_numpy()
    if pd.api.types.is_numeric_dtype(s):
        return s.astype(float).to_numpy()
    low = s.astype(str).str.strip().str.lower()
    if low.isin(["true", "false"]).all():
        return (low == "true").astype(float).to_numpy()
    conv = pd.to_numeric(s, errors="coerce")
    if conv.isna().any():
        bad = s[conv.isna()].iloc[0]
        raise UsageError(f"the outcome {name!r} is not numeric (e.g. {bad!r}): use a 0/1 or boolean "
                         "column for conversions, or a numeric one for means")
    return np.asarray(conv, dtype=float)


def _natural(s: str) -> tuple[int, Any]:
    try:
        return (0, float(s))
    except ValueError:
        return (1, s.lower())


def _pick_control(names: list[str], control: Any, variant: str) -> str:
    if control is not None:
        c = str(control)
        if c not in names:
            raise UsageError(f"control {c!r} is not a value of {variant!r} (values: {', '.join(names)})")
        return c
    for want in CONTROL_NAMES:
        for n in names:
            if n.lower() == want:
                return n
    return names[0]


def _srm(stats: dict[str, VariantStats], expected: dict[Any, float] | None,
         order: list[str]) -> SRMCheck:
    from scipy import stats as st

    if expected:
        exp = {str(k): float(v) for k, v in expected.items()}
        unknown = [k for k in exp if k not in stats]
        missing = [n for n in order if n not in exp]
        if unknown or missing:
            raise UsageError(f"expected_split must give a weight for each arm ({', '.join(order)}); "
                             f"unknown: {unknown or 'none'}, missing: {missing or 'none'}")
        if any(v <= 0 for v in exp.values()):
            raise UsageError("expected_split weights must be positive")
    else:
        exp = {n: 1.0 for n in order}
    tot_w = sum(exp[n] for n in order)
    total = sum(s.n for s in stats.values())
    obs = [stats[n].n for n in order]
    e = [total * exp[n] / tot_w for n in order]
    chi2, p = st.chisquare(obs, e)
    return SRMCheck(observed=dict(zip(order, obs, strict=True)),
                    expected={n: exp[n] / tot_w for n in order}, chi2=float(chi2),
                    p_value=float(p), mismatch=bool(p < SRM_ALPHA))


def _posterior_draws(s: VariantStats, metric: str, rng: Any) -> Any:
    import numpy as np

    if metric == "conversion":
        return rng.beta(1 + s.conversions, 1 + s.n - s.conversions, DRAWS)
    if s.n < 2 or not math.isfinite(s.sd):
        return np.full(DRAWS, np.nan)
    return rng.normal(s.mean, s.sd / math.sqrt(s.n), DRAWS)


def prob_beta_greater(a_t: float, b_t: float, a_c: float, b_c: float) -> float:
    """P(X_t > X_c) for independent X_t ~ Beta(a_t, b_t), X_c ~ Beta(a_c, b_c), in closed form
    (Evan Miller, "Formulas for Bayesian A/B testing", 2015) when ``a_t`` is an integer."""
    import numpy as np
    from scipy.special import betaln

    i = np.arange(int(a_t))
    terms = (betaln(a_c + i, b_c + b_t) - np.log(b_t + i) - betaln(1 + i, b_t)
             - betaln(a_c, b_c))
    return float(min(1.0, max(0.0, np.exp(terms).sum())))


def _compare(c: VariantStats, t: VariantStats, metric: str, alpha: float, dc: Any,
             dt: Any) -> Comparison:
    import numpy as np
    from scipy import stats as st

    nan = float("nan")
    diff = t.mean - c.mean
    lift = diff / c.mean if c.mean != 0 else None
    zq = st.norm.ppf(1 - alpha / 2)
    if metric == "conversion":
        test = "two-proportion z-test (pooled)"
        stat, p, se = two_proportion_ztest(t.conversions, t.n, c.conversions, c.n)
        se_unpooled = math.sqrt(t.mean * (1 - t.mean) / t.n + c.mean * (1 - c.mean) / c.n)
        lo, hi = diff - zq * se_unpooled, diff + zq * se_unpooled
        var_t, var_c = t.mean * (1 - t.mean) / t.n, c.mean * (1 - c.mean) / c.n
        # Beta(1,1) posteriors: P(T > C) in closed form, the rest by simulation
        prob = prob_beta_greater(1 + t.conversions, 1 + t.n - t.conversions,
                                 1 + c.conversions, 1 + c.n - c.conversions)
    else:
        test = "Welch's t-test"
        if t.n < 2 or c.n < 2:
            stat = p = lo = hi = nan
            var_t = var_c = nan
            prob = nan
        else:
            var_t, var_c = t.sd**2 / t.n, c.sd**2 / c.n
            se = math.sqrt(var_t + var_c)
            if se == 0:
                from datamill.analytics.stats import ZeroVarianceError

                raise ZeroVarianceError(
                    f"Welch's t-test of {t.name} vs {c.name}: both arms are constant "
                    f"({_num(t.mean)} and {_num(c.mean)}), so the t statistic is undefined "
                    "(stats.ttest raises the same); compare the values directly")
            else:
                df = (var_t + var_c) ** 2 / (var_t**2 / (t.n - 1) + var_c**2 / (c.n - 1))
                stat = diff / se
                p = float(2 * st.t.sf(abs(stat), df))
                tq = st.t.ppf(1 - alpha / 2, df)
                lo, hi = diff - tq * se, diff + tq * se
            prob = float(st.norm.cdf(diff / se)) if se > 0 else (0.5 if diff == 0 else float(diff > 0))
    lift_lo = lift_hi = None
    if lift is not None and math.isfinite(var_t) and c.mean != 0:
        # delta method for the ratio of two independent means
        r = t.mean / c.mean
        se_r = math.sqrt(var_t / c.mean**2 + (t.mean**2) * var_c / c.mean**4)
        lift_lo, lift_hi = r - 1 - zq * se_r, r - 1 + zq * se_r
    d = dt - dc
    if np.isfinite(d).all():
        loss_t = float(np.maximum(-d, 0).mean())
        loss_c = float(np.maximum(d, 0).mean())
        q = (alpha / 2, 1 - alpha / 2)
        dlo, dhi = (float(x) for x in np.quantile(d, q))
        if (dc > 0).all():
            llo, lhi = (float(x) for x in np.quantile(d / dc, q))
        else:
            llo = lhi = None
    else:
        loss_t = loss_c = dlo = dhi = nan
        llo = lhi = None
    return Comparison(treatment=t.name, control=c.name, control_value=c.mean, treatment_value=t.mean,
                      diff=diff, lift=lift, ci_low=float(lo), ci_high=float(hi), lift_ci_low=lift_lo,
                      lift_ci_high=lift_hi, statistic=float(stat), p_value=float(p),
                      p_adjusted=float(p), significant=False, test=test, prob_better=float(prob),
                      loss_treatment=loss_t, loss_control=loss_c, lift_cred_low=llo,
                      lift_cred_high=lhi, diff_cred_low=dlo, diff_cred_high=dhi)


def two_proportion_ztest(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float]:
    """(z, two-sided p, pooled standard error) for H0: p1 = p2, with the pooled proportion."""
    from scipy import stats as st

    p1, p2 = x1 / n1, x2 / n2
    pool = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0, 0.0
    z = (p1 - p2) / se
    return z, float(2 * st.norm.sf(abs(z))), se


def _adjust(comps: list[Comparison], alpha: float, correction: str) -> None:
    pv = [c.p_value for c in comps]
    ok = [i for i, p in enumerate(pv) if math.isfinite(p)]
    if correction != "none" and len(ok) > 1:
        from statsmodels.stats.multitest import multipletests

        adj = multipletests([pv[i] for i in ok], alpha=alpha, method=correction)[1]
        for i, a in zip(ok, adj, strict=True):
            comps[i].p_adjusted = float(a)
    for c in comps:
        c.significant = bool(math.isfinite(c.p_adjusted) and c.p_adjusted < alpha)


def _peeking(df: Any, labels: Any, y: Any, time: str, order: list[str], metric: str,
             alpha: float) -> PeekingCheck:
    """Cumulative p-value of each treatment at the end of every day."""
    import numpy as np
    import pandas as pd
    from scipy import stats as st

    ts = df[time]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        try:
            ts = pd.to_datetime(ts, errors="coerce", format="mixed")
        except (ValueError, TypeError):  # mixed time zones: compare in UTC
            ts = pd.to_datetime(df[time], errors="coerce", format="mixed", utc=True)
    if ts.isna().all():
        raise UsageError(f"the time column {time!r} holds no readable dates")
    day = ts.dt.floor("D") if ts.dt.tz is None else ts.dt.tz_localize(None).dt.floor("D")
    frame = pd.DataFrame({"day": day.to_numpy(), "arm": labels, "y": y, "y2": y * y})
    frame = frame[frame["day"].notna()]
    g = frame.groupby(["day", "arm"]).agg(n=("y", "size"), s=("y", "sum"), s2=("y2", "sum"))
    days = sorted(frame["day"].unique())
    full = pd.MultiIndex.from_product([days, order], names=["day", "arm"])
    g = g.reindex(full, fill_value=0).unstack("arm").cumsum()
    msgs: list[str] = []
    pvals: dict[str, list[float | None]] = {}
    first: dict[str, str | None] = {}
    crossings: dict[str, int] = {}
    labels_d = [pd.Timestamp(d).strftime("%Y-%m-%d") for d in days]
    nc, sc, s2c = (g[k][order[0]].to_numpy(float) for k in ("n", "s", "s2"))
    with np.errstate(divide="ignore", invalid="ignore"):
        for t in order[1:]:
            nt, s_t, s2t = (g[k][t].to_numpy(float) for k in ("n", "s", "s2"))
            mt, mc = s_t / nt, sc / nc
            if metric == "conversion":
                pool = (s_t + sc) / (nt + nc)
                se = np.sqrt(pool * (1 - pool) * (1 / nt + 1 / nc))
                p = 2 * st.norm.sf(np.abs((mt - mc) / se))
            else:
                vt = (s2t - nt * mt**2) / (nt - 1) / nt
                vc = (s2c - nc * mc**2) / (nc - 1) / nc
                vt, vc = np.maximum(vt, 0), np.maximum(vc, 0)
                se = np.sqrt(vt + vc)
                dfw = (vt + vc) ** 2 / (vt**2 / (nt - 1) + vc**2 / (nc - 1))
                p = 2 * st.t.sf(np.abs((mt - mc) / se), dfw)
            p = np.where(np.isfinite(p), p, np.nan)
            pvals[t] = [None if not math.isfinite(v) else float(v) for v in p]
            sig = np.nan_to_num(p, nan=1.0) < alpha
            first[t] = labels_d[int(np.argmax(sig))] if sig.any() else None
            crossings[t] = int(((~sig[:-1]) & sig[1:]).sum()) + int(sig[0])
            msgs += _peek_messages(t, sig, labels_d, crossings[t])
    return PeekingCheck(days=labels_d, p_values=pvals, first_significant=first, crossings=crossings,
                        suspicious=bool(msgs), messages=msgs)


def _peek_messages(t: str, sig: Any, days: list[str], crossings: int) -> list[str]:
    """The heuristic (see docs/analytics-abtest-explain.md). A final result that is not
    significant: flag any day the p-value was below alpha (a stop then would have been a
    false win). A significant one: flag a stop on the first significant day, significance
    reached only in the last fifth of the days after staying above alpha for the rest, or
    significance that came and went."""
    n = len(sig)
    if n == 0:
        return []
    if not sig[-1]:
        below = [d for d, s in zip(days, sig, strict=True) if s]
        if not below:
            return []
        when = (f"on {below[0]}" if len(below) == 1 else
                f"from {below[0]} to {below[-1]}" if crossings <= 1 else
                f"on {len(below)} days in {crossings} spells ({below[0]} first)")
        return [f"{t}: the cumulative p-value was below alpha {when} but ended above it: had "
                "the test been stopped then it would have reported a significant difference "
                "the full data does not support; decide the duration in advance"]
    if n < 3:
        return []
    run_start = n - 1
    while run_start > 0 and sig[run_start - 1]:
        run_start -= 1
    out = []
    if run_start == n - 1 and not sig[:-1].any():
        out.append(f"{t}: possible peeking: the data ends on {days[-1]}, the first day the result "
                   f"became significant, after {n - 1} days above alpha; decide the duration in "
                   "advance (or use a sequential test) and run to the planned end")
    elif run_start >= math.ceil(0.8 * n) and not sig[:run_start].any():
        out.append(f"{t}: possible peeking: the p-value stayed above alpha for {run_start} of {n} "
                   f"days and crossed it only on {days[run_start]}; a result that appears at the "
                   "very end of a test stopped when it looked good is often a false positive")
    elif crossings >= 2:
        out.append(f"{t}: the cumulative p-value crossed alpha {crossings} times: significance "
                   "came and went, so the result depends on when the test stops")
    return out


__all__ = ["ABTestResult", "Comparison", "PeekingCheck", "SRMCheck", "VariantStats", "abtest",
           "peeking_note", "power", "prob_beta_greater", "sample_size", "sample_size_unrounded",
           "two_proportion_ztest"]
