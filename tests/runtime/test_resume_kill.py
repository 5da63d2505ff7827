"""kill -9 of the driver: its process workers die with it, and a resume on the same host
starts at once (the driver's pid is checked, not only its heartbeat)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from datamill.store.records import State
from datamill.store.runstore import RunStore
from datamill.testing.killpoints import KillPoint

DATAMILL = [sys.executable, "-m", "datamill.cli"]

SLOW_PROCESS = textwrap.dedent(
    """
    import os
    import time

    import datamill


    @datamill.task(run_in="process")
    def slow(marks: datamill.Required[str], seconds: float = 3.0) -> int:
        with open(os.path.join(marks, "started"), "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(seconds)
        with open(os.path.join(marks, "finished"), "a") as f:
            f.write(f"{os.getpid()} {time.time()}\\n")
        return 1
    """
)


def _gone(pid: int) -> bool:
    """No such process, or a zombie nobody reaped yet (it runs no more code)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def _poll(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_process_worker_dies_with_its_driver_and_resume_starts_at_once(project, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    pipe = project / "slow_process.py"
    pipe.write_text(SLOW_PROCESS)
    kp = KillPoint(tmp_path / "kp")
    env = kp.env()
    env.pop("DATAMILL_HEARTBEAT_STALE", None)  # the default 30 s: resume must not wait for it
    proc = subprocess.Popen([*DATAMILL, "run", str(pipe), "-p", f"marks={marks}", "-q"],
                            cwd=project, env=env, start_new_session=True)
    try:
        hit = kp.wait_for("task-start.slow", timeout=120, proc=proc)
        worker = hit.pid
        assert worker != proc.pid  # the task runs in a worker process

        def recorded() -> bool:  # the attempt's worker row lands within one writer batch
            with RunStore.open(project_root=project) as store:
                runs = store.list_runs(limit=1)
                return bool(runs) and any(a.worker and a.state == State.RUNNING
                                          for a in store.attempts(runs[0].run_id, "slow"))

        assert _poll(recorded, 30)
        os.kill(proc.pid, signal.SIGKILL)  # the driver only, as a crash of it would
        proc.wait(30)
        killed_at = time.time()
        assert _poll(lambda: _gone(worker), 30), "the worker outlived its driver"
        # the task body (3 s) never reaches its side effect after the kill
        time.sleep(4.0)
        assert not (marks / "finished").exists()

        with RunStore.open(project_root=project) as store:
            run = store.list_runs(limit=1)[0]
        assert run.state == State.RUNNING  # nobody marked it
        out = subprocess.run([*DATAMILL, "resume", run.run_id, "-q", "--json"], cwd=project,
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr  # not "still running (... heartbeat 5s ago)"
        lines = (marks / "finished").read_text().split("\n")
        done = [ln for ln in lines if ln]
        assert len(done) == 1 and int(done[0].split()[0]) != worker
        assert float(done[0].split()[1]) > killed_at
        with RunStore.open(project_root=project) as store:
            rec = store.get_run(run.run_id)
            attempts = store.attempts(run.run_id, "slow")
        assert rec.state == State.SUCCEEDED and rec.trigger == "resume"
        # the first attempt (the dead driver's) is closed, not left running
        assert [a.state for a in attempts] == [State.CANCELLED, State.SUCCEEDED]
        assert attempts[0].worker and f":{worker}:" in attempts[0].worker
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_resume_stops_an_orphaned_attempt_before_running_again(project):
    """An attempt of the dead driver still running in a worker here (one that did not die
    with its driver) is waited for, then killed, and closed: the task never runs twice."""
    from datamill.runtime.resume import wait_for_orphans
    from datamill.store import liveness
    from datamill.store.records import AttemptRecord, RunRecord

    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        with RunStore.open(project_root=project) as store:
            store.create_run(RunRecord(run_id="r", pipeline="p", state=State.FAILED))
            stale_token = (liveness.start_token(other.pid) or "").rsplit("/", 1)[0] + "/1"
            store.add_attempts([
                AttemptRecord("r", "slow", 1, state=State.RUNNING,
                              worker=liveness.worker_id(orphan.pid)),
                # a pid now used by another process (another start time): not touched
                AttemptRecord("r", "other", 1, state=State.RUNNING,
                              worker=f"{liveness.hostname()}:{other.pid}:{stale_token}"),
                AttemptRecord("r", "done", 1, state=State.SUCCEEDED),
            ])
            wait_for_orphans(store, "r", grace=0.2)
            assert orphan.wait(30) == -signal.SIGKILL
            assert other.poll() is None
            states = {a.task_key: (a.state, a.error) for a in store.attempts("r")}
        assert states["slow"][0] == State.CANCELLED and "driver stopped" in states["slow"][1]
        assert states["other"][0] == State.CANCELLED and states["done"][0] == State.SUCCEEDED
    finally:
        for p in (orphan, other):
            p.kill()
            p.wait()


@pytest.mark.slow
def test_killed_forced_run_resumes_forced(project, resources, tmp_path):
    """`datamill run --force all`, killed; `datamill resume` (at once) recomputes what the
    forced run had not reached instead of reusing checkpoints from before it."""
    from collections import Counter

    from datamill.testing.killpoints import run_and_kill_at

    cf = project / "count.txt"
    pipe = str(resources / "counting.py")
    first = subprocess.run([*DATAMILL, "run", pipe, "-p", f"count_file={cf}", "-q"],
                           cwd=project, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    env = {k: v for k, v in os.environ.items() if k != "DATAMILL_HEARTBEAT_STALE"}
    res = run_and_kill_at(
        [*DATAMILL, "run", pipe, "-p", f"count_file={cf}", "--force", "all", "-w", "1", "-q"],
        "task-done.square", count=3, env=env, cwd=str(project), timeout=120,
    )
    assert res.killed
    before = Counter(cf.read_text().split())
    assert before["total"] == 1  # the forced run never reached total
    with RunStore.open(project_root=project) as store:
        run = store.list_runs(limit=1)[0]
        assert run.options == {"force": ["numbers", "square", "total"]}
    out = subprocess.run([*DATAMILL, "resume", run.run_id, "-q", "--json"], cwd=project,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    after = Counter(cf.read_text().split())
    assert after["total"] == 2  # recomputed, not the stale output of the first run
    assert after["numbers"] == 2  # the forced run's own numbers is reused
    # every square ran in the forced run or its resume (3 or 4 were done before the kill)
    assert all(after[f"square:{i}"] >= 2 for i in range(6))
    with RunStore.open(project_root=project) as store:
        states = {t.task_key: t.state for t in store.task_runs(run.run_id)}
    assert states["total"] == State.SUCCEEDED and states["numbers"] == State.CACHED
