"""Splits: every row lands in exactly one test fold, seeded, and the time split never
trains on the future."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill import ml
from datamill.errors import UsageError


def _partition(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> None:
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(n))  # each row tested exactly once
    for tr, te in folds:
        assert not set(tr.tolist()) & set(te.tolist())
        assert len(tr) + len(te) == n


@given(n=st.integers(10, 300), k=st.integers(2, 8), seed=st.integers(0, 2**31))
def test_kfold_partitions_the_rows_and_is_seeded(n: int, k: int, seed: int) -> None:
    if n < k:
        return
    folds = list(ml.KFold(k, seed).split(n))
    _partition(folds, n)
    sizes = [len(te) for _, te in folds]
    assert max(sizes) - min(sizes) <= 1
    again = list(ml.KFold(k, seed).split(n))
    assert all((a[1] == b[1]).all() for a, b in zip(folds, again, strict=True))


@given(y=st.lists(st.sampled_from(["a", "b", "c"]), min_size=30, max_size=300),
       k=st.integers(2, 5))
def test_stratified_kfold_keeps_class_shares(y: list[str], k: int) -> None:
    arr = np.array(y)
    folds = list(ml.StratifiedKFold(k).split(len(arr), arr))
    _partition(folds, len(arr))
    for cls in set(y):
        per_fold = [int((arr[te] == cls).sum()) for _, te in folds]
        assert max(per_fold) - min(per_fold) <= 1  # dealt round-robin


@given(groups=st.lists(st.integers(0, 30), min_size=20, max_size=200), k=st.integers(2, 5))
def test_group_kfold_never_splits_a_group(groups: list[int], k: int) -> None:
    frame = pd.DataFrame({"g": groups})
    if frame.g.nunique() < k:
        with pytest.raises(UsageError, match="distinct 'g' values"):
            list(ml.GroupKFold("g", k).split(len(frame), None, frame))
        return
    folds = list(ml.GroupKFold("g", k).split(len(frame), None, frame))
    _partition(folds, len(frame))
    for tr, te in folds:
        assert not set(frame.g.iloc[tr]) & set(frame.g.iloc[te])


@given(days=st.lists(st.integers(0, 60), min_size=10, max_size=300),
       test_size=st.floats(0.05, 0.6), folds=st.integers(1, 4), gap=st.integers(0, 3))
def test_time_split_never_trains_on_the_future(days: list[int], test_size: float, folds: int,
                                               gap: int) -> None:
    ts = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D"))
    frame = pd.DataFrame({"ts": ts})
    split = ml.TimeSplit("ts", test_size=test_size, folds=folds, gap=dt.timedelta(days=gap))
    try:
        out = list(split.split(len(frame), None, frame))
    except UsageError as exc:  # too few distinct times for this shape: said so
        assert "too few" in str(exc) or "empty" in str(exc)
        return
    assert len(out) == folds
    seen_test: set[int] = set()
    for tr, te in out:
        # every training time is before every test time, by at least the gap
        assert ts.iloc[tr].max() + dt.timedelta(days=gap) <= ts.iloc[te].min()
        assert ts.iloc[tr].max() < ts.iloc[te].min()
        assert not seen_test & set(te.tolist())  # test blocks do not overlap
        seen_test |= set(te.tolist())


def test_time_split_refuses_null_times_and_names_the_column() -> None:
    frame = pd.DataFrame({"ts": [pd.Timestamp("2024-01-01"), None, pd.Timestamp("2024-01-03")]})
    with pytest.raises(UsageError, match="'ts' has 1 null"):
        list(ml.TimeSplit("ts").split(3, None, frame))


def test_time_split_by_cutoff() -> None:
    frame = pd.DataFrame({"ts": pd.date_range("2024-01-01", periods=10, freq="D")})
    [(tr, te)] = ml.TimeSplit("ts", cutoff="2024-01-08").split(10, None, frame)
    assert tr.tolist() == list(range(7)) and te.tolist() == [7, 8, 9]


@pytest.mark.parametrize(("spec", "expected"), [
    ("holdout", ml.Holdout(0.2)),
    ("holdout:0.3", ml.Holdout(0.3)),
    ("kfold:4", ml.KFold(4)),
    ("stratified:3", ml.KFold(3, stratify=True)),
    ("group:4:customer", ml.GroupKFold("customer", 4)),
    ("group:customer", ml.GroupKFold("customer")),
    ("time:ts", ml.TimeSplit("ts")),
    ("time:ts:0.1", ml.TimeSplit("ts", 0.1)),
])
def test_split_strings(spec: str, expected: object) -> None:
    assert ml.parse_split(spec) == expected


@pytest.mark.parametrize("spec", ["kfold:x", "nope", "holdout:2", "time"])
def test_bad_split_strings_say_what_is_accepted(spec: str) -> None:
    with pytest.raises(UsageError):
        s = ml.parse_split(spec)
        list(s.split(10, None, pd.DataFrame({"a": range(10)})))
