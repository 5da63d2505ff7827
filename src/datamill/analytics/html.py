"""One page template for every analytics report: self-contained HTML (inline CSS and SVG,
no JavaScript from anywhere, no CDN), so a report opens offline and can be mailed."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f3b57;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.8;font-size:13px}
nav{padding:8px 28px;background:#e9eef3;font-size:13px}nav a{margin-right:14px;color:#1f3b57}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:16px 0;padding:14px 18px}
h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border-bottom:1px solid #eee;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f4f6f8;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #eee;border-radius:5px;padding:8px 10px;background:#fff}
.warn{color:#8a4b00;background:#fff4e0;border-left:4px solid #f0a020;padding:6px 10px;margin:4px 0;font-size:13px}
.ok{color:#1d5e20;background:#eaf6ea;border-left:4px solid #4caf50;padding:6px 10px;margin:4px 0;font-size:13px}
.muted{color:#777;font-size:12px}.big{font-size:20px;font-weight:600}
.tw{overflow-x:auto;max-width:100%}.card{max-width:100%;box-sizing:border-box;overflow-x:auto}
.verdict{font-size:16px;font-weight:600;margin:4px 0 10px}.details li{margin:3px 0;font-size:13px}
svg{max-width:none}
"""


def table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    """An HTML table; cells are escaped, columns in ``numeric`` right-aligned."""
    numeric = numeric or set()
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = []
    for r in rows:
        cells = []
        for i, v in enumerate(r):
            cls = " class='num'" if i in numeric else ""
            cells.append(f"<td{cls}>{escape(fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='tw'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
            "</table></div>")


def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:
            return "–"
        a = abs(v)
        if a != 0 and (a >= 1e7 or a < 1e-3):
            return f"{v:.4g}"
        return f"{v:,.4f}".rstrip("0").rstrip(".") if a < 1000 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def page(title: str, sections: list[tuple[str, str, str]], subtitle: str = "") -> str:
    """A whole report: ``sections`` are (anchor id, heading, inner HTML)."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = "".join(f"<a href='#{escape(a)}'>{escape(h)}</a>" for a, h, _ in sections)
    body = "".join(f"<section id='{escape(a)}'><h2>{escape(h)}</h2>{inner}</section>"
                   for a, h, inner in sections)
    sub = escape(subtitle) + " · " if subtitle else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width,initial-scale=1'><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{escape(title)}</h1><p>{sub}made by "
            f"datamill on {when}</p></header><nav>{nav}</nav><main>{body}</main></body></html>")


def warnings_html(items: list[str]) -> str:
    if not items:
        return "<div class='ok'>Nothing to warn about.</div>"
    return "".join(f"<div class='warn'>{escape(w)}</div>" for w in items)
