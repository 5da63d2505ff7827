"""The comparison report's HTML page: the verdict first, then the warnings, the schema
differences, the overview side by side and one card per common column (overlay chart,
statistics of both tables, the drift statistic)."""

from __future__ import annotations

from html import escape
from typing import Any

from datamill.analytics import charts
from datamill.analytics.html import page, table, warnings_html

STATS = ("count", "nulls", "null_share", "distinct", "mean", "std", "min", "median", "max", "mode")


def render(f: dict[str, Any]) -> str:
    a, b = f["names"]
    o = f["overview"]
    summary = (f"<p class='verdict'>{escape(f['verdict'])}</p>" + warnings_html(f["warnings"])
               + table(["", a, b], [[k, o[a][k], o[b][k]] for k in o[a]], {1, 2}))
    sch = f["schema"]
    rows = [[c, "only in " + a, sch["dtypes"][a].get(c), "–"] for c in sch["only_in_" + a]]
    rows += [[c, "only in " + b, "–", sch["dtypes"][b].get(c)] for c in sch["only_in_" + b]]
    rows += [[c, "type changed", t[a], t[b]] for c, t in sch["retyped"].items()]
    schema = (table(["column", "difference", f"type in {a}", f"type in {b}"], rows) if rows
              else "<div class='ok'>Same columns with compatible types in both tables.</div>")
    drift_rows = [[c, v["kind"], v.get("test", "–"), v["psi"], v.get("ks"), v["p_value"], v["shift"]]
                  for c, v in sorted(f["columns"].items(), key=lambda kv: -(kv[1]["psi"] or 0))]
    drift = ("<p class='muted'>PSI on shared bins (A's deciles, or the top levels): below 0.1 "
             "stable, 0.1–0.25 moderate, 0.25 and above major. At large n every test rejects, "
             "so the shift is read from PSI.</p>"
             + table(["column", "kind", "test", "PSI", "KS D", "p", "shift"], drift_rows, {3, 4, 5}))
    cards = "".join(_column(name, v, a, b) for name, v in f["columns"].items())
    sections = [("summary", "Summary", summary), ("schema", "Schema differences", schema),
                ("drift", "Drift by column", drift), ("columns", "Columns", cards)]
    return page(f["title"], sections, subtitle=f"{o[a]['rows']:,} rows vs {o[b]['rows']:,} rows")


def _column(name: str, v: dict, a: str, b: str) -> str:
    stats = table(["statistic", a, b], [[k, v["a"].get(k), v["b"].get(k)] for k in STATS], {1, 2})
    if v["kind"] in ("numeric", "datetime") and v.get("edges"):
        ends = None
        if v["kind"] == "datetime":
            import datetime as dt

            day0 = dt.datetime(1970, 1, 1)
            ends = tuple((day0 + dt.timedelta(days=v["edges"][k])).strftime("%Y-%m-%d")
                         for k in (0, -1))
        chart = charts.overlay(v["edges"], v["share_a"], v["share_b"], names=(a, b),
                               integer=bool(v.get("integer")), title=f"{name}: {a} vs {b}",
                               end_labels=ends)
    elif v.get("levels"):
        chart = charts.paired_bars(v["levels"], v["share_a"], v["share_b"], names=(a, b),
                                   title=f"{name}: {a} vs {b}")
    else:
        chart = "<p class='muted'>no values to compare</p>"
    cls = "warn" if v["shift"] in ("major", "moderate") else "ok"
    psi = "–" if v["psi"] is None else f"{v['psi']:.3f}"
    note = f"<div class='{cls}'>{escape(v['shift'])} (PSI {psi})</div>"
    return (f"<h3>{escape(name)} <span class='muted'>{escape(v['kind'])}</span></h3>"
            f"<div class='grid'><div class='card'>{note}{stats}</div>"
            f"<div class='card'>{chart}</div></div>")
