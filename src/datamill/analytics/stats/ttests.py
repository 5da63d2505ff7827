"""Student / Welch / paired t-tests."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from datamill.analytics.stats.assumptions import (
    _add,
    _finish,
    _independence,
    _levene,
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
    _mean_var,
    _note_unassigned,
    _p_from,
    _Sample,
    _samples,
    lag1_autocorrelation,
)
from datamill.analytics.stats.results import (
    EffectSize,
    InsufficientDataError,
    NonNumericError,
    StatsInputError,
    TestResult,
    ZeroVarianceError,
    _fmt,
    _fmt_ci,
)

# -- t-tests --------------------------------------------------------------------------------


def _d_magnitude_text(es: EffectSize) -> str:
    if es.magnitude == "negligible":
        return f"The effect is negligible ({es})."
    return f"The effect is {es.magnitude} ({es})."


def ttest_1samp(x: Any, mu: float = 0.0, *, alternative: str = "two-sided", level: float = 0.95,
                alpha: float = 0.05) -> TestResult:
    """One-sample t-test of ``mean(x) == mu``."""
    _check_alt(alternative)
    _check_level(level)
    (s,) = _samples([x], None, "t-test")
    return _ttest_1(s, mu, alternative, level, alpha, name="One-sample t-test", what="mean")


def _ttest_1(s: _Sample, mu: float, alternative: str, level: float, alpha: float, *,
             name: str, what: str, paired_labels: tuple[str, str] | None = None) -> TestResult:
    from scipy import stats as ss

    if s.n < 2:
        raise InsufficientDataError(f"{name} needs at least 2 values in {s.label}, got {s.n}")
    m, var = _mean_var(s.values)
    sd = math.sqrt(var)
    if sd == 0:
        raise ZeroVarianceError(
            f"{name}: all {s.n} values of {s.label} equal {_fmt(m)}; the standard deviation is "
            "zero so the t statistic is undefined (compare the constant with mu directly)")
    se = sd / math.sqrt(s.n)
    df = s.n - 1
    t = (m - mu) / se
    dist = ss.t(df)
    p = _p_from(dist, t, alternative)
    ci = _ci_from(dist, m, se, level, alternative)
    d = (m - mu) / sd
    es_name = "Cohen's d_z" if paired_labels else "Cohen's d"
    es = EffectSize(es_name, d, _magnitude("d", d))
    j = 1 - 3 / (4 * df - 1) if df > 1 else float("nan")
    r = TestResult(name, t, p, df, ci, level, m, f"{what}" if not paired_labels else "mean difference",
                   es, {s.label: s.n}, {s.label: s.dropped}, alternative=alternative, alpha=alpha,
                   details={"mean": m, "sd": sd, "se": se, "mu": mu,
                            "hedges_g": d * j if df > 1 else None})
    _add(r, _normality(s, what="the differences" if paired_labels else ""))
    ind = _independence(s)
    if ind:
        r.assumptions.append(ind)
        r.details["lag1_autocorrelation"] = lag1_autocorrelation(s.values)
    pct = f"{level:.0%}"
    if paired_labels:
        a, b = paired_labels
        head = (f"On average {a} is {_fmt(abs(m))} {'higher' if m > 0 else 'lower'} than {b} "
                f"(mean difference {_fmt(m)}, {pct} CI {_fmt_ci(ci)}, {s.n} pairs).")
        sig = _significance(p, alpha, "this difference", "no difference")
    else:
        head = (f"The mean of {s.label} is {_fmt(m)} (sd {_fmt(sd)}, n = {s.n}), "
                f"{pct} CI {_fmt_ci(ci)}, compared with {_fmt(mu)}.")
        sig = _significance(p, alpha, f"the difference from {_fmt(mu)}", f"a mean of {_fmt(mu)}")
    r.interpretation = f"{head} {sig} {_d_magnitude_text(es)}"
    return _finish(r, "the Wilcoxon signed-rank test", s.n)


def ttest_ind(a: Any, b: Any, *, equal_var: bool = False, alternative: str = "two-sided",
              level: float = 0.95, alpha: float = 0.05) -> TestResult:
    """Two-sample t-test of ``mean(a) == mean(b)``: Welch by default, Student with ``equal_var``.

    The estimate and the CI are for ``mean(a) - mean(b)``.
    """
    _check_alt(alternative)
    _check_level(level)
    sa, sb = _samples([a, b], None, "t-test")
    return _ttest_2(sa, sb, equal_var, alternative, level, alpha)


def _ttest_2(sa: _Sample, sb: _Sample, equal_var: bool, alternative: str, level: float,
             alpha: float) -> TestResult:
    from scipy import stats as ss

    name = "Student's two-sample t-test" if equal_var else "Welch's two-sample t-test"
    n1, n2 = sa.n, sb.n
    if n1 < 2 and n2 < 2:
        raise InsufficientDataError(
            f"{name} needs more data: {sa.label} has {n1} value(s) and {sb.label} has {n2}")
    if not equal_var and (n1 < 2 or n2 < 2):
        small = sa if n1 < 2 else sb
        raise InsufficientDataError(
            f"{name}: {small.label} has a single value, so its variance is unknown; "
            "use equal_var=True (Student's t-test pools the variance) or collect more data")
    m1, v1 = _mean_var(sa.values)
    m2, v2 = _mean_var(sb.values)
    pooled = ((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2)
    if v1 == 0 and v2 == 0:
        raise ZeroVarianceError(
            f"{name}: both groups are constant ({sa.label} = {_fmt(m1)}, {sb.label} = {_fmt(m2)}); "
            "with zero variance the t statistic is undefined")
    if equal_var:
        se = math.sqrt(pooled * (1 / n1 + 1 / n2))
        df: float = n1 + n2 - 2
    else:
        q1, q2 = v1 / n1, v2 / n2
        se = math.sqrt(q1 + q2)
        df = (q1 + q2) ** 2 / (q1 ** 2 / (n1 - 1) + q2 ** 2 / (n2 - 1))
    diff = m1 - m2
    t = diff / se
    dist = ss.t(df)
    p = _p_from(dist, t, alternative)
    ci = _ci_from(dist, diff, se, level, alternative)
    sp = math.sqrt(pooled)
    d = diff / sp
    g = d * (1 - 3 / (4 * (n1 + n2) - 9))
    es = EffectSize("Cohen's d", d, _magnitude("d", d))
    r = TestResult(name, t, p, df, ci, level, diff, f"mean({sa.label}) - mean({sb.label})", es,
                   {sa.label: n1, sb.label: n2}, {sa.label: sa.dropped, sb.label: sb.dropped},
                   alternative=alternative, alpha=alpha,
                   details={"means": {sa.label: m1, sb.label: m2},
                            "sds": {sa.label: math.sqrt(v1), sb.label: math.sqrt(v2)},
                            "se": se, "hedges_g": g, "equal_var": equal_var})
    for s in (sa, sb):
        _add(r, _normality(s))
    if equal_var:
        lev = _levene([sa, sb])
        if lev:
            r.assumptions.append(lev)
            if not lev.passed:
                r.warnings.append("the variances look unequal: prefer Welch's t-test (equal_var=False)")
    hi, lo = (sa, sb) if diff >= 0 else (sb, sa)
    mh, ml = (m1, m2) if diff >= 0 else (m2, m1)
    ci_hl = ci if diff >= 0 else (-ci[1], -ci[0])
    r.interpretation = (
        f"The mean of {hi.label} ({_fmt(mh)}) is {_fmt(abs(diff))} higher than {lo.label} "
        f"({_fmt(ml)}), {level:.0%} CI for the difference {_fmt_ci(ci_hl)}. "
        + _significance(p, alpha, "this difference", "equal means")
        + f" {_d_magnitude_text(es)}")
    return _finish(r, "Mann-Whitney U", min(n1, n2))


def ttest_paired(a: Any, b: Any, *, alternative: str = "two-sided", level: float = 0.95,
                 alpha: float = 0.05) -> TestResult:
    """Paired t-test on ``a - b`` (pairs with a missing side are dropped)."""
    _check_alt(alternative)
    _check_level(level)
    d, la, lb = _paired([a, b], "paired t-test")
    return _ttest_1(d, 0.0, alternative, level, alpha, name="Paired t-test", what="mean difference",
                    paired_labels=(la, lb))


def _paired(args: Sequence[Any], purpose: str) -> tuple[_Sample, str, str]:
    """Differences a - b with pairwise deletion of missing values."""
    import numpy as np
    import pandas as pd

    if _is_table(args[0]):
        from datamill.analytics.source import to_pandas

        df = to_pandas(args[0])
        if len(args) != 3:
            raise StatsInputError(f"a {purpose} on a table needs two column names: (df, 'before', 'after')")
        cols = [_column(df, c) for c in args[1:]]
        labels = [str(c) for c in args[1:]]
        raw = cols
    else:
        if len(args) != 2 or args[1] is None:
            raise StatsInputError(f"a {purpose} needs two paired samples")
        raw = list(args)
        names = [getattr(a, "name", None) for a in raw]
        labels = [str(n) for n in names] if all(isinstance(n, str) and n for n in names) \
            and names[0] != names[1] else ["A", "B"]
    vals = []
    for lab, x in zip(labels, raw, strict=True):
        if isinstance(x, pd.Series):
            x = x.reset_index(drop=True)
        else:
            x = np.asarray(x, dtype=object) if not hasattr(x, "to_pandas") else x.to_pandas()
            x = pd.Series(x)
        n = len(x)
        if n == 0:
            raise InsufficientDataError(f"{lab} is empty")
        conv, _ = _numeric_keep(x, lab, purpose)
        vals.append(conv)
    if len(vals[0]) != len(vals[1]):
        raise StatsInputError(
            f"{purpose}: {labels[0]} has {len(vals[0])} values and {labels[1]} has {len(vals[1])}; "
            "paired samples must have the same length")
    a, b = vals
    ok = np.isfinite(a) & np.isfinite(b)
    dropped = int((~ok).sum())
    if not ok.any():
        raise InsufficientDataError(f"{purpose}: no complete pairs (all {dropped} pairs have a missing value)")
    return _Sample(f"{labels[0]} - {labels[1]}", a[ok] - b[ok], dropped), labels[0], labels[1]


def _numeric_keep(x: Any, label: str, purpose: str) -> tuple[Any, int]:
    """Like _numeric, but keeps missing values as NaN (for pairwise deletion)."""
    import numpy as np
    import pandas as pd

    s = x if isinstance(x, pd.Series) else pd.Series(x)
    if pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype("float64")
    elif not pd.api.types.is_numeric_dtype(s.dtype):
        if pd.api.types.is_object_dtype(s.dtype):
            conv = pd.to_numeric(s, errors="coerce")
            bad = s[conv.isna() & s.notna()]
            bad = bad[[not (isinstance(v, float) and v != v) for v in bad]]
            if len(bad):
                raise NonNumericError(f"{label} has dtype object with non-numeric values such as "
                                      f"{bad.iloc[0]!r}; a {purpose} needs numeric data")
            s = conv
        else:
            raise NonNumericError(f"{label} has dtype {s.dtype}; a {purpose} needs numeric data")
    v = np.array(s.to_numpy(dtype="float64", na_value=np.nan), dtype="float64", copy=True)
    v[~np.isfinite(v)] = np.nan
    return v, int(np.isnan(v).sum())


def ttest(a: Any, b: Any = None, c: Any = None, *, by: str | None = None, mu: float = 0.0,
          paired: bool = False, equal_var: bool = False, alternative: str = "two-sided",
          level: float = 0.95, alpha: float = 0.05) -> TestResult:
    """One entry point for t-tests.

    * ``ttest(x)`` / ``ttest(x, mu=3)``: one-sample;
    * ``ttest(a, b)``: Welch two-sample (``equal_var=True`` for Student), ``paired=True`` paired;
    * ``ttest(df, "value", by="group")``: two-sample on the two groups of ``group``;
    * ``ttest(df, "before", "after", paired=True)`` or ``ttest(df, "x", mu=1)``.
    """
    _check_alt(alternative)
    _check_level(level)
    if _is_table(a):
        args = [a] + [x for x in (b, c) if x is not None]
        if paired:
            if by is not None:
                raise StatsInputError("paired=True takes two columns, not by=")
            d, la, lb = _paired(args, "paired t-test")
            return _ttest_1(d, 0.0, alternative, level, alpha, name="Paired t-test",
                            what="mean difference", paired_labels=(la, lb))
        samples = _samples(args, by, "t-test")
    else:
        if c is not None:
            raise StatsInputError("ttest takes at most two samples; use anova() for more groups")
        if paired:
            return ttest_paired(a, b, alternative=alternative, level=level, alpha=alpha)
        samples = _samples([a] if b is None else [a, b], None, "t-test")
    if len(samples) == 1:
        return _ttest_1(samples[0], mu, alternative, level, alpha, name="One-sample t-test", what="mean")
    if len(samples) != 2:
        labels = ", ".join(s.label for s in samples)
        raise StatsInputError(f"a t-test compares two groups, got {len(samples)} ({labels}); use anova()")
    return _note_unassigned(_ttest_2(samples[0], samples[1], equal_var, alternative, level, alpha),
                            samples)


