"""Resume after failure, cancellation and kill -9; refusing to race a live run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import datamill
from datamill.errors import RunLockedError, UsageError
from datamill.store.records import State
from datamill.store.runstore import RunStore
from datamill.testing.killpoints import KillPoint, run_and_kill_at

PY = sys.executable
DATAMILL = [PY, "-m", "datamill.cli"]


def counts(path: Path) -> Counter:
    return Counter(path.read_text().split()) if path.exists() else Counter()


def test_resume_after_failure_runs_only_what_did_not_complete(project, resources, monkeypatch):
    cf = project / "count.txt"
    pipe = str(resources / "counting.py")
    r1 = datamill.run(pipe, {"count_file": str(cf), "fail_total": True}, handle_signals=False)
    assert r1.state == State.FAILED and r1.states["total"] == State.FAILED
    before = counts(cf)
    assert before["total"] == 1 and before["numbers"] == 1
    # resume with the fix: total no longer fails; stored params are reused, overrides allowed
    r2 = datamill.resume(r1.run_id, {"fail_total": False}, handle_signals=False)
    assert r2.ok and r2.run_id == r1.run_id and r2["total"] == sum(i * i for i in range(6))
    after = counts(cf)
    assert after["numbers"] == 1 and all(after[f"square:{i}"] == 1 for i in range(6))
    assert after["total"] == 2
    store = RunStore.open(project_root=project)
    rec = store.get_run(r1.run_id)
    assert rec.state == State.SUCCEEDED and rec.trigger == "resume"
    assert [a.attempt for a in store.attempts(r1.run_id, "total")] == [1, 2]
    store.close()
    with pytest.raises(UsageError, match="already succeeded"):
        datamill.resume(r1.run_id, handle_signals=False)


def test_resume_refuses_live_run(project, resources):
    store = RunStore.open(project_root=project)
    from datamill.store.records import RunRecord

    store.create_run(RunRecord(run_id="live-1", pipeline="counting", state=State.RUNNING,
                               host="h", pid=1,
                               heartbeat_at=datetime_now(), project=str(resources / "counting.py")))
    with pytest.raises(RunLockedError, match="still running"):
        datamill.resume("live-1", handle_signals=False)
    store.close()


def datetime_now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_unknown_run_id(project):
    with pytest.raises(UsageError, match="nope"):
        datamill.resume("nope", handle_signals=False)


@pytest.mark.slow
def test_kill_9_then_resume_does_not_repeat_completed_work(project, resources, tmp_path):
    """kill -9 of `datamill run` mid-run; `datamill resume` re-executes only unfinished tasks
    and the outputs equal an uninterrupted run's."""
    cf = project / "count.txt"
    pipe = str(resources / "counting.py")
    kp = KillPoint(tmp_path / "kp")
    env = {**os.environ, **kp.env(), "DATAMILL_HEARTBEAT_STALE": "1"}
    # kill the moment the 4th square instance has written its checkpoint
    res = run_and_kill_at(
        [*DATAMILL, "run", pipe, "-p", f"count_file={cf}", "-p", "sleep=0.05", "-w", "2", "-q"],
        "task-done.square", count=4, env=env, cwd=str(project), timeout=60,
    )
    assert res.killed
    done_before = counts(cf)
    started_before = sum(v for k, v in done_before.items() if k.startswith("square:"))
    assert done_before["total"] == 0
    ckpt_dir = project / ".datamill" / "artifacts" / "checkpoints" / "counting" / "square"
    completed = len(list(ckpt_dir.glob("*.meta.json")))
    assert 4 <= completed < 6 and started_before >= completed
    store = RunStore.open(project_root=project)
    run = store.list_runs(limit=1)[0]
    assert run.state == State.RUNNING  # killed: nobody marked it
    store.close()
    time.sleep(1.2)  # heartbeat goes stale (DATAMILL_HEARTBEAT_STALE=1)
    out = subprocess.run([*DATAMILL, "resume", run.run_id, "-q", "--json"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    after = counts(cf)
    assert after["numbers"] == 1
    started_after = sum(v for k, v in after.items() if k.startswith("square:"))
    # tasks whose checkpoint was written before the kill are not executed again
    assert started_after - started_before == 6 - completed
    assert after["total"] == 1
    # outputs equal those of an uninterrupted run (same content hash)
    ref_proj = tmp_path / "refproj"
    ref_proj.mkdir()
    (ref_proj / "datamill.toml").write_text("")
    ref = datamill.run(pipe, {"count_file": str(tmp_path / "ref.txt")}, project=ref_proj,
                       handle_signals=False)
    store = RunStore.open(project_root=project)
    tr = {t.task_key: t for t in store.task_runs(run.run_id)}
    store.close()
    assert tr["total"].state == State.SUCCEEDED
    assert tr["total"].data_version == ref.tasks["total"].data_version
    squares = [t for k, t in tr.items() if k.startswith("square[")]
    assert sorted(t.state.value for t in squares).count("cached") == completed


def test_resume_refused_while_cli_run_alive(project, resources, tmp_path):
    """A run blocked mid-way is alive (heartbeat fresh): resume must refuse to race it."""
    cf = project / "count.txt"
    kp = KillPoint(tmp_path / "kp")
    env = {**os.environ, **kp.env(block=["task-start.total"])}
    proc = subprocess.Popen([*DATAMILL, "run", str(resources / "counting.py"), "-p",
                             f"count_file={cf}", "-q"], cwd=project, env=env,
                            start_new_session=True)
    try:
        kp.wait_for("task-start.total", timeout=60, proc=proc)
        store = RunStore.open(project_root=project)
        run = store.list_runs(limit=1)[0]
        store.close()
        out = subprocess.run([*DATAMILL, "resume", run.run_id], cwd=project, env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2
        assert "still running" in out.stderr and "Traceback" not in out.stderr
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_ctrl_c_cancels_cleanly_and_resumes(project, resources, tmp_path):
    cf = project / "count.txt"
    kp = KillPoint(tmp_path / "kp")
    env = {**os.environ, **kp.env(block=["task-start.total"])}
    proc = subprocess.Popen([*DATAMILL, "run", str(resources / "counting.py"), "-p",
                             f"count_file={cf}", "-q", "--json"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    kp.wait_for("task-start.total", timeout=60, proc=proc)
    proc.send_signal(signal.SIGINT)
    kp.release("task-start.total")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    store = RunStore.open(project_root=project)
    run = store.list_runs(limit=1)[0]
    assert run.state == State.CANCELLED
    store.close()
    out = subprocess.run([*DATAMILL, "resume", run.run_id, "-q"], cwd=project,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    c = counts(cf)
    # completed work is not repeated; total ran at most twice (the cancelled thread may
    # have finished and checkpointed before the process exited, then resume reuses it)
    assert c["numbers"] == 1 and all(c[f"square:{i}"] == 1 for i in range(6))
    assert 1 <= c["total"] <= 2
