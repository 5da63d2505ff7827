"""``evaluate``: how good a fitted model is on data it did not train on, in the detail a
reviewer asks for before it is deployed.

Metrics of the problem type (``_metrics.py``), the naive baseline on the same rows,
the confusion matrix, ROC, precision-recall and calibration curves (binary), permutation
importance (how much the test score drops when one feature's values are shuffled: model-
agnostic, on held-out rows), and the metrics per segment of a column. The curves are
downsampled to at most ``CURVE_POINTS`` points, so the JSON and the page stay small
however large the test set. ``require=`` is the same quality gate as ``train``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datamill.errors import UsageError
from datamill.ml._data import to_pandas
from datamill.ml._metrics import (
    HIGHER_IS_BETTER,
    baseline_predictions,
    check_gate,
    classification_metrics,
    regression_metrics,
)

CURVE_POINTS = 200
MAX_SEGMENTS = 50


@dataclass
class Evaluation:
    """The figures of one evaluation; ``to_dict()`` is JSON-able."""

    model: str
    problem: str
    target: str
    rows: int
    metrics: dict[str, float]
    baseline: dict[str, float]
    baseline_kind: str
    classes: list[Any] | None = None
    confusion: list[list[int]] | None = None
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    importance: list[dict[str, Any]] = field(default_factory=list)
    segments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "problem": self.problem, "target": self.target,
            "rows": self.rows, "metrics": self.metrics,
            "baseline": {"kind": self.baseline_kind, "metrics": self.baseline},
            "lift": self.lift(), "classes": self.classes, "confusion": self.confusion,
            "curves": self.curves, "importance": self.importance, "segments": self.segments,
        }

    def lift(self) -> dict[str, float]:
        """Per metric: how much better than the baseline (positive = better)."""
        out = {}
        for k, v in self.metrics.items():
            b = self.baseline.get(k)
            if b is not None:
                out[k] = (v - b) if k in HIGHER_IS_BETTER else (b - v)
        return out


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    n = len(arrays[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, CURVE_POINTS)).round().astype(int))
    return [np.asarray(a, dtype=float)[idx].round(6).tolist() for a in arrays]


def _curves(y: np.ndarray, p: np.ndarray, pos: Any) -> dict[str, dict[str, list[float]]]:
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import precision_recall_curve, roc_curve

    yb = (y == pos).astype(int)
    if yb.min() == yb.max():
        return {}
    fpr, tpr, _ = roc_curve(yb, p)
    prec, rec, _ = precision_recall_curve(yb, p)
    frac, mean_pred = calibration_curve(yb, p, n_bins=10, strategy="quantile")
    fpr_t, tpr_t = _thin(fpr, tpr)
    rec_t, prec_t = _thin(rec[::-1], prec[::-1])
    return {"roc": {"fpr": fpr_t, "tpr": tpr_t},
            "pr": {"recall": rec_t, "precision": prec_t},
            "calibration": {"predicted": mean_pred.round(6).tolist(),
                            "observed": frac.round(6).tolist()}}


def _scorer(problem: str, binary: bool) -> str:
    if problem == "regression":
        return "neg_root_mean_squared_error"
    return "roc_auc" if binary else "balanced_accuracy"


def evaluate(model: Any, table: Any, *, target: str | None = None,
             features: Sequence[str] | None = None, train_table: Any = None,
             require: Mapping[str, Any] | None = None, segments: Sequence[str] = (),
             importance: bool = True, repeats: int = 5, seed: int = 0,
             pos_label: Any = None, ctx: Any = None) -> Evaluation:
    """Evaluate a fitted ``model`` on ``table`` (rows it did not train on).

    ``model`` may be a :class:`TrainResult` (its model, target, features and training
    baseline are used) or a fitted estimator with ``target=`` (and ``features=``; default:
    every other column, minus ``segments``). ``train_table`` gives the baseline its
    training statistics; without it the baseline is computed from the evaluated rows'
    target — an optimistic naive model, said so in ``baseline_kind``.
    """
    from datamill.ml._train import TrainResult

    result = model if isinstance(model, TrainResult) else None
    est = result.model if result else model
    target = target or (result.target if result else None)
    if target is None:
        raise UsageError("evaluate: name the target column (target=...)")
    df = to_pandas(table)
    name = type(est).__name__
    if target not in df.columns:
        raise UsageError(f"evaluate {name}: no target column {target!r} in the table")
    if len(df) == 0:
        raise UsageError(f"evaluate {name}: the table has 0 rows")
    feats = list(features or (result.features if result else
                              [c for c in df.columns if c != target and c not in segments]))
    missing = [c for c in feats if c not in df.columns]
    if missing:
        raise UsageError(f"evaluate {name}: feature column(s) {missing} are not in the table")
    X, y = df[feats], df[target].to_numpy()
    if df[target].isna().any():
        raise UsageError(f"evaluate {name}: target {target!r} has "
                         f"{int(df[target].isna().sum())} null value(s)")
    classes_attr = getattr(est, "classes_", None)
    problem = result.problem if result else (
        "classification" if classes_attr is not None else "regression")
    pred = np.asarray(est.predict(X))
    proba = np.asarray(est.predict_proba(X)) if problem == "classification" and hasattr(
        est, "predict_proba") else None
    classes = list(np.asarray(classes_attr).tolist()) if classes_attr is not None else None
    if problem == "classification":
        assert classes is not None
        metrics = classification_metrics(y, pred, proba, classes, pos_label)
    else:
        metrics = regression_metrics(y, pred)

    y_base = to_pandas(train_table)[target].to_numpy() if train_table is not None else y
    b_pred, b_proba, kind = baseline_predictions(problem, y_base, len(y), classes)
    if train_table is None:
        kind += " (of the evaluated rows)"
    baseline = (classification_metrics(y, b_pred, b_proba, classes, pos_label)
                if problem == "classification" and classes is not None
                else regression_metrics(y, b_pred))
    ev = Evaluation(name, problem, target, len(df), metrics, baseline, kind, classes)

    if problem == "classification" and classes is not None:
        from sklearn.metrics import confusion_matrix

        ev.confusion = confusion_matrix(y, pred, labels=classes).tolist()
        if proba is not None and len(classes) == 2:
            pos = classes[-1] if pos_label is None else pos_label
            ev.curves = _curves(y, proba[:, classes.index(pos)], pos)
    if importance and len(feats) > 0:
        from sklearn.inspection import permutation_importance

        scoring = _scorer(problem, classes is not None and len(classes) == 2)
        try:
            imp = permutation_importance(est, X, y, scoring=scoring, n_repeats=repeats,
                                         random_state=seed)
            order = np.argsort(-imp.importances_mean)
            ev.importance = [{"feature": feats[i], "drop": float(imp.importances_mean[i]),
                              "std": float(imp.importances_std[i]), "scoring": scoring}
                             for i in order]
        except ValueError:  # a scorer that needs both classes on a one-class sample
            ev.importance = []
    for col in segments:
        if col not in df.columns:
            raise UsageError(f"evaluate {name}: no segment column {col!r} in the table")
        rows = []
        values = df[col].astype("object").where(df[col].notna(), "(missing)")
        top = values.value_counts().head(MAX_SEGMENTS)
        for v, n in top.items():
            m = (values == v).to_numpy()
            if problem == "classification" and classes is not None:
                seg = classification_metrics(y[m], pred[m], proba[m] if proba is not None
                                             else None, classes, pos_label)
            else:
                seg = regression_metrics(y[m], pred[m])
            rows.append({"value": v if isinstance(v, str | int | float | bool) else str(v),
                         "rows": int(n), "metrics": seg})
        ev.segments[col] = rows
    if ctx is not None:
        for k, v in metrics.items():
            ctx.metric(k, v, split="evaluation", model=name)
    check_gate(metrics, require, name)
    return ev


__all__ = ["CURVE_POINTS", "Evaluation", "evaluate"]
