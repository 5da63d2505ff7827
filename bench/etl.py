"""ETL benchmarks (issue #3): the reference orders job against hand-written Polars, DuckDB
and pandas, PostgreSQL loads, contract checks with quarantine, HTTP and generator
ingestion into Parquet, and S3 (moto) throughput.

Inputs are generated deterministically and the orders CSV is written once to
``/tmp/datamill-bench-cache`` (10M rows full, 1M rows with ``--quick``). Every engine
of ``etl.orders`` writes the same three outputs (clean Parquet, daily aggregate,
quarantined rows with a reason); one untimed verifier reads them back the same way for
every engine, and the check fails the benchmark when their counts and totals disagree.

Top-level imports stay standard-library only: peer children import this module in the
peers' virtualenv, where datamill is not installed.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
import threading
import time
from typing import Any

from bench.harness import Benchmark, Case, Contender, Figure, Measurement

CACHE = os.environ.get("DATAMILL_BENCH_CACHE", "/tmp/datamill-bench-cache")
ORDERS_FULL = 10_000_000
ORDERS_QUICK = 1_000_000
GEN_VERSION = 1
COUNTRIES = ("DE", "FR", "US", "GB", "ES", "IT", "NL", "PL", "SE", "JP")
TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
# malformed timestamps: impossible calendar dates and clock times, and plain garbage
BAD_TS = ("2024-02-30T08:15:00", "2024-02-31T23:59:59", "2023-02-29T12:00:00",
          "2024-04-31T10:30:00", "2024-09-31T07:45:00", "2024-13-05T10:00:00",
          "2024-00-10T10:00:00", "2024-06-00T10:00:00", "2024-06-15T25:10:00",
          "2024-06-15T10:61:00", "not-a-date", "2024/06/15 10:00")
ORDERS_GOAL_RATIO = 1.25
DM_PACKAGES = ("datamill", "pyarrow", "polars", "duckdb")

CONTRACT_YAML = """\
name: orders
max_bad_share: 0.05
drift: fail
columns:
  - {name: id, type: int, nullable: false}
  - {name: ts, type: datetime, nullable: false}
  - {name: country, type: str, nullable: false}
  - {name: quantity, type: int, nullable: false, min: 1}
  - {name: price, type: float, nullable: false, min: 0}
"""

# etl.contract: every column rule kind plus a composite-free expression rule
CHECK_CONTRACT_YAML = """\
name: orders_check
max_bad_share: 0.05
drift: fail
columns:
  - {name: id, type: int, nullable: false, unique: true}
  - {name: ts, type: datetime, nullable: false}
  - {name: country, type: str, nullable: false, regex: '^[A-Za-z]{2}$'}
  - {name: quantity, type: int, nullable: false, min: 1, max: 10000}
  - {name: price, type: float, nullable: false, min: 0}
rules:
  - {name: revenue_cap, expr: "quantity * price < 1000000"}
"""


# -- the orders CSV (deterministic, cached) ----------------------------------------------------


def orders_csv(rows: int) -> str:
    """Path of the cached orders CSV with ``rows`` lines (generated on first use)."""
    path = os.path.join(CACHE, f"orders-{rows}-v{GEN_VERSION}.csv")
    if os.path.exists(path):
        return path
    os.makedirs(CACHE, exist_ok=True)
    import pyarrow.csv as pacsv

    table = make_orders(rows)
    tmp = f"{path}.{os.getpid()}.tmp"
    pacsv.write_csv(table, tmp, pacsv.WriteOptions(quoting_style="none"))
    os.replace(tmp, path)
    return path


def contract_file(text: str = CONTRACT_YAML, name: str = "orders") -> str:
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f"contract-{name}-v{GEN_VERSION}.yaml")
    if not os.path.exists(path) or open(path).read() != text:
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
    return path


def make_orders(rows: int, seed: int = 3) -> Any:
    """The raw orders as an Arrow table (everything the CSV holds, ts as text).

    1% of the rows are exact copies of an earlier row placed 1-50 rows after it; of the
    distinct rows ~0.5% have a malformed timestamp, ~0.5% a negative quantity, ~1% a null
    price; country codes come in upper, lower and title case.
    """
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    dups = rows // 100
    base = rows - dups
    ids = np.arange(1_000_001, 1_000_001 + base, dtype=np.int64)
    secs = rng.integers(0, 182 * 86_400, base)
    ts = np.datetime_as_string(np.datetime64("2024-01-01T00:00:00") + secs.astype("timedelta64[s]"),
                               unit="s")
    ts = ts.astype(object)
    bad = rng.random(base) < 0.005
    ts[bad] = np.array(BAD_TS, dtype=object)[rng.integers(0, len(BAD_TS), int(bad.sum()))]
    codes = np.array(COUNTRIES, dtype=object)
    variants = np.array([[c, c.lower(), c.title()] for c in COUNTRIES], dtype=object)
    country = variants[rng.integers(0, len(codes), base), rng.integers(0, 3, base)]
    qty = rng.integers(1, 21, base)
    neg = rng.random(base) < 0.005
    qty[neg] = -rng.integers(1, 6, int(neg.sum()))
    price = np.round(rng.uniform(1.0, 500.0, base), 2)
    null_price = rng.random(base) < 0.01
    # duplicates: copies of random rows, placed 1-50 rows after their original
    orig = np.sort(rng.choice(base, dups, replace=False))
    key = np.concatenate([np.arange(base, dtype=np.int64) * 64,
                          np.minimum(orig + rng.integers(1, 51, dups), base) * 64 - 1])
    src = np.concatenate([np.arange(base), orig])[np.argsort(key, kind="stable")]
    return pa.table({
        "id": pa.array(ids[src]),
        "ts": pa.array(ts[src], pa.string()),
        "country": pa.array(country[src], pa.string()),
        "quantity": pa.array(qty[src]),
        "price": pa.array(price[src], mask=null_price[src]),
    })


# -- the uniform verifier: checksums of what an engine wrote -----------------------------------


def verify_outputs(out: str, rows_in: int, id_col: str = "id") -> dict[str, Any]:
    """Counts and totals of the clean file, the daily aggregate and the quarantine."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    clean = pq.read_table(os.path.join(out, "clean.parquet"))
    daily = pq.read_table(os.path.join(out, "daily.parquet"))
    qfiles = sorted(glob.glob(os.path.join(out, "quarantine", "**", "*.parquet"), recursive=True))
    quarantined = sum(pq.read_metadata(f).num_rows for f in qfiles)
    n = clean.num_rows
    bad_country = pc.sum(pc.invert(pc.equal(clean["country"], pc.utf8_upper(clean["country"]))))
    return {
        "rows_in": rows_in,
        "clean_rows": n,
        "quarantined": quarantined,
        "duplicates_dropped": rows_in - n - quarantined,
        "id_sum": pc.sum(clean[id_col]).as_py(),
        "quantity_sum": pc.sum(clean["quantity"]).as_py(),
        "weekday_sum": pc.sum(pc.cast(clean["weekday"], "int64")).as_py(),
        "revenue_total": round(pc.sum(clean["revenue"]).as_py(), 2),
        "lower_case_countries": bad_country.as_py() or 0,
        "daily_rows": daily.num_rows,
        "daily_orders": pc.sum(pc.cast(daily["orders"], "int64")).as_py(),
        "daily_revenue": round(pc.sum(daily["revenue"]).as_py(), 2),
        "clean_codec": pq.ParquetFile(os.path.join(out, "clean.parquet"))
        .metadata.row_group(0).column(0).compression,
    }


def _record_checksums(case: Case, sums: dict[str, Any]) -> None:
    case.record(**{k: v for k, v in sums.items()})


# -- etl.orders: the hand-written engines ------------------------------------------------------


def _outdir() -> str:
    d = tempfile.mkdtemp(prefix="dm-etl-")
    os.makedirs(os.path.join(d, "quarantine"))
    return d


def polars_job(csv: str, out: str) -> None:
    import polars as pl

    raw = pl.read_csv(csv, schema_overrides={"ts": pl.String, "country": pl.String})
    d = raw.filter(pl.col("id").is_first_distinct())
    d = d.with_columns(_ts=pl.col("ts").str.strptime(pl.Datetime("us"), TS_FORMAT, strict=False))
    reason = (pl.when(pl.col("_ts").is_null()).then(pl.lit("ts does not parse"))
              .when(pl.col("quantity") < 1).then(pl.lit("quantity < 1"))
              .when(pl.col("price").is_null()).then(pl.lit("price is null"))
              .when(pl.col("price") < 0).then(pl.lit("price < 0")))
    d = d.with_columns(_reason=reason)
    d.filter(pl.col("_reason").is_not_null()).drop("_ts").write_parquet(
        os.path.join(out, "quarantine", "bad.parquet"), compression="zstd")
    good = d.filter(pl.col("_reason").is_null()).select(
        "id", pl.col("_ts").alias("ts"), pl.col("country").str.to_uppercase(), "quantity",
        "price", (pl.col("quantity") * pl.col("price")).alias("revenue"),
        pl.col("_ts").dt.date().alias("date"),
        (pl.col("_ts").dt.weekday() - 1).cast(pl.Int8).alias("weekday"))
    good.write_parquet(os.path.join(out, "clean.parquet"), compression="zstd")
    daily = good.group_by("date", "country").agg(
        pl.len().alias("orders"), pl.col("quantity").sum(), pl.col("revenue").sum()
    ).sort("date", "country")
    daily.write_parquet(os.path.join(out, "daily.parquet"), compression="zstd")


def duckdb_job(csv: str, out: str) -> None:
    import duckdb

    con = duckdb.connect()
    q = os.path.join(out, "quarantine", "bad.parquet")
    con.execute(f"""
        CREATE TEMP TABLE d AS
        SELECT *, try_strptime(ts, '{TS_FORMAT}') AS _ts FROM read_csv('{csv}',
            header = true, types = {{'ts': 'VARCHAR', 'country': 'VARCHAR'}})
        QUALIFY row_number() OVER (PARTITION BY id) = 1""")
    con.execute("""
        CREATE TEMP TABLE r AS SELECT *, CASE
            WHEN _ts IS NULL THEN 'ts does not parse'
            WHEN quantity < 1 THEN 'quantity < 1'
            WHEN price IS NULL THEN 'price is null'
            WHEN price < 0 THEN 'price < 0' END AS _reason FROM d""")
    con.execute("DROP TABLE d")
    con.execute(f"COPY (SELECT * EXCLUDE (_ts) FROM r WHERE _reason IS NOT NULL) TO '{q}' "
                "(FORMAT parquet, COMPRESSION zstd)")
    con.execute("""
        CREATE TEMP TABLE g AS SELECT id, _ts AS ts, upper(country) AS country, quantity, price,
            quantity * price AS revenue, CAST(_ts AS DATE) AS date,
            CAST(isodow(_ts) - 1 AS TINYINT) AS weekday
        FROM r WHERE _reason IS NULL""")
    con.execute("DROP TABLE r")
    con.execute(f"COPY g TO '{os.path.join(out, 'clean.parquet')}' "
                "(FORMAT parquet, COMPRESSION zstd)")
    con.execute(f"""COPY (SELECT date, country, count(*) AS orders, sum(quantity) AS quantity,
            sum(revenue) AS revenue FROM g GROUP BY ALL ORDER BY date, country)
        TO '{os.path.join(out, 'daily.parquet')}' (FORMAT parquet, COMPRESSION zstd)""")
    con.close()


def pandas_job(csv: str, out: str, arrow: bool) -> None:
    import pandas as pd

    if arrow:
        raw = pd.read_csv(csv, engine="pyarrow", dtype_backend="pyarrow")
    else:
        raw = pd.read_csv(csv)
    d = raw[~raw["id"].duplicated(keep="first")]
    ts = pd.to_datetime(d["ts"], format=TS_FORMAT, errors="coerce")
    reason = pd.Series(pd.NA, index=d.index, dtype="object")
    price_null = d["price"].isna()
    for mask, text in ((ts.isna(), "ts does not parse"), (d["quantity"] < 1, "quantity < 1"),
                       (price_null, "price is null"), (~price_null & (d["price"] < 0),
                                                       "price < 0")):
        reason = reason.mask(reason.isna() & mask.fillna(False).astype(bool), text)
    bad = reason.notna()
    d.loc[bad].assign(_reason=reason[bad].astype("string")).to_parquet(
        os.path.join(out, "quarantine", "bad.parquet"), compression="zstd", index=False)
    good = d.loc[~bad]
    gts = ts[~bad]
    if arrow:
        gts = gts.astype(pd.ArrowDtype(__import__("pyarrow").timestamp("us")))
        date = gts.dt.date
    else:
        date = gts.dt.normalize()
    clean = pd.DataFrame({
        "id": good["id"], "ts": gts, "country": good["country"].str.upper(),
        "quantity": good["quantity"], "price": good["price"],
        "revenue": good["quantity"] * good["price"], "date": date,
        "weekday": gts.dt.weekday.astype("int8"),
    })
    clean.to_parquet(os.path.join(out, "clean.parquet"), compression="zstd", index=False)
    daily = clean.groupby(["date", "country"], as_index=False, sort=True, observed=True).agg(
        orders=("id", "size"), quantity=("quantity", "sum"), revenue=("revenue", "sum"))
    daily.to_parquet(os.path.join(out, "daily.parquet"), compression="zstd", index=False)


_ENGINES = {
    "polars": polars_job,
    "duckdb": duckdb_job,
    "pandas_arrow": lambda csv, out: pandas_job(csv, out, arrow=True),
    "pandas": lambda csv, out: pandas_job(csv, out, arrow=False),
}


def engine_orders(case: Case, engine: str, rows: int, quick_rows: int) -> None:
    """One hand-written engine on the cached orders CSV; outputs verified after each repeat."""
    import pyarrow.parquet  # noqa: F401 - the verifier's import, before ready()

    if engine == "polars":
        import polars  # noqa: F401
    elif engine == "duckdb":
        import duckdb  # noqa: F401
    else:
        import pandas  # noqa: F401
    rows = quick_rows if _quick(case) else rows
    csv = orders_csv(rows)
    job = _ENGINES[engine]
    case.ready()
    for _ in case.repeats():
        out = _outdir()
        try:
            with case.timed():
                job(csv, out)
            _record_checksums(case, verify_outputs(out, rows))
            case.record(rows=rows)
        finally:
            shutil.rmtree(out, ignore_errors=True)


def _quick(case: Case) -> bool:
    """True under ``--quick``. The child is not told the mode; it sees the repeat count:
    every contender here has ``repeats`` ≥ 2 and ``quick_repeats`` = 1 (peers, never run
    by ``--quick``, pass the same size for both)."""
    return case.n_repeats < 2


# -- etl.orders: datamill's pipeline -----------------------------------------------------------

STEPS: dict[str, float] = {}


@contextlib.contextmanager
def _step(name: str):
    t0 = time.perf_counter()
    yield
    STEPS[name] = STEPS.get(name, 0.0) + time.perf_counter() - t0


def etl_clean(ctx: Any, csv: str = "", out_dir: str = "", contract: str = "") -> dict:
    """Read the CSV, drop duplicate ids, check the contract (bad rows to quarantine),
    upper-case country, derive revenue, date and weekday, write the clean Parquet."""
    import polars as pl

    from datamill import io
    from datamill import transform as T
    from datamill.quality import Quarantine, check, load_contract

    # each step's input is released once the next one has it (as the hand-written
    # versions do), so the peak is not the sum of every intermediate table
    with _step("read csv (io.read)"):
        raw = io.read(csv, ctx=ctx)
    rows_in = raw.num_rows
    with _step("dedupe (T.dedupe)"):
        deduped = T.dedupe(raw, key="id", keep="first")
    del raw
    duplicates = rows_in - deduped.num_rows
    with _step("contract + quarantine (check)"):
        result = check(load_contract(contract), deduped, quarantine=Quarantine(out_dir),
                       source=csv, ctx=ctx)
    del deduped
    with _step("normalize_text + revenue + date_features"):
        df = pl.from_arrow(result.good, rechunk=False)  # good comes in batches: no copy
        quarantined = result.bad_rows
        del result
        df = T.normalize_text(df, "country", case="upper")
        df = df.with_columns(revenue=pl.col("quantity") * pl.col("price"))
        df = T.date_features(df, "ts", ["date", "weekday"]).rename(
            {"ts_date": "date", "ts_weekday": "weekday"})
    with _step("write clean parquet (io.write)"):
        target = os.path.join(out_dir, "clean.parquet")
        io.write(target, df, mode="replace", ctx=ctx)
    return {"clean": target, "rows": df.height, "quarantined": quarantined,
            "duplicates": duplicates}


def etl_daily(etl_clean: dict, ctx: Any, out_dir: str = "") -> dict:
    """Orders, quantity and revenue per date and country."""
    from datamill import io
    from datamill import transform as T

    with _step("read clean (io.read, 4 columns)"):
        t = io.read(etl_clean["clean"], columns=["date", "country", "quantity", "revenue"],
                    ctx=ctx)
    with _step("aggregate (T.aggregate)"):
        daily = T.aggregate(t, by=["date", "country"],
                            metrics={"orders": "count", "quantity": "sum", "revenue": "sum"})
    with _step("write daily parquet (io.write)"):
        target = os.path.join(out_dir, "daily.parquet")
        io.write(target, daily, mode="replace", ctx=ctx)
    return {"daily": target, "rows": daily.num_rows}


def _orders_pipeline() -> Any:
    import datamill

    # the annotation datamill looks for, set here: this module imports no datamill at the top
    for fn in (etl_clean, etl_daily):
        fn.__annotations__["ctx"] = datamill.Context
    return datamill.Pipeline("orders_etl", [
        datamill.task(etl_clean, cache="never"),
        datamill.task(etl_daily, cache="never"),
    ])


def dm_orders(case: Case, rows: int, quick_rows: int) -> None:
    """A real datamill.run of the two-task pipeline (checkpoints on, fresh project)."""
    import polars  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import datamill
    from bench.orchestration import _expect, _fresh_project
    from datamill import io, quality, transform  # noqa: F401

    rows = quick_rows if _quick(case) else rows
    csv = orders_csv(rows)
    contract = contract_file()
    p = _orders_pipeline()
    # warm datamill's lazy imports (io, quality, DuckDB, Polars) on a tiny file
    small = _outdir()
    tiny = os.path.join(small, "tiny.csv")
    import pyarrow.csv as pacsv

    pacsv.write_csv(make_orders(2_000), tiny)
    warm = _fresh_project()
    datamill.run(p, {"csv": tiny, "out_dir": small, "contract": contract}, project=warm,
                 handle_signals=False)
    shutil.rmtree(small, ignore_errors=True)
    shutil.rmtree(warm, ignore_errors=True)
    case.ready()
    for _ in case.repeats():
        proj, out = _fresh_project(), _outdir()
        STEPS.clear()
        try:
            with case.timed():
                r = datamill.run(p, {"csv": csv, "out_dir": out, "contract": contract},
                                 project=proj, handle_signals=False)
            _expect(r, "succeeded")
            task_s = {k: t.duration for k, t in r.tasks.items() if getattr(t, "duration", None)}
            _record_checksums(case, verify_outputs(out, rows))
            case.record(rows=rows, **{f"step {k}": round(v, 3) for k, v in STEPS.items()},
                        **{f"task {k}": round(v, 3) for k, v in task_s.items()})
        finally:
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(proj, ignore_errors=True)


# -- etl.contract ------------------------------------------------------------------------------


def _contract_input(rows: int, kind: str) -> Any:
    """raw: the orders CSV as read; typed: ts parsed beforehand; clean: every row good."""
    from datamill import io

    if kind == "typed":
        return typed_orders(rows)
    if kind == "clean":
        return clean_orders(rows).select(["id", "ts", "country", "quantity", "price"])
    return io.read(orders_csv(rows))


def typed_orders(rows: int) -> Any:
    """The raw orders with ts already a timestamp (malformed ones null), as a typed
    source (a Parquet file, a database) hands them over."""
    import pyarrow.compute as pc

    from datamill import io

    table = io.read(orders_csv(rows))
    ts = pc.strptime(table.column("ts"), TS_FORMAT, "us", error_is_null=True)
    return table.set_column(table.schema.get_field_index("ts"), "ts", ts)


def dm_contract(case: Case, rows: int, quick_rows: int, kind: str = "raw") -> None:
    """check(contract, 10M-row orders table, quarantine=...) on an Arrow table."""
    from datamill.quality import Quarantine, check, load_contract

    rows = quick_rows if _quick(case) else rows
    table = _contract_input(rows, kind)
    contract = load_contract(contract_file(CHECK_CONTRACT_YAML, "check"))
    check(contract, table.slice(0, 10_000))
    case.ready()
    for _ in case.repeats():
        q = tempfile.mkdtemp(prefix="dm-quarantine-")
        try:
            with case.timed():
                res = check(contract, table, quarantine=Quarantine(q), source="orders")
            written = sum(pq_rows(f) for f in glob.glob(os.path.join(q, "**", "*.parquet"),
                                                        recursive=True))
            case.record(rows=rows, good=res.good_rows, bad=res.bad_rows, quarantined=written,
                        rows_per_s=rows / case.samples[-1] if case.measuring else 0,
                        failures=json.dumps(res.failures, sort_keys=True))
        finally:
            shutil.rmtree(q, ignore_errors=True)


def pq_rows(path: str) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def peer_pandera(case: Case, rows: int, quick_rows: int, kind: str = "raw") -> None:
    """pandera (pandas backend), lazy validation of a similar schema; nothing written."""
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd
    import pandera.pandas as pa

    rows = quick_rows if _quick(case) else rows
    path = os.path.join(CACHE, f"orders-{rows}-v{GEN_VERSION}.csv")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} is missing: run the datamill contender first")
    typed = kind != "raw"
    if kind == "clean":
        df = clean_orders(rows).select(["id", "ts", "country", "quantity", "price"]).to_pandas()
        df["ts"] = df["ts"].astype("datetime64[ns]")
    else:
        df = pd.read_csv(path)
    if kind == "typed":  # ts parsed beforehand (malformed -> NaT), as the datamill side gets it
        df["ts"] = pd.to_datetime(df["ts"], format=TS_FORMAT, errors="coerce")
    ts_col = pa.Column("datetime64[ns]", nullable=False) if typed else pa.Column(
        # ts as ISO text by regex: coerce=True (a strict parse, like datamill's) did not
        # finish 1M rows with 0.5% bad timestamps in 5 minutes (failure cases are searched
        # value by value); the regex accepts impossible dates such as Feb 30
        str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"), nullable=False)
    schema = pa.DataFrameSchema({
        "id": pa.Column(int, nullable=False, unique=True),
        "ts": ts_col,
        "country": pa.Column(str, pa.Check.str_matches(r"^[A-Za-z]{2}$"), nullable=False),
        "quantity": pa.Column(int, pa.Check.in_range(1, 10_000), nullable=False),
        "price": pa.Column(float, pa.Check.ge(0), nullable=False),
    }, checks=[pa.Check(lambda d: d["quantity"] * d["price"] < 1e6, ignore_na=True)])
    case.ready()
    for _ in case.repeats():
        with case.timed():
            try:
                schema.validate(df, lazy=True)
                failures = 0
            except pa.errors.SchemaErrors as exc:
                failures = len(exc.failure_cases)
        case.record(rows=rows, failure_cases=failures,
                    rows_per_s=rows / case.samples[-1] if case.measuring else 0)


# -- etl.pg_load -------------------------------------------------------------------------------

PG = os.environ.get("DATAMILL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def clean_orders(rows: int, seed: int = 5) -> Any:
    """``rows`` clean orders as the job produces them (Arrow)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    secs = rng.integers(0, 182 * 86_400, rows)
    ts = np.datetime64("2024-01-01T00:00:00", "us") + (secs * 1_000_000).astype("timedelta64[us]")
    qty = rng.integers(1, 21, rows)
    price = np.round(rng.uniform(1.0, 500.0, rows), 2)
    return pa.table({
        "id": pa.array(np.arange(1, rows + 1, dtype=np.int64)),
        "ts": pa.array(ts),
        "country": pa.array(np.array(COUNTRIES, dtype=object)[rng.integers(0, 10, rows)],
                            pa.string()),
        "quantity": pa.array(qty),
        "price": pa.array(price),
        "revenue": pa.array(qty * price),
        "date": pa.array(ts.astype("datetime64[D]")),
    })


@contextlib.contextmanager
def _pg_database() -> Any:
    import psycopg

    name = f"dm_bench_{os.getpid()}_{int(time.time())}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG}/{name}"
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg(url: str, sql: str) -> Any:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        cur = con.execute(sql)
        return cur.fetchone() if cur.description else None


def dm_pg_load(case: Case, mode: str, rows: int, quick_rows: int) -> None:
    """io.write(postgresql://...#public.orders, table, mode=...) of ``rows`` clean rows."""
    from datamill import io

    rows = quick_rows if _quick(case) else rows
    table = clean_orders(rows)
    expect = (rows, int(__import__("pyarrow").compute.sum(table["quantity"]).as_py()))
    with _pg_database() as db:
        url = f"{db}#public.orders"
        io.write(url, clean_orders(1_000), mode="merge" if mode == "merge" else "append",
                 key=["id"] if mode == "merge" else None)  # creates the table (and key index)
        case.ready()
        for _ in case.repeats():
            if mode != "replace":
                _pg(db, "TRUNCATE public.orders")
            with case.timed():
                rep = io.write(url, table, mode=mode, key=["id"] if mode == "merge" else None)
            got = _pg(db, "SELECT count(*), sum(quantity) FROM public.orders")
            if (int(got[0]), int(got[1])) != expect:
                raise RuntimeError(f"{mode}: table holds {got}, expected {expect}")
            extra: dict[str, Any] = {}
            if mode == "merge":  # the same keys again: matched, values unchanged
                t0 = time.perf_counter()
                io.write(url, table, mode="merge", key=["id"])
                extra["merge_existing_s"] = time.perf_counter() - t0
            case.record(rows=rows, written=rep.rows,
                        rows_per_s=rows / case.samples[-1] if case.measuring else 0, **extra)


def pandas_to_sql(case: Case, rows: int, quick_rows: int) -> None:
    """pandas.DataFrame.to_sql (SQLAlchemy + psycopg 3, default method) into an existing table."""
    import sqlalchemy

    rows = quick_rows if _quick(case) else rows
    df = clean_orders(rows).to_pandas()
    with _pg_database() as db:
        engine = sqlalchemy.create_engine(db.replace("postgresql://", "postgresql+psycopg://"))
        df.head(10).to_sql("orders", engine, if_exists="replace", index=False)
        case.ready()
        for _ in case.repeats():
            _pg(db, "TRUNCATE public.orders")
            with case.timed():
                df.to_sql("orders", engine, if_exists="append", index=False)
            got = _pg(db, "SELECT count(*) FROM public.orders")
            if int(got[0]) != rows:
                raise RuntimeError(f"to_sql: table holds {got[0]} rows, expected {rows}")
            case.record(rows=rows, rows_per_s=rows / case.samples[-1] if case.measuring else 0)
        engine.dispose()


ORDERS_DDL = ('CREATE TABLE public.orders (id BIGINT, ts TIMESTAMP, country TEXT, quantity BIGINT, '
              'price DOUBLE PRECISION, revenue DOUBLE PRECISION, date DATE)')


def raw_pg_load(case: Case, driver: str, rows: int, quick_rows: int, chunk: int = 0) -> None:
    """The raw driver, no datamill: append the same Arrow table into the same (existing,
    truncated) table in one committed transaction.

    ``adbc``: ``cursor.adbc_ingest(mode='append')`` of the table as it is (one 1M-row
    batch) or re-cut into ``chunk``-row batches. ``psycopg``: Arrow -> CSV text
    (``pyarrow.csv.write_csv``, timed) -> ``COPY ... FROM STDIN (FORMAT csv)``.
    """
    import pyarrow as pa

    rows = quick_rows if _quick(case) else rows
    table = clean_orders(rows)
    expect = (rows, int(__import__("pyarrow").compute.sum(table["quantity"]).as_py()))
    with _pg_database() as db:
        _pg(db, ORDERS_DDL)
        case.ready()
        for _ in case.repeats():
            _pg(db, "TRUNCATE public.orders")
            with case.timed():
                if driver == "adbc":
                    import adbc_driver_postgresql.dbapi as dbapi

                    data = table if not chunk else pa.RecordBatchReader.from_batches(
                        table.schema, table.to_batches(max_chunksize=chunk))
                    with dbapi.connect(db) as con:
                        with con.cursor() as cur:
                            cur.adbc_ingest("orders", data, mode="append", db_schema_name="public")
                        con.commit()
                else:
                    import psycopg
                    import pyarrow.csv as pacsv

                    sink = pa.BufferOutputStream()
                    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
                    buf = memoryview(sink.getvalue())
                    with psycopg.connect(db) as con:
                        with con.cursor() as cur, cur.copy(
                                "COPY public.orders FROM STDIN (FORMAT csv)") as cp:
                            for i in range(0, len(buf), 1 << 20):
                                cp.write(buf[i:i + (1 << 20)])
                        con.commit()
            got = _pg(db, "SELECT count(*), sum(quantity) FROM public.orders")
            if (int(got[0]), int(got[1])) != expect:
                raise RuntimeError(f"raw {driver}: table holds {got}, expected {expect}")
            case.record(rows=rows, rows_per_s=rows / case.samples[-1] if case.measuring else 0)


# -- etl.http_ingest ---------------------------------------------------------------------------

PAGE = 10_000


def _api_pages(records: int) -> list[bytes]:
    """Pre-encoded JSON pages (so the server costs little): data.items + meta.total."""
    import random

    rnd = random.Random(11)
    tiers = ("gold", "silver", "bronze")
    pages = []
    for start in range(0, records, PAGE):
        items = [{
            "id": i, "ts": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:15:00",
            "country": COUNTRIES[i % 10], "quantity": 1 + i % 20,
            "price": round(rnd.uniform(1, 500), 2),
            "customer": {"name": f"c{i % 5000}", "tier": tiers[i % 3]},
        } for i in range(start, min(start + PAGE, records))]
        pages.append(json.dumps({"data": {"items": items},
                                 "meta": {"total": records, "page": len(pages) + 1}}).encode())
    return pages


@contextlib.contextmanager
def _api_server(pages: list[bytes]) -> Any:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    empty = json.dumps({"data": {"items": []}, "meta": {"total": 0}}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            q = parse_qs(urlparse(self.path).query)
            page = int(q.get("page", ["1"])[0])
            body = pages[page - 1] if 1 <= page <= len(pages) else empty
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1/orders"
    finally:
        srv.shutdown()
        srv.server_close()


def dm_http(case: Case, records: int, quick_records: int) -> None:
    """io.write(lake folder, io.read_batches(paginated API)) end to end."""
    import pyarrow.parquet  # noqa: F401

    from datamill import io

    records = quick_records if _quick(case) else records
    pages = _api_pages(records)
    with _api_server(pages) as url:
        opts = {"pagination": "page", "page_size": PAGE, "records_path": "data.items",
                "total_path": "meta.total"}
        warm = tempfile.mkdtemp(prefix="dm-lake-")
        io.write(warm + "/orders/", io.read_batches(url, max_pages=1, **opts))
        shutil.rmtree(warm, ignore_errors=True)
        case.ready()
        for _ in case.repeats():
            lake = tempfile.mkdtemp(prefix="dm-lake-")
            try:
                with case.timed():
                    rep = io.write(lake + "/orders/", io.read_batches(url, **opts),
                                   mode="append")
                n = sum(pq_rows(f) for f in glob.glob(lake + "/orders/*.parquet"))
                if n != records or rep.rows != records:
                    raise RuntimeError(f"lake holds {n} rows (report {rep.rows}), expected {records}")
                case.record(records=records, records_per_s=records / case.samples[-1]
                            if case.measuring else 0, json_mb=round(sum(map(len, pages)) / 1e6, 1))
            finally:
                shutil.rmtree(lake, ignore_errors=True)


def plain_http(case: Case, records: int, quick_records: int) -> None:
    """http.client + json.loads + pa.Table.from_pylist per page + one pq.write_table."""
    import http.client
    from urllib.parse import urlparse

    import pyarrow as pa
    import pyarrow.parquet as pq

    records = quick_records if _quick(case) else records
    pages = _api_pages(records)
    with _api_server(pages) as url:
        u = urlparse(url)
        case.ready()
        for _ in case.repeats():
            lake = tempfile.mkdtemp(prefix="plain-lake-")
            try:
                with case.timed():
                    con = http.client.HTTPConnection(u.hostname, u.port)
                    tables, page, total = [], 1, None
                    while total is None or sum(t.num_rows for t in tables) < total:
                        con.request("GET", f"{u.path}?page={page}&per_page={PAGE}")
                        body = json.loads(con.getresponse().read())
                        total = body["meta"]["total"]
                        items = body["data"]["items"]
                        if not items:
                            break
                        tables.append(pa.Table.from_pylist(items))
                        page += 1
                    con.close()
                    pq.write_table(pa.concat_tables(tables), lake + "/orders.parquet",
                                   compression="zstd")
                case.record(records=records, records_per_s=records / case.samples[-1]
                            if case.measuring else 0)
            finally:
                shutil.rmtree(lake, ignore_errors=True)


_TS_STRINGS = tuple(f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:15:00"
                    for i in range(1000))


def dict_records(n: int) -> Any:
    """A Python generator of flat dicts, as an extractor written by hand yields them."""
    for i in range(n):
        yield {"id": i, "ts": _TS_STRINGS[i % 1000], "country": COUNTRIES[i % 10],
               "quantity": 1 + i % 20, "price": 1.5 + i % 500}


def _arrow_batches(records: Any, size: int = 50_000) -> Any:
    import itertools

    import pyarrow as pa

    while True:
        chunk = list(itertools.islice(records, size))
        if not chunk:
            return
        yield pa.RecordBatch.from_pylist(chunk)


def dm_generator(case: Case, records: int, quick_records: int) -> None:
    """io.write(folder, Arrow batches of 50k dicts from a Python generator)."""
    from datamill import io

    records = quick_records if _quick(case) else records
    warm = tempfile.mkdtemp(prefix="dm-gen-")
    io.write(warm + "/orders/", _arrow_batches(dict_records(1000)))
    shutil.rmtree(warm, ignore_errors=True)
    case.ready()
    for _ in case.repeats():
        lake = tempfile.mkdtemp(prefix="dm-gen-")
        try:
            with case.timed():
                rep = io.write(lake + "/orders/", _arrow_batches(dict_records(records)))
            if rep.rows != records:
                raise RuntimeError(f"wrote {rep.rows} rows, expected {records}")
            case.record(records=records, records_per_s=records / case.samples[-1]
                        if case.measuring else 0)
        finally:
            shutil.rmtree(lake, ignore_errors=True)


def bare_generator(case: Case, records: int, quick_records: int) -> None:
    """Only iterating the generator (the upper bound of anything consuming it)."""
    records = quick_records if _quick(case) else records
    case.ready()
    for _ in case.repeats():
        with case.timed():
            n = 0
            for _rec in dict_records(records):
                n += 1
        case.record(records=n, records_per_s=records / case.samples[-1] if case.measuring else 0)


def peer_dlt(case: Case, records: int, quick_records: int) -> None:
    """dlt pipeline.run(generator) into a local filesystem destination, Parquet files."""
    import dlt

    records = quick_records if _quick(case) else records
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ["DLT_TELEMETRY_DISABLED"] = "1"
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    case.ready()
    for i in case.repeats():
        root = tempfile.mkdtemp(prefix="dlt-bench-")
        try:
            p = dlt.pipeline(pipeline_name=f"bench{i}", pipelines_dir=root + "/pipes",
                             destination=dlt.destinations.filesystem("file://" + root + "/lake"),
                             dataset_name="shop")
            with case.timed():
                p.run(dict_records(records), table_name="orders", loader_file_format="parquet")
            case.record(records=records, records_per_s=records / case.samples[-1]
                        if case.measuring else 0)
        finally:
            shutil.rmtree(root, ignore_errors=True)


# -- etl.s3 ------------------------------------------------------------------------------------


def s3_table(mb: int) -> Any:
    """Random (incompressible) float64 and int64 columns: about ``mb`` MB as Parquet."""
    import numpy as np
    import pyarrow as pa

    rows = mb * 1_000_000 // 16
    rng = np.random.default_rng(7)
    return pa.table({"x": rng.random(rows), "k": rng.integers(0, 2**62, rows)})


@contextlib.contextmanager
def _moto() -> Any:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.server import ThreadedMotoServer

    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "DATAMILL_S3_ENDPOINT_URL": f"http://{host}:{port}"}
    os.environ.update(env)
    import boto3

    s3 = boto3.client("s3", endpoint_url=env["DATAMILL_S3_ENDPOINT_URL"])
    s3.create_bucket(Bucket="bench")
    try:
        yield s3
    finally:
        srv.stop()


def dm_s3(case: Case, mb: int, quick_mb: int) -> None:
    """io.write(s3://..., table, mode="replace") then io.read of the same object (timed both)."""
    from datamill import io

    mb = quick_mb if _quick(case) else mb
    table = s3_table(mb)
    with _moto() as s3:
        url = "s3://bench/lake/orders.parquet"
        io.write("s3://bench/warm.parquet", table.slice(0, 1000), mode="replace")
        io.read("s3://bench/warm.parquet")
        case.ready()
        for _ in case.repeats():
            with case.timed():
                t0 = time.perf_counter()
                io.write(url, table, mode="replace")
                t1 = time.perf_counter()
                back = io.read(url)
                t2 = time.perf_counter()
            size = s3.head_object(Bucket="bench", Key="lake/orders.parquet")["ContentLength"]
            if back.num_rows != table.num_rows:
                raise RuntimeError(f"read back {back.num_rows} rows of {table.num_rows}")
            del back
            case.record(object_mb=round(size / 1e6, 1), write_s=t1 - t0, read_s=t2 - t1,
                        write_mb_s=size / 1e6 / (t1 - t0), read_mb_s=size / 1e6 / (t2 - t1))


def boto3_s3(case: Case, mb: int, quick_mb: int) -> None:
    """The same Parquet bytes through boto3 put_object / get_object (no Parquet encoding)."""
    import io as stdio

    import pyarrow.parquet as pq

    mb = quick_mb if _quick(case) else mb
    buf = stdio.BytesIO()
    pq.write_table(s3_table(mb), buf, compression="zstd")
    data = buf.getvalue()
    with _moto() as s3:
        s3.put_object(Bucket="bench", Key="warm", Body=b"x")
        case.ready()
        for _ in case.repeats():
            with case.timed():
                t0 = time.perf_counter()
                s3.put_object(Bucket="bench", Key="raw/orders.parquet", Body=data)
                t1 = time.perf_counter()
                got = s3.get_object(Bucket="bench", Key="raw/orders.parquet")["Body"].read()
                t2 = time.perf_counter()
            if len(got) != len(data):
                raise RuntimeError("short read")
            case.record(object_mb=round(len(data) / 1e6, 1), write_s=t1 - t0, read_s=t2 - t1,
                        write_mb_s=len(data) / 1e6 / (t1 - t0), read_mb_s=len(data) / 1e6 / (t2 - t1))


# -- checks ------------------------------------------------------------------------------------


def _err(m: Measurement | None) -> str:
    if m is None:
        return "not run"
    text = m.error or "?"
    return "failed: " + (text if len(text) <= 200 else text[:197] + "...")


EXACT_SUMS = ("clean_rows", "quarantined", "duplicates_dropped", "id_sum", "quantity_sum",
              "weekday_sum", "lower_case_countries", "daily_rows", "daily_orders")


def _checksum_figures(res: dict[str, Measurement]) -> tuple[list[Figure], bool]:
    ok = {k: m for k, m in res.items() if m.ok}
    if not ok:
        return [], False
    table = {k: m.extras for k, m in ok.items()}
    first = next(iter(table))
    bad = []
    for key in EXACT_SUMS:
        vals = {k: e.get(key) for k, e in table.items()}
        if len(set(vals.values())) > 1:
            bad.append(f"{key}: {vals}")
    for key in ("revenue_total", "daily_revenue"):
        vals = {k: float(e.get(key) or 0) for k, e in table.items()}
        ref = vals[first]
        if any(abs(v - ref) > max(1e-9 * abs(ref), 0.05) for v in vals.values()):
            bad.append(f"{key}: {vals}")
    e = table[first]
    summary = (f"{e['clean_rows']:,.0f} clean, {e['quarantined']:,.0f} quarantined, "
               f"{e['duplicates_dropped']:,.0f} duplicates dropped, {e['daily_rows']:,.0f} "
               f"daily rows, revenue {e['revenue_total']:,.2f}")
    names = ", ".join(ok)
    print(f"[etl.orders] checksums ({names}):")
    for k, ex in table.items():
        print(f"  {k:>16}: " + ", ".join(f"{key}={_num(ex.get(key))}" for key in
                                         (*EXACT_SUMS, "revenue_total", "daily_revenue")))
    if bad:
        return [Figure("cross-engine checksums", "MISMATCH: " + "; ".join(bad)[:600],
                       f"engines {names}", "all agree", False)], False
    return [Figure("cross-engine checksums (counts and totals)", f"all {len(ok)} agree: "
                   + summary, f"engines {names}", "all agree", True)], True


def _num(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return f"{v:.0f}"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _orders_check(res: dict[str, Measurement]) -> list[Figure]:
    figs, _ = _checksum_figures(res)
    dm = res.get("datamill")
    hand = {k: m for k, m in res.items() if m.role == "baseline" and m.ok}
    if dm is None or not dm.ok:
        return [Figure("wall time vs fastest hand-written engine", _err(dm), "",
                       f"≤ {ORDERS_GOAL_RATIO}x", False), *figs]
    rows = dm.extras.get("rows") or 1
    base_txt = " · ".join(f"{k} {m.seconds:.2f} s" for k, m in
                          sorted(hand.items(), key=lambda kv: kv[1].seconds))
    if hand:
        fast_name, fast = min(hand.items(), key=lambda kv: kv[1].seconds)
        ratio = dm.seconds / fast.seconds
        figs.insert(0, Figure(f"wall time vs fastest hand-written engine ({fast_name})",
                              f"{dm.seconds:.2f} s = {ratio:.2f}x ({rows / dm.seconds / 1e6:.2f}M "
                              "rows/s)", base_txt, f"≤ {ORDERS_GOAL_RATIO}x",
                              ratio <= ORDERS_GOAL_RATIO))
    duck = res.get("duckdb")
    per_row = dm.rss_growth_mb * 1024 * 1024 / rows
    if duck is not None and duck.ok:
        d_row = duck.rss_growth_mb * 1024 * 1024 / rows
        figs.insert(1, Figure("peak RSS growth per input row", f"{per_row:.0f} B/row "
                              f"({dm.rss_growth_mb:,.0f} MB)",
                              f"duckdb {d_row:.0f} B/row ({duck.rss_growth_mb:,.0f} MB)",
                              "≤ DuckDB's", per_row <= d_row))
    for k, m in hand.items():
        figs.append(Figure("wall time, peak RSS growth per input row",
                           f"{m.seconds:.2f} s, {m.rss_growth_mb * 1024 * 1024 / rows:.0f} B/row",
                           contender=k))
    for k, m in res.items():
        if not m.ok and k != "datamill":
            figs.append(Figure("wall time", _err(m), contender=k))
    from bench.etl_steps import steps_figures

    figs += steps_figures(res, fused_name="datamill")
    steps = {k[5:]: v for k, v in dm.extras.items() if k.startswith("step ")}
    if steps:
        figs.append(Figure("where datamill's time goes (median per step)",
                           " · ".join(f"{k} {v:.2f} s" for k, v in steps.items()),
                           f"run total {dm.seconds:.2f} s (rest: engine, checkpoints, run store)"))
    return figs


def _rate_check(goal: float, reference: float | None = None) -> Any:
    def check(res: dict[str, Measurement]) -> list[Figure]:
        dm = res.get("datamill")
        pandera = res.get("pandera")
        if dm is None or not dm.ok:
            return [Figure("rows/s", _err(dm), "", f"≥ {goal:g}x pandera", False)]
        rate = dm.extras["rows"] / dm.seconds
        if pandera is not None and pandera.ok:
            base = pandera.extras["rows"] / pandera.seconds
            base_txt = f"pandera {base / 1e6:.2f}M rows/s (measured)"
        else:
            base = reference or 0.0
            base_txt = f"pandera {base / 1e6:.1f}M rows/s (issue's reference, not measured here)"
        figs = [Figure("contract check + quarantine written, rows/s",
                       f"{rate / 1e6:.2f}M rows/s ({dm.seconds:.2f} s for "
                       f"{dm.extras['rows']:,.0f} rows; {dm.extras.get('bad', 0):,.0f} bad rows)",
                       base_txt, f"≥ {goal:g}x pandera = {goal * base / 1e6:.1f}M rows/s",
                       rate >= goal * base),
                Figure("peak RSS growth", f"{dm.rss_growth_mb:,.0f} MB")]
        if reference and pandera is not None and pandera.ok:
            figs.insert(1, Figure("same, against the issue's pandera figure",
                                  f"{rate / 1e6:.2f}M rows/s",
                                  f"pandera {reference / 1e6:.0f}M rows/s (issue, other schema)",
                                  f"≥ {goal * reference / 1e6:.0f}M rows/s",
                                  rate >= goal * reference))
        if dm.extras.get("quarantined") != dm.extras.get("bad"):
            figs.append(Figure("quarantine rows = bad rows",
                               f"{dm.extras.get('quarantined')} vs {dm.extras.get('bad')}",
                               "", "equal", False))
        if pandera is not None and not pandera.ok:
            figs.append(Figure("rows/s", _err(pandera), contender="pandera"))
        elif pandera is not None:
            figs.append(Figure("lazy validation rows/s", f"{base / 1e6:.2f}M rows/s "
                               f"({pandera.extras.get('failure_cases', 0):,.0f} failure cases)",
                               contender="pandera"))
        return figs

    return check


PG_GOALS = {"append": 1_000_000, "replace": 1_000_000, "merge": 300_000}


PG_RAW = [("raw adbc", "adbc", 0, ("adbc-driver-postgresql", "pyarrow")),
          ("raw adbc 64k batches", "adbc", 65_536, ("adbc-driver-postgresql", "pyarrow")),
          ("raw psycopg csv copy", "psycopg", 0, ("psycopg", "pyarrow"))]


def _pg_check(res: dict[str, Measurement]) -> list[Figure]:
    base = res.get("pandas.to_sql")
    base_txt = (f"pandas.to_sql {base.extras['rows'] / base.seconds / 1e3:,.0f}k rows/s "
                f"({base.extras['rows']:,.0f} rows)") if base and base.ok else _err(base)
    raw = res.get("raw adbc")
    raw_rate = raw.extras["rows"] / raw.seconds if raw is not None and raw.ok else None
    if raw_rate:
        base_txt += f"; raw ADBC adbc_ingest {raw_rate / 1e6:.2f}M rows/s"
    figs = []
    for name, *_ in PG_RAW:
        m = res.get(name)
        figs.append(Figure("append rows/s (no datamill)", _err(m) if m is None or not m.ok else
                           f"{m.extras['rows'] / m.seconds / 1e6:.2f}M rows/s ({m.seconds:.2f} s "
                           f"for {m.extras['rows']:,.0f} rows)", contender=name))
    for mode, goal in PG_GOALS.items():
        m = res.get(f"datamill {mode}")
        if m is None or not m.ok:
            figs.append(Figure(f"{mode} rows/s", _err(m), base_txt, f"≥ {goal / 1e6:g}M rows/s",
                               False))
            continue
        rate = m.extras["rows"] / m.seconds
        val = f"{rate / 1e6:.2f}M rows/s ({m.seconds:.2f} s for {m.extras['rows']:,.0f} rows)"
        if mode == "merge" and m.extras.get("merge_existing_s"):
            again = m.extras["rows"] / m.extras["merge_existing_s"]
            val += f"; again with the same keys {again / 1e6:.2f}M rows/s"
        if raw_rate and mode != "merge":
            val += f"; {rate / raw_rate:.2f}x raw ADBC"
        figs.append(Figure(f"{mode} rows/s", val, base_txt, f"≥ {goal / 1e6:g}M rows/s",
                           rate >= goal))
    return figs


def _http_check(res: dict[str, Measurement]) -> list[Figure]:
    figs = []
    dm, plain = res.get("datamill http"), res.get("plain http")
    plain_txt = (f"http.client + json + from_pylist {plain.extras['records'] / plain.seconds / 1e3:,.0f}k "
                 "records/s") if plain and plain.ok else _err(plain)
    if dm and dm.ok:
        rate = dm.extras["records"] / dm.seconds
        figs.append(Figure("paginated API → Parquet lake, records/s",
                           f"{rate / 1e3:,.0f}k records/s ({dm.extras['records']:,.0f} records, "
                           f"{dm.extras.get('json_mb', 0):g} MB JSON, {dm.seconds:.2f} s)",
                           plain_txt, "≥ 250k records/s", rate >= 250_000))
    else:
        figs.append(Figure("paginated API → Parquet lake", _err(dm), plain_txt,
                           "≥ 250k records/s", False))
    gen, bare = res.get("datamill generator"), res.get("bare generator")
    bare_txt = (f"bare generator {bare.extras['records'] / bare.seconds / 1e6:.2f}M dicts/s"
                if bare and bare.ok else _err(bare))
    if gen and gen.ok:
        rate = gen.extras["records"] / gen.seconds
        figs.append(Figure("generator of dicts → Arrow batches → io.write, dicts/s",
                           f"{rate / 1e3:,.0f}k dicts/s ({gen.extras['records']:,.0f} dicts)",
                           bare_txt, "≥ 500k dicts/s", rate >= 500_000))
    else:
        figs.append(Figure("generator → io.write", _err(gen), bare_txt, "≥ 500k dicts/s", False))
    d = res.get("dlt")
    if d is not None:
        figs.append(Figure("pipeline.run(generator) → filesystem Parquet, dicts/s",
                           f"{d.extras['records'] / d.seconds / 1e3:,.0f}k dicts/s" if d.ok
                           else _err(d), contender="dlt"))
    return figs


def _s3_check(res: dict[str, Measurement]) -> list[Figure]:
    figs = []
    for name, label in (("datamill", "io.write / io.read"), ("boto3", "put_object / get_object")):
        m = res.get(name)
        if m is None or not m.ok:
            figs.append(Figure("S3 throughput", _err(m), contender=name))
            continue
        e = m.extras
        figs.append(Figure(f"{label} of a {e['object_mb']:g} MB Parquet object (moto)",
                           f"write {e['write_mb_s']:.0f} MB/s ({e['write_s']:.2f} s), "
                           f"read {e['read_mb_s']:.0f} MB/s ({e['read_s']:.2f} s)",
                           "" if name == "datamill" else "raw bytes, no Parquet encode/decode",
                           contender=name))
    return figs


# -- declarations ------------------------------------------------------------------------------

_MOD = "bench.etl"
_ORD = {"rows": ORDERS_FULL, "quick_rows": ORDERS_QUICK}

_ORDERS_METHOD = (
    f"A deterministic orders CSV ({ORDERS_FULL:,} rows full, {ORDERS_QUICK:,} with `--quick`; "
    f"cached in `{CACHE}`): id, ts (ISO text), country, quantity, price. 1% of the rows are "
    "exact copies of a row 1-50 rows earlier; ~0.5% of timestamps are malformed (impossible "
    "dates such as `2024-02-30T08:15:00`, `2023-02-29`, month 13, hour 25, garbage), ~0.5% "
    "negative quantities, ~1% null prices, country codes in upper/lower/title case. Job: drop "
    "duplicate ids (first kept) → parse ts strictly (bad → quarantine) → reject quantity < 1, "
    "null or negative price (quarantined with a reason) → upper-case country → revenue, date, "
    "weekday → clean Parquet (zstd) + daily aggregate by date and country. Each engine writes "
    "clean.parquet, daily.parquet and its quarantine; an untimed verifier reads them back the "
    "same way for every engine and the checksums (row counts, sums of id, quantity, weekday, "
    "revenue, daily rows and orders) must agree. datamill: a real `datamill.run` of a "
    "two-task pipeline in a fresh project, checkpoints on: `etl_clean` (`io.read` of the CSV, "
    "`transform.dedupe`, `quality.check` with a YAML contract and `Quarantine`, "
    "`pl.from_arrow(result.good, rechunk=False)`, `transform.normalize_text`, a Polars "
    "expression for revenue, `transform.date_features`, `io.write` of the clean Parquet; each "
    "step's input is released (`del`) once the next step has its output) and `etl_daily` "
    "(`io.read` of 4 columns, `transform.aggregate`, `io.write`). datamill per-step (issue #15): "
    "the same calls one task per step (`bench.etl_steps`: raw_orders, deduped, checked, "
    "normalized, derived, clean_file, daily), every intermediate table checkpointed with the "
    "defaults (Arrow IPC, written in the background). Hand-written: Polars (eager `read_csv`, "
    "`str.strptime(strict=False)`), DuckDB (`read_csv`, `try_strptime`, temp tables, `COPY`), "
    "pandas with `engine='pyarrow', dtype_backend='pyarrow'`, plain pandas (`read_csv` "
    "defaults); pandas and Polars reject Feb 30 themselves (not `pyarrow.compute.strptime`, "
    "which turns it into Mar 1).")

def _contract_contenders(kind: str) -> list[Contender]:
    """datamill and pandera (peer, one repeat, always 10M rows) on the same input kind."""
    return [
        Contender("datamill", f"{_MOD}:dm_contract", {**_ORD, "kind": kind},
                  packages=DM_PACKAGES, repeats=3, timeout=1800),
        Contender("pandera", f"{_MOD}:peer_pandera",
                  {"rows": ORDERS_FULL, "quick_rows": ORDERS_FULL, "kind": kind}, role="peer",
                  packages=("pandera", "pandas", "pyarrow"), repeats=1, warmup=0, timeout=1200),
    ]


BENCHMARKS = [
    Benchmark(
        name="etl.orders", issue=3,
        title="the reference orders job: CSV → dedupe → strict parse → quarantine → derive → "
              "clean Parquet + daily aggregate",
        goal=f"datamill within {ORDERS_GOAL_RATIO}x of the fastest hand-written engine; peak "
             "memory no more than DuckDB's",
        contenders=[
            Contender("datamill", f"{_MOD}:dm_orders", _ORD, packages=DM_PACKAGES, repeats=2,
                      timeout=1800),
            # issue #15: the same job one task per step (bench.etl_steps)
            Contender("datamill per-step", "bench.etl_steps:dm_pipeline",
                      {"kind": "steps", "shape": "own", **_ORD}, packages=DM_PACKAGES,
                      repeats=2, timeout=1800),
            Contender("polars", f"{_MOD}:engine_orders", {"engine": "polars", **_ORD},
                      role="baseline", packages=("polars",), repeats=2, timeout=1800),
            Contender("duckdb", f"{_MOD}:engine_orders", {"engine": "duckdb", **_ORD},
                      role="baseline", packages=("duckdb",), repeats=2, timeout=1800),
            Contender("pandas+arrow", f"{_MOD}:engine_orders", {"engine": "pandas_arrow", **_ORD},
                      role="baseline", packages=("pandas",), repeats=2, timeout=1800),
            Contender("pandas", f"{_MOD}:engine_orders", {"engine": "pandas", **_ORD},
                      role="baseline", packages=("pandas",), repeats=2, timeout=1800),
        ],
        check=_orders_check, method=_ORDERS_METHOD,
        reference=[("issue #3 (10M rows, quiet machine)", "Polars 7.2 s, DuckDB 7.3 s, "
                    "pandas+Arrow 10.8 s, plain pandas 15.5 s; 9,703,770 clean rows")],
    ),
    Benchmark(
        name="etl.pg_load", issue=3,
        title="loading 1M clean rows into PostgreSQL: append, replace, merge",
        goal="≥ 1M rows/s append and replace; ≥ 300k rows/s merge",
        contenders=[
            *[Contender(f"datamill {mode}", f"{_MOD}:dm_pg_load",
                        {"mode": mode, "rows": 1_000_000, "quick_rows": 200_000},
                        packages=("datamill", "adbc-driver-postgresql"), repeats=3)
              for mode in PG_GOALS],
            Contender("pandas.to_sql", f"{_MOD}:pandas_to_sql",
                      {"rows": 100_000, "quick_rows": 20_000}, role="baseline",
                      packages=("pandas", "sqlalchemy", "psycopg"), repeats=2),
            *[Contender(name, f"{_MOD}:raw_pg_load",
                        {"driver": drv, "chunk": chunk, "rows": 1_000_000, "quick_rows": 200_000},
                        role="baseline", packages=pkgs, repeats=3)
              for name, drv, chunk, pkgs in PG_RAW],
        ],
        check=_pg_check, method=(
            "A fresh database per contender (created and dropped by the child) on the local "
            "PostgreSQL 15; 1M clean orders (id, ts, country, quantity, price, revenue, date; "
            "200k with `--quick`). Timed: `io.write('postgresql://...#public.orders', table, "
            "mode=...)`. append: into the existing empty table (truncated, untimed, before each "
            "repeat); replace: over the existing table; merge (`key=['id']`): 1M new keys into "
            "the truncated table that has its unique key index; the same merge again (all keys "
            "matched, values unchanged) is reported beside it. Count and sum(quantity) are "
            "checked after each write. Baseline: `pandas.DataFrame.to_sql` (SQLAlchemy + "
            "psycopg 3, default method) of 100k rows (20k quick) into an existing table, "
            "reported as rows/s. Raw drivers, no datamill, same table and rows, append into "
            "the existing truncated table, connect + load + commit timed: ADBC "
            "`cursor.adbc_ingest(mode='append')` of the table as it is (one 1M-row batch) and "
            "re-cut into 64k-row batches (client encoding then overlaps the server's COPY); "
            "psycopg 3 `COPY ... FROM STDIN (FORMAT csv)` of `pyarrow.csv.write_csv` output "
            "(the CSV encoding is timed)."),
    ),
    Benchmark(
        name="etl.contract", issue=3,
        title="contract check with quarantine on the raw orders table",
        goal="datamill rows/s ≥ 2x pandera's",
        contenders=_contract_contenders("raw"),
        check=_rate_check(2.0, reference=7_000_000), method=(
            "The raw orders table of `etl.orders` (10M rows, 1M quick; duplicates, bad "
            "timestamps, negative quantities, null prices included) read into Arrow before "
            "timing. Timed: `check(contract, table, quarantine=Quarantine(tmp))` with a "
            "contract using every column rule kind (id int not null unique; ts datetime "
            "parsed strictly from text; country regex; quantity int 1..10000; price float not "
            "null ≥ 0) and one expression rule (`quantity * price < 1000000`): good rows "
            "coerced, bad rows written as Parquet with their reasons. pandera (peer, "
            "`--peers`): `DataFrameSchema.validate(df, lazy=True)` of the same schema on a "
            "pandas DataFrame from `read_csv`, nothing written, one repeat; its ts check is an "
            "ISO regex (weaker: Feb 30 passes) because `coerce=True` to datetime did not finish "
            "1M rows in 5 minutes."),
        reference=[("pandera", "7M rows/s"), ("Great Expectations", "0.4M rows/s")],
    ),
    Benchmark(
        name="etl.contract.typed", issue=3,
        title="contract check with quarantine on the orders table with typed columns",
        goal="datamill rows/s ≥ 2x pandera's (typed columns: no text parsed on either side)",
        contenders=_contract_contenders("typed"),
        check=_rate_check(2.0, reference=7_000_000), method=(
            "As `etl.contract`, but the ts column arrives already typed (a timestamp, "
            "malformed values null; parsed before timing), as from Parquet or a database, so "
            "no text is parsed on either side: datamill checks the same contract (ts datetime "
            "not null) and writes the quarantine; pandera validates `ts` as a non-null "
            "`datetime64[ns]` column of a DataFrame parsed the same way, the other columns "
            "and the expression as in `etl.contract`, nothing written."),
        reference=[("pandera", "7M rows/s")],
    ),
    Benchmark(
        name="etl.contract.clean", issue=3,
        title="contract check of 10M typed orders that are all good",
        goal="datamill rows/s ≥ 2x pandera's (no bad rows: nothing to quarantine)",
        contenders=_contract_contenders("clean"),
        check=_rate_check(2.0, reference=7_000_000), method=(
            "The clean orders of `etl.pg_load` (10M rows: id ascending, ts a timestamp, "
            "country two upper-case letters, quantity 1..20, price ≥ 0), every row passing "
            "the contract of `etl.contract`; datamill: `check(contract, table, "
            "quarantine=...)` (nothing to write); pandera: `validate(df, lazy=True)` of the "
            "same rules on the same rows as a pandas DataFrame (ts `datetime64[ns]`)."),
        reference=[("pandera", "7M rows/s")],
    ),
    Benchmark(
        name="etl.http_ingest", issue=3,
        title="JSON records from a paginated local API into a Parquet lake; a generator of "
              "dicts through io.write",
        goal="≥ 250k records/s from the API end to end; ≥ 500k dicts/s from a generator",
        contenders=[
            Contender("datamill http", f"{_MOD}:dm_http",
                      {"records": 500_000, "quick_records": 100_000},
                      packages=("datamill", "pyarrow"), repeats=3),
            Contender("plain http", f"{_MOD}:plain_http",
                      {"records": 500_000, "quick_records": 100_000}, role="baseline",
                      packages=("pyarrow",), repeats=3),
            Contender("datamill generator", f"{_MOD}:dm_generator",
                      {"records": 1_000_000, "quick_records": 200_000},
                      packages=("datamill", "pyarrow"), repeats=3),
            Contender("bare generator", f"{_MOD}:bare_generator",
                      {"records": 1_000_000, "quick_records": 200_000}, role="baseline",
                      repeats=3),
            Contender("dlt", f"{_MOD}:peer_dlt", {"records": 1_000_000, "quick_records": 1_000_000},
                      role="peer", packages=("dlt",), repeats=1, timeout=900),
        ],
        check=_http_check, method=(
            f"A `ThreadingHTTPServer` on 127.0.0.1 in the child serves pre-encoded JSON pages of "
            f"{PAGE:,} records (`{{data: {{items: [...]}}, meta: {{total}}}}`; id, ts, country, "
            "quantity, price and a nested customer object; ~1.5 MB per page); 500k records "
            "(100k quick). Timed: `io.write(lake + '/orders/', io.read_batches(url, "
            "pagination='page', page_size=10000, records_path='data.items', "
            "total_path='meta.total'))`, rows checked in the written files. Baseline: "
            "http.client + json.loads + `pa.Table.from_pylist` per page and one "
            "`pq.write_table`. Generator: 1M flat dicts (200k quick) from a Python generator, "
            "batched by 50k with `pa.RecordBatch.from_pylist` and written by `io.write(folder, "
            "batches)`; baseline: iterating the bare generator. dlt (peer, `--peers`): "
            "`pipeline.run(generator, loader_file_format='parquet')` into a local filesystem "
            "destination."),
        reference=[("bare generator (issue)", "1.4M dicts/s"), ("dlt", "37-51k dicts/s")],
    ),
    Benchmark(
        name="etl.s3", issue=3,
        title="S3 (moto server on loopback) write and read of a 100 MB Parquet object",
        goal="informative: MB/s",
        contenders=[
            Contender("datamill", f"{_MOD}:dm_s3", {"mb": 100, "quick_mb": 20},
                      packages=("datamill", "s3fs", "moto"), repeats=3),
            Contender("boto3", f"{_MOD}:boto3_s3", {"mb": 100, "quick_mb": 20}, role="baseline",
                      packages=("boto3", "moto"), repeats=3),
        ],
        check=_s3_check, method=(
            "A moto `ThreadedMotoServer` on a loopback port in the child (the S3 API in the "
            "same process, objects in memory). A table of random float64 and int64 columns "
            "(incompressible: ~100 MB as Parquet, 20 MB quick). Timed: `io.write('s3://bench/"
            "lake/orders.parquet', table, mode='replace')` then `io.read` of it; MB/s are the "
            "object's size over each part. Baseline: the same Parquet bytes through boto3 "
            "`put_object` / `get_object` (transfer only)."),
    ),
]
