"""The same executor suite against the local executor and Dask: same outputs, retries,
failures and resume."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import datamill
from datamill.store.records import State

SUITE = str(Path(__file__).parents[1] / "resources" / "suite.py")


@pytest.fixture(scope="module")
def dask_scheduler():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                       dashboard_address=None, host="127.0.0.1")
    yield cluster.scheduler_address.replace("tcp://", "dask://")
    cluster.close()


@pytest.fixture(params=["local", "dask"])
def executor(request):
    if request.param == "dask":
        return request.getfixturevalue("dask_scheduler")
    return "local"


def counts(d: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in d.glob("*.count")}


def test_suite_outputs_retries_failures(project, executor, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    r = datamill.run(SUITE, {"state_dir": str(state)}, executor=executor, handle_signals=False)
    assert r.state == State.FAILED  # broken fails...
    s = r.states
    assert s["broken"] == State.FAILED and s["after_broken"] == State.UPSTREAM_FAILED
    # ...while the independent branch finishes, with retries
    assert s["crunch"] == State.SUCCEEDED and s["flaky"] == State.SUCCEEDED
    assert r.tasks["flaky"].attempts == 3
    assert r["crunch"]["rows"] == 12 and r["flaky"] == sum(p * 10 + i for p in range(4) for i in range(3))
    assert r["crunch"]["pid"] != os.getpid()  # ran in another process
    assert r["slow"] == 4
    c = counts(state)
    assert c["flaky"] == 3 and c["crunch"] == 1 and c["broken"] == 1

    # resume with the fix: only the failed branch runs again
    r2 = datamill.resume(r.run_id, {"break_it": False}, executor=executor, handle_signals=False)
    assert r2.ok and r2["after_broken"] == 5
    c2 = counts(state)
    assert c2["broken"] == 2 and c2["crunch"] == 1 and c2["flaky"] == 3
    assert all(c2[f"frame{i}"] == 1 for i in range(4)) and c2["parts"] == 1


def test_process_timeout_kills(project, executor, tmp_path):
    r = datamill.run(SUITE, {"state_dir": str(tmp_path), "slow_seconds": 600, "break_it": False},
                     executor=executor, only=[], handle_signals=False)
    # no wall-clock bound: had the process not been killed, the run would wait 600 s
    assert r.states["slow"] == State.FAILED and "timeout of 0.5s" in r.tasks["slow"].error
    assert r.states["after_broken"] == State.SUCCEEDED


def test_same_outputs_on_both(project, tmp_path, dask_scheduler):
    outs = {}
    for ex in ("local", dask_scheduler):
        proj = tmp_path / ex.replace(":", "_").replace("/", "_")
        proj.mkdir()
        (proj / "datamill.toml").write_text("")
        st = proj / "state"
        st.mkdir()
        r = datamill.run(SUITE, {"state_dir": str(st), "break_it": False, "fail_times": 0},
                         executor=ex, project=proj, handle_signals=False)
        assert r.ok
        outs[ex] = {k: t.data_version for k, t in r.tasks.items() if k not in ("crunch",)}
    a, b = outs.values()
    assert a == b


def test_dask_refuses_unshared_local_artifacts(project, tmp_path, dask_scheduler, monkeypatch):
    from datamill.errors import UsageError
    from datamill.runtime.executors.dask import DaskExecutor

    class Fake:
        is_local = True
        root = str(tmp_path / "only-here")

    ex = DaskExecutor(dask_scheduler.replace("dask://", "tcp://"))
    ex.start()
    try:
        import distributed

        # make the workers unable to see the folder: check a path they cannot read
        def deny(*a, **k):
            return False

        monkeypatch.setattr("datamill.runtime.executors.dask._check_marker", deny)
        client = ex.client
        assert isinstance(client, distributed.Client)
        with pytest.raises(UsageError, match="cannot see"):
            ex.check_artifacts(Fake())
    finally:
        ex.shutdown()


def test_unknown_executor(project):
    from datamill.errors import UsageError

    with pytest.raises(UsageError, match="unknown executor"):
        datamill.run(SUITE, {"state_dir": "x"}, executor="spark", handle_signals=False)


def test_unreachable_scheduler(project, tmp_path, monkeypatch):
    from datamill.errors import UsageError

    monkeypatch.setenv("DATAMILL_DASK_CONNECT_TIMEOUT", "1s")
    from datamill.testing.instances import free_port

    with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
        datamill.run(SUITE, {"state_dir": str(tmp_path)}, executor=f"dask://127.0.0.1:{free_port()}",
                     handle_signals=False)
