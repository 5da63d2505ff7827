"""ETL example: an order export -> contract with quarantine -> enrichment -> warehouse.

What it shows, with the real APIs of the ETL layer:

* ``datamill.io.read`` of three CSVs (orders, the customer dimension, daily FX rates), each
  read recorded as lineage of its task (``ctx=ctx``);
* ``transform.normalize_text`` (country codes arrive as `` de``, ``Fr ``...) and
  ``transform.dedupe`` (the feed delivers some orders twice);
* ``quality.check`` against ``contracts/orders.yaml``: impossible dates, negative
  quantities, missing prices, unknown countries, conflicting order ids and absurd order
  values go to a quarantine (``out/quarantine/``) with the rule they broke; the good rows
  come back typed;
* ``transform.date_features``, a ``lookup`` of the customer segment and a point-in-time
  ``asof_join`` with the FX rates (a weekend order gets Friday's rate, never Monday's);
* ``transform.sql`` on DuckDB for the daily revenue per country;
* ``datamill.io.write``: the orders merged by ``order_id`` into the SQLite warehouse (the
  named connection ``warehouse`` in ``datamill.toml``; running twice leaves the same rows),
  the daily aggregate replacing a Parquet folder dataset.

Run it from this folder (named connections and the warehouse path are relative to it):

    datamill run orders --json            # the pipeline registered in datamill.toml
    datamill datasets                     # what was read and written, by which task
    datamill copy warehouse#orders out/orders_export.csv
    python -c "from datamill.quality import read_quarantine; print(read_quarantine('out').to_pandas())"

``python make_data.py`` regenerates data/ (deterministic).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

import datamill
from datamill import Context, io
from datamill import transform as T
from datamill.quality import Quarantine, check, load_contract

HERE = Path(__file__).parent
DATA = str(HERE / "data")
OUT = str(HERE / "out")


def _file_version(data_dir: str) -> str:
    """Source version: size and mtime of the CSVs, so an unchanged input is not read again."""
    files = sorted(Path(data_dir).glob("*.csv"))
    return ";".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)


# ----------------------------------------------------------------------------- extract

@datamill.task(version=_file_version)
def raw_orders(ctx: Context, data_dir: str = DATA) -> pa.Table:
    """The order export as it came; `ordered_at` kept as text so the contract parses it."""
    return io.read(f"{data_dir}/orders.csv", types={"ordered_at": "string"}, ctx=ctx)


@datamill.task(version=_file_version)
def customers(ctx: Context, data_dir: str = DATA) -> pa.Table:
    """The customer dimension: customer_id, segment, signup_at."""
    return io.read(f"{data_dir}/customers.csv", ctx=ctx)


@datamill.task(version=_file_version)
def fx_rates(ctx: Context, data_dir: str = DATA) -> pa.Table:
    """Euros per unit of currency, one row per business day and currency."""
    return io.read(f"{data_dir}/fx_rates.csv", ctx=ctx)


# ---------------------------------------------------------------------- stage and check

@datamill.task
def staged(raw_orders: pa.Table, ctx: Context) -> pa.Table:
    """Codes trimmed and upper-cased, then exact re-deliveries dropped (after the clean-up,
    so `de ` and `DE` of the same order count as one)."""
    clean = T.normalize_text(raw_orders, ["country", "currency"], case="upper")
    out = T.dedupe(clean)
    ctx.log.info("%d rows, %d exact re-deliveries dropped", raw_orders.num_rows,
                 raw_orders.num_rows - out.num_rows)
    return out


@datamill.task
def checked(staged: pa.Table, ctx: Context, data_dir: str = DATA, out_dir: str = OUT,
            contract: str = str(HERE / "contracts" / "orders.yaml")) -> pa.Table:
    """The contract: good rows typed, bad rows to out/quarantine/ with their rule.
    Too many bad rows fail the task, so nothing downstream is loaded."""
    source = io.parse_url(f"{data_dir}/orders.csv").dataset  # quarantine under the input's name
    result = check(load_contract(contract), staged, quarantine=Quarantine(out_dir),
                   source=source, ctx=ctx)
    ctx.log.info(result.summary())
    if not result.passed:
        raise ValueError(f"orders contract failed: {result.summary()}")
    return result.good


# --------------------------------------------------------------------------- transform

@datamill.task
def enriched(checked: pa.Table, customers: pa.Table, fx_rates: pa.Table) -> pa.Table:
    """Date parts, the customer's segment and the FX rate known on the order day."""
    orders = T.date_features(checked, "ordered_at", features=["date", "weekday", "hour",
                                                               "is_weekend"])
    orders = T.lookup(orders, customers, on="customer_id", columns="segment", default="unknown")
    orders = T.asof_join(orders, fx_rates, on="ordered_at_date", right_on="rate_date",
                         by="currency", tolerance="7d")
    df = pl.from_arrow(orders).with_columns(
        revenue_eur=(pl.col("quantity") * pl.col("price") * pl.col("to_eur")).round(2))
    missing = df.filter(pl.col("to_eur").is_null()).height
    if missing:
        raise ValueError(f"{missing} orders have no FX rate within 7 days")
    return df.to_arrow()


@datamill.task
def daily_revenue(enriched: pa.Table) -> pa.Table:
    """Orders, units and revenue in euros per day and country (SQL on DuckDB)."""
    return T.sql("""
        select ordered_at_date as day, country,
               count(*) as orders, sum(quantity) as units,
               round(sum(revenue_eur), 2) as revenue_eur
        from orders
        group by all
        order by day, country
    """, orders=enriched)


# -------------------------------------------------------------------------------- load

@datamill.task(cache="never")  # a sink: always load, even when its input was reused
def load_warehouse(enriched: pa.Table, ctx: Context, out_dir: str = OUT) -> int:
    """Merge the orders into warehouse#orders by order_id: new ids inserted, known ids
    updated, so a rerun (or a late correction) never duplicates a row. The load id makes a
    retried attempt of this run a no-op."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)  # the SQLite file lives in out/
    report = io.write("warehouse#orders", enriched, mode="merge", key=["order_id"],
                      load_id=ctx.run_id, ctx=ctx)
    ctx.log.info("warehouse#orders: %d rows merged", report.rows)
    return report.rows


@datamill.task(cache="never")
def daily_parquet(daily_revenue: pa.Table, ctx: Context, out_dir: str = OUT) -> str:
    """The daily aggregate as a Parquet folder dataset, replaced whole on each run."""
    target = f"{out_dir}/daily_revenue/"
    io.write(target, daily_revenue, mode="replace", ctx=ctx)
    return target
