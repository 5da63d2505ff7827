"""Behaviour of the run engine on the local executor: caching, fan-out, retries,
timeouts, failures, trigger rules, hooks, pools, secrets, context."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import datamill
from datamill import Context, Pipeline, Required, Secret, Skip, Trigger, task
from datamill.store.records import State
from datamill.store.runstore import RunStore


def run(tasks, params=None, **kw):
    kw.setdefault("handle_signals", False)
    return datamill.run(Pipeline(kw.pop("name", "t"), tasks), params, **kw)


CALLS: list[str] = []


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def test_outputs_states_and_store(project):
    @task
    def numbers(n: int = 4):
        CALLS.append("numbers")
        return list(range(n))

    @task
    def frame(numbers):
        return pd.DataFrame({"x": numbers})

    @task
    def total(frame) -> int:
        return int(frame.x.sum())

    r = run([numbers, frame, total])
    assert r.ok and r["total"] == 6
    assert isinstance(r["frame"], pd.DataFrame)
    store = RunStore.open(project_root=project)
    rec = store.get_run(r.run_id)
    assert rec.state == State.SUCCEEDED and rec.params == {"n": 4}
    trs = {t.task_key: t for t in store.task_runs(r.run_id)}
    assert trs["frame"].rows_out == 4 and trs["frame"].type_tag == "pandas"
    assert trs["total"].rows_in == 4
    assert all(t.state == State.SUCCEEDED for t in trs.values())
    store.close()


def test_rerun_reuses_and_param_change_recomputes(project):
    @task
    def src(n: int = 3):
        CALLS.append("src")
        return list(range(n))

    @task
    def double(src):
        CALLS.append("double")
        return [x * 2 for x in src]

    run([src, double])
    r2 = run([src, double])
    # a source without a version always runs; its output is the same, so double is cached
    assert CALLS == ["src", "double", "src"]
    assert r2.tasks["double"].state == State.CACHED
    assert r2["double"] == [0, 2, 4]
    r3 = run([src, double], {"n": 5})
    assert CALLS[-2:] == ["src", "double"] and r3["double"] == [0, 2, 4, 6, 8]


def test_versioned_source_is_reused(project):
    @task(version="v1")
    def src():
        CALLS.append("src")
        return 1

    run([src])
    r = run([src])
    assert CALLS == ["src"] and r.tasks["src"].state == State.CACHED


def test_cache_never_and_force(project):
    @task
    def a():
        return 1

    @task(cache="never")
    def b(a):
        CALLS.append("b")
        return a

    @task
    def c(a):
        CALLS.append("c")
        return a

    run([a, b, c])
    run([a, b, c])
    assert CALLS.count("b") == 2 and CALLS.count("c") == 1
    run([a, b, c], force=["c"])
    assert CALLS.count("c") == 2


def test_fan_out_and_collect(project):
    @task
    def files(names: list[str] = ["a", "b", "c"]):  # noqa: B006
        return names

    @task(map={"name": "files"})
    def load(name: str):
        CALLS.append(name)
        return name.upper()

    @task(map="load")
    def shout(load):
        return load + "!"

    @task
    def collect(shout):
        return ",".join(shout)

    r = run([files, load, shout, collect])
    assert r["collect"] == "A!,B!,C!"
    assert r["load"] == ["A", "B", "C"]
    assert len(r.node_keys["load"]) == 3
    # a new item adds one instance and does not shift the others
    r2 = run([files, load, shout, collect], {"names": "a,b,new,c"}, params_from_strings=True)
    assert r2["collect"] == "A!,B!,NEW!,C!"
    assert sorted(CALLS) == ["a", "b", "c", "new"] and CALLS[-1] == "new"
    assert set(r.node_keys["load"]) < set(r2.node_keys["load"])


def test_fan_out_over_empty_list(project):
    @task
    def files():
        return []

    @task(map="files")
    def load(files):
        return files

    @task
    def n(load):
        return len(load)

    r = run([files, load, n])
    assert r.ok and r["n"] == 0


def test_map_over_non_list_fails_clearly(project):
    @task
    def files():
        return 5

    @task(map="files")
    def load(files):
        return files

    r = run([files, load])
    assert not r.ok
    assert "maps over 'files', whose output is a int, not a list" in r.tasks["load"].error


def test_failed_instance_only_fails_its_branch(project):
    @task
    def items():
        return [1, 2, 3]

    @task(map="items")
    def inv(items):
        return 1 / (items - 2)

    @task(map="inv")
    def plus(inv):
        return inv + 1

    r = run([items, inv, plus])
    states = sorted(t.state.value for k, t in r.tasks.items() if k.startswith("plus["))
    assert states == ["succeeded", "succeeded", "upstream_failed"]
    assert r.state == State.FAILED


def test_retries_then_success(project):
    attempts = {"n": 0}

    @task(retries=3, retry_delay=0.01, jitter=0.5)
    def flaky():
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise ConnectionError(f"try {attempts['n']}")
        return "ok"

    r = run([flaky])
    assert r.ok and r["flaky"] == "ok" and r.tasks["flaky"].attempts == 3
    store = RunStore.open(project_root=project)
    at = store.attempts(r.run_id, "flaky")
    assert [a.state.value for a in at] == ["failed", "failed", "succeeded"]
    assert "ConnectionError: try 1" in at[0].error
    store.close()


def test_retries_exhausted(project):
    @task(retries=1, retry_delay=0)
    def bad():
        raise ValueError("nope")

    r = run([bad])
    assert r.state == State.FAILED and r.tasks["bad"].attempts == 2
    assert "ValueError: nope" in r.tasks["bad"].error
    assert "raise ValueError" in r.tasks["bad"].traceback


def test_retry_backoff_is_exponential(project):
    stamps: list[float] = []

    @task(retries=2, retry_delay=0.1, backoff=3, jitter=0)
    def slow_fail():
        stamps.append(time.monotonic())
        raise RuntimeError("x")

    run([slow_fail])
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # lower bounds only: a loaded machine may stretch a gap, never shorten it
    assert gaps[0] >= 0.09 and gaps[1] >= 0.29 and gaps[1] > gaps[0]


def test_timeout_in_thread(project):
    release = threading.Event()

    @task(timeout=0.2)
    def hangs(ctx: Context):
        while not ctx.cancelled:
            time.sleep(0.01)
        release.set()
        return 1

    @task
    def other():
        return 2

    r = run([hangs, other])
    assert r.tasks["hangs"].state == State.FAILED
    assert "exceeded its timeout of 0.2s" in r.tasks["hangs"].error
    assert r.tasks["other"].state == State.SUCCEEDED
    assert release.wait(2), "the timed-out thread was told to stop via ctx.cancelled"


def test_timeout_then_retry_succeeds(project):
    n = {"i": 0}

    @task(timeout=0.3, retries=1, retry_delay=0)
    def sometimes_slow():
        n["i"] += 1
        if n["i"] == 1:
            time.sleep(1.0)
        return n["i"]

    r = run([sometimes_slow])
    assert r.ok and r["sometimes_slow"] == 2 and r.tasks["sometimes_slow"].attempts == 2


def test_failure_isolation_and_trigger_rules(project):
    @task
    def boom():
        raise RuntimeError("boom")

    @task
    def fine():
        return 1

    @task
    def after_boom(boom):
        return "never"

    @task(trigger=Trigger.ALL_DONE)
    def cleanup(boom, fine):
        CALLS.append(f"cleanup:{boom}:{fine}")
        return "cleaned"

    @task(trigger="any_failed")
    def alert(boom):
        CALLS.append("alert")

    @task(trigger="any_failed")
    def no_alert(fine):
        CALLS.append("no_alert")

    r = run([boom, fine, after_boom, cleanup, alert, no_alert])
    s = r.states
    assert s["boom"] == State.FAILED and s["fine"] == State.SUCCEEDED
    assert s["after_boom"] == State.UPSTREAM_FAILED
    assert s["cleanup"] == State.SUCCEEDED and "cleanup:None:1" in CALLS
    assert s["alert"] == State.SUCCEEDED and s["no_alert"] == State.SKIPPED
    assert r.state == State.FAILED


def test_skip_branch(project):
    @task
    def gate(enabled: bool = False):
        if not enabled:
            raise Skip("disabled today")
        return 1

    @task
    def downstream(gate):
        CALLS.append("down")

    @task(trigger="none_failed")
    def summary(gate):
        return "summary"

    r = run([gate, downstream, summary])
    assert r.states["gate"] == State.SKIPPED and r.tasks["gate"].error == "disabled today"
    assert r.states["downstream"] == State.SKIPPED and r.states["summary"] == State.SUCCEEDED
    assert r.ok and CALLS == []


def test_fail_fast_cancels_the_rest(project):
    @task
    def quick_fail():
        raise RuntimeError("early")

    began, told = threading.Event(), threading.Event()

    @task
    def slow(ctx: Context):
        began.set()
        for _ in range(6000):
            if ctx.cancelled:
                told.set()
                return "stopped"
            time.sleep(0.01)
        return "done"

    r = run([quick_fail, slow], fail_fast=True)
    assert r.states["slow"] == State.CANCELLED and r.state == State.FAILED
    # ordering, not a wall-clock bound: if it ran, it was told to stop and did not run out
    assert not began.is_set() or told.wait(60)


def test_hooks(project):
    seen = []

    def on_fail(info):
        seen.append(("fail", info.key, info.state.value, info.error))

    def on_ok(info):
        seen.append(("ok", info.key))

    def broken_hook(info):
        raise RuntimeError("hook bug")

    @task(on_failure=on_fail)
    def bad():
        raise KeyError("k")

    @task(on_success=on_ok)
    def good():
        return 1

    @task(on_success=broken_hook)
    def good2():
        return 2

    run_results = []
    p = Pipeline("hooks", [bad, good, good2], on_failure=run_results.append)
    r = datamill.run(p, handle_signals=False)
    assert ("ok", "good") in seen
    assert any(s[0] == "fail" and s[1] == "bad" and "KeyError" in s[3] for s in seen)
    assert r.states["good2"] == State.SUCCEEDED  # a failing hook does not fail the task
    assert run_results and run_results[0].run_id == r.run_id


def test_pools_and_concurrency_limits(project):
    lock = threading.Lock()
    current = {"pool": 0, "max_pool": 0, "task": 0, "max_task": 0}

    def track(kind):
        with lock:
            current[kind] += 1
            current["max_" + kind] = max(current["max_" + kind], current[kind])
        time.sleep(0.05)
        with lock:
            current[kind] -= 1

    @task
    def items():
        return list(range(8))

    @task(map="items", pool="db")
    def a(items):
        track("pool")

    @task(map="items", pool="db")
    def b(items):
        track("pool")

    @task(map="items", concurrency=3)
    def c(items):
        track("task")

    p = Pipeline("pools", [items, a, b, c], pools={"db": 2})
    r = datamill.run(p, workers=16, handle_signals=False)
    assert r.ok
    assert current["max_pool"] == 2
    assert current["max_task"] == 3


def test_pool_from_project_config(project):
    (project / "datamill.toml").write_text("[pools]\napi = 1\n")

    @task(pool="api")
    def a():
        return 1

    # the pool is declared in datamill.toml, not in the pipeline
    with pytest.raises(Exception, match="pool 'api'"):
        Pipeline("p", [a])


def test_async_task_and_running_event_loop(project):
    @task
    async def fetch(n: int = 3):
        await asyncio.sleep(0.01)
        return n * 2

    async def notebook_cell():
        # datamill.run inside a running loop (as in Jupyter) works and so does run_async
        r1 = datamill.run(Pipeline("nb", [fetch]), handle_signals=False)
        r2 = await datamill.run_async(Pipeline("nb", [fetch]), {"n": 5})
        return r1, r2

    r1, r2 = asyncio.run(notebook_cell())
    assert r1["fetch"] == 6 and r2["fetch"] == 10
    assert "<table>" in r1._repr_html_() and "fetch" in r1._repr_html_()


def test_secret_parameters_never_stored_logged_or_fingerprinted(project):
    @task
    def call_api(token: Secret[str] = "", ctx: Context = None):  # type: ignore[assignment]
        print(f"using token {token}")
        ctx.log.info("auth header Bearer %s", token)
        return len(token)

    r = run([call_api], {"token": "tok-very-secret-123"})
    assert r.ok
    store = RunStore.open(project_root=project)
    assert store.get_run(r.run_id).params == {"token": "***"}
    at = store.attempts(r.run_id, "call_api")[0]
    log_text = (project / ".datamill" / "artifacts" / at.log_path).read_text()
    assert "tok-very-secret-123" not in log_text and "using token ***" in log_text
    db_bytes = (project / ".datamill" / "runs.db").read_bytes()
    wal = project / ".datamill" / "runs.db-wal"
    assert b"tok-very-secret-123" not in db_bytes + (wal.read_bytes() if wal.exists() else b"")
    # the secret is not part of the fingerprint: another token reuses the checkpoint
    r2 = run([call_api], {"token": "another-token-456"})
    assert r2.tasks["call_api"].fingerprint == r.tasks["call_api"].fingerprint
    store.close()


def test_context_state_metrics_lineage(project):
    @task
    def incremental(ctx: Context, fail: bool = False):
        last = ctx.get_state("watermark", 0)
        ctx.set_state("watermark", last + 10)
        ctx.metric("rows", 10, source="api")
        ctx.record_input("https://api.example/orders")
        ctx.record_output("file:///lake/orders.parquet", rows=10)
        if fail:
            raise RuntimeError("after setting state")
        return last

    @task(cache="never")
    def noop(incremental):
        return incremental

    assert run([incremental, noop], force=["incremental"])["incremental"] == 0
    assert run([incremental, noop], force=["incremental"])["incremental"] == 10
    # a failed attempt does not advance the watermark
    run([incremental, noop], {"fail": True})
    r = run([incremental, noop], force=["incremental"])
    assert r["incremental"] == 20
    store = RunStore.open(project_root=project)
    assert store.get_state("t", "watermark") == 30
    assert any(m.name == "rows" and m.value == 10 for m in store.metrics(r.run_id))
    lin = store.lineage(run_id=r.run_id)
    assert {(x.dataset, x.direction) for x in lin} == {
        ("https://api.example/orders", "input"), ("file:///lake/orders.parquet", "output")}
    store.close()


def test_only_uses_latest_checkpoints(project):
    @task
    def a():
        CALLS.append("a")
        return 5

    @task
    def b(a, k: int = 1):
        CALLS.append("b")
        return a * k

    @task
    def c(b):
        CALLS.append("c")
        return b

    with pytest.raises(datamill.errors.UsageError, match="no complete checkpoint"):
        run([a, b, c], only=["b"])
    run([a, b, c])
    CALLS.clear()
    r = run([a, b, c], {"k": 3}, only=["b"])
    assert CALLS == ["b"] and r["b"] == 15 and set(r.tasks) == {"b"}


def test_checkpoints_off(project):
    @task
    def a():
        return [1, 2]

    @task
    def b(a):
        return sum(a)

    r = run([a, b], checkpoint=False)
    assert r.ok and r["b"] == 3
    assert r.tasks["b"].meta is None
    with pytest.raises(KeyError, match="no checkpoint"):
        r.output("a")


def test_unserialisable_output_fails_with_hint(project):
    @task
    def lock():
        return threading.Lock()

    r = run([lock])
    assert not r.ok and "pickle" in r.tasks["lock"].error


def test_corrupt_checkpoint_is_recomputed(project):
    @task
    def base():
        CALLS.append("base")
        return pd.DataFrame({"x": range(100)})

    @task(version="1")
    def src():
        return 1

    @task
    def agg(base, k: int = 1):
        CALLS.append("agg")
        return int(base.x.sum()) * k

    r1 = run([base, agg])
    meta = r1.tasks["base"].meta
    path = project / ".datamill" / "artifacts" / meta.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    CALLS.clear()
    # base is a source without version: it re-runs anyway; make it cached via resume-like
    # conditions instead: change only agg's parameter so agg loads base's checkpoint
    r2 = run([base, agg], {"k": 2})
    assert r2.ok and r2["agg"] == 4950 * 2
    assert "base" in CALLS


def test_corrupt_checkpoint_of_cached_upstream(project):
    @task(version="v1")
    def base():
        CALLS.append("base")
        return pd.DataFrame({"x": range(100)})

    @task
    def agg(base, k: int = 1):
        CALLS.append("agg")
        return int(base.x.sum()) * k

    r1 = run([base, agg])
    path = project / ".datamill" / "artifacts" / r1.tasks["base"].meta.path
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    CALLS.clear()
    r2 = run([base, agg], {"k": 2})
    assert r2.ok and r2["agg"] == 9900
    assert CALLS == ["agg", "base", "agg"] or CALLS == ["base", "agg"]
    assert r2.tasks["base"].state == State.SUCCEEDED  # recomputed, not reused
    # and the new checkpoint is sound
    r3 = run([base, agg], {"k": 2})
    assert r3.tasks["agg"].state == State.CACHED


def test_rows_and_bytes_recorded(project):
    @task
    def t():
        return pd.DataFrame({"a": range(10)})

    r = run([t])
    store = RunStore.open(project_root=project)
    tr = store.task_runs(r.run_id)[0]
    assert tr.rows_out == 10 and tr.bytes and tr.bytes > 0 and tr.checkpoint
    store.close()


def test_required_param_missing(project):
    @task
    def load(path: Required[str]):
        return path

    with pytest.raises(datamill.errors.ParameterError, match="path"):
        run([load])
    assert run([load], {"path": "x"})["load"] == "x"


def test_load_pipeline_file(project, resources):
    r = datamill.run(str(resources / "counting.py"), {"count_file": str(project / "c.txt")},
                     handle_signals=False)
    assert r.ok and r.pipeline == "counting"
    assert Path(project / "c.txt").read_text().count("\n") == r.counts()["succeeded"]


def test_env_secrets_are_redacted(project, monkeypatch):
    (project / "datamill.toml").write_text('[secrets]\nenv = ["WAREHOUSE_PASSWORD"]\n')
    monkeypatch.setenv("WAREHOUSE_PASSWORD", "hunter2-xyz")

    @task
    def connect(ctx: Context):
        pw = __import__("os").environ["WAREHOUSE_PASSWORD"]
        ctx.log.info("connecting with %s", pw)
        raise ConnectionError(f"login failed for password {pw}")

    r = run([connect])
    t = r.tasks["connect"]
    assert "hunter2-xyz" not in t.error and "***" in t.error
    assert "hunter2-xyz" not in (t.traceback or "")
    store = RunStore.open(project_root=project)
    at = store.attempts(r.run_id, "connect")[0]
    assert "hunter2-xyz" not in (project / ".datamill/artifacts" / at.log_path).read_text()
    store.close()


def test_ctx_secret_reads_env_and_file_and_redacts(project, monkeypatch, tmp_path):
    f = tmp_path / "key"
    f.write_text("file-secret-777\n")
    monkeypatch.setenv("API_KEY_FILE", str(f))

    @task
    def use(ctx: Context):
        key = ctx.secret("API_KEY")
        print("key is", key)
        return len(key)

    @task
    def missing(ctx: Context):
        return ctx.secret("NOT_SET_ANYWHERE")

    r = run([use, missing])
    assert r["use"] == len("file-secret-777")
    assert "NOT_SET_ANYWHERE" in r.tasks["missing"].error
    store = RunStore.open(project_root=project)
    at = store.attempts(r.run_id, "use")[0]
    text = (project / ".datamill/artifacts" / at.log_path).read_text()
    assert "file-secret-777" not in text and "key is ***" in text
    store.close()


def test_context_subtasks(project):
    @task
    def tune(ctx: Context, trials: int = 6):
        futures = [ctx.submit(lambda x: x * x, i) for i in range(trials)]
        squares = [f.result() for f in futures]
        return squares, ctx.map(lambda x: -x, range(3)), ctx.key, ctx.attempt

    r = run([tune])
    squares, negs, key, attempt = r["tune"]
    assert squares == [i * i for i in range(6)] and negs == [0, -1, -2]
    assert key == "tune" and attempt == 1


def test_deep_chain_and_wide_fan_out(project):
    def step(prev):
        return prev + 1

    tasks = [task(lambda: 0, name="s0")]
    tasks += [task(step, name=f"s{i}", inputs={"prev": f"s{i - 1}"}) for i in range(1, 400)]
    r = run(tasks, checkpoint=False)
    assert r.ok and r["s399"] == 399

    @task
    def many():
        return list(range(3000))

    @task(map="many")
    def inc(many):
        return many + 1

    @task
    def total(inc):
        return sum(inc)

    r = run([many, inc, total], checkpoint=False)
    assert r["total"] == sum(range(1, 3001))


def test_intermediate_outputs_are_released(project):
    """A chain of 10 tasks each returning 50 MB keeps about two in memory, not ten."""
    import subprocess
    import sys

    code = """
import resource, numpy as np, datamill
from datamill import Pipeline, task
def big(prev=None):
    return np.ones(50_000_000 // 8)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tasks = [task(big, name="s0")] + [task(big, name=f"s{i}", inputs={"prev": f"s{i-1}"}) for i in range(1, 10)]
r = datamill.run(Pipeline("mem", tasks), checkpoint=False, handle_signals=False)
print(r.state.value, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True,
                         timeout=120, check=True)
    state, growth_mb = out.stdout.split()
    assert state == "succeeded"
    assert int(growth_mb) < 250, f"peak grew by {growth_mb} MB: outputs are kept after use"


def test_save_report_stores_html_with_the_run(project):
    class Report:
        def to_html(self):
            return "<html><body>hello report</body></html>"

        def to_dict(self):
            return {"hello": 1}

    @task
    def analyse(ctx: Context):
        a = ctx.save_report(Report())
        b = ctx.save_report(Report(), name="facts.json")
        return [a, b]

    r = run([analyse])
    html_rel, json_rel = r["analyse"]
    base = project / ".datamill" / "artifacts"
    assert "hello report" in (base / html_rel).read_text()
    assert json.loads((base / json_rel).read_text()) == {"hello": 1}
    store = RunStore.open(project_root=project)
    outs = [x.dataset for x in store.lineage(run_id=r.run_id) if x.direction == "output"]
    assert len(outs) == 2 and all(o.endswith((".html", ".json")) for o in outs)
    store.close()
