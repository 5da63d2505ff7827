"""`datamill copy` end to end between files (databases and contracts: see test_copy_sql)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datamill.io.copy import copy

DATAMILL = [sys.executable, "-m", "datamill.cli"]


def _csv(path, ids, start_day=1):
    t = pa.table({"id": ids, "day": [f"2026-06-{start_day + i % 20:02d}" for i in range(len(ids))],
                  "amount": [float(i) * 1.5 for i in ids]})
    pacsv.write_csv(t, path)
    return t


def test_copy_csv_to_parquet_recorded_as_a_run(project):
    _csv(project / "orders.csv", list(range(1000)))
    rep = copy("orders.csv", "out/orders.parquet", handle_signals=False)
    assert rep.state == "succeeded" and rep.rows_read == 1000 and rep.rows_written == 1000
    t = pq.read_table(project / "out" / "orders.parquet")
    assert t.num_rows == 1000 and sorted(t.column("id").to_pylist()) == list(range(1000))
    from datamill.store.runstore import RunStore

    store = RunStore.open(project_root=project)
    run = store.get_run(rep.run_id)
    assert run.trigger == "copy" and run.pipeline.startswith("copy_orders_to_orders_")
    dirs = {(x.direction, x.dataset.rsplit("/", 1)[-1]) for x in store.lineage(run_id=rep.run_id)}
    assert dirs == {("input", "orders.csv"), ("output", "orders.parquet")}
    assert {m.name: m.value for m in store.metrics(rep.run_id)}["rows_written"] == 1000
    store.close()


def test_incremental_copy_reads_only_new_rows(project):
    _csv(project / "events.csv", list(range(100)))
    first = copy("events.csv", "lake/events/", incremental="id", handle_signals=False)
    assert first.rows_written == 100 and first.watermark == 99
    _csv(project / "events.csv", list(range(150)))  # 50 new rows appended upstream
    second = copy("events.csv", "lake/events/", incremental="id", handle_signals=False)
    assert second.rows_read == 50 and second.watermark == 149
    total = pq.read_table(project / "lake" / "events")
    assert sorted(total.column("id").to_pylist()) == list(range(150))


def test_copy_cli_summary_and_errors(project):
    _csv(project / "orders.csv", list(range(10)))
    r = subprocess.run([*DATAMILL, "copy", "orders.csv", "out/o.parquet", "--json"], cwd=project,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows_written"] == 10 and out["state"] == "succeeded" and out["rows_per_second"] > 0
    r = subprocess.run([*DATAMILL, "copy", "missing.csv", "out/o.parquet"], cwd=project,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "missing.csv" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*DATAMILL, "copy", "orders.csv", "out/o.parquet", "--mode", "merge"],
                       cwd=project, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--key" in r.stderr
