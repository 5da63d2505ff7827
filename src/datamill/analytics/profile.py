"""The EDA profile report: overview, missing values, distributions, correlations, outliers,
skewness, multicollinearity, PCA, pair plots, a trend and the warnings a person should read.

Every number is an aggregate: the per-column statistics come from ``describe``'s passes
(one sort per numeric column), Pearson correlations from chunked pairwise sums over all rows,
and the expensive parts (Spearman, Cramér's V, VIF, PCA, pair plots) from a random sample of
``sample`` rows. ``facts`` is plain JSON (undefined values are ``None``, never NaN).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamill.analytics.describe import ColumnStats, column_stats, to_polars
from datamill.analytics.jsonable import jsonable
from datamill.analytics.profile_assoc import (
    TOP_LEVELS,
    _codes,
    _cramers_matrix,
    _pairs,
    _pairwise_corr,
    _pca,
    _pearson_full,
    _target_association,
    _vif,
)
from datamill.analytics.profile_sections import (
    _trend,
    datetime_distributions,
    missing_patterns,
    text_columns,
)

DEFAULT_SAMPLE = 100_000
MAX_CATEGORICAL = 30  # categorical columns in the Cramér's V matrix
MAX_NUMERIC = 40  # numeric columns in the correlation matrices, VIF and PCA

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
        """Write the HTML page (``.html``/``.htm``), or the JSON facts (``.json``); any other
        extension is refused rather than written as HTML under a misleading name."""
        p = Path(path).expanduser()
        text = self.to_json(indent=1) if report_format(p) == "json" else self.to_html()
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


REPORT_FORMATS = {".html": "html", ".htm": "html", ".json": "json"}


def report_format(path: str | Path) -> str:
    """``html`` or ``json`` from a report path's extension; a UsageError (exit 2) for any
    other (``out.pdf`` would otherwise be an HTML file with a PDF name)."""
    from datamill.errors import UsageError

    suffix = Path(path).suffix.lower()
    if suffix not in REPORT_FORMATS:
        raise UsageError(f"-o {path}: unknown report format {suffix or '(no extension)'!r}; "
                         "write .html (the report) or .json (its facts)")
    return REPORT_FORMATS[suffix]


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
                         for c in (s.name for s in stats if s.kind == "numeric"
                                   and not _is_boolean(s))}
    facts["skewness"] = {s.name: s.stats["skewness"] for s in stats if s.kind == "numeric"
                         and not _is_boolean(s)}

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
        facts["pairs"] = _pairs(smp, num, pearson, by_name, target)
        timings["pairs"] = _lap(t)

    t = time.perf_counter()
    facts["trend"] = _trend(df, stats, target)
    timings["trend"] = _lap(t)
    t = time.perf_counter()
    facts["datetimes"] = datetime_distributions(df, stats)
    timings["datetimes"] = _lap(t)
    t = time.perf_counter()
    facts["text"] = text_columns(smp, stats)
    timings["text"] = _lap(t)
    t = time.perf_counter()
    facts["missing_patterns"] = missing_patterns(df, stats)
    timings["missing_patterns"] = _lap(t)
    facts["warnings"] = _warnings(facts, stats, n, target, mixed)
    facts["timings"] = {k: round(v, 4) for k, v in timings.items()}
    facts = jsonable(facts)
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
        k = "boolean" if _is_boolean(s) else s.kind
        kinds[k] = kinds.get(k, 0) + 1
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


def _is_boolean(s: ColumnStats) -> bool:
    """A Boolean column, or a numeric one holding only 0 and 1 (a flag, not a quantity)."""
    st = s.stats
    if st["dtype"] == "Boolean":
        return True
    return s.kind == "numeric" and st["distinct"] == 2 and st["min"] == 0 and st["max"] == 1


def _column_facts(s: ColumnStats, n: int) -> dict[str, Any]:
    out = {"kind": "boolean" if _is_boolean(s) else s.kind, **s.stats}
    if out["kind"] == "boolean":
        top = {str(v).lower() in ("1", "1.0", "true"): c for v, c in s.extras.get("top", [])}
        out["true_count"], out["false_count"] = top.get(True, 0), top.get(False, 0)
        out["true_share"] = out["true_count"] / s.stats["count"] if s.stats["count"] else None
    out["null_share"] = s.stats["nulls"] / n if n else None
    out["distinct_share"] = s.stats["distinct"] / s.stats["count"] if s.stats["count"] else None
    for k in ("histogram", "box", "top", "iqr_outliers", "z_outliers", "top_share", "infinite"):
        if k in s.extras:
            out[k] = s.extras[k]
    return out


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
        if st["skewness"] is not None and abs(st["skewness"]) >= HEAVY_SKEW and not _is_boolean(s):
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
