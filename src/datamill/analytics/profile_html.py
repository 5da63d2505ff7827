"""The profile report's HTML page, drawn from its facts (aggregates only, no rows)."""

from __future__ import annotations

from html import escape
from typing import Any

from datamill.analytics import charts
from datamill.analytics.html import fmt, page, table, warnings_html

MAX_COLUMN_CARDS = 200


def render(facts: dict[str, Any]) -> str:
    """A self-contained HTML page (inline CSS and SVG) for a profile's facts."""
    o = facts["overview"]
    s = facts["settings"]
    sections = [
        ("warnings", f"Warnings ({len(facts['warnings'])})", warnings_html(facts["warnings"])),
        ("overview", "Overview", _overview(o, s)),
        ("missing", "Missing values", _missing(facts)),
        ("columns", "Columns", _columns(facts)),
    ]
    if facts.get("datetimes"):
        sections.append(("datetimes", "Dates and times", _datetimes(facts["datetimes"])))
    if facts.get("text"):
        sections.append(("text", "Text columns", _text(facts["text"])))
    if facts["correlations"] or facts.get("target"):
        sections.append(("correlations", "Correlations", _correlations(facts)))
    if facts["outliers"]:
        sections.append(("outliers", "Outliers and skewness", _outliers(facts)))
    if facts.get("vif"):
        sections.append(("vif", "Multicollinearity (VIF)", _vif(facts["vif"])))
    if facts.get("pca"):
        sections.append(("pca", "Principal components", _pca(facts["pca"])))
    if facts.get("pairs"):
        sections.append(("interactions", "Interactions", _pairs(facts["pairs"])))
    if facts.get("trend"):
        sections.append(("trend", "Trend", _trend(facts["trend"])))
    sub = f"{o['rows']:,} rows × {o['columns']:,} columns"
    if s["minimal"]:
        sub += " · minimal"
    return page(facts["title"], sections, subtitle=sub)


def _card(inner: str) -> str:
    return f"<div class='card'>{inner}</div>"


def _overview(o: dict, s: dict) -> str:
    def big(label: str, v: Any) -> str:
        return _card(f"<div class='muted'>{escape(label)}</div><div class='big'>{escape(fmt(v))}</div>")

    cards = "".join([
        big("rows", o["rows"]), big("columns", o["columns"]),
        big("memory (MB)", round(o["memory_bytes"] / 1e6, 2)),
        big("duplicate rows", o["duplicate_rows"]), big("missing cells", o["missing_cells"]),
        big("rows with a missing value", o["rows_with_missing"]),
    ])
    kinds = table(["type", "columns"], [[k, v] for k, v in o["kinds"].items()], {1})
    dtypes = table(["column", "dtype"], [[c, t] for c, t in o["dtypes"].items()][:MAX_COLUMN_CARDS])
    note = (f"<p class='muted'>Spearman, Cramér's V, VIF, PCA and pair plots use a random sample "
            f"of {s['sampled_rows']:,} rows; every other figure uses all rows."
            f"{' Minimal mode: those sections are skipped.' if s['minimal'] else ''}</p>")
    return (f"<div class='grid'>{cards}</div>{note}<div class='grid'>{_card(kinds)}"
            f"{_card(dtypes)}</div>")


def _missing(facts: dict) -> str:
    rows = [[c, m["nulls"], m["share"]] for c, m in facts["missing"].items()]
    with_nulls = [r for r in rows if r[1]]
    if not with_nulls:
        return "<div class='ok'>No missing values.</div>" + table(
            ["column", "missing", "share"], rows[:MAX_COLUMN_CARDS], {1, 2})
    with_nulls.sort(key=lambda r: -r[1])
    chart = charts.bars([r[0] for r in with_nulls[:40]], [r[2] * 100 for r in with_nulls[:40]],
                        value_format="{:.1f}%", title="missing values (% of rows)")
    html = (f"<div class='grid'>{_card(chart)}"
            f"{_card(table(['column', 'missing', 'share'], with_nulls, {1, 2}))}</div>")
    mp = facts.get("missing_patterns")
    if mp and mp["patterns"]:
        pats = charts.patterns(mp["columns"], [p["missing"] for p in mp["patterns"]],
                               [p["rows"] for p in mp["patterns"]],
                               title="missing-value patterns")
        more = (f"<div class='muted'>{mp['other_patterns']:,} rarer patterns cover "
                f"{mp['other_rows']:,} rows.</div>" if mp["other_patterns"] else "")
        parts = [_card("<h3>Which columns are missing together</h3><div class='muted'>one row "
                       "per combination (red = missing), most common first, with its rows</div>"
                       + pats + more)]
        nc = mp.get("nullity_correlation")
        if nc:
            parts.append(_card("<h3>Nullity correlation</h3><div class='muted'>correlation of "
                               "the missing indicators: 1 = always missing together, −1 = never"
                               "</div>" + charts.heatmap(nc["columns"], nc["matrix"],
                                                          title="nullity correlation",
                                                          legend_label="correlation")))
        html += "<div class='grid'>" + "".join(parts) + "</div>"
    return html


def _columns(facts: dict) -> str:
    out = []
    items = list(facts["columns"].items())
    for name, c in items[:MAX_COLUMN_CARDS]:
        out.append(_column(name, c))
    if len(items) > MAX_COLUMN_CARDS:
        out.append(f"<p class='muted'>{len(items) - MAX_COLUMN_CARDS:,} more columns are in the "
                   "JSON facts.</p>")
    return "".join(out)


NUMERIC_ROWS = ("count", "nulls", "distinct", "mean", "std", "min", "q05", "q25", "median",
                "q75", "q95", "max", "mode", "skewness", "kurtosis", "iqr_outliers", "z_outliers")
OTHER_ROWS = ("count", "nulls", "distinct", "mode", "min", "max", "range")


BOOLEAN_ROWS = ("count", "nulls", "true_count", "false_count", "true_share")


def _column(name: str, c: dict) -> str:
    keys = {"numeric": NUMERIC_ROWS, "boolean": BOOLEAN_ROWS}.get(c["kind"], OTHER_ROWS)
    stats = table(["statistic", "value"], [[k, c.get(k)] for k in keys], {1})
    charts_html = ""
    if c["kind"] == "boolean":
        t, f = c.get("true_count") or 0, c.get("false_count") or 0
        labels = ["1", "0"] if "Boolean" not in str(c["dtype"]) else ["true", "false"]
        total = max(t + f, 1)
        charts_html += charts.bars(labels, [t, f], title=f"{name}: values",
                                   value_labels=[f"{t:,} ({t / total:.1%})",
                                                 f"{f:,} ({f / total:.1%})"])
    elif c["kind"] == "numeric":
        h = c.get("histogram")
        if h:
            charts_html += charts.histogram(h["edges"], h["counts"], title=f"{name}: histogram",
                                            integer=bool(h.get("integer")))
        if c.get("box"):
            charts_html += "<br>" + charts.boxplot(c["box"], title=f"{name}: box plot")
        top = c.get("top") or []
        charts_html += "<h3>Most frequent values</h3>" + table(
            ["value", "rows"], [[v, n] for v, n in top[:10]], {1})
    elif c.get("top"):
        top = c["top"][:10]
        labels = [str(v) for v, _ in top]
        values = [n for _, n in top]
        shown = sum(values)
        if c["count"] > shown:
            labels.append("(other values)")
            values.append(c["count"] - shown)
        charts_html += charts.bars(labels, values, title=f"{name}: top values")
        charts_html += table(["value", "rows", "share"],
                             [[v, n, n / c["count"]] for v, n in top], {1, 2})
    return (f"<h3>{escape(name)} <span class='muted'>{escape(c['kind'])} · "
            f"{escape(str(c['dtype']))}</span></h3><div class='grid'>{_card(stats)}"
            f"{_card(charts_html) if charts_html else ''}</div>")


def _matrix(title: str, m: dict) -> str:
    return _card(f"<h3>{escape(title)}</h3>" + charts.heatmap(m["columns"], m["matrix"], title=title))


def _correlations(facts: dict) -> str:
    corr = facts["correlations"]
    parts = []
    for key, label in (("pearson", "Pearson"), ("spearman", "Spearman (sample)"),
                       ("cramers_v", "Cramér's V (sample, top levels)")):
        if key in corr:
            lo = 0.0 if key == "cramers_v" else -1.0
            m = corr[key]
            parts.append(_card(f"<h3>{escape(label)}</h3>" + charts.heatmap(
                m["columns"], m["matrix"], lo=lo, hi=1.0, title=label,
                legend_label="association" if key == "cramers_v" else "correlation")))
    html = f"<div class='grid'>{''.join(parts)}</div>" if parts else ""
    t = facts.get("target")
    if t and t["association"]:
        assoc = [(c, a["value"], a["method"]) for c, a in t["association"].items()
                 if a["value"] is not None]
        html += f"<h3>Association with the target {escape(t['column'])}</h3>"
        html += "<div class='grid'>" + _card(charts.bars(
            [a[0] for a in assoc[:30]], [a[1] for a in assoc[:30]], value_format="{:.3f}",
            title="association with the target")) + _card(table(
                ["feature", "association", "method"], [list(a) for a in assoc], {1})) + "</div>"
    return html or "<p class='muted'>Fewer than two comparable columns.</p>"


def _outliers(facts: dict) -> str:
    rows = []
    for c, o in facts["outliers"].items():
        col = facts["columns"][c]
        share = o["iqr"] / col["count"] if col["count"] else None
        rows.append([c, o["iqr"], share, o["z"], facts["skewness"].get(c), col.get("kurtosis")])
    rows.sort(key=lambda r: -(abs(r[4]) if r[4] is not None else 0))
    return ("<p class='muted'>IQR: beyond 1.5 × IQR from the quartiles. z: more than 3 standard "
            "deviations from the mean. Sorted by |skewness|.</p>" + table(
                ["column", "IQR outliers", "IQR share", "|z| > 3", "skewness", "excess kurtosis"],
                rows, {1, 2, 3, 4, 5}))


def _vif(vif: dict) -> str:
    rows = sorted(vif.items(), key=lambda kv: -(kv[1] if kv[1] is not None else float("inf")))
    chart = charts.bars([c for c, v in rows if v is not None][:30],
                        [v for _, v in rows if v is not None][:30], value_format="{:.1f}",
                        title="variance inflation factor")
    return ("<p class='muted'>VIF ≥ 10 means a column is largely explained by the others; "
            "∞ (–) means an exact linear combination.</p><div class='grid'>" + _card(chart)
            + _card(table(["column", "VIF"], [list(r) for r in rows], {1})) + "</div>")


def _pca(p: dict) -> str:
    ratio = p["explained_variance_ratio"][:15]
    bars = charts.bars([f"PC{i + 1}" for i in range(len(ratio))], [r * 100 for r in ratio],
                       value_format="{:.1f}%", title="explained variance")
    pr = p["projection"]
    grid = charts.grid2d(pr["x_edges"], pr["y_edges"], pr["counts"], width=320, height=300,
                         x_label="PC1", y_label="PC2", title="rows on the first two components")
    load = table(["column", *p["loadings"].keys()],
                 [[c, *(p["loadings"][k][c] for k in p["loadings"])] for c in p["columns"]],
                 set(range(1, 1 + len(p["loadings"]))))
    return (f"<p class='muted'>Standardised numeric columns, complete rows of the sample "
            f"({pr['rows']:,}).</p><div class='grid'>{_card(bars)}{_card(grid)}{_card(load)}</div>")


def _pairs(pairs: list) -> str:
    cards = [_card(f"<div class='muted'>Pearson {fmt(p['pearson'])}</div>" + charts.grid2d(
        p["x_edges"], p["y_edges"], p["counts"], x_label=p["x"], y_label=p["y"],
        title=f"{p['x']} × {p['y']}", means=p.get("y_means"))) for p in pairs]
    return ("<p class='muted'>The most correlated numeric pairs (with the target first), as "
            "2-D histograms of the sample over 0.5–99.5% of each column's range: darker cells "
            "hold more rows; the orange line is the mean of y in each x bin.</p>"
            "<div class='grid'>" + "".join(cards) + "</div>")


def _datetimes(d: dict) -> str:
    from datamill.analytics.profile_sections import MONTHS, WEEKDAYS

    out = []
    for name, v in d.items():
        parts = []
        if v.get("hour"):
            parts.append(_card(f"<h3>{escape(name)}: by hour of day</h3>" + charts.columns(
                [str(h) for h in range(24)], v["hour"], title=f"{name} by hour")))
        parts.append(_card(f"<h3>{escape(name)}: by weekday</h3>" + charts.columns(
            WEEKDAYS, v["weekday"], width=260, title=f"{name} by weekday")))
        parts.append(_card(f"<h3>{escape(name)}: by month</h3>" + charts.columns(
            MONTHS, v["month"], width=320, title=f"{name} by month")))
        out.append("<div class='grid'>" + "".join(parts) + "</div>")
    return "<p class='muted'>Rows per hour, weekday and month, over all rows.</p>" + "".join(out)


def _text(t: dict) -> str:
    out = []
    for name, v in t.items():
        ln = v["length"]
        cc = v["char_classes"]
        classes = [k for k in cc if cc[k] is not None]
        parts = [
            _card(f"<h3>{escape(name)}: length (characters)</h3>" + charts.histogram(
                ln["edges"], ln["counts"], integer=True, title=f"{name}: length")
                + f"<div class='muted'>min {ln['min']:,} · median {fmt(ln['median'])} · mean "
                  f"{fmt(ln['mean'])} · max {ln['max']:,}</div>"),
            _card(f"<h3>{escape(name)}: character classes</h3>" + charts.bars(
                classes, [cc[k] * 100 for k in classes], value_format="{:.1f}%",
                title=f"{name}: character classes")),
        ]
        if v["words"]:
            parts.append(_card(f"<h3>{escape(name)}: most common words</h3>" + charts.bars(
                [w for w, _ in v["words"]], [n for _, n in v["words"]],
                title=f"{name}: common words") + f"<div class='muted'>{v['distinct_words']:,} "
                "distinct words</div>"))
        out.append("<div class='grid'>" + "".join(parts) + "</div>")
    rows = next(iter(t.values()))["rows"]
    return (f"<p class='muted'>String columns holding free text (long, multi-word or mostly "
            f"unique values), from up to {rows:,} non-missing values of the sample.</p>"
            + "".join(out))


def _trend(t: dict) -> str:
    xs = list(range(len(t["periods"])))
    labels = [t["periods"][0][:10], t["periods"][-1][:10]] if t["periods"] else None
    parts = [_card(charts.line(xs, {"rows": t["rows"]}, x_labels=labels,
                               title=f"rows per {t['every']}") + f"<div class='muted'>rows per "
                   f"{escape(t['every'])} of {escape(t['column'])}</div>")]
    for c, ys in t["means"].items():
        parts.append(_card(charts.line(xs, {c: ys}, x_labels=labels, title=f"mean {c}")
                           + f"<div class='muted'>mean of {escape(c)} per {escape(t['every'])}</div>"))
    return "<div class='grid'>" + "".join(parts) + "</div>"
