"""Fitted numeric scalers: min-max, standard (z-score) and robust (median / IQR).

Each learns its statistics on training data with ``fit`` and applies exactly those with
``transform``; the learnt state is plain JSON (``to_dict`` / ``from_dict``). Nulls stay
null; a constant column (zero spread) is shifted but not divided (scale 1).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from datamill.errors import UsageError
from datamill.transform._frame import Fitted, as_list, check_numeric, numeric_columns


class _Scaler(Fitted):
    """Shared shape: per column ``out = (x - center) / scale + shift``."""

    def __init__(self, columns: str | list[str] | None = None):
        self.columns = as_list(columns) or None

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns}

    def _stats(self, df: pl.DataFrame, cols: list[str]) -> dict[str, dict[str, float | None]]:
        raise NotImplementedError  # pragma: no cover

    def _fit(self, df: pl.DataFrame) -> None:
        where = f"{type(self).__name__}.fit"
        cols = self.columns if self.columns is not None else numeric_columns(df)
        if not cols:
            raise UsageError(f"{where}: no numeric columns to scale; available columns: "
                             f"{', '.join(map(repr, df.columns))}")
        check_numeric(df, cols, where)
        self.state = {"columns": self._stats(df, cols)}

    def _transform(self, df: pl.DataFrame) -> pl.DataFrame:
        cols: dict[str, dict[str, Any]] = self.state["columns"]  # type: ignore[index]
        check_numeric(df, list(cols), f"{type(self).__name__}.transform")
        exprs = []
        for c, s in cols.items():
            center = s["center"] if s["center"] is not None else 0.0
            scale = s["scale"] if s["scale"] not in (None, 0.0) else 1.0
            shift = s.get("shift", 0.0)
            exprs.append(((pl.col(c).cast(pl.Float64) - center) / scale + shift).alias(c))
        return df.with_columns(exprs)


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


class MinMaxScaler(_Scaler):
    """Scale each column to ``feature_range`` (default 0..1) using the training min and max.

    Values outside the training range map outside ``feature_range`` (no clipping).
    """

    kind = "minmax_scaler"

    def __init__(self, columns: str | list[str] | None = None,
                 feature_range: tuple[float, float] | list[float] = (0.0, 1.0)):
        super().__init__(columns)
        lo, hi = feature_range
        if not hi > lo:
            raise UsageError(f"MinMaxScaler: feature_range must be (low, high) with low < high, "
                             f"got {tuple(feature_range)!r}")
        self.feature_range = (float(lo), float(hi))

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns, "feature_range": list(self.feature_range)}

    def _stats(self, df, cols):
        row = df.select([e for c in cols for e in (pl.col(c).min().alias(f"{c}\0min"),
                                                  pl.col(c).max().alias(f"{c}\0max"))]).row(0)
        lo, hi = self.feature_range
        out = {}
        for i, c in enumerate(cols):
            mn, mx = _f(row[2 * i]), _f(row[2 * i + 1])
            span = None if mn is None else (mx - mn) / (hi - lo)  # type: ignore[operator]
            out[c] = {"min": mn, "max": mx, "center": mn, "scale": span, "shift": lo}
        return out


class StandardScaler(_Scaler):
    """Subtract the training mean and divide by the training standard deviation (ddof=0)."""

    kind = "standard_scaler"

    def _stats(self, df, cols):
        row = df.select([e for c in cols for e in (pl.col(c).cast(pl.Float64).mean(),
                                                  pl.col(c).cast(pl.Float64).std(ddof=0).alias(f"{c}\0s"))]).row(0)
        return {c: {"center": _f(row[2 * i]), "scale": _f(row[2 * i + 1])}
                for i, c in enumerate(cols)}


class RobustScaler(_Scaler):
    """Subtract the training median and divide by the inter-quartile range.

    Robust to outliers; ``quantile_range`` (percent) picks another spread.
    """

    kind = "robust_scaler"

    def __init__(self, columns: str | list[str] | None = None,
                 quantile_range: tuple[float, float] | list[float] = (25.0, 75.0)):
        super().__init__(columns)
        lo, hi = quantile_range
        if not 0 <= lo < hi <= 100:
            raise UsageError(f"RobustScaler: quantile_range must be percents (low, high) with "
                             f"0 <= low < high <= 100, got {tuple(quantile_range)!r}")
        self.quantile_range = (float(lo), float(hi))

    def _params(self) -> dict[str, Any]:
        return {"columns": self.columns, "quantile_range": list(self.quantile_range)}

    def _stats(self, df, cols):
        lo, hi = self.quantile_range[0] / 100, self.quantile_range[1] / 100
        exprs = []
        for c in cols:
            x = pl.col(c).cast(pl.Float64)
            exprs += [x.median().alias(f"{c}\0m"),
                      x.quantile(lo, interpolation="linear").alias(f"{c}\0l"),
                      x.quantile(hi, interpolation="linear").alias(f"{c}\0h")]
        row = df.select(exprs).row(0)
        out = {}
        for i, c in enumerate(cols):
            med, q1, q3 = (_f(v) for v in row[3 * i: 3 * i + 3])
            out[c] = {"center": med, "scale": None if q1 is None else q3 - q1,  # type: ignore[operator]
                      "q_low": q1, "q_high": q3}
        return out


__all__ = ["MinMaxScaler", "RobustScaler", "StandardScaler"]
