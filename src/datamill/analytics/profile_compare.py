"""Two tables compared column by column (``datamill profile compare A B``): train vs test,
this month vs last. Schema differences come from ``quality.drift`` (the same rules as a
contract's schema drift: widening is not drift); each common column gets its distribution
in both tables on shared bins and a drift statistic:

- **PSI** (population stability index) on shared bins (numeric: A's deciles; categorical:
  the top levels of both plus one for the rest): < 0.1 stable, 0.1-0.25 a moderate shift,
  ≥ 0.25 a major one (the usual credit-scoring reading);
- numeric columns also get the two-sample **Kolmogorov-Smirnov** statistic D and its p-value
  (on samples of at most 100,000 rows each), categorical ones a chi-square test.

At large n every p-value is tiny, so a column is called *shifted* on PSI ≥ 0.1 alone; the
p-value is reported beside it. Aggregates only: no rows reach the report.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamill.analytics.describe import ColumnStats, column_stats, to_polars
from datamill.analytics.jsonable import jsonable

PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
SAMPLE = 100_000
BINS = 30
TOP_LEVELS = 15
KS_MODERATE = 0.1
LOW_CARDINALITY = 100  # new levels are worth a warning only in a real category
EPS = 1e-4  # floor of a bin's share in PSI (an empty bin would be log(0))


@dataclass
class CompareReport:
    """Facts of a two-table comparison (JSON-able) with its renderings."""

    facts: dict[str, Any]

    @property
    def warnings(self) -> list[str]:
        return list(self.facts["warnings"])

    @property
    def verdict(self) -> str:
        return self.facts["verdict"]

    def to_dict(self) -> dict[str, Any]:
        return self.facts

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.facts, indent=indent, allow_nan=False, ensure_ascii=False)

    def to_html(self) -> str:
        from datamill.analytics.profile_compare_html import render

        return render(self.facts)

    def save(self, path: str | Path) -> Path:
        """Write the HTML page, or the JSON facts for ``.json`` (other extensions refused)."""
        from datamill.analytics.profile import report_format

        p = Path(path).expanduser()
        p.write_text(self.to_json(indent=1) if report_format(p) == "json" else self.to_html(),
                     encoding="utf-8")
        return p

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.markup import escape
        from rich.table import Table

        f = self.facts
        a, b = f["names"]
        t = Table(title=escape(f["title"]))
        for h in ("column", "kind", f"missing {a}", f"missing {b}", "PSI", "test p", "shift"):
            t.add_column(h, justify="left" if h in ("column", "kind", "shift") else "right")
        for name, c in f["columns"].items():
            t.add_row(escape(name), c["kind"], _pct(c["a"]["null_share"]), _pct(c["b"]["null_share"]),
                      _num(c["psi"]), _num(c["p_value"]), c["shift"])
        warns = Table(show_header=False, title="warnings")
        warns.add_column("warning", style="yellow")
        for w in f["warnings"] or ["nothing to warn about"]:
            warns.add_row(escape(w))
        return Group(escape(f["verdict"]), t, warns)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:.1%}"


def _num(v: float | None) -> str:
    return "–" if v is None else (f"{v:.3g}" if v >= 1e-3 or v == 0 else f"{v:.1e}")


def compare(a: Any, b: Any, *, names: tuple[str, str] = ("A", "B"),
            title: str | None = None) -> CompareReport:
    """Compare two tables (pandas, Polars, Arrow or table files): schema differences, and per
    common column the distributions on shared bins with a drift statistic (see the module)."""
    import polars as pl

    from datamill.quality.drift import detect_drift
    from datamill.quality.schema import Schema

    da, db = to_polars(a), to_polars(b)
    drift = detect_drift(Schema.from_arrow(da.head(0).to_arrow().schema),
                         db.head(0).to_arrow().schema, policy="ignore")
    common = [c for c in da.columns if c in db.columns]
    sa = {s.name: s for s in column_stats(da.select(common), extras=True, top=TOP_LEVELS)}
    sb = {s.name: s for s in column_stats(db.select(common), extras=True, top=TOP_LEVELS)}
    sma = da.select(common) if da.height <= SAMPLE else da.select(common).sample(SAMPLE, seed=0)
    smb = db.select(common) if db.height <= SAMPLE else db.select(common).sample(SAMPLE, seed=0)
    cols: dict[str, Any] = {}
    for c in common:
        x, y = sa[c], sb[c]
        if x.kind != y.kind:
            continue
        if x.kind in ("numeric", "datetime"):
            cols[c] = _numeric(x, y, _as_number(da.get_column(c)), _as_number(db.get_column(c)),
                               _as_number(sma.get_column(c)), _as_number(smb.get_column(c)))
            if x.kind == "datetime":
                cols[c]["kind"] = "datetime"
                cols[c].pop("mean_shift_sd", None)
        else:
            cols[c] = _categorical(x, y, da.get_column(c).cast(pl.String),
                                   db.get_column(c).cast(pl.String))
    facts: dict[str, Any] = {
        "title": title or f"{names[0]} vs {names[1]}",
        "names": list(names),
        "overview": {names[0]: _overview(da, sa.values()), names[1]: _overview(db, sb.values())},
        "schema": {"only_in_" + names[0]: drift.missing, "only_in_" + names[1]: drift.new,
                   "retyped": {k: {names[0]: e, names[1]: f} for k, (e, f) in drift.retyped.items()},
                   "dtypes": {names[0]: {k: str(v) for k, v in da.schema.items()},
                              names[1]: {k: str(v) for k, v in db.schema.items()}}},
        "columns": cols,
    }
    facts["warnings"] = _warnings(facts, drift, names)
    facts["verdict"] = _verdict(facts, drift, names)
    return CompareReport(jsonable(facts))


def _as_number(s: Any) -> Any:
    """Datetimes as days since 1970 (so they share the numeric path); others unchanged."""
    import polars as pl

    if s.dtype == pl.Date or isinstance(s.dtype, pl.Datetime):
        return s.cast(pl.Datetime("us")).dt.epoch("us").cast(pl.Float64) / 86_400e6
    return s


def _overview(df: Any, stats: Any) -> dict[str, Any]:
    stats = list(stats)
    missing = sum(s.stats["nulls"] for s in stats)
    return {"rows": df.height, "columns": df.width, "missing_cells": missing,
            "missing_share": missing / (df.height * len(stats)) if df.height and stats else None}


def _side(s: ColumnStats, n: int) -> dict[str, Any]:
    st = s.stats
    keys = ("count", "nulls", "distinct", "mean", "std", "min", "median", "max", "mode")
    out = {k: st.get(k) for k in keys}
    out["null_share"] = st["nulls"] / n if n else None
    return out


def _psi(pa: Any, pb: Any) -> float | None:
    import numpy as np

    if pa.sum() == 0 or pb.sum() == 0:
        return None
    a = np.maximum(pa / pa.sum(), EPS)
    b = np.maximum(pb / pb.sum(), EPS)
    return float(((b - a) * np.log(b / a)).sum())


def _shift(psi: float | None, ks: float | None = None, p: float | None = None) -> str:
    """major / moderate / stable from PSI, or from a KS distance of at least ``KS_MODERATE``
    (a tenth of the rows would have to move) with p < 0.01, which PSI on deciles can miss."""
    if psi is None:
        return "–"
    if psi >= PSI_MAJOR:
        return "major"
    if psi >= PSI_MODERATE or (ks is not None and ks >= KS_MODERATE and p is not None and p < 0.01):
        return "moderate"
    return "stable"


def _numeric(x: ColumnStats, y: ColumnStats, ca: Any, cb: Any, sa: Any, sb: Any) -> dict[str, Any]:
    import numpy as np
    import polars as pl
    from scipy import stats as ss

    def values(s: Any) -> Any:
        v = s.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        return v[np.isfinite(v)]

    va, vb = values(ca), values(cb)
    out: dict[str, Any] = {"kind": "numeric", "a": _side(x, len(ca)), "b": _side(y, len(cb)),
                           "psi": None, "ks": None, "p_value": None, "shift": "–"}
    if len(va) == 0 or len(vb) == 0:
        return out
    lo = min(float(np.quantile(va, 0.005)), float(np.quantile(vb, 0.005)))
    hi = max(float(np.quantile(va, 0.995)), float(np.quantile(vb, 0.995)))
    both = np.concatenate([np.unique(va[:5000]), np.unique(vb[:5000])])
    integer = bool(np.all(both == np.floor(both))) and hi - lo < 2**53
    if integer:
        lo, hi = math.floor(lo), math.ceil(hi)
        width = max(1.0, math.ceil((hi - lo + 1) / BINS))
        edges = lo - 0.5 + width * np.arange(int(math.ceil((hi - lo + 1) / width)) + 1)
    else:
        edges = np.linspace(lo, hi if hi > lo else lo + 1, BINS + 1)
    ha, _ = np.histogram(np.clip(va, edges[0], edges[-1]), bins=edges)
    hb, _ = np.histogram(np.clip(vb, edges[0], edges[-1]), bins=edges)
    deciles = np.unique(np.quantile(va, np.linspace(0, 1, 11)[1:-1]))
    pa = np.bincount(np.searchsorted(deciles, va, side="right"), minlength=len(deciles) + 1)
    pb = np.bincount(np.searchsorted(deciles, vb, side="right"), minlength=len(deciles) + 1)
    ks = ss.ks_2samp(values(sa), values(sb))
    psi = _psi(pa.astype(float), pb.astype(float))
    out.update(edges=edges.tolist(), integer=integer, share_a=(ha / max(ha.sum(), 1)).tolist(),
               share_b=(hb / max(hb.sum(), 1)).tolist(), psi=psi, ks=float(ks.statistic),
               p_value=float(ks.pvalue), test="Kolmogorov-Smirnov",
               shift=_shift(psi, float(ks.statistic), float(ks.pvalue)))
    if x.stats["mean"] is not None and y.stats["mean"] is not None and x.stats["std"]:
        out["mean_shift_sd"] = (y.stats["mean"] - x.stats["mean"]) / x.stats["std"]
    return out


def _categorical(x: ColumnStats, y: ColumnStats, ca: Any, cb: Any) -> dict[str, Any]:
    import numpy as np
    from scipy import stats as ss

    out: dict[str, Any] = {"kind": x.kind, "a": _side(x, len(ca)), "b": _side(y, len(cb)),
                           "psi": None, "p_value": None, "shift": "–"}
    va = ca.drop_nulls().value_counts(name="n")
    vb = cb.drop_nulls().value_counts(name="n")
    da = dict(zip(va.get_column(va.columns[0]).to_list(), va.get_column("n").to_list(), strict=True))
    db = dict(zip(vb.get_column(vb.columns[0]).to_list(), vb.get_column("n").to_list(), strict=True))
    if not da or not db:
        return out
    na, nb = sum(da.values()), sum(db.values())
    levels = sorted(set(da) | set(db), key=lambda v: -(da.get(v, 0) / na + db.get(v, 0) / nb))
    top = levels[:TOP_LEVELS]
    pa = np.array([da.get(v, 0) for v in top] + [na - sum(da.get(v, 0) for v in top)], float)
    pb = np.array([db.get(v, 0) for v in top] + [nb - sum(db.get(v, 0) for v in top)], float)
    keep = (pa + pb) > 0
    table = np.vstack([pa[keep], pb[keep]])
    p = float(ss.chi2_contingency(table)[1]) if table.shape[1] >= 2 else None
    psi = _psi(pa, pb)
    out.update(levels=[str(v) for v in top] + (["(other)"] if len(levels) > len(top) else []),
               share_a=(pa / na).tolist()[:len(top) + (len(levels) > len(top))],
               share_b=(pb / nb).tolist()[:len(top) + (len(levels) > len(top))],
               only_in_a=len(set(da) - set(db)), only_in_b=len(set(db) - set(da)),
               psi=psi, p_value=p, test="chi-square", shift=_shift(psi))
    return out


def _warnings(facts: dict, drift: Any, names: tuple[str, str]) -> list[str]:
    a, b = names
    out = []
    if drift.missing:
        out.append(f"Only in {a}: {', '.join(drift.missing)}.")
    if drift.new:
        out.append(f"Only in {b}: {', '.join(drift.new)}.")
    for c, (e, f) in drift.retyped.items():
        out.append(f"{c}: type changed from {e} ({a}) to {f} ({b}).")
    for c, v in facts["columns"].items():
        if v["shift"] in ("major", "moderate"):
            out.append(f"{c}: {v['shift']} shift (PSI {v['psi']:.3f}"
                       + (f", KS D {v['ks']:.3f}" if v.get("ks") is not None else "")
                       + (f", mean moved {v['mean_shift_sd']:+.2f} sd" if v.get("mean_shift_sd") is not None else "")
                       + ").")
        na, nb = v["a"]["null_share"], v["b"]["null_share"]
        if na is not None and nb is not None and abs(nb - na) >= 0.05:
            out.append(f"{c}: missing values went from {na:.1%} to {nb:.1%}.")
        if v.get("only_in_b") and (v["a"]["distinct"] or 0) <= LOW_CARDINALITY:
            k = v["only_in_b"]
            out.append(f"{c}: {k:,} value{'s appear' if k != 1 else ' appears'} only in {b}.")
    return out


def _verdict(facts: dict, drift: Any, names: tuple[str, str]) -> str:
    a, b = names
    cols = facts["columns"]
    shifted = sorted((c for c, v in cols.items() if v["shift"] in ("major", "moderate")),
                     key=lambda c: -(cols[c]["psi"] or 0))
    schema = len(drift.new) + len(drift.missing) + len(drift.retyped)
    head = (f"{len(shifted)} of {len(cols)} common columns shifted between {a} and {b}"
            if shifted else f"No column's distribution shifted between {a} and {b}")
    if shifted:
        head += " (" + ", ".join(f"{c} PSI {cols[c]['psi']:.2f}" for c in shifted[:3]) + \
            (", …" if len(shifted) > 3 else "") + ")"
    head += (f"; {schema} schema difference{'s' if schema != 1 else ''}." if schema
             else "; the schemas match.")
    return head
