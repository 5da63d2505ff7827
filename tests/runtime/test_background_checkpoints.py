"""Table checkpoints written in the background: the run's end waits for them, a failed
write fails its task (and only it is recomputed on resume), a kill -9 before a write is
durable leaves a run whose resume recomputes only that task, and ``checkpoint=``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

import datamill
from datamill.errors import UsageError
from datamill.store.records import State
from datamill.store.runstore import RunStore
from datamill.testing.killpoints import KillPoint

DATAMILL = [sys.executable, "-m", "datamill.cli"]

PIPELINE = textwrap.dedent(
    """
    import pyarrow as pa

    import datamill


    def _count(marks, name):
        with open(marks, "a") as f:
            f.write(name + "\\n")


    @datamill.task
    def table(marks: datamill.Required[str], rows: int = 50_000) -> pa.Table:
        _count(marks, "table")
        return pa.table({"x": list(range(rows)), "y": [i % 7 for i in range(rows)]})


    @datamill.task
    def total(table: pa.Table, marks: datamill.Required[str]) -> int:
        _count(marks, "total")
        return sum(table.column("y").to_pylist())


    pipeline = datamill.Pipeline("bg", [table, total])
    """
)
EXPECTED = sum(i % 7 for i in range(50_000))


def counts(path: Path) -> Counter:
    return Counter(path.read_text().split()) if path.exists() else Counter()


@pytest.fixture
def pipe(project: Path) -> Path:
    path = project / "bg.py"
    path.write_text(PIPELINE)
    return path


def _records(project: Path, run_id: str) -> dict:
    store = RunStore.open(project_root=project)
    try:
        return {t.task_key: t for t in store.task_runs(run_id)}
    finally:
        store.close()


def test_run_end_waits_for_the_background_write_and_records_it(project, pipe):
    marks = project / "marks.txt"
    r = datamill.run(str(pipe), {"marks": str(marks)}, handle_signals=False)
    assert r.ok and r["total"] == EXPECTED
    meta = r.tasks["table"].meta
    assert meta.path.endswith(".arrow") and meta.bytes > 0  # the complete meta, not pending
    assert (project / ".datamill" / "artifacts" / meta.meta_path).exists()
    rec = _records(project, r.run_id)["table"]
    assert rec.checkpoint == meta.path and rec.bytes == meta.bytes
    assert r.artifacts.load_checkpoint(meta).num_rows == 50_000


def test_a_failed_background_write_fails_its_task_and_resume_recomputes_only_it(project, pipe):
    marks = project / "marks.txt"
    # a file where the task's checkpoint folder must go: the write fails (a real OSError)
    folder = project / ".datamill" / "artifacts" / "checkpoints" / "bg"
    folder.mkdir(parents=True)
    (folder / "table").write_text("in the way")
    r1 = datamill.run(str(pipe), {"marks": str(marks)}, handle_signals=False)
    assert r1.state == State.FAILED
    assert r1.states["table"] == State.FAILED
    err = r1.tasks["table"].error
    assert "checkpoint of task 'table' could not be written" in err and "NotADirectoryError" in err
    assert r1.states["total"] == State.SUCCEEDED  # it ran on the value in memory
    store = RunStore.open(project_root=project)
    assert "checkpoint of task 'table' could not be written" in store.get_run(r1.run_id).error
    store.close()
    recs = _records(project, r1.run_id)
    assert recs["table"].state == State.FAILED and not recs["table"].checkpoint
    (folder / "table").unlink()
    r2 = datamill.resume(r1.run_id, handle_signals=False)
    assert r2.ok and r2["total"] == EXPECTED
    assert r2.states["total"] == State.CACHED  # same data version: not run again
    assert counts(marks) == Counter({"table": 2, "total": 1})


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process groups, /proc")
def test_kill_9_before_the_background_write_is_durable_recomputes_only_that_task(
        project, pipe, tmp_path):
    marks = project / "marks.txt"
    kp = KillPoint(tmp_path / "kp")
    env = {**kp.env(block="checkpoint-write.table"), "DATAMILL_HEARTBEAT_STALE": "1"}
    proc = subprocess.Popen([*DATAMILL, "run", str(pipe), "-p", f"marks={marks}", "-q"],
                            cwd=project, env=env, start_new_session=True)
    try:
        kp.wait_for("checkpoint-write.table", timeout=120, proc=proc)  # the write is held
        kp.wait_for("task-done.total", timeout=120, proc=proc)  # downstream went on
        store = RunStore.open(project_root=project)
        try:
            run_id = store.list_runs(limit=1)[0].run_id
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # until the driver's writer committed it
                recs = {t.task_key: t for t in store.task_runs(run_id)}
                if "total" in recs and recs["total"].state == State.SUCCEEDED:
                    break
                time.sleep(0.05)
        finally:
            store.close()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    recs = _records(project, run_id)
    # the task ended, but its checkpoint was never durable: the run store claims none
    assert recs["table"].state == State.SUCCEEDED and not recs["table"].checkpoint
    assert recs["total"].state == State.SUCCEEDED and recs["total"].checkpoint
    assert not list((project / ".datamill" / "artifacts" / "checkpoints" / "bg" / "table")
                    .glob("*.meta.json"))
    time.sleep(1.2)  # the heartbeat goes stale (DATAMILL_HEARTBEAT_STALE=1)
    out = subprocess.run([*DATAMILL, "resume", run_id, "-q"], cwd=project,
                         env={**os.environ, "DATAMILL_HEARTBEAT_STALE": "1"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert counts(marks) == Counter({"table": 2, "total": 1})
    recs = _records(project, run_id)
    assert recs["table"].checkpoint and recs["total"].state == State.CACHED


def test_a_process_task_downstream_gets_the_complete_checkpoint(project):
    path = project / "mixed.py"
    path.write_text(PIPELINE.replace("@datamill.task\ndef total",
                                     "@datamill.task(run_in='process')\ndef total")
                    .replace('"bg"', '"mixed"'))
    assert "run_in='process'" in path.read_text()
    r = datamill.run(str(path), {"marks": str(project / "m.txt")}, handle_signals=False)
    assert r.ok and r["total"] == EXPECTED


def test_checkpoint_policy(project, pipe):
    marks = project / "marks.txt"
    text = PIPELINE.replace("@datamill.task\ndef table",
                            "@datamill.task(checkpoint=CKPT)\ndef table")
    folder = project / ".datamill" / "artifacts" / "checkpoints" / "bg" / "table"
    for policy, ext in (("parquet", ".parquet"), ("arrow-lz4", ".arrow")):
        pipe = project / f"bg_{policy.replace('-', '_')}.py"  # a new module each time
        pipe.write_text(text.replace("CKPT", repr(policy)))
        assert repr(policy) in pipe.read_text()
        r = datamill.run(str(pipe), {"marks": str(marks)}, handle_signals=False)
        assert r.ok and r.tasks["table"].meta.path.endswith(ext)
        assert r.artifacts.load_checkpoint(r.tasks["table"].meta).num_rows == 50_000
    # the data version does not depend on the format: downstream was reused
    assert counts(marks)["total"] == 1
    for path in folder.iterdir():
        path.unlink()
    pipe = project / "bg_never.py"
    pipe.write_text(text.replace("CKPT", "'never'"))
    r = datamill.run(str(pipe), {"marks": str(marks)}, handle_signals=False)
    assert r.ok and r.tasks["table"].meta is None and not list(folder.iterdir())
    with pytest.raises(UsageError, match="checkpoint must be"):
        datamill.task(lambda: 1, name="t", checkpoint="zip")
    assert datamill.task(lambda: 1, name="t", checkpoint="always").checkpoint is True
    assert datamill.task(lambda: 1, name="t", checkpoint="never").checkpoint is False


def test_a_never_checkpointed_task_is_recomputed_on_resume_when_downstream_needs_it(project):
    marks = project / "marks.txt"
    flag = project / "fail"
    flag.write_text("1")
    path = project / "never.py"
    path.write_text(PIPELINE.replace("@datamill.task\ndef table",
                                     "@datamill.task(checkpoint='never')\ndef table")
                    .replace('    _count(marks, "total")\n',
                             '    _count(marks, "total")\n'
                             '    if __import__("os").path.exists(marks + ".fail"):\n'
                             '        raise RuntimeError("total fails")\n')
                    .replace('"bg"', '"never"'))
    os.rename(flag, str(marks) + ".fail")
    r1 = datamill.run(str(path), {"marks": str(marks)}, handle_signals=False)
    assert r1.state == State.FAILED and r1.states["table"] == State.SUCCEEDED
    os.unlink(str(marks) + ".fail")
    r2 = datamill.resume(r1.run_id, handle_signals=False)
    assert r2.ok and r2["total"] == EXPECTED
    assert counts(marks) == Counter({"table": 2, "total": 2})  # no checkpoint: run again
