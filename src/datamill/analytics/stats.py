"""Hypothesis tests, confidence intervals, effect sizes and multiple-testing corrections.

Every test returns one :class:`TestResult` (statistic, p-value, degrees of freedom,
confidence interval, estimate, effect size, sample sizes, the assumptions it checked, the
warnings they raised and a plain-language ``interpretation``). Confidence intervals return a
:class:`ConfidenceInterval`, corrections an :class:`AdjustedPValues`. All three have
``to_dict()`` (JSON-able) and ``__rich__`` (a rich table).

Inputs are array-likes, pandas / Polars series, a mapping ``{label: values}``, or a table
plus column names (``ttest(df, "value", by="group")``). Missing values (NaN, None, ±inf) are
dropped and counted in ``result.dropped``. Bad input raises a :class:`StatsInputError` (a
``UsageError``: exit code 2) that names the input and the fix:

* :class:`InsufficientDataError` - empty, all missing, or too few values for the test;
* :class:`NonNumericError` - a numeric test on text / dates (names the input and its dtype);
* :class:`ZeroVarianceError` - the statistic is undefined because the data are constant
  (e.g. a t-test where both groups are constant). No test ever returns NaN silently.

scipy is imported lazily, inside the functions; so is numpy, so ``import
datamill.analytics.stats`` stays cheap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from datamill.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = [
    "AdjustedPValues", "Assumption", "Comparison", "ConfidenceInterval", "EffectSize",
    "InsufficientDataError", "NonNumericError", "StatsInputError", "TestResult",
    "ZeroVarianceError", "adjust_pvalues", "anova", "bootstrap_ci", "chi2_goodness_of_fit",
    "chi2_independence", "ci_diff_means", "ci_diff_proportions", "ci_mean", "ci_proportion",
    "cohens_d", "correlation", "cramers_v", "eta_squared", "fisher_exact", "hedges_g",
    "kruskal", "lag1_autocorrelation", "mannwhitney", "omega_squared", "ttest", "ttest_1samp",
    "ttest_ind", "ttest_paired", "tukey_hsd", "wilcoxon", "ztest", "ztest_proportion",
    "ztest_proportions",
]

ALTERNATIVES = ("two-sided", "less", "greater")
SHAPIRO_MAX = 5000  # Shapiro-Wilk up to this n; D'Agostino-Pearson K^2 above it
LARGE_N = 50  # above this, the t-test is robust to non-normality (central limit theorem)


# -- errors ---------------------------------------------------------------------------------


class StatsInputError(UsageError):
    """The input cannot be used for this statistical test; the message says why and what to do."""


class InsufficientDataError(StatsInputError):
    """Empty input, all values missing, or fewer values than the test needs."""


class NonNumericError(StatsInputError):
    """A numeric test was given non-numeric data; the message names the input and its dtype."""


class ZeroVarianceError(StatsInputError):
    """The data are constant, so the test statistic is undefined (division by zero variance)."""


# -- result objects -------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    """Plain Python (str, int, float, bool, None, list, dict); non-finite floats become None."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "to_dict") and not isinstance(v, Mapping) and not hasattr(v, "dtype"):
        return v.to_dict()
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    mod = type(v).__module__.split(".")[0]
    if mod == "numpy":
        if getattr(v, "ndim", 0):
            return [_jsonable(x) for x in v.tolist()]
        return _jsonable(v.item())
    return str(v)


def _fmt(x: float | None, sig: int = 4) -> str:
    """A number for prose: 4 significant digits, no exponent for ordinary magnitudes."""
    if x is None:
        return "–"
    if isinstance(x, float) and not math.isfinite(x):
        return "∞" if x > 0 else ("-∞" if x < 0 else "undefined")
    a = abs(x)
    if a == 0:
        return "0"
    if a >= 1e6 or a < 1e-4:
        return f"{x:.{sig - 1}e}"
    digits = max(sig - 1 - math.floor(math.log10(a)), 0 if a >= 1e4 else 2 if a >= 1 else 0)
    s = f"{x:.{digits}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _fmt_ci(ci: tuple[float, float] | None) -> str:
    if ci is None:
        return ""
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _rich_table(title: str, rows: list[tuple[str, Any]], notes: list[str]) -> Any:
    from rich.table import Table

    from datamill.analytics.html import fmt

    t = Table(title=title, show_header=False, title_justify="left")
    t.add_column("field", style="bold")
    t.add_column("value")
    for k, v in rows:
        if v is None or v == "" or v == []:
            continue
        t.add_row(k, v if isinstance(v, str) else fmt(v))
    for note in notes:
        t.add_row("", note)
    return t


@dataclass(frozen=True)
class Assumption:
    """One assumption a test relies on and whether the data look consistent with it."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class EffectSize:
    """A named effect size with a conventional magnitude label (negligible/small/medium/large)."""

    name: str
    value: float
    magnitude: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": _jsonable(float(self.value)),
                "magnitude": self.magnitude}

    def __str__(self) -> str:
        return f"{self.name} = {_fmt(self.value, 3)}"


@dataclass(frozen=True)
class Comparison:
    """One pairwise post-hoc comparison: ``diff = mean(group1) - mean(group2)``."""

    group1: str
    group2: str
    diff: float
    ci: tuple[float, float]
    p_value: float  # adjusted for the family of comparisons
    reject: bool
    statistic: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"group1": self.group1, "group2": self.group2, "diff": self.diff,
                          "ci": list(self.ci), "p_value": self.p_value, "reject": self.reject,
                          "statistic": self.statistic})


@dataclass
class TestResult:
    """The outcome of one hypothesis test."""

    __test__ = False  # not a pytest test class

    name: str
    statistic: float | None
    p_value: float | None
    dof: float | tuple[float, float] | None = None
    ci: tuple[float, float] | None = None
    level: float = 0.95
    estimate: float | None = None
    estimate_name: str = ""
    effect_size: EffectSize | None = None
    n: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    assumptions: list[Assumption] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interpretation: str = ""
    alternative: str = "two-sided"
    alpha: float = 0.05
    details: dict[str, Any] = field(default_factory=dict)
    posthoc: list[Comparison] = field(default_factory=list)

    @property
    def significant(self) -> bool | None:
        """True when ``p_value < alpha`` (None when the test has no p-value)."""
        return None if self.p_value is None else bool(self.p_value < self.alpha)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({
            "name": self.name, "statistic": self.statistic, "p_value": self.p_value,
            "dof": self.dof, "ci": list(self.ci) if self.ci else None, "level": self.level,
            "estimate": self.estimate, "estimate_name": self.estimate_name,
            "effect_size": self.effect_size.to_dict() if self.effect_size else None,
            "n": self.n, "dropped": self.dropped,
            "assumptions": [a.to_dict() for a in self.assumptions],
            "warnings": list(self.warnings), "interpretation": self.interpretation,
            "alternative": self.alternative, "alpha": self.alpha,
            "significant": self.significant, "details": self.details,
            "posthoc": [c.to_dict() for c in self.posthoc],
        })

    def __rich__(self) -> Any:
        from rich.table import Table

        dof = self.dof
        if isinstance(dof, tuple):
            dof = ", ".join(_fmt(d) for d in dof)
        rows: list[tuple[str, Any]] = [
            ("statistic", self.statistic), ("p-value", self.p_value), ("df", dof),
            (self.estimate_name or "estimate", self.estimate),
            (f"{self.level:.0%} CI", _fmt_ci(self.ci)),
            ("effect size", str(self.effect_size) + (f" ({self.effect_size.magnitude})"
                                                       if self.effect_size and self.effect_size.magnitude else "")
             if self.effect_size else None),
            ("n", ", ".join(f"{k}={v}" for k, v in self.n.items())),
        ]
        if any(self.dropped.values()):
            rows.append(("missing dropped", ", ".join(f"{k}={v}" for k, v in self.dropped.items())))
        for a in self.assumptions:
            rows.append((("ok " if a.passed else "FAIL ") + a.name, a.detail))
        notes = [f"warning: {w}" for w in self.warnings] + [self.interpretation]
        t = _rich_table(self.name, rows, notes)
        if not self.posthoc:
            return t
        from rich.console import Group

        ph = Table(title="post-hoc comparisons", title_justify="left")
        for h in ("group1", "group2", "diff", "CI", "p adj", "reject"):
            ph.add_column(h)
        for c in self.posthoc:
            ph.add_row(c.group1, c.group2, _fmt(c.diff), _fmt_ci(c.ci), _fmt(c.p_value, 3),
                       "yes" if c.reject else "no")
        return Group(t, ph)


@dataclass
class ConfidenceInterval:
    """A confidence interval for one parameter (a mean, a proportion, a difference)."""

    parameter: str
    estimate: float
    low: float
    high: float
    level: float
    method: str
    n: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    interpretation: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ci(self) -> tuple[float, float]:
        return (self.low, self.high)

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"parameter": self.parameter, "estimate": self.estimate,
                          "low": self.low, "high": self.high, "level": self.level,
                          "method": self.method, "n": self.n, "dropped": self.dropped,
                          "warnings": self.warnings, "interpretation": self.interpretation,
                          "details": self.details})

    def __rich__(self) -> Any:
        rows = [("estimate", self.estimate), (f"{self.level:.0%} CI", _fmt_ci(self.ci)),
                ("method", self.method), ("n", ", ".join(f"{k}={v}" for k, v in self.n.items()))]
        return _rich_table(f"confidence interval: {self.parameter}", rows,
                           [f"warning: {w}" for w in self.warnings] + [self.interpretation])


@dataclass
class AdjustedPValues:
    """p-values adjusted for multiple testing, with the reject decision at ``alpha``."""

    method: str
    alpha: float
    p_values: list[float]
    adjusted: list[float]
    reject: list[bool]
    labels: list[str]
    interpretation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"method": self.method, "alpha": self.alpha, "labels": self.labels,
                          "p_values": self.p_values, "adjusted": self.adjusted,
                          "reject": self.reject, "interpretation": self.interpretation})

    def __rich__(self) -> Any:
        from rich.table import Table

        t = Table(title=f"{self.method} adjustment (alpha = {self.alpha})", title_justify="left",
                  caption=self.interpretation)
        for h in ("test", "p", "adjusted p", "reject"):
            t.add_column(h)
        for lab, p, q, r in zip(self.labels, self.p_values, self.adjusted, self.reject, strict=True):
            t.add_row(lab, _fmt(p, 3), _fmt(q, 3), "yes" if r else "no")
        return t


# -- input handling -------------------------------------------------------------------------


@dataclass
class _Sample:
    label: str
    values: Any  # 1-d float64 ndarray, finite values only
    dropped: int = 0

    @property
    def n(self) -> int:
        return int(self.values.size)


def _is_table(x: Any) -> bool:
    mod = type(x).__module__.split(".")[0]
    name = type(x).__name__
    return (mod == "pandas" and name == "DataFrame") or (mod == "polars" and name == "DataFrame") \
        or (mod == "pyarrow" and name in ("Table", "RecordBatch"))


def _column(df: Any, name: Any) -> Any:
    if not isinstance(name, str | int):
        raise StatsInputError(f"with a table, name the column(s) to test as strings, got {name!r}")
    if name not in df.columns:
        cols = ", ".join(map(str, list(df.columns)[:20]))
        raise StatsInputError(f"column {name!r} is not in the table (columns: {cols})")
    return df[name]


def _numeric(x: Any, label: str, purpose: str) -> tuple[Any, int]:
    """A finite float64 1-d array from an array-like, and how many missing values were dropped."""
    import numpy as np
    import pandas as pd

    if x is None:
        raise InsufficientDataError(f"{label}: no data given")
    mod = type(x).__module__.split(".")[0]
    if mod in ("polars", "pyarrow") and hasattr(x, "to_pandas"):
        x = x.to_pandas()
    if isinstance(x, pd.DataFrame):
        if x.shape[1] != 1:
            raise StatsInputError(f"{label}: got a table with {x.shape[1]} columns; name the column to use")
        x = x.iloc[:, 0]
    if isinstance(x, str | bytes):
        raise NonNumericError(f"{label}: a {purpose} needs numeric values, got the string {x!r}")
    if isinstance(x, pd.Series):
        s = x
    elif isinstance(x, list | tuple) and all(np.ndim(v) == 0 for v in x):
        s = pd.Series(list(x), dtype=object if any(isinstance(v, str | bytes) for v in x) else None)
    else:
        arr = np.asarray(x) if not isinstance(x, set | frozenset) else np.asarray(sorted(x))
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim > 1:
            if sum(d > 1 for d in arr.shape) > 1:
                raise StatsInputError(f"{label}: expected one-dimensional data, got shape {arr.shape}")
            arr = arr.ravel()
        s = pd.Series(arr)
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        s = s.astype("float64")
    elif pd.api.types.is_complex_dtype(dtype):
        raise NonNumericError(f"{label} has dtype {dtype}; a {purpose} needs real numbers")
    elif not pd.api.types.is_numeric_dtype(dtype):
        if pd.api.types.is_object_dtype(dtype):
            conv = pd.to_numeric(s, errors="coerce")
            bad = s[conv.isna() & s.notna()]
            # a float NaN in an object column is missing, not text
            bad = bad[[not (isinstance(v, float) and v != v) for v in bad]]
            if len(bad):
                raise NonNumericError(
                    f"{label} has dtype object with non-numeric values such as {bad.iloc[0]!r}; "
                    f"a {purpose} needs numeric data (convert or drop those values)")
            s = conv
        else:
            raise NonNumericError(
                f"{label} has dtype {dtype}; a {purpose} needs numeric data "
                "(use a chi-square test for categories, or convert the column to numbers)")
    values = s.to_numpy(dtype="float64", na_value=np.nan)
    finite = np.isfinite(values)
    dropped = int(values.size - finite.sum())
    values = values[finite]
    if values.size == 0:
        if dropped:
            raise InsufficientDataError(f"{label}: all {dropped} values are missing (NaN/null)")
        raise InsufficientDataError(f"{label} is empty")
    return values, dropped


class _Groups(list):
    """Samples split by a column; ``unassigned`` rows had a missing group label."""

    unassigned = 0
    by = ""


def _note_unassigned(r: TestResult, groups: Sequence[_Sample]) -> TestResult:
    k = getattr(groups, "unassigned", 0)
    if k:
        key = f"missing {groups.by}"  # type: ignore[attr-defined]
        r.dropped[key] = k
        r.warnings.append(f"{k} row(s) with a missing {groups.by!r} were left out")  # type: ignore[attr-defined]
    return r


def _letters(k: int) -> list[str]:
    return [chr(ord("A") + i) if k <= 26 else f"group {i + 1}" for i in range(k)]


def _samples(args: Sequence[Any], by: str | None, purpose: str) -> list[_Sample]:
    """Resolve (table, column[, column...]) / (table, column, by=) / mapping / array-likes."""
    if not args:
        raise InsufficientDataError(f"a {purpose} needs data")
    first = args[0]
    if _is_table(first):
        from datamill.analytics.source import to_pandas

        df = to_pandas(first)
        cols = [c for c in args[1:] if c is not None]
        if not cols:
            raise StatsInputError(f"name the column to test: e.g. {purpose.split()[0]}(df, 'value', by='group')")
        if by is not None:
            if len(cols) != 1:
                raise StatsInputError("with by=, name exactly one value column")
            values = _column(df, cols[0])
            groups = _column(df, by)
            mask = groups.notna()
            out = []
            for key, part in values[mask].groupby(groups[mask], sort=True, observed=True):
                v, d = _numeric(part, f"column {cols[0]!r} ({by}={key})", purpose)
                out.append(_Sample(str(key), v, d))
            out = _Groups(out)
            out.unassigned = int((~mask).sum())
            out.by = by
            return out
        return [_Sample(str(c), *_numeric(_column(df, c), f"column {c!r}", purpose)) for c in cols]
    if len(args) == 1 and isinstance(first, Mapping):
        return [_Sample(str(k), *_numeric(v, f"group {k!r}", purpose)) for k, v in first.items()]
    labels = _letters(len(args))
    names = [getattr(a, "name", None) for a in args]
    if all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names):
        labels = [str(n) for n in names]
    return [_Sample(lab, *_numeric(a, lab if lab in names else f"sample {lab}", purpose))
            for lab, a in zip(labels, args, strict=True)]


def _check_alt(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise StatsInputError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")


def _check_level(level: float) -> None:
    if not (isinstance(level, int | float) and 0 < level < 1):
        raise StatsInputError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")


def _p_from(dist: Any, stat: float, alternative: str) -> float:
    if alternative == "two-sided":
        return float(min(1.0, 2 * dist.sf(abs(stat))))
    if alternative == "greater":
        return float(dist.sf(stat))
    return float(dist.cdf(stat))


def _ci_from(dist: Any, est: float, se: float, level: float, alternative: str) -> tuple[float, float]:
    if alternative == "two-sided":
        q = float(dist.ppf(0.5 + level / 2))
        return (est - q * se, est + q * se)
    q = float(dist.ppf(level))
    if alternative == "greater":
        return (est - q * se, math.inf)
    return (-math.inf, est + q * se)


def _mean_var(x: Any) -> tuple[float, float]:
    """Mean and sample variance, two-pass on shifted data (stable for NIST NumAcc-type data)."""
    n = x.size
    shift = x[0]
    y = x - shift
    m = y.mean()
    if n < 2:
        return float(m + shift), 0.0
    r = y - m
    var = float((r @ r - (r.sum() ** 2) / n) / (n - 1))
    return float(m + shift), max(var, 0.0)


def lag1_autocorrelation(x: Any) -> float:
    """NIST StRD lag-1 autocorrelation: sum((x_i - m)(x_{i+1} - m)) / sum((x_i - m)^2)."""
    x, _ = _numeric(x, "data", "lag-1 autocorrelation")
    if x.size < 2:
        raise InsufficientDataError("lag-1 autocorrelation needs at least 2 values")
    m, _ = _mean_var(x)
    r = x - m
    den = float(r @ r)
    if den == 0:
        raise ZeroVarianceError("lag-1 autocorrelation is undefined for constant data")
    return float(r[:-1] @ r[1:]) / den


# -- assumption checks ----------------------------------------------------------------------


def _normality(s: _Sample, alpha: float = 0.05, what: str = "") -> tuple[Assumption | None, str | None]:
    """Shapiro-Wilk (n <= 5000) or D'Agostino-Pearson (n > 5000) on one sample."""
    from scipy import stats as ss

    name = f"normality of {what or s.label}"
    x = s.values
    if x.size < 3:
        return None, f"normality of {what or s.label} cannot be checked with n = {x.size}"
    if x.max() == x.min():
        return Assumption(name, False, "all values are equal"), None
    with warnings.catch_warnings():  # near-constant data: scipy warns about precision
        warnings.simplefilter("ignore", RuntimeWarning)
        if x.size <= SHAPIRO_MAX:
            p = float(ss.shapiro(x).pvalue)
            test = "Shapiro-Wilk"
        else:
            p = float(ss.normaltest(x).pvalue)
            test = "D'Agostino-Pearson"
    return Assumption(name, p >= alpha, f"{test} p = {p:.3g}, n = {x.size}"), None


def _levene(samples: list[_Sample], alpha: float = 0.05) -> Assumption | None:
    from scipy import stats as ss

    if any(s.n < 2 for s in samples):
        return None
    if all(s.values.max() == s.values.min() for s in samples):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(ss.levene(*[s.values for s in samples], center="median").pvalue)
    return Assumption("equal variances", p >= alpha, f"Levene (median-centred) p = {p:.3g}")


def _magnitude(kind: str, v: float) -> str:
    a = abs(v)
    cuts = {"d": (0.2, 0.5, 0.8), "r": (0.1, 0.3, 0.5), "eta2": (0.01, 0.06, 0.14),
            "w": (0.1, 0.3, 0.5), "h": (0.2, 0.5, 0.8)}[kind]
    if a < cuts[0]:
        return "negligible"
    if a < cuts[1]:
        return "small"
    if a < cuts[2]:
        return "medium"
    return "large"


def _significance(p: float, alpha: float, what: str, null: str) -> str:
    if p < alpha:
        cmp = "" if p < 0.001 <= alpha else f" < {alpha:g}"
        return f"With {_fmt_p(p)}{cmp}, {what} is statistically significant at the {alpha:g} level."
    return (f"With {_fmt_p(p)} ≥ {alpha:g}, {what} is not statistically significant: "
            f"the data are consistent with {null}.")


def _assumption_notes(result: TestResult, nonparam: str | None, robust_n: int | None = None) -> str:
    notes = []
    normal = [a for a in result.assumptions if a.name.startswith("normality") and not a.passed]
    if normal:
        who = "; ".join(f"{a.name.removeprefix('normality of ')} ({a.detail})" for a in normal)
        txt = f"Normality looks doubtful for {who}"
        if robust_n is not None and robust_n >= LARGE_N:
            txt += f", though with n = {robust_n} the test is fairly robust to this"
        if nonparam:
            txt += f"; consider {nonparam}"
        notes.append(txt + ".")
    for a in result.assumptions:
        if a.passed:
            continue
        if a.name == "equal variances":
            notes.append(f"The variances look unequal ({a.detail}).")
        elif a.name.startswith("independence"):
            notes.append(f"The values look serially correlated ({a.detail}); "
                         "the test assumes independent observations.")
    return " ".join(notes)


def _add(result: TestResult, check: tuple[Assumption | None, str | None]) -> None:
    a, note = check
    if a is not None:
        result.assumptions.append(a)
    if note:
        result.warnings.append(note)


def _independence(s: _Sample) -> Assumption | None:
    if s.n < 10 or s.values.max() == s.values.min():
        return None
    r1 = lag1_autocorrelation(s.values)
    bound = 1.96 / math.sqrt(s.n)
    return Assumption(f"independence of {s.label}", abs(r1) <= bound,
                      f"lag-1 autocorrelation {r1:.3g} (|r1| should be below {bound:.3g})")


def _finish(result: TestResult, nonparam: str | None = None, robust_n: int | None = None) -> TestResult:
    for a in result.assumptions:
        if not a.passed and not a.name.startswith("expected counts"):
            result.warnings.append(f"{a.name} doubtful: {a.detail}")
    notes = _assumption_notes(result, nonparam, robust_n)
    if notes:
        result.interpretation = f"{result.interpretation} {notes}"
    dropped = sum(result.dropped.values())
    if dropped:
        result.warnings.append(f"{dropped} missing value(s) dropped "
                               f"({', '.join(f'{k}: {v}' for k, v in result.dropped.items() if v)})")
    return result


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


# -- z-tests --------------------------------------------------------------------------------


def ztest(a: Any, b: Any = None, *, sigma: float, sigma_b: float | None = None, mu: float = 0.0,
          alternative: str = "two-sided", level: float = 0.95, alpha: float = 0.05) -> TestResult:
    """z-test for one mean (``mean(a) == mu``) or two means with known standard deviation(s)."""
    from scipy import stats as ss

    _check_alt(alternative)
    _check_level(level)
    for nm, sg in (("sigma", sigma), ("sigma_b", sigma_b)):
        if sg is not None and not (isinstance(sg, int | float) and math.isfinite(sg) and sg > 0):
            raise StatsInputError(f"{nm} (the known standard deviation) must be a positive number, got {sg!r}")
    samples = _samples([a] if b is None else [a, b], None, "z-test")
    dist = ss.norm()
    if len(samples) == 1:
        (s,) = samples
        m = float(s.values.mean())
        se = sigma / math.sqrt(s.n)
        est, lab, n = m, "mean", {s.label: s.n}
        z = (m - mu) / se
        d = (m - mu) / sigma
        head = f"The mean of {s.label} is {_fmt(m)} (n = {s.n}, known sd {_fmt(sigma)}), compared with {_fmt(mu)}"
        what, null = f"the difference from {_fmt(mu)}", f"a mean of {_fmt(mu)}"
    else:
        sa, sb = samples
        sb_sigma = sigma if sigma_b is None else sigma_b
        m1, m2 = float(sa.values.mean()), float(sb.values.mean())
        se = math.sqrt(sigma ** 2 / sa.n + sb_sigma ** 2 / sb.n)
        est, lab, n = m1 - m2, f"mean({sa.label}) - mean({sb.label})", {sa.label: sa.n, sb.label: sb.n}
        z = (est - mu) / se
        d = (est - mu) / math.sqrt((sigma ** 2 + sb_sigma ** 2) / 2)
        head = (f"The mean of {sa.label} ({_fmt(m1)}) minus the mean of {sb.label} ({_fmt(m2)}) "
                f"is {_fmt(est)}")
        what, null = "this difference", "equal means"
    p = _p_from(dist, z, alternative)
    ci = _ci_from(dist, est, se, level, alternative)
    es = EffectSize("Cohen's d", d, _magnitude("d", d))
    r = TestResult("z-test" if len(samples) == 1 else "Two-sample z-test", z, p, None, ci, level,
                   est, lab, es, n, {s.label: s.dropped for s in samples}, alternative=alternative,
                   alpha=alpha, details={"se": se, "sigma": sigma, "sigma_b": sigma_b, "mu": mu})
    for s in samples:
        _add(r, _normality(s))
    r.interpretation = (f"{head}, {level:.0%} CI {_fmt_ci(ci)}. "
                        + _significance(p, alpha, what, null) + f" {_d_magnitude_text(es)}")
    return _finish(r, None, min(s.n for s in samples))


def _count(count: Any, nobs: Any, label: str) -> tuple[int, int, int]:
    """(successes, trials, dropped) from counts, or from an array of 0/1 / booleans."""
    import numpy as np

    if nobs is None:
        v, dropped = _numeric(count, label, "proportion test")
        if not np.isin(v, (0.0, 1.0)).all():
            raise StatsInputError(f"{label}: without nobs, pass 0/1 or boolean outcomes "
                                  "(or the number of successes with nobs=)")
        return int(v.sum()), int(v.size), dropped
    try:
        c, n = float(count), float(nobs)
    except (TypeError, ValueError):
        raise StatsInputError(f"{label}: count and nobs must be numbers, got {count!r} and {nobs!r}") from None
    if not (math.isfinite(c) and math.isfinite(n)) or c != int(c) or n != int(n):
        raise StatsInputError(f"{label}: count and nobs must be whole numbers, got {count!r} and {nobs!r}")
    if n <= 0:
        raise InsufficientDataError(f"{label}: nobs must be at least 1, got {int(n)}")
    if not 0 <= c <= n:
        raise StatsInputError(f"{label}: count must be between 0 and nobs ({int(n)}), got {int(c)}")
    return int(c), int(n), 0


def _wilson(x: int, n: int, level: float) -> tuple[float, float]:
    from scipy import stats as ss

    z = float(ss.norm.ppf(0.5 + level / 2))
    p = x / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def ztest_proportion(count: Any, nobs: int | None = None, *, p0: float = 0.5,
                     alternative: str = "two-sided", level: float = 0.95,
                     alpha: float = 0.05) -> TestResult:
    """z-test for one proportion (score test, ``p0`` in the standard error); Wilson CI.

    ``count`` is the number of successes out of ``nobs``, or an array of 0/1 outcomes.
    The exact binomial p-value is also reported in ``details["exact_binomial_p"]``.
    """
    from scipy import stats as ss

    _check_alt(alternative)
    _check_level(level)
    if not (isinstance(p0, int | float) and 0 < p0 < 1):
        raise StatsInputError(f"p0 must be strictly between 0 and 1, got {p0!r}")
    x, n, dropped = _count(count, nobs, "proportion")
    ph = x / n
    se = math.sqrt(p0 * (1 - p0) / n)
    z = (ph - p0) / se
    p = _p_from(ss.norm(), z, alternative)
    if alternative == "two-sided":
        ci = _wilson(x, n, level)
    elif alternative == "greater":
        ci = (_wilson(x, n, 2 * level - 1)[0], 1.0)
    else:
        ci = (0.0, _wilson(x, n, 2 * level - 1)[1])
    h = 2 * math.asin(math.sqrt(ph)) - 2 * math.asin(math.sqrt(p0))
    es = EffectSize("Cohen's h", h, _magnitude("h", h))
    exact = float(ss.binomtest(x, n, p0, alternative=alternative).pvalue)
    r = TestResult("One-proportion z-test", z, p, None, ci, level, ph, "proportion", es,
                   {"n": n}, {"n": dropped}, alternative=alternative, alpha=alpha,
                   details={"successes": x, "p0": p0, "exact_binomial_p": exact})
    ok = n * p0 >= 10 and n * (1 - p0) >= 10
    r.assumptions.append(Assumption("expected counts ≥ 10", ok,
                                    f"n·p0 = {_fmt(n * p0)}, n·(1-p0) = {_fmt(n * (1 - p0))}"))
    if not ok:
        r.warnings.append(f"the normal approximation is poor with n·p0 = {_fmt(n * p0)}; "
                          f"rely on the exact binomial test (p = {exact:.3g})")
    r.interpretation = (
        f"The observed proportion is {_fmt(ph)} ({x} of {n}), {level:.0%} Wilson CI {_fmt_ci(ci)}, "
        f"compared with {_fmt(p0)}. "
        + _significance(p, alpha, "the difference", f"a proportion of {_fmt(p0)}")
        + f" {_d_magnitude_text(es)}")
    if not ok:
        r.interpretation += f" The sample is small for the z approximation: the exact binomial p = {exact:.3g}."
    return _finish(r)


def _newcombe(x1: int, n1: int, x2: int, n2: int, level: float) -> tuple[float, float]:
    """Newcombe (1998) hybrid score interval for p1 - p2 (method 10)."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = _wilson(x1, n1, level)
    l2, u2 = _wilson(x2, n2, level)
    d = p1 - p2
    lo = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return (max(-1.0, lo), min(1.0, hi))


def ztest_proportions(count1: Any, nobs1: int | None, count2: Any, nobs2: int | None, *,
                      alternative: str = "two-sided", level: float = 0.95,
                      alpha: float = 0.05) -> TestResult:
    """Pooled two-proportion z-test of ``p1 == p2``; Newcombe CI for ``p1 - p2``.

    When an expected count is below 5, Fisher's exact p is in ``details["fisher_exact_p"]``.
    """
    from scipy import stats as ss

    _check_alt(alternative)
    _check_level(level)
    x1, n1, d1 = _count(count1, nobs1, "group 1")
    x2, n2, d2 = _count(count2, nobs2, "group 2")
    p1, p2 = x1 / n1, x2 / n2
    pp = (x1 + x2) / (n1 + n2)
    if pp in (0.0, 1.0):
        raise ZeroVarianceError(
            f"two-proportion test: every observation is a {'success' if pp == 1 else 'failure'} "
            "in both groups, so the z statistic is undefined (the proportions are equal)")
    se = math.sqrt(pp * (1 - pp) * (1 / n1 + 1 / n2))
    z = (p1 - p2) / se
    p = _p_from(ss.norm(), z, alternative)
    if alternative == "two-sided":
        ci = _newcombe(x1, n1, x2, n2, level)
    elif alternative == "greater":
        ci = (_newcombe(x1, n1, x2, n2, 2 * level - 1)[0], 1.0)
    else:
        ci = (-1.0, _newcombe(x1, n1, x2, n2, 2 * level - 1)[1])
    h = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))
    es = EffectSize("Cohen's h", h, _magnitude("h", h))
    r = TestResult("Two-proportion z-test", z, p, None, ci, level, p1 - p2, "p1 - p2", es,
                   {"group 1": n1, "group 2": n2}, {"group 1": d1, "group 2": d2},
                   alternative=alternative, alpha=alpha,
                   details={"p1": p1, "p2": p2, "pooled": pp, "successes": [x1, x2]})
    expected = [n1 * pp, n1 * (1 - pp), n2 * pp, n2 * (1 - pp)]
    ok = min(expected) >= 5
    r.assumptions.append(Assumption("expected counts ≥ 5", ok, f"smallest expected count {_fmt(min(expected))}"))
    if not ok:
        fp = float(ss.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]], alternative=alternative).pvalue)
        r.details["fisher_exact_p"] = fp
        r.warnings.append(f"an expected count is below 5 ({_fmt(min(expected))}): the z approximation "
                          f"is unreliable; use Fisher's exact test (p = {fp:.3g})")
    r.interpretation = (
        f"The proportion is {_fmt(p1)} in group 1 ({x1}/{n1}) and {_fmt(p2)} in group 2 ({x2}/{n2}): "
        f"a difference of {_fmt(p1 - p2)}, {level:.0%} CI {_fmt_ci(ci)}. "
        + _significance(p, alpha, "this difference", "equal proportions") + f" {_d_magnitude_text(es)}")
    if not ok:
        r.interpretation += f" Expected counts are small: Fisher's exact test gives p = {r.details['fisher_exact_p']:.3g}."
    return _finish(r)


# -- chi-square -----------------------------------------------------------------------------


def _contingency(data: Any, row: str | None, col: str | None) -> tuple[Any, list[str], list[str], int]:
    import numpy as np
    import pandas as pd

    dropped = 0
    if _is_table(data) and row is not None:
        from datamill.analytics.source import to_pandas

        df = to_pandas(data)
        if col is None:
            raise StatsInputError("name two columns: chi2_independence(df, 'row_column', 'col_column')")
        r, c = _column(df, row), _column(df, col)
        mask = r.notna() & c.notna()
        dropped = int((~mask).sum())
        if not mask.any():
            raise InsufficientDataError(f"columns {row!r} and {col!r} have no rows where both are present")
        tab = pd.crosstab(r[mask], c[mask])
        return tab.to_numpy(dtype="float64"), [str(x) for x in tab.index], [str(x) for x in tab.columns], dropped
    if isinstance(data, pd.DataFrame):
        labels_r, labels_c = [str(x) for x in data.index], [str(x) for x in data.columns]
        try:
            obs = data.to_numpy(dtype="float64")
        except (TypeError, ValueError):
            raise NonNumericError("the contingency table must hold counts; to cross-tabulate two "
                                  "columns pass their names: chi2_independence(df, 'a', 'b')") from None
    else:
        try:
            obs = np.asarray(data, dtype="float64")
        except (TypeError, ValueError):
            raise NonNumericError("the contingency table must be a 2-d array of counts") from None
        if obs.ndim != 2:
            raise StatsInputError(f"a contingency table must be 2-dimensional, got shape {obs.shape}")
        labels_r = [str(i) for i in range(obs.shape[0])]
        labels_c = [str(i) for i in range(obs.shape[1])]
    if obs.size == 0:
        raise InsufficientDataError("the contingency table is empty")
    if not np.isfinite(obs).all() or (obs < 0).any():
        raise StatsInputError("contingency-table counts must be finite and non-negative")
    return obs, labels_r, labels_c, dropped


def chi2_independence(data: Any, row: str | None = None, col: str | None = None, *,
                      correction: bool = True, alpha: float = 0.05) -> TestResult:
    """Chi-square test of independence on a contingency table or two columns of a DataFrame.

    ``correction`` applies Yates' continuity correction to 2x2 tables (as R and scipy do).
    If an expected count is below 5 the result warns and, for 2x2, reports Fisher's exact p
    (``details["fisher_exact_p"]``). Effect size: Cramér's V (from the uncorrected statistic).
    """
    import numpy as np
    from scipy import stats as ss

    obs, lr, lc, dropped = _contingency(data, row, col)
    warnings = []
    keep_r, keep_c = obs.sum(axis=1) > 0, obs.sum(axis=0) > 0
    if not keep_r.all() or not keep_c.all():
        warnings.append(f"removed {int((~keep_r).sum())} empty row(s) and {int((~keep_c).sum())} "
                        "empty column(s) from the table")
        obs = obs[keep_r][:, keep_c]
        lr = [x for x, k in zip(lr, keep_r, strict=True) if k]
        lc = [x for x, k in zip(lc, keep_c, strict=True) if k]
    if obs.shape[0] < 2 or obs.shape[1] < 2:
        raise InsufficientDataError(
            f"a test of independence needs at least 2 rows and 2 columns with data, got a "
            f"{obs.shape[0]}x{obs.shape[1]} table (a variable with a single category cannot vary)")
    total = obs.sum()
    expected = np.outer(obs.sum(axis=1), obs.sum(axis=0)) / total
    dev = obs - expected
    chi2_raw = float((dev ** 2 / expected).sum())
    dof = (obs.shape[0] - 1) * (obs.shape[1] - 1)
    corrected = correction and dof == 1
    if corrected:
        adj = np.minimum(0.5, np.abs(dev))
        stat = float(((np.abs(dev) - adj) ** 2 / expected).sum())
    else:
        stat = chi2_raw
    p = float(ss.chi2.sf(stat, dof))
    k = min(obs.shape) - 1
    v = math.sqrt(chi2_raw / (total * k))
    es = EffectSize("Cramér's V", v, _magnitude("w", v * math.sqrt(k)))
    name = "Chi-square test of independence" + (" (Yates-corrected)" if corrected else "")
    r = TestResult(name, stat, p, dof, None, 0.95, None, "", es, {"total": int(total)},
                   {"rows": dropped}, warnings=warnings, alpha=alpha,
                   details={"observed": obs.tolist(), "expected": expected.tolist(),
                            "row_labels": lr, "col_labels": lc, "chi2_uncorrected": chi2_raw})
    small = int((expected < 5).sum())
    ok = small == 0
    r.assumptions.append(Assumption(
        "expected counts ≥ 5", ok,
        f"{small} of {expected.size} cells have an expected count below 5 (smallest {_fmt(float(expected.min()))})"
        if small else f"smallest expected count {_fmt(float(expected.min()))}"))
    if not ok:
        msg = (f"{small} of {expected.size} expected counts are below 5, so the chi-square "
               "approximation may be poor; use Fisher's exact test")
        if obs.shape == (2, 2):
            fp = float(ss.fisher_exact(obs.astype(int)).pvalue)
            r.details["fisher_exact_p"] = fp
            msg += f" (Fisher's exact p = {fp:.3g})"
        else:
            msg += " (or merge sparse categories)"
        r.warnings.append(msg)
    rname = row or "the rows"
    cname = col or "the columns"
    r.interpretation = (
        f"Across {int(total)} observations in a {obs.shape[0]}x{obs.shape[1]} table, "
        f"χ² = {_fmt(stat)} with {dof} df. "
        + _significance(p, alpha, f"the association between {rname} and {cname}",
                        f"{rname} and {cname} being independent")
        + f" The association is {es.magnitude} ({es}).")
    if not ok:
        r.interpretation += " Some expected counts are below 5" + (
            f"; Fisher's exact test gives p = {r.details['fisher_exact_p']:.3g}." if "fisher_exact_p" in r.details
            else "; treat the p-value with caution.")
    return _finish(r)


def chi2_goodness_of_fit(observed: Any, expected: Any = None, *, probs: Any = None, ddof: int = 0,
                         alpha: float = 0.05) -> TestResult:
    """Chi-square goodness-of-fit of observed counts against expected counts or probabilities.

    ``observed`` is counts (array, Series indexed by category, or mapping), or a Series of
    raw categories (counted with ``value_counts``). With neither ``expected`` nor ``probs``
    the categories are tested against a uniform distribution.
    """
    import numpy as np
    import pandas as pd
    from scipy import stats as ss

    labels: list[str]
    dropped = 0
    if isinstance(observed, Mapping):
        labels = [str(k) for k in observed]
        obs = np.asarray(list(observed.values()), dtype="float64")
    elif isinstance(observed, pd.Series) and not pd.api.types.is_numeric_dtype(observed.dtype):
        dropped = int(observed.isna().sum())
        vc = observed.dropna().value_counts(sort=False)
        labels = [str(k) for k in vc.index]
        obs = vc.to_numpy(dtype="float64")
    else:
        obs, dropped = _numeric(observed, "observed counts", "goodness-of-fit test")
        labels = [str(k) for k in observed.index] if isinstance(observed, pd.Series) and not dropped \
            else [str(i) for i in range(obs.size)]
    if obs.size < 2:
        raise InsufficientDataError(f"a goodness-of-fit test needs at least 2 categories, got {obs.size}")
    if (obs < 0).any():
        raise StatsInputError("observed counts must be non-negative")
    total = float(obs.sum())
    if total == 0:
        raise InsufficientDataError("all observed counts are zero")
    if expected is not None and probs is not None:
        raise StatsInputError("give expected counts or probs, not both")
    if probs is not None:
        pr = np.asarray(list(probs.values()) if isinstance(probs, Mapping) else probs, dtype="float64")
        if pr.shape != obs.shape or (pr < 0).any() or abs(pr.sum() - 1) > 1e-8:
            raise StatsInputError(f"probs must be {obs.size} non-negative numbers summing to 1, "
                                  f"got sum {pr.sum():.6g}")
        exp = pr * total
    elif expected is not None:
        exp = np.asarray(list(expected.values()) if isinstance(expected, Mapping) else expected,
                         dtype="float64")
        if exp.shape != obs.shape:
            raise StatsInputError(f"expected has {exp.size} values for {obs.size} categories")
        if abs(exp.sum() - total) > 1e-8 * max(total, 1):
            raise StatsInputError(f"expected counts sum to {exp.sum():.6g} but observed counts sum "
                                  f"to {total:.6g}; pass probs= to rescale")
    else:
        exp = np.full(obs.shape, total / obs.size)
    if (exp <= 0).any():
        raise StatsInputError("every expected count must be positive (drop impossible categories)")
    stat = float(((obs - exp) ** 2 / exp).sum())
    dof = obs.size - 1 - ddof
    if dof < 1:
        raise StatsInputError(f"no degrees of freedom left ({obs.size} categories, ddof={ddof})")
    p = float(ss.chi2.sf(stat, dof))
    w = math.sqrt(stat / total)
    es = EffectSize("Cohen's w", w, _magnitude("w", w))
    r = TestResult("Chi-square goodness-of-fit test", stat, p, dof, None, 0.95, None, "", es,
                   {"total": int(total)}, {"observed": dropped}, alpha=alpha,
                   details={"categories": labels, "observed": obs.tolist(), "expected": exp.tolist()})
    small = int((exp < 5).sum())
    r.assumptions.append(Assumption("expected counts ≥ 5", small == 0,
                                    f"smallest expected count {_fmt(float(exp.min()))}"))
    if small:
        r.warnings.append(f"{small} expected count(s) below 5: the chi-square approximation may be "
                          "poor; merge sparse categories or use an exact multinomial test")
    r.interpretation = (
        f"Across {int(total)} observations in {obs.size} categories, χ² = {_fmt(stat)} with {dof} df. "
        + _significance(p, alpha, "the departure from the expected distribution",
                        "the expected distribution") + f" {_d_magnitude_text(es)}")
    return _finish(r)


def fisher_exact(table: Any, *, alternative: str = "two-sided", alpha: float = 0.05) -> TestResult:
    """Fisher's exact test on a 2x2 table; the estimate is the (sample) odds ratio."""
    from scipy import stats as ss

    _check_alt(alternative)
    obs, lr, lc, _ = _contingency(table, None, None)
    if obs.shape != (2, 2):
        raise StatsInputError(f"fisher_exact takes a 2x2 table, got {obs.shape[0]}x{obs.shape[1]}")
    if (obs != obs.round()).any():
        raise StatsInputError("Fisher's exact test needs whole-number counts")
    res = ss.fisher_exact(obs.astype(int), alternative=alternative)
    orat = float(res.statistic)
    p = float(res.pvalue)
    r = TestResult("Fisher's exact test", orat, p, None, None, 0.95, orat, "odds ratio", None,
                   {"total": int(obs.sum())}, {}, alternative=alternative, alpha=alpha,
                   details={"observed": obs.tolist()})
    r.interpretation = (f"The sample odds ratio is {_fmt(orat)}. "
                        + _significance(p, alpha, "the association", "independence (odds ratio 1)"))
    return _finish(r)


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
    p = float(ss.wilcoxon(nz, alternative=alternative, zero_method="wilcox").pvalue)
    rb = (wplus - wminus) / (wplus + wminus)
    es = EffectSize("matched-pairs rank-biserial r", rb, _magnitude("r", rb))
    med = float(np.median(d))
    r = TestResult("Wilcoxon signed-rank test", wplus, p, None, None, 0.95, med + mu,
                   f"median of {label}" if b is not None else f"median of {label}", es,
                   {"n": int(d.size), "nonzero": int(nz.size)}, dropped, alternative=alternative,
                   alpha=alpha, details={"w_plus": wplus, "w_minus": wminus, "zeros": zeros})
    if zeros:
        r.warnings.append(f"{zeros} zero difference(s) dropped before ranking")
    r.interpretation = (
        f"The median of {label} is {_fmt(med + mu)} over {d.size} values (W+ = {_fmt(wplus)}, "
        f"W- = {_fmt(wminus)}). "
        + _significance(p, alpha, f"the shift away from {_fmt(mu)}", f"a median difference of {_fmt(mu)}")
        + f" {_d_magnitude_text(es)}")
    return _finish(r)


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


def _resample(x: Any, fn: Callable[..., Any], n_resamples: int, rng: Any) -> Any:
    """``n_resamples`` bootstrap replicates of ``fn``; vectorised in chunks of ~4M values."""
    import numpy as np

    n = x.size
    out = np.empty(n_resamples)
    chunk = max(1, min(n_resamples, 4_000_000 // max(n, 1)))
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        out[start:start + m] = fn(x[idx], axis=1)
    return out


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
    boot = _resample(s.values, fn, n_resamples, np.random.default_rng(seed))
    lo, hi = _percentile_ci(boot, level)
    ci = ConfidenceInterval(name, est, lo, hi, level, f"bootstrap (percentile, {n_resamples} resamples)",
                            {s.label: s.n}, {s.label: s.dropped},
                            details={"bootstrap_se": float(boot.std(ddof=1)), "seed": seed})
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
        boot = _resample(s.values, np.mean, n_resamples, np.random.default_rng(seed))
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
        boot = _resample(sa.values, np.mean, n_resamples, rng) - _resample(sb.values, np.mean, n_resamples, rng)
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


# -- multiple testing -----------------------------------------------------------------------

_METHODS = {"bonferroni": "Bonferroni", "holm": "Holm", "bh": "Benjamini-Hochberg",
            "fdr_bh": "Benjamini-Hochberg", "benjamini-hochberg": "Benjamini-Hochberg"}


def adjust_pvalues(p_values: Any, method: str = "holm", *, alpha: float = 0.05,
                   labels: Sequence[str] | None = None) -> AdjustedPValues:
    """Adjust p-values for multiple testing: ``bonferroni``, ``holm`` (family-wise error) or
    ``bh`` / ``fdr_bh`` (Benjamini-Hochberg false discovery rate).

    ``p_values`` may be numbers or :class:`TestResult` objects (their ``p_value`` is used and
    their ``name`` labels the row). Returns adjusted p-values and reject flags (adjusted ≤ alpha).
    """
    import numpy as np

    key = method.lower()
    if key not in _METHODS:
        raise StatsInputError(f"method must be one of bonferroni, holm, bh, got {method!r}")
    if isinstance(p_values, Mapping):
        labels = labels or [str(k) for k in p_values]
        p_values = list(p_values.values())
    items = list(p_values)
    if labels is None:
        labels = [it.name if isinstance(it, TestResult) else f"test {i + 1}" for i, it in enumerate(items)]
    ps = [it.p_value if isinstance(it, TestResult) else it for it in items]
    if not ps:
        raise InsufficientDataError("no p-values to adjust")
    try:
        p = np.asarray(ps, dtype="float64")
    except (TypeError, ValueError):
        raise StatsInputError("p-values must be numbers") from None
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise StatsInputError("p-values must be numbers between 0 and 1 (no NaN)")
    if len(labels) != p.size:
        raise StatsInputError(f"{len(labels)} labels for {p.size} p-values")
    m = p.size
    order = np.argsort(p, kind="mergesort")
    ps_sorted = p[order]
    if key == "bonferroni":
        adj = np.minimum(1.0, p * m)
    elif key == "holm":
        steps = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ps_sorted))
        adj = np.empty(m)
        adj[order] = steps
    else:
        steps = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ps_sorted[::-1])[::-1]
        adj = np.empty(m)
        adj[order] = np.minimum(1.0, steps)
    reject = (adj <= alpha).tolist()
    name = _METHODS[key]
    k = int(sum(reject))
    scope = "false discovery rate" if name == "Benjamini-Hochberg" else "family-wise error rate"
    res = AdjustedPValues(name, alpha, p.tolist(), adj.tolist(), reject, list(labels))
    res.interpretation = (f"{k} of {m} hypotheses are rejected after the {name} adjustment, "
                          f"which controls the {scope} at {alpha:g} (unadjusted: "
                          f"{int((p <= alpha).sum())}).")
    return res
