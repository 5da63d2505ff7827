"""A run's fixed cost measured as a whole process (issue #15 §2 and §3): a fresh ``python``
runs a one-task pipeline from start to result, beside Dask's threaded scheduler and
Hamilton; and, for the orchestration table, each tool's first fan-out in a fresh process
with its marginal cost per task ((fan-out − single) / tasks, both fresh).

Each measured process is a small script written to a temporary folder (datamill
fingerprints a task's source, so its functions live in a real file) and started with
the contender's own interpreter (the peers' virtualenv for peers). The parent times the
whole process (interpreter start to exit); the script reports, from inside, the time its
imports took and the time from the first call to the result ("import excluded").
Top-level imports stay standard-library only (peer children import this module).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench.harness import Benchmark, Case, Contender, Figure, Measurement, ms

FANOUT = 2000  # as overhead.fanout: the run has FANOUT + 2 tasks
DM_PACKAGES = ("datamill",)

_HEAD = "import json, sys, time\n_t0 = time.perf_counter()\n"
_TAIL = ("_t2 = time.perf_counter()\n"
         "print(json.dumps({'import_s': _t1 - _t0, 'run_s': _t2 - _t1, 'out': out}))\n")

#: One script per tool: imports, then ``out`` = the result of a one-task run (N == 0) or of
#: the 1 -> N -> 1 fan-out (the same shape as overhead.fanout).
SCRIPTS = {
    "datamill": """
import datamill
_t1 = time.perf_counter()

def one() -> int:
    return 1

def items(n: int = 0) -> list[int]:
    return list(range(n))

def work(item: int) -> int:
    return item

def collect(work: list[int]) -> int:
    return len(work)

N, PROJECT = int(sys.argv[1]), sys.argv[2]
if N == 0:
    p = datamill.Pipeline("one", [datamill.task(one)])
    r = datamill.run(p, project=PROJECT, handle_signals=False)
    out = len(r.tasks)
else:
    p = datamill.Pipeline("fanout", [datamill.task(items),
                                     datamill.task(work, map={"item": "items"}),
                                     datamill.task(collect)])
    r = datamill.run(p, params={"n": N}, project=PROJECT, checkpoint=False,
                     handle_signals=False)
    out = len(r.tasks) - 2
if str(getattr(r.state, "value", r.state)) != "succeeded":
    raise SystemExit(f"run ended {r.state}")
""",
    "dask-threaded": """
import dask
from dask import delayed
_t1 = time.perf_counter()

def one():
    return 1

def items(n):
    return list(range(n))

def pick(lst, i):
    return lst[i]

def collect(ws):
    return len(ws)

N = int(sys.argv[1])
if N == 0:
    (out,) = dask.compute(delayed(one)(), scheduler="threads")
else:
    src = delayed(items)(N)
    (out,) = dask.compute(delayed(collect)([delayed(pick)(src, i) for i in range(N)]),
                          scheduler="threads")
""",
    "hamilton": """
from hamilton import ad_hoc_utils, driver
from hamilton.function_modifiers import group, inject, parameterize, source, value
_t1 = time.perf_counter()

N = int(sys.argv[1])

def one() -> int:
    return 1

def h_items(n: int) -> list:
    return list(range(n))

if N == 0:
    mod = ad_hoc_utils.create_temporary_module(one, module_name="bench_h1")
    out = driver.Builder().with_modules(mod).build().execute(["one"])["one"]
else:
    # the static DAG: one node per item (parameterize), collected by one node (inject/group)
    @parameterize(**{f"w{i}": {"i": value(i)} for i in range(N)})
    def h_work(h_items: list, i: int) -> int:
        return h_items[i]

    @inject(ws=group(*[source(f"w{i}") for i in range(N)]))
    def h_collect(ws: list[int]) -> int:
        return len(ws)

    mod = ad_hoc_utils.create_temporary_module(h_items, h_work, h_collect,
                                               module_name="bench_hn")
    dr = driver.Builder().with_modules(mod).build()
    out = dr.execute(["h_collect"], inputs={"n": N})["h_collect"]
""",
}
IMPORTS = {"datamill": "import datamill", "dask-threaded": "import dask, dask.delayed",
           "hamilton": "from hamilton import ad_hoc_utils, driver"}


def _script(folder: str, tool: str) -> str:
    path = os.path.join(folder, f"bench_{tool.replace('-', '_')}.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(_HEAD + SCRIPTS[tool] + _TAIL)
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATAMILL_STORE", None)
    # Hamilton reports usage over the network by default: off, as in any offline benchmark
    env["HAMILTON_TELEMETRY_ENABLED"] = "false"
    # and imports a plug-in for every library it finds (dask, dlt, ... in the peers' venv:
    # seconds); off, as a Hamilton user without those plug-ins has it
    env["HAMILTON_AUTOLOAD_EXTENSIONS"] = "0"
    return env


def _process(args: list[str], cwd: str | None = None) -> tuple[float, dict[str, Any]]:
    """Wall time of a whole fresh process, and what it printed (its JSON line, if any)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(), timeout=600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} exited {proc.returncode}: {proc.stderr[-800:]}")
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    return wall, (json.loads(lines[-1]) if lines else {})


# -- the contenders ----------------------------------------------------------------------------


def fresh_start(case: Case, tool: str, store: str = "existing") -> None:
    """A one-task run in a fresh process. ``store``: ``existing`` (created by an untimed run
    first), ``new`` (a new project per process), or ``none`` (peers have none)."""
    folder = tempfile.mkdtemp(prefix="bench-startup-")
    try:
        script = _script(folder, tool)
        project = os.path.join(folder, "project")
        if store == "existing":
            _process([script, "0", project])
        case.ready()
        for _ in case.repeats():
            if store == "new":
                shutil.rmtree(project, ignore_errors=True)
            with case.timed():
                _wall, got = _process([script, "0", project])
            if got.get("out") != 1:
                raise RuntimeError(f"{tool} returned {got.get('out')!r}")
            case.record(import_s=got["import_s"], run_s=got["run_s"],
                        in_process_s=got["import_s"] + got["run_s"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_import(case: Case, tool: str) -> None:
    """``python -c "<the tool's import>"`` (``pass`` for the bare interpreter)."""
    code = IMPORTS.get(tool, "pass")
    case.ready()
    for _ in case.repeats():
        with case.timed():
            _process(["-c", code])


def fresh_cli_runs(case: Case, runs: int = 20) -> None:
    """``datamill runs`` (the 20 newest of ``runs`` runs) in a project with a store."""
    folder = tempfile.mkdtemp(prefix="bench-startup-")
    try:
        script = _script(folder, "datamill")
        project = os.path.join(folder, "project")
        for _ in range(runs):
            _process([script, "0", project])
        exe = os.path.join(os.path.dirname(sys.executable), "datamill")
        case.ready()
        for _ in case.repeats():
            with case.timed():
                proc = subprocess.run([exe, "runs"], cwd=project, capture_output=True,
                                      text=True, env=_env(), timeout=120)
            if proc.returncode != 0 or "one" not in proc.stdout:
                raise RuntimeError(f"datamill runs exited {proc.returncode}: {proc.stderr[-500:]}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_fanout(case: Case, tool: str) -> None:
    """The first fan-out run in a fresh process, and a one-task run in another one (both
    checkpoints off for datamill, as overhead.fanout): timed is the fan-out's run from the
    first call to the result, import excluded (as reported from inside the process)."""
    folder = tempfile.mkdtemp(prefix="bench-startup-")
    try:
        script = _script(folder, tool)
        project = os.path.join(folder, "project")
        _process([script, "0", project])  # the store exists, as after a first run
        case.ready()
        for _ in case.repeats():
            _w1, single = _process([script, "0", project])
            wall, fan = _process([script, str(FANOUT), project])
            if fan.get("out") != FANOUT:
                raise RuntimeError(f"{tool} collected {fan.get('out')!r}")
            if case.measuring:
                case.samples.append(fan["run_s"])
            case.record(single_s=single["run_s"], fanout_s=fan["run_s"], process_s=wall,
                        import_s=fan["import_s"], tasks=FANOUT + 2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- checks ------------------------------------------------------------------------------------


def _med(m: Measurement | None, key: str) -> float | None:
    if m is None or not m.ok:
        return None
    v = m.extras.get(key)
    return v if isinstance(v, int | float) else None


def _err(m: Measurement | None) -> str:
    if m is None:
        return "not run"
    return "failed: " + (m.error or "?")[:160]


def _startup_check(res: dict[str, Measurement]) -> list[Figure]:
    out: list[Figure] = []
    bare = res.get("python -c pass")
    bare_txt = f"bare interpreter {ms(bare.seconds, 1)}" if bare and bare.ok else ""
    imp = res.get("import datamill")
    imp_txt = f"`python -c \"import datamill\"` {ms(imp.seconds, 1)}" if imp and imp.ok else ""
    for name, goal_s in (("datamill, existing store", 0.060), ("datamill, new store", 0.100)):
        m = res.get(name)
        if not (m and m.ok and imp and imp.ok):
            out.append(Figure(f"one-task run above import ({name})", _err(m), imp_txt,
                              f"≤ {goal_s * 1000:g} ms", False, contender=name))
            continue
        above = m.seconds - imp.seconds
        out.append(Figure(
            f"one-task run in a fresh process, above `import datamill` ({name.split(', ')[1]})",
            f"{ms(above, 1)} (process {ms(m.seconds, 1)}; inside: import "
            f"{ms(_med(m, 'import_s'), 1)}, run {ms(_med(m, 'run_s'), 1)})", imp_txt,
            f"≤ {goal_s * 1000:g} ms", above <= goal_s, contender=name))
    runs = res.get("datamill runs")
    out.append(Figure("`datamill runs` wall time (20 runs in the store)",
                      ms(runs.seconds, 1) if runs and runs.ok else _err(runs), bare_txt,
                      "≤ 100 ms", bool(runs and runs.ok and runs.seconds <= 0.100),
                      contender="datamill runs"))
    for peer in ("dask-threaded", "hamilton"):
        m, pimp = res.get(peer), res.get(f"import {peer}")
        if m is None:
            continue
        if not m.ok:
            out.append(Figure("one-task run in a fresh process", _err(m), "", contender=peer))
            continue
        above = m.seconds - pimp.seconds if pimp and pimp.ok else None
        out.append(Figure(
            "one-task run in a fresh process, above its import",
            f"{ms(above, 1)} (process {ms(m.seconds, 1)}; inside: import "
            f"{ms(_med(m, 'import_s'), 1)}, run {ms(_med(m, 'run_s'), 1)})",
            f"`python -c \"{IMPORTS[peer]}\"` {ms(pimp.seconds, 1)}" if pimp and pimp.ok else "",
            contender=peer))
    return out


def _fresh_check(res: dict[str, Measurement]) -> list[Figure]:
    out: list[Figure] = []
    for name, m in res.items():
        if not m.ok:
            out.append(Figure("fan-out run in a fresh process", _err(m), "", contender=name))
            continue
        single, fan = _med(m, "single_s"), _med(m, "fanout_s")
        marginal = (fan - single) / (FANOUT + 1) if single is not None and fan else None
        out.append(Figure(
            f"whole run, fresh process, import excluded ({MODES[name]})",
            f"{ms(m.seconds, 1)} for {FANOUT + 2:,} tasks",
            f"one-task run {ms(single, 1)} · import {ms(_med(m, 'import_s'), 1)}",
            contender=name))
        out.append(Figure("marginal per task, (fan-out − single) / tasks, both fresh",
                          f"{ms(marginal)}/task", "", contender=name))
    return out


MODES = {
    "datamill": "`datamill.run`, default workers, checkpoints off, store exists",
    "dask-threaded": "`dask.delayed` + threaded scheduler, graph built in the timing",
    "hamilton": "static DAG (`@parameterize` + `@inject(group(...))`), `Driver.execute`",
}

_MOD = "bench.startup"
_PEER_PKGS = {"dask-threaded": ("dask",), "hamilton": ("apache-hamilton",)}

BENCHMARKS = [
    Benchmark(
        name="startup", issue=15,
        title="a one-task run as a whole fresh process, beside Dask and Hamilton",
        goal="≤ 60 ms above `python -c \"import datamill\"` with an existing store, ≤ 100 ms "
             "creating a new one; `datamill runs` ≤ 100 ms wall",
        contenders=[
            Contender("python -c pass", f"{_MOD}:fresh_import", {"tool": "none"},
                      role="baseline", repeats=9, quick_repeats=5),
            Contender("import datamill", f"{_MOD}:fresh_import", {"tool": "datamill"},
                      role="baseline", repeats=9, quick_repeats=5, packages=DM_PACKAGES),
            Contender("datamill, existing store", f"{_MOD}:fresh_start",
                      {"tool": "datamill", "store": "existing"}, repeats=9, quick_repeats=5,
                      packages=DM_PACKAGES),
            Contender("datamill, new store", f"{_MOD}:fresh_start",
                      {"tool": "datamill", "store": "new"}, repeats=9, quick_repeats=5,
                      packages=DM_PACKAGES),
            Contender("datamill runs", f"{_MOD}:fresh_cli_runs", repeats=9, quick_repeats=5,
                      packages=DM_PACKAGES),
            *[c for peer, pkgs in _PEER_PKGS.items() for c in (
                Contender(f"import {peer}", f"{_MOD}:fresh_import", {"tool": peer},
                          role="peer", repeats=9, packages=pkgs),
                Contender(peer, f"{_MOD}:fresh_start", {"tool": peer, "store": "none"},
                          role="peer", repeats=9, packages=pkgs),
            )],
        ],
        check=_startup_check, method=(
            "Each sample is one whole `python` process started by the benchmark (interpreter "
            "start to exit) running a small script: import the tool, run a one-task pipeline, "
            "print the result. Reported: the median process wall time minus that of a process "
            "that only imports the tool (`python -c \"import datamill\"`), and, from inside "
            "the process, the import time and the run time (first call to result, import "
            "excluded). datamill: `datamill.run` with default settings (checkpoints on) in a "
            "project whose run store exists (created by an untimed run) or is created by the "
            "run. `datamill runs`: the CLI in a project with 20 runs. Peers (`--peers`): "
            "`dask.compute(delayed(one)(), scheduler=\"threads\")` and a Hamilton "
            "`Driver.execute` of a one-function module (static DAG)."),
    ),
    Benchmark(
        name="overhead.fresh", issue=15,
        title=f"the fan-out 1 → {FANOUT:,} → 1 as the first run of a fresh process, and its "
              "marginal cost per task",
        goal="report, for every contender, the whole run in a fresh process and the marginal "
             "per-task cost, each tool in its fastest idiomatic mode",
        contenders=[
            Contender("datamill", f"{_MOD}:fresh_fanout", {"tool": "datamill"}, repeats=3,
                      packages=DM_PACKAGES),
            *[Contender(peer, f"{_MOD}:fresh_fanout", {"tool": peer}, role="peer", repeats=3,
                        packages=pkgs) for peer, pkgs in _PEER_PKGS.items()],
        ],
        check=_fresh_check, method=(
            "Two fresh processes per sample: one runs a one-task pipeline, the other the "
            f"{FANOUT + 2:,}-task fan-out of overhead.fanout; each reports its run from first "
            "call to result with the import excluded. Whole run = the fan-out's; marginal per "
            "task = (fan-out − single) / (tasks − 1), the fixed cost of a run cancelled out. "
            "Modes: " + "; ".join(f"{k}: {v}" for k, v in MODES.items()) + ". The warm "
            "figures of overhead.fanout (several runs in one process) stay beside these."),
    ),
]
