"""``train``: fit any scikit-learn-compatible estimator on a table, scored on a split.

One call does what a notebook does by hand, the same way every time: convert the table
once, check it (``_data.py``), fit a fresh clone of the estimator per fold, score each
fold with the problem's metrics beside the naive baseline's, and hand back the model with
its scores. A holdout split returns the model that was scored; k-fold and time splits
refit on all rows afterwards (``refit=False`` keeps the last fold's model), the usual
cross-validation practice. Inside a task, pass ``ctx`` and the metrics are recorded with
the run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datamill.errors import DatamillError, UsageError, require
from datamill.ml._data import Prepared, prepare
from datamill.ml._metrics import (
    baseline_predictions,
    check_gate,
    classification_metrics,
    regression_metrics,
)
from datamill.ml._split import Holdout, Split, TimeSplit, parse_split


class TrainingError(DatamillError):
    """The estimator raised while fitting or predicting (exit code 1: the work failed)."""


@dataclass
class TrainResult:
    """A fitted model and how it scored."""

    model: Any
    problem: str
    target: str
    features: list[str]
    classes: list[Any] | None
    split: str
    metrics: dict[str, float]  # mean over folds
    metrics_std: dict[str, float]
    baseline: dict[str, float]  # the naive model on the same folds
    baseline_kind: str
    folds: list[dict[str, Any]] = field(default_factory=list)
    fit_seconds: float = 0.0
    rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the model itself is not included)."""
        return {
            "model": type(self.model).__name__, "problem": self.problem, "target": self.target,
            "features": self.features, "classes": self.classes, "split": self.split,
            "rows": self.rows, "metrics": self.metrics, "metrics_std": self.metrics_std,
            "baseline": {"kind": self.baseline_kind, "metrics": self.baseline},
            "folds": self.folds, "fit_seconds": self.fit_seconds,
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in list(self.metrics.items())[:4])
        return (f"TrainResult({type(self.model).__name__}, {self.problem}, {self.split}, "
                f"{shown})")


def predict_model(model: Any, X: Any, name: str, fold: str) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        pred = np.asarray(model.predict(X))
        proba = np.asarray(model.predict_proba(X)) if hasattr(model, "predict_proba") else None
    except Exception as exc:
        raise TrainingError(f"model {name} failed to predict on {fold}: "
                            f"{type(exc).__name__}: {exc}") from exc
    return pred, proba


def fit_model(model: Any, X: Any, y: np.ndarray, name: str, fold: str,
         fit_params: Mapping[str, Any]) -> Any:
    try:
        return model.fit(X, y, **fit_params)
    except DatamillError:
        raise
    except Exception as exc:
        raise TrainingError(f"model {name} failed in fit on {fold}: "
                            f"{type(exc).__name__}: {exc}") from exc


def score_fold(p: Prepared, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
           classes: list[Any] | None, pos_label: Any) -> dict[str, float]:
    if p.problem == "classification":
        assert classes is not None
        return classification_metrics(y, pred, proba, classes, pos_label)
    return regression_metrics(y, pred)


def model_classes(model: Any, fallback: list[Any] | None) -> list[Any] | None:
    c = getattr(model, "classes_", None)
    return list(c.tolist() if hasattr(c, "tolist") else c) if c is not None else fallback


def train(estimator: Any, table: Any, *, target: str, features: Sequence[str] | None = None,
          split: Split | str | None = None, problem: str | None = None, refit: bool = True,
          require: Mapping[str, Any] | None = None, pos_label: Any = None,
          fit_params: Mapping[str, Any] | None = None, threads: int | None = None,
          ctx: Any = None) -> TrainResult:
    """Fit ``estimator`` on ``table`` to predict ``target`` and score it on ``split``.

    ``split``: a split object (:class:`Holdout`, :class:`KFold`, :class:`GroupKFold`,
    :class:`TimeSplit`) or its string form (``"kfold:5"``); by default a stratified 20%
    holdout for classification, a random one for regression. The split's own column (the
    group or the time) is not a feature unless ``features`` names it. ``require`` is a
    quality gate on the mean test metrics (``{"roc_auc": ">= 0.8"}``): a model that misses
    it raises :class:`GateFailed`. ``threads`` caps the native thread pools (OpenMP, BLAS)
    of the fits: on a busy machine, or beside other training tasks running in parallel,
    ``threads=1`` avoids oversubscribed OpenMP spinning (10x slower gradient boosting was
    measured on a loaded 2-core machine). Returns a :class:`TrainResult`.
    """
    with thread_limit(threads):
        return _train(estimator, table, target=target, features=features, split=split,
                      problem=problem, refit=refit, require=require, pos_label=pos_label,
                      fit_params=fit_params, ctx=ctx)


def thread_limit(threads: int | None) -> Any:
    """A context capping native thread pools to ``threads`` (no-op for None)."""
    import contextlib

    if threads is None:
        return contextlib.nullcontext()
    if threads < 1:
        raise UsageError(f"threads must be at least 1, got {threads}")
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads)


def _train(estimator: Any, table: Any, *, target: str, features: Sequence[str] | None,
           split: Split | str | None, problem: str | None, refit: bool,
           require: Mapping[str, Any] | None, pos_label: Any,
           fit_params: Mapping[str, Any] | None, ctx: Any) -> TrainResult:
    sk_base = _sklearn_base()
    name = type(estimator).__name__
    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
        raise UsageError(f"{name} is not an estimator: it needs fit() and predict()")
    split_col = getattr(parse_split(split), "column", None)  # a group or time column
    p = prepare(table, target, features, estimator, problem,
                exclude=[split_col] if split_col else ())
    sp = parse_split(split, classification=p.problem == "classification")
    fit_params = dict(fit_params or {})
    n = len(p.X)
    folds: list[dict[str, Any]] = []
    fold_metrics: list[dict[str, float]] = []
    base_metrics: list[dict[str, float]] = []
    base_kind = ""
    model = None
    t_fit = 0.0
    splits = list(sp.split(n, p.y, p.frame))
    for i, (tr, te) in enumerate(splits):
        where = f"fold {i + 1} of {len(splits)}" if len(splits) > 1 else "the training split"
        if p.problem == "classification" and len(np.unique(p.y[tr])) < 2:
            raise UsageError(f"model {name}: {where} has a single class in its training rows; "
                             "use a stratified split or more data")
        model = sk_base.clone(estimator)
        t0 = time.perf_counter()
        fit_model(model, p.X.iloc[tr], p.y[tr], name, where, fit_params)
        t_fit += time.perf_counter() - t0
        pred, proba = predict_model(model, p.X.iloc[te], name, where)
        classes = model_classes(model, p.classes)
        m = score_fold(p, p.y[te], pred, proba, classes, pos_label)
        y_tr = p.y[tr]
        last = isinstance(sp, TimeSplit)
        if last:
            y_tr = y_tr[np.argsort(p.frame[sp.column].to_numpy()[tr], kind="stable")]
        b_pred, b_proba, base_kind = baseline_predictions(p.problem, y_tr, len(te), classes,
                                                          last_value=last)
        b = score_fold(p, p.y[te], b_pred, b_proba, classes, pos_label)
        fold_metrics.append(m)
        base_metrics.append(b)
        folds.append({"fold": i + 1, "train_rows": len(tr), "test_rows": len(te),
                      "metrics": m, "baseline": b})
    assert model is not None
    if refit and not isinstance(sp, Holdout):
        model = sk_base.clone(estimator)
        t0 = time.perf_counter()
        fit_model(model, p.X, p.y, name, "all rows (refit)", fit_params)
        t_fit += time.perf_counter() - t0
    mean, std = _aggregate(fold_metrics)
    result = TrainResult(
        model=model, problem=p.problem, target=target, features=p.features,
        classes=model_classes(model, p.classes), split=repr(sp), metrics=mean,
        metrics_std=std, baseline=_aggregate(base_metrics)[0], baseline_kind=base_kind,
        folds=folds, fit_seconds=t_fit, rows=n)
    if ctx is not None:
        for k, v in mean.items():
            ctx.metric(k, v, split="test", model=name)
    check_gate(mean, require, name)
    return result


def _aggregate(rows: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    keys = [k for k in rows[0] if all(k in r for r in rows)] if rows else []
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    std = {k: float(np.std([r[k] for r in rows])) for k in keys}
    return mean, std


def _sklearn_base() -> Any:
    return require("sklearn.base", "ml", "datamill.ml")


__all__ = ["TrainResult", "TrainingError", "thread_limit", "train"]
