"""Regression inputs: the outcome checked for the model (numeric for OLS, two classes for
logit), the design matrix from columns (one-hot encoded categoricals, remembered for
``predict``) or from a formula, and the checks that turn a singular design or perfect
separation into a plain message instead of a numerical failure."""

from __future__ import annotations

import re
from typing import Any

from datamill.analytics import html
from datamill.errors import UsageError


class _Encoder:
    """Numeric columns as they are, categorical ones as 0/1 columns against a reference level
    (the first in sorted order, or the first category of a pandas Categorical)."""

    def __init__(self, df: Any, columns: list[str]):
        import pandas as pd

        self.columns = columns
        self.levels: dict[str, list[Any]] = {}
        for col in columns:
            s = df[col]
            if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
                continue
            if isinstance(s.dtype, pd.CategoricalDtype):
                present = set(s.dropna().unique())
                levels = [v for v in s.cat.categories if v in present]
            else:
                levels = sorted(s.dropna().unique(), key=str)
            if len(levels) > 50:
                raise UsageError(f"predictor {col!r} has {len(levels)} distinct text values; a regression "
                                 "needs a numeric column or a category with few levels (group the rare ones)")
            self.levels[col] = levels

    def name(self, col: str, level: Any) -> str:
        return f"{col}[T.{level}]"

    def transform(self, df: Any) -> Any:
        import numpy as np
        import pandas as pd

        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise UsageError(f"column(s) {missing} not found; the data has {list(df.columns)}")
        out = {"Intercept": pd.Series(1.0, index=df.index)}
        for col in self.columns:
            s = df[col]
            if col not in self.levels:
                out[col] = pd.to_numeric(s, errors="raise").astype(float)
                continue
            levels = self.levels[col]
            unknown = set(s.dropna().unique()) - set(levels)
            if unknown:
                raise UsageError(f"column {col!r} has level(s) {sorted(map(str, unknown))} not seen when the "
                                 f"model was fitted (known: {[str(v) for v in levels]})")
            na = s.isna()
            for lv in levels[1:]:
                v = (s == lv).astype(float)
                v[na] = np.nan
                out[self.name(col, lv)] = v
        return pd.DataFrame(out, index=df.index)


def _check_y(kind: str, s: Any, y: str) -> Any:
    import pandas as pd

    vals = s.dropna()
    if kind == "ols":
        if pd.api.types.is_bool_dtype(s):
            return s.astype(float)
        if not pd.api.types.is_numeric_dtype(s):
            hint = ""
            if vals.nunique() == 2:
                hint = "; it has two values, so a logistic regression (logit) may be what you want"
            raise UsageError(f"response {y!r} is not numeric ({s.dtype}, e.g. {vals.iloc[0]!r}){hint}")
        if vals.nunique() <= 1:
            raise UsageError(f"response {y!r} is constant (every value is {vals.iloc[0] if len(vals) else 'missing'}): "
                             "there is nothing to explain")
        return s.astype(float)
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    uniq = set(vals.unique().tolist())
    if not pd.api.types.is_numeric_dtype(s) or not uniq <= {0, 1}:
        shown = sorted(map(str, uniq))[:6]
        raise UsageError(f"logit needs a 0/1 (or true/false) response; {y!r} has values {shown}. "
                         f"Map it first, e.g. df[{y!r}] = (df[{y!r}] == 'yes').astype(int)")
    if len(uniq) < 2:
        raise UsageError(f"response {y!r} is always {next(iter(uniq), 'missing')}: a logistic regression "
                         "needs both 0s and 1s")
    return s.astype(float)


def _formula_design(kind: str, df: Any, formula: str, y: str) -> tuple[Any, Any, int, list[str], Any]:
    import statsmodels.formula.api as smf

    try:
        model = (smf.ols if kind == "ols" else smf.logit)(formula, df)
    except Exception as exc:  # the formula engine raises many types
        raise UsageError(f"cannot build the model from formula {formula!r}: {exc}") from None
    import pandas as pd

    X = pd.DataFrame(model.exog, columns=model.exog_names)
    endog = pd.Series(model.endog, name=y)
    if endog.ndim != 1 or model.endog.ndim != 1:
        raise UsageError(f"the left side of {formula!r} must be one numeric column")
    n_dropped = len(df) - len(endog)
    rhs = formula.split("~", 1)[1]
    predictors = [c for c in df.columns if c != y and re.search(rf"\b{re.escape(str(c))}\b", rhs)]
    return X, endog, n_dropped, predictors, model


def _formula_references(df: Any, names: list[str]) -> dict[str, str]:
    """Reference levels of categorical terms like ``group[T.b]`` or ``C(group)[T.b]``."""
    out: dict[str, str] = {}
    for nm in names:
        m = re.match(r"^(?:C\()?([^()\[\]]+?)(?:,.*)?\)?\[T\.(.+)\]$", nm)
        if not m or m.group(1) in out or m.group(1) not in df.columns:
            continue
        col = m.group(1)
        seen = {n.split("[T.", 1)[1][:-1] for n in names if "[T." in n and col in n.split("[T.", 1)[0]}
        rest = [str(v) for v in sorted(df[col].dropna().unique(), key=str) if str(v) not in seen]
        if rest:
            out[col] = rest[0]
    return out


def _check_design(kind: str, X: Any, endog: Any, y: str) -> None:
    import numpy as np

    n, k = X.shape
    if n <= k:
        raise UsageError(f"{k} coefficients to estimate (intercept and predictors, after encoding "
                         f"categories) but only {n} complete rows: a regression needs more rows than "
                         "coefficients; drop predictors or add data")
    arr = X.to_numpy(dtype=float)
    if not np.isfinite(arr).all():
        bad = [c for c in X.columns if not np.isfinite(X[c].to_numpy(dtype=float)).all()]
        raise UsageError(f"predictor(s) {bad} hold infinite values")
    if kind == "ols" and float(np.ptp(endog.to_numpy(dtype=float))) == 0:
        raise UsageError(f"response {y!r} is constant in the complete rows: there is nothing to explain")
    consts = [c for c in X.columns if c != "Intercept" and np.ptp(X[c].to_numpy(dtype=float)) == 0]
    if consts:
        raise UsageError(f"predictor(s) {consts} are constant in the rows used; they cannot be told "
                         "apart from the intercept. Drop them")
    norms = np.linalg.norm(arr, axis=0)
    scaled = arr / np.where(norms == 0, 1, norms)
    u, s, vt = np.linalg.svd(scaled, full_matrices=False)
    tol = s.max() * max(n, k) * np.finfo(float).eps * 10
    null = vt[s <= tol]
    if len(null):
        involved = [c for i, c in enumerate(X.columns) if np.abs(null[:, i]).max() > 1e-6]
        raise UsageError(f"perfect collinearity: {', '.join(map(str, involved))} are exact linear "
                         "combinations of each other (one is redundant), so their effects cannot be "
                         "separated. Drop one of them")


def _separating(endog: Any, X: Any) -> str | None:
    """A single predictor whose values split the 0s from the 1s completely, if any."""

    yv = endog.to_numpy(dtype=float)
    for c in X.columns:
        if c == "Intercept":
            continue
        v = X[c].to_numpy(dtype=float)
        a, b = v[yv == 0], v[yv == 1]
        if a.max() < b.min():
            return f"{c!r} (every row with {c} > {html.fmt(float(a.max()))} has 1)"
        if b.max() < a.min():
            return f"{c!r} (every row with {c} > {html.fmt(float(b.max()))} has 0)"
    return None
