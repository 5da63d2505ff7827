"""``ml.train``: scores that match scikit-learn's own, a baseline to beat, gates, and bad
input that names the column instead of failing deep inside an estimator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from sklearn import metrics as M
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline

from datamill import ml
from datamill import transform as T
from datamill.errors import UsageError


def _frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                       "city": rng.choice(["x", "y", "z"], n),
                       "ts": pd.date_range("2024-01-01", periods=n, freq="h"),
                       "customer": rng.integers(0, 40, n)})
    df["churned"] = (df.a + 0.5 * df.b + rng.normal(scale=0.7, size=n) > 0.3).astype(int)
    df["spend"] = 3 * df.a - df.b + rng.normal(size=n)
    return df


def test_holdout_scores_match_sklearn_on_the_same_rows() -> None:
    df = _frame()[["a", "b", "churned"]]
    r = ml.train(LogisticRegression(), df, target="churned", split=ml.Holdout(0.25, seed=3))
    [(tr, te)] = ml.Holdout(0.25, seed=3).split(len(df))
    ref = LogisticRegression().fit(df.iloc[tr][["a", "b"]], df.churned.iloc[tr])
    X = df.iloc[te][["a", "b"]]
    y = df.churned.iloc[te]
    assert r.metrics["accuracy"] == pytest.approx(M.accuracy_score(y, ref.predict(X)))
    assert r.metrics["roc_auc"] == pytest.approx(M.roc_auc_score(y, ref.predict_proba(X)[:, 1]))
    assert r.metrics["log_loss"] == pytest.approx(M.log_loss(y, ref.predict_proba(X)))
    assert r.problem == "classification" and r.classes == [0, 1]
    assert r.features == ["a", "b"] and r.rows == len(df)
    # the model handed back is the one that was scored
    assert (r.model.coef_ == ref.coef_).all()
    assert r.metrics["roc_auc"] > r.baseline["roc_auc"] == 0.5
    assert r.baseline_kind.startswith("majority class")


def test_kfold_refits_on_all_rows_and_reports_fold_spread() -> None:
    df = _frame()[["a", "b", "spend"]]
    r = ml.train(LinearRegression(), df, target="spend", split="kfold:4")
    assert r.problem == "regression" and len(r.folds) == 4
    assert sum(f["test_rows"] for f in r.folds) == len(df)
    ref = LinearRegression().fit(df[["a", "b"]], df.spend)
    assert np.allclose(r.model.coef_, ref.coef_)
    assert r.metrics["r2"] > 0.8 and r.metrics_std["rmse"] >= 0
    assert r.metrics["rmse"] < r.baseline["rmse"]
    assert r.baseline_kind == "training mean"


def test_a_pipeline_with_datamill_transforms_survives_cloning_per_fold() -> None:
    df = _frame()
    df.loc[::9, "a"] = np.nan
    pipe = make_pipeline(T.Imputer(["a"], strategy="median"), T.OneHotEncoder(["city"]),
                         LogisticRegression(max_iter=1000))
    r = ml.train(pipe, df[["a", "b", "city", "churned"]], target="churned",
                 split="stratified:3")
    assert len(r.folds) == 3 and r.metrics["roc_auc"] > 0.7
    assert r.model.predict(df[["a", "b", "city"]].head(5)).shape == (5,)


def test_group_and_time_columns_are_split_keys_not_features() -> None:
    df = _frame()
    r = ml.train(LogisticRegression(), df[["a", "b", "customer", "churned"]],
                 target="churned", split="group:4:customer")
    assert r.features == ["a", "b"]
    r = ml.train(LinearRegression(), df[["a", "b", "ts", "spend"]], target="spend",
                 split=ml.TimeSplit("ts", folds=2))
    assert r.features == ["a", "b"] and r.baseline_kind == "last value"


@pytest.mark.parametrize("kind", ["polars", "arrow"])
def test_polars_and_arrow_tables_train_like_pandas(kind: str) -> None:
    df = _frame()[["a", "b", "churned"]]
    table = pl.from_pandas(df) if kind == "polars" else pa.Table.from_pandas(df)
    r = ml.train(LogisticRegression(), table, target="churned")
    assert r.metrics == ml.train(LogisticRegression(), df, target="churned").metrics


def test_quality_gate_names_metric_value_and_bar() -> None:
    df = _frame()[["a", "b", "churned"]]
    with pytest.raises(ml.GateFailed, match=r"roc_auc = 0\.\d+ \(required >= 0\.99\)") as e:
        ml.train(LogisticRegression(), df, target="churned", require={"roc_auc": ">= 0.99"})
    assert e.value.exit_code == 1
    with pytest.raises(ml.GateFailed, match="r2 = n/a"):  # a metric the problem lacks
        ml.train(LogisticRegression(), df, target="churned", require={"r2": 0.5})
    ml.train(LogisticRegression(), df, target="churned", require={"roc_auc": 0.6,
                                                                   "log_loss": "< 0.9"})
    with pytest.raises(UsageError, match="cannot read the bar"):
        ml.train(LogisticRegression(), df, target="churned", require={"roc_auc": "high"})


def test_multiclass_metrics() -> None:
    df = _frame()
    r = ml.train(HistGradientBoostingClassifier(max_iter=30), df[["a", "b", "city"]],
                 target="city")
    assert r.classes == ["x", "y", "z"]
    assert {"roc_auc", "pr_auc", "log_loss", "f1"} <= set(r.metrics)


class _Boom(BaseEstimator, ClassifierMixin):
    def fit(self, X, y):  # noqa: ANN001
        raise RuntimeError("out of memory in the solver")

    def predict(self, X):  # noqa: ANN001
        return np.zeros(len(X))


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.assign(churned=1), "single class"),
    (lambda d: d.assign(churned=d.churned.astype(float).where(d.index % 7 != 0)),
     r"target 'churned' has 86 null value"),
    (lambda d: d.head(0), "0 rows"),
    (lambda d: d.drop(columns="churned"), "no target column 'churned'"),
    (lambda d: d.assign(a=d.a.where(d.index % 5 != 0)),
     r"\['a'\] have missing values \('a': 120 of 600\).*add an imputer"),
    (lambda d: d.assign(b=d.a.round(1).astype(str)), r"column\(s\) \[.b.\] are not numeric"),
])
def test_bad_training_input_names_the_problem(change, message: str) -> None:  # noqa: ANN001
    df = change(_frame()[["a", "b", "city", "churned"]].drop(columns="city"))
    with pytest.raises(UsageError, match=message) as e:
        ml.train(LogisticRegression(), df, target="churned")
    assert e.value.exit_code == 2


def test_constant_regression_target() -> None:
    df = _frame()[["a", "b"]].assign(spend=5.0)
    with pytest.raises(UsageError, match="target 'spend' is constant"):
        ml.train(LinearRegression(), df, target="spend", problem="regression")


def test_a_model_that_handles_nan_is_not_refused() -> None:
    df = _frame()[["a", "b", "spend"]]
    df.loc[::4, "a"] = np.nan
    r = ml.train(HistGradientBoostingRegressor(max_iter=20), df, target="spend")
    assert r.metrics["r2"] > 0.5


def test_an_estimator_that_raises_in_fit_is_a_training_error() -> None:
    df = _frame()[["a", "b", "churned"]]
    with pytest.raises(ml.TrainingError, match="model _Boom failed in fit on the training "
                                               "split: RuntimeError: out of memory") as e:
        ml.train(_Boom(), df, target="churned")
    assert e.value.exit_code == 1


def test_metrics_are_recorded_through_the_run_context() -> None:
    class Ctx:
        def __init__(self) -> None:
            self.seen: list[tuple[str, float, dict[str, str]]] = []

        def metric(self, name: str, value: float, **labels: str) -> None:
            self.seen.append((name, value, labels))

    ctx = Ctx()
    r = ml.train(LogisticRegression(), _frame()[["a", "b", "churned"]], target="churned",
                 ctx=ctx)
    assert ("roc_auc", r.metrics["roc_auc"], {"split": "test", "model": "LogisticRegression"}) \
        in ctx.seen
