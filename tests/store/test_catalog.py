"""The dataset catalogue and lineage views, from lineage recorded by real runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import datamill
from datamill import Context, Pipeline, task
from datamill.errors import UsageError
from datamill.store.catalog import find_dataset, lineage, list_datasets
from datamill.store.runstore import RunStore


def _pipeline():
    @task
    def extract(ctx: Context):
        ctx.record_input("https://api.example/orders")
        ctx.record_output("sqlite:///wh.db#raw_orders", schema=[{"name": "id", "type": "int64"}], rows=10)
        return 1

    @task
    def transform(extract, ctx: Context):
        ctx.record_input("sqlite:///wh.db#raw_orders", rows=10)
        ctx.record_output("file:///lake/orders.parquet", rows=9)
        return 2

    @task
    def report(transform, ctx: Context):
        ctx.record_input("file:///lake/orders.parquet", rows=9)
        return 3

    return Pipeline("shop", [extract, transform, report])


def test_catalog_views(project):
    r = datamill.run(_pipeline(), handle_signals=False)
    assert r.ok
    store = RunStore.open(project_root=project)
    infos = {i.dataset: i for i in list_datasets(store)}
    raw = infos["sqlite:///wh.db#raw_orders"]
    assert raw.rows == 10 and raw.written_by == "shop.extract" and raw.consumers == ["shop.transform"]
    assert raw.schema == [{"name": "id", "type": "int64"}]
    assert infos["file:///lake/orders.parquet"].producers == ["shop.transform"]
    assert infos["https://api.example/orders"].last_written is None
    assert find_dataset(store, "raw_orders").dataset == "sqlite:///wh.db#raw_orders"
    with pytest.raises(UsageError, match="no dataset"):
        find_dataset(store, "nothing-like-this")
    with pytest.raises(UsageError, match="several"):
        find_dataset(store, "o")
    g = lineage(store, "sqlite:///wh.db#raw_orders")
    assert ("task:shop.extract", "sqlite:///wh.db#raw_orders") in g["edges"]
    assert ("https://api.example/orders", "task:shop.extract") in g["edges"]
    assert ("task:shop.transform", "file:///lake/orders.parquet") in g["edges"]
    assert ("file:///lake/orders.parquet", "task:shop.report") in g["edges"]
    store.close()


def test_datasets_cli(project):
    assert datamill.run(_pipeline(), handle_signals=False).ok
    cmd = [sys.executable, "-m", "datamill.cli", "datasets"]
    out = json.loads(subprocess.run([*cmd, "--json"], cwd=project, capture_output=True,
                                    text=True, check=True).stdout)
    assert {d["dataset"] for d in out} >= {"sqlite:///wh.db#raw_orders", "file:///lake/orders.parquet"}
    show = subprocess.run([*cmd, "show", "raw_orders", "--json"], cwd=project, capture_output=True,
                          text=True, check=True)
    assert json.loads(show.stdout)["rows"] == 10
    lin = subprocess.run([*cmd, "lineage", "orders.parquet"], cwd=project, capture_output=True, text=True)
    assert lin.returncode == 0 and "shop.transform" in lin.stdout and "shop.report" in lin.stdout
    bad = subprocess.run([*cmd, "show", "nope"], cwd=project, capture_output=True, text=True)
    assert bad.returncode == 2 and "no dataset 'nope'" in bad.stderr


def _write_task(mode: str, n: int, k: int):
    """A task that writes ``n`` rows to one lake folder with ``mode``."""
    import pyarrow as pa

    from datamill import io

    def write(ctx: Context):
        table = pa.table({"id": list(range(k * 1000, k * 1000 + n))})
        io.write("lake/orders?format=parquet", table, mode=mode, ctx=ctx)
        return n

    return task(write, name=f"write{k}")


def _run_writes(batches):
    """One run per write, in order (as separate copies or pipeline runs would be)."""
    for k, (mode, n) in enumerate(batches):
        r = datamill.run(Pipeline(f"lake{k}", [_write_task(mode, n, k)]), handle_signals=False)
        assert r.ok, r.error


def _lake_rows(project):
    store = RunStore.open(project_root=project)
    try:
        infos = [i for i in list_datasets(store) if i.dataset.endswith("/lake/orders")]
        assert len(infos) == 1, [i.dataset for i in list_datasets(store)]
        return infos[0]
    finally:
        store.close()


def test_datasets_rows_are_the_datasets_not_the_last_writes(project):
    import pyarrow.dataset as pads

    _run_writes([("append", 100), ("append", 60), ("append", 40), ("append", 0)])
    info = _lake_rows(project)
    on_disk = pads.dataset(project / "lake" / "orders", format="parquet").count_rows()
    assert on_disk == 200
    assert info.rows == 200 and info.rows_exact and info.writes == 4
    _run_writes([("replace", 50), ("append", 10)])
    assert _lake_rows(project).rows == 60 == pads.dataset(
        project / "lake" / "orders", format="parquet").count_rows()
    out = subprocess.run([sys.executable, "-m", "datamill.cli", "datasets", "show", "lake/orders",
                          "--json"], cwd=project, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["rows"] == 60


def test_runs_show_lists_the_reports_of_a_run(project):
    @task
    def report(ctx: Context):
        ctx.save_report("<!doctype html><p>hello</p>", name="daily.html")
        return 1

    r = datamill.run(Pipeline("reporting", [report]), handle_signals=False)
    assert r.ok
    cmd = [sys.executable, "-m", "datamill.cli", "runs", "show", r.run_id]
    out = json.loads(subprocess.run([*cmd, "--json"], cwd=project, capture_output=True, text=True,
                                    check=True).stdout)
    assert [x["task"] for x in out["reports"]] == ["report"]
    location = out["reports"][0]["location"]
    assert location.endswith(f"/reports/{r.run_id}/report/daily.html")
    assert (project / ".datamill" / "artifacts" / "reports" / r.run_id / "report" / "daily.html").exists()
    text = subprocess.run(cmd, cwd=project, capture_output=True, text=True, check=True).stdout
    assert "reportofreport:" + location in "".join(text.split())  # long paths fold
