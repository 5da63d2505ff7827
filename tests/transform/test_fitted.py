"""Fitted transforms: scalers and encoders learn on train, round-trip through JSON and
give identical output; unseen categories are handled as documented."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.errors import UsageError
from datamill.transform import (
    Clipper,
    HashingEncoder,
    Imputer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
    TargetEncoder,
    load_transform,
)
from datamill.transform._encode import fnv1a_32

TRAIN = pl.DataFrame({
    "city": ["paris", "lyon", "paris", "nice", "lyon", "paris", None],
    "store": [1, 2, 1, 3, 2, 1, 2],
    "amount": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, None],
    "y": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0],
})
TEST = pl.DataFrame({
    "city": ["paris", "berlin", None, "nice"],
    "store": [1, 9, 2, 3],
    "amount": [25.0, -100.0, None, 1000.0],
    "y": [0.0, 0.0, 0.0, 0.0],
})

ALL = [
    lambda: MinMaxScaler(["amount"]),
    lambda: MinMaxScaler(feature_range=(-1, 1)),
    lambda: StandardScaler(["amount", "store"]),
    lambda: RobustScaler("amount"),
    lambda: OneHotEncoder(["city", "store"]),
    lambda: OneHotEncoder("city", max_categories=1),
    lambda: OrdinalEncoder("city"),
    lambda: OrdinalEncoder("city", categories={"city": ["nice", "lyon", "paris"]}),
    lambda: TargetEncoder(["city", "store"], target="y", smoothing=2.0),
    lambda: HashingEncoder("city", n_features=8),
    lambda: HashingEncoder(["city", "store"], n_features=16, output="index"),
    lambda: Imputer(["amount"], strategy="mean"),
    lambda: Clipper("amount", method="zscore", k=1.0),
]


def _kinds(df: pl.DataFrame):
    return {"polars": df, "pandas": df.to_pandas(), "arrow": df.to_arrow()}


def _same(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    elif isinstance(a, pa.Table):
        assert a.equals(b)
    else:
        assert a.equals(b, null_equal=True)
        assert a.schema == b.schema


@pytest.mark.parametrize("make", ALL, ids=lambda f: repr(f()))
@pytest.mark.parametrize("kind", ["polars", "pandas", "arrow"])
def test_round_trip_through_json_gives_identical_output(make, kind):
    fitted = make().fit(_kinds(TRAIN)[kind])
    text = json.dumps(fitted.to_dict())  # what gets saved with a model
    loaded = load_transform(json.loads(text))
    assert type(loaded) is type(fitted)
    assert loaded.to_dict() == fitted.to_dict()
    for table in (_kinds(TEST)[kind], _kinds(TRAIN)[kind]):
        out = fitted.transform(table)
        assert type(out) is type(table)
        _same(out, loaded.transform(table))
        _same(out, type(fitted).from_json(fitted.to_json()).transform(table))


def test_scalers_use_training_statistics_only():
    s = StandardScaler("amount").fit(TRAIN)
    mean, std = 35.0, float(np.std([10, 20, 30, 40, 50, 60]))
    out = s.transform(TEST)["amount"].to_list()
    assert out[0] == pytest.approx((25 - mean) / std)
    assert out[2] is None  # null stays null
    mm = MinMaxScaler("amount").fit(TRAIN).transform(TEST)["amount"].to_list()
    assert mm[0] == pytest.approx(0.3) and mm[1] == pytest.approx(-2.2)  # no clipping
    r = RobustScaler("amount").fit(TRAIN).transform(TEST)["amount"].to_list()
    assert r[0] == pytest.approx((25 - 35) / 25)  # median 35, IQR 47.5 - 22.5


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=40))
def test_standard_scaler_matches_numpy(values):
    t = pd.DataFrame({"x": values})
    out = StandardScaler("x").fit_transform(t)["x"].to_numpy()
    sd = np.std(values)
    ref = (np.array(values) - np.mean(values)) / (sd if sd > 0 else 1.0)
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-6)


def test_constant_column_is_not_divided_by_zero():
    t = pl.DataFrame({"x": [5.0, 5.0, 5.0]})
    for s in (StandardScaler("x"), MinMaxScaler("x"), RobustScaler("x")):
        assert s.fit_transform(t)["x"].to_list() == [0.0, 0.0, 0.0]


def test_scaling_a_string_column_is_a_clear_error():
    with pytest.raises(UsageError, match=r"StandardScaler.fit: column 'city' is String, not numeric"):
        StandardScaler("city").fit(TRAIN)
    with pytest.raises(UsageError, match=r"unknown column 'amt'; available columns: 'city', 'store'"):
        MinMaxScaler("amt").fit(TRAIN)
    fitted = StandardScaler("amount").fit(TRAIN)
    with pytest.raises(UsageError, match="unknown column 'amount'"):
        fitted.transform(TEST.drop("amount"))
    with pytest.raises(UsageError, match="not fitted"):
        StandardScaler("amount").transform(TEST)


def test_one_hot_unseen_column_and_nulls():
    enc = OneHotEncoder("city").fit(TRAIN)
    out = enc.transform(TEST)
    cols = ["city_lyon", "city_nice", "city_paris", "city___unseen__"]
    assert [c for c in out.columns if c.startswith("city")] == cols
    assert out.select(cols).rows() == [(0, 0, 1, 0), (0, 0, 0, 1), (0, 0, 0, 0), (0, 1, 0, 0)]
    assert "city" not in out.columns
    assert "city" in OneHotEncoder("city", keep_original=True).fit(TRAIN).transform(TEST).columns
    top = OneHotEncoder("city", max_categories=1).fit(TRAIN).transform(TEST)
    assert top.select("city_paris", "city___unseen__").rows() == [(1, 0), (0, 1), (0, 0), (0, 1)]


def test_ordinal_codes_unseen_minus_one_null_kept():
    enc = OrdinalEncoder("city").fit(TRAIN)
    assert enc.transform(TEST)["city"].to_list() == [2, -1, None, 1]
    fixed = OrdinalEncoder("city", categories={"city": ["nice", "lyon", "paris"]}).fit(TRAIN)
    assert fixed.transform(TEST)["city"].to_list() == [2, -1, None, 0]


def test_target_encoder_smoothing_unseen_gets_global_mean_and_ignores_test_target():
    enc = TargetEncoder("city", target="y", smoothing=2.0).fit(TRAIN)
    g = 4 / 7
    paris = (3 + 2 * g) / (3 + 2)  # three rows, all y=1
    nice = (0 + 2 * g) / (1 + 2)
    out = enc.transform(TEST)["city"].to_list()
    assert out == pytest.approx([paris, g, g, nice])
    flipped = enc.transform(TEST.with_columns(pl.lit(1.0).alias("y")))["city"].to_list()
    assert flipped == out  # the target of scored rows is never used
    no_target = enc.transform(TEST.drop("y"))
    assert no_target["city"].to_list() == pytest.approx(out)
    with pytest.raises(UsageError, match="'city' is String, not numeric"):
        TargetEncoder("store", target="city").fit(TRAIN)


def test_fnv1a_is_the_reference_hash():
    def ref(s: str) -> int:
        h = 2166136261
        for b in s.encode("utf-8"):
            h = ((h ^ b) * 16777619) & 0xFFFFFFFF
        return h

    words = ["", "a", "paris", "Zürich", "日本", "a longer category value with spaces"]
    got = fnv1a_32(pl.Series(words + [None]))
    assert got[:-1].tolist() == [ref(w) for w in words]
    assert got[-1] == 0


def test_hashing_encoder_is_stable_across_processes():
    enc = HashingEncoder("city", n_features=1024, output="index").fit(TRAIN)
    here = enc.transform(TEST)["city"].to_list()
    code = (
        "import polars as pl, json, sys\n"
        "from datamill.transform import load_transform\n"
        "e = load_transform(sys.argv[1])\n"
        "print(json.dumps(e.transform(pl.DataFrame({'city': ['paris', 'berlin', None, 'nice']}))['city'].to_list()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, enc.to_json()], capture_output=True,
                         text=True, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert json.loads(out.stdout) == here
    assert here[2] is None and len(set(here)) == 4


def test_load_transform_rejects_unknown_types():
    with pytest.raises(UsageError, match="type 'bogus'"):
        load_transform({"type": "bogus", "params": {}, "state": {}})
    with pytest.raises(UsageError, match="not a saved standard_scaler"):
        StandardScaler.from_dict(OrdinalEncoder("city").fit(TRAIN).to_dict())


def test_a_row_slice_keeps_its_index_and_the_columns_of_fit_time() -> None:
    """scikit-learn hands a Pipeline step row slices (a fold) whose index is not 0..n-1: the
    unnamed index is not data, so fit and transform see the same columns, and the output
    carries the slice's row labels."""
    import numpy as np
    import pandas as pd

    from datamill import transform as T

    df = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0, 5.0], "c": list("xyxyz")})
    enc = T.OneHotEncoder(["c"]).fit(df.iloc[[0, 2, 3]])
    out = enc.transform(df.iloc[[1, 4]])
    assert list(out.index) == [1, 4]
    assert list(out.columns) == list(enc.transform(df).columns)
    imp = T.Imputer(["a"], strategy="median").fit(df.iloc[2:])
    assert imp.transform(df.iloc[[1]])["a"].tolist() == [4.0]
    named = df.rename_axis("row")  # a named index is data: kept as a column
    assert "row" in T.Imputer(["a"]).fit(named).transform(named).columns
