"""Saving and loading models safely: a flavour per library, a manifest with a checksum,
and no pickle unless asked for.

A saved model is a folder: the flavour's files plus ``MODEL.json``, the manifest (flavour,
each file's sha256, library versions). The model's checksum is the sha256 of the
manifest's canonical JSON, so it covers every byte of every file; the registry records it
and :func:`load_model` refuses a folder whose files or manifest no longer match it (a
tampered or truncated file is named in the error) before any byte is deserialised.

Flavours and their trust model (docs/ml.md#safe-persistence):

* ``sklearn`` — scikit-learn estimators and pipelines through skops, which rebuilds
  objects without running pickle; on load every type in the file must be on the allow-list
  (scikit-learn, NumPy, SciPy, datamill's fitted transforms, plus ``allow=``) or the load
  is refused naming the type.
* ``lightgbm`` — the booster's native text format; ``xgboost`` — XGBoost's JSON format.
  Both load without executing anything.
* ``pickle`` — anything, saved only with ``trust=True`` and loaded only with
  ``trust=True``: loading a pickle runs code from the file.
* custom flavours (:class:`Flavour`, :func:`register_flavour`) for anything else (a
  PyTorch module, a Hugging Face model): the flavour declares its file format (e.g.
  safetensors or ``.npy`` for weights) and is held to the same manifest and checksum.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from datamill.errors import UsageError, require

MANIFEST = "MODEL.json"
SAFE_MODULES = ("sklearn.", "numpy.", "scipy.", "datamill.transform.", "builtins.")


class ModelIntegrityError(UsageError):
    """A saved model does not match its checksum or cannot be loaded safely (exit code 2)."""


@runtime_checkable
class Flavour(Protocol):
    """A way to save and load one kind of model. ``files`` are relative to the folder."""

    name: str

    def handles(self, model: Any) -> bool: ...

    def save(self, model: Any, folder: Path) -> list[str]: ...

    def load(self, folder: Path, files: Sequence[str], **options: Any) -> Any: ...


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _top(model: Any) -> str:
    return type(model).__module__.split(".")[0]


class SklearnFlavour:
    name = "sklearn"

    def handles(self, model: Any) -> bool:
        return _top(model) == "sklearn" or type(model).__module__.startswith(
            "datamill.transform")

    def save(self, model: Any, folder: Path) -> list[str]:
        sio = require("skops.io", "ml", "saving scikit-learn models")
        sio.dump(model, folder / "model.skops")
        return ["model.skops"]

    def load(self, folder: Path, files: Sequence[str], allow: Sequence[str] = (),
             **_: Any) -> Any:
        sio = require("skops.io", "ml", "loading scikit-learn models")
        path = folder / "model.skops"
        types = sio.get_untrusted_types(file=path)
        refused = [t for t in types if not t.startswith(SAFE_MODULES) and t not in allow]
        if refused:
            raise ModelIntegrityError(
                f"model at {folder} holds type(s) not on the allow-list: {', '.join(refused)}; "
                "if you trust them, load with allow=[...] naming them")
        return sio.load(path, trusted=types)


class _Booster:
    """A LightGBM booster with the scikit-learn prediction surface."""

    def __init__(self, booster: Any, classes: list[Any] | None, features: list[str] | None):
        import numpy as np

        self.booster = booster
        self.classes_ = None if classes is None else np.asarray(classes)
        self.feature_names_in_ = None if features is None else np.asarray(features)

    def predict_proba(self, X: Any) -> Any:
        import numpy as np

        if self.classes_ is None:
            raise AttributeError("a regression model has no predict_proba")
        p = np.asarray(self.booster.predict(X))
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p

    def predict(self, X: Any) -> Any:
        import numpy as np

        if self.classes_ is None:
            return np.asarray(self.booster.predict(X))
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class LightGBMFlavour:
    name = "lightgbm"

    def handles(self, model: Any) -> bool:
        return _top(model) == "lightgbm" or isinstance(model, _Booster)

    def save(self, model: Any, folder: Path) -> list[str]:
        booster = model.booster if isinstance(model, _Booster) else getattr(
            model, "booster_", model)
        booster.save_model(str(folder / "model.txt"))
        classes = getattr(model, "classes_", None)
        feats = getattr(model, "feature_names_in_", None)
        meta = {"classes": None if classes is None else list(classes.tolist()),
                "features": None if feats is None else list(feats)}
        (folder / "lightgbm.json").write_text(json.dumps(meta))
        return ["model.txt", "lightgbm.json"]

    def load(self, folder: Path, files: Sequence[str], **_: Any) -> Any:
        lgb = require("lightgbm", "ml", "loading LightGBM models")
        meta = json.loads((folder / "lightgbm.json").read_text())
        booster = lgb.Booster(model_file=str(folder / "model.txt"))
        return _Booster(booster, meta["classes"], meta["features"])


class XGBoostFlavour:
    name = "xgboost"

    def handles(self, model: Any) -> bool:
        return _top(model) == "xgboost"

    def save(self, model: Any, folder: Path) -> list[str]:
        model.save_model(str(folder / "model.json"))
        (folder / "xgboost.json").write_text(json.dumps({"class": type(model).__name__}))
        return ["model.json", "xgboost.json"]

    def load(self, folder: Path, files: Sequence[str], **_: Any) -> Any:
        xgb = require("xgboost", "ml", "loading XGBoost models")
        cls = json.loads((folder / "xgboost.json").read_text())["class"]
        if cls not in ("XGBClassifier", "XGBRegressor", "XGBRanker", "Booster"):
            raise ModelIntegrityError(f"model at {folder}: unknown XGBoost class {cls!r}")
        model = getattr(xgb, cls)()
        model.load_model(str(folder / "model.json"))
        return model


class PickleFlavour:
    name = "pickle"

    def handles(self, model: Any) -> bool:
        return False  # never chosen on its own: flavour="pickle" with trust=True

    def save(self, model: Any, folder: Path) -> list[str]:
        import pickle

        with (folder / "model.pkl").open("wb") as f:
            pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)
        return ["model.pkl"]

    def load(self, folder: Path, files: Sequence[str], trust: bool = False, **_: Any) -> Any:
        if not trust:
            raise ModelIntegrityError(
                f"model at {folder} is a pickle: loading it runs code from the file; "
                "pass trust=True only for files you produced yourself")
        import pickle

        with (folder / "model.pkl").open("rb") as f:
            return pickle.load(f)  # noqa: S301 - explicit trust=True


_FLAVOURS: dict[str, Flavour] = {}


def register_flavour(flavour: Flavour) -> Flavour:
    """Make a custom flavour available to :func:`save_model` and :func:`load_model`."""
    if not isinstance(flavour, Flavour):
        raise UsageError(f"{flavour!r} is not a flavour: it needs name, handles(), save() "
                         "and load()")
    _FLAVOURS[flavour.name] = flavour
    return flavour


for _f in (SklearnFlavour(), LightGBMFlavour(), XGBoostFlavour(), PickleFlavour()):
    register_flavour(_f)


def flavour_of(model: Any) -> Flavour:
    for f in reversed(list(_FLAVOURS.values())):  # custom flavours first
        if f.handles(model):
            return f
    raise UsageError(
        f"no safe way to save a {type(model).__module__}.{type(model).__name__}: register a "
        "flavour (datamill.ml.register_flavour) or pass flavour='pickle', trust=True")


def _versions(flavour: str) -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("datamill", "scikit-learn", "numpy", "lightgbm", "xgboost", "skops"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def save_model(model: Any, folder: str | Path, *, flavour: str | None = None,
               trust: bool = False) -> str:
    """Save ``model`` into ``folder`` (created; must be empty) and return its checksum."""
    path = Path(folder)
    if path.exists() and any(path.iterdir()):
        raise UsageError(f"cannot save a model into {path}: the folder is not empty")
    if flavour == "pickle" and not trust:
        raise UsageError("flavour='pickle' needs trust=True: a pickle runs code when loaded")
    fl = _FLAVOURS.get(flavour) if flavour else flavour_of(model)
    if fl is None:
        raise UsageError(f"unknown flavour {flavour!r} (known: {', '.join(sorted(_FLAVOURS))})")
    path.mkdir(parents=True, exist_ok=True)
    try:
        files = fl.save(model, path)
        manifest = {"flavour": fl.name, "format": 1, "model": type(model).__name__,
                    "files": {f: _sha256(path / f) for f in sorted(files)},
                    "versions": _versions(fl.name)}
        (path / MANIFEST).write_bytes(_canonical(manifest))
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # nothing half-saved
        raise
    return hashlib.sha256(_canonical(manifest)).hexdigest()


def model_checksum(folder: str | Path) -> str:
    """The checksum a saved folder's manifest stands for (files not re-read)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ModelIntegrityError(f"no {MANIFEST} in {folder}: not a saved datamill model")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_model(folder: str | Path, checksum: str) -> dict[str, Any]:
    """The manifest, after checking it and every file against ``checksum``."""
    path = Path(folder)
    raw = path / MANIFEST
    if not raw.is_file():
        raise ModelIntegrityError(f"no {MANIFEST} in {path}: not a saved datamill model")
    data = raw.read_bytes()
    if hashlib.sha256(data).hexdigest() != checksum:
        raise ModelIntegrityError(f"model at {path}: its manifest does not match the "
                                  "registered checksum (the folder was changed or replaced)")
    manifest = json.loads(data)
    for name, digest in manifest["files"].items():
        f = path / name
        if not f.is_file():
            raise ModelIntegrityError(f"model at {path}: file {name} is missing")
        if _sha256(f) != digest:
            raise ModelIntegrityError(f"model at {path}: file {name} does not match its "
                                      "checksum (tampered or truncated); refusing to load it")
    return manifest


def load_model(folder: str | Path, checksum: str, *, trust: bool = False,
               allow: Sequence[str] = ()) -> Any:
    """Load a saved model only after its files match ``checksum``."""
    manifest = verify_model(folder, checksum)
    fl = _FLAVOURS.get(manifest["flavour"])
    if fl is None:
        raise ModelIntegrityError(f"model at {folder} has flavour {manifest['flavour']!r}, "
                                  "which is not registered in this process")
    return fl.load(Path(folder), list(manifest["files"]), trust=trust, allow=allow)


__all__ = ["Flavour", "ModelIntegrityError", "flavour_of", "load_model", "model_checksum",
           "register_flavour", "save_model", "verify_model"]
