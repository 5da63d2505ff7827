"""Saved models: round trips per flavour, a checksum that covers every byte, an allow-list
instead of pickle, and a custom flavour for anything else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from datamill import ml
from datamill import transform as T
from datamill.errors import UsageError
from datamill.ml._persist import ModelIntegrityError, load_model, register_flavour, save_model


def _data(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "c": rng.choice(["x", "y"], n)})
    X.loc[::13, "a"] = np.nan
    y = ((X.a.fillna(0) + X.b) > 0).astype(int).to_numpy()
    return X, y


def test_sklearn_pipeline_with_datamill_transforms_round_trips(tmp_path: Path) -> None:
    X, y = _data()
    pipe = make_pipeline(T.Imputer(["a"]), T.OneHotEncoder(["c"]), LogisticRegression())
    pipe.fit(X, y)
    digest = save_model(pipe, tmp_path / "m")
    back = load_model(tmp_path / "m", digest)
    assert (back.predict_proba(X) == pipe.predict_proba(X)).all()
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["MODEL.json", "model.skops"]


def test_hist_gradient_boosting_round_trips(tmp_path: Path) -> None:
    X, y = _data()
    m = HistGradientBoostingClassifier(max_iter=20).fit(X[["a", "b"]], y)
    back = load_model(tmp_path / "m", save_model(m, tmp_path / "m"))
    assert (back.predict(X[["a", "b"]]) == m.predict(X[["a", "b"]])).all()


class Shady(BaseEstimator, TransformerMixin):  # not on the allow-list
    def fit(self, X: Any, y: Any = None) -> Shady:
        return self

    def transform(self, X: Any) -> Any:
        return X


def test_a_type_outside_the_allow_list_is_refused_by_name(tmp_path: Path) -> None:
    X, y = _data()
    pipe = make_pipeline(Shady(), LogisticRegression()).fit(X[["a", "b"]].fillna(0), y)
    digest = save_model(pipe, tmp_path / "m")
    with pytest.raises(ModelIntegrityError, match=r"not on the allow-list: .*test_persist\.Shady"):
        load_model(tmp_path / "m", digest)
    name = f"{Shady.__module__}.Shady"
    back = load_model(tmp_path / "m", digest, allow=[name])
    assert back.predict(X[["a", "b"]].fillna(0).head(2)).shape == (2,)


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete", "manifest"])
def test_a_changed_file_is_refused_before_loading(tmp_path: Path, damage: str) -> None:
    X, y = _data()
    m = LogisticRegression().fit(X[["b"]], y)
    digest = save_model(m, tmp_path / "m")
    f = tmp_path / "m" / "model.skops"
    data = f.read_bytes()
    if damage == "flip":
        f.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "truncate":
        f.write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        f.unlink()
    else:  # a consistent replacement folder: manifest and file both rewritten
        other = LogisticRegression(C=0.01).fit(X[["b"]], y)
        save_model(other, tmp_path / "other")
        for p in (tmp_path / "other").iterdir():
            (tmp_path / "m" / p.name).write_bytes(p.read_bytes())
    message = {"flip": "model.skops does not match", "truncate": "model.skops does not match",
               "delete": "model.skops is missing", "manifest": "manifest does not match"}[damage]
    with pytest.raises(ModelIntegrityError, match=message) as e:
        load_model(tmp_path / "m", digest)
    assert e.value.exit_code == 2


def test_pickle_only_with_trust(tmp_path: Path) -> None:
    m = {"weights": [1, 2, 3]}
    with pytest.raises(UsageError, match="needs trust=True"):
        save_model(m, tmp_path / "m", flavour="pickle")
    digest = save_model(m, tmp_path / "m", flavour="pickle", trust=True)
    with pytest.raises(ModelIntegrityError, match="runs code from the file"):
        load_model(tmp_path / "m", digest)
    assert load_model(tmp_path / "m", digest, trust=True) == m


def test_an_unknown_model_has_no_silent_fallback(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no safe way to save a builtins.dict"):
        save_model({"a": 1}, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_saving_into_a_used_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        save_model(LogisticRegression(), tmp_path / "m")


def test_lightgbm_and_xgboost_native_formats(tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    xgb = pytest.importorskip("xgboost")
    X, y = _data()
    X = X[["a", "b"]]
    for i, model in enumerate([lgb.LGBMClassifier(n_estimators=20, verbose=-1),
                               xgb.XGBClassifier(n_estimators=20)]):
        model.fit(X, y)
        folder = tmp_path / f"m{i}"
        back = load_model(folder, save_model(model, folder))
        assert np.allclose(back.predict_proba(X), model.predict_proba(X), atol=1e-6)
        assert (back.predict(X) == model.predict(X)).all()
        assert not list(folder.glob("*.pkl")) and not list(folder.glob("*.skops"))


class TinyNet:
    """A pure-NumPy model: two weight arrays and a predict."""

    def __init__(self, w1: np.ndarray, w2: np.ndarray):
        self.w1, self.w2 = w1, w2

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.tanh(X @ self.w1) @ self.w2


class NpyFlavour:
    """A custom flavour: weights as .npy (no pickle: allow_pickle=False on load)."""

    name = "tinynet-npy"

    def handles(self, model: Any) -> bool:
        return isinstance(model, TinyNet)

    def save(self, model: TinyNet, folder: Path) -> list[str]:
        np.save(folder / "w1.npy", model.w1)
        np.save(folder / "w2.npy", model.w2)
        return ["w1.npy", "w2.npy"]

    def load(self, folder: Path, files: list[str], **_: Any) -> TinyNet:
        return TinyNet(np.load(folder / "w1.npy", allow_pickle=False),
                       np.load(folder / "w2.npy", allow_pickle=False))


def test_a_custom_flavour_is_held_to_the_same_checksum(tmp_path: Path) -> None:
    register_flavour(NpyFlavour())
    rng = np.random.default_rng(1)
    net = TinyNet(rng.normal(size=(3, 4)), rng.normal(size=(4,)))
    digest = save_model(net, tmp_path / "m")
    X = rng.normal(size=(5, 3))
    assert np.allclose(load_model(tmp_path / "m", digest).predict(X), net.predict(X))
    w = tmp_path / "m" / "w2.npy"
    w.write_bytes(w.read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(ModelIntegrityError, match="w2.npy does not match"):
        load_model(tmp_path / "m", digest)
    with pytest.raises(UsageError, match="is not a flavour"):
        register_flavour(object())  # type: ignore[arg-type]
    assert ml  # the package imports with the flavour registered
