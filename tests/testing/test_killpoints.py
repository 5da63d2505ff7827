"""Kill points: a process announces a point, blocks there, and is killed exactly there."""

from __future__ import annotations

import os
import sys
import textwrap
import threading

import pytest

from datamill.testing import killpoints
from datamill.testing.killpoints import KillPoint, KillPointNotReached, reached, run_and_kill_at


@pytest.fixture
def inprocess(tmp_path):
    """Kill points on in this process, off again afterwards."""
    kp = KillPoint(tmp_path / "kp")
    yield kp
    killpoints.configure(None)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_reached_does_nothing_when_off(tmp_path, monkeypatch):
    killpoints.configure(None)
    monkeypatch.chdir(tmp_path)
    reached("anything")
    reached("not a valid name/but never checked when off")
    assert os.listdir(tmp_path) == []


def test_hits_are_counted_with_pids(inprocess):
    killpoints.configure(inprocess.dir)
    reached("step")
    reached("step")
    assert inprocess.hits("step") == [os.getpid(), os.getpid()]
    hit = inprocess.wait_for("step", count=2, timeout=1)
    assert (hit.count, hit.pid) == (2, os.getpid())
    assert inprocess.hits("other") == []


def test_invalid_names_are_refused_when_on(inprocess):
    killpoints.configure(inprocess.dir)
    for bad in ["", "a/b", "../x", ".hidden", "x.go", "sp ace"]:
        with pytest.raises(ValueError, match="invalid kill point name"):
            reached(bad)


def test_armed_point_blocks_until_released(inprocess):
    killpoints.configure(inprocess.dir, block=["gate"])
    passed = threading.Event()

    def worker():
        reached("gate")
        passed.set()

    t = threading.Thread(target=worker)
    t.start()
    inprocess.wait_for("gate", timeout=5)
    assert not passed.is_set()  # it is held at the point, not past it
    inprocess.release("gate")
    t.join(5)
    assert passed.is_set()


def test_blocking_gives_up_after_its_timeout(inprocess, capfd):
    killpoints.configure(inprocess.dir, block="*", timeout=0.05)
    reached("forgotten")  # nobody releases it: it goes on after 50 ms
    assert "going on" in capfd.readouterr().err


def test_kill_lands_exactly_at_the_point(tmp_path):
    out = tmp_path / "progress"
    result = run_and_kill_at(
        python(f"""
            from datamill.testing.killpoints import reached
            open({str(out)!r}, "a").write("before\\n")
            reached("commit")
            open({str(out)!r}, "a").write("after\\n")
        """),
        "commit",
        directory=tmp_path / "kp",
        timeout=30,
    )
    assert result.killed and result.returncode == -9
    assert result.hit.pid == result.pid
    assert out.read_text() == "before\n"


def test_kill_at_the_nth_hit(tmp_path):
    out = tmp_path / "progress"
    result = run_and_kill_at(
        python(f"""
            from datamill.testing.killpoints import reached
            for i in range(10):
                open({str(out)!r}, "a").write(f"{{i}}\\n")
                reached("row")
        """),
        "row",
        count=3,
        timeout=30,
    )
    assert result.killed and result.hit.count == 3
    assert out.read_text().split() == ["0", "1", "2"]


def test_group_kill_takes_the_workers_too(tmp_path):
    pidfile = tmp_path / "worker.pid"
    result = run_and_kill_at(
        python(f"""
            import subprocess, sys, time
            w = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open({str(pidfile)!r}, "w").write(str(w.pid))
            from datamill.testing.killpoints import reached
            reached("spawned")
        """),
        "spawned",
        timeout=30,
    )
    assert result.killed
    worker = int(pidfile.read_text())
    assert not os.path.exists(f"/proc/{worker}") or _is_zombie(worker)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_kill_only_the_worker_that_hit_the_point(tmp_path):
    result = run_and_kill_at(
        python("""
            import subprocess, sys
            child = "from datamill.testing.killpoints import reached; reached('work')"
            rc = subprocess.run([sys.executable, "-c", child]).returncode
            print("worker exit", rc)
        """),
        "work",
        target="hit",
        timeout=30,
    )
    assert result.killed and result.hit.pid != result.pid
    assert result.returncode == 0  # the parent lived on and saw its worker die
    assert "worker exit -9" in result.stdout


def test_not_reached_fails_with_the_output(tmp_path):
    cmd = python("""
        import sys
        print("oops", file=sys.stderr)
        sys.exit(3)
    """)
    with pytest.raises(KillPointNotReached, match="(?s)exited with code 3.*oops"):
        run_and_kill_at(cmd, "never", timeout=30)
    result = run_and_kill_at(cmd, "never", timeout=30, check=False)
    assert not result.killed and result.returncode == 3 and "oops" in result.stderr


def test_env_off_means_no_markers(tmp_path):
    kp = KillPoint(tmp_path / "kp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAMILL_KILLPOINT")}
    import subprocess

    subprocess.run(
        python("from datamill.testing.killpoints import reached; reached('x')"),
        env=env,
        check=True,
    )
    assert kp.hits("x") == []
    subprocess.run(
        python("from datamill.testing.killpoints import reached; reached('x')"),
        env=kp.env(base=env),
        check=True,
    )
    assert len(kp.hits("x")) == 1
