"""Contracts: each rule type, coercion that rejects instead of nulling, thresholds, loading."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.errors import UsageError
from datamill.quality import Column, Contract, Rule, Schema, check, load_contract


def _bad_rules(result) -> dict[int, list[str]]:
    b = result.bad.to_pydict()
    return dict(zip(b["_dm_row"], b["_dm_rules"], strict=True))


def test_feb_30_is_rejected_with_rule_type_not_rolled_over():
    c = Contract("t", [Column("ts", "datetime")])
    t = pa.table({"ts": ["2024-02-28T08:15:00", "2024-02-30T08:15:00", None, "2024-02-29 23:00:00"]})
    r = check(c, t)
    assert r.good.column("ts").to_pylist() == [dt.datetime(2024, 2, 28, 8, 15), None,
                                               dt.datetime(2024, 2, 29, 23, 0)]
    assert r.bad.column("_dm_rule").to_pylist() == ["type"]
    assert r.bad.column("_dm_column").to_pylist() == ["ts"]
    assert r.bad.column("ts").to_pylist() == ["2024-02-30T08:15:00"]  # as it came
    assert "2024-02-30T08:15:00" in r.bad.column("_dm_reason")[0].as_py()
    assert r.good.schema.field("ts").type == pa.timestamp("us")


def test_feb_30_with_explicit_format_is_rejected():
    c = Contract("t", [Column("ts", "datetime", format="%d/%m/%Y %H:%M")])
    r = check(c, pa.table({"ts": ["28/02/2024 08:15", "30/02/2024 08:15"]}))
    assert r.good.num_rows == 1 and r.bad.column("_dm_rule").to_pylist() == ["type"]


@pytest.mark.parametrize("kind,values,good,bad", [
    ("int", ["1", "-7", "1.5", "x", None], [1, -7, None], ["1.5", "x"]),
    ("float", ["1.5", "1e3", "abc", None], [1.5, 1000.0, None], ["abc"]),
    ("bool", ["true", "No", "maybe"], [True, False], ["maybe"]),
    ("date", ["2024-02-29", "2023-02-29", "2024-02-28T10:00:00"], [dt.date(2024, 2, 29)],
     ["2023-02-29", "2024-02-28T10:00:00"]),
    ("decimal", ["1.25", "1.234", "12"], [Decimal("1.25"), Decimal("12.00")], ["1.234"]),
])
def test_text_coercion_rejects_values_that_do_not_parse(kind, values, good, bad):
    col = Column("v", kind, precision=10, scale=2) if kind == "decimal" else Column("v", kind)
    r = check(Contract("t", [col]), pa.table({"v": pa.array(values, pa.string())}))
    assert r.good.column("v").to_pylist() == good
    assert r.bad.column("v").to_pylist() == bad
    assert set(r.bad.column("_dm_rule").to_pylist()) <= {"type"}


def test_lossy_numeric_conversion_is_rejected():
    r = check(Contract("t", [Column("v", "int")]), pa.table({"v": [1.0, 2.5, float("nan")]}))
    assert r.good.column("v").to_pylist() == [1]
    assert len(r.bad) == 2


def test_datetime_with_timezone_converts_offsets_and_localises_naive_text():
    c = Contract("t", [Column("ts", "datetime", tz="UTC")])
    r = check(c, pa.table({"ts": ["2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00"]}))
    assert r.bad.num_rows == 0
    got = r.good.column("ts").to_pylist()
    assert [v.hour for v in got] == [8, 10]
    assert r.good.schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_not_null():
    c = Contract("t", [Column("a", "int", nullable=False)])
    r = check(c, pa.table({"a": [1, None, 3]}))
    assert r.bad.column("_dm_rule").to_pylist() == ["not_null"]
    assert r.bad.column("_dm_reason")[0].as_py() == "a is null but the column is required"


def test_range_inclusive_and_exclusive():
    t = pa.table({"q": [0, 1, 10, 11]})
    inc = check(Contract("t", [Column("q", "int", min=1, max=10)]), t)
    assert inc.good.column("q").to_pylist() == [1, 10]
    assert inc.bad.column("_dm_rule").to_pylist() == ["range", "range"]
    exc = check(Contract("t", [Column("q", "int", min=0, max=11, inclusive=False)]), t)
    assert exc.good.column("q").to_pylist() == [1, 10]
    assert "q = 0 is out of range (0 < q < 11)" == exc.bad.column("_dm_reason")[0].as_py()


def test_allowed_values_and_regex():
    c = Contract("t", [Column("c", allowed=["DE", "FR"]), Column("z", regex=r"[0-9]{5}")])
    r = check(c, pa.table({"c": ["DE", "US", None], "z": ["12345", "1234", "123456"]}))
    assert _bad_rules(r) == {1: ["allowed:c", "regex:z"], 2: ["regex:z"]}
    assert r.bad.column("_dm_rule").to_pylist() == ["allowed", "regex"]  # the first failure


def test_unique_single_column_keeps_first_occurrence():
    c = Contract("t", [Column("id", "int", unique=True)])
    r = check(c, pa.table({"id": [3, 1, 3, None, None, 1]}))
    assert r.good.column("id").to_pylist() == [3, 1, None, None]  # nulls are not duplicates
    assert r.bad.column("_dm_row").to_pylist() == [2, 5]
    assert r.bad.column("_dm_rule").to_pylist() == ["unique", "unique"]


def test_unique_composite_key():
    c = Contract("t", [Column("a", "int"), Column("b")], unique=[["a", "b"]])
    r = check(c, pa.table({"a": [1, 1, 1, 2], "b": ["x", "y", "x", "x"]}))
    assert r.bad.column("_dm_row").to_pylist() == [2]
    assert r.bad.column("_dm_rules").to_pylist() == [["unique:a,b"]]


def test_expression_rule_over_coerced_types():
    c = Contract("t", [Column("quantity", "int"), Column("price", "float"), Column("d", "date")],
                 rules=[Rule("positive", "quantity > 0 AND price >= 0"),
                        Rule("recent", "d >= DATE '2024-01-01'")])
    t = pa.table({"quantity": ["1", "0", "2", None], "price": [1.0, 1.0, -1.0, 1.0],
                  "d": ["2024-05-01", "2024-05-01", "2023-01-01", "2024-01-01"]})
    r = check(c, t)
    assert _bad_rules(r) == {1: ["expression:positive"],
                             2: ["expression:positive", "expression:recent"]}
    assert r.good.num_rows == 2  # a NULL result passes, as in a SQL CHECK
    assert "quantity > 0 AND price >= 0" in r.bad.column("_dm_reason")[0].as_py()


def test_expression_syntax_error_is_named_at_load_time():
    with pytest.raises(UsageError, match=r"rule 'broken'.*quantity >"):
        Contract("t", [Column("quantity", "int")], rules=[Rule("broken", "quantity > AND 1")])
    with pytest.raises(UsageError, match=r"rule 'typo'.*quantty"):
        Contract("t", [Column("quantity", "int")], rules=[Rule("typo", "quantty > 0")])


@pytest.mark.parametrize("expr", [
    "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0",
    "quantity > 0; DROP TABLE batch",
    "getenv('HOME') IS NOT NULL",
])
def test_expressions_are_sandboxed(expr):
    with pytest.raises(UsageError):
        Contract("t", [Column("quantity", "int")], rules=[Rule("evil", expr)])


def test_threshold_pass_and_fail():
    t = pa.table({"q": list(range(1, 100)) + [-1]})  # 1 bad of 100
    ok = check(Contract("t", [Column("q", "int", min=0)], max_bad_share=0.01), t)
    assert ok.passed and ok.error_rate == pytest.approx(0.01)
    strict = check(Contract("t", [Column("q", "int", min=0)], max_bad_share=0.005), t)
    assert not strict.passed and "FAILED" in strict.summary()


def test_metrics_go_through_the_run_context():
    class Ctx:
        run_id, key = "run1", "load"

        def __init__(self):
            self.metrics = {}

        def metric(self, name, value, **labels):
            self.metrics[name] = value

    ctx = Ctx()
    check(Contract("t", [Column("q", "int", min=0)]), pa.table({"q": [1, -1, 2, -3]}), ctx=ctx)
    assert ctx.metrics["rows_rejected"] == 2
    assert ctx.metrics["error_rate"] == 0.5


def test_accepts_pandas_and_polars():
    import pandas as pd
    import polars as pl

    c = Contract("t", [Column("q", "int", min=0)])
    assert check(c, pd.DataFrame({"q": [1, -1]})).bad_rows == 1
    assert check(c, pl.DataFrame({"q": [1, -1]})).bad_rows == 1


YAML = """\
name: orders
max_bad_share: 0.01
drift: evolve
columns:
  - name: id
    type: int
    nullable: false
    unique: true
  - name: ts
    type: datetime
    tz: UTC
  - {name: country, type: str, allowed: [DE, FR], regex: '^[A-Z]{2}$'}
  - {name: quantity, type: int, min: 1}
  - {name: price, type: decimal, precision: 12, scale: 2, min: "0.00"}
unique:
  - [country, ts]
rules:
  - name: positive
    expr: quantity > 0 AND price >= 0
"""


def test_yaml_round_trip(tmp_path: Path):
    f = tmp_path / "orders.yaml"
    f.write_text(YAML)
    c = load_contract(f)
    assert c.name == "orders" and c.drift == "evolve" and c.max_bad_share == 0.01
    assert c.schema["price"].min == Decimal("0.00")
    assert c.unique == [["country", "ts"]] and c.rules[0].name == "positive"
    again = Contract.from_yaml(c.to_yaml())
    assert again == c
    assert Schema.from_arrow(c.schema.to_arrow()).names == c.schema.names
    assert Schema.from_json(c.schema.to_json()) == c.schema


def test_python_contract_file(tmp_path: Path):
    f = tmp_path / "contract.py"
    f.write_text("from datamill.quality import Contract, Column\n"
                 "contract = Contract('py', [Column('a', 'int', min=0)])\n")
    assert load_contract(f).schema["a"].min == 0


@pytest.mark.parametrize("body,needle", [
    ("name: x\ncolumns:\n  - {name: q, type: integer, min: abc}\n", r"column 'q'.*field 'min'"),
    ("name: x\ncolumns:\n  - {name: q, type: money}\n", r"column 'q'.*field 'type'.*money"),
    ("name: x\ncolumns:\n  - {name: q, type: int, nulable: false}\n", r"column 'q'.*'nulable'"),
    ("name: x\ncolumns:\n  - {name: q, type: int, nullable: maybe}\n", r"column 'q'.*'nullable'"),
    ("name: x\ncolumns:\n  - {name: q, type: str, regex: '(['}\n", r"column 'q'.*'regex'"),
    ("name: x\ndrift: explode\ncolumns: [{name: q}]\n", r"field 'drift'"),
    ("name: x\nmax_bad_share: 2\ncolumns: [{name: q}]\n", r"max_bad_share"),
    ("name: x\ncolumns: [{name: q}]\nrules: [{name: r, expr: 'q >'}]\n", r"rule 'r'"),
    ("name: x\ncolumns: [{name: q}]\nunique: [[q, nope]]\n", r"'unique'.*'nope'"),
    ("name: [x\n", r"not valid YAML"),
])
def test_invalid_contract_files_name_file_column_and_field(tmp_path: Path, body, needle):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(UsageError, match=needle) as exc:
        load_contract(f)
    assert str(f) in str(exc.value)


def test_missing_contract_file():
    with pytest.raises(UsageError, match="does not exist"):
        load_contract("/no/such/contract.yaml")


# -- strict ISO parsing: the Polars fast path, the numpy path and Python agree ----------------

_PIECES = st.tuples(
    st.sampled_from(["2024", "2023", "1900", "2000", "0999", "+2024", "20245", "202a"]),
    st.sampled_from(["01", "02", "04", "12", "13", "00", "1", "2"]),
    st.sampled_from(["01", "28", "29", "30", "31", "32", "00", "5"]),
    st.sampled_from(["T", " ", "t", ""]),
    st.sampled_from(["00", "09", "23", "24", "25", "1", " 9"]),
    st.sampled_from(["00", "59", "60", "7"]),
    st.sampled_from([":00", ":59", ":60", ":61", "", ":5", ".5", ":00.123", ":00Z", ":00+01:00"]),
)


def _python_strict(text: str, kind: str) -> tuple[bool, Any]:
    """Reference: (is the canonical layout, its value or None) by datetime.strptime."""
    import re

    if kind == "date":
        shaped, fmt = re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text), "%Y-%m-%d"
    else:
        shaped = re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}", text)
        fmt = f"%Y-%m-%d{text[10:11]}%H:%M:%S"
    if not shaped:
        return False, None
    try:
        v = dt.datetime.strptime(text, fmt)
    except ValueError:
        return True, None
    return True, (v.date() if kind == "date" else v)


@pytest.mark.parametrize("kind", ["date", "datetime"])
@given(values=st.lists(st.one_of(st.none(), _PIECES.map(
    lambda p: f"{p[0]}-{p[1]}-{p[2]}{p[3]}{p[4]}:{p[5]}{p[6]}")), max_size=30))
def test_strict_iso_fast_path_and_fallback_agree(kind, values):
    import datamill.quality.coercion as cm

    if kind == "date":
        values = [v[:10] if v else v for v in values]
    col = Column("v", kind)
    raw = pa.array(values, pa.string())
    fast_vals, fast_bad = cm._coerce_iso(raw, col)
    saved = cm._canonical_polars
    cm._canonical_polars = lambda *a: None
    try:
        slow_vals, slow_bad = cm._coerce_iso(raw, col)
    finally:
        cm._canonical_polars = saved
    assert fast_vals.to_pylist() == slow_vals.to_pylist()
    assert fast_bad.to_pylist() == slow_bad.to_pylist()
    # on canonical layouts both match Python's own strict parser
    for text, got in zip(values, fast_vals.to_pylist(), strict=True):
        if text is not None:
            shaped, ref = _python_strict(text, kind)
            if shaped:
                assert got == ref, text


# -- hostile and unsupported rules are refused at load, naming the rule --------------------


@pytest.mark.parametrize(("expr", "needle"), [
    ("quantity > 0) UNION SELECT (1", r"not a union of queries"),
    ("quantity > 0) UNION ALL SELECT (quantity < 0", r"not a union of queries"),
    ("sum(quantity) > 0", r"'sum' is an aggregate function"),
    ("count(*) = 1", r"'count_star' is an aggregate function|aggregate"),
    ("quantity > avg(quantity)", r"'avg' is an aggregate function"),
    ("quantity > 0) FROM (SELECT * FROM read_csv('/etc/passwd')) --",
     r"cannot read from another table, file or function"),
    ("quantity > 0) FROM batch, read_text('/etc/passwd') --",
     r"cannot read from another table"),
    ("quantity > 0) FROM batch WHERE (1=1) --", r"cannot add a WHERE clause"),
    ("quantity > 0) FROM batch GROUP BY (quantity) --", r"cannot add a GROUP BY"),
    ("quantity > 0) FROM batch LIMIT (1) --", r"cannot add ORDER BY / LIMIT"),
    ("regexp_matches(note, '(?=a)')", r"perl operator"),
])
def test_hostile_or_unsupported_rules_fail_at_load_naming_the_rule(expr, needle):
    cols = [Column("quantity", "int"), Column("note", "str")]
    with pytest.raises(UsageError, match=r"rule 'r1'") as err:
        Contract("t", cols, rules=[Rule("r1", expr)])
    assert re.search(needle, str(err.value)), str(err.value)


def test_lookahead_column_regex_fails_at_load():
    with pytest.raises(UsageError, match=r"column 'z'.*'regex'.*RE2.*lookahead"):
        Contract("t", [Column("z", regex=r"(?=[0-9])[0-9]{5}")])


def test_external_access_stays_off_at_check_time():
    from datamill.quality.rules_sql import connect

    con = connect()
    with pytest.raises(Exception, match="(?i)external|disabled|permission"):
        con.execute("SELECT * FROM read_csv('/etc/passwd')").fetchall()


def test_plain_rules_still_load_and_check():
    c = Contract("t", [Column("quantity", "int"), Column("note", "str")],
                 rules=[Rule("pos", "quantity > 0"),
                        Rule("re", "note IS NULL OR regexp_matches(note, '^[a-z]+$')"),
                        Rule("case", "CASE WHEN quantity > 5 THEN note IS NOT NULL ELSE true END")])
    r = check(c, pa.table({"quantity": [1, -1, 9], "note": ["ab", "x", None]}))
    assert r.bad.num_rows == 2 and r.good.column("quantity").to_pylist() == [1]
