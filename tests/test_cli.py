"""The `datamill` command as a user meets it: exit codes, clear errors, JSON, views."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DATAMILL = [sys.executable, "-m", "datamill.cli"]


def dm(*args: str, cwd: Path, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    e = {**os.environ, **(env or {})}
    e.pop("DATAMILL_STORE", None)
    return subprocess.run([*DATAMILL, *args], cwd=cwd, env=e, capture_output=True, text=True,
                          timeout=timeout)


def write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


GOOD = '''
import datamill

@datamill.task
def numbers(n: int = 3) -> list[int]:
    print("making", n)
    return list(range(n))

@datamill.task
def total(numbers: list[int], scale: float = 1.0) -> float:
    return sum(numbers) * scale
'''


def test_help_is_fast_and_light():
    code = ("import sys, datamill, datamill.cli; heavy = [m for m in ('pandas', 'pyarrow', "
            "'sqlalchemy', 'rich', 'dask', 'distributed', 'numpy', 'alembic', 'polars') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", "import datamill / the CLI module must not import heavy libraries"
    r = subprocess.run([*DATAMILL, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "run" in r.stdout and "runs" in r.stdout and "graph" in r.stdout


def test_run_json_and_views(project):
    write(project / "sums.py", GOOD)
    r = dm("run", "sums.py", "-p", "n=5", "--param", "scale=2", "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["state"] == "succeeded" and out["pipeline"] == "sums"
    assert {t["task"] for t in out["tasks"]} == {"numbers", "total"}
    run_id = out["run_id"]

    r = dm("runs", "--json", cwd=project)
    runs = json.loads(r.stdout)
    assert runs[0]["run_id"] == run_id and runs[0]["params"] == {"n": 5, "scale": 2.0}

    r = dm("runs", cwd=project)
    assert r.returncode == 0 and "sums" in r.stdout and "succeeded" in r.stdout

    r = dm("runs", "show", run_id[:12], "--json", cwd=project)
    show = json.loads(r.stdout)
    assert show["run_id"] == run_id and len(show["tasks"]) == 2

    r = dm("runs", "show", run_id, cwd=project)
    assert r.returncode == 0 and "numbers" in r.stdout

    r = dm("runs", "logs", run_id, "numbers", cwd=project)
    assert r.returncode == 0 and "making 5" in r.stdout
    r = dm("runs", "logs", run_id, "--json", cwd=project)
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert any(ln["msg"] == "making 5" and ln["task"] == "numbers" for ln in lines)

    r = dm("runs", "logs", run_id, "nosuchtask", cwd=project)
    assert r.returncode == 2 and "no task 'nosuchtask'" in r.stderr

    r = dm("runs", "show", "doesnotexist", cwd=project)
    assert r.returncode == 2 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_graph_outputs(project):
    write(project / "sums.py", GOOD)
    r = dm("graph", "sums.py", cwd=project)
    assert r.returncode == 0 and "numbers" in r.stdout and "total" in r.stdout
    r = dm("graph", "sums.py", "-o", "g.dot", cwd=project)
    assert r.returncode == 0 and '"numbers" -> "total"' in (project / "g.dot").read_text()
    r = dm("graph", "sums.py", "-o", "g.svg", cwd=project)
    assert r.returncode == 0 and (project / "g.svg").read_text().startswith("<svg") or \
        "<svg" in (project / "g.svg").read_text()
    r = dm("graph", "sums.py", "--json", cwd=project)
    g = json.loads(r.stdout)
    assert g["edges"] == [["numbers", "total"]] and g["params"]["n"]["default"] == 3
    r = dm("graph", "sums.py", "-o", "g.png", cwd=project)
    assert r.returncode == 2 and ".svg" in r.stderr


def test_failed_run_exits_1(project):
    write(project / "bad.py", "import datamill\n\n@datamill.task\ndef boom():\n    raise ValueError('no')\n")
    r = dm("run", "bad.py", "--json", cwd=project)
    assert r.returncode == 1
    assert json.loads(r.stdout)["tasks"][0]["error"] == "ValueError: no"


@pytest.mark.parametrize(
    "source,args,fragment",
    [
        ("import datamill\n@datamill.task\ndef a(b): return b\n@datamill.task\ndef b(a): return a\n",
         [], "cycle between tasks"),
        ("import datamill\n@datamill.task\ndef a(nope): return 1\n", [], "parameter 'nope' names no task"),
        ("import datamill\n@datamill.task\ndef a(n: int = 1): return n\n", ["-p", "n=abc"],
         "cannot parse 'abc' as int"),
        ("import datamill\n@datamill.task\ndef a(n: int = 1): return n\n", ["-p", "m=1"],
         "unknown parameter 'm'"),
        ("import datamill\n@datamill.task\ndef a(path: datamill.Required[str]): return path\n", [],
         "needs parameter(s) path"),
        ("import datamill\n@datamill.task\ndef a(:\n", [], "SyntaxError"),
        ("import datamill\nraise RuntimeError('at import')\n", [], "RuntimeError: at import"),
        ("import datamill\n@datamill.task\ndef a(): return 1\n", ["--only", "zz"], "has no task 'zz'"),
        ("import datamill\n@datamill.task\ndef a(): return 1\n", ["-p", "novalue"], "expected NAME=VALUE"),
        ("import datamill\n@datamill.task\ndef a(): return 1\n", ["--executor", "spark"], "unknown executor"),
    ],
)
def test_validation_errors_exit_2_with_one_clear_message(project, source, args, fragment):
    write(project / "p.py", source)
    r = dm("run", "p.py", *args, cwd=project)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("error:")


def test_missing_pipeline(project):
    r = dm("run", "nothing_here", cwd=project)
    assert r.returncode == 2 and "no pipeline 'nothing_here'" in r.stderr


def test_params_file(project):
    write(project / "sums.py", GOOD)
    write(project / "p.json", '{"n": 4, "scale": 0.5}')
    write(project / "p.toml", "n = 2\nscale = 10.0\n")
    r = dm("run", "sums.py", "--params-file", "p.json", "--json", cwd=project)
    assert r.returncode == 0
    r2 = dm("run", "sums.py", "--params-file", "p.toml", "-p", "n=3", "--json", cwd=project)
    assert r2.returncode == 0
    runs = json.loads(dm("runs", "--json", cwd=project).stdout)
    assert runs[0]["params"] == {"n": 3, "scale": 10.0}
    assert runs[1]["params"] == {"n": 4, "scale": 0.5}
    write(project / "bad.json", "{nope")
    r3 = dm("run", "sums.py", "--params-file", "bad.json", cwd=project)
    assert r3.returncode == 2 and "cannot parse" in r3.stderr


def test_pipeline_by_name_from_toml(project):
    (project / "pipelines").mkdir()
    write(project / "pipelines" / "sums_impl.py", GOOD)
    write(project / "datamill.toml", '[pipelines]\nsums = "pipelines/sums_impl.py"\n')
    r = dm("run", "sums", "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    sub = project / "pipelines"
    r = dm("runs", "--json", cwd=sub)  # the project root is found from a sub-folder
    assert json.loads(r.stdout)[0]["pipeline"] == "sums_impl"


def test_plain_progress_and_json_logs(project):
    write(project / "sums.py", GOOD)
    r = dm("run", "sums.py", cwd=project)
    assert "run.started" in r.stderr and "task.finished task=total state=succeeded" in r.stderr
    r = dm("run", "sums.py", "--log-format", "json", cwd=project)
    events = [json.loads(x) for x in r.stderr.splitlines() if x.startswith("{")]
    assert events[0]["event"] == "run.started" and events[-1]["event"] == "run.finished"


def test_gc(project):
    write(project / "sums.py", GOOD)
    for n in range(4):
        assert dm("run", "sums.py", "-p", f"n={n}", "-q", cwd=project).returncode == 0
    r = dm("gc", "--keep-last", "1", "--dry-run", "--json", cwd=project)
    out = json.loads(r.stdout)
    assert out["runs_deleted"] == 3 and out["dry_run"]
    assert len(json.loads(dm("runs", "--json", cwd=project).stdout)) == 4
    r = dm("gc", "--keep-last", "1", cwd=project)
    assert r.returncode == 0 and "deleted 3 run(s)" in r.stdout
    assert len(json.loads(dm("runs", "--json", cwd=project).stdout)) == 1
    r = dm("gc", "--older-than", "forever", cwd=project)
    assert r.returncode == 2


def test_missing_extra_message():
    from datamill.errors import MissingExtraError

    e = MissingExtraError("s3fs", "s3", "s3:// paths")
    assert "pip install 'datamill[s3]'" in str(e) and e.exit_code == 2


FLAKY = '''
import os
import datamill

@datamill.task
def files() -> list[str]:
    return ["/data/in/jan.csv", "/data/in/feb.csv"]

@datamill.task(map="files")
def load(files: str) -> str:
    if os.environ.get("BREAK_LOAD") == "1" and files.endswith("feb.csv"):
        raise ValueError("feb.csv has a ragged line 7")
    return files
'''


def test_failed_run_error_hint_trigger_and_labels(project):
    write(project / "flaky.py", FLAKY)
    r = dm("run", "flaky.py", cwd=project, env={"BREAK_LOAD": "1"})
    assert r.returncode == 1
    runs = json.loads(dm("runs", "--json", cwd=project).stdout)
    run_id = runs[0]["run_id"]
    assert f"resume with: datamill resume {run_id}" in r.stderr
    # the run records the failing task's error, shown by `runs` and `runs show`
    assert runs[0]["error"].startswith("task load[")
    assert "(feb.csv) failed: ValueError: feb.csv has a ragged line 7" in runs[0]["error"]
    table = dm("runs", cwd=project).stdout
    assert "ValueError" in table
    shown = dm("runs", "show", run_id, cwd=project).stdout
    assert "(jan.csv)" in shown and "(feb.csv)" in shown and "queued" in shown
    assert f"resume with: datamill resume {run_id}" in shown
    detail = json.loads(dm("runs", "show", run_id, "--json", cwd=project).stdout)
    assert detail["error"] is not None
    loads = [t for t in detail["tasks"] if t["task"].startswith("load[")]
    assert sorted(t["label"] for t in loads) == ["feb.csv", "jan.csv"]
    for t in loads:
        assert t["queued_seconds"] is not None and t["seconds"] is not None
        (a,) = t["attempt_times"]
        assert a["queued_at"] <= a["started_at"] <= a["ended_at"]
    # resumed: the trigger says so
    r2 = dm("resume", run_id, "-q", cwd=project)
    assert r2.returncode == 0, r2.stderr
    detail = json.loads(dm("runs", "show", run_id, "--json", cwd=project).stdout)
    assert detail["state"] == "succeeded" and detail["trigger"] == "resume"
    assert detail["error"] is None


def test_runs_bad_state_is_usage_error(project):
    r = dm("runs", "--state", "bogus", cwd=project)
    assert r.returncode == 2
    assert "--state 'bogus' is not a run state; use one of: pending, running, succeeded" in r.stderr
    assert "Traceback" not in r.stderr
