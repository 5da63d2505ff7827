"""A training table in, features and target out: converted once, checked before ``fit``.

Tables arrive as pandas, Polars or Arrow. They become one pandas DataFrame (scikit-learn's
native input: it keeps column names and categorical dtypes; Arrow-backed numeric columns
without nulls convert without a copy), and the target a NumPy array. The checks here are
the ones that otherwise surface as a stack trace from deep inside an estimator: no rows, a
missing column, a target with nulls, a constant target, a single class, text given to a
numeric model, nulls where the estimator cannot take them. Each names the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamill.errors import UsageError


@dataclass
class Prepared:
    """Features ``X`` (pandas), target ``y`` (NumPy), the problem type and class labels."""

    X: Any
    y: np.ndarray
    frame: Any  # the whole table as pandas (split columns such as a time or group column)
    features: list[str]
    target: str
    problem: str  # "classification" or "regression"
    classes: list[Any] | None


def to_pandas(table: Any) -> Any:
    """The table as a pandas DataFrame; a clear error for anything else."""
    mod = type(table).__module__.split(".")[0]
    if mod == "pandas" and hasattr(table, "columns"):
        return table
    if mod == "polars":
        import polars as pl

        if isinstance(table, pl.LazyFrame):
            table = table.collect()
        return table.to_pandas()
    if mod == "pyarrow" and hasattr(table, "schema"):
        return table.to_pandas()
    raise UsageError(f"expected a table (pandas DataFrame, Polars DataFrame or Arrow Table), "
                     f"got {type(table).__name__}")


def problem_of(y: Any, problem: str | None) -> str:
    """'classification' for labels (text, bool, categorical, few integer values), else
    'regression'; an explicit ``problem`` wins."""
    import pandas as pd

    if problem is not None:
        if problem not in ("classification", "regression"):
            raise UsageError(f"problem must be 'classification' or 'regression', got {problem!r}")
        return problem
    s = pd.Series(y)
    if s.dtype == bool or isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object \
            or pd.api.types.is_string_dtype(s.dtype):
        return "classification"
    if pd.api.types.is_integer_dtype(s.dtype) and s.nunique() <= max(2, min(20, len(s) // 20)):
        return "classification"
    return "regression"


def _estimator_name(estimator: Any) -> str:
    return type(estimator).__name__


def allows_nan(estimator: Any) -> bool:
    """Whether the estimator (or a pipeline's first step) accepts missing values."""
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:  # scikit-learn does not pass it up a Pipeline
        first = steps[0][1]
        return True if first in (None, "passthrough") else allows_nan(first)
    if type(estimator).__name__ == "ColumnTransformer":
        return True  # per-column: the fit says which column cannot take them
    try:
        tags = estimator.__sklearn_tags__()
        return bool(tags.input_tags.allow_nan)
    except Exception:
        return True  # not a scikit-learn estimator: let it decide


def _encodes_text(estimator: Any) -> bool:
    """A pipeline or column transformer that may turn text into numbers, or a model that
    takes categories natively: do not refuse text columns up front."""
    name = type(estimator).__name__
    if name in ("Pipeline", "ColumnTransformer") or "Encoder" in name:
        return True
    if getattr(estimator, "categorical_features", None) not in (None, "warn"):
        return True
    return type(estimator).__module__.split(".")[0] in ("lightgbm", "xgboost", "catboost")


def prepare(table: Any, target: str, features: Sequence[str] | None, estimator: Any,
            problem: str | None = None, exclude: Sequence[str] = ()) -> Prepared:
    """Convert once and check; ``exclude`` drops split-only columns from the features."""
    import pandas as pd

    df = to_pandas(table)
    where = f"model {_estimator_name(estimator)}"
    if target not in df.columns:
        raise UsageError(f"{where}: no target column {target!r} in the table "
                         f"(columns: {', '.join(map(str, df.columns[:20]))})")
    if features is None:
        feats = [c for c in df.columns if c != target and c not in exclude]
    else:
        feats = list(features)
        missing = [c for c in feats if c not in df.columns]
        if missing:
            raise UsageError(f"{where}: feature column(s) {missing} are not in the table")
        if target in feats:
            raise UsageError(f"{where}: the target {target!r} is also listed as a feature")
    if not feats:
        raise UsageError(f"{where}: no feature columns")
    if len(df) == 0:
        raise UsageError(f"{where}: the training table has 0 rows")
    y_s = df[target]
    nulls = int(y_s.isna().sum())
    if nulls:
        raise UsageError(f"{where}: target {target!r} has {nulls} null value(s) of {len(df)}; "
                         "drop or fill them before training")
    kind = problem_of(y_s, problem)
    classes = None
    if kind == "classification":
        classes = sorted(pd.unique(y_s).tolist(), key=str)
        if len(classes) < 2:
            raise UsageError(f"{where}: target {target!r} has a single class ({classes[0]!r}); "
                             "a classifier needs at least two")
    elif y_s.nunique() < 2:
        raise UsageError(f"{where}: target {target!r} is constant ({y_s.iloc[0]!r}); "
                         "there is nothing to learn")
    X = df[feats]
    if not _encodes_text(estimator):
        text = [c for c in feats if not (pd.api.types.is_numeric_dtype(X[c].dtype)
                                         or pd.api.types.is_bool_dtype(X[c].dtype))]
        if text:
            raise UsageError(
                f"{where}: column(s) {text} are not numeric ({X[text[0]].dtype}); encode them "
                "first (datamill.transform.OneHotEncoder in a scikit-learn Pipeline) or drop them")
    if not allows_nan(estimator):
        with_nan = [c for c in feats if X[c].isna().any()]
        if with_nan:
            n = int(X[with_nan[0]].isna().sum())
            raise UsageError(
                f"{where}: feature column(s) {with_nan} have missing values ({with_nan[0]!r}: "
                f"{n} of {len(X)}) and {_estimator_name(estimator)} does not accept them; add an "
                "imputer (datamill.transform.Imputer or sklearn SimpleImputer) or use a model "
                "that handles them (HistGradientBoosting*)")
    y = y_s.to_numpy()
    return Prepared(X, y, df, feats, target, kind, classes)


__all__ = ["Prepared", "allows_nan", "prepare", "problem_of", "to_pandas"]
