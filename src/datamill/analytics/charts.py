"""Small, self-contained SVG charts for HTML reports: no JavaScript, no CDN, no raw rows.

Every chart takes **aggregates** (bin edges and counts, category counts, a matrix, a
series of points) so a report's size depends on the number of bins, never on the number
of rows. Each function returns an ``<svg>`` string; text is XML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]
FONT = "font-family='system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif'"


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    a = abs(v)
    if a != 0 and (a >= 1e6 or a < 1e-3):
        return f"{v:.3g}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _svg(w: int, h: int, body: list[str], title: str = "") -> str:
    t = f"<title>{escape(title)}</title>" if title else ""
    return (f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {w} {h}' width='{w}' "
            f"height='{h}' {FONT} font-size='11' role='img'>{t}{''.join(body)}</svg>")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9 and len(out) < 50:
        out.append(round(v, 12))
        v += step
    return out


def histogram(edges: Sequence[float], counts: Sequence[int], *, width: int = 360,
              height: int = 180, color: str = PALETTE[0], title: str = "") -> str:
    """Bars between consecutive bin edges (``len(edges) == len(counts) + 1``)."""
    if not counts or len(edges) != len(counts) + 1:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    pl, pr, pt, pb = 44, 10, 8, 26
    iw, ih = width - pl - pr, height - pt - pb
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0
    top = max(max(counts), 1)
    body = [f"<line x1='{pl}' y1='{pt + ih}' x2='{pl + iw}' y2='{pt + ih}' stroke='#999'/>"]
    for i, c in enumerate(counts):
        x0 = pl + (float(edges[i]) - lo) / span * iw
        x1 = pl + (float(edges[i + 1]) - lo) / span * iw
        bh = c / top * ih
        body.append(f"<rect x='{x0:.1f}' y='{pt + ih - bh:.1f}' width='{max(x1 - x0 - 0.5, 0.5):.1f}' "
                    f"height='{bh:.1f}' fill='{color}'><title>[{_fmt(float(edges[i]))}, "
                    f"{_fmt(float(edges[i + 1]))}): {c:,}</title></rect>")
    for t in _ticks(lo, hi, 4):
        x = pl + (t - lo) / span * iw
        body.append(f"<text x='{x:.1f}' y='{height - 8}' text-anchor='middle' fill='#555'>{_fmt(t)}</text>")
    body.append(f"<text x='{pl - 4}' y='{pt + 9}' text-anchor='end' fill='#555'>{top:,}</text>")
    return _svg(width, height, body, title)


def bars(labels: Sequence[str], values: Sequence[float], *, width: int = 360,
         color: str = PALETTE[0], title: str = "", value_format: str = "{:,}",
         colors: Sequence[str] | None = None, bar_height: int = 16) -> str:
    """Horizontal bars (categories, top values, ranked segments); negatives go left."""
    n = len(values)
    if n == 0:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    label_w = min(160, max(40, 7 * max(len(str(lb)) for lb in labels)))
    pr = 70
    iw = width - label_w - pr
    height = n * (bar_height + 4) + 8
    lo = min(0.0, min(values))
    hi = max(0.0, max(values))
    span = (hi - lo) or 1.0
    zero = label_w + (0 - lo) / span * iw
    body = []
    for i, (lb, v) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * (bar_height + 4)
        x0 = label_w + (min(v, 0) - lo) / span * iw
        w = abs(v) / span * iw
        c = colors[i] if colors else color
        text = escape(str(lb))
        short = text if len(str(lb)) <= 24 else escape(str(lb)[:23]) + "…"
        try:
            shown = value_format.format(v)
        except (ValueError, TypeError):
            shown = _fmt(v)
        body.append(f"<text x='{label_w - 6}' y='{y + bar_height - 4}' text-anchor='end' fill='#333'>"
                    f"{short}<title>{text}</title></text>")
        body.append(f"<rect x='{x0:.1f}' y='{y}' width='{max(w, 0.5):.1f}' height='{bar_height}' "
                    f"fill='{c}'><title>{text}: {escape(shown)}</title></rect>")
        body.append(f"<text x='{max(x0 + w, zero) + 4:.1f}' y='{y + bar_height - 4}' fill='#555'>"
                    f"{escape(shown)}</text>")
    body.append(f"<line x1='{zero:.1f}' y1='0' x2='{zero:.1f}' y2='{height}' stroke='#bbb'/>")
    return _svg(width, height, body, title)


def line(xs: Sequence[float], series: dict[str, Sequence[float]], *, width: int = 560,
         height: int = 220, band: tuple[Sequence[float], Sequence[float]] | None = None,
         x_labels: Sequence[str] | None = None, marks: Sequence[int] = (), title: str = "") -> str:
    """Lines over a shared x (a trend, a forecast); an optional shaded band (an interval)
    and marked points (anomalies). ``x_labels`` label the first and last x."""
    pts = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    if band:
        pts += [v for v in (*band[0], *band[1]) if v is not None and math.isfinite(v)]
    if not xs or not pts:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    pl, pr, pt, pb = 52, 12, 10, 24
    iw, ih = width - pl - pr, height - pt - pb
    x0, x1 = float(min(xs)), float(max(xs))
    y0, y1 = min(pts), max(pts)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    sx = (x1 - x0) or 1.0

    def px(x: float) -> float:
        return pl + (float(x) - x0) / sx * iw

    def py(y: float) -> float:
        return pt + ih - (y - y0) / (y1 - y0) * ih

    body = []
    for t in _ticks(y0, y1, 4):
        body.append(f"<line x1='{pl}' y1='{py(t):.1f}' x2='{pl + iw}' y2='{py(t):.1f}' stroke='#eee'/>")
        body.append(f"<text x='{pl - 4}' y='{py(t) + 4:.1f}' text-anchor='end' fill='#555'>{_fmt(t)}</text>")
    if band:
        lo, hi = band
        upper = [f"{px(x):.1f},{py(v):.1f}" for x, v in zip(xs, hi, strict=False) if v is not None and math.isfinite(v)]
        lower = [f"{px(x):.1f},{py(v):.1f}" for x, v in zip(xs, lo, strict=False) if v is not None and math.isfinite(v)]
        if upper and lower:
            body.append(f"<polygon points='{' '.join(upper + lower[::-1])}' fill='{PALETTE[0]}' opacity='0.15'/>")
    for i, (name, ys) in enumerate(series.items()):
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(xs, ys, strict=False)
                        if y is not None and math.isfinite(y))
        body.append(f"<polyline points='{path}' fill='none' stroke='{PALETTE[i % len(PALETTE)]}' "
                    f"stroke-width='1.6'><title>{escape(name)}</title></polyline>")
    first = next(iter(series.values()))
    for i in marks:
        if 0 <= i < len(xs) and first[i] is not None:
            body.append(f"<circle cx='{px(xs[i]):.1f}' cy='{py(first[i]):.1f}' r='3.5' fill='{PALETTE[2]}'/>")
    if x_labels:
        body.append(f"<text x='{pl}' y='{height - 6}' fill='#555'>{escape(str(x_labels[0]))}</text>")
        body.append(f"<text x='{pl + iw}' y='{height - 6}' text-anchor='end' fill='#555'>"
                    f"{escape(str(x_labels[-1]))}</text>")
    if len(series) > 1:
        for i, name in enumerate(series):
            body.append(f"<text x='{pl + 8 + i * 110}' y='{pt + 10}' fill='{PALETTE[i % len(PALETTE)]}'>"
                        f"■ {escape(name)}</text>")
    return _svg(width, height, body, title)


def heatmap(labels: Sequence[str], matrix: Sequence[Sequence[float]], *, lo: float = -1.0,
            hi: float = 1.0, cell: int = 22, title: str = "") -> str:
    """A square matrix (correlations) as coloured cells, blue negative to red positive."""
    n = len(labels)
    if n == 0:
        return _svg(200, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    lw = min(150, 7 * max(len(str(lb)) for lb in labels) + 6)
    width = lw + n * cell + 8
    height = lw + n * cell + 8
    body = []

    def colour(v: float) -> str:
        if v is None or not math.isfinite(v):
            return "#f4f4f4"
        t = max(-1.0, min(1.0, (2 * (v - lo) / ((hi - lo) or 1)) - 1))
        if t >= 0:
            r, g, b = 255, int(255 - 170 * t), int(255 - 190 * t)
        else:
            r, g, b = int(255 + 190 * t), int(255 + 120 * t), 255
        return f"rgb({r},{g},{b})"

    for i, lb in enumerate(labels):
        short = escape(str(lb)[:20])
        body.append(f"<text x='{lw - 4}' y='{lw + i * cell + cell * 0.7:.1f}' text-anchor='end' fill='#333'>{short}</text>")
        body.append(f"<text transform='translate({lw + i * cell + cell * 0.7:.1f},{lw - 4}) rotate(-60)' fill='#333'>{short}</text>")
        for j in range(n):
            v = matrix[i][j]
            body.append(f"<rect x='{lw + j * cell}' y='{lw + i * cell}' width='{cell - 1}' height='{cell - 1}' "
                        f"fill='{colour(v)}'><title>{escape(str(labels[i]))} × {escape(str(labels[j]))}: "
                        f"{_fmt(v) if v is not None else '–'}</title></rect>")
    return _svg(width, height, body, title)


def grid2d(x_edges: Sequence[float], y_edges: Sequence[float], counts: Sequence[Sequence[int]], *,
           width: int = 220, height: int = 200, x_label: str = "", y_label: str = "",
           title: str = "") -> str:
    """A 2-D histogram (a scatter plot of many rows, aggregated): ``counts[i][j]`` for x bin
    ``i`` and y bin ``j``; darker is more rows."""
    nx, ny = len(x_edges) - 1, len(y_edges) - 1
    if nx <= 0 or ny <= 0:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    pl, pb, pt, pr = 34, 26, 6, 6
    iw, ih = width - pl - pr, height - pt - pb
    top = max((c for row in counts for c in row), default=0) or 1
    cw, ch = iw / nx, ih / ny
    body = []
    for i in range(nx):
        for j in range(ny):
            c = counts[i][j]
            if not c:
                continue
            a = 0.15 + 0.85 * math.sqrt(c / top)
            body.append(f"<rect x='{pl + i * cw:.1f}' y='{pt + ih - (j + 1) * ch:.1f}' width='{cw + 0.3:.1f}' "
                        f"height='{ch + 0.3:.1f}' fill='{PALETTE[0]}' opacity='{a:.2f}'/>")
    body.append(f"<rect x='{pl}' y='{pt}' width='{iw}' height='{ih}' fill='none' stroke='#ccc'/>")
    body.append(f"<text x='{pl + iw / 2:.1f}' y='{height - 6}' text-anchor='middle' fill='#555'>{escape(x_label)}</text>")
    body.append(f"<text transform='translate(11,{pt + ih / 2:.1f}) rotate(-90)' text-anchor='middle' "
                f"fill='#555'>{escape(y_label)}</text>")
    return _svg(width, height, body, title)


def boxplot(stats: dict[str, float], *, width: int = 360, height: int = 54, title: str = "") -> str:
    """One horizontal box plot from ``min, q1, median, q3, max`` (whiskers at the given
    ``lo``/``hi`` if present, e.g. 1.5 IQR fences) and an ``outliers`` count."""
    keys = ("min", "q1", "median", "q3", "max")
    if any(stats.get(k) is None or not math.isfinite(stats[k]) for k in keys):
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    lo_w, hi_w = stats.get("lo", stats["min"]), stats.get("hi", stats["max"])
    lo, hi = stats["min"], stats["max"]
    span = (hi - lo) or 1.0
    pl, pr = 10, 10
    iw = width - pl - pr

    def px(v: float) -> float:
        return pl + (v - lo) / span * iw

    y = 18
    body = [
        f"<line x1='{px(lo_w):.1f}' y1='{y + 8}' x2='{px(hi_w):.1f}' y2='{y + 8}' stroke='#666'/>",
        f"<rect x='{px(stats['q1']):.1f}' y='{y}' width='{max(px(stats['q3']) - px(stats['q1']), 1):.1f}' "
        f"height='16' fill='{PALETTE[0]}' opacity='0.5' stroke='#333'/>",
        f"<line x1='{px(stats['median']):.1f}' y1='{y}' x2='{px(stats['median']):.1f}' y2='{y + 16}' stroke='#111' stroke-width='2'/>",
        f"<text x='{pl}' y='{height - 4}' fill='#555'>{_fmt(lo)}</text>",
        f"<text x='{width - pr}' y='{height - 4}' text-anchor='end' fill='#555'>{_fmt(hi)}</text>",
    ]
    if stats.get("outliers"):
        body.append(f"<text x='{width / 2:.0f}' y='{12}' text-anchor='middle' fill='{PALETTE[2]}'>"
                    f"{int(stats['outliers']):,} outliers beyond the whiskers</text>")
    return _svg(width, height, body, title)


def scatter(xs: Sequence[float], ys: Sequence[float], *, width: int = 300, height: int = 220,
            x_label: str = "", y_label: str = "", title: str = "", max_points: int = 2000) -> str:
    """A scatter of at most ``max_points`` points (residual plots, 2-D projections: pass
    already-sampled or aggregated points)."""
    pts = [(x, y) for x, y in zip(xs, ys, strict=False)
           if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)][:max_points]
    if not pts:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    pl, pb, pt, pr = 44, 28, 8, 8
    iw, ih = width - pl - pr, height - pt - pb
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    sx, sy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    body = [f"<rect x='{pl}' y='{pt}' width='{iw}' height='{ih}' fill='none' stroke='#ccc'/>"]
    body += [f"<circle cx='{pl + (x - x0) / sx * iw:.1f}' cy='{pt + ih - (y - y0) / sy * ih:.1f}' r='2' "
             f"fill='{PALETTE[0]}' opacity='0.55'/>" for x, y in pts]
    body.append(f"<text x='{pl}' y='{height - 14}' fill='#555'>{_fmt(x0)}</text>")
    body.append(f"<text x='{pl + iw}' y='{height - 14}' text-anchor='end' fill='#555'>{_fmt(x1)}</text>")
    body.append(f"<text x='{pl + iw / 2:.1f}' y='{height - 2}' text-anchor='middle' fill='#555'>{escape(x_label)}</text>")
    body.append(f"<text x='{pl - 4}' y='{pt + 10}' text-anchor='end' fill='#555'>{_fmt(y1)}</text>")
    body.append(f"<text x='{pl - 4}' y='{pt + ih}' text-anchor='end' fill='#555'>{_fmt(y0)}</text>")
    body.append(f"<text transform='translate(10,{pt + ih / 2:.1f}) rotate(-90)' text-anchor='middle' "
                f"fill='#555'>{escape(y_label)}</text>")
    return _svg(width, height, body, title)
