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


CHAR_W = 6.6  # width of one character at font-size 11, generous (digits and most letters)


def text_width(text: str, size: float = 11) -> float:
    """Estimated pixel width of ``text``: charts size their margins from it so no label is
    cut off at the edge of its SVG."""
    return len(text) * CHAR_W * size / 11


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
              height: int = 180, color: str = PALETTE[0], title: str = "",
              integer: bool = False) -> str:
    """Bars between consecutive bin edges (``len(edges) == len(counts) + 1``). With
    ``integer`` the edges sit half-way between integers and ticks name bin centres."""
    if not counts or len(edges) != len(counts) + 1:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    top = max(max(counts), 1)
    pl, pr, pt, pb = max(30, int(text_width(f"{top:,}")) + 8), 14, 8, 26
    iw, ih = width - pl - pr, height - pt - pb
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0
    body = [f"<line x1='{pl}' y1='{pt + ih}' x2='{pl + iw}' y2='{pt + ih}' stroke='#999'/>"]
    for i, c in enumerate(counts):
        x0 = pl + (float(edges[i]) - lo) / span * iw
        x1 = pl + (float(edges[i + 1]) - lo) / span * iw
        bh = c / top * ih
        label = (_fmt(float(edges[i]) + 0.5) if integer and edges[i + 1] - edges[i] == 1 else
                 f"[{_fmt(float(edges[i]) + 0.5 if integer else float(edges[i]))}, "
                 f"{_fmt(float(edges[i + 1]) - 0.5 if integer else float(edges[i + 1]))}"
                 f"{']' if integer else ')'}")
        body.append(f"<rect x='{x0:.1f}' y='{pt + ih - bh:.1f}' width='{max(x1 - x0 - 0.5, 0.5):.1f}' "
                    f"height='{bh:.1f}' fill='{color}'><title>{label}: {c:,}</title></rect>")
    ticks = _ticks(lo + 0.5, hi - 0.5, 4) if integer else _ticks(lo, hi, 4)
    if integer:
        ticks = [t for t in ticks if float(t).is_integer()] or [lo + 0.5, hi - 0.5]
    for t in ticks:
        x = pl + (t - lo) / span * iw
        label = _fmt(float(t))
        half = text_width(label) / 2
        anchor = "middle"
        if x - half < 0:
            anchor, x = "start", max(x - 2, 0)
        elif x + half > width:
            anchor, x = "end", min(x + 2, width)
        body.append(f"<text x='{x:.1f}' y='{height - 8}' text-anchor='{anchor}' fill='#555'>{label}</text>")
    body.append(f"<text x='{pl - 4}' y='{pt + 9}' text-anchor='end' fill='#555'>{top:,}</text>")
    return _svg(width, height, body, title)


def bars(labels: Sequence[str], values: Sequence[float], *, width: int = 360,
         color: str = PALETTE[0], title: str = "", value_format: str = "{:,}",
         colors: Sequence[str] | None = None, bar_height: int = 16,
         value_labels: Sequence[str] | None = None) -> str:
    """Horizontal bars (categories, top values, ranked segments); negatives go left. Labels
    longer than 24 characters are shortened (the full text is in the tooltip); the margins
    are sized from the labels and the value texts, so none is cut off."""
    n = len(values)
    if n == 0:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    shorts = [str(lb) if len(str(lb)) <= 24 else str(lb)[:23] + "…" for lb in labels]
    if value_labels is None:
        shown_all = []
        for v in values:
            try:
                shown_all.append(value_format.format(v))
            except (ValueError, TypeError):
                shown_all.append(_fmt(v))
    else:
        shown_all = [str(t) for t in value_labels]
    label_w = int(max(40, max(text_width(t) for t in shorts) + 10))
    val_w = int(max(text_width(t) for t in shown_all) + 8)
    lo = min(0.0, min(values))
    hi = max(0.0, max(values))
    width = max(width, label_w + 2 * val_w + 80)
    iw = width - label_w - val_w - (val_w if lo < 0 else 4)
    left = label_w + (val_w if lo < 0 else 0)
    height = n * (bar_height + 4) + 8
    span = (hi - lo) or 1.0
    zero = left + (0 - lo) / span * iw
    body = []
    for i, (lb, v) in enumerate(zip(labels, values, strict=True)):
        y = 4 + i * (bar_height + 4)
        x0 = left + (min(v, 0) - lo) / span * iw
        w = abs(v) / span * iw
        c = colors[i] if colors else color
        text = escape(str(lb))
        shown = shown_all[i]
        body.append(f"<text x='{label_w - 6}' y='{y + bar_height - 4}' text-anchor='end' fill='#333'>"
                    f"{escape(shorts[i])}<title>{text}</title></text>")
        body.append(f"<rect x='{x0:.1f}' y='{y}' width='{max(w, 0.5):.1f}' height='{bar_height}' "
                    f"fill='{c}'><title>{text}: {escape(shown)}</title></rect>")
        if v < 0:  # the value sits left of a negative bar, right of a positive one
            body.append(f"<text x='{x0 - 4:.1f}' y='{y + bar_height - 4}' text-anchor='end' "
                        f"fill='#555'>{escape(shown)}</text>")
        else:
            body.append(f"<text x='{x0 + w + 4:.1f}' y='{y + bar_height - 4}' fill='#555'>"
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
    y0, y1 = min(pts), max(pts)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pl = max(40, int(max((text_width(_fmt(t)) for t in _ticks(y0, y1, 4)), default=20)) + 10)
    pr, pt, pb = 12, 10 + (14 if len(series) > 1 else 0), 24
    iw, ih = width - pl - pr, height - pt - pb
    x0, x1 = float(min(xs)), float(max(xs))
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
        x = pl
        for i, name in enumerate(series):
            body.append(f"<text x='{x:.0f}' y='11' fill='{PALETTE[i % len(PALETTE)]}'>"
                        f"■ {escape(name)}</text>")
            x += text_width(f"■ {name}") + 14
    return _svg(width, height, body, title)


def _diverging(v: float | None, lo: float, hi: float) -> str:
    if v is None or not math.isfinite(v):
        return "#f4f4f4"
    t = max(-1.0, min(1.0, (2 * (v - lo) / ((hi - lo) or 1)) - 1))
    if lo >= 0:  # a one-sided scale (Cramér's V, shares): white to red
        t = max(0.0, (v - lo) / ((hi - lo) or 1))
    if t >= 0:
        r, g, b = 255, int(255 - 170 * t), int(255 - 190 * t)
    else:
        r, g, b = int(255 + 190 * t), int(255 + 120 * t), 255
    return f"rgb({r},{g},{b})"


def legend(lo: float, hi: float, *, x: float, y: float, width: float = 160,
           label: str = "") -> list[str]:
    """A colour scale from ``lo`` to ``hi`` (the heat maps' key), as SVG elements."""
    steps = 20
    out = []
    for k in range(steps):
        v = lo + (hi - lo) * (k + 0.5) / steps
        out.append(f"<rect x='{x + k * width / steps:.1f}' y='{y:.1f}' width='{width / steps + 0.3:.1f}' "
                   f"height='10' fill='{_diverging(v, lo, hi)}'/>")
    out.append(f"<rect x='{x:.1f}' y='{y:.1f}' width='{width:.1f}' height='10' fill='none' stroke='#ccc'/>")
    mid = (lo + hi) / 2
    for v, anchor, px in ((lo, "start", x), (mid, "middle", x + width / 2), (hi, "end", x + width)):
        out.append(f"<text x='{px:.1f}' y='{y + 22:.1f}' text-anchor='{anchor}' fill='#555'>{_fmt(v)}</text>")
    if label:
        out.append(f"<text x='{x + width + 8:.1f}' y='{y + 9:.1f}' fill='#555'>{escape(label)}</text>")
    return out


def heatmap(labels: Sequence[str], matrix: Sequence[Sequence[float]], *, lo: float = -1.0,
            hi: float = 1.0, cell: int = 26, title: str = "", numbers: bool = True,
            legend_label: str = "") -> str:
    """A square matrix (correlations) as coloured cells, blue negative to red positive (white
    to red for a one-sided scale), each cell's value written in it (when there is room), and
    a colour legend below."""
    n = len(labels)
    if n == 0:
        return _svg(200, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    shorts = [str(lb) if len(str(lb)) <= 20 else str(lb)[:19] + "…" for lb in labels]
    tw = max(text_width(t) for t in shorts)
    cell = cell if n <= 20 else max(12, min(cell, 520 // n))
    numbers = numbers and cell >= 22
    lw = int(tw + 10)
    top = int(tw * 0.71 + 18)  # column labels rotated -45°
    grid = n * cell
    width = int(max(lw + grid + tw * 0.71 + 8, lw + 230))
    height = top + grid + 44
    body = []
    for i, lb in enumerate(shorts):
        body.append(f"<text x='{lw - 4}' y='{top + i * cell + cell * 0.65:.1f}' text-anchor='end' "
                    f"fill='#333'>{escape(lb)}<title>{escape(str(labels[i]))}</title></text>")
        cx = lw + i * cell + cell * 0.5
        body.append(f"<text transform='translate({cx:.1f},{top - 4}) rotate(-45)' fill='#333'>"
                    f"{escape(lb)}<title>{escape(str(labels[i]))}</title></text>")
        for j in range(n):
            v = matrix[i][j]
            shown = "–" if v is None or not math.isfinite(v) else f"{v:.2f}".replace("-0.00", "0.00")
            body.append(f"<rect x='{lw + j * cell}' y='{top + i * cell}' width='{cell - 1}' "
                        f"height='{cell - 1}' fill='{_diverging(v, lo, hi)}'><title>"
                        f"{escape(str(labels[i]))} × {escape(str(labels[j]))}: {shown}</title></rect>")
            if numbers:
                dark = v is not None and math.isfinite(v) and abs((2 * (v - lo) / ((hi - lo) or 1)) - 1) > 0.7 \
                    and (lo < 0 or v > lo + 0.85 * (hi - lo))
                body.append(f"<text x='{lw + j * cell + (cell - 1) / 2:.1f}' "
                            f"y='{top + i * cell + cell * 0.62:.1f}' text-anchor='middle' "
                            f"font-size='{8.5 if cell < 26 else 9.5}' fill='{'#fff' if dark else '#333'}' "
                            f"pointer-events='none'>{shown if shown != '1.00' else '1'}</text>")
    body += legend(lo, hi, x=lw, y=top + grid + 8, width=min(200, max(grid, 120)),
                   label=legend_label)
    return _svg(width, height, body, title)


def grid2d(x_edges: Sequence[float], y_edges: Sequence[float], counts: Sequence[Sequence[int]], *,
           width: int = 240, height: int = 210, x_label: str = "", y_label: str = "",
           title: str = "", means: Sequence[float | None] | None = None) -> str:
    """A 2-D histogram (a scatter plot of many rows, aggregated): ``counts[i][j]`` for x bin
    ``i`` and y bin ``j``; darker is more rows. ``means`` (one per x bin) draws the mean of y
    in each x bin as a line. The axes carry their range at the ends."""
    nx, ny = len(x_edges) - 1, len(y_edges) - 1
    if nx <= 0 or ny <= 0:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    y_lo, y_hi = _fmt(float(y_edges[0])), _fmt(float(y_edges[-1]))
    pl = int(max(text_width(y_lo), text_width(y_hi)) + 22)
    pb, pt, pr = 34, 6, 8
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
    if means is not None:
        y0, y1 = float(y_edges[0]), float(y_edges[-1])
        pts = [f"{pl + (i + 0.5) * cw:.1f},{pt + ih - (m - y0) / ((y1 - y0) or 1) * ih:.1f}"
               for i, m in enumerate(means) if m is not None and math.isfinite(m) and y0 <= m <= y1]
        if len(pts) > 1:
            body.append(f"<polyline points='{' '.join(pts)}' fill='none' stroke='{PALETTE[1]}' "
                        f"stroke-width='1.8'><title>mean of {escape(y_label)} per bin of "
                        f"{escape(x_label)}</title></polyline>")
    body.append(f"<rect x='{pl}' y='{pt}' width='{iw}' height='{ih}' fill='none' stroke='#ccc'/>")
    body.append(f"<text x='{pl}' y='{pt + ih + 12}' fill='#555'>{_fmt(float(x_edges[0]))}</text>")
    body.append(f"<text x='{pl + iw}' y='{pt + ih + 12}' text-anchor='end' fill='#555'>"
                f"{_fmt(float(x_edges[-1]))}</text>")
    body.append(f"<text x='{pl - 3}' y='{pt + ih}' text-anchor='end' fill='#555'>{y_lo}</text>")
    body.append(f"<text x='{pl - 3}' y='{pt + 9}' text-anchor='end' fill='#555'>{y_hi}</text>")
    xl = x_label if text_width(x_label) <= iw else x_label[:max(1, int(iw / CHAR_W) - 1)] + "…"
    yl = y_label if text_width(y_label) <= ih else y_label[:max(1, int(ih / CHAR_W) - 1)] + "…"
    body.append(f"<text x='{pl + iw / 2:.1f}' y='{height - 4}' text-anchor='middle' fill='#333'>"
                f"{escape(xl)}<title>{escape(x_label)}</title></text>")
    body.append(f"<text transform='translate(11,{pt + ih / 2:.1f}) rotate(-90)' text-anchor='middle' "
                f"fill='#333'>{escape(yl)}<title>{escape(y_label)}</title></text>")
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


def columns(labels: Sequence[str], values: Sequence[float], *, width: int = 360,
            height: int = 150, color: str = PALETTE[0], title: str = "") -> str:
    """Vertical bars over a few ordered categories (hours, weekdays, months)."""
    n = len(values)
    if n == 0 or not any(values):
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    top = max(values) or 1
    pl, pr, pt, pb = int(text_width(f"{top:,}") + 8), 6, 8, 20
    iw, ih = width - pl - pr, height - pt - pb
    bw = iw / n
    every = max(1, math.ceil((max(text_width(str(lb)) for lb in labels) + 6) / max(bw, 1)))
    body = [f"<line x1='{pl}' y1='{pt + ih}' x2='{pl + iw}' y2='{pt + ih}' stroke='#999'/>",
            f"<text x='{pl - 4}' y='{pt + 9}' text-anchor='end' fill='#555'>{top:,}</text>"]
    for i, (lb, v) in enumerate(zip(labels, values, strict=True)):
        bh = v / top * ih
        x = pl + i * bw
        body.append(f"<rect x='{x + 0.5:.1f}' y='{pt + ih - bh:.1f}' width='{max(bw - 1.5, 0.5):.1f}' "
                    f"height='{bh:.1f}' fill='{color}'><title>{escape(str(lb))}: {v:,}</title></rect>")
        if i % every == 0:
            body.append(f"<text x='{x + bw / 2:.1f}' y='{height - 6}' text-anchor='middle' "
                        f"fill='#555'>{escape(str(lb))}</text>")
    return _svg(width, height, body, title)


def overlay(edges: Sequence[float], a: Sequence[float], b: Sequence[float], *,
            names: tuple[str, str] = ("A", "B"), width: int = 380, height: int = 190,
            title: str = "", integer: bool = False,
            end_labels: tuple[str, str] | None = None) -> str:
    """Two distributions on shared bins (shares of rows), as outlined steps over filled
    bars: the comparison report's per-column overlay."""
    if not a or len(edges) != len(a) + 1 or len(a) != len(b):
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    top = max(max(a), max(b)) or 1.0
    pl, pr, pt, pb = int(text_width(f"{top * 100:.1f}%") + 8), 14, 22, 26
    iw, ih = width - pl - pr, height - pt - pb
    lo, hi = float(edges[0]), float(edges[-1])
    span = (hi - lo) or 1.0

    def px(v: float) -> float:
        return pl + (float(v) - lo) / span * iw

    body = [f"<line x1='{pl}' y1='{pt + ih}' x2='{pl + iw}' y2='{pt + ih}' stroke='#999'/>",
            f"<text x='{pl - 4}' y='{pt + 9}' text-anchor='end' fill='#555'>{top * 100:.1f}%</text>"]
    for i, v in enumerate(a):
        bh = v / top * ih
        body.append(f"<rect x='{px(edges[i]):.1f}' y='{pt + ih - bh:.1f}' "
                    f"width='{max(px(edges[i + 1]) - px(edges[i]) - 0.5, 0.5):.1f}' height='{bh:.1f}' "
                    f"fill='{PALETTE[0]}' opacity='0.55'><title>{escape(names[0])}: {v * 100:.2f}%</title></rect>")
    step = []
    for i, v in enumerate(b):
        y = pt + ih - v / top * ih
        step += [f"{px(edges[i]):.1f},{y:.1f}", f"{px(edges[i + 1]):.1f},{y:.1f}"]
    body.append(f"<polyline points='{' '.join(step)}' fill='none' stroke='{PALETTE[1]}' "
                f"stroke-width='1.8'><title>{escape(names[1])}</title></polyline>")
    ticks = [lo, hi] if not integer else [lo + 0.5, hi - 0.5]
    ends = end_labels or (_fmt(ticks[0]), _fmt(ticks[1]))
    body.append(f"<text x='{pl}' y='{height - 8}' fill='#555'>{escape(ends[0])}</text>")
    body.append(f"<text x='{pl + iw}' y='{height - 8}' text-anchor='end' fill='#555'>"
                f"{escape(ends[1])}</text>")
    body.append(f"<text x='{pl}' y='12' fill='{PALETTE[0]}'>■ {escape(names[0])}</text>")
    body.append(f"<text x='{pl + text_width('■ ' + names[0]) + 14:.0f}' y='12' fill='{PALETTE[1]}'>"
                f"— {escape(names[1])}</text>")
    return _svg(width, height, body, title)


def paired_bars(labels: Sequence[str], a: Sequence[float], b: Sequence[float], *,
                names: tuple[str, str] = ("A", "B"), width: int = 380, title: str = "") -> str:
    """Two shares per category (the comparison report's categorical overlay), in percent."""
    n = len(labels)
    if n == 0:
        return _svg(width, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    shorts = [str(lb) if len(str(lb)) <= 24 else str(lb)[:23] + "…" for lb in labels]
    label_w = int(max(40, max(text_width(t) for t in shorts) + 10))
    val_w = int(text_width("100.0%") + 8)
    width = max(width, label_w + val_w + 120)
    iw = width - label_w - val_w
    top = max(max(a), max(b)) or 1.0
    rh = 22
    height = 18 + n * rh + 4
    body = [f"<text x='{label_w}' y='12' fill='{PALETTE[0]}'>■ {escape(names[0])}</text>",
            f"<text x='{label_w + text_width('■ ' + names[0]) + 14:.0f}' y='12' "
            f"fill='{PALETTE[1]}'>■ {escape(names[1])}</text>"]
    for i in range(n):
        y = 18 + i * rh
        body.append(f"<text x='{label_w - 6}' y='{y + 14}' text-anchor='end' fill='#333'>"
                    f"{escape(shorts[i])}<title>{escape(str(labels[i]))}</title></text>")
        for k, (vals, col) in enumerate(((a, PALETTE[0]), (b, PALETTE[1]))):
            w = vals[i] / top * iw
            yy = y + 2 + k * 9
            body.append(f"<rect x='{label_w}' y='{yy}' width='{max(w, 0.5):.1f}' height='8' "
                        f"fill='{col}'><title>{escape(names[k])}: {vals[i] * 100:.2f}%</title></rect>")
        body.append(f"<text x='{label_w + max(a[i], b[i]) / top * iw + 4:.1f}' y='{y + 14}' "
                    f"fill='#555'>{max(a[i], b[i]) * 100:.1f}%</text>")
    return _svg(width, height, body, title)


def patterns(cols: Sequence[str], rows: Sequence[Sequence[bool]], counts: Sequence[int], *,
             cell: int = 18, title: str = "") -> str:
    """Missing-value patterns: one row per combination of missing columns (filled = missing),
    with its number of rows as a bar on the right."""
    if not cols or not rows:
        return _svg(200, 40, ["<text x='8' y='24' fill='#888'>no data</text>"], title)
    shorts = [str(c) if len(str(c)) <= 20 else str(c)[:19] + "…" for c in cols]
    tw = max(text_width(t) for t in shorts)
    top_m = int(tw * 0.71 + 18)
    gx = 8
    grid_w = len(cols) * cell
    bar_w = 140
    cnt_w = int(text_width(f"{max(counts):,}") + 8)
    width = int(max(gx + grid_w + 10 + bar_w + cnt_w, gx + grid_w + tw * 0.71 + 8))
    height = top_m + len(rows) * cell + 8
    top = max(counts) or 1
    body = []
    for j, c in enumerate(shorts):
        cx = gx + j * cell + cell / 2
        body.append(f"<text transform='translate({cx:.1f},{top_m - 4}) rotate(-45)' fill='#333'>"
                    f"{escape(c)}<title>{escape(str(cols[j]))}</title></text>")
    for i, (row, n) in enumerate(zip(rows, counts, strict=True)):
        y = top_m + i * cell
        for j, miss in enumerate(row):
            body.append(f"<rect x='{gx + j * cell}' y='{y}' width='{cell - 2}' height='{cell - 2}' "
                        f"fill='{PALETTE[2] if miss else '#e8eef4'}'><title>{escape(str(cols[j]))}: "
                        f"{'missing' if miss else 'present'}</title></rect>")
        w = n / top * bar_w
        x0 = gx + grid_w + 10
        body.append(f"<rect x='{x0}' y='{y + 2}' width='{max(w, 0.5):.1f}' height='{cell - 6}' "
                    f"fill='{PALETTE[0]}'/>")
        body.append(f"<text x='{x0 + w + 4:.1f}' y='{y + cell - 5}' fill='#555'>{n:,}</text>")
    return _svg(width, height, body, title)
