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


def _etl_reference(data: Path) -> tuple[pd.DataFrame, list[tuple[int, str]]]:
    """The ETL example's expected good rows and rejected (id, rule) pairs, from the CSVs with
    plain pandas: the same clean-up, de-duplication and contract rules, in contract order."""
    df = pd.read_csv(data / "orders.csv", dtype=str, keep_default_na=False)
    for col in ("country", "currency"):
        df[col] = df[col].str.strip().str.upper()
    df = df.drop_duplicates().reset_index(drop=True)  # exact re-deliveries
    df["order_id"] = df["order_id"].astype(int)
    ts = pd.to_datetime(df["ordered_at"], format="%Y-%m-%dT%H:%M:%S", errors="coerce")
    qty = pd.to_numeric(df["quantity"])
    price = pd.to_numeric(df["price"], errors="coerce")
    checks = [  # the first failing check names the row's rule, as in datamill.quality
        ("unique", df["order_id"].duplicated(keep="first")),
        ("type", ts.isna()),
        ("range", pd.to_numeric(df["customer_id"]) < 1),
        ("allowed", ~df["country"].isin(["DE", "FR", "GB", "US", "CH"])),
        ("allowed", ~df["currency"].isin(["EUR", "GBP", "USD", "CHF"])),
        ("range", (qty < 1) | (qty > 1000)),
        ("not_null", price.isna()),
        ("range", (price < 0) | (price > 10000)),
        ("expression", qty * price > 25000),
    ]
    rule = pd.Series(None, index=df.index, dtype=object)
    for name, mask in checks:
        rule = rule.where(rule.notna() | ~mask.fillna(False), name)
    rejected = sorted(zip(df.loc[rule.notna(), "order_id"], rule[rule.notna()], strict=True))
    good = df[rule.isna()].assign(ordered_at=ts, quantity=qty, price=price)
    fx = pd.read_csv(data / "fx_rates.csv", parse_dates=["rate_date"])
    good = pd.merge_asof(good.assign(day=good["ordered_at"].dt.normalize()).sort_values("day"),
                         fx.sort_values("rate_date"), left_on="day", right_on="rate_date",
                         by="currency", tolerance=pd.Timedelta("7D"))
    return good, rejected


def test_etl_example(tmp_path):
    import sqlite3

    from datamill.quality import read_quarantine

    proj = tmp_path / "etl"
    shutil.copytree(EXAMPLES / "etl", proj, ignore=shutil.ignore_patterns(".datamill", "out"))

    def cli(*args: str) -> dict:
        r = subprocess.run([sys.executable, "-m", "datamill.cli", *args, "--json"], cwd=proj,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def warehouse() -> pd.DataFrame:
        with sqlite3.connect(proj / "out" / "warehouse.db") as con:
            return pd.read_sql("select * from orders order by order_id", con)

    first = cli("run", "orders")
    assert first["state"] == "succeeded"
    good, rejected = _etl_reference(proj / "data")
    wh = warehouse()
    assert len(wh) == len(good) and set(wh["order_id"]) == set(good["order_id"])
    assert abs((wh["quantity"] * wh["price"]).sum() - (good["quantity"] * good["price"]).sum()) < 1e-6
    ref_eur = (good["quantity"] * good["price"] * good["to_eur"]).sum()
    assert abs(wh["revenue_eur"].sum() - ref_eur) < 0.05
    # the quarantine holds exactly the rejected rows, each with the rule it broke
    bad = read_quarantine(proj / "out", run_id=first["run_id"]).to_pandas()
    assert sorted(zip(bad["order_id"].astype(int), bad["_dm_rule"], strict=True)) == rejected
    assert {r for _, r in rejected} == {"unique", "type", "allowed", "range", "not_null",
                                        "expression"}
    daily = pd.read_parquet(proj / "out" / "daily_revenue")
    assert daily["orders"].sum() == len(wh)

    # a second run merges the same orders again: the warehouse is unchanged
    second = cli("run", "orders")
    assert second["state"] == "succeeded"
    pd.testing.assert_frame_equal(warehouse(), wh)

    # the catalogue lists the inputs and the outputs
    names = {d["dataset"] for d in cli("datasets")}
    for f in ("orders.csv", "customers.csv", "fx_rates.csv"):
        assert "file://" + str((proj / "data" / f).resolve()) in names
    # a file database named relative to the project is one absolute dataset identity
    assert "sqlite:///" + str((proj / "out" / "warehouse.db").resolve()) + "#orders" in names
    assert "file://" + str((proj / "out" / "daily_revenue").resolve()) in names

    # datamill copy through the named connection exports every row
    copied = cli("copy", "warehouse#orders", "out/orders_export.csv")
    assert copied["state"] == "succeeded" and copied["rows_written"] == len(wh)
    assert len(pd.read_csv(proj / "out" / "orders_export.csv")) == len(wh)


def test_ml_example(tmp_path):
    proj = tmp_path / "ml"
    shutil.copytree(EXAMPLES / "ml", proj, ignore=shutil.ignore_patterns(".datamill"))
    r = subprocess.run([sys.executable, "-m", "datamill.cli", "run", "churn.py", "--json"],
                       cwd=proj, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["state"] == "succeeded"
    from datamill.store.runstore import RunStore

    store = RunStore.open(project_root=proj)
    metrics = {(m.task_key, m.name): m.value for m in store.metrics(out["run_id"])}
    store.close()
    # the gate held (the task would have failed otherwise) and was recorded with the run
    assert metrics[("model", "roc_auc")] >= 0.75
    assert metrics[("forecast_check", "rmse")] > 0


def test_listeners_example(tmp_path):
    import csv

    proj = tmp_path / "listeners"
    shutil.copytree(EXAMPLES / "listeners", proj, ignore=shutil.ignore_patterns(".datamill", "out"))
    r = subprocess.run([sys.executable, "-m", "datamill.cli", "run", "durations.py", "-p", "n=4",
                        "--json"], cwd=proj, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    with open(proj / "out" / "task_durations.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # one row per task instance of the run, with the states the run reports
    assert {row["key"]: row["state"] for row in rows} == {t["task"]: t["state"]
                                                          for t in out["tasks"]}
    assert len(rows) == 1 + 4 + 1 and {row["run_id"] for row in rows} == {out["run_id"]}
    assert all(float(row["seconds"]) >= 0 and row["attempts"] == "1" for row in rows)
