"""The EDA profile report: overview, missing values, distributions, correlations, outliers,
skewness, multicollinearity, PCA, pair plots, a trend and the warnings a person should read.

Every number is an aggregate: the per-column statistics come from ``describe``'s passes
(one sort per numeric column), Pearson correlations from chunked pairwise sums over all rows,
and the expensive parts (Spearman, Cramér's V, VIF, PCA, pair plots) from a random sample of
``sample`` rows. ``facts`` is plain JSON (undefined values are ``None``, never NaN).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamill.analytics.describe import ColumnStats, column_stats, to_polars

DEFAULT_SAMPLE = 100_000
TOP_LEVELS = 20  # Cramér's V: levels kept per categorical column, the rest lumped together
MAX_CATEGORICAL = 30  # categorical columns in the Cramér's V matrix
MAX_NUMERIC = 40  # numeric columns in the correlation matrices, VIF and PCA
PAIRS = 6
GRID = 30
CHUNK = 250_000

# warning thresholds (documented in docs/analytics-profile.md)
HIGH_NULLS = 0.20
HIGH_CARDINALITY = 1000
HIGH_CARDINALITY_SHARE = 0.5
HEAVY_SKEW = 2.0
HIGH_CORRELATION = 0.95
LEAKAGE = 0.95
HIGH_VIF = 10.0


@dataclass
class ProfileReport:
    """A profile's ``facts`` (JSON-able) with its renderings: HTML page, JSON, rich table."""

    facts: dict[str, Any]
    title: str = "Data profile"
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        return list(self.facts.get("warnings", []))

    def to_dict(self) -> dict[str, Any]:
        return self.facts

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.facts, indent=indent, allow_nan=False, ensure_ascii=False)

    def to_html(self) -> str:
        from datamill.analytics.profile_html import render

        return render(self.facts)

    def save(self, path: str | Path) -> Path:
        """Write the HTML page, or the JSON facts when ``path`` ends with ``.json``."""
        p = Path(path).expanduser()
        text = self.to_json(indent=1) if p.suffix.lower() == ".json" else self.to_html()
        p.write_text(text, encoding="utf-8")
        return p

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.markup import escape
        from rich.table import Table

        o = self.facts["overview"]
        head = Table(title=escape(self.facts["title"]), show_header=False)
        head.add_column("what")
        head.add_column("value", justify="right")
        head.add_row("rows", f"{o['rows']:,}")
        head.add_row("columns", f"{o['columns']:,}")
        head.add_row("types", ", ".join(f"{k} {v}" for k, v in o["kinds"].items()) or "–")
        head.add_row("memory", f"{o['memory_bytes'] / 1e6:,.1f} MB")
        head.add_row("duplicate rows", f"{o['duplicate_rows']:,}")
        head.add_row("missing cells", f"{o['missing_cells']:,}")
        cols = Table(title="columns")
        for h in ("column", "type", "nulls", "distinct", "mean / mode", "min", "max"):
            cols.add_column(h, justify="left" if h in ("column", "type") else "right")
        for name, c in self.facts["columns"].items():
            centre = c["mean"] if c["kind"] == "numeric" else c["mode"]
            cols.add_row(escape(name), c["kind"], f"{c['nulls']:,}", f"{c['distinct']:,}",
                         escape(_short(centre)), escape(_short(c["min"])), escape(_short(c["max"])))
        warns = Table(title="warnings", show_header=False)
        warns.add_column("warning", style="yellow")
        for w in self.warnings or ["nothing to warn about"]:
            warns.add_row(escape(w))
        return Group(head, cols, warns)


def _short(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)[:24]


# -- the public function ----------------------------------------------------------------------


def profile(data: Any, *, target: str | None = None, sample: int | None = None,
            minimal: bool = False, title: str | None = None) -> ProfileReport:
    """Profile a table (pandas, Polars, Arrow or a table file) into a ``ProfileReport``.

    ``target`` names the column a model will predict (features suspiciously associated with
    it are reported as leakage); ``sample`` caps the rows used by the expensive sections
    (default 100,000); ``minimal`` skips Spearman, Cramér's V, VIF, PCA and pair plots.
    """
    import polars as pl

    from datamill.errors import UsageError

    timings: dict[str, float] = {}
    t = time.perf_counter()
    mixed: list[str] = []
    df = to_polars(data, notes=mixed)
    if target is not None and target not in df.columns:
        raise UsageError(f"profile: the target {target!r} is not a column "
                         f"(columns: {', '.join(df.columns) or 'none'})")
    sample = DEFAULT_SAMPLE if sample is None else int(sample)
    if sample < 1:
        raise UsageError(f"profile: --sample must be a positive number of rows, not {sample}")
    n = df.height
    timings["load"] = _lap(t)

    t = time.perf_counter()
    stats = column_stats(df, extras=True, top=TOP_LEVELS)
    by_name = {s.name: s for s in stats}
    timings["columns"] = _lap(t)

    t = time.perf_counter()
    overview = _overview(df, stats)
    timings["overview"] = _lap(t)

    num = [s.name for s in stats if s.kind == "numeric" and s.stats["distinct"] >= 2
           and s.stats["std"] is not None][:MAX_NUMERIC]
    cat = [s.name for s in stats if s.kind == "categorical" and 2 <= s.stats["distinct"]
           and not _id_like(s, n)][:MAX_CATEGORICAL]
    smp = df if n <= sample else df.sample(sample, seed=0)
    facts: dict[str, Any] = {
        "title": title or "Data profile",
        "settings": {"target": target, "sample": sample, "sampled_rows": smp.height,
                     "minimal": minimal},
        "overview": overview,
        "columns": {s.name: _column_facts(s, n) for s in stats},
    }
    facts["missing"] = {s.name: {"nulls": s.stats["nulls"],
                                 "share": s.stats["nulls"] / n if n else None} for s in stats}
    facts["outliers"] = {c: {"iqr": by_name[c].extras.get("iqr_outliers", 0),
                             "z": by_name[c].extras.get("z_outliers", 0)}
                         for c in (s.name for s in stats if s.kind == "numeric")}
    facts["skewness"] = {s.name: s.stats["skewness"] for s in stats if s.kind == "numeric"}

    t = time.perf_counter()
    corr: dict[str, Any] = {}
    pearson = None
    if len(num) >= 2:
        pearson = _pearson_full(df, num)
        corr["pearson"] = {"columns": num, "matrix": pearson.tolist()}
        if not minimal:
            ranks = smp.select([pl.col(c).cast(pl.Float64).fill_nan(None).rank("average")
                                for c in num]).to_numpy().astype(float)
            corr["spearman"] = {"columns": num, "matrix": _pairwise_corr(ranks)[0].tolist()}
    timings["pearson_spearman"] = _lap(t)
    t = time.perf_counter()
    codes = _codes(smp, cat, by_name) if cat and not minimal else {}
    if len(cat) >= 2 and not minimal:
        corr["cramers_v"] = {"columns": cat, "matrix": _cramers_matrix(codes, cat).tolist()}
    facts["correlations"] = corr
    timings["cramers_v"] = _lap(t)

    t = time.perf_counter()
    facts["target"] = _target_association(df, smp, target, by_name, num, cat, pearson, codes)
    timings["target"] = _lap(t)

    facts["vif"] = facts["pca"] = None
    facts["pairs"] = []
    if not minimal and len(num) >= 2:
        t = time.perf_counter()
        feats = [c for c in num if c != target]  # VIF and PCA describe the features
        block = smp.select([pl.col(c).cast(pl.Float64).fill_nan(None) for c in feats]).drop_nulls()
        z = block.to_numpy().astype(float) if len(feats) >= 2 and block.height > len(feats) + 1 \
            else None
        facts["vif"] = _vif(z, feats)
        timings["vif"] = _lap(t)
        t = time.perf_counter()
        facts["pca"] = _pca(z, feats)
        timings["pca"] = _lap(t)
        t = time.perf_counter()
        facts["pairs"] = _pairs(smp, num, pearson, by_name)
        timings["pairs"] = _lap(t)

    t = time.perf_counter()
    facts["trend"] = _trend(df, stats, target)
    timings["trend"] = _lap(t)
    facts["warnings"] = _warnings(facts, stats, n, target, mixed)
    facts["timings"] = {k: round(v, 4) for k, v in timings.items()}
    facts = _clean(facts)
    return ProfileReport(facts, facts["title"], timings)


def _lap(t: float) -> float:
    return time.perf_counter() - t


def _id_like(s: ColumnStats, n: int) -> bool:
    d, c = s.stats["distinct"], s.stats["count"]
    return c > 1 and (d == c or (d > HIGH_CARDINALITY and d >= HIGH_CARDINALITY_SHARE * c))


# -- sections ---------------------------------------------------------------------------------


def _overview(df: Any, stats: list[ColumnStats]) -> dict[str, Any]:
    import polars as pl

    n = df.height
    kinds: dict[str, int] = {}
    for s in stats:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    dups = 0
    if n > 1 and df.width:
        try:
            dups = n - df.hash_rows(seed=0).n_unique()
            if dups:  # a hash collision could only over-count: confirm exactly
                dups = n - df.n_unique()
        except pl.exceptions.PolarsError:
            dups = n - df.n_unique()
    missing = sum(s.stats["nulls"] for s in stats)
    rows_nulls = 0
    if n and df.width:
        rows_nulls = int(df.select(pl.any_horizontal(
            [pl.col(s.name).cast(pl.Float64).is_nan() | pl.col(s.name).is_null()
             if s.kind == "numeric" else pl.col(s.name).is_null() for s in stats]).sum()).item())
    return {"rows": n, "columns": df.width, "kinds": kinds,
            "dtypes": {c: str(t) for c, t in df.schema.items()},
            "memory_bytes": int(df.estimated_size()), "duplicate_rows": dups,
            "duplicate_share": dups / n if n else None, "missing_cells": missing,
            "missing_share": missing / (n * df.width) if n and df.width else None,
            "rows_with_missing": rows_nulls}


def _column_facts(s: ColumnStats, n: int) -> dict[str, Any]:
    out = {"kind": s.kind, **s.stats}
    out["null_share"] = s.stats["nulls"] / n if n else None
    out["distinct_share"] = s.stats["distinct"] / s.stats["count"] if s.stats["count"] else None
    for k in ("histogram", "box", "top", "iqr_outliers", "z_outliers", "top_share", "infinite"):
        if k in s.extras:
            out[k] = s.extras[k]
    return out


def _pairwise_corr(x: Any) -> tuple[Any, Any]:
    """Pearson correlations of the columns of ``x`` over pairwise-complete rows (NaN is
    missing), from sums, so memory stays O(columns²) per chunk."""
    import numpy as np

    k = x.shape[1]
    cnt = np.zeros((k, k))
    sx = np.zeros((k, k))
    sxx = np.zeros((k, k))
    sxy = np.zeros((k, k))
    _accumulate(x, cnt, sx, sxx, sxy)
    return _finish_corr(cnt, sx, sxx, sxy), cnt


def _accumulate(x: Any, cnt: Any, sx: Any, sxx: Any, sxy: Any) -> None:
    import numpy as np

    m = ~np.isnan(x)
    mf = m.astype(float)
    x0 = np.where(m, x, 0.0)
    cnt += mf.T @ mf
    sx += x0.T @ mf  # sx[i, j]: sum of column i over rows where j is present too
    sxx += (x0 * x0).T @ mf
    sxy += x0.T @ x0


def _finish_corr(cnt: Any, sx: Any, sxx: Any, sxy: Any) -> Any:
    import numpy as np

    with np.errstate(invalid="ignore", divide="ignore"):
        cov = cnt * sxy - sx * sx.T
        var_i = cnt * sxx - sx * sx
        var_j = var_i.T
        r = cov / np.sqrt(var_i * var_j)
    r[(cnt < 3) | ~np.isfinite(r)] = np.nan
    r = np.clip(r, -1.0, 1.0)
    np.fill_diagonal(r, 1.0)
    return r


def _pearson_full(df: Any, num: list[str]) -> Any:
    import numpy as np
    import polars as pl

    k = len(num)
    cnt, sx, sxx, sxy = (np.zeros((k, k)) for _ in range(4))
    # centre on the means first: sums of squares of raw values lose precision
    sel = df.select([pl.col(c).cast(pl.Float64).fill_nan(None) - pl.col(c).cast(pl.Float64)
                     .fill_nan(None).mean() for c in num])
    for off in range(0, df.height, CHUNK):
        x = sel.slice(off, CHUNK).to_numpy().astype(float)
        _accumulate(x, cnt, sx, sxx, sxy)
    return _finish_corr(cnt, sx, sxx, sxy)


def _codes(smp: Any, cat: list[str], by_name: dict[str, ColumnStats]) -> dict[str, Any]:
    """Integer codes per categorical column on the sample: its top levels, then one code for
    all other levels; -1 for missing."""
    import numpy as np
    import polars as pl

    out = {}
    for c in cat:
        levels = [v for v, _ in by_name[c].extras.get("top", [])][:TOP_LEVELS]
        mapping = {v: i for i, v in enumerate(levels)}
        col = smp.get_column(c).cast(pl.String)
        codes = col.replace_strict(mapping, default=len(levels), return_dtype=pl.Int32)
        arr = codes.to_numpy().astype(float)
        arr[col.is_null().to_numpy()] = -1
        out[c] = np.nan_to_num(arr, nan=-1).astype(np.int64)
    return out


def _cramers_v(a: Any, b: Any) -> float | None:
    """Bias-corrected Cramér's V (Bergsma 2013) of two code arrays (-1 is missing)."""
    import numpy as np

    keep = (a >= 0) & (b >= 0)
    a, b = a[keep], b[keep]
    n = len(a)
    if n < 2:
        return None
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb).astype(float)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    r, k = table.shape
    if r < 2 or k < 2:
        return None
    expected = np.outer(table.sum(1), table.sum(0)) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    phi2 = max(0.0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    rc = r - (r - 1) ** 2 / (n - 1)
    kc = k - (k - 1) ** 2 / (n - 1)
    d = min(rc - 1, kc - 1)
    return float(min(1.0, math.sqrt(phi2 / d))) if d > 0 else None


def _cramers_matrix(codes: dict[str, Any], cat: list[str]) -> Any:
    import numpy as np

    k = len(cat)
    m = np.full((k, k), np.nan)
    for i in range(k):
        m[i, i] = 1.0
        for j in range(i + 1, k):
            v = _cramers_v(codes[cat[i]], codes[cat[j]])
            m[i, j] = m[j, i] = np.nan if v is None else v
    return m


def _eta(codes: Any, y: Any) -> float | None:
    """Correlation ratio of a numeric ``y`` on categorical codes (-1 and NaN are missing)."""
    import numpy as np

    keep = (codes >= 0) & ~np.isnan(y)
    c, y = codes[keep], y[keep]
    if len(y) < 3:
        return None
    total = float(((y - y.mean()) ** 2).sum())
    if total == 0:
        return None
    cnt = np.bincount(c)
    sums = np.bincount(c, weights=y)
    nz = cnt > 0
    between = float((sums[nz] ** 2 / cnt[nz]).sum() - y.sum() ** 2 / len(y))
    return float(math.sqrt(max(0.0, min(1.0, between / total))))


def _target_association(df: Any, smp: Any, target: str | None, by_name: dict[str, ColumnStats],
                        num: list[str], cat: list[str], pearson: Any,
                        codes: dict[str, Any]) -> dict[str, Any] | None:
    """Each feature's association with the target: |Pearson| between numerics, Cramér's V
    between categoricals, the correlation ratio between a categorical and a numeric."""
    import numpy as np
    import polars as pl

    if target is None:
        return None
    tk = by_name[target].kind
    out: dict[str, Any] = {}
    method: dict[str, str] = {}
    if tk == "numeric" and target in num:
        y = smp.get_column(target).cast(pl.Float64).fill_nan(None).to_numpy().astype(float)
        for c in num:
            if c != target and pearson is not None:
                v = pearson[num.index(target), num.index(c)]
                out[c], method[c] = (None if np.isnan(v) else abs(float(v))), "pearson"
        needed = [c for c in cat if c not in codes]
        codes = {**codes, **(_codes(smp, needed, by_name) if needed else {})}
        for c in cat:
            out[c], method[c] = _eta(codes[c], y), "correlation ratio"
    elif tk == "categorical" and target in cat:
        needed = [c for c in cat if c not in codes]
        codes = {**codes, **(_codes(smp, needed, by_name) if needed else {})}
        tc = codes[target]
        for c in cat:
            if c != target:
                out[c], method[c] = _cramers_v(tc, codes[c]), "cramers_v"
        for c in num:
            y = smp.get_column(c).cast(pl.Float64).fill_nan(None).to_numpy().astype(float)
            out[c], method[c] = _eta(tc, y), "correlation ratio"
    ranked = sorted(out, key=lambda c: -(out[c] or 0.0))
    return {"column": target, "kind": tk,
            "association": {c: {"value": out[c], "method": method[c]} for c in ranked}}


def _vif(z: Any, num: list[str]) -> dict[str, Any] | None:
    """Variance inflation factor per numeric column: the diagonal of the inverse correlation
    matrix of complete rows (None where a column is a linear combination of others)."""
    import numpy as np

    if z is None:
        return None
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(z, rowvar=False)
    if not np.all(np.isfinite(r)):
        return None
    if np.linalg.cond(r) > 1e10:
        inv_diag = np.full(len(num), np.nan)
        try:  # columns outside the singular part still have a finite VIF
            inv = np.linalg.pinv(r)
            inv_diag = np.diag(inv)
        except np.linalg.LinAlgError:
            pass
        res = {c: (None if not np.isfinite(v) or v > 1e8 else float(v))
               for c, v in zip(num, inv_diag, strict=True)}
        # a singular matrix: the columns in the degenerate direction have infinite VIF
        w, vecs = np.linalg.eigh(r)
        bad = np.abs(vecs[:, w < 1e-10]).max(axis=1) > 1e-6 if (w < 1e-10).any() else []
        for c, b in zip(num, bad, strict=False):
            if b:
                res[c] = None
        return res
    inv = np.linalg.inv(r)
    return {c: float(v) for c, v in zip(num, np.diag(inv), strict=True)}


def _pca(z: Any, num: list[str]) -> dict[str, Any] | None:
    """Explained variance of the standardised numeric columns (complete rows of the sample)
    and the rows projected on the first two components, as a 2-D histogram."""
    import numpy as np

    if z is None:
        return None
    sd = z.std(axis=0)
    keep = sd > 0
    if keep.sum() < 2:
        return None
    zs = (z[:, keep] - z[:, keep].mean(axis=0)) / sd[keep]
    cov = zs.T @ zs / max(len(zs) - 1, 1)
    w, vecs = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1]
    w, vecs = np.clip(w[order], 0, None), vecs[:, order]
    ratio = w / w.sum() if w.sum() > 0 else w
    proj = zs @ vecs[:, :2]
    lo = np.percentile(proj, 0.5, axis=0)
    hi = np.percentile(proj, 99.5, axis=0)
    hi = np.where(hi > lo, hi, lo + 1)
    counts, xe, ye = np.histogram2d(proj[:, 0], proj[:, 1], bins=GRID,
                                    range=[[lo[0], hi[0]], [lo[1], hi[1]]])
    cols = [c for c, k in zip(num, keep, strict=True) if k]
    return {"columns": cols, "explained_variance_ratio": ratio.tolist(),
            "cumulative": np.cumsum(ratio).tolist(),
            "loadings": {f"PC{i + 1}": dict(zip(cols, vecs[:, i].tolist(), strict=True))
                         for i in range(min(2, len(cols)))},
            "projection": {"x_edges": xe.tolist(), "y_edges": ye.tolist(),
                           "counts": counts.astype(int).tolist(), "rows": int(len(zs))}}


def _pairs(smp: Any, num: list[str], pearson: Any, by_name: dict[str, ColumnStats]) -> list:
    """2-D histograms (on the sample) of the most correlated numeric pairs."""
    import numpy as np
    import polars as pl

    if pearson is None:
        return []
    k = len(num)
    cand = [(abs(pearson[i, j]), i, j) for i in range(k) for j in range(i + 1, k)
            if np.isfinite(pearson[i, j])]
    cand.sort(key=lambda t: -t[0])
    out = []
    for _r, i, j in cand[:PAIRS]:
        a, b = num[i], num[j]
        xy = smp.select([pl.col(a).cast(pl.Float64).fill_nan(None),
                         pl.col(b).cast(pl.Float64).fill_nan(None)]).drop_nulls().to_numpy()
        if len(xy) < 2:
            continue
        rng = []
        for c in (a, b):
            ex = by_name[c].extras
            lo, hi = ex.get("p005"), ex.get("p995")
            if lo is None or hi is None or not hi > lo:
                lo, hi = by_name[c].stats["min"], by_name[c].stats["max"]
            rng.append([lo, hi if hi > lo else lo + 1])
        counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=GRID, range=rng)
        out.append({"x": a, "y": b, "pearson": float(pearson[i, j]), "x_edges": xe.tolist(),
                    "y_edges": ye.tolist(), "counts": counts.astype(int).tolist()})
    return out


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


def _warnings(facts: dict, stats: list[ColumnStats], n: int, target: str | None,
              mixed: list[str]) -> list[str]:
    o = facts["overview"]
    out: list[str] = []
    if o["columns"] == 0:
        return ["The table has no columns: there is nothing to profile."]
    if n == 0:
        return ["The table has no rows: only the column names and types are reported."]
    if n == 1:
        out.append("The table has a single row: spread, shape, correlations and outliers "
                   "are undefined.")
    if o["duplicate_rows"]:
        out.append(f"{o['duplicate_rows']:,} duplicate rows ({o['duplicate_share']:.1%} of "
                   "rows): drop them or check the load for double counting.")
    for c in mixed:
        out.append(f"{c}: mixed value types (read as text); normalise the column's type.")
    for s in stats:
        st, c = s.stats, s.name
        share = st["nulls"] / n
        if st["count"] == 0:
            out.append(f"{c}: every value is missing; drop the column.")
            continue
        if s.extras.get("infinite"):
            out.append(f"{c}: {s.extras['infinite']:,} infinite values; its mean, spread and "
                       "shape are undefined (charts use the finite values).")
        if share >= HIGH_NULLS:
            out.append(f"{c}: {share:.1%} of values are missing ({st['nulls']:,} of {n:,}).")
        if st["distinct"] == 1 and n > 1:
            out.append(f"{c}: constant (always {_short(st['mode'])}); it carries no information.")
            continue
        integral = s.kind == "categorical" or (s.kind == "numeric" and "Int" in st["dtype"])
        if integral and st["distinct"] == st["count"] and st["count"] > 1 and c != target:
            out.append(f"{c}: every value is unique: an identifier, not a feature.")
        elif s.kind == "categorical" and (st["distinct"] > HIGH_CARDINALITY or (
                st["distinct"] >= 50 and st["distinct"] >= HIGH_CARDINALITY_SHARE * st["count"])):
            out.append(f"{c}: high cardinality ({st['distinct']:,} distinct values); group rare "
                       "levels or encode it before modelling.")
        if st["skewness"] is not None and abs(st["skewness"]) >= HEAVY_SKEW:
            out.append(f"{c}: heavily skewed (skewness {st['skewness']:.2f}); consider a log or "
                       "rank transform.")
    tgt = facts.get("target")
    if tgt:
        for c, a in tgt["association"].items():
            if a["value"] is not None and a["value"] >= LEAKAGE:
                out.append(f"{c}: suspiciously strong association with the target {target!r} "
                           f"({a['method']} {a['value']:.3f}): possible leakage.")
    p = facts["correlations"].get("pearson")
    if p:
        cols, m = p["columns"], p["matrix"]
        for i in range(len(cols)):
            for j in range(i + 1, len(cols)):
                v = m[i][j]
                if v is not None and v == v and abs(v) >= HIGH_CORRELATION and target not in (
                        cols[i], cols[j]):
                    out.append(f"{cols[i]} and {cols[j]} are almost collinear (Pearson "
                               f"{v:.3f}); keep one.")
    if facts.get("vif"):
        high = [f"{c} ({'∞' if v is None else f'{v:.0f}'})" for c, v in facts["vif"].items()
                if v is None or v >= HIGH_VIF]
        if high:
            out.append(f"Multicollinearity: VIF ≥ {HIGH_VIF:g} for {', '.join(high)}.")
    return out


def _clean(v: Any) -> Any:
    """JSON-able: numpy scalars to Python, NaN and infinities to None, dates to ISO text."""
    import numpy as np

    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    if v is None or isinstance(v, str):
        return v
    return str(v)
