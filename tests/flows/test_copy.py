"""`datamill copy` end to end between files (databases and contracts: see test_copy_sql)."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datamill.flows.copy import copy

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


CONTRACT = """
name: orders
columns:
  id: {type: int, nullable: false}
  day: {type: date}
  amount: {type: float, min: 0}
max_bad_share: 0.7
"""


def test_copy_with_contract_quarantines_bad_rows(project):
    pacsv.write_csv(pa.table({"id": [1, 2, 3, 4, 5],
                              "day": ["2026-06-01", "2024-02-30", "2026-06-03", "soon", "2026-06-05"],
                              "amount": [1.0, 2.0, -3.0, 4.0, 5.0]}), project / "orders.csv")
    (project / "orders.yaml").write_text(CONTRACT)
    rep = copy("orders.csv", "clean/orders.parquet", contract="orders.yaml", handle_signals=False)
    assert rep.state == "succeeded", rep.error
    assert (rep.rows_read, rep.rows_written, rep.rows_quarantined) == (5, 2, 3)
    good = pq.read_table(project / "clean" / "orders.parquet")
    assert sorted(good.column("id").to_pylist()) == [1, 5]
    from datamill.quality import read_quarantine

    bad = read_quarantine(project / ".datamill" / "artifacts", source="orders")
    reasons = {r["id"]: r["_dm_rule"] for r in bad.to_pylist()}
    assert set(reasons) == {2, 3, 4} and reasons[2] == "type" and reasons[4] == "type"
    assert reasons[3] != "type"  # the negative amount fails its range rule
    assert all(r["_dm_run_id"] == rep.run_id for r in bad.to_pylist())


def test_copy_fails_when_contract_threshold_exceeded(project):
    pacsv.write_csv(pa.table({"id": [1, 2, 3], "day": ["x", "y", "2026-06-01"],
                              "amount": [1.0, 2.0, 3.0]}), project / "orders.csv")
    (project / "orders.yaml").write_text(CONTRACT.replace("0.7", "0.1"))
    rep = copy("orders.csv", "clean/orders.parquet", contract="orders.yaml", handle_signals=False)
    assert rep.state == "failed" and "FAILED" in rep.error
    assert not (project / "clean" / "orders.parquet").exists()  # nothing partial written


def test_copy_into_sqlite_merge_and_incremental_out(project):
    pacsv.write_csv(pa.table({"id": [1, 2, 3], "amount": [1.0, 2.0, 3.0],
                              "updated": [10, 20, 30]}), project / "a.csv")
    db = f"sqlite:///{project / 'wh.db'}#orders"
    assert copy("a.csv", db, mode="merge", key=["id"], handle_signals=False).rows_written == 3
    pacsv.write_csv(pa.table({"id": [3, 4], "amount": [30.0, 4.0], "updated": [40, 50]}),
                    project / "b.csv")
    assert copy("b.csv", db, mode="merge", key=["id"], handle_signals=False).state == "succeeded"
    import sqlite3

    con = sqlite3.connect(project / "wh.db")
    rows = con.execute("SELECT id, amount FROM orders ORDER BY id").fetchall()
    con.close()
    assert rows == [(1, 1.0), (2, 2.0), (3, 30.0), (4, 4.0)]
    first = copy(db, "lake/orders/", incremental="updated", handle_signals=False)
    assert first.rows_read == 4 and first.watermark == 50
    again = copy(db, "lake/orders/", incremental="updated", handle_signals=False)
    assert again.rows_read == 0  # nothing newer than the saved watermark


def test_copy_from_a_redis_stream_acknowledges_after_the_load(project):
    import uuid

    from servicecheck import require_service

    require_service("redis")
    import redis

    r = redis.Redis(host="127.0.0.1", port=6379)
    stream = f"dm-test-{uuid.uuid4().hex[:8]}"
    try:
        for i in range(5):
            r.xadd(stream, {"json": json.dumps({"id": i, "v": i * 2})})
        url = f"redis+stream://127.0.0.1:6379/0#{stream}?group=g&consumer=c&idle_timeout=0.2"
        first = copy(url, "lake/events/", handle_signals=False)
        assert first.state == "succeeded", first.error
        assert first.rows_read == 5
        again = copy(url, "lake/events/", handle_signals=False)
        assert again.rows_read == 0  # acknowledged after the first load: not redelivered
        assert pq.read_table(project / "lake" / "events").num_rows == 5
    finally:
        r.delete(stream)


def test_copy_finds_repeated_keys_across_batches(project):
    # ids repeat far apart, in different batches of 1,000 rows: the copy must catch them
    # as the whole-table check would (a text key exercises the hashed path)
    ids = list(range(5000)) + [17, 2500, 4999]
    pacsv.write_csv(pa.table({"id": ids, "code": [f"c{i}" for i in ids],
                              "amount": [1.0] * len(ids)}), project / "orders.csv")
    (project / "orders.yaml").write_text("""
name: orders
columns:
  id: {type: int, nullable: false, unique: true}
  code: {type: str, unique: true}
  amount: {type: float}
max_bad_share: 0.1
""")
    rep = copy("orders.csv", "clean/orders.parquet", contract="orders.yaml", batch_size=1000,
               handle_signals=False)
    assert rep.state == "succeeded", rep.error
    assert (rep.rows_read, rep.rows_written, rep.rows_quarantined) == (5003, 5000, 3)
    from datamill.quality import read_quarantine

    bad = read_quarantine(project / ".datamill" / "artifacts", source="orders").to_pylist()
    assert sorted(r["id"] for r in bad) == [17, 2500, 4999]
    assert all(r["_dm_rules"] == ["unique:id", "unique:code"] for r in bad)


def test_copy_with_contract_quarantines_to_an_s3_artifact_store(project, s3_bucket, monkeypatch):
    root = f"s3://{s3_bucket}/team/artifacts"
    monkeypatch.setenv("DATAMILL_ARTIFACTS", root)
    pacsv.write_csv(pa.table({"id": [1, 2, 3, 4, 5],
                              "day": ["2026-06-01", "2024-02-30", "2026-06-03", "soon", "2026-06-05"],
                              "amount": [1.0, 2.0, -3.0, 4.0, 5.0]}), project / "orders.csv")
    (project / "orders.yaml").write_text(CONTRACT)
    rep = copy("orders.csv", "clean/orders.parquet", contract="orders.yaml", handle_signals=False)
    assert rep.state == "succeeded", rep.error
    assert (rep.rows_read, rep.rows_written, rep.rows_quarantined) == (5, 2, 3)
    from datamill.quality import Quarantine, read_quarantine

    files = Quarantine(root).files("orders", run_id=rep.run_id)
    assert len(files) == 1 and files[0].startswith(f"{root}/quarantine/orders/")
    bad = read_quarantine(root, source="orders", run_id=rep.run_id).to_pylist()
    assert sorted(r["id"] for r in bad) == [2, 3, 4]
    assert not (project / ".datamill" / "artifacts" / "quarantine").exists()
