"""Result objects (TestResult, ConfidenceInterval, AdjustedPValues, ...), the input errors and number formatting."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from datamill.analytics.jsonable import jsonable as _jsonable
from datamill.errors import UsageError

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

# -- result objects -------------------------------------------------------------------------


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


P_FLOOR = 1e-16  # below this a double p-value is at the floating-point floor (1 - 1e-16 == 1)


def _fmt_p(p: float, alpha: float = 0.05) -> str:
    """A p-value for prose: ``p < 1e-16`` at the floating-point floor (a computed 0.0 is an
    underflow, not a certainty), ``p < 0.001`` when alpha is at least 0.001, the value itself
    (2 significant digits) below that so it can be compared with a smaller alpha."""
    if p < P_FLOOR:
        return "p < 1e-16"
    if p < 0.001:
        return "p < 0.001" if alpha >= 0.001 else f"p = {p:.2g}"
    return f"p = {p:.3f}"


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
