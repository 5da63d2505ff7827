"""core/fingerprint.py: code fingerprints, cache keys, content hashes, mapped item keys."""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.core import fingerprint as fpmod
from datamill.core.fingerprint import (
    code_fingerprint,
    content_hash,
    item_key,
    item_keys,
    task_fingerprint,
)


def _load(tmp_path: Path, name: str, src: str):
    path = tmp_path / f"{name}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_a_thousand_term_expression_does_not_crash(tmp_path: Path):
    terms = " + ".join(f"x * {i}" for i in range(1000))
    mod = _load(tmp_path, "gen_big", f"def big(x):\n    return {terms}\n")
    assert sys.getrecursionlimit() < 5000  # the case that overflowed ast.dump
    fp = code_fingerprint(mod.big)
    assert len(fp) == 32
    # a change deep inside the expression changes the fingerprint
    other = terms.replace("x * 500", "x * 501")
    mod2 = _load(tmp_path, "gen_big2", f"def big(x):\n    return {other}\n")
    assert code_fingerprint(mod2.big) != fp
    # and formatting alone does not
    wrapped = terms.replace(" + x * 700", " +\n        x * 700")
    mod3 = _load(tmp_path, "gen_big3", f"def big(x):\n    return ({wrapped})\n")
    assert code_fingerprint(mod3.big) == fp


def test_iterative_dump_tells_structure_from_string_constants():
    a = ast.parse("f('(', 1)").body[0]
    b = ast.parse("f('(1', )").body[0]
    assert fpmod._dump_iterative(a) != fpmod._dump_iterative(b)


@given(st.recursive(
    st.integers(-5, 5).map(str) | st.sampled_from(["x", "y", "'('", "','", "None"]),
    lambda inner: st.tuples(inner, st.sampled_from(["+", "*", "-", " if x else "]), inner)
    .map(lambda t: f"({t[0]}{t[1]}{t[2]})")
    | st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
    max_leaves=12,
))
def test_iterative_dump_is_injective_like_ast_dump(expr: str):
    """Two expressions get the same iterative text exactly when ast.dump agrees."""
    node = ast.parse(expr, mode="eval")
    ref = ast.parse("(x + 1)", mode="eval")
    same_dump = ast.dump(node, annotate_fields=False) == ast.dump(ref, annotate_fields=False)
    same_iter = fpmod._dump_iterative(node) == fpmod._dump_iterative(ref)
    assert same_dump == same_iter


def test_code_fingerprint_ignores_decorators_and_docstring(tmp_path: Path):
    a = _load(tmp_path, "fa", "def f(x):\n    '''doc'''\n    return x + 1\n")
    b = _load(tmp_path, "fb", "import functools\n@functools.lru_cache\ndef f(x):\n"
                              "    # a comment\n    return x+1\n")
    c = _load(tmp_path, "fc", "def f(x):\n    return x + 2\n")
    assert code_fingerprint(a.f) == code_fingerprint(b.f.__wrapped__)
    assert code_fingerprint(a.f) != code_fingerprint(c.f)


def test_code_fingerprint_without_source_uses_bytecode():
    ns: dict = {}
    exec("def g(x):\n    return x * 3\n", ns)  # noqa: S102 - no source file on purpose
    exec("def h(x):\n    return x * 4\n", ns)  # noqa: S102
    assert code_fingerprint(ns["g"]) != code_fingerprint(ns["h"])


def test_task_fingerprint_order_independent_and_sensitive():
    base = task_fingerprint("c", "o", [("a", "1"), ("b", "2")], [("u", "v1")])
    assert base == task_fingerprint("c", "o", [("b", "2"), ("a", "1")], [("u", "v1")])
    assert base != task_fingerprint("c", "o", [("a", "1"), ("b", "3")], [("u", "v1")])
    assert base != task_fingerprint("c", "o", [("a", "1"), ("b", "2")], [("u", "v2")])
    assert base != task_fingerprint("c", "o", [("a", "1"), ("b", "2")], [("u", "v1")], "k")
    assert base != task_fingerprint("c", "o", [("a", "1"), ("b", "2")], [("u", "v1")],
                                    source_version="s")
    # separators cannot be forged by values
    assert task_fingerprint("c", "o", [("a", "1;b=2")], []) != task_fingerprint(
        "c", "o", [("a", "1"), ("b", "2")], [])


def test_content_hash_sees_data_not_repr():
    big = pd.DataFrame({"x": range(10_000)})
    changed = big.copy()
    changed.loc[5_000, "x"] = -1
    assert repr(big) == repr(changed)  # pandas shortens its repr
    assert content_hash(big) != content_hash(changed)
    arr = np.arange(100_000)
    arr2 = arr.copy()
    arr2[50_000] = 0
    assert content_hash(arr) != content_hash(arr2)
    assert content_hash(np.arange(3, dtype="int32")) != content_hash(np.arange(3, dtype="int64"))


def test_content_hash_of_tables_in_arrow_and_polars():
    pa = pytest.importorskip("pyarrow")
    pl = pytest.importorskip("polars")
    t = pa.table({"a": [1, 2, 3]})
    assert content_hash(t) == content_hash(pl.from_arrow(t))
    assert content_hash(t) != content_hash(pa.table({"a": [1, 2, 4]}))


@given(st.one_of(
    st.integers(), st.text(), st.floats(allow_nan=True),
    st.dates(), st.datetimes(), st.decimals(allow_nan=False),
    st.lists(st.integers(), max_size=5), st.dictionaries(st.text(max_size=3), st.integers()),
))
def test_content_hash_is_deterministic(value):
    assert content_hash(value) == content_hash(value)


def test_content_hash_distinguishes_types_with_equal_text():
    values = [1, "1", 1.0, [1], (1,), {"1": 1}, Decimal("1"), Path("1"),
              dt.date(2026, 1, 1), "2026-01-01", None, "None", True]
    hashes = {content_hash(v) for v in values}
    assert len(hashes) == len(values)


def test_item_keys_are_stable_short_and_unique():
    keys = item_keys(["a.csv", "b.csv", "a.csv", "a.csv"])
    assert keys[0] == item_key("a.csv") and len(keys[0]) == 12
    assert keys[2] == keys[0] + "-1" and keys[3] == keys[0] + "-2"
    assert item_keys(["b.csv"])[0] == keys[1]  # an item keeps its key when others change
