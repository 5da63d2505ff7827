"""``ml.evaluate``: figures that match scikit-learn's, small curves, importance that finds
the feature that matters, per-segment metrics and the gate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as M
from sklearn.linear_model import LinearRegression, LogisticRegression

from datamill import ml
from datamill.errors import UsageError
from datamill.ml._evaluate import CURVE_POINTS


def _data(n: int = 3000, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"signal": rng.normal(size=n), "noise": rng.normal(size=n),
                       "region": rng.choice(["north", "south"], n, p=[0.7, 0.3])})
    df["bought"] = (2 * df.signal + rng.normal(size=n) > 0).astype(int)
    df["amount"] = 5 * df.signal + rng.normal(size=n)
    return df


def test_binary_evaluation_matches_sklearn_and_is_json() -> None:
    df = _data()
    train, test = df.iloc[:2000], df.iloc[2000:]
    model = LogisticRegression().fit(train[["signal", "noise"]], train.bought)
    ev = ml.evaluate(model, test, target="bought", features=["signal", "noise"],
                     train_table=train, segments=["region"])
    p = model.predict_proba(test[["signal", "noise"]])[:, 1]
    assert ev.metrics["roc_auc"] == pytest.approx(M.roc_auc_score(test.bought, p))
    assert ev.metrics["brier"] == pytest.approx(M.brier_score_loss(test.bought, p))
    assert np.array(ev.confusion).sum() == len(test)
    assert ev.confusion == M.confusion_matrix(test.bought, model.predict(
        test[["signal", "noise"]])).tolist()
    roc = ev.curves["roc"]
    assert len(roc["fpr"]) <= CURVE_POINTS
    assert roc["fpr"][0] == 0 and roc["tpr"][-1] == 1
    assert len(ev.curves["calibration"]["predicted"]) == 10
    assert [i["feature"] for i in ev.importance] == ["signal", "noise"]
    assert ev.importance[0]["drop"] > 0.1 > abs(ev.importance[1]["drop"])
    seg = {s["value"]: s for s in ev.segments["region"]}
    assert seg["north"]["rows"] + seg["south"]["rows"] == len(test)
    assert ev.lift()["roc_auc"] == pytest.approx(ev.metrics["roc_auc"] - 0.5)
    assert "of the evaluated rows" not in ev.baseline_kind
    json.dumps(ev.to_dict())


def test_a_train_result_carries_target_features_and_model() -> None:
    df = _data()
    r = ml.train(LinearRegression(), df.iloc[:2000][["signal", "noise", "amount"]],
                 target="amount")
    ev = ml.evaluate(r, df.iloc[2000:], require={"r2": ">= 0.9"})
    assert ev.problem == "regression" and ev.target == "amount"
    assert ev.metrics["rmse"] < ev.baseline["rmse"]
    assert ev.baseline_kind == "training mean (of the evaluated rows)"
    with pytest.raises(ml.GateFailed, match=r"rmse = [\d.]+ \(required < 0\.01\)"):
        ml.evaluate(r, df.iloc[2000:], require={"rmse": "< 0.01"})


def test_curves_stay_small_on_a_large_test_set() -> None:
    df = _data(60_000)
    model = LogisticRegression().fit(df[["signal"]], df.bought)
    ev = ml.evaluate(model, df, target="bought", features=["signal"], importance=False)
    assert len(ev.curves["roc"]["fpr"]) <= 200 and len(ev.curves["pr"]["recall"]) <= 200
    assert len(json.dumps(ev.to_dict())) < 50_000


def test_bad_evaluation_input_names_it() -> None:
    df = _data(100)
    model = LogisticRegression().fit(df[["signal"]], df.bought)
    with pytest.raises(UsageError, match="name the target"):
        ml.evaluate(model, df)
    with pytest.raises(UsageError, match=r"feature column\(s\) \['nope'\]"):
        ml.evaluate(model, df, target="bought", features=["nope"])
    with pytest.raises(UsageError, match="0 rows"):
        ml.evaluate(model, df.head(0), target="bought", features=["signal"])
    with pytest.raises(UsageError, match="no segment column 'city'"):
        ml.evaluate(model, df, target="bought", features=["signal"], segments=["city"])
