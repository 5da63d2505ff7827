"""infer: a draft contract from a sample, which the sample itself passes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from datamill.quality import Contract, check, infer


def _sample(n: int = 500) -> pa.Table:
    rng = np.random.default_rng(1)
    return pa.table({
        "order_id": pa.array(np.arange(n) + 1000),
        "ts": pa.array([f"2024-03-{1 + i % 28:02d}T{i % 24:02d}:15:00" for i in range(n)]),
        "day": pa.array([f"2024-03-{1 + i % 28:02d}" for i in range(n)]),
        "country": pa.array(rng.choice(["DE", "FR", "US"], n)),
        "currency": pa.array(rng.choice(["EUR", "USD"], n)),
        "qty": pa.array([str(x) for x in rng.integers(1, 50, n)]),
        "price": pa.array(np.where(np.arange(n) % 10 == 0, np.nan, rng.random(n) * 100)),
        "note": pa.array([f"note {i}" if i % 3 else None for i in range(n)]),
        "paid": pa.array(["true" if i % 2 else "false" for i in range(n)]),
    })


def test_infer_types_nullability_ranges_allowed_unique_regex():
    c = infer(_sample(), name="orders")
    s = c.schema
    assert c.name == "orders"
    assert [s[n].type for n in s.names] == ["int", "datetime", "date", "str", "str", "int",
                                          "float", "str", "bool"]
    assert s["order_id"].unique and not s["order_id"].nullable
    assert s["qty"].min == 0 and s["qty"].max >= 49
    assert s["country"].allowed == ["DE", "FR", "US"] and s["country"].regex == "^[A-Z]{2}$"
    assert s["currency"].regex == "^[A-Z]{3}$"
    assert s["note"].nullable and s["note"].allowed is None  # too many distinct values
    assert not s["ts"].nullable


def test_infer_then_check_on_the_sample_passes():
    t = _sample()
    c = infer(t)
    r = check(c, t)
    assert r.passed and r.bad.num_rows == 0 and r.good.num_rows == t.num_rows


def test_draft_yaml_is_editable_and_loads_back():
    c = infer(_sample())
    text = c.to_yaml()
    assert "order_id" in text and "drafted by datamill infer" in text
    assert Contract.from_yaml(text) == c
    # and catches what the sample did not have
    bad = _sample(30).set_column(3, "country", pa.array(["XX"] * 30))
    assert check(Contract.from_yaml(text), bad).bad.num_rows == 30


def test_infer_timezone_and_negative_ranges():
    t = pa.table({"ts": ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00+01:00"],
                  "delta": [-5.5, 12.25]})
    c = infer(t)
    assert c.schema["ts"].tz == "UTC"
    assert c.schema["delta"].min < -5.5 and c.schema["delta"].max > 12.25
    assert check(c, t).passed
