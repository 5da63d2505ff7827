"""How rows are divided into training and test folds: holdout, k-fold, stratified, grouped
and time-based, all seeded.

A split is a small frozen object (so it is part of a task's fingerprint through its
``repr``) that yields ``(train_rows, test_rows)`` index arrays for a table. The time split
is the one users get wrong by hand: every training row is strictly earlier than every test
row of its fold (ties of the time column never straddle the boundary), with an optional
gap, so no future information leaks into training.

Strings are accepted where a split is expected: ``"holdout"``, ``"holdout:0.25"``,
``"kfold:5"``, ``"stratified:5"``, ``"group:5:customer_id"``, ``"time:ts"``,
``"time:ts:0.2"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamill.errors import UsageError

Folds = Iterator[tuple[np.ndarray, np.ndarray]]


def _check_fraction(name: str, v: float) -> None:
    if not 0.0 < v < 1.0:
        raise UsageError(f"{name}: test_size must be between 0 and 1 (exclusive), got {v!r}")


def _check_k(name: str, k: int, n: int) -> None:
    if k < 2:
        raise UsageError(f"{name}: k must be at least 2, got {k}")
    if n < k:
        raise UsageError(f"{name}: {n} rows cannot be split into {k} folds")


@dataclass(frozen=True)
class Holdout:
    """One random train/test split; ``stratify=True`` keeps class shares (classification)."""

    test_size: float = 0.2
    seed: int = 0
    stratify: bool = False

    def split(self, n: int, y: np.ndarray | None = None, frame: Any = None) -> Folds:
        _check_fraction("holdout", self.test_size)
        rng = np.random.default_rng(self.seed)
        if self.stratify and y is not None:
            test = []
            for cls in _classes(y):
                rows = np.flatnonzero(y == cls)
                take = max(1, round(len(rows) * self.test_size)) if len(rows) > 1 else 0
                test.append(rng.permutation(rows)[:take])
            test_rows = np.sort(np.concatenate(test)) if test else np.array([], dtype=np.int64)
        else:
            take = max(1, round(n * self.test_size))
            test_rows = np.sort(rng.permutation(n)[:take])
        if len(test_rows) == 0 or len(test_rows) >= n:
            raise UsageError(f"holdout: {n} rows are too few for a test share of "
                             f"{self.test_size}")
        mask = np.zeros(n, dtype=bool)
        mask[test_rows] = True
        yield np.flatnonzero(~mask), test_rows

    @property
    def n_folds(self) -> int:
        return 1


@dataclass(frozen=True)
class KFold:
    """``k`` folds of shuffled rows; ``stratify=True`` keeps class shares in each fold."""

    k: int = 5
    seed: int = 0
    stratify: bool = False

    def split(self, n: int, y: np.ndarray | None = None, frame: Any = None) -> Folds:
        _check_k("kfold", self.k, n)
        rng = np.random.default_rng(self.seed)
        assign = np.empty(n, dtype=np.int64)
        if self.stratify and y is not None:
            offset = 0
            for cls in _classes(y):  # deal each class round-robin, continuing the count
                rows = rng.permutation(np.flatnonzero(y == cls))
                assign[rows] = (np.arange(len(rows)) + offset) % self.k
                offset += len(rows)
        else:
            assign[rng.permutation(n)] = np.arange(n) % self.k
        for f in range(self.k):
            yield np.flatnonzero(assign != f), np.flatnonzero(assign == f)

    @property
    def n_folds(self) -> int:
        return self.k


def StratifiedKFold(k: int = 5, seed: int = 0) -> KFold:  # noqa: N802 - reads as a class
    """K-fold that keeps each class's share in every fold."""
    return KFold(k=k, seed=seed, stratify=True)


@dataclass(frozen=True)
class GroupKFold:
    """``k`` folds where all rows of one group (a customer, a device) share a fold, so the
    model is scored on groups it never saw. Groups are dealt largest first to the smallest
    fold (balanced), ties broken by a seeded shuffle."""

    column: str
    k: int = 5
    seed: int = 0

    def split(self, n: int, y: np.ndarray | None = None, frame: Any = None) -> Folds:
        if frame is None or self.column not in frame.columns:
            raise UsageError(f"group split: no column {self.column!r} in the table")
        groups = frame[self.column].to_numpy()
        codes, sizes = _codes(groups)
        if len(sizes) < self.k:
            raise UsageError(f"group split: {len(sizes)} distinct {self.column!r} values "
                             f"cannot fill {self.k} folds")
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(sizes))
        order = order[np.argsort(-sizes[order], kind="stable")]
        load = np.zeros(self.k, dtype=np.int64)
        fold_of = np.empty(len(sizes), dtype=np.int64)
        for g in order:
            f = int(np.argmin(load))
            fold_of[g] = f
            load[f] += sizes[g]
        assign = fold_of[codes]
        for f in range(self.k):
            yield np.flatnonzero(assign != f), np.flatnonzero(assign == f)

    @property
    def n_folds(self) -> int:
        return self.k


@dataclass(frozen=True)
class TimeSplit:
    """Train on the past, test on the future, by ``column``.

    With ``folds=1`` the last ``test_size`` share of distinct times is the test set (or the
    rows at or after ``cutoff``). With ``folds=k`` an expanding window: the time range after
    the first ``1 - test_size`` share is cut into ``k`` consecutive test blocks, each
    trained on everything before it. ``gap`` (in the column's units: a ``timedelta`` for
    times, a number otherwise) leaves out training rows closer than that to the test block.
    Rows with a null time are refused: they cannot be placed in time.
    """

    column: str
    test_size: float = 0.2
    folds: int = 1
    cutoff: Any = None
    gap: Any = None

    def split(self, n: int, y: np.ndarray | None = None, frame: Any = None) -> Folds:
        import pandas as pd

        if frame is None or self.column not in frame.columns:
            raise UsageError(f"time split: no column {self.column!r} in the table")
        t = frame[self.column]
        if t.isna().any():
            raise UsageError(f"time split: column {self.column!r} has {int(t.isna().sum())} "
                             "null values; drop or fill them before splitting by time")
        values = t.to_numpy()
        uniq = np.unique(values)
        if self.cutoff is not None:
            cut = pd.Timestamp(self.cutoff).to_datetime64() if np.issubdtype(
                uniq.dtype, np.datetime64) else self.cutoff
            starts = [cut]
            ends = [None]
        else:
            _check_fraction("time split", self.test_size)
            if self.folds < 1:
                raise UsageError(f"time split: folds must be at least 1, got {self.folds}")
            first = int(np.floor(len(uniq) * (1 - self.test_size)))
            if first < 1 or len(uniq) - first < self.folds:
                raise UsageError(f"time split: {len(uniq)} distinct {self.column!r} values are "
                                 f"too few for test_size={self.test_size} and "
                                 f"{self.folds} fold(s)")
            bounds = np.linspace(first, len(uniq), self.folds + 1).round().astype(int)
            starts = [uniq[b] for b in bounds[:-1]]
            ends = [uniq[b] if b < len(uniq) else None for b in bounds[1:]]
        for start, end in zip(starts, ends, strict=True):
            test = values >= start
            if end is not None:
                test &= values < end
            limit = start - self.gap if self.gap is not None else start
            train = values < limit
            if not test.any() or not train.any():
                raise UsageError(f"time split: the cut at {start!r} leaves an empty "
                                 "training or test set")
            yield np.flatnonzero(train), np.flatnonzero(test)

    @property
    def n_folds(self) -> int:
        return 1 if self.cutoff is not None else self.folds


Split = Holdout | KFold | GroupKFold | TimeSplit


def parse_split(spec: Any, *, classification: bool = False) -> Split:
    """A split object from a split or its string form (see the module docstring)."""
    if isinstance(spec, Holdout | KFold | GroupKFold | TimeSplit):
        return spec
    if spec is None:
        return Holdout(stratify=classification)
    if not isinstance(spec, str):
        raise UsageError(f"split must be a datamill.ml split or a string such as 'kfold:5', "
                         f"got {type(spec).__name__}")
    kind, *args = spec.split(":")
    try:
        if kind == "holdout":
            return Holdout(float(args[0]) if args else 0.2, stratify=classification)
        if kind == "kfold":
            return KFold(int(args[0]) if args else 5, stratify=False)
        if kind == "stratified":
            return KFold(int(args[0]) if args else 5, stratify=True)
        if kind == "group":
            if len(args) == 1:
                return GroupKFold(args[0])
            return GroupKFold(args[1], int(args[0]))
        if kind == "time":
            return TimeSplit(args[0], float(args[1]) if len(args) > 1 else 0.2)
    except (IndexError, ValueError) as exc:
        raise UsageError(f"split {spec!r} cannot be read ({exc}); e.g. 'holdout:0.2', "
                         "'kfold:5', 'stratified:5', 'group:5:customer_id', 'time:ts:0.2'"
                         ) from None
    raise UsageError(f"unknown split {spec!r}; use holdout, kfold, stratified, group or time")


def _classes(y: np.ndarray) -> np.ndarray:
    return np.unique(y)


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of ``values`` and the size of each code."""
    import pandas as pd

    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, np.bincount(codes, minlength=len(uniques))


__all__ = ["GroupKFold", "Holdout", "KFold", "Split", "StratifiedKFold", "TimeSplit",
           "parse_split"]
