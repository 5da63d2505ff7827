"""Assumption checks (normality, equal variances, independence) and the plain-language wording they add."""

from __future__ import annotations

import math
import warnings

from datamill.analytics.stats.inputs import _Sample, lag1_autocorrelation
from datamill.analytics.stats.results import LARGE_N, SHAPIRO_MAX, Assumption, TestResult, _fmt_p

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
    text = _fmt_p(p, alpha)
    if p < alpha:
        # "p < 0.001" / "p < 1e-16" already say p < alpha when alpha is at least that bound
        bound = 1e-16 if text == "p < 1e-16" else 0.001 if text == "p < 0.001" else None
        cmp = "" if bound is not None and bound <= alpha else f" < {alpha:g}"
        return f"With {text}{cmp}, {what} is statistically significant at the {alpha:g} level."
    return (f"With {text} ≥ {alpha:g}, {what} is not statistically significant: "
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


