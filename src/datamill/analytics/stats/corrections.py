"""Multiple-testing corrections (Bonferroni, Holm, Benjamini-Hochberg)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from datamill.analytics.stats.results import (
    AdjustedPValues,
    InsufficientDataError,
    StatsInputError,
    TestResult,
)

# -- multiple testing -----------------------------------------------------------------------

_METHODS = {"bonferroni": "Bonferroni", "holm": "Holm", "bh": "Benjamini-Hochberg",
            "fdr_bh": "Benjamini-Hochberg", "benjamini-hochberg": "Benjamini-Hochberg"}


def adjust_pvalues(p_values: Any, method: str = "holm", *, alpha: float = 0.05,
                   labels: Sequence[str] | None = None) -> AdjustedPValues:
    """Adjust p-values for multiple testing: ``bonferroni``, ``holm`` (family-wise error) or
    ``bh`` / ``fdr_bh`` (Benjamini-Hochberg false discovery rate).

    ``p_values`` may be numbers or :class:`TestResult` objects (their ``p_value`` is used and
    their ``name`` labels the row). Returns adjusted p-values and reject flags (adjusted < alpha, the
    rule of every test here: ``significant`` is ``p < alpha``).
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
    reject = (adj < alpha).tolist()
    name = _METHODS[key]
    k = int(sum(reject))
    scope = "false discovery rate" if name == "Benjamini-Hochberg" else "family-wise error rate"
    res = AdjustedPValues(name, alpha, p.tolist(), adj.tolist(), reject, list(labels))
    res.interpretation = (f"{k} of {m} hypotheses are rejected after the {name} adjustment, "
                          f"which controls the {scope} at {alpha:g} (unadjusted: "
                          f"{int((p < alpha).sum())}).")
    return res
