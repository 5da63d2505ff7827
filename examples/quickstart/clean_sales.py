"""Quickstart: monthly sales CSVs -> clean -> aggregate -> Parquet + a summary.

Run it from this folder with ``datamill run clean_sales.py`` (or ``make demo`` from the
repository root). Every task is checkpointed: run it twice and the second run reuses
everything; add a CSV to data/ and only that file is loaded and cleaned.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

import datamill
from datamill import Context

HERE = Path(__file__).parent


def _file_version(data_dir: str) -> str:
    """Source version: names, sizes and mtimes of the input files (so reruns can reuse)."""
    files = sorted(Path(data_dir).glob("sales_*.csv"))
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


@datamill.task(version=_file_version)
def files(data_dir: str = str(HERE / "data")) -> list[str]:
    """The monthly CSV files to load (one task instance per file downstream)."""
    found = sorted(str(p) for p in Path(data_dir).glob("sales_*.csv"))
    if not found:
        raise FileNotFoundError(f"no sales_*.csv files in {data_dir}")
    return found


@datamill.task(map={"path": "files"}, retries=2, retry_delay=0.5)
def cleaned(path: str, ctx: Context) -> pd.DataFrame:
    """Load one CSV; trim and lower-case text, coerce types, drop duplicates and bad rows."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = raw.assign(
        region=raw["region"].str.strip().str.lower(),
        product=raw["product"].str.strip().str.lower(),
        date=pd.to_datetime(raw["date"], errors="coerce"),
        quantity=pd.to_numeric(raw["quantity"], errors="coerce"),
        unit_price=pd.to_numeric(raw["unit_price"], errors="coerce"),
    )
    bad = df["date"].isna() | df["quantity"].isna() | df["unit_price"].isna()
    dupes = df.duplicated(subset="order_id", keep="first")
    good = df[~bad & ~dupes].copy()
    good["quantity"] = good["quantity"].astype("int64")
    good["revenue"] = good["quantity"] * good["unit_price"]
    ctx.log.info("%s: %d rows, %d rejected, %d duplicates", Path(path).name, len(df),
                 int(bad.sum()), int((dupes & ~bad).sum()))
    ctx.metric("rows_rejected", int(bad.sum()))
    ctx.record_input(Path(path).resolve().as_uri(), rows=len(df))
    return good.reset_index(drop=True)


@datamill.task
def sales(cleaned: list[pd.DataFrame]) -> pd.DataFrame:
    """All months together."""
    return pd.concat(cleaned, ignore_index=True)


@datamill.task
def monthly(sales: pd.DataFrame) -> pd.DataFrame:
    """Revenue, units and orders per month, region and product."""
    out = (
        sales.assign(month=sales["date"].dt.strftime("%Y-%m"))
        .groupby(["month", "region", "product"], as_index=False)
        .agg(revenue=("revenue", "sum"), units=("quantity", "sum"), orders=("order_id", "nunique"))
    )
    out["revenue"] = out["revenue"].round(2)
    return out


@datamill.task(cache="never")  # a sink: always write, even if the output folder was removed
def parquet(monthly: pd.DataFrame, ctx: Context, out_dir: str = str(HERE / "out")) -> str:
    """Write the aggregate as Parquet, partitioned by month."""
    target = Path(out_dir) / "monthly_sales"
    target.mkdir(parents=True, exist_ok=True)
    monthly.to_parquet(target, partition_cols=["month"], index=False,
                       existing_data_behavior="delete_matching")
    ctx.record_output(target.resolve().as_uri(), rows=len(monthly))
    return str(target)


@datamill.task(cache="never")
def summary(monthly: pd.DataFrame, sales: pd.DataFrame, out_dir: str = str(HERE / "out")) -> dict:
    """A small JSON summary people can read: totals, best region and product per month."""
    by_month = monthly.groupby("month")["revenue"].sum().round(2)
    best = {}
    for month, g in monthly.groupby("month"):
        best[month] = {
            "region": g.groupby("region")["revenue"].sum().idxmax(),
            "product": g.groupby("product")["revenue"].sum().idxmax(),
        }
    result = {
        "orders": int(sales["order_id"].nunique()),
        "revenue": round(float(sales["revenue"].sum()), 2),
        "revenue_by_month": {k: float(v) for k, v in by_month.items()},
        "best_by_month": best,
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "summary.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result
