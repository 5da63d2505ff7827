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


MAX_DATETIME = 10
MAX_TEXT = 20
MAX_TEXT_CANDIDATES = 200  # string columns looked at for free text (wide tables stay linear)
TEXT_ROWS = 20_000  # rows of the sample read for lengths, character classes and words
TOP_WORDS = 15
MAX_PATTERN_COLUMNS = 30
TOP_PATTERNS = 12
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
CHAR_CLASSES = {"letters": r"\p{L}", "digits": r"\p{Nd}", "spaces": r"\s",
                "punctuation": r"\p{P}", "symbols": r"\p{S}"}


def datetime_distributions(df: Any, stats: list[ColumnStats]) -> dict[str, Any]:
    """Rows per hour of day (when the column has times), weekday and month, per datetime
    column, over all rows."""
    import polars as pl

    out: dict[str, Any] = {}
    cols = [s.name for s in stats if s.kind == "datetime" and s.stats["count"]][:MAX_DATETIME]
    if not cols:
        return out
    schema = df.schema
    exprs = []
    for c in cols:
        col = pl.col(c).drop_nulls()
        exprs += [col.dt.weekday().implode().alias(f"{c}\0w"),
                  col.dt.month().implode().alias(f"{c}\0m")]
        if schema[c] != pl.Date:
            exprs.append(col.dt.hour().implode().alias(f"{c}\0h"))
            exprs.append((col.dt.time() != pl.time(0)).any().alias(f"{c}\0t"))
    row = df.select(exprs)
    import numpy as np

    def counts(key: str, lo: int, k: int) -> list[int]:
        v = row.get_column(key)[0].to_numpy()
        return np.bincount(v.astype(np.int64) - lo, minlength=k)[:k].tolist()

    for c in cols:
        has_time = f"{c}\0t" in row.columns and bool(row.get_column(f"{c}\0t")[0])
        out[c] = {"hour": counts(f"{c}\0h", 0, 24) if has_time else None,
                  "weekday": counts(f"{c}\0w", 1, 7), "month": counts(f"{c}\0m", 1, 12)}
    return out


def _is_text(s: Any, distinct: int, count: int) -> bool:
    """Free text rather than a category: long or multi-word values, or mostly unique ones."""
    lens = s.str.len_chars()
    words = s.str.count_matches(r"\s+") + 1
    mean_len = lens.mean() or 0
    return bool(mean_len >= 20 or (words.mean() or 0) >= 2 or (
        distinct >= 50 and count and distinct >= 0.5 * count))


def text_columns(smp: Any, stats: list[ColumnStats]) -> dict[str, Any]:
    """For string columns holding free text (long, multi-word or mostly unique values): the
    distribution of lengths, the share of each character class and the most common words,
    from the first rows of the sample."""
    import numpy as np
    import polars as pl

    out: dict[str, Any] = {}
    schema = smp.schema  # once: Polars rebuilds the whole schema on every access
    cands = [st for st in stats if st.kind == "categorical"
             and schema[st.name] in (pl.String, pl.Categorical)][:MAX_TEXT_CANDIDATES]
    if not cands:
        return out
    head = smp.select([st.name for st in cands]).head(TEXT_ROWS)
    for st in cands:
        if len(out) >= MAX_TEXT:
            break
        s = head.get_column(st.name).cast(pl.String).drop_nulls()
        if s.len() == 0 or not _is_text(s, st.stats["distinct"], st.stats["count"]):
            continue
        lens = s.str.len_chars().to_numpy().astype(np.int64)
        lo, hi = int(lens.min()), int(lens.max())
        width = max(1, -(-(hi - lo + 1) // 40))
        edges = np.arange(lo - 0.5, hi + width + 0.5, width)
        if edges[-1] < hi + 0.5:
            edges = np.append(edges, edges[-1] + width)
        hist, _ = np.histogram(lens, bins=edges)
        total = int(lens.sum())
        classes = {k: int(s.str.count_matches(p).sum()) for k, p in CHAR_CLASSES.items()}
        classes["other"] = max(0, total - sum(classes.values()))
        words = (s.str.to_lowercase().str.extract_all(r"\p{L}[\p{L}\p{Nd}'_-]*").explode()
                 .drop_nulls())
        top = words.value_counts(sort=True, name="n").head(TOP_WORDS) if words.len() else None
        out[st.name] = {
            "rows": int(s.len()),
            "length": {"edges": edges.tolist(), "counts": hist.astype(int).tolist(),
                       "min": lo, "mean": float(lens.mean()), "median": float(np.median(lens)),
                       "max": hi},
            "characters": total,
            "char_classes": {k: (v / total if total else None) for k, v in classes.items()},
            "words": [] if top is None else [[w, int(n)] for w, n in top.iter_rows()],
            "distinct_words": int(words.n_unique()) if words.len() else 0,
        }
    return out


def missing_patterns(df: Any, stats: list[ColumnStats]) -> dict[str, Any] | None:
    """Which columns are missing together, over all rows: the most common combinations of
    missing columns (with their row counts) and the correlation of the missingness
    indicators (1 = missing), computed from the pattern counts."""
    import numpy as np
    import polars as pl

    with_nulls = sorted((s for s in stats if s.stats["nulls"]), key=lambda s: -s.stats["nulls"])
    cols = [s.name for s in with_nulls[:MAX_PATTERN_COLUMNS]]
    if not cols:
        return None
    kinds = {s.name: s.kind for s in stats}
    miss = [(pl.col(c).cast(pl.Float64).is_nan() | pl.col(c).is_null()).fill_null(True)
            if kinds[c] == "numeric" else pl.col(c).is_null() for c in cols]
    # one integer per row, bit k set when column k is missing: one value count instead of
    # a group-by over up to 30 boolean columns
    key = pl.sum_horizontal([m.cast(pl.UInt64) * (1 << k) for k, m in enumerate(miss)])
    vc = df.select(key.alias("k")).get_column("k").value_counts(sort=True, name="n")
    keys = vc.get_column("k").to_numpy().astype(np.uint64)
    w = vc.get_column("n").to_numpy().astype(float)
    order = np.lexsort((keys, -w))  # most rows first, ties in a fixed order
    keys, w = keys[order], w[order]
    p = ((keys[:, None] >> np.arange(len(cols), dtype=np.uint64)) & np.uint64(1)).astype(float)
    n = float(w.sum())
    top = min(TOP_PATTERNS, len(w))
    out: dict[str, Any] = {
        "columns": cols,
        "patterns": [{"missing": [bool(v) for v in p[i]], "rows": int(w[i])} for i in range(top)],
        "other_patterns": max(0, len(w) - top),
        "other_rows": int(w[TOP_PATTERNS:].sum()),
        "nullity_correlation": None,
    }
    if len(cols) >= 2 and n:
        mean = (p * w[:, None]).sum(0) / n
        cov = (p * w[:, None]).T @ p / n - np.outer(mean, mean)
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = cov / np.outer(sd, sd)
        r[~np.isfinite(r)] = np.nan
        np.fill_diagonal(r, 1.0)
        out["nullity_correlation"] = {"columns": cols, "matrix": np.clip(r, -1, 1).tolist()}
    return out
