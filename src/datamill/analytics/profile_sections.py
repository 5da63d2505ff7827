"""The profile's per-kind sections beside the column cards: the trend over the first
datetime column, datetime distributions (hour, weekday, month), text columns (length,
character classes, common words) and the missing-value patterns (which columns are
missing together). Aggregates only."""

from __future__ import annotations

from typing import Any

from datamill.analytics.describe import ColumnStats

PERIODS = [("1h", 3600), ("1d", 86400), ("1w", 7 * 86400), ("1mo", 30.44 * 86400),
           ("1q", 91.3 * 86400), ("1y", 365.25 * 86400)]


def _trend(df: Any, stats: list[ColumnStats], target: str | None) -> dict[str, Any] | None:
    """Rows and means of up to three numeric columns per period of the first datetime
    column (the period chosen so there are at most 200 points)."""
    import polars as pl

    dts = [s for s in stats if s.kind == "datetime" and s.stats["distinct"] >= 2]
    if not dts:
        return None
    s = dts[0]
    span = s.stats["max"] - s.stats["min"]
    seconds = span.total_seconds() if hasattr(span, "total_seconds") else float(span.days * 86400)
    every = next((e for e, sec in PERIODS if seconds / sec <= 200), "1y")
    nums = [x.name for x in stats if x.kind == "numeric" and x.stats["count"]]
    if target in nums:
        nums = [target] + [c for c in nums if c != target]
    nums = nums[:3]
    col = pl.col(s.name)
    if df.schema[s.name] == pl.Date:
        col = col.cast(pl.Datetime)
    g = (df.lazy().filter(pl.col(s.name).is_not_null())
         .group_by(col.dt.truncate(every).alias("period"))
         .agg([pl.len().alias("rows")] + [pl.col(c).cast(pl.Float64).fill_nan(None).mean()
                                          .alias(c) for c in nums])
         .sort("period").collect())
    return {"column": s.name, "every": every,
            "periods": [p.isoformat() for p in g.get_column("period").to_list()],
            "rows": g.get_column("rows").to_list(),
            "means": {c: g.get_column(c).to_list() for c in nums}}
