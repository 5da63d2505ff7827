"""Cleaning: dedupe, nulls, strict coercion, string normalisation, outliers; kinds in = out."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.errors import UsageError
from datamill.transform import (
    Clipper,
    Imputer,
    clip_outliers,
    coerce,
    dedupe,
    drop_nulls,
    fill_nulls,
    flag_nulls,
    flag_outliers,
    normalize_text,
)

KINDS = {
    "pandas": lambda d: pl.DataFrame(d).to_pandas(),
    "polars": pl.DataFrame,
    "arrow": lambda d: pl.DataFrame(d).to_arrow(),
}


def as_pl(t) -> pl.DataFrame:
    if isinstance(t, pd.DataFrame):
        return pl.from_pandas(t)
    if isinstance(t, pa.Table):
        return pl.from_arrow(t)
    return t


# -- coerce ----------------------------------------------------------------------------------

RAW = {
    "qty": ["1", " 2 ", "abc", "1.5", "", None, "+7", "99999999999999999999"],
    "ts": ["2024-02-29", "2024-02-30", "2024-01-01 10:00:00", "2024-01-01T10:00:00.250",
           "2023-13-01", "2024-03-01T08:30", None, "2024-02-29"],
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_coerce_rejects_feb_30_and_non_numeric_with_reasons(kind):
    good, bad = coerce(KINDS[kind](RAW), {"qty": "int", "ts": "datetime"})
    assert type(good) is type(KINDS[kind]({"a": [1]}))
    good, bad = as_pl(good), as_pl(bad)
    assert good["qty"].dtype == pl.Int64 and isinstance(good["ts"].dtype, pl.Datetime)
    assert good.to_dict(as_series=False) == {
        "qty": [1, None, 7],
        "ts": [dt.datetime(2024, 2, 29), dt.datetime(2024, 3, 1, 8, 30), None],
    }
    rows = bad.select("qty", "ts", "_dm_column", "_dm_reason").rows()
    # rejected rows come back as they were, each with the column and the reason
    assert (" 2 ", "2024-02-30", "ts", "ts: '2024-02-30' is not a valid datetime") in rows
    assert ("abc", "2024-01-01 10:00:00", "qty", "qty: 'abc' is not a valid int") in rows
    assert ("1.5", "2024-01-01T10:00:00.250", "qty", "qty: '1.5' is not a valid int") in rows
    assert "ts: '2023-13-01' is not a valid datetime" in bad["_dm_reason"].to_list()
    assert any(r.startswith("qty: '99999999999999999999'") for r in bad["_dm_reason"].to_list())
    assert good.height + bad.height == len(RAW["qty"])


def test_coerce_reports_every_failing_column_of_a_row():
    _, bad = coerce(pl.DataFrame({"a": ["x"], "d": ["2024-02-30"]}), {"a": "float", "d": "date"})
    assert bad["_dm_column"].to_list() == ["a,d"]
    assert bad["_dm_reason"].to_list() == ["a: 'x' is not a valid float; d: '2024-02-30' is not a valid date"]


def test_coerce_types_bool_date_tz_formats_and_numeric_sources():
    t = pl.DataFrame({
        "b": ["yes", "N", "true", "maybe"],
        "d": ["01/02/2024", "31/12/2023", "30/02/2024", None],
        "z": ["2024-01-01T10:00:00Z", "2024-01-01T12:00:00+02:00", "2024-01-01T10:00:00", None],
        "f": [1.0, 2.5, 3.0, None],
    })
    good, bad = coerce(t, {"b": "bool", "d": "date", "z": "datetime_tz", "f": "int"},
                       formats={"d": "%d/%m/%Y"})
    assert good.rows() == [(True, dt.date(2024, 2, 1), dt.datetime(2024, 1, 1, 10, tzinfo=dt.UTC), 1)]
    assert bad["_dm_column"].to_list() == ["f", "d,z", "b"]


def test_rejected_rows_go_straight_to_quarantine(tmp_path):
    from datamill.quality import Quarantine

    _, bad = coerce(pa.table(RAW), {"qty": "int", "ts": "datetime"})
    q = Quarantine(tmp_path)
    assert q.write(bad, source="orders.csv", run_id="r1")
    back = q.read(source="orders.csv")
    assert back.num_rows == bad.num_rows
    assert set(back.column("_dm_rule").to_pylist()) == {"type"}
    assert "qty: 'abc' is not a valid int" in back.column("_dm_reason").to_pylist()


def test_coerce_errors():
    with pytest.raises(UsageError, match=r"unknown column 'nope'; available columns: 'qty', 'ts'"):
        coerce(pl.DataFrame(RAW), {"nope": "int"})
    with pytest.raises(UsageError, match="unknown type 'integer64'"):
        coerce(pl.DataFrame(RAW), {"qty": "integer64"})


@given(st.lists(st.one_of(st.none(), st.integers(-10**12, 10**12).map(str), st.text(max_size=6)),
                max_size=30))
def test_coerce_int_never_loses_a_row_and_never_nulls_a_value(values):
    good, bad = coerce(pl.DataFrame({"v": values}, schema={"v": pl.String}), {"v": "int"})
    assert good.height + bad.height == len(values)
    for raw, got in zip([v for v in values if v not in bad["v"].to_list()], good["v"].to_list(),
                        strict=False):
        if raw is None or raw.strip() == "":
            assert got is None
        else:
            assert got == int(raw.strip())


# -- dedupe / nulls --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_dedupe_exact_and_latest_by_key(kind):
    t = KINDS[kind]({"id": [1, 1, 2, 2, 3, 1], "ts": [1, 3, 5, 4, 1, 3], "v": list("abcdea")})
    exact = dedupe(t)
    assert type(exact) is type(t)
    assert as_pl(exact).rows() == [(1, 1, "a"), (1, 3, "b"), (2, 5, "c"), (2, 4, "d"),
                                   (3, 1, "e"), (1, 3, "a")]
    latest = as_pl(dedupe(t, key="id", order_by="ts"))
    assert latest.rows() == [(2, 5, "c"), (3, 1, "e"), (1, 3, "a")]  # original order kept
    first = as_pl(dedupe(t, key="id", order_by="ts", keep="first"))
    assert first.sort("id")["v"].to_list() == ["a", "d", "e"]


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 20), st.integers(-(2**62), 2**62)), max_size=40))
def test_dedupe_latest_matches_pandas(rows):
    df = pd.DataFrame(rows, columns=["k", "t", "v"])
    got = as_pl(dedupe(df, key="k", order_by="t")).sort("k")
    ref = df.sort_values("t", kind="stable").drop_duplicates("k", keep="last").sort_values("k")
    assert got["k"].to_list() == ref["k"].tolist()
    assert got["t"].to_list() == ref["t"].tolist()
    assert got["v"].to_list() == ref["v"].tolist()


@given(st.lists(st.integers(-3, 40), max_size=60), st.booleans(), st.sampled_from(["first", "last"]),
       st.sampled_from(["int", "datetime", "nullable"]))
def test_dedupe_by_key_in_table_order_matches_pandas(keys, nearly_sorted, keep, key_type):
    # nearly sorted keys take the sort-based path, shuffled ones Polars' hash path; both
    # must keep the same rows as pandas, in the original order
    if nearly_sorted:
        keys = sorted(keys)
        keys[1::7] = keys[:-1:7][: len(keys[1::7])]  # a repeat shortly after the original
    df = pd.DataFrame({"k": keys, "v": range(len(keys))})
    if key_type == "datetime":
        df["k"] = pd.to_datetime(df["k"], unit="s")
    elif key_type == "nullable" and len(keys):
        df["k"] = df["k"].astype("Int64")
        df.loc[::5, "k"] = None
    got = as_pl(dedupe(df, key="k", keep=keep))
    ref = df.drop_duplicates("k", keep=keep)
    assert got["v"].to_list() == ref["v"].tolist()
    arrow = pa.Table.from_pandas(df, preserve_index=False)
    got_arrow = dedupe(arrow, key="k", keep=keep)  # Arrow in: filtered in Arrow
    assert isinstance(got_arrow, pa.Table) and got_arrow.schema == arrow.schema
    assert got_arrow.column("v").to_pylist() == ref["v"].tolist()


@pytest.mark.parametrize("key", ["k", "s", None])
def test_dedupe_of_arrow_keeps_column_types_on_every_path(key):
    # an int key without nulls stays in Arrow; a null key, a text key or no key go through
    # Polars: the caller's column types must not depend on which path ran
    t = pa.table({"k": pa.array([1, None, 1, 2], pa.int64()), "s": ["a", "b", "a", "c"]})
    for table in (t, t.filter(pa.array([True, False, True, True]))):
        got = dedupe(table, key=key)
        assert got.schema == table.schema


def test_dedupe_sorted_key_without_repeats_keeps_every_row():
    t = pa.table({"id": list(range(1000)), "x": [1.5] * 1000})
    assert dedupe(t, key="id").equals(t)


def test_null_handling_drop_fill_flag():
    t = pl.DataFrame({"g": ["a", "a", "b", "b"], "x": [1.0, None, None, 5.0], "s": ["p", None, "q", None]})
    assert drop_nulls(t).rows() == [("a", 1.0, "p")]
    assert drop_nulls(t, "x").height == 2
    assert drop_nulls(t, ["x", "s"], how="all")["g"].to_list() == ["a", "b", "b"]
    assert fill_nulls(t, 0.0, columns="x")["x"].to_list() == [1.0, 0.0, 0.0, 5.0]
    assert fill_nulls(t, {"s": "?"})["s"].to_list() == ["p", "?", "q", "?"]
    assert fill_nulls(t, strategy="forward", columns="x")["x"].to_list() == [1.0, 1.0, 1.0, 5.0]
    assert fill_nulls(t, strategy="forward", columns="x", by="g")["x"].to_list() == [1.0, 1.0, None, 5.0]
    assert fill_nulls(t, strategy="backward", columns="x")["x"].to_list() == [1.0, 5.0, 5.0, 5.0]
    assert fill_nulls(t, strategy="mean", columns="x")["x"].to_list() == [1.0, 3.0, 3.0, 5.0]
    assert fill_nulls(t, strategy="median", columns="x", by="g")["x"].to_list() == [1.0, 1.0, 5.0, 5.0]
    flagged = flag_nulls(t)
    assert flagged["x_was_null"].to_list() == [False, True, True, False]
    assert "g_was_null" not in flagged.columns
    with pytest.raises(UsageError, match="column 's' is String, not numeric"):
        fill_nulls(t, strategy="mean", columns="s")
    with pytest.raises(UsageError, match="either value= or strategy="):
        fill_nulls(t)


def test_imputer_learns_on_train_and_round_trips():
    train = pl.DataFrame({"x": [1.0, 2.0, 10.0, None], "c": ["a", "a", "b", None]})
    test = pd.DataFrame({"x": [None, 4.0], "c": [None, "z"]})
    imp = Imputer(["x"], strategy="median").fit(train)
    mode = Imputer(["c"], strategy="mode").fit(train)
    assert imp.transform(test)["x"].tolist() == [2.0, 4.0]
    assert mode.transform(test)["c"].tolist() == ["a", "z"]
    again = Imputer.from_json(imp.to_json())
    pd.testing.assert_frame_equal(again.transform(test), imp.transform(test))


# -- strings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(KINDS))
def test_normalize_text(kind):
    t = KINDS[kind]({"name": ["  Ｊｏｈｎ\u00a0 SMITH ", "Cafe\u0301", None], "n": [1, 2, 3]})
    out = as_pl(normalize_text(t, unicode="NFKC", case="lower"))
    assert out["name"].to_list() == ["john smith", "café", None]
    assert out["name"][1] == "caf\u00e9"  # composed (NFC/NFKC), one code point
    assert as_pl(normalize_text(t, "name", case="title"))["name"][0] == "Ｊｏｈｎ Smith"
    with pytest.raises(UsageError, match="not text"):
        normalize_text(t, "n")


@given(st.lists(st.one_of(st.none(), st.text(" \u00a0aAéЖ\u0301ｊ\t", max_size=6)),
                min_size=1, max_size=4),
       st.lists(st.integers(0, 3), min_size=20, max_size=80),
       st.sampled_from([None, "lower", "upper", "title"]), st.sampled_from(["NFC", "NFKC", None]))
def test_normalize_text_of_codes_equals_row_by_row(pool, picks, case, form):
    # few distinct values take the per-distinct-value path; it must equal the row-wise one
    from datamill.transform._clean import _norm

    values = [pool[i % len(pool)] for i in picks]
    t = pl.DataFrame({"s": values}, schema={"s": pl.String})
    got = normalize_text(t, case=case, unicode=form)["s"].to_list()
    want = t.select(_norm(pl.col("s"), trim=True, case=case, unicode=form,
                          collapse_whitespace=True))["s"].to_list()
    assert got == want


@given(st.lists(st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cc", "Cs")),
                                             max_size=12)), max_size=20))
def test_normalize_text_gives_nfkc_without_edge_or_double_spaces(values):
    t = pl.DataFrame({"s": values}, schema={"s": pl.String})
    out = normalize_text(t, unicode="NFKC")["s"].to_list()
    for raw, v in zip(values, out, strict=True):
        if raw is None:
            assert v is None
            continue
        assert unicodedata.normalize("NFKC", v) == v
        assert not re.search(r"^\s|\s$|\s\s", v)
        assert v == " ".join(unicodedata.normalize("NFKC", raw).split())


# -- outliers --------------------------------------------------------------------------------

def test_outlier_flags_and_clipping_iqr_and_zscore():
    t = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0], "y": [0, 0, 0, 0, 0]})
    flagged = flag_outliers(t, "x")
    assert flagged["x_outlier"].tolist() == [False, False, False, False, True]
    clipped = clip_outliers(t, "x")
    # Q1=2, Q3=4, IQR=2 -> fences -1 .. 7
    assert clipped["x"].tolist() == [1.0, 2.0, 3.0, 4.0, 7.0]
    z = pl.DataFrame({"x": [0.0] * 50 + [100.0]})
    assert flag_outliers(z, "x", method="zscore")["x_outlier"].sum() == 1
    assert flag_outliers(z, "x", method="zscore", k=100)["x_outlier"].sum() == 0
    with pytest.raises(UsageError, match="method must be"):
        flag_outliers(z, "x", method="mad")


def test_clipper_fitted_on_train_applies_same_fences():
    c = Clipper("x").fit(pl.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, 100.0]}))
    test = pa.table({"x": [-50.0, 5.0, 50.0]})
    out = c.transform(test)
    assert isinstance(out, pa.Table)
    assert out.column("x").to_pylist() == [-1.0, 5.0, 7.0]
    assert Clipper.from_dict(c.to_dict()).transform(test).equals(out)


def test_errors_name_the_column_and_list_the_available_ones():
    t = pl.DataFrame({"a": [1], "b": ["x"]})
    with pytest.raises(UsageError, match=r"dedupe: unknown column 'z'; available columns: 'a', 'b'"):
        dedupe(t, key="z")
    with pytest.raises(UsageError, match="'b' is String, not numeric"):
        clip_outliers(t, "b")
    with pytest.raises(UsageError, match="expected a table"):
        dedupe([1, 2, 3])


def test_a_column_polars_cannot_hold_is_a_clear_error_naming_it():
    # an interval key is not one integer (no sort path) and Polars cannot import it:
    # a UsageError naming the column, not an ArrowInvalid or a Polars ComputeError
    iv = pa.MonthDayNano
    t = pa.table({"k": pa.array([iv([1, 2, 3]), iv([1, 2, 3]), iv([0, 0, 1])],
                                pa.month_day_nano_interval()), "v": [1, 2, 3]})
    with pytest.raises(UsageError, match=r"column k \(month_day_nano_interval\).*cast or drop"):
        dedupe(t, key="k")
