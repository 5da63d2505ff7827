"""The usual metrics per problem type, a naive baseline to beat, and quality gates.

Classification: accuracy, balanced accuracy, precision, recall, F1 (binary: of the positive
class, the last label in sorted order unless given; multiclass: macro averages), ROC-AUC
and PR-AUC (one-vs-rest macro for multiclass), log loss and Brier score (binary) where the
model gives probabilities. Regression: MAE, RMSE, R², MAPE (rows with a zero target are
left out of MAPE and counted). Computed by scikit-learn's implementations, so the figures
match what users check them against.

A gate is ``{"roc_auc": ">= 0.8", "rmse": "< 12"}``: :func:`check_gate` raises
:class:`GateFailed` naming each metric, its value and the bar.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from datamill.errors import DatamillError, UsageError

#: Metrics where higher is better (the rest: lower is better).
HIGHER_IS_BETTER = {"accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
                    "pr_auc", "r2"}
CLASSIFICATION = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc",
                  "pr_auc", "log_loss", "brier")
REGRESSION = ("mae", "rmse", "r2", "mape")


class GateFailed(DatamillError):
    """A model missed a quality bar: it must not reach the registry (exit code 1)."""

    def __init__(self, failures: list[tuple[str, float | None, str]], model: str = ""):
        self.failures = failures
        who = f"model {model} " if model else "model "
        parts = [f"{m} = {_fmt(v)} (required {bar})" for m, v, bar in failures]
        super().__init__(f"{who}failed its quality gate: " + "; ".join(parts))


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def classification_metrics(y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None,
                           classes: list[Any], pos_label: Any = None) -> dict[str, float]:
    from sklearn import metrics as M

    out: dict[str, float] = {
        "accuracy": float(M.accuracy_score(y, pred)),
        "balanced_accuracy": float(M.balanced_accuracy_score(y, pred)),
    }
    binary = len(classes) == 2
    if binary:
        pos = classes[-1] if pos_label is None else pos_label
        kw: dict[str, Any] = {"average": "binary", "pos_label": pos}
    else:
        pos, kw = None, {"average": "macro", "labels": classes}
    out["precision"] = float(M.precision_score(y, pred, zero_division=0, **kw))
    out["recall"] = float(M.recall_score(y, pred, zero_division=0, **kw))
    out["f1"] = float(M.f1_score(y, pred, zero_division=0, **kw))
    present = len(np.unique(y)) >= 2
    if proba is not None and present:
        if binary:
            p = proba[:, classes.index(pos)]
            yb = (y == pos).astype(int)
            out["roc_auc"] = float(M.roc_auc_score(yb, p))
            out["pr_auc"] = float(M.average_precision_score(yb, p))
            out["brier"] = float(M.brier_score_loss(yb, p))
        else:
            try:
                out["roc_auc"] = float(M.roc_auc_score(y, proba, multi_class="ovr",
                                                       average="macro", labels=classes))
            except ValueError:  # a class absent from this fold
                pass
            yb = (np.asarray(y)[:, None] == np.asarray(classes)[None, :]).astype(int)
            out["pr_auc"] = float(M.average_precision_score(yb, proba, average="macro"))
        out["log_loss"] = float(M.log_loss(y, np.clip(proba, 1e-15, 1), labels=classes))
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as M

    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    out = {
        "mae": float(M.mean_absolute_error(y, pred)),
        "rmse": float(math.sqrt(M.mean_squared_error(y, pred))),
        "r2": float(M.r2_score(y, pred)) if len(y) > 1 else float("nan"),
    }
    nz = y != 0
    if nz.any():
        out["mape"] = float(np.mean(np.abs((y[nz] - pred[nz]) / y[nz])))
    return out


def baseline_predictions(problem: str, y_train: np.ndarray, n: int, classes: list[Any] | None,
                         last_value: bool = False) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The naive model's predictions for ``n`` test rows: the majority class (with the
    training class shares as probabilities), the training mean, or the last training value
    for time splits. Returns (predictions, probabilities, description)."""
    if problem == "classification":
        assert classes is not None
        values, counts = np.unique(y_train, return_counts=True)
        share = {v: c / counts.sum() for v, c in zip(values.tolist(), counts.tolist(),
                                                      strict=True)}
        majority = values[np.argmax(counts)]
        majority = majority.item() if hasattr(majority, "item") else majority
        proba = np.tile([share.get(c, 0.0) for c in classes], (n, 1))
        return np.full(n, majority, dtype=np.asarray(y_train).dtype), proba, \
            f"majority class {majority!r}"
    if last_value:
        v = float(np.asarray(y_train, dtype=float)[-1])
        return np.full(n, v), None, "last value"
    v = float(np.mean(np.asarray(y_train, dtype=float)))
    return np.full(n, v), None, "training mean"


_BAR = re.compile(r"^\s*(>=|<=|>|<|==)\s*([-+0-9.eE]+)\s*$")
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
        "==": operator.eq}


def parse_gate(require: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """``{"roc_auc": ">= 0.8"}`` -> [("roc_auc", ">=", 0.8)]; a bare number means at least
    that (or at most, for a lower-is-better metric)."""
    out = []
    for metric, bar in require.items():
        if isinstance(bar, int | float):
            op = ">=" if metric in HIGHER_IS_BETTER else "<="
            out.append((metric, op, float(bar)))
            continue
        m = _BAR.match(str(bar))
        if not m:
            raise UsageError(f"quality gate {metric!r}: cannot read the bar {bar!r}; "
                             "write e.g. '>= 0.8' or '< 12.5'")
        out.append((metric, m.group(1), float(m.group(2))))
    return out


def check_gate(metrics: Mapping[str, float], require: Mapping[str, Any] | None,
               model: str = "") -> None:
    """Raise GateFailed when a metric misses its bar (or was not computed)."""
    if not require:
        return
    failures = []
    for metric, op, bar in parse_gate(require):
        v = metrics.get(metric)
        if v is None or math.isnan(v) or not _OPS[op](v, bar):
            failures.append((metric, v, f"{op} {bar:g}"))
    if failures:
        raise GateFailed(failures, model)


__all__ = ["CLASSIFICATION", "GateFailed", "HIGHER_IS_BETTER", "REGRESSION",
           "baseline_predictions", "check_gate", "classification_metrics", "parse_gate",
           "regression_metrics"]
