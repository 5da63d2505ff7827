"""The executor suite's pipeline: fan-out, a flaky task, a failing branch, a CPU task.

Side effects go to ``state_dir`` so executions can be counted across processes."""

import os
from pathlib import Path

import pandas as pd

import datamill


def _bump(state_dir: str, name: str) -> int:
    p = Path(state_dir) / f"{name}.count"
    n = int(p.read_text()) + 1 if p.exists() else 1
    p.write_text(str(n))
    return n


@datamill.task
def parts(state_dir: datamill.Required[str], n: int = 4) -> list[int]:
    _bump(state_dir, "parts")
    return list(range(n))


@datamill.task(map="parts")
def frame(parts: int, state_dir: datamill.Required[str]) -> pd.DataFrame:
    _bump(state_dir, f"frame{parts}")
    return pd.DataFrame({"part": [parts] * 3, "v": [parts * 10 + i for i in range(3)]})


@datamill.task(run_in="process")
def crunch(frame: list, state_dir: datamill.Required[str]) -> dict:
    _bump(state_dir, "crunch")
    df = pd.concat(frame, ignore_index=True)
    return {"rows": len(df), "sum": int(df.v.sum()), "pid": os.getpid()}


@datamill.task(retries=3, retry_delay=0.01)
def flaky(crunch: dict, state_dir: datamill.Required[str], fail_times: int = 2) -> int:
    n = _bump(state_dir, "flaky")
    if n <= fail_times:
        raise ConnectionError(f"flaky attempt {n}")
    return crunch["sum"]


@datamill.task
def broken(parts: list, state_dir: datamill.Required[str], break_it: bool = True) -> int:
    _bump(state_dir, "broken")
    if break_it:
        raise ValueError("broken on purpose")
    return len(parts)


@datamill.task
def after_broken(broken: int) -> int:
    return broken + 1


@datamill.task(timeout=0.5, run_in="process")
def slow(parts: list, slow_seconds: float = 0.0) -> int:
    import time

    time.sleep(slow_seconds)
    return len(parts)
