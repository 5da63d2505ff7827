"""`datamill quarantine [RUN_ID]`: the rows a copy set aside, found without knowing the
artifact layout."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pacsv

DATAMILL = [sys.executable, "-m", "datamill.cli"]

CONTRACT = """
name: orders
columns:
  id: {type: int, nullable: false}
  day: {type: date}
  amount: {type: float, min: 0}
max_bad_share: 0.7
"""


def dm(project, *args):
    return subprocess.run([*DATAMILL, *args], cwd=project, capture_output=True, text=True,
                          timeout=300)


def _copy(project, ids):
    pacsv.write_csv(pa.table({"id": ids, "day": ["2026-06-01", "2024-02-30", "2026-06-03", "soon",
                                                 "2026-06-05"][:len(ids)],
                              "amount": [1.0, 2.0, -3.0, 4.0, 5.0][:len(ids)]}),
                    project / "orders.csv")
    r = dm(project, "copy", "orders.csv", "clean/orders.parquet", "--contract", "orders.yaml",
           "--mode", "replace", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["rows_quarantined"] == 3
    assert summary["quarantine"] == str(project / ".datamill" / "artifacts" / "quarantine" / "orders")
    return summary["run_id"]


def test_quarantine_command(project):
    (project / "orders.yaml").write_text(CONTRACT)
    r = dm(project, "quarantine")
    assert r.returncode == 2 and "no quarantined rows" in r.stderr
    first = _copy(project, [1, 2, 3, 4, 5])
    newest = _copy(project, [10, 20, 30, 40, 50])
    # the newest run that quarantined rows by default
    r = dm(project, "quarantine", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["run_id"] == newest and out["rows"] == 3
    rows = out["quarantined"]
    assert {x["id"] for x in rows} == {20, 30, 40}
    assert all(x["rule"] and x["reason"] and x["source"] == "orders" for x in rows)
    assert all(x["row"] is not None or x.get("line") is not None for x in rows)
    # an earlier run by (a prefix of) its id, written to CSV
    r = dm(project, "quarantine", first[:-2], "-o", "rejected.csv")
    assert r.returncode == 0, r.stderr
    with (project / "rejected.csv").open() as f:
        got = list(csv.DictReader(f))
    assert sorted(int(x["id"]) for x in got) == [2, 3, 4]
    assert {"rule", "reason", "source"} <= set(got[0])
    # a table for people
    r = dm(project, "quarantine")
    assert r.returncode == 0 and newest in r.stdout and "reason" in r.stdout
    r = dm(project, "quarantine", "nosuchrun")
    assert r.returncode == 2 and "nosuchrun" in r.stderr
