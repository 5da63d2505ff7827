"""Training as a pipeline: a churn model scored on unseen customers, behind a quality gate.

``datamill run churn.py`` (from this folder) generates a year of customer activity with a
fixed seed, then:

* ``features`` builds one row per customer-month (activity, tenure, plan, support calls),
* ``model`` trains a gradient-boosted classifier with a group k-fold by customer (so every
  score is on customers the model never saw) and fails the task if ROC-AUC is below 0.75,
* ``forecast_check`` trains a regression of next month's spend with a time split (trained
  on the past, tested on the future) and compares it with the last-value baseline,

and records the test metrics with the run (``datamill runs show`` lists them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

import datamill
from datamill import Context, ml
from datamill import transform as T


@datamill.task(version="v1")
def features(seed: int = 11, customers: int = 300) -> pd.DataFrame:
    """Twelve months per customer; churn risk rises with support calls and falls with tenure."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        plan = rng.choice(["basic", "plus", "pro"], p=[0.5, 0.3, 0.2])
        tenure0 = int(rng.integers(1, 60))
        base = {"basic": 20.0, "plus": 45.0, "pro": 90.0}[plan]
        for m in range(12):
            calls = int(rng.poisson(1.5 if plan == "basic" else 0.8))
            active = float(np.clip(rng.normal(20 - 3 * calls, 5), 0, None))
            logit = -0.5 + 0.9 * calls - 0.05 * (tenure0 + m) - 0.08 * active
            rows.append({
                "customer": c, "month": pd.Timestamp("2026-01-01") + pd.DateOffset(months=m),
                "plan": plan, "tenure": tenure0 + m, "support_calls": calls,
                "active_days": active if rng.random() > 0.03 else np.nan,  # gaps in tracking
                "spend": base + 0.8 * active + rng.normal(0, 4),
                "churned": int(rng.random() < 1 / (1 + np.exp(-logit))),
            })
    return pd.DataFrame(rows)


@datamill.task
def model(features: pd.DataFrame, ctx: Context) -> dict:
    """Churn classifier scored on unseen customers; the gate keeps a weak model out."""
    result = ml.train(
        HistGradientBoostingClassifier(max_iter=40, learning_rate=0.1),  # takes the NaNs
        features[["customer", "plan", "tenure", "support_calls", "active_days", "churned"]]
        .assign(plan=lambda d: d.plan.map({"basic": 0, "plus": 1, "pro": 2})),
        target="churned", split=ml.GroupKFold("customer", k=5),
        require={"roc_auc": ">= 0.75"}, ctx=ctx,
        threads=1)  # two training tasks run side by side: no OpenMP oversubscription
    ctx.log.info("churn model: %s (baseline roc_auc %.2f)", result, result.baseline["roc_auc"])
    return result.to_dict()


@datamill.task
def forecast_check(features: pd.DataFrame, ctx: Context) -> dict:
    """Spend from activity, tested on the last months only (no peeking at the future)."""
    pipe = make_pipeline(T.Imputer(["active_days"], strategy="median"),
                         T.OneHotEncoder(["plan"]), Ridge())
    result = ml.train(pipe, features[["month", "plan", "active_days", "spend"]],
                      target="spend", split=ml.TimeSplit("month", test_size=0.25, folds=3),
                      ctx=ctx)
    if result.metrics["rmse"] >= result.baseline["rmse"]:
        raise ValueError(f"spend model does not beat the {result.baseline_kind} baseline")
    return result.to_dict()
