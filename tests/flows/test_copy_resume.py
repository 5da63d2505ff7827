"""`datamill copy` runs resume (issue 8): killed after the load committed, `datamill resume`
finds the load done, does not write it again, and saves the watermark."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from datamill.store.records import State
from datamill.store.runstore import RunStore
from datamill.testing.killpoints import KillPoint, run_and_kill_at

DATAMILL = [sys.executable, "-m", "datamill.cli"]


def _rows(project, dest):
    if dest.startswith("sqlite"):
        con = sqlite3.connect(project / "wh.db")
        try:
            return sorted(r[0] for r in con.execute("SELECT id FROM t"))
        finally:
            con.close()
    return sorted(pq.read_table(project / dest).column("id").to_pylist())


@pytest.mark.parametrize("dest,extra", [
    ("lake/ev/", []),
    ("out/ev.parquet", []),
    ("sqlite:///wh.db#t", []),
    ("sqlite:///wh.db#t", ["--mode", "merge", "--key", "id"]),
])
def test_copy_killed_after_commit_resumes_without_loading_twice(project, tmp_path, dest, extra):
    (project / "ev.csv").write_text("id,at\n" + "".join(f"{i},{i * 10}\n" for i in range(5)))
    kp = KillPoint(tmp_path / "kp")
    env = {**os.environ, **kp.env(), "DATAMILL_HEARTBEAT_STALE": "1"}
    cmd = [*DATAMILL, "copy", "ev.csv", dest, "--incremental", "at", "-q", *extra]
    res = run_and_kill_at(cmd, "task-done.copy", env=env, cwd=str(project), timeout=90)
    assert res.killed
    assert _rows(project, dest) == [0, 1, 2, 3, 4]  # committed before the kill
    store = RunStore.open(project_root=project)
    run = store.list_runs(limit=1)[0]
    store.close()
    assert run.state == State.RUNNING and run.trigger == "copy"
    time.sleep(1.2)  # heartbeat goes stale
    out = subprocess.run([*DATAMILL, "resume", run.run_id, "-q", "--json"], cwd=project,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _rows(project, dest) == [0, 1, 2, 3, 4]  # not appended again
    store = RunStore.open(project_root=project)
    try:
        assert store.get_run(run.run_id).state == State.SUCCEEDED
        assert store.get_state(run.pipeline, "watermark") == 40
    finally:
        store.close()
    # the next copy of the pair starts from the watermark the resumed run saved
    again = subprocess.run([*DATAMILL, "copy", "ev.csv", dest, "--incremental", "at", "--json",
                            *extra], cwd=project, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["rows_read"] == 0


def test_resume_of_a_failed_copy_loads_once_the_cause_is_fixed(project):
    (project / "ev.csv").write_text("id,name\n1,a\n2,b,c\n")
    r = subprocess.run([*DATAMILL, "copy", "ev.csv", "lake/ev/", "--json"], cwd=project,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    run_id = json.loads(r.stdout)["run_id"]
    (project / "ev.csv").write_text("id,name\n1,a\n2,b\n")
    out = subprocess.run([*DATAMILL, "resume", run_id, "-q"], cwd=project, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _rows(project, "lake/ev/") == [1, 2]


def test_copy_with_a_password_in_its_url_is_not_stored(project):
    from datamill.flows.copy import copy

    (project / "ev.csv").write_text("id\n1\n")
    rep = copy("ev.csv", "sqlite://user:hunter2@/wh.db#t", handle_signals=False)
    store = RunStore.open(project_root=project)
    try:
        params = store.get_run(rep.run_id).params
    finally:
        store.close()
    assert "hunter2" not in json.dumps(params)
