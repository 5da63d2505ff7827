"""Every example runs, end to end, as the README shows it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

EXAMPLES = Path(__file__).parents[1] / "examples"


def test_quickstart(tmp_path):
    proj = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", proj, ignore=shutil.ignore_patterns(".datamill", "out"))
    cmd = [sys.executable, "-m", "datamill.cli", "run", "sales", "--json"]
    r = subprocess.run(cmd, cwd=proj, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"] == "succeeded"
    summary = json.loads((proj / "out" / "summary.json").read_text())
    # figures from the shipped CSVs, computed independently with pandas
    frames = []
    for f in sorted((proj / "data").glob("sales_*.csv")):
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        df["quantity"] = pd.to_numeric(df["quantity"], errors="coerce")
        df["unit_price"] = pd.to_numeric(df["unit_price"], errors="coerce")
        df = df.dropna(subset=["quantity", "unit_price"]).drop_duplicates("order_id")
        frames.append(df)
    ref = pd.concat(frames)
    assert summary["orders"] == ref["order_id"].nunique()
    assert abs(summary["revenue"] - (ref["quantity"] * ref["unit_price"]).sum()) < 0.01
    table = pd.read_parquet(proj / "out" / "monthly_sales")
    assert set(table["month"].astype(str)) == {"2026-09", "2026-10", "2026-11"}
    assert abs(table["revenue"].sum() - summary["revenue"]) < 0.1
    # a second run reuses the cleaned files; a new file adds exactly one instance
    shutil.copy(proj / "data" / "sales_2026-11.csv", proj / "data" / "sales_2026-12.csv")
    r2 = subprocess.run(cmd, cwd=proj, capture_output=True, text=True, timeout=120)
    tasks = {t["task"]: t["state"] for t in json.loads(r2.stdout)["tasks"]}
    cleaned = [s for k, s in tasks.items() if k.startswith("cleaned[")]
    assert sorted(cleaned) == ["cached", "cached", "cached", "succeeded"]


def test_analytics_example(tmp_path):
    proj = tmp_path / "analytics"
    shutil.copytree(EXAMPLES / "analytics", proj, ignore=shutil.ignore_patterns(".datamill"))
    r = subprocess.run([sys.executable, "-m", "datamill.cli", "run", "footwear.py", "--json"],
                       cwd=proj, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["state"] == "succeeded"
    run_id = out["run_id"]
    from datamill.runtime.engine import _meta_from_record
    from datamill.store.runstore import RunStore

    store = RunStore.open(project_root=proj)
    trs = {t.task: t for t in store.task_runs(run_id)}
    reports = [x.dataset for x in store.lineage(run_id=run_id) if x.direction == "output"]
    store.close()
    assert {Path(u).name for u in reports} == {"why_june.html", "traffic_profile.html",
                                               "checkout_test.html", "forecast.html"}
    for u in reports:
        html = Path(u.removeprefix("file://")).read_text()
        assert html.lower().startswith("<!doctype html>") and "<script src" not in html
    # the June surge is explained by sandals first
    arts = proj / ".datamill" / "artifacts"
    from datamill.store.artifacts import ArtifactStore

    meta = trs["why_june"]
    why = ArtifactStore(str(arts)).load_checkpoint(_meta_from_record("footwear", meta))
    assert "sandals" in why["summary"].split("came from")[1].split(",")[0]
