import datetime as dt
import enum
from pathlib import Path
from typing import Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.core.params import (
    Required,
    Secret,
    SecretRef,
    canonical_json,
    parse_duration,
    parse_value,
    secret_reference,
    split_annotation,
)
from datamill.errors import ParameterError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@pytest.mark.parametrize(
    "text,tp,expected",
    [
        ("true", bool, True), ("No", bool, False), ("1", bool, True), ("off", bool, False),
        ("42", int, 42), ("1_000", int, 1000), ("-3", int, -3),
        ("2.5", float, 2.5), ("1e3", float, 1000.0),
        ("2026-11-01", dt.date, dt.date(2026, 11, 1)),
        ("2026-11-01T10:30:00", dt.datetime, dt.datetime(2026, 11, 1, 10, 30)),
        ("a,b,c", list[str], ["a", "b", "c"]),
        ("1, 2,3", list[int], [1, 2, 3]),
        ('["x", "y"]', list[str], ["x", "y"]),
        ("[1, 2]", list[int], [1, 2]),
        ("RED", Color, Color.RED), ("blue", Color, Color.BLUE),
        ('{"a": 1, "b": [1, 2]}', dict, {"a": 1, "b": [1, 2]}),
        ("none", Optional[int], None), ("7", Optional[int], 7),  # noqa: UP045
        ("x/y.csv", Path, Path("x/y.csv")),
        ("hello", str, "hello"),
        ("90m", dt.timedelta, dt.timedelta(minutes=90)),
    ],
)
def test_parse_value_by_annotation(text, tp, expected):
    assert parse_value(text, tp, "p") == expected


@pytest.mark.parametrize(
    "text,tp,fragment",
    [
        ("maybe", bool, "true/false"),
        ("4.5", int, "as int"),
        ("2026-13-01", dt.date, "as date"),
        ("GREEN", Color, "RED, BLUE"),
        ("[1,", list[int], "as list[int]"),
        ("[1]", dict, "as dict"),
    ],
)
def test_parse_errors_name_parameter_and_type(text, tp, fragment):
    with pytest.raises(ParameterError) as e:
        parse_value(text, tp, "when")
    assert "'when'" in str(e.value)
    assert fragment in str(e.value)


@given(st.integers())
def test_int_roundtrip(n):
    assert parse_value(str(n), int) == n


@given(st.lists(st.integers(), max_size=10))
def test_list_roundtrip(xs):
    assert parse_value(",".join(map(str, xs)), list[int]) == xs


def test_markers_split():
    assert split_annotation(Required[int]) == (int, True, False)
    assert split_annotation(Secret[str]) == (str, False, True)
    assert split_annotation(int) == (int, False, False)


def test_durations():
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("250ms").total_seconds() == 0.25
    assert parse_duration(12).total_seconds() == 12
    with pytest.raises(ValueError):
        parse_duration("5 parsecs")
    with pytest.raises(ValueError):
        parse_duration("10m5")


def test_secret_references_are_recognised_not_read():
    assert secret_reference("env:MY_TOKEN") == SecretRef("env", "MY_TOKEN")
    assert secret_reference("file:/run/tok") == SecretRef("file", "/run/tok")
    assert secret_reference("plain") is None
    assert secret_reference(3) is None
    assert str(SecretRef("env", "X")) == "env:X"


def test_core_params_do_no_io():
    import datamill.core.params as params

    src = Path(params.__file__).read_text()
    assert "os.environ" not in src and "read_text" not in src and "import os" not in src


def test_canonical_json_is_order_independent():
    assert canonical_json({"b": 1, "a": [dt.date(2026, 1, 1)]}) == canonical_json(
        {"a": [dt.date(2026, 1, 1)], "b": 1}
    )
