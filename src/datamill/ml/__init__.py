"""Machine learning: train, tune and evaluate models as tasks or in a notebook.

    from datamill import ml
    result = ml.train(HistGradientBoostingClassifier(), features, target="churned",
                      split="stratified:5", require={"roc_auc": ">= 0.8"})
    result.metrics, result.baseline, result.model

Any scikit-learn-compatible estimator (scikit-learn ``Pipeline``s with datamill's fitted
transforms inside, LightGBM and XGBoost through their scikit-learn APIs); tables as pandas,
Polars or Arrow. Splits: :class:`Holdout`, :class:`KFold` / :func:`StratifiedKFold`,
:class:`GroupKFold`, :class:`TimeSplit` (no leakage), all seeded. See docs/ml.md.
Needs the ``ml`` extra: ``pip install 'datamill[ml]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datamill._lazy import lazy_exports

_LAZY = {
    "train": "._train", "TrainResult": "._train", "TrainingError": "._train",
    "Holdout": "._split", "KFold": "._split", "StratifiedKFold": "._split",
    "GroupKFold": "._split", "TimeSplit": "._split", "parse_split": "._split",
    "GateFailed": "._metrics", "check_gate": "._metrics",
    "evaluate": "._evaluate", "Evaluation": "._evaluate",
    "save_model": "._persist", "load_model": "._persist", "verify_model": "._persist",
    "model_checksum": "._persist", "register_flavour": "._persist", "Flavour": "._persist",
    "ModelIntegrityError": "._persist",
    "tune": "._tune", "TuneResult": "._tune",
}

__all__ = [
    "Evaluation",
    "Flavour",
    "GateFailed",
    "GroupKFold",
    "Holdout",
    "KFold",
    "ModelIntegrityError",
    "StratifiedKFold",
    "TimeSplit",
    "TrainResult",
    "TrainingError",
    "TuneResult",
    "check_gate",
    "evaluate",
    "load_model",
    "model_checksum",
    "parse_split",
    "register_flavour",
    "save_model",
    "train",
    "tune",
    "verify_model",
]

if TYPE_CHECKING:
    from datamill.ml._evaluate import Evaluation, evaluate
    from datamill.ml._metrics import GateFailed, check_gate
    from datamill.ml._persist import (
        Flavour,
        ModelIntegrityError,
        load_model,
        model_checksum,
        register_flavour,
        save_model,
        verify_model,
    )
    from datamill.ml._split import (
        GroupKFold,
        Holdout,
        KFold,
        StratifiedKFold,
        TimeSplit,
        parse_split,
    )
    from datamill.ml._train import TrainingError, TrainResult, train
    from datamill.ml._tune import TuneResult, tune

__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
