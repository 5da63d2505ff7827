"""``tune``: search an estimator's hyperparameters with Optuna, on the same folds and
metrics as ``train``, resumable after a crash.

The search space is written in code: a dict of ``name -> ("int", lo, hi[, "log"]) |
("float", lo, hi[, "log"]) | [choices] | fixed value``, or a function ``space(trial) ->
params`` for conditional spaces. Each trial scores its folds one by one and reports the
running mean to Optuna, so a median pruner stops a hopeless trial after its first folds.
The budget is ``trials`` and/or ``timeout`` seconds.

The study lives in an Optuna journal file (append-only, written as each trial ends)
beside the run: inside a task at ``<study_dir>/<run id>/<task key>.journal``, so
``datamill resume`` of a killed run opens the same study, keeps every finished trial,
re-runs the ones that were cut off (same parameters), and only fills what is left of the
budget. ``parallel=N`` evaluates N trials at a time, through the run context's sub-tasks
inside a task (threads otherwise).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datamill import _killpoint
from datamill.errors import UsageError, require
from datamill.ml._data import prepare
from datamill.ml._metrics import HIGHER_IS_BETTER
from datamill.ml._split import Split, parse_split
from datamill.ml._train import (
    TrainResult,
    fit_model,
    model_classes,
    predict_model,
    score_fold,
    thread_limit,
    train,
)

DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "balanced_accuracy", "regression": "rmse"}


@dataclass
class TuneResult:
    """The best parameters, the model trained with them, and every trial."""

    best_params: dict[str, Any]
    best_score: float
    metric: str
    result: TrainResult | None  # train() with the best parameters (None: refit=False)
    trials: list[dict[str, Any]] = field(default_factory=list)
    study: str = ""
    storage: str = ""

    @property
    def model(self) -> Any:
        return None if self.result is None else self.result.model

    def to_dict(self) -> dict[str, Any]:
        return {"best_params": self.best_params, "best_score": self.best_score,
                "metric": self.metric, "trials": self.trials, "study": self.study,
                "result": None if self.result is None else self.result.to_dict()}


def _suggest(trial: Any, space: Mapping[str, Any] | Callable[[Any], dict[str, Any]]
             ) -> dict[str, Any]:
    if callable(space):
        return dict(space(trial))
    out: dict[str, Any] = {}
    for name, spec in space.items():
        if isinstance(spec, list):
            out[name] = trial.suggest_categorical(name, spec)
        elif isinstance(spec, tuple) and spec and spec[0] in ("int", "float"):
            kind, lo, hi, *rest = spec
            log = bool(rest and rest[0] == "log")
            if kind == "int":
                out[name] = trial.suggest_int(name, int(lo), int(hi), log=log)
            else:
                out[name] = trial.suggest_float(name, float(lo), float(hi), log=log)
        else:
            out[name] = spec  # a fixed value
    return out


def _check_space(space: Any, estimator: Any) -> None:
    if callable(space):
        return
    if not isinstance(space, Mapping) or not space:
        raise UsageError("tune: space must be a non-empty dict of parameter -> range, or a "
                         "function space(trial) -> params")
    valid = set(estimator.get_params()) if hasattr(estimator, "get_params") else set(space)
    unknown = [k for k in space if k not in valid]
    if unknown:
        raise UsageError(f"tune: {type(estimator).__name__} has no parameter(s) {unknown} "
                         f"(it has: {', '.join(sorted(valid)[:15])})")
    for k, spec in space.items():
        if isinstance(spec, tuple) and spec and spec[0] in ("int", "float"):
            if len(spec) < 3 or spec[1] > spec[2]:
                raise UsageError(f"tune: range of {k!r} must be (kind, low, high), low <= high; "
                                 f"got {spec!r}")


def study_path(ctx: Any, study_dir: str | Path | None) -> Path | None:
    """Where a task's study journal lives (None outside a run without ``study_dir``)."""
    if ctx is None:
        return None if study_dir is None else Path(study_dir) / "study.journal"
    base = Path(study_dir) if study_dir is not None else (
        Path(ctx.scratch_dir()) if hasattr(ctx, "scratch_dir") else Path(".datamill/studies"))
    safe = str(ctx.key).replace("/", "_").replace("\\", "_")
    return base / str(ctx.run_id) / f"{safe}.journal"


def tune(estimator: Any, table: Any, *, target: str, space: Any,
         features: Sequence[str] | None = None, split: Split | str | None = None,
         metric: str | None = None, trials: int | None = 20, timeout: float | None = None,
         prune: bool = True, seed: int = 0, parallel: int = 1, refit: bool = True,
         problem: str | None = None, threads: int | None = None, ctx: Any = None,
         study_dir: str | Path | None = None) -> TuneResult:
    """Search ``space`` for the parameters of ``estimator`` that score best on ``split``.

    ``metric`` defaults to ROC-AUC (binary), balanced accuracy (multiclass) or RMSE
    (regression); its direction follows the metric. With ``refit`` the best parameters
    are trained with :func:`train` on the same split and returned as ``result``.
    ``threads`` caps each fit's native thread pools (see :func:`train`); with
    ``parallel=N`` it defaults to the machine's cores divided by N.
    """
    import os

    if threads is None and parallel > 1:
        threads = max(1, (os.cpu_count() or 1) // parallel)
    with thread_limit(threads):
        return _tune(estimator, table, target=target, space=space, features=features,
                     split=split, metric=metric, trials=trials, timeout=timeout, prune=prune,
                     seed=seed, parallel=parallel, refit=refit, problem=problem, ctx=ctx,
                     study_dir=study_dir)


def _tune(estimator: Any, table: Any, *, target: str, space: Any,
          features: Sequence[str] | None, split: Split | str | None, metric: str | None,
          trials: int | None, timeout: float | None, prune: bool, seed: int, parallel: int,
          refit: bool, problem: str | None, ctx: Any, study_dir: str | Path | None
          ) -> TuneResult:
    optuna = require("optuna", "ml", "datamill.ml.tune")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    if trials is None and timeout is None:
        raise UsageError("tune: give a budget: trials=N and/or timeout=seconds")
    if trials is not None and trials < 1:
        raise UsageError(f"tune: trials must be at least 1, got {trials}")
    if parallel < 1:
        raise UsageError(f"tune: parallel must be at least 1, got {parallel}")
    _check_space(space, estimator)
    sk_base = require("sklearn.base", "ml", "datamill.ml.tune")
    split_col = getattr(parse_split(split), "column", None)
    p = prepare(table, target, features, estimator, problem,
                exclude=[split_col] if split_col else ())
    sp = parse_split(split, classification=p.problem == "classification")
    splits = list(sp.split(len(p.X), p.y, p.frame))
    kind = ("regression" if p.problem == "regression" else
            "binary" if p.classes and len(p.classes) == 2 else "multiclass")
    metric = metric or DEFAULT_METRIC[kind]
    direction = "maximize" if metric in HIGHER_IS_BETTER else "minimize"
    name = type(estimator).__name__

    path = study_path(ctx, study_dir)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        storage: Any = JournalStorage(JournalFileBackend(str(path)))
    else:
        storage = optuna.storages.InMemoryStorage()
    study_name = f"{ctx.run_id}:{ctx.key}" if ctx is not None else f"tune:{name}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0) if prune
              else optuna.pruners.NopPruner())
    study = optuna.create_study(study_name=study_name, storage=storage, direction=direction,
                                sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner,
                                load_if_exists=True)
    # trials cut off by a crash: marked failed and asked again with the same parameters
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,
                                                         TrialState.PRUNED)))
    remaining = None if trials is None else max(0, trials - done)

    def objective(trial: Any) -> float:
        params = _suggest(trial, space)
        trial.set_user_attr("params", _jsonable(params))
        scores: list[float] = []
        for i, (tr, te) in enumerate(splits):
            if ctx is not None:
                ctx.check_cancelled()
            model = sk_base.clone(estimator).set_params(**params)
            where = f"trial {trial.number}, fold {i + 1} of {len(splits)}"
            fit_model(model, p.X.iloc[tr], p.y[tr], name, where, {})
            pred, proba = predict_model(model, p.X.iloc[te], name, where)
            m = score_fold(p, p.y[te], pred, proba, model_classes(model, p.classes), None)
            if metric not in m:
                raise UsageError(f"tune: metric {metric!r} is not computed for this model "
                                 f"(available: {', '.join(m)})")
            scores.append(m[metric])
            trial.report(float(np.mean(scores)), i)
            if prune and len(splits) > 1 and trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    def one() -> None:
        t = study.ask()
        try:
            value = objective(t)
        except optuna.TrialPruned:
            study.tell(t, state=TrialState.PRUNED)
        except BaseException:
            study.tell(t, state=TrialState.FAIL)
            raise
        else:
            study.tell(t, value)
        _killpoint.reached("ml.tune.trial_done")

    deadline = None if timeout is None else time.monotonic() + timeout
    started = 0
    pool = ThreadPoolExecutor(parallel) if parallel > 1 and ctx is None else None
    try:
        while (remaining is None or started < remaining) and (
                deadline is None or time.monotonic() < deadline):
            n = parallel if remaining is None else min(parallel, remaining - started)
            if n == 1:
                one()
            else:
                futures = ([ctx.submit(one) for _ in range(n)] if ctx is not None
                           else [pool.submit(one) for _ in range(n)])  # type: ignore[union-attr]
                for f in futures:
                    f.result()
            started += n
    finally:
        if pool is not None:
            pool.shutdown()

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise UsageError(f"tune: no trial of {name} completed within the budget")
    best = study.best_trial
    rows = [{"number": t.number, "params": t.params, "value": t.value, "state": t.state.name,
             "seconds": (t.duration.total_seconds() if t.duration else None)}
            for t in study.get_trials(deepcopy=False)]
    best_params = {**best.user_attrs.get("params", best.params), **_fixed(space)}
    result = None
    if refit:
        final = sk_base.clone(estimator).set_params(**best_params)
        result = train(final, table, target=target, features=features, split=sp,
                       problem=problem, ctx=ctx)
    if ctx is not None:
        ctx.metric(f"tune_best_{metric}", float(best.value), model=name)
        ctx.metric("tune_trials", float(len(rows)), model=name)
    return TuneResult(best_params=best_params,
                      best_score=float(best.value) if best.value is not None else math.nan,
                      metric=metric, result=result, trials=rows, study=study_name,
                      storage=str(path) if path else "memory")


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.item() if hasattr(v, "item") else v) if isinstance(
        v, int | float | str | bool | type(None) | np.generic) else repr(v)
        for k, v in params.items()}


def _fixed(space: Any) -> dict[str, Any]:
    if callable(space):
        return {}
    return {k: v for k, v in space.items()
            if not isinstance(v, list) and not (isinstance(v, tuple) and v
                                                and v[0] in ("int", "float"))}


__all__ = ["TuneResult", "study_path", "tune"]
