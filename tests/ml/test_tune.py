"""``ml.tune``: Optuna search on train's folds and metrics, budgets, pruning, parallel
trials, and a killed tuning run that resumes its study without redoing finished trials."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from datamill import ml
from datamill.errors import UsageError

DATAMILL = [sys.executable, "-m", "datamill.cli"]


def _data(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    df["y"] = (df.x0 - df.x1 + rng.normal(scale=1.5, size=n) > 0).astype(int)
    df["r"] = df.x0 * 2 + rng.normal(size=n)
    return df


def test_tune_finds_parameters_that_beat_a_bad_default() -> None:
    df = _data()[["x0", "x1", "x2", "r"]]
    bad = ml.train(Ridge(alpha=1e4), df, target="r", split="kfold:3")
    r = ml.tune(Ridge(alpha=1e4), df, target="r",
                space={"alpha": ("float", 1e-3, 1e4, "log"), "fit_intercept": True},
                split="kfold:3", trials=10, threads=1)
    assert r.metric == "rmse" and len(r.trials) == 10
    assert r.best_params["fit_intercept"] is True  # fixed values are part of the best
    assert r.best_score < 0.8 * bad.metrics["rmse"]
    assert r.result is not None and r.result.model.alpha == pytest.approx(r.best_params["alpha"])
    assert r.result.metrics["rmse"] == pytest.approx(r.best_score)  # same folds, same metric
    c = ml.tune(LogisticRegression(), _data().drop(columns="r"), target="y",
                space={"C": ("float", 1e-3, 10.0, "log")}, trials=3)
    assert c.metric == "roc_auc"


def test_regression_minimises_rmse_and_a_callable_space_works() -> None:
    df = _data()

    def space(trial):  # noqa: ANN001, ANN202
        return {"alpha": trial.suggest_float("alpha", 1e-3, 1e3, log=True)}

    r = ml.tune(Ridge(), df[["x0", "x1", "r"]], target="r", space=space, trials=6,
                split="kfold:3", prune=False)
    assert r.metric == "rmse"
    values = [t["value"] for t in r.trials if t["state"] == "COMPLETE"]
    assert r.best_score == min(values)


def test_parallel_trials_and_a_time_budget() -> None:
    df = _data()
    r = ml.tune(LogisticRegression(), df.drop(columns="r"), target="y",
                space={"C": ("float", 1e-3, 10.0, "log")}, trials=6, parallel=3)
    assert len(r.trials) == 6
    r = ml.tune(LogisticRegression(), df.drop(columns="r"), target="y",
                space={"C": ("float", 1e-3, 10.0, "log")}, trials=None, timeout=0.5)
    assert len(r.trials) >= 1


def test_pruning_stops_hopeless_trials_after_their_first_folds() -> None:
    df = _data()
    r = ml.tune(LogisticRegression(), df.drop(columns="r"), target="y",
                space={"C": ("float", 1e-6, 10.0, "log")}, split="stratified:5", trials=25,
                seed=3)
    assert any(t["state"] == "PRUNED" for t in r.trials)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"space": {"nope": ("float", 0, 1)}}, r"has no parameter\(s\) \['nope'\]"),
    ({"space": {"C": ("float", 2, 1)}}, "low <= high"),
    ({"space": {}}, "non-empty dict"),
    ({"space": {"C": ("float", 0.1, 1)}, "trials": None}, "give a budget"),
    ({"space": {"C": ("float", 0.1, 1)}, "metric": "rmse"}, "metric 'rmse' is not computed"),
])
def test_bad_tuning_input(kwargs: dict, message: str) -> None:
    df = _data(200)
    with pytest.raises(UsageError, match=message):
        ml.tune(LogisticRegression(), df.drop(columns="r"), target="y",
                **{"trials": 2, **kwargs})


PIPELINE = textwrap.dedent(
    """
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import datamill
    from datamill import ml


    @datamill.task
    def table() -> pd.DataFrame:
        rng = np.random.default_rng(0)
        df = pd.DataFrame({f"x{i}": rng.normal(size=400) for i in range(5)})
        df["y"] = (df.x0 + rng.normal(size=400) > 0).astype(int)
        return df


    @datamill.task
    def search(table: pd.DataFrame, ctx: datamill.Context) -> dict:
        r = ml.tune(LogisticRegression(), table, target="y", trials=8, prune=False,
                    space={"C": ("float", 1e-3, 10.0, "log")}, split="kfold:3", ctx=ctx,
                    threads=1)
        return {"trials": len(r.trials), "best": r.best_params["C"], "path": r.storage}
    """
)


def _study(path: Path) -> list[tuple[int, str, float | None]]:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(path)))
    [summary] = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return [(t.number, t.state.name, t.params.get("C")) for t in study.get_trials()]


def test_a_killed_tuning_run_resumes_its_study(project: Path) -> None:
    from datamill.store.runstore import RunStore
    from datamill.testing.killpoints import run_and_kill_at

    (project / "tuning.py").write_text(PIPELINE)
    env = {k: v for k, v in os.environ.items() if k != "DATAMILL_HEARTBEAT_STALE"}
    res = run_and_kill_at([*DATAMILL, "run", "tuning.py", "-q"], "ml.tune.trial_done",
                          count=3, env=env, cwd=str(project), timeout=180)
    assert res.killed
    with RunStore.open(project_root=project) as store:
        run = store.list_runs(limit=1)[0]
    [journal] = list((project / ".datamill").rglob("*.journal"))
    before = _study(journal)
    assert [s for _, s, _ in before] == ["COMPLETE"] * 3
    out = subprocess.run([*DATAMILL, "resume", run.run_id, "-q", "--json"], cwd=project,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    after = _study(journal)
    assert after[:3] == before  # the finished trials were kept, not redone
    assert len(after) == 8 and all(s == "COMPLETE" for _, s, _ in after)
