"""`datamill contract infer` and `datamill contract check` as a user meets them."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pacsv

DATAMILL = [sys.executable, "-m", "datamill.cli"]


def test_infer_then_check(tmp_path):
    pacsv.write_csv(pa.table({"id": list(range(50)), "country": ["DE", "FR"] * 25,
                              "price": [float(i) for i in range(50)]}), tmp_path / "o.csv")
    r = subprocess.run([*DATAMILL, "contract", "infer", "o.csv", "-o", "o.yaml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "o.yaml").read_text()
    assert "name: o" in text and "price" in text
    r = subprocess.run([*DATAMILL, "contract", "check", "o.csv", "o.yaml", "--json"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["bad_rows"] == 0
    pacsv.write_csv(pa.table({"id": [1, 2], "country": ["DE", "XX"], "price": [1.0, -5.0]}),
                    tmp_path / "new.csv")
    r = subprocess.run([*DATAMILL, "contract", "check", "new.csv", "o.yaml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "FAILED" in r.stdout
    r = subprocess.run([*DATAMILL, "contract", "check", "new.csv", "missing.yaml"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "missing.yaml" in r.stderr
