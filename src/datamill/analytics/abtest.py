"""A/B/n tests: sample ratio mismatch, frequentist and Bayesian comparisons of each
treatment with the control, a peeking check over time, and power / sample-size planning.

Conversions (a 0/1 or boolean outcome) use the two-proportion z-test and a Beta-Binomial
model with a Beta(1, 1) prior; means use Welch's t-test and a normal model of each mean.
scipy and statsmodels are imported when a function runs, not when the module loads.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from html import escape
from typing import Any

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
        parts: list[Any] = [t, Text(self.interpretation)]
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
    """The heuristic (see docs/analytics-abtest-explain.md): only when the final result is
    significant, flag a stop on the first significant day, or significance reached only in the
    last fifth of the days after staying above alpha for the rest."""
    n = len(sig)
    if n < 3 or not sig[-1]:
        if n >= 3 and crossings >= 2 and not sig[-1]:
            return [f"{t}: the cumulative p-value dipped below alpha {crossings} times but ended "
                    "above it: had the test been stopped at one of those looks it would have "
                    "reported a false win"]
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


# ---------------------------------------------------------------- planning


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


# ---------------------------------------------------------------- words and pages


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _cl(alpha: float) -> str:
    return f"{(1 - alpha) * 100:g}%"


def _p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _pp(p: float | None) -> str:
    """A p-value for prose: ``p < 0.0001`` or ``p = 0.0123`` (never ``p = < 0.0001``)."""
    text = _p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _pct(v: float | None, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v * 100:+.2f}%" if signed else f"{v * 100:.2f}%"


def _val(v: float | None, pct: bool, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    if pct:
        return f"{v * 100:+.2f} pp" if signed else f"{v * 100:.2f}%"
    return f"{v:+,.4g}" if signed else f"{v:,.4g}"


def _loss(v: float | None, pct: bool) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v * 100:.3f} pp" if pct else f"{v:,.4g}"


def _sizes(obs: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in obs.items())


def _interpret(r: ABTestResult) -> str:
    pct = r.metric == "conversion"
    what = "converted at" if pct else "averaged"
    ctrl = next(v for v in r.variants if v.name == r.control)
    out = []
    if r.srm.mismatch:
        out.append("Warning first: the arm sizes do not match the planned split (sample ratio "
                   "mismatch), which usually means broken assignment or logging; the numbers "
                   "below may be biased.")
    adj = f" ({r.correction}-adjusted for {len(r.comparisons)} comparisons)" \
        if len(r.comparisons) > 1 and r.correction != "none" else ""
    for c in r.comparisons:
        if not math.isfinite(c.p_value):
            out.append(f"{c.treatment} vs {c.control}: not enough data to compare.")
            continue
        lift = f", {_pct(c.lift, True)} relative" if c.lift is not None else ""
        verdict = (f"statistically significant at alpha = {r.alpha:g}" if c.significant else
                   f"not statistically significant at alpha = {r.alpha:g}: the data are "
                   "consistent with no difference")
        out.append(
            f"{c.treatment} {what} {_val(c.treatment_value, pct)} vs {_val(ctrl.mean, pct)} for "
            f"{c.control}: {_val(c.diff, pct, True)}{lift} ({_cl(r.alpha)} CI "
            f"{_val(c.ci_low, pct, True)} to {_val(c.ci_high, pct, True)}), {_pp(c.p_value)}"
            f"{'' if not adj else f', adjusted {_pp(c.p_adjusted)}'}{adj}; {verdict}. "
            f"Bayesian view: {_pct(c.prob_better)} probability that {c.treatment} beats "
            f"{c.control}; choosing {c.treatment} risks an expected loss of "
            f"{_loss(c.loss_treatment, pct)} (vs {_loss(c.loss_control, pct)} for keeping "
            f"{c.control}).")
    if r.peeking and r.peeking.suspicious:
        out.append("The p-value path over time suggests the test may have been stopped by "
                   "peeking; see the warnings.")
    return " ".join(out)


def _forest(comps: list[Comparison], pct: bool, width: int = 560) -> str:
    """Each treatment's difference with its confidence interval, around a zero line."""
    vals = [v for c in comps for v in (c.ci_low, c.ci_high, c.diff) if math.isfinite(v)]
    if not vals:
        return "<p class='muted'>no interval to draw</p>"
    lo, hi = min(min(vals), 0.0), max(max(vals), 0.0)
    span = (hi - lo) or 1.0
    lw, pr, rh = 120, 90, 24
    iw = width - lw - pr
    h = rh * len(comps) + 24

    def px(v: float) -> float:
        return lw + (v - lo) / span * iw

    body = [f"<line x1='{px(0):.1f}' y1='0' x2='{px(0):.1f}' y2='{h - 16}' stroke='#999' "
            "stroke-dasharray='3,3'/>",
            f"<text x='{px(0):.1f}' y='{h - 4}' text-anchor='middle' fill='#555'>0</text>"]
    for i, c in enumerate(comps):
        y = 12 + i * rh
        col = "#59a14f" if c.significant and c.diff > 0 else "#e15759" if c.significant else "#4e79a7"
        body.append(f"<text x='{lw - 6}' y='{y + 4}' text-anchor='end' fill='#333'>"
                    f"{escape(c.treatment)}</text>")
        if math.isfinite(c.ci_low) and math.isfinite(c.ci_high):
            body.append(f"<line x1='{px(c.ci_low):.1f}' y1='{y}' x2='{px(c.ci_high):.1f}' y2='{y}' "
                        f"stroke='{col}' stroke-width='3'/>")
        if math.isfinite(c.diff):
            body.append(f"<circle cx='{px(c.diff):.1f}' cy='{y}' r='4.5' fill='{col}'><title>"
                        f"{escape(_val(c.diff, pct, True))} [{escape(_val(c.ci_low, pct, True))}, "
                        f"{escape(_val(c.ci_high, pct, True))}]</title></circle>")
        body.append(f"<text x='{width - pr + 6}' y='{y + 4}' fill='#555'>"
                    f"{escape(_val(c.diff, pct, True))}</text>")
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {h}' width='{width}' "
            f"height='{h}' font-family='system-ui,sans-serif' font-size='11' role='img'>"
            f"<title>difference vs control with confidence interval</title>{''.join(body)}</svg>")


def _html(r: ABTestResult) -> str:
    from datamill.analytics import charts
    from datamill.analytics.html import page, table, warnings_html

    pct = r.metric == "conversion"
    cl = _cl(r.alpha)
    summary = (f"<p>{escape(r.interpretation)}</p>" + warnings_html(r.warnings) +
               "<div class='grid'>" + "".join(
                   f"<div class='card'><div class='muted'>{escape(v.name)}"
                   f"{' (control)' if v.name == r.control else ''}</div>"
                   f"<div class='big'>{escape(_val(v.mean, pct))}</div>"
                   f"<div class='muted'>n = {v.n:,}</div></div>" for v in r.variants) + "</div>")
    vt = table(["variant", "rows", "share", "conversions" if pct else "sd",
                "rate" if pct else "mean", "P(best)"],
               [[v.name + (" (control)" if v.name == r.control else ""), v.n, _pct(v.share),
                 v.conversions if pct else v.sd, _val(v.mean, pct), _pct(v.prob_best)]
                for v in r.variants], numeric={1, 2, 3, 4, 5})
    ct = table(["treatment", "vs", "difference", f"{cl} CI", "relative lift", f"lift {cl} CI",
                "test statistic", "p", f"p ({r.correction})", "significant"],
               [[c.treatment, c.control, _val(c.diff, pct, True),
                 f"{_val(c.ci_low, pct, True)} … {_val(c.ci_high, pct, True)}", _pct(c.lift, True),
                 f"{_pct(c.lift_ci_low, True)} … {_pct(c.lift_ci_high, True)}", c.statistic,
                 _p(c.p_value), _p(c.p_adjusted), c.significant] for c in r.comparisons],
               numeric={2, 4, 6, 7, 8})
    freq = (ct + f"<p class='muted'>{escape(r.comparisons[0].test if r.comparisons else '')}; "
            "intervals are not adjusted for multiple comparisons.</p>" + _forest(r.comparisons, pct))
    model = ("Beta-Binomial, Beta(1,1) prior" if pct else
             "normal model of each mean (flat prior, posterior N(mean, sd²/n))")
    bt = table(["treatment", "P(better than control)", "expected loss if chosen",
                "expected loss if control kept", f"{cl} credible interval of the difference",
                f"{cl} credible interval of the lift"],
               [[c.treatment, _pct(c.prob_better), _loss(c.loss_treatment, pct),
                 _loss(c.loss_control, pct),
                 f"{_val(c.diff_cred_low, pct, True)} … {_val(c.diff_cred_high, pct, True)}",
                 f"{_pct(c.lift_cred_low, True)} … {_pct(c.lift_cred_high, True)}"]
                for c in r.comparisons], numeric={1, 2, 3})
    bayes = (f"<p class='muted'>{escape(model)}; {DRAWS:,} Monte Carlo draws, seed {r.seed}.</p>" + bt
             + charts.bars([v.name for v in r.variants],
                           [round((v.prob_best or 0) * 100, 2) for v in r.variants],
                           title="probability of being the best arm (%)", value_format="{:.1f}%"))
    s = r.srm
    srm = (("<div class='warn'>" if s.mismatch else "<div class='ok'>") +
           escape(f"chi-square = {s.chi2:.3f}, {_pp(s.p_value)} "
                  f"({'mismatch' if s.mismatch else 'no mismatch'} at p < {s.threshold})") + "</div>"
           + table(["arm", "observed", "expected share", "observed share"],
                   [[k, s.observed[k], _pct(s.expected[k]),
                     _pct(s.observed[k] / max(sum(s.observed.values()), 1))] for k in s.observed],
                   numeric={1, 2, 3}))
    sections = [("summary", "Summary", summary), ("variants", "Variants", vt),
                ("frequentist", "Difference vs control", freq),
                ("bayesian", "Posterior", bayes), ("srm", "Sample ratio check", srm)]
    if r.peeking:
        pk = r.peeking
        xs = list(range(len(pk.days)))
        series = {f"p ({t})": [v if v is not None else float("nan") for v in ps]
                  for t, ps in pk.p_values.items()}
        series[f"alpha = {r.alpha:g}"] = [r.alpha] * len(xs)
        chart = charts.line(xs, series, x_labels=[pk.days[0], pk.days[-1]] if pk.days else None,
                            title="cumulative p-value by day")
        pk_html = (chart + warnings_html(pk.messages) +
                   table(["treatment", "first significant day", "times it crossed alpha"],
                         [[t, pk.first_significant[t] or "never", pk.crossings[t]]
                          for t in pk.p_values], numeric={2}))
        sections.append(("peeking", "Peeking check", pk_html))
    return page(f"A/B test: {r.outcome} by {r.variant}", sections,
                subtitle=f"{r.metric}, control {r.control}, alpha {r.alpha:g}")
