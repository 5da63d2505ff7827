"""Input handling: array-likes, tables and mappings to finite float samples; shared p-value / CI helpers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datamill.analytics.stats.results import (
    ALTERNATIVES,
    InsufficientDataError,
    NonNumericError,
    StatsInputError,
    TestResult,
    ZeroVarianceError,
)

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


