"""SQL transforms on DuckDB, and .sql files as pipeline tasks in a real run."""

from __future__ import annotations

import pickle

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import datamill
from datamill import Pipeline, task
from datamill.errors import UsageError
from datamill.transform import referenced_tables, sql, sql_task

ORDERS = {"order_id": [1, 2, 3, 4], "customer_id": [10, 10, 20, 30], "amount": [5.0, 7.5, 3.0, 1.0]}
CUSTOMERS = {"customer_id": [10, 20], "country": ["FR", "DE"]}
QUERY = """
    select c.country, sum(o.amount) as revenue, count(*) as n
    from orders o join customers c using (customer_id)
    group by c.country order by c.country
"""


@pytest.mark.parametrize("make", [pd.DataFrame, pl.DataFrame, pa.table])
def test_sql_over_two_tables_returns_same_kind(make):
    out = sql(QUERY, orders=make(ORDERS), customers=make(CUSTOMERS))
    assert type(out) is type(make(CUSTOMERS))
    got = pl.from_pandas(out) if isinstance(out, pd.DataFrame) else pl.DataFrame(out)
    assert got.to_dict(as_series=False) == {"country": ["DE", "FR"], "revenue": [3.0, 12.5],
                                            "n": [1, 2]}


def test_sql_output_override_and_mixed_inputs():
    out = sql(QUERY, output="polars", orders=pd.DataFrame(ORDERS), customers=pa.table(CUSTOMERS))
    assert isinstance(out, pl.DataFrame)
    assert out["revenue"].to_list() == [3.0, 12.5]
    assert isinstance(sql("select 42 as x"), pa.Table)


def test_sql_unknown_table_names_the_tables_given():
    with pytest.raises(UsageError, match=r"orderz.*tables given: orders"):
        sql("select * from orderz", orders=pl.DataFrame(ORDERS))
    with pytest.raises(UsageError, match="output must be"):
        sql("select 1", output="excel")


def test_referenced_tables_uses_the_parser():
    q = """
        with recent as (select * from orders where amount > 2)
        select * from recent r
        join customers using (customer_id)
        join read_parquet('x.parquet') p on true
        where customer_id in (select customer_id from vip)
          and customer_id not in (select id from other_schema.blocked)
    """
    assert referenced_tables(q) == ["customers", "orders", "vip"]
    with pytest.raises(UsageError, match="cannot parse"):
        referenced_tables("selec oops")


def test_sql_task_detects_inputs_and_runs_in_a_pipeline(tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    f = models / "revenue_by_country.sql"
    f.write_text("-- Revenue per country\n" + QUERY + ";\n")

    @task
    def orders():
        return pd.DataFrame(ORDERS)

    @task
    def customers():
        return pl.DataFrame(CUSTOMERS)

    rev = sql_task(f)
    assert rev.name == "revenue_by_country"
    assert list(rev.signature.parameters) == ["customers", "orders"]
    assert rev.description == "Revenue per country"

    @task
    def total(revenue_by_country):
        return float(pa.compute.sum(revenue_by_country["revenue"]).as_py())

    result = datamill.run(Pipeline("sqlp", [orders, customers, rev, total]),
                          project=tmp_path, handle_signals=False)
    assert result.ok, result.states
    out = result.output("revenue_by_country")
    assert isinstance(out, pa.Table)
    assert out.to_pydict() == {"country": ["DE", "FR"], "revenue": [3.0, 12.5], "n": [1, 2]}
    assert result.output("total") == 15.5

    # a second run reuses the checkpoint; editing the SQL recomputes it
    again = datamill.run(Pipeline("sqlp", [orders, customers, rev, total]),
                         project=tmp_path, handle_signals=False)
    assert str(again.states["revenue_by_country"]).lower().endswith("cached")
    f.write_text(QUERY.replace("sum(o.amount)", "max(o.amount)"))
    edited = sql_task(f)
    third = datamill.run(Pipeline("sqlp", [orders, customers, edited, total]),
                         project=tmp_path, handle_signals=False)
    assert third.ok
    assert third.output("revenue_by_country").column("revenue").to_pylist() == [3.0, 7.5]


def test_sql_task_from_string_with_explicit_inputs(tmp_path):
    @task
    def raw_orders():
        return pa.table(ORDERS)

    big = sql_task("select order_id from o where amount > 4 order by order_id", name="big",
                   inputs={"o": "raw_orders"}, output="pandas")
    listed = sql_task("select count(*) as n from raw_orders", name="n_orders",
                      inputs=["raw_orders"])
    result = datamill.run(Pipeline("s2", [raw_orders, big, listed]), project=tmp_path,
                          handle_signals=False)
    assert result.ok, result.states
    assert result.output("big")["order_id"].tolist() == [1, 2]
    assert result.output("n_orders").to_pydict() == {"n": [4]}


def test_sql_task_errors_and_pickling(tmp_path):
    with pytest.raises(UsageError, match="give name="):
        sql_task("select 1")
    with pytest.raises(UsageError, match="no such SQL file"):
        sql_task(str(tmp_path / "missing.sql"))
    t = sql_task("select * from a join b using (id)", name="ab")
    clone = pickle.loads(pickle.dumps(t.fn))
    out = clone(a=pl.DataFrame({"id": [1]}), b=pl.DataFrame({"id": [1], "v": ["x"]}))
    assert out.to_pydict() == {"id": [1], "v": ["x"]}
    assert repr(clone) == repr(t.fn)  # the fingerprint sees the query's hash
