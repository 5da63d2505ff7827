"""Joins, lookups, point-in-time joins (no future leaks) and text tokenisation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.errors import UsageError
from datamill.transform import asof_join, clean_text, join, lookup, tokenize


def as_pl(t) -> pl.DataFrame:
    if isinstance(t, pd.DataFrame):
        return pl.from_pandas(t)
    if isinstance(t, pa.Table):
        return pl.from_arrow(t)
    return t


def ts(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour)


ORDERS = pl.DataFrame({  # the rows to build training features for
    "customer_id": [1, 1, 2, 1, 2, 3],
    "ts": [ts(5), ts(1), ts(3), ts(10), None, ts(4)],
})
BALANCES = pl.DataFrame({  # a feature that changes over time
    "customer_id": [1, 1, 2, 1],
    "ts": [ts(2), ts(5), ts(4), ts(11)],
    "balance": [100.0, 200.0, 50.0, 999.0],
})


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_asof_backward_takes_latest_known_value_and_keeps_order(kind):
    conv = {"pandas": lambda d: d.to_pandas(), "polars": lambda d: d, "arrow": lambda d: d.to_arrow()}[kind]
    out = asof_join(conv(ORDERS), conv(BALANCES), on="ts", by="customer_id")
    assert type(out) is type(conv(ORDERS))
    got = as_pl(out)
    assert got["customer_id"].to_list() == [1, 1, 2, 1, 2, 3]
    assert got["balance"].to_list() == [200.0, None, None, 200.0, None, None]
    strict = as_pl(asof_join(conv(ORDERS), conv(BALANCES), on="ts", by="customer_id",
                             allow_exact_matches=False))
    assert strict["balance"].to_list() == [100.0, None, None, 200.0, None, None]
    near = as_pl(asof_join(conv(ORDERS), conv(BALANCES), on="ts", by="customer_id",
                           tolerance="2d"))
    assert near["balance"].to_list() == [200.0, None, None, None, None, None]


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 200)), min_size=1, max_size=40),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 200), st.integers(0, 10**6)),
             min_size=1, max_size=40),
)
def test_asof_never_leaks_a_future_value(left_rows, right_rows):
    left = pl.DataFrame(left_rows, schema=["k", "t"], orient="row")
    right = pl.DataFrame(right_rows, schema=["k", "t", "v"], orient="row")
    out = asof_join(left, right, on="t", by="k")
    assert out.select("k", "t").equals(left)
    for k, t, t_right, v in out.select("k", "t", "t_right", "v").iter_rows():
        known = [r for r in right_rows if r[0] == k and r[1] <= t]
        if not known:
            assert v is None
            continue
        assert t_right is not None and t_right <= t  # never from the future
        latest = max(r[1] for r in known)
        assert t_right == latest and v in {r[2] for r in known if r[1] == latest}


def test_asof_forward_and_errors():
    fwd = asof_join(ORDERS, BALANCES, on="ts", by="customer_id", strategy="forward")
    assert fwd["balance"].to_list() == [200.0, 100.0, 50.0, 999.0, None, None]
    with pytest.raises(UsageError, match=r"asof_join \(right\): unknown column 'customer_id'"):
        asof_join(ORDERS, BALANCES.drop("customer_id"), on="ts", by="customer_id")
    with pytest.raises(UsageError, match="cast one of them"):
        asof_join(ORDERS, BALANCES.with_columns(pl.col("ts").cast(pl.String)), on="ts")
    with pytest.raises(UsageError, match="strategy must be"):
        asof_join(ORDERS, BALANCES, on="ts", strategy="latest")


def test_join_and_lookup():
    names = pd.DataFrame({"customer_id": [1, 2], "name": ["ann", "bob"]})
    out = join(ORDERS.to_pandas(), names, on="customer_id", how="left")
    assert isinstance(out, pd.DataFrame)
    assert out["name"].tolist()[:5] == ["ann", "ann", "bob", "ann", "bob"]
    assert out["name"].isna().tolist() == [False] * 5 + [True]
    inner = join(ORDERS, pl.from_pandas(names), on="customer_id")
    assert inner.height == 5
    with pytest.raises(UsageError, match="not unique"):
        join(ORDERS, pl.from_pandas(names), on="customer_id", validate="1:1")
    looked = lookup(ORDERS.to_arrow(), names, on="customer_id", default="?")
    assert isinstance(looked, pa.Table)
    assert looked.column("name").to_pylist() == ["ann", "ann", "bob", "ann", "bob", "?"]
    dup = pd.DataFrame({"customer_id": [1, 1], "name": ["a", "b"]})
    with pytest.raises(UsageError, match="duplicate keys"):
        lookup(ORDERS, dup, on="customer_id")
    with pytest.raises(UsageError, match=r"lookup \(table\): unknown column 'id'; available columns: 'customer_id', 'ts'"):
        lookup(ORDERS, names, on="id")


# -- text ------------------------------------------------------------------------------------

DOCS = pl.DataFrame({"text": ["Hello, World! Don't   stop — New York.", "ＡＢＣ café", None, ""]})


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
def test_clean_text_and_tokenize(kind):
    t = {"pandas": DOCS.to_pandas(), "polars": DOCS, "arrow": DOCS.to_arrow()}[kind]
    cleaned = as_pl(clean_text(t, "text"))
    assert cleaned["text"].to_list() == ["hello world dont stop new york", "abc café", None, ""]
    assert as_pl(clean_text(t, "text", strip_accents=True, suffix="_c"))["text_c"][1] == "abc cafe"
    toks = tokenize(t, "text")
    assert type(toks) is type(t)
    assert as_pl(toks)["text_tokens"].to_list() == [
        ["hello", "world", "dont", "stop", "new", "york"], ["abc", "café"], None, []]


def test_tokenize_stopwords_and_ngrams():
    out = tokenize(DOCS, "text", stopwords="english", ngrams=(1, 2))["text_tokens"].to_list()
    assert out[0] == ["hello", "world", "dont", "stop", "new", "york",
                      "hello world", "world dont", "dont stop", "stop new", "new york"]
    assert out[2] is None and out[3] == []
    bi = tokenize(DOCS, "text", ngrams=2, stopwords={"hello"}, output="bigrams")
    assert bi["bigrams"].to_list()[1] == ["abc café"]
    with pytest.raises(UsageError, match="not text"):
        tokenize(pl.DataFrame({"n": [1]}), "n")


@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=15), st.integers(1, 3))
def test_ngrams_count_matches_python(texts, n):
    df = pl.DataFrame({"t": texts}, schema={"t": pl.String})
    unigrams = tokenize(df, "t")["t_tokens"].to_list()
    grams = tokenize(df, "t", ngrams=n)["t_tokens"].to_list()
    for u, g in zip(unigrams, grams, strict=True):
        if u is None:
            assert g is None
            continue
        assert g == [" ".join(u[i:i + n]) for i in range(len(u) - n + 1)]
        assert all(w == w.lower() and " " not in w for w in u)
    assert np.all([isinstance(x, list | type(None)) for x in grams])
