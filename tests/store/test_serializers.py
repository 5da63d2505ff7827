"""Checkpoint serializers: every type tag round-trips its values with their exact type."""

from __future__ import annotations

import datetime as dt
import enum
import io
import math
import os
import pathlib
import subprocess
import sys
import uuid
from collections import namedtuple
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.errors import SerializationError
from datamill.store import serializers as S
from datamill.store.serializers import decode_json, encode_json, get_serializer, serializer_for


def roundtrip(value: Any, tag: str | None = None) -> tuple[str, Any, int | None]:
    ser = get_serializer(tag) if tag else serializer_for(value)
    buf = io.BytesIO()
    rows = ser.dump(value, buf)
    return ser.tag, ser.load(buf.getvalue()), rows


# --------------------------------------------------------------------------- import cost


def test_import_stays_light():
    code = (
        "import sys, datamill.store.serializers\n"
        "heavy = [m for m in ('pandas', 'polars', 'pyarrow', 'numpy', 'uuid', 'cloudpickle')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_choosing_a_serializer_does_not_import_libraries():
    code = (
        "import sys\nfrom datamill.store.serializers import serializer_for\n"
        "assert serializer_for({'a': (1, 2)}).tag == 'json'\n"
        "assert serializer_for(b'x').tag == 'bytes'\n"
        "print(','.join(m for m in ('pandas', 'polars', 'pyarrow', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------- pandas


def test_pandas_roundtrip_keeps_dtypes_and_index():
    index = pd.Index([10, 20, 30, 40], name="key")
    df = pd.DataFrame(
        {
            "ts": pd.date_range("2024-01-01", periods=4, freq="h", tz="Europe/Paris"),
            "naive": pd.date_range("2024-01-01", periods=4, freq="D"),
            "cat": pd.Categorical(["a", "b", "a", None]),
            "nullable_int": pd.array([1, None, 3, 4], dtype="Int64"),
            "nullable_bool": pd.array([True, None, False, True], dtype="boolean"),
            "nullable_float": pd.array([1.5, None, 0.0, -2.0], dtype="Float64"),
            "text": pd.array(["x", None, "z", "w"], dtype="str"),
            "object_text": pd.Series(["a", None, "c", "d"], dtype=object, index=index),
            "f": [1.0, np.nan, 2.5, -0.0],
            "td": pd.to_timedelta([1, 2, 3, 4], unit="s"),
        },
        index=index,
    )
    tag, back, rows = roundtrip(df)
    assert tag == "pandas" and rows == 4
    assert type(back) is pd.DataFrame
    pd.testing.assert_frame_equal(back, df)
    assert back["object_text"].tolist() == ["a", None, "c", "d"]


def test_pandas_range_and_multi_index():
    df = pd.DataFrame({"a": [1, 2, 3]}, index=pd.RangeIndex(5, 8, name="r"))
    _, back, _ = roundtrip(df)
    pd.testing.assert_frame_equal(back, df)
    assert isinstance(back.index, pd.RangeIndex)

    mi = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    df2 = pd.DataFrame({"v": [0.5, 1.5]}, index=mi)
    _, back2, _ = roundtrip(df2)
    pd.testing.assert_frame_equal(back2, df2)


def test_pandas_non_string_column_names():
    df = pd.DataFrame({0: [1, 2], 1: [3, 4]})
    _, back, _ = roundtrip(df)
    pd.testing.assert_frame_equal(back, df)


def test_pandas_duplicate_columns_are_a_clear_error():
    with pytest.raises(SerializationError, match="unique names"):
        roundtrip(pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_pandas_mixed_object_column_is_a_clear_error():
    df = pd.DataFrame({"bad": pd.Series([1, "two", 3.0], dtype=object)})
    with pytest.raises(SerializationError, match="Parquet.*pickle"):
        roundtrip(df)


@pytest.mark.parametrize("name", [None, "price", 3, ("a", 1)])
def test_pandas_series_keeps_name_and_dtype(name):
    s = pd.Series(pd.array([1, None, 3], dtype="Int64"), name=name, index=["x", "y", "z"])
    tag, back, rows = roundtrip(s)
    assert tag == "pandas.series" and rows == 3
    assert type(back) is pd.Series
    pd.testing.assert_series_equal(back, s)


# --------------------------------------------------------------------------- polars, arrow


def test_polars_roundtrip_keeps_dtypes():
    df = pl.DataFrame(
        {
            "i": pl.Series([1, None, 3], dtype=pl.Int32),
            "cat": pl.Series(["x", "y", "x"], dtype=pl.Categorical),
            "enum": pl.Series(["lo", "hi", "lo"], dtype=pl.Enum(["lo", "hi"])),
            "d": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)],
            "ts": pl.Series([dt.datetime(2024, 1, 1, 12)] * 3).dt.replace_time_zone("UTC"),
            "lst": [[1, 2], [], None],
            "st": [{"a": 1, "b": "x"}, {"a": 2, "b": None}, None],
        }
    )
    tag, back, rows = roundtrip(df)
    assert tag == "polars" and rows == 3
    assert type(back) is pl.DataFrame
    assert back.schema == df.schema
    assert back.equals(df)


def test_polars_series():
    s = pl.Series("y", [1.5, None, 3.0])
    tag, back, rows = roundtrip(s)
    assert tag == "polars.series" and rows == 3
    assert type(back) is pl.Series and back.name == "y" and back.equals(s)


def test_polars_object_column_is_a_clear_error():
    df = pl.DataFrame({"o": pl.Series([object(), object()], dtype=pl.Object), "i": [1, 2]})
    with pytest.raises(SerializationError, match="column.s. o hold Python objects"):
        roundtrip(df)


def test_arrow_table_and_record_batch():
    table = pa.table(
        {
            "d": pa.array(["a", "b", "a"]).dictionary_encode(),
            "ts": pa.array([1, 2, None], type=pa.timestamp("ns", tz="Asia/Tokyo")),
            "ls": pa.array(["x", None, "z"], type=pa.large_string()),
            "l": pa.array([[1], [2, 3], None], type=pa.list_(pa.int16())),
            "s": pa.array([{"a": 1}, None, {"a": 3}]),
        }
    ).replace_schema_metadata({"source": "test"})
    tag, back, rows = roundtrip(table)
    assert tag == "arrow" and rows == 3
    assert type(back) is pa.Table
    assert back.schema.equals(table.schema, check_metadata=True)
    assert back.to_pylist() == table.to_pylist()

    batch = table.to_batches()[0]
    tag, back, rows = roundtrip(batch)
    assert tag == "arrow.batch" and rows == 3
    assert type(back) is pa.RecordBatch and back.schema.equals(batch.schema)
    assert back.to_pylist() == batch.to_pylist()


def test_empty_tables():
    _, back, rows = roundtrip(pa.record_batch({"a": pa.array([], pa.int64())}))
    assert rows == 0 and type(back) is pa.RecordBatch and back.schema.field("a").type == pa.int64()
    _, back, rows = roundtrip(pa.table({"a": pa.array([], pa.string())}))
    assert rows == 0 and back.num_rows == 0 and back.schema.field("a").type == pa.string()
    _, back, rows = roundtrip(pd.DataFrame({"a": pd.Series([], dtype="float64")}))
    assert rows == 0 and list(back.columns) == ["a"] and back["a"].dtype == "float64"


# --------------------------------------------------------------------------- numpy, bytes


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.asfortranarray(np.random.default_rng(0).random((4, 3))),
        np.array([1 + 2j, np.nan], dtype=np.complex64),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]"),
        np.array(["ab", "ü"], dtype="U2"),
        np.array(3.5),
        np.zeros((0, 5), dtype=bool),
        np.zeros(3, dtype=[("a", "i4"), ("b", "f8")]),
    ],
)
def test_numpy_roundtrip(arr):
    tag, back, rows = roundtrip(arr)
    assert tag == "numpy" and rows is None
    assert type(back) is np.ndarray and back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_numpy_file_is_plain_npy_without_pickle():
    buf = io.BytesIO()
    get_serializer("numpy").dump(np.arange(3), buf)
    assert buf.getvalue().startswith(b"\x93NUMPY")
    with pytest.raises(SerializationError, match="dtype object"):
        roundtrip(np.array([{"a": 1}], dtype=object))


def test_numpy_subclasses_are_not_silently_flattened():
    with pytest.raises(SerializationError, match="MaskedArray"):
        serializer_for(np.ma.masked_array([1, 2], mask=[0, 1]))


def test_bytes_are_raw():
    buf = io.BytesIO()
    ser = serializer_for(b"\x00\xffraw")
    assert ser.tag == "bytes"
    ser.dump(b"\x00\xffraw", buf)
    assert buf.getvalue() == b"\x00\xffraw"
    assert ser.load(buf.getvalue()) == b"\x00\xffraw"


# --------------------------------------------------------------------------- errors, pickle


class Opaque:
    def __init__(self, x: int):
        self.x = x


def test_unsupported_value_names_type_and_fix():
    with pytest.raises(SerializationError) as err:
        serializer_for(Opaque(1))
    msg = str(err.value)
    assert "Opaque" in msg and "serializer='pickle'" in msg and "checkpoint=False" in msg


def test_unsupported_nested_value_names_where_it_is():
    with pytest.raises(SerializationError) as err:
        encode_json({"metrics": [1, 2, Opaque(3)]})
    assert "Opaque" in str(err.value) and "['metrics'][2]" in str(err.value)


def test_pickle_is_opt_in_only():
    assert "pickle" in S.registered_tags()
    with pytest.raises(SerializationError):
        serializer_for(Opaque(1))
    tag, back, _ = roundtrip(Opaque(7), tag="pickle")
    assert tag == "pickle" and isinstance(back, Opaque) and back.x == 7
    tag, fn, _ = roundtrip(lambda v: v * 2, tag="pickle")  # cloudpickle handles lambdas
    assert fn(21) == 42


def test_unknown_tag_lists_known_ones():
    with pytest.raises(SerializationError, match="unknown checkpoint serializer 'yaml'.*json"):
        get_serializer("yaml")


def test_register_custom_serializer_takes_precedence():
    ser = S.Serializer(
        "opaque",
        "txt",
        lambda v, f: f.write(str(v.x).encode()) and None,
        lambda b: Opaque(int(b)),
        types=(S.type_key(Opaque),),
    )
    S.register(ser)
    try:
        tag, back, _ = roundtrip(Opaque(5))
        assert tag == "opaque" and back.x == 5
        with pytest.raises(ValueError, match="already registered"):
            S.register(ser)
    finally:
        S._REGISTRY.pop("opaque")
        S._ORDER.remove(ser)
        S._BY_TYPE.clear()


# --------------------------------------------------------------------------- tagged JSON


class Color(enum.Enum):
    RED = "red"
    BLUE = (0, 0, 255)


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    tags: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


Pair = namedtuple("Pair", "left right")


def canon(v: Any) -> Any:
    """An exact, type-aware, totally ordered description of a value (nan == nan here)."""
    t = type(v)
    name = f"{t.__module__}.{t.__qualname__}"
    if t is float:
        return (name, "nan" if math.isnan(v) else repr(v))
    if t is complex:
        return (name, repr((canon(v.real), canon(v.imag))))
    if t is Decimal:
        return (name, str(v))
    if t is dict:
        return (name, tuple((canon(k), canon(x)) for k, x in v.items()))
    if t in (set, frozenset):
        return (name, tuple(sorted(canon(x) for x in v)))
    if t is list or issubclass(t, tuple):
        return (name, tuple(canon(x) for x in v))
    if t in (dt.datetime, dt.time):
        return (name, repr((v.isoformat(), repr(v.tzinfo), v.fold)))
    if isinstance(v, Point):
        return (name, (canon(v.x), canon(v.y), canon(v.tags), canon(v.extra)))
    if isinstance(v, np.ndarray):
        return (name, repr((v.dtype.str, v.shape, v.tobytes())))
    if isinstance(v, np.generic):
        return (name, repr((v.dtype.str, v.tobytes())))
    return (name, repr(v))


def assert_json_roundtrip(value: Any) -> None:
    data = encode_json(value)
    back = decode_json(data)
    assert canon(back) == canon(value)
    assert encode_json(back) == data


hashables = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.dates()
    | st.decimals(allow_nan=False, places=3),
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)

leaves = (
    hashables
    | st.floats()  # nan, inf, -inf, -0.0
    | st.decimals()  # including NaN, sNaN, Infinity
    | st.complex_numbers()
    | st.datetimes(timezones=st.none() | st.timezones() | st.just(dt.UTC))
    | st.times(timezones=st.none() | st.just(dt.timezone(dt.timedelta(hours=-3), "BRT")))
    | st.timedeltas()
    | st.uuids()
    | st.builds(pathlib.PurePosixPath, st.text(alphabet="ab/.", max_size=6))
    | st.sampled_from([Color.RED, Color.BLUE, Level.LOW, Level.HIGH])
    | st.builds(bytearray, st.binary(max_size=8))
)

json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.sets(hashables, max_size=4)
        | st.builds(Pair, inner, inner)
    ),
    max_leaves=20,
)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # big strategy repr
@settings(max_examples=200, deadline=None)
@given(json_values)
def test_tagged_json_roundtrips_exactly(value):
    assert_json_roundtrip(value)
    assert serializer_for(value).tag in ("json", "bytes")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(alphabet="~tdsfb", max_size=3), st.integers(), max_size=3))
def test_dicts_with_tag_like_keys_stay_dicts(value):
    assert_json_roundtrip(value)
    assert type(decode_json(encode_json(value))) is dict


def test_equal_sets_encode_to_equal_bytes_whatever_the_hash_seed():
    code = (
        "from datamill.store.serializers import encode_json\n"
        "print(encode_json({'s': {'apple', 'pear', 'fig', 'kiwi', 'plum', (1, 'a'), 3}}).hex())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(outs) == 1


def test_plain_values_encode_as_plain_json():
    assert encode_json({"a": [1, 2.5, None, True, "x"]}) == b'{"a":[1,2.5,null,true,"x"]}'
    assert encode_json("é") == b'"\\u00e9"'


def test_special_values_roundtrip():
    for value in [
        float("nan"),
        -0.0,
        float("-inf"),
        2**200,
        "\ud800",  # a lone surrogate
        {1: "int key", (1, "a"): "tuple key", None: 0, frozenset({2}): "fs"},
        {"~t": "a str key that looks like a tag"},
        dt.datetime(2024, 11, 3, 1, 30, fold=1),
        dt.datetime(2024, 3, 31, 2, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        Point(1.0, 2.0, ("a",), {"k": (1,)}),
        Pair(1, Pair(2, 3)),
        np.float64("nan"),
        np.int64(-5),
        np.bool_(True),
        np.datetime64("2024-01-01T00:00:00.123456789"),
        np.str_("s"),
        {"coef": np.array([[1.5, 2.0]], dtype=np.float32)},
        pathlib.Path("/tmp/x"),
        uuid.UUID(int=1),
    ]:
        assert_json_roundtrip(value)


def test_classes_come_back_as_themselves():
    back = decode_json(encode_json([Color.BLUE, Level.HIGH, Point(0.0, 1.0), Pair("a", "b")]))
    assert back[0] is Color.BLUE and back[1] is Level.HIGH
    assert type(back[2]) is Point and back[2] == Point(0.0, 1.0)
    assert type(back[3]) is Pair and back[3].right == "b"


def test_local_classes_are_rejected_at_write_time():
    class Local(enum.Enum):
        A = 1

    with pytest.raises(SerializationError, match="inside a function"):
        encode_json({"x": Local.A})


def test_unsupported_timezone_and_subclass():
    class WeirdTZ(dt.tzinfo):
        def utcoffset(self, d):
            return dt.timedelta(0)

    with pytest.raises(SerializationError, match="time zones"):
        encode_json(dt.datetime(2024, 1, 1, tzinfo=WeirdTZ()))
    with pytest.raises(SerializationError, match="Timestamp"):
        encode_json([pd.Timestamp("2024-01-01")])


def test_unknown_tag_in_data_is_an_error():
    with pytest.raises(SerializationError, match="unknown JSON tag '~zz'"):
        decode_json(b'{"~zz":1}')


def test_self_reference_is_an_error():
    loop: list = []
    loop.append(loop)
    with pytest.raises(SerializationError, match="self-referencing"):
        encode_json(loop)
