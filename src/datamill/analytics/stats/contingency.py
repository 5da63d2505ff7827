"""Chi-square tests (independence, goodness of fit) and Fisher's exact test."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from datamill.analytics.stats.assumptions import _finish, _magnitude, _significance
from datamill.analytics.stats.inputs import _check_alt, _column, _is_table, _numeric
from datamill.analytics.stats.results import (
    Assumption,
    EffectSize,
    InsufficientDataError,
    NonNumericError,
    StatsInputError,
    TestResult,
    _fmt,
)
from datamill.analytics.stats.ttests import _d_magnitude_text

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


