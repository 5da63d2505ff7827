"""Two runs at once against one store (SQLite and PostgreSQL) must not corrupt it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import datamill
from datamill.store.records import State
from datamill.store.runstore import RunStore

DATAMILL = [sys.executable, "-m", "datamill.cli"]
SUITE_PARAMS = ["-p", "n=40", "-p", "sleep=0.01"]


def _two_runs(project: Path, resources: Path, env: dict[str, str]) -> list[str]:
    procs = []
    for i in range(2):
        cf = project / f"count{i}.txt"
        procs.append(subprocess.Popen(
            [*DATAMILL, "run", str(resources / "counting.py"), "-p", f"count_file={cf}",
             *SUITE_PARAMS, "-w", "8", "--json", "--force", "all"],
            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        import json

        ids.append(json.loads(out)["run_id"])
    return ids


def _check(store: RunStore, ids: list[str]) -> None:
    for rid in ids:
        run = store.get_run(rid)
        assert run.state == State.SUCCEEDED
        trs = store.task_runs(rid)
        assert len(trs) == 42 and all(t.state == State.SUCCEEDED for t in trs)
        assert len(store.attempts(rid)) == 42


def test_two_concurrent_runs_sqlite(project, resources):
    env = {**os.environ}
    env.pop("DATAMILL_STORE", None)
    ids = _two_runs(project, resources, env)
    store = RunStore.open(project_root=project)
    _check(store, ids)
    store.close()
    con = sqlite3.connect(project / ".datamill" / "runs.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


@pytest.mark.postgres
def test_two_concurrent_runs_postgres(project, resources, pg_url):
    env = {**os.environ, "DATAMILL_STORE": pg_url}
    ids = _two_runs(project, resources, env)
    store = RunStore.open(pg_url)
    _check(store, ids)
    store.close()
    assert not (project / ".datamill" / "runs.db").exists()


@pytest.mark.postgres
def test_engine_suite_on_postgres_store(project, resources, pg_url, monkeypatch, tmp_path):
    """Failure, retry bookkeeping and resume with the run store on PostgreSQL."""
    monkeypatch.setenv("DATAMILL_STORE", pg_url)
    cf = tmp_path / "c.txt"
    r1 = datamill.run(str(resources / "counting.py"), {"count_file": str(cf), "fail_total": True},
                      handle_signals=False)
    assert r1.state == State.FAILED
    r2 = datamill.resume(r1.run_id, {"fail_total": False}, handle_signals=False)
    assert r2.ok and r2["total"] == 55
    store = RunStore.open(pg_url)
    assert store.get_run(r1.run_id).state == State.SUCCEEDED
    assert [a.attempt for a in store.attempts(r1.run_id, "total")] == [1, 2]
    store.close()
    assert cf.read_text().split().count("numbers") == 1
