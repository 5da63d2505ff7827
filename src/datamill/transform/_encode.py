"""Fitted categorical encoders: one-hot, ordinal, target (smoothed) and hashing.

Categories are matched by their string form (``1`` and ``"1"`` are the same category),
so the learnt state is plain JSON and applies identically at serving time. What happens
to a category not seen in ``fit``:

- ``OneHotEncoder``: a 1 in the ``<col>___unseen__`` column (all category columns 0);
- ``OrdinalEncoder``: code ``-1``;
- ``TargetEncoder``: the global target mean of the training data;
- ``HashingEncoder``: hashed like any other value (it needs no vocabulary).

Nulls: one-hot gives all zeros, ordinal keeps null, target gives the global mean,
hashing gives all zeros (or a null index).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from datamill.errors import UsageError
from datamill.transform._frame import (
    Fitted,
    as_list,
    check_columns,
    check_numeric,
    not_reserved,
)

UNSEEN = "__unseen__"


def _key(c: str) -> pl.Expr:
    return pl.col(c).cast(pl.String)


class _Encoder(Fitted):
    def __init__(self, columns: str | list[str]):
        self.columns = as_list(columns)
        if not self.columns:
            raise UsageError(f"{type(self).__name__}: name the columns to encode, e.g. "
                             f"{type(self).__name__}(['city'])")

    def _check(self, df: pl.DataFrame, verb: str) -> None:
        check_columns(df, self.columns, f"{type(self).__name__}.{verb}")


class OneHotEncoder(_Encoder):
    """One 0/1 column per training category, ``<col><sep><category>``, plus ``<col><sep>__unseen__``.

    ``max_categories`` keeps the most frequent ones (ties by name); the rest count as
    unseen. The original column is dropped unless ``keep_original``.
    """

    kind = "onehot_encoder"

    def __init__(self, columns: str | list[str], max_categories: int | None = None,
                 sep: str = "_", keep_original: bool = False):
        super().__init__(columns)
        if max_categories is not None and max_categories < 1:
            raise UsageError(f"OneHotEncoder: max_categories must be >= 1, got {max_categories!r}")
        self.max_categories, self.sep, self.keep_original = max_categories, sep, keep_original

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns, "max_categories": self.max_categories,
                "sep": self.sep, "keep_original": self.keep_original}

    def _fit(self, df: pl.DataFrame) -> None:
        self._check(df, "fit")
        cats = {}
        for c in self.columns:
            counts = (df.select(_key(c).alias("k")).drop_nulls()
                      .group_by("k").len().sort(["len", "k"], descending=[True, False]))
            if self.max_categories is not None:
                counts = counts.head(self.max_categories)
            cats[c] = sorted(counts["k"].to_list())
        self.state = {"categories": cats}

    def output_columns(self) -> list[str]:
        cats = self.state["categories"]  # type: ignore[index]
        return [f"{c}{self.sep}{v}" for c in self.columns for v in [*cats[c], UNSEEN]]

    def _transform(self, df: pl.DataFrame) -> pl.DataFrame:
        self._check(df, "transform")
        cats: dict[str, list[str]] = self.state["categories"]  # type: ignore[index]
        names = self.output_columns()
        not_reserved(df, names, "OneHotEncoder.transform")
        exprs = []
        for c in self.columns:
            k = _key(c)
            for v in cats[c]:
                exprs.append((k == v).fill_null(False).cast(pl.UInt8).alias(f"{c}{self.sep}{v}"))
            exprs.append((k.is_not_null() & ~k.is_in(cats[c])).cast(pl.UInt8)
                         .alias(f"{c}{self.sep}{UNSEEN}"))
        out = df.with_columns(exprs)
        return out if self.keep_original else out.drop(self.columns)


class OrdinalEncoder(_Encoder):
    """Replace each category by an integer code: its position in the sorted training
    categories (or in ``categories={col: [...]}`` when given); unseen → ``-1``, null stays null.
    """

    kind = "ordinal_encoder"

    def __init__(self, columns: str | list[str], categories: dict[str, list[Any]] | None = None,
                 unseen: int = -1):
        super().__init__(columns)
        self.categories = ({k: [str(v) for v in vs] for k, vs in categories.items()}
                           if categories else None)
        self.unseen = int(unseen)

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns, "categories": self.categories, "unseen": self.unseen}

    def _fit(self, df: pl.DataFrame) -> None:
        self._check(df, "fit")
        cats = {}
        for c in self.columns:
            if self.categories and c in self.categories:
                cats[c] = list(self.categories[c])
            else:
                cats[c] = sorted(df.select(_key(c).drop_nulls().unique())[c].to_list())
        self.state = {"categories": cats}

    def _transform(self, df: pl.DataFrame) -> pl.DataFrame:
        self._check(df, "transform")
        cats: dict[str, list[str]] = self.state["categories"]  # type: ignore[index]
        exprs = []
        for c in self.columns:
            k = _key(c)
            code = k.replace_strict(cats[c], list(range(len(cats[c]))), default=self.unseen,
                                    return_dtype=pl.Int64)
            exprs.append(pl.when(k.is_null()).then(None).otherwise(code).alias(c))
        return df.with_columns(exprs)


class TargetEncoder(_Encoder):
    """Replace each category by the smoothed mean of ``target`` over its training rows.

    ``encoding = (n * mean_cat + smoothing * global_mean) / (n + smoothing)``: rare
    categories shrink toward the global mean. Fit on training data only (the target of
    rows being scored is never used); unseen categories and nulls get the global mean.
    Note ``fit_transform`` on the training set is in-sample (it sees each row's own
    target); for stacking, fit on one fold and transform another.
    """

    kind = "target_encoder"

    def __init__(self, columns: str | list[str], target: str, smoothing: float = 10.0):
        super().__init__(columns)
        if not isinstance(target, str) or not target:
            raise UsageError("TargetEncoder: target= must name the target column")
        if smoothing < 0:
            raise UsageError(f"TargetEncoder: smoothing must be >= 0, got {smoothing!r}")
        self.target, self.smoothing = target, float(smoothing)

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns, "target": self.target, "smoothing": self.smoothing}

    def _fit(self, df: pl.DataFrame) -> None:
        self._check(df, "fit")
        check_numeric(df, [self.target], "TargetEncoder.fit")
        y = pl.col(self.target).cast(pl.Float64)
        df = df.filter(y.is_not_null())
        if df.height == 0:
            raise UsageError(f"TargetEncoder.fit: target {self.target!r} has no non-null values")
        gmean = float(df.select(y.mean()).item())
        m = self.smoothing
        enc = {}
        for c in self.columns:
            g = (df.select(_key(c).alias("k"), y.alias("y")).drop_nulls("k")
                 .group_by("k").agg(pl.len().alias("n"), pl.col("y").sum().alias("s"))
                 .with_columns(((pl.col("s") + m * gmean) / (pl.col("n") + m)).alias("e"))
                 .sort("k"))
            enc[c] = dict(zip(g["k"].to_list(), g["e"].to_list(), strict=True))
        self.state = {"global_mean": gmean, "encodings": enc}

    def _transform(self, df: pl.DataFrame) -> pl.DataFrame:
        self._check(df, "transform")
        st: dict[str, Any] = self.state  # type: ignore[assignment]
        g = st["global_mean"]
        exprs = []
        for c in self.columns:
            e = st["encodings"][c]
            exprs.append(_key(c).replace_strict(list(e), list(e.values()), default=g,
                                                return_dtype=pl.Float64).alias(c))
        return df.with_columns(exprs)


def fnv1a_32(values: pl.Series) -> np.ndarray:
    """FNV-1a (32-bit) of each value's UTF-8 string form; stable across processes and versions.

    Vectorised over rows: one NumPy pass per byte position, not per value. Nulls hash to 0.
    """
    import pyarrow as pa

    arr = values.cast(pl.String).to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    n = len(arr)
    h = np.full(n, 2166136261, dtype=np.uint32)
    if n == 0:
        return h
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset: arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    prime = np.uint32(16777619)
    maxlen = int(lengths.max()) if n else 0
    idx = np.arange(n)
    for pos in range(maxlen):
        keep = lengths[idx] > pos
        idx = idx[keep]
        if idx.size == 0:
            break
        h[idx] = (h[idx] ^ data[starts[idx] + pos]) * prime
    valid = np.asarray(arr.is_valid())
    return np.where(valid, h, np.uint32(0))


class HashingEncoder(_Encoder):
    """Hash each value into one of ``n_features`` buckets (FNV-1a 32-bit of its string form).

    ``output="onehot"`` adds ``<col>_hash<i>`` 0/1 columns; ``output="index"`` replaces the
    column by its bucket number. Needs no vocabulary, so unseen values are no special case;
    distinct values may share a bucket. Values are hashed once per distinct value.
    """

    kind = "hashing_encoder"

    def __init__(self, columns: str | list[str], n_features: int = 32, output: str = "onehot",
                 keep_original: bool = False):
        super().__init__(columns)
        if not isinstance(n_features, int) or n_features < 1:
            raise UsageError(f"HashingEncoder: n_features must be an integer >= 1, got {n_features!r}")
        if output not in ("onehot", "index"):
            raise UsageError(f"HashingEncoder: output must be 'onehot' or 'index', got {output!r}")
        self.n_features, self.output, self.keep_original = n_features, output, keep_original

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns, "n_features": self.n_features, "output": self.output,
                "keep_original": self.keep_original}

    def _fit(self, df: pl.DataFrame) -> None:
        self._check(df, "fit")
        self.state = {"hash": "fnv1a_32"}

    def _bucket(self, df: pl.DataFrame, c: str) -> pl.Series:
        uniq = df.select(_key(c).alias("k")).unique()["k"]
        b = pl.Series("b", (fnv1a_32(uniq) % np.uint32(self.n_features)).astype(np.int32))
        table = pl.DataFrame({"k": uniq, "b": b})
        b = df.select(_key(c).alias("k")).join(table, on="k", how="left", nulls_equal=True,
                                               maintain_order="left")["b"]
        return pl.select(pl.when(df[c].is_null()).then(None).otherwise(b)).to_series()

    def _transform(self, df: pl.DataFrame) -> pl.DataFrame:
        self._check(df, "transform")
        out = df
        for c in self.columns:
            b = self._bucket(df, c)
            if self.output == "index":
                out = out.with_columns(b.alias(c))
                continue
            names = [f"{c}_hash{i}" for i in range(self.n_features)]
            not_reserved(out, names, "HashingEncoder.transform")
            out = out.with_columns([(b == i).fill_null(False).cast(pl.UInt8).alias(n)
                                    for i, n in enumerate(names)])
            if not self.keep_original:
                out = out.drop(c)
        return out


__all__ = ["UNSEEN", "HashingEncoder", "OneHotEncoder", "OrdinalEncoder", "TargetEncoder", "fnv1a_32"]
