"""The profile's associations between columns: Pearson over all rows (chunked pairwise
sums), Cramér's V and the correlation ratio on the sample, the target's associations
(leakage), VIF, PCA and the interactions of the most correlated pairs (2-D histograms with
the mean of y per x bin: aggregates, never rows)."""

from __future__ import annotations

import math
from typing import Any

from datamill.analytics.describe import ColumnStats

TOP_LEVELS = 20  # Cramér's V: levels kept per categorical column, the rest lumped together
PAIRS = 6
GRID = 30
CHUNK = 250_000


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


def _pairs(smp: Any, num: list[str], pearson: Any, by_name: dict[str, ColumnStats],
           target: str | None = None) -> list:
    """Interactions: 2-D histograms (on the sample) of the most correlated numeric pairs
    (pairs with the target first), with the mean of y in each x bin."""
    import numpy as np
    import polars as pl

    if pearson is None:
        return []
    k = len(num)
    cand = [(abs(pearson[i, j]), i, j) for i in range(k) for j in range(i + 1, k)
            if np.isfinite(pearson[i, j])]
    cand.sort(key=lambda t: -t[0])
    with_target = [c for c in cand if target in (num[c[1]], num[c[2]])][:2]
    cand = with_target + [c for c in cand if c not in with_target]
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
        inside = (xy[:, 0] >= rng[0][0]) & (xy[:, 0] <= rng[0][1])
        k, _ = np.histogram(xy[inside, 0], bins=xe)
        sums, _ = np.histogram(xy[inside, 0], bins=xe, weights=xy[inside, 1])
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(k > 0, sums / np.maximum(k, 1), np.nan)
        out.append({"x": a, "y": b, "pearson": float(pearson[i, j]), "x_edges": xe.tolist(),
                    "y_edges": ye.tolist(), "counts": counts.astype(int).tolist(),
                    "y_means": means.tolist(), "rows": int(len(xy))})
    return out
