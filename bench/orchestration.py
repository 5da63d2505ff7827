"""Orchestration benchmarks (issue #2): scheduling overhead, parallel sleeps, a 10,000-task
DAG, and resume after a failure, each beside a plain-Python baseline measured in the same run.

Contender functions run in a child process (see bench.harness): they import what they
need, call ``case.ready()``, then time their work once per ``case.repeats()``. Top-level
imports stay standard-library only, because peer contenders import this module inside
the peers' virtualenv, where datamill is not installed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.harness import Benchmark, Case, Contender, Figure, Measurement, ms

FANOUT = 2000  # mapped instances; the run has FANOUT + 2 tasks (source, map, collect)
CHAIN = 500
SLEEPS = 1000
SLEEP_S = 0.01
SLEEP_WORKERS = 32
WIDTH = 100  # the layered DAG: layers of WIDTH tasks, each depending on 2 of the layer before
RESUME_N = 2000

DM_PACKAGES = ("datamill", "sqlalchemy", "pyarrow")

# -- the task functions (module level, so their source can be fingerprinted) -------------------


def items(n: int = FANOUT) -> list[int]:
    return list(range(n))


def work(item: int) -> int:
    return item


def collect(work: list[int]) -> int:
    return len(work)


def sleepy(item: int) -> int:
    time.sleep(SLEEP_S)
    return item


def chain_first() -> int:
    return 0


def chain_step(prev: int) -> int:
    return prev + 1


def dag_source() -> int:
    return 1


def dag_node(a: int, b: int) -> int:
    return 1


def one() -> int:
    return 1


def resume_collect(work: list[int]) -> int:
    if not os.path.exists(os.environ["DATAMILL_BENCH_MARKER"]):
        raise RuntimeError("failing on purpose: the marker file does not exist yet")
    return len(work)


# -- datamill helpers --------------------------------------------------------------------------


def _fresh_project(tmpfs: bool = False) -> str:
    """A new project folder with its run store already created (as after a first run).

    ``tmpfs`` puts it in /dev/shm (memory), to tell datamill's own cost from the disk's.
    """
    import datamill

    where = "/dev/shm" if tmpfs and os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="datamill-bench-", dir=where)
    r = datamill.run(datamill.Pipeline("warm", [datamill.task(one)]), project=d,
                     handle_signals=False)
    _expect(r, "succeeded")
    return d


def _warm_imports() -> None:
    """One untimed run so datamill's lazy imports (SQLAlchemy, alembic, ...) happen before
    ``case.ready()``: peak RSS growth then counts the run, not the imports."""
    shutil.rmtree(_fresh_project(), ignore_errors=True)
    shutil.rmtree(_fresh_project(tmpfs=True), ignore_errors=True)


def _expect(result: Any, state: str) -> None:
    if str(getattr(result.state, "value", result.state)) != state:
        failed = [f"{t.key}: {t.error}" for t in result.tasks.values() if t.error][:3]
        raise RuntimeError(f"run {result.run_id} ended {result.state}, expected {state}: {failed}")


def _fanout_pipeline(name: str, collector: Any = collect, fn: Any = work) -> Any:
    import datamill

    return datamill.Pipeline(name, [
        datamill.task(items),
        datamill.task(fn, name="work", map={"item": "items"}),
        datamill.task(collector, name="collect"),
    ])


def _chain_pipeline(n: int) -> Any:
    import datamill

    tasks = [datamill.task(chain_first, name="c0")]
    tasks += [datamill.task(chain_step, name=f"c{i}", inputs={"prev": f"c{i - 1}"})
              for i in range(1, n)]
    return datamill.Pipeline("chain", tasks)


def _dag_tasks(layers: int, width: int = WIDTH) -> list[Any]:
    import datamill

    tasks = [datamill.task(dag_source, name=f"t0_{j}") for j in range(width)]
    for layer in range(1, layers):
        for j in range(width):
            tasks.append(datamill.task(dag_node, name=f"t{layer}_{j}", inputs={
                "a": f"t{layer - 1}_{j}", "b": f"t{layer - 1}_{(j + 1) % width}"}))
    return tasks


# -- 1. scheduling overhead --------------------------------------------------------------------


def dm_overhead(case: Case, shape: str, checkpoint: bool, tmpfs: bool = False) -> None:
    """datamill.run of a no-op fan-out (1 -> FANOUT -> 1) or chain, default workers."""
    import datamill

    p = _fanout_pipeline("fanout") if shape == "fanout" else _chain_pipeline(CHAIN)
    tasks = FANOUT + 2 if shape == "fanout" else CHAIN
    _warm_imports()
    case.ready()
    for _ in case.repeats():
        d = _fresh_project(tmpfs)
        try:
            with case.timed():
                r = datamill.run(p, project=d, checkpoint=checkpoint, handle_signals=False)
            _expect(r, "succeeded")
            if len(r.tasks) != tasks:
                raise RuntimeError(f"expected {tasks} task instances, the run had {len(r.tasks)}")
            case.record(tasks=tasks)
        finally:
            shutil.rmtree(d, ignore_errors=True)


def plain_overhead(case: Case, shape: str) -> None:
    """The same functions called directly."""
    case.ready()
    for _ in case.repeats():
        with case.timed():
            if shape == "fanout":
                collect([work(i) for i in items(FANOUT)])
            else:
                x = chain_first()
                for _ in range(1, CHAIN):
                    x = chain_step(x)
        case.record(tasks=FANOUT + 2 if shape == "fanout" else CHAIN)


def pool_overhead(case: Case, shape: str) -> None:
    """The same functions through a bare ThreadPoolExecutor (default size, like datamill's)."""
    case.ready()
    for _ in case.repeats():
        with case.timed():
            with ThreadPoolExecutor() as ex:
                if shape == "fanout":
                    its = ex.submit(items, FANOUT).result()
                    futs = [ex.submit(work, i) for i in its]
                    ex.submit(collect, [f.result() for f in futs]).result()
                else:
                    x = ex.submit(chain_first).result()
                    for _ in range(1, CHAIN):
                        x = ex.submit(chain_step, x).result()
        case.record(tasks=FANOUT + 2 if shape == "fanout" else CHAIN)


# -- peers (run in bench/.venv-peers; each imports its tool lazily) ----------------------------


def peer_hamilton(case: Case) -> None:
    """Hamilton's fastest idiomatic mode, a static DAG: one node per item
    (``@parameterize``) collected by one node (``@inject(group(...))``), ``Driver.execute``
    (dynamic execution, Parallelizable/Collect, is several times slower per task)."""
    os.environ["HAMILTON_TELEMETRY_ENABLED"] = "false"  # no usage reports over the network
    os.environ["HAMILTON_AUTOLOAD_EXTENSIONS"] = "0"  # no plug-ins for dask, dlt, ... (slow)
    from hamilton import ad_hoc_utils, driver
    from hamilton.function_modifiers import group, inject, parameterize, source, value

    def h_items(n: int) -> list:
        return items(n)

    def h_work(h_items: list, i: int) -> int:
        return work(h_items[i])

    def h_collect(ws: list) -> int:
        return collect(ws)

    # real annotation objects: this module's `from __future__ import annotations` would
    # leave strings that Hamilton cannot resolve for functions defined in a function; the
    # decorators are applied after, as they validate the annotations
    h_items.__annotations__ = {"n": int, "return": list}
    h_work.__annotations__ = {"h_items": list, "i": int, "return": int}
    h_collect.__annotations__ = {"ws": list[int], "return": int}
    h_work = parameterize(**{f"w{i}": {"i": value(i)} for i in range(FANOUT)})(h_work)
    h_collect = inject(ws=group(*[source(f"w{i}") for i in range(FANOUT)]))(h_collect)

    mod = ad_hoc_utils.create_temporary_module(h_items, h_work, h_collect, module_name="bench_h")
    dr = driver.Builder().with_modules(mod).build()
    case.ready()
    for _ in case.repeats():
        with case.timed():
            out = dr.execute(["h_collect"], inputs={"n": FANOUT})
        if out["h_collect"] != FANOUT:
            raise RuntimeError(f"hamilton collected {out['h_collect']}")
        case.record(tasks=FANOUT + 2)


def peer_dask(case: Case) -> None:
    """dask.delayed graph of the same shape, computed with the threaded scheduler."""
    import dask
    from dask import delayed

    def pick(lst: list[int], i: int) -> int:
        return work(lst[i])

    case.ready()
    for _ in case.repeats():
        with case.timed():
            src = delayed(items)(FANOUT)
            ws = [delayed(pick)(src, i) for i in range(FANOUT)]
            (n,) = dask.compute(delayed(collect)(ws), scheduler="threads")
        if n != FANOUT:
            raise RuntimeError(f"dask collected {n}")
        case.record(tasks=FANOUT + 2)


def peer_luigi(case: Case) -> None:
    """Luigi local scheduler, one worker: Items -> Work(i) x FANOUT -> Collect (no targets)."""
    import logging

    import luigi
    from luigi.task_register import Register

    logging.getLogger("luigi-interface").setLevel(logging.WARNING)
    logging.getLogger("luigi").setLevel(logging.WARNING)

    class _Done(luigi.Task):
        def complete(self) -> bool:
            return getattr(self, "_done", False)

    class Items(_Done):
        def run(self) -> None:
            self.value = items(FANOUT)
            self._done = True

    class Work(_Done):
        i = luigi.IntParameter()

        def requires(self) -> Any:
            return Items()

        def run(self) -> None:
            self.value = work(self.requires().value[self.i])
            self._done = True

    class Collect(_Done):
        def requires(self) -> Any:
            return [Work(i=i) for i in range(FANOUT)]

        def run(self) -> None:
            self.value = collect([t.value for t in self.requires()])
            self._done = True

    case.ready()
    for _ in case.repeats():
        Register.clear_instance_cache()
        with case.timed():
            ok = luigi.build([Collect()], local_scheduler=True, workers=1, log_level="WARNING")
        if not ok:
            raise RuntimeError("luigi.build failed")
        case.record(tasks=FANOUT + 2)


def peer_dagster(case: Case) -> None:
    """Dagster job with a dynamic output mapped over FANOUT items, execute_in_process."""
    import warnings

    from dagster import DynamicOut, DynamicOutput, job, op

    warnings.filterwarnings("ignore")

    @op(out=DynamicOut())
    def d_items():
        for i in items(FANOUT):
            yield DynamicOutput(i, mapping_key=str(i))

    @op
    def d_work(item: int) -> int:
        return work(item)

    @op
    def d_collect(ws: list[int]) -> int:
        return collect(ws)

    @job
    def d_job():
        d_collect(d_items().map(d_work).collect())

    case.ready()
    for _ in case.repeats():
        with case.timed():
            res = d_job.execute_in_process()
        if not res.success:
            raise RuntimeError("dagster job failed")
        case.record(tasks=FANOUT + 2)


def peer_prefect(case: Case) -> None:
    """Prefect 3 flow: items task, work.map over FANOUT items, collect (ephemeral API)."""
    import atexit

    home = tempfile.mkdtemp(prefix="prefect-bench-")
    # registered before prefect is imported, so it runs after prefect's own exit handlers
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["PREFECT_HOME"] = home
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect import flow, task

    p_items = task(items, name="items")
    p_work = task(work, name="work")
    p_collect = task(collect, name="collect")

    @flow(name="fanout")
    def p_flow() -> int:
        its = p_items(FANOUT)
        futs = p_work.map(its)
        return p_collect(futs.result())

    @flow(name="warm")
    def p_warm() -> int:
        return task(one, name="one")()

    p_warm()  # starts the ephemeral API server once, outside the timing
    case.ready()
    for _ in case.repeats():
        with case.timed():
            n = p_flow()
        if n != FANOUT:
            raise RuntimeError(f"prefect collected {n}")
        case.record(tasks=FANOUT + 2)


# -- 2. parallel sleeps ------------------------------------------------------------------------


def dm_sleeps(case: Case) -> None:
    import datamill

    p = datamill.Pipeline("sleeps", [datamill.task(items),
                                     datamill.task(sleepy, map={"item": "items"})])
    _warm_imports()
    case.ready()
    for _ in case.repeats():
        d = _fresh_project()
        try:
            with case.timed():
                r = datamill.run(p, params={"n": SLEEPS}, project=d, workers=SLEEP_WORKERS,
                                 checkpoint=False, handle_signals=False)
            _expect(r, "succeeded")
            case.record(tasks=len(r.tasks))
        finally:
            shutil.rmtree(d, ignore_errors=True)


def pool_sleeps(case: Case) -> None:
    case.ready()
    for _ in case.repeats():
        with case.timed():
            with ThreadPoolExecutor(SLEEP_WORKERS) as ex:
                its = items(SLEEPS)
                [f.result() for f in [ex.submit(sleepy, i) for i in its]]
        case.record(tasks=SLEEPS)


# -- 3. a 10,000-task DAG ----------------------------------------------------------------------


def dm_dag(case: Case, layers: int) -> None:
    """Define the layered DAG, build the Pipeline (validation, topological order) and run it."""
    import datamill

    _warm_imports()
    case.ready()
    for _ in case.repeats():
        d = _fresh_project()
        try:
            with case.timed():
                t0 = time.perf_counter()
                p = datamill.Pipeline(f"dag{layers}", _dag_tasks(layers))
                t1 = time.perf_counter()
                r = datamill.run(p, project=d, checkpoint=False, handle_signals=False)
                t2 = time.perf_counter()
            _expect(r, "succeeded")
            case.record(tasks=len(r.tasks), build_s=t1 - t0, run_s=t2 - t1)
            del p, r
        finally:
            shutil.rmtree(d, ignore_errors=True)


def plain_dag(case: Case, layers: int) -> None:
    """The same DAG as a dict of dependencies, evaluated in order by plain calls."""
    case.ready()
    for _ in case.repeats():
        with case.timed():
            deps: dict[str, tuple[str, str] | None] = {}
            for j in range(WIDTH):
                deps[f"t0_{j}"] = None
            for layer in range(1, layers):
                for j in range(WIDTH):
                    deps[f"t{layer}_{j}"] = (f"t{layer - 1}_{j}", f"t{layer - 1}_{(j + 1) % WIDTH}")
            values: dict[str, int] = {}
            for name, dep in deps.items():
                values[name] = dag_source() if dep is None else dag_node(values[dep[0]],
                                                                         values[dep[1]])
        case.record(tasks=len(values))


# -- 4. resume ---------------------------------------------------------------------------------


class _FirstStart:
    """A progress object that notes when the engine first hands a task to the executor."""

    def __init__(self) -> None:
        self.started_at: float | None = None
        self.first_task_at: float | None = None
        self.first_task: str | None = None

    def start(self, run_id: str, pipeline: str, total: int) -> None:
        self.started_at = time.perf_counter()

    def add_total(self, n: int) -> None:
        pass

    def task_started(self, key: str) -> None:
        if self.first_task_at is None:
            self.first_task_at = time.perf_counter()
            self.first_task = key

    def task_finished(self, key: str, state: Any, duration: float) -> None:
        pass

    def finish(self, result: Any) -> None:
        pass


def dm_resume(case: Case) -> None:
    """A checkpointed fan-out whose collecting task fails; then resume it (timed)."""
    import datamill

    p = _fanout_pipeline("resume_fanout", collector=resume_collect)
    _warm_imports()
    case.ready()
    for _ in case.repeats():
        d = _fresh_project()
        marker = os.path.join(d, "marker")
        os.environ["DATAMILL_BENCH_MARKER"] = marker
        try:
            t0 = time.perf_counter()
            first = datamill.run(p, params={"n": RESUME_N}, project=d, handle_signals=False)
            first_s = time.perf_counter() - t0
            _expect(first, "failed")
            open(marker, "w").close()
            prog = _FirstStart()
            with case.timed():
                t0 = time.perf_counter()
                r = datamill.resume(first.run_id, pipeline=p, project=d, progress=prog,
                                    handle_signals=False)
            _expect(r, "succeeded")
            if prog.first_task_at is None or prog.started_at is None:
                raise RuntimeError("the resume submitted no task")
            reused = sum(1 for t in r.tasks.values() if t.state.value == "cached")
            case.record(first_run_s=first_s, to_first_submit_s=prog.first_task_at - t0,
                        to_start_s=prog.started_at - t0, reused=reused, tasks=len(r.tasks),
                        first_submitted=prog.first_task)
        finally:
            shutil.rmtree(d, ignore_errors=True)


# -- checks ------------------------------------------------------------------------------------

# Whole-run figures per task from the issues' earlier measurements (not marginal costs).
PEER_REFERENCE = [
    ("hamilton", "0.147 ms/task marginal, static DAG (issue #15)"),
    ("dask-threaded", "0.62 ms/task (whole run / tasks)"),
    ("luigi", "1.7 ms/task"),
    ("dagster", "12-15 ms/task (in-process)"),
    ("prefect", "22 ms/task (Prefect 3)"),
    ("airflow", "114 ms/task (Airflow 3 dag.test())"),
]


def _err(m: Measurement | None) -> str:
    if m is None:
        return "not run"
    text = m.error or "?"
    return "failed: " + (text if len(text) <= 160 else text[:157] + "...")


def _per_task(m: Measurement, base: Measurement | None) -> float | None:
    if not m.ok:
        return None
    tasks = m.extras.get("tasks") or 1
    return (m.seconds - (base.seconds if base and base.ok else 0.0)) / tasks


def _overhead_check(goal_s: float) -> Any:
    def check(res: dict[str, Measurement]) -> list[Figure]:
        dm, plain, pool = res.get("datamill"), res.get("plain python"), res.get("thread pool")
        base_txt = " · ".join(
            f"{label} {ms(_per_task(m, None), 4)}/task" for label, m in
            (("plain", plain), ("bare ThreadPoolExecutor", pool)) if m is not None and m.ok)
        out = []
        if dm is None or not dm.ok:
            return [Figure("overhead per task", _err(dm),
                           base_txt, f"≤ {goal_s * 1000:g} ms/task", False)]
        per = _per_task(dm, plain)
        out.append(Figure("overhead per task (run − plain) / tasks", f"{ms(per)}/task", base_txt,
                          f"≤ {goal_s * 1000:g} ms/task", per is not None and per <= goal_s))
        tasks = dm.extras.get("tasks") or 1
        out.append(Figure("peak RSS growth", f"{dm.rss_growth_mb:.1f} MB "
                          f"({dm.rss_growth_mb * 1024 / tasks:.2f} KB/task)",
                          f"plain {plain.rss_growth_mb:.1f} MB" if plain and plain.ok else ""))
        shm = res.get("datamill (tmpfs)")
        if shm is not None:
            value = f"{ms(_per_task(shm, plain))}/task" if shm.ok else _err(shm)
            out.append(Figure("same, project on tmpfs (/dev/shm): datamill without the disk",
                              value, base_txt, contender="datamill (tmpfs)"))
        for name, m in res.items():
            if m.role != "peer":
                continue
            value = f"{ms(_per_task(m, plain))}/task" if m.ok else _err(m)
            out.append(Figure("overhead per task (run − plain) / tasks", value, base_txt,
                              contender=name))
        return out

    return check


def _sleeps_check(res: dict[str, Measurement]) -> list[Figure]:
    dm, pool = res.get("datamill"), res.get("thread pool")
    if not (dm and dm.ok and pool and pool.ok):
        bad = next((m for m in (dm, pool) if m is not None and not m.ok), None)
        return [Figure("wall time vs ThreadPoolExecutor(32)", _err(bad), "", "≤ 1.5x", False)]
    ratio = dm.seconds / pool.seconds
    ideal = SLEEPS * SLEEP_S / SLEEP_WORKERS
    return [
        Figure("wall time vs bare ThreadPoolExecutor(32)", f"{dm.seconds:.3f} s = {ratio:.2f}x",
               f"ThreadPoolExecutor(32) {pool.seconds:.3f} s (ideal {ideal:.3f} s)", "≤ 1.5x",
               ratio <= 1.5),
    ]


DAG_SIZES = (("1k", 10), ("5k", 50), ("10k", 100))


def _dag_check(res: dict[str, Measurement]) -> list[Figure]:
    out: list[Figure] = []
    per: dict[str, float] = {}
    for label, _ in DAG_SIZES:
        m, base = res.get(f"datamill {label}"), res.get(f"plain python {label}")
        base_txt = f"plain {ms(_per_task(base, None), 4)}/task" if base and base.ok else ""
        if not (m and m.ok):
            out.append(Figure(f"time per task at {label}", _err(m),
                              base_txt))
            continue
        per[label] = m.seconds / (m.extras.get("tasks") or 1)
        out.append(Figure(f"time per task at {label} (build + run)",
                          f"{ms(per[label])}/task (build {m.extras.get('build_s', 0):.2f} s, "
                          f"run {m.extras.get('run_s', 0):.2f} s)", base_txt))
    if "1k" in per and "10k" in per:
        ratio = per["10k"] / per["1k"]
        out.append(Figure("per-task time 10k / 1k", f"{ratio:.2f}x", "linear = 1.00x", "≤ 1.5x",
                          ratio <= 1.5))
    else:
        out.append(Figure("per-task time 10k / 1k", "n/a", "linear = 1.00x", "≤ 1.5x", False))
    for label, _ in DAG_SIZES:
        m, base = res.get(f"datamill {label}"), res.get(f"plain python {label}")
        if m and m.ok:
            tasks = m.extras.get("tasks") or 1
            base_txt = (f"plain {base.rss_growth_mb * 1024 / tasks:.2f} KB/task"
                        if base and base.ok else "")
            out.append(Figure(f"peak RSS per task at {label}",
                              f"{m.rss_growth_mb * 1024 / tasks:.2f} KB/task "
                              f"({m.rss_growth_mb:.1f} MB)", base_txt))
    small, big = res.get("datamill 1k"), res.get("datamill 10k")
    if small and small.ok and big and big.ok:
        extra = (big.extras.get("tasks") or 0) - (small.extras.get("tasks") or 0)
        if extra > 0:
            slope = (big.rss_growth_mb - small.rss_growth_mb) * 1024 / extra
            out.append(Figure("marginal peak RSS per task (10k − 1k) / 9k", f"{slope:.2f} KB/task",
                              "the fixed part of a run left out"))
    return out


def _resume_check(res: dict[str, Measurement]) -> list[Figure]:
    dm = res.get("datamill")
    if not (dm and dm.ok):
        return [Figure("time to decide what to reuse", _err(dm),
                       "", "< 1 s", False)]
    first = dm.extras.get("first_run_s")
    base_txt = f"first run (all {dm.extras.get('tasks')} tasks) {first:.3f} s" if first else ""
    decide = dm.extras.get("to_first_submit_s")
    return [
        Figure("time to decide what to reuse (resume() call → first task submitted)",
               f"{decide:.3f} s ({dm.extras.get('reused')} reused)", base_txt, "< 1 s",
               decide is not None and decide < 1.0),
        Figure("whole resume wall time (incl. the re-run task loading 2,000 checkpoints)",
               f"{dm.seconds:.3f} s", base_txt, "< 1 s (stricter reading)", dm.seconds < 1.0),
    ]


# -- declarations ------------------------------------------------------------------------------

_MOD = "bench.orchestration"


def _overhead_contenders(shape: str, checkpoint: bool, peers: bool) -> list[Contender]:
    cs = [
        Contender("datamill", f"{_MOD}:dm_overhead", {"shape": shape, "checkpoint": checkpoint},
                  packages=DM_PACKAGES, repeats=5),
    ]
    if checkpoint:
        cs.append(Contender("datamill (tmpfs)", f"{_MOD}:dm_overhead",
                            {"shape": shape, "checkpoint": True, "tmpfs": True}, repeats=5,
                            quick=False))
    cs += [
        Contender("plain python", f"{_MOD}:plain_overhead", {"shape": shape}, role="baseline",
                  repeats=5),
        Contender("thread pool", f"{_MOD}:pool_overhead", {"shape": shape}, role="baseline",
                  repeats=5),
    ]
    if peers:
        cs += [
            Contender("hamilton", f"{_MOD}:peer_hamilton", role="peer", repeats=5,
                      packages=("apache-hamilton",)),
            Contender("dask-threaded", f"{_MOD}:peer_dask", role="peer", repeats=5,
                      packages=("dask",)),
            Contender("luigi", f"{_MOD}:peer_luigi", role="peer", repeats=2, warmup=0,
                      packages=("luigi",)),
            Contender("dagster", f"{_MOD}:peer_dagster", role="peer", repeats=1,
                      packages=("dagster",)),
            Contender("prefect", f"{_MOD}:peer_prefect", role="peer", repeats=1, warmup=0,
                      packages=("prefect",)),
        ]
    return cs


_SHAPES = {
    "fanout": f"fan-out 1 → {FANOUT:,} → 1 (`map=` over a list of {FANOUT:,} items, then a "
              f"collecting task: {FANOUT + 2:,} tasks)",
    "chain": f"a chain of {CHAIN} tasks (programmatic `Pipeline`)",
}
_OVERHEAD_METHOD = (
    "No-op tasks, default workers, a fresh project per repeat whose run store already exists "
    "(a one-task run creates it, untimed). Timed: the `datamill.run(...)` call. Per-task "
    "overhead = (median run wall time − median plain-Python wall time) / task instances. "
    "Baselines: the same functions called directly (`plain`) and through a bare "
    "`ThreadPoolExecutor()`."
)

BENCHMARKS = [
    Benchmark(
        name="overhead.fanout", issue=2,
        title=f"scheduling overhead, {_SHAPES['fanout']}, checkpoints off",
        goal="≤ 0.3 ms per no-op task with checkpoints off",
        contenders=_overhead_contenders("fanout", False, peers=True),
        check=_overhead_check(0.0003), method=_OVERHEAD_METHOD + (
            " These are warm figures (several runs in one process); overhead.fresh reports "
            "the first run of a fresh process and the marginal cost for datamill, Dask and "
            "Hamilton. Peers (with `--peers`, in `bench/.venv-peers`): Hamilton static DAG "
            "(`@parameterize` nodes collected by `@inject(group(...))`, `Driver.execute`, "
            "driver built untimed), "
            "`dask.delayed` with the threaded scheduler (graph built inside the timing), "
            "Luigi local scheduler with one worker, Dagster `execute_in_process` with a "
            "dynamic output, Prefect 3 `task.map` in a flow (ephemeral API started untimed). "
            "Each peer runs the same 2,002-task shape with its own map/fan-out construct, so "
            "its figure can differ from the issue's reference, measured on other shapes."),
        reference=PEER_REFERENCE,
    ),
    Benchmark(
        name="overhead.fanout.ckpt", issue=2,
        title=f"scheduling overhead, {_SHAPES['fanout']}, checkpoints on",
        goal="≤ 2 ms per no-op task with checkpoints of small outputs and every attempt recorded",
        contenders=_overhead_contenders("fanout", True, peers=False),
        check=_overhead_check(0.002), method=_OVERHEAD_METHOD + (
            " Every task writes its (int) output as a checkpoint and every attempt is a row in "
            "the SQLite run store."),
    ),
    Benchmark(
        name="overhead.chain", issue=2,
        title=f"scheduling overhead, {_SHAPES['chain']}, checkpoints off",
        goal="≤ 0.3 ms per no-op task with checkpoints off",
        contenders=_overhead_contenders("chain", False, peers=False),
        check=_overhead_check(0.0003), method=_OVERHEAD_METHOD,
    ),
    Benchmark(
        name="overhead.chain.ckpt", issue=2,
        title=f"scheduling overhead, {_SHAPES['chain']}, checkpoints on",
        goal="≤ 2 ms per no-op task with checkpoints of small outputs and every attempt recorded",
        contenders=_overhead_contenders("chain", True, peers=False),
        check=_overhead_check(0.002), method=_OVERHEAD_METHOD,
    ),
    Benchmark(
        name="sleeps", issue=2,
        title=f"{SLEEPS:,} tasks sleeping {SLEEP_S * 1000:g} ms, {SLEEP_WORKERS} workers, "
              "checkpoints off",
        goal=f"≤ 1.5x a bare ThreadPoolExecutor({SLEEP_WORKERS}) doing the same",
        contenders=[
            Contender("datamill", f"{_MOD}:dm_sleeps", packages=DM_PACKAGES, repeats=5),
            Contender("thread pool", f"{_MOD}:pool_sleeps", role="baseline", repeats=5),
        ],
        check=_sleeps_check, method=(
            f"`map=` over {SLEEPS:,} items (plus the source task), `workers={SLEEP_WORKERS}`. "
            f"Baseline: `ThreadPoolExecutor({SLEEP_WORKERS})` submitting the same {SLEEPS:,} "
            "calls and waiting for them (pool creation included on both sides)."),
    ),
    Benchmark(
        name="dag10k", issue=2,
        title=f"layered DAG ({WIDTH} tasks per layer, each depending on 2 of the layer before), "
              "no-op, checkpoints off, at 1k / 5k / 10k tasks",
        goal="plans and runs 10,000 tasks; no worse than linear: per-task time at 10k ≤ 1.5x "
             "that at 1k; report peak RSS per task",
        contenders=[c for label, layers in DAG_SIZES for c in (
            Contender(f"datamill {label}", f"{_MOD}:dm_dag", {"layers": layers},
                      packages=DM_PACKAGES, repeats=3),
            Contender(f"plain python {label}", f"{_MOD}:plain_dag", {"layers": layers},
                      role="baseline", repeats=3),
        )],
        check=_dag_check, method=(
            "Timed: defining the tasks (`datamill.task(fn, name=..., inputs=...)`), building the "
            "`Pipeline` (validation, topological order) and `datamill.run` with default workers, "
            "in a fresh project per repeat. Each size runs in its own process, so its peak RSS "
            "is its own. Baseline: a dict of dependencies evaluated in order by direct calls."),
    ),
    Benchmark(
        name="resume", issue=2,
        title=f"resume of a {RESUME_N + 2:,}-task checkpointed run whose last task failed",
        goal="< 1 s to decide what to reuse",
        contenders=[Contender("datamill", f"{_MOD}:dm_resume", packages=DM_PACKAGES, repeats=3)],
        check=_resume_check, method=(
            f"Fan-out 1 → {RESUME_N:,} → 1 with checkpoints on; the collecting task raises "
            "unless a marker file exists. The first run (untimed, reported as the baseline) "
            "fails at that task; then the marker is created and `datamill.resume(run_id)` is "
            "timed. A progress object records when the engine first calls `task_started` "
            "(the first task handed to the executor, here the collecting task): the time from "
            "the `resume()` call to then is the time to decide what to reuse."),
    ),
]
