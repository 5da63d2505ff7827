"""The SVG drawing: a layered, Sugiyama-style layout computed here (no Graphviz), left
to right, with fewest crossings found by sweeps and positions by isotonic regression."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from datamill.render._model import STATE_COLORS, STATES, Graph, GraphSpec, clean, tooltip

# --------------------------------------------------------------------------- SVG layout

_NODE_H = 34.0  # node height without a subtitle line
_NODE_H2 = 46.0  # node height with a subtitle line (kind / state)
_FONT = 12.0
_CHAR_W = 7.0  # estimated average glyph width at 12px sans-serif
_MAX_LABEL = 40  # characters before a label is truncated with "…"
_PAD_X = 14.0
_MIN_W = 64.0
_LAYER_GAP = 72.0
_NODE_GAP = 18.0
_DUMMY_GAP = 8.0
_MARGIN = 24.0
_MAPPED_OFF = 4.0


def _text_width(s: str) -> float:
    w = 0.0
    for ch in s:
        if ord(ch) < 0x1100:
            w += 1.0
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            w += 1.9
        elif unicodedata.combining(ch):
            continue
        else:
            w += 1.0
    return w * _CHAR_W


def _truncate(s: str, limit: int = _MAX_LABEL) -> str:
    s = clean(s)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _count_crossings(layers: list[list[int]], pos: list[int], down: list[list[int]]) -> int:
    """Edge crossings between consecutive layers (inversion count with a Fenwick tree)."""
    total = 0
    for li in range(len(layers) - 1):
        seq: list[int] = []
        for v in layers[li]:
            ds = down[v]
            if ds:
                if len(ds) == 1:
                    seq.append(pos[ds[0]])
                else:
                    seq.extend(sorted(pos[w] for w in ds))
        if len(seq) < 2:
            continue
        size = len(layers[li + 1])
        tree = [0] * (size + 1)
        seen = 0
        for p in seq:
            # count previously seen targets strictly greater than p
            k, le = p + 1, 0
            while k > 0:
                le += tree[k]
                k -= k & -k
            total += seen - le
            k = p + 1
            while k <= size:
                tree[k] += 1
                k += k & -k
            seen += 1
    return total


def _sweep(layers: list[list[int]], pos: list[int], nbrs: list[list[int]], rng: range) -> None:
    """One barycentre pass over the layers in ``rng`` using neighbours ``nbrs``."""
    for li in rng:
        layer = layers[li]
        keyed = []
        for v in layer:
            ns = nbrs[v]
            if ns:
                s = 0
                for w in ns:
                    s += pos[w]
                keyed.append((s / len(ns), pos[v], v))
            else:
                keyed.append((pos[v], pos[v], v))
        keyed.sort()
        for i, item in enumerate(keyed):
            v = item[2]
            layer[i] = v
            pos[v] = i


def _pav_place(desired: list[float], offsets: list[float]) -> list[float]:
    """Closest positions (least squares) to ``desired`` keeping order and separations.

    Constraint ``y[i+1] - y[i] >= offsets[i+1] - offsets[i]``; with ``z = y - offsets`` it
    is ``z`` non-decreasing, solved exactly by pool-adjacent-violators in O(n).
    """
    means: list[float] = []
    counts: list[int] = []
    for d, c in zip(desired, offsets, strict=True):
        m, k = d - c, 1
        while means and means[-1] > m:
            pm, pk = means.pop(), counts.pop()
            m = (pm * pk + m * k) / (pk + k)
            k += pk
        means.append(m)
        counts.append(k)
    out: list[float] = []
    i = 0
    for m, k in zip(means, counts, strict=True):
        for _ in range(k):
            out.append(m + offsets[i])
            i += 1
    return out


@dataclass
class _Layout:
    width: float
    height: float
    layer: list[int]  # per real node
    x: list[float]  # left edge per real node
    y: list[float]  # centre per real node
    w: list[float]  # width per real node
    h: float  # node height
    col_x: list[float]  # left edge per layer column
    col_w: list[float]  # width per layer column
    label: list[str]
    sub: list[str]
    routes: list[list[tuple[int, float]]]  # per edge (g.edges order): (layer, y) of dummies


def _layout(g: Graph, top: float, max_dummies: int | None) -> _Layout:
    n = len(g.nodes)
    nodes = g.nodes
    # ---- layering: longest path from the roots, left to right
    layer = [0] * n
    for v in range(n):
        ps = g.parents[v]
        if ps:
            layer[v] = max(layer[p] for p in ps) + 1
    nlayers = (max(layer) + 1) if n else 0

    # ---- dummy nodes for edges spanning several layers (within a budget)
    if max_dummies is None:
        max_dummies = max(4000, 6 * n)
    spans = [layer[v] - layer[u] - 1 for u, v in g.edges]
    total = sum(spans)
    allow = [True] * len(spans)
    if total > max_dummies:
        # route the longest edges directly instead of through dummies
        by_len = sorted(range(len(spans)), key=lambda e: -spans[e])
        for e in by_len:
            if total <= max_dummies or spans[e] <= 0:
                break
            allow[e] = False
            total -= spans[e]
    vlayer = layer[:]
    up: list[list[int]] = [[] for _ in range(n)]
    down: list[list[int]] = [[] for _ in range(n)]
    chains: list[list[int]] = []
    for e, (u, v) in enumerate(g.edges):
        if spans[e] == 0:
            up[v].append(u)
            down[u].append(v)
            chains.append([])
            continue
        if not allow[e]:
            chains.append([])
            continue
        prev = u
        chain: list[int] = []
        for li in range(layer[u] + 1, layer[v]):
            d = len(vlayer)
            vlayer.append(li)
            up.append([prev])
            down.append([])
            down[prev].append(d)
            chain.append(d)
            prev = d
        down[prev].append(v)
        up[v].append(prev)
        chains.append(chain)
    nv = len(vlayer)

    # ---- initial order: depth-first preorder from the roots (keeps subtrees together)
    order_key = [0] * nv
    seen = bytearray(nv)
    counter = 0
    for r in g.roots:
        stack = [r]
        while stack:
            v = stack.pop()
            if seen[v]:
                continue
            seen[v] = 1
            order_key[v] = counter
            counter += 1
            stack.extend(reversed(down[v]))
    layers: list[list[int]] = [[] for _ in range(nlayers)]
    for v in sorted(range(nv), key=order_key.__getitem__):
        layers[vlayer[v]].append(v)
    pos = [0] * nv
    for layer_nodes in layers:
        for i, v in enumerate(layer_nodes):
            pos[v] = i

    # ---- crossing reduction: barycentre sweeps, keep the best ordering seen
    best = _count_crossings(layers, pos, down)
    best_layers = [lst[:] for lst in layers]
    rounds = 4 if nv <= 20000 else 2
    for _ in range(rounds):
        if best == 0:
            break
        _sweep(layers, pos, up, range(1, nlayers))
        _sweep(layers, pos, down, range(nlayers - 2, -1, -1))
        c = _count_crossings(layers, pos, down)
        if c < best:
            best = c
            best_layers = [lst[:] for lst in layers]
    layers = best_layers
    for layer_nodes in layers:
        for i, v in enumerate(layer_nodes):
            pos[v] = i

    # ---- sizes
    label = [_truncate(nd.name) for nd in nodes]
    sub = [
        " · ".join(x for x in (nd.kind if nd.kind != "task" else "", nd.state or "") if x)
        for nd in nodes
    ]
    h = _NODE_H2 if any(sub) else _NODE_H
    w = [
        max(_MIN_W, _text_width(label[i]) + 2 * _PAD_X, _text_width(sub[i]) * 0.85 + 2 * _PAD_X)
        + (2 * _MAPPED_OFF if nodes[i].mapped else 0.0)
        for i in range(n)
    ]
    col_w = [0.0] * nlayers
    for v in range(n):
        if w[v] > col_w[layer[v]]:
            col_w[layer[v]] = w[v]
    col_x = [0.0] * nlayers
    x0 = _MARGIN
    for li in range(nlayers):
        col_x[li] = x0
        x0 += col_w[li] + _LAYER_GAP
    width = (x0 - _LAYER_GAP + _MARGIN) if nlayers else 2 * _MARGIN

    # ---- vertical placement: barycentric targets projected onto order + spacing
    def vh(v: int) -> float:
        return h if v < n else 0.0

    offsets: list[list[float]] = []
    for layer_nodes in layers:
        offs = []
        acc = 0.0
        prev = -1
        for v in layer_nodes:
            if prev >= 0:
                gap = _NODE_GAP if (prev < n and v < n) else _DUMMY_GAP
                acc += (vh(prev) + vh(v)) / 2 + gap
            offs.append(acc)
            prev = v
        offsets.append(offs)
    y = [0.0] * nv
    tallest = max((o[-1] for o in offsets if o), default=0.0)
    for li, layer_nodes in enumerate(layers):
        shift = (tallest - (offsets[li][-1] if offsets[li] else 0.0)) / 2
        for i, v in enumerate(layer_nodes):
            y[v] = offsets[li][i] + shift

    def relax(rng: range, use_up: bool, use_down: bool) -> None:
        for li in rng:
            layer_nodes = layers[li]
            if not layer_nodes:
                continue
            desired = []
            for v in layer_nodes:
                s, k = 0.0, 0
                if use_up:
                    for u in up[v]:
                        s += y[u]
                    k += len(up[v])
                if use_down:
                    for d in down[v]:
                        s += y[d]
                    k += len(down[v])
                desired.append(s / k if k else y[v])
            for v, yy in zip(layer_nodes, _pav_place(desired, offsets[li]), strict=True):
                y[v] = yy

    passes = 3 if nv <= 20000 else 1
    for _ in range(passes):
        relax(range(1, nlayers), True, False)
        relax(range(nlayers - 2, -1, -1), False, True)
    relax(range(nlayers), True, True)

    # normalise: top of the drawing at `top`
    min_top = min((y[v] - vh(v) / 2 for v in range(nv)), default=0.0)
    dy = top - min_top
    max_bottom = top
    for v in range(nv):
        y[v] += dy
        b = y[v] + vh(v) / 2
        if b > max_bottom:
            max_bottom = b
    height = max_bottom + _MARGIN + _MAPPED_OFF

    x = [col_x[layer[v]] + (col_w[layer[v]] - w[v]) / 2 for v in range(n)]
    routes: list[list[tuple[int, float]]] = []
    for chain in chains:
        routes.append([(vlayer[d], y[d]) for d in chain])
    return _Layout(width, height, layer, x, y[:n], w, h, col_x, col_w, label, sub, routes)


# --------------------------------------------------------------------------- SVG output

_XML_BAD = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(s: str) -> str:
    """Escape text for XML content and double-quoted attributes; drop invalid characters."""
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _XML_BAD.sub("\ufffd", s)


def _f(v: float) -> str:
    return f"{v:.1f}".removesuffix(".0")


def to_svg(spec: GraphSpec, *, max_dummies: int | None = None) -> str:
    """A self-contained SVG drawing of the DAG (no Graphviz, no external fonts).

    Layered layout, left to right: longest-path layers from the roots, barycentre sweeps
    to reduce crossings, rounded boxes coloured by run state (mapped tasks drawn stacked),
    edges as cubic Bézier paths with arrowheads. Each node is a ``<g class="node">`` and
    each edge a ``<path class="edge">``. ``max_dummies`` caps the routing points added for
    edges that skip layers (longest edges beyond it are drawn directly).
    """
    g = Graph(spec)
    n = len(g.nodes)
    states = sorted({nd.state for nd in g.nodes if nd.state}, key=STATES.index)
    title_h = 30.0 + (22.0 if states else 0.0)
    top = _MARGIN + title_h
    lay = _layout(g, top, max_dummies)
    title_w = _MARGIN * 2 + _text_width(_truncate(g.name, 80)) * 1.4
    legend_w = _MARGIN * 2 + sum(_text_width(s) + 34 for s in states)
    width = max(lay.width, title_w, legend_w, 160.0)
    height = max(lay.height, top + _MARGIN)
    h = lay.h
    half = h / 2

    out: list[str] = []
    a = out.append
    a('<?xml version="1.0" encoding="UTF-8"?>\n')
    a(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
        f'viewBox="0 0 {_f(width)} {_f(height)}" role="img" aria-labelledby="graph-title" '
        "font-family=\"system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif\" "
        f'font-size="{_f(_FONT)}">\n'
    )
    a(f'<title id="graph-title">{_xml(g.name)}</title>\n')
    a(
        "<defs>\n"
        '<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#64748b"/></marker>\n'
        "</defs>\n"
    )
    a(
        f'<rect class="background" x="0" y="0" width="{_f(width)}" height="{_f(height)}" fill="#ffffff"/>\n'
    )
    ne = len(g.edges)
    a(
        f'<text class="title" x="{_f(_MARGIN)}" y="{_f(_MARGIN + 12)}" font-size="16" '
        f'font-weight="600" fill="#0f172a">{_xml(_truncate(g.name, 80))}'
        f'<tspan font-size="11" font-weight="400" fill="#64748b" dx="10">'
        f"{n} node{'s' if n != 1 else ''} · {ne} edge{'s' if ne != 1 else ''}</tspan></text>\n"
    )
    if states:
        a('<g class="legend">')
        lx = _MARGIN
        ly = _MARGIN + 30
        for s in states:
            fill, stroke = STATE_COLORS[s]
            a(
                f'<rect x="{_f(lx)}" y="{_f(ly - 9)}" width="12" height="12" rx="3" '
                f'fill="{fill}" stroke="{stroke}"/>'
                f'<text x="{_f(lx + 17)}" y="{_f(ly + 1)}" font-size="11" fill="#334155">{s}</text>'
            )
            lx += _text_width(s) + 34
        a("</g>\n")

    # edges first, so nodes paint over their ends
    a('<g class="edges" fill="none" stroke="#94a3b8" stroke-width="1.4">\n')
    names = g.nodes
    xs, ys, ws, col_x, col_w = lay.x, lay.y, lay.w, lay.col_x, lay.col_w
    for (u, v), route in zip(g.edges, lay.routes, strict=True):
        pts: list[tuple[float, float, bool]] = [(xs[u] + ws[u], ys[u], False)]
        for li, yy in route:
            pts.append((col_x[li], yy, False))
            pts.append((col_x[li] + col_w[li], yy, True))  # straight run through the column
        pts.append((xs[v], ys[v], False))
        d = [f"M{_f(pts[0][0])},{_f(pts[0][1])}"]
        for (ax, ay, _), (bx, by, straight) in zip(pts, pts[1:], strict=False):
            if straight:
                d.append(f"L{_f(bx)},{_f(by)}")
            else:
                mx = (bx - ax) / 2
                d.append(f"C{_f(ax + mx)},{_f(ay)} {_f(bx - mx)},{_f(by)} {_f(bx)},{_f(by)}")
        a(
            f'<path class="edge" data-from="{_xml(names[u].name)}" data-to="{_xml(names[v].name)}" '
            f'd="{" ".join(d)}" marker-end="url(#arrow)"/>\n'
        )
    a("</g>\n")

    a('<g class="nodes">\n')
    for i, node in enumerate(names):
        fill, stroke = STATE_COLORS[node.state]
        x, yc, w = xs[i], ys[i], ws[i]
        off = _MAPPED_OFF if node.mapped else 0.0
        bw = w - 2 * off  # width of the front box
        bx, by = x, yc - half + off
        cls = "node" + (f" {node.state}" if node.state else "")
        a(f'<g class="{cls}" id="node-{i}" data-name="{_xml(node.name)}">')
        a(f"<title>{_xml(tooltip(node))}</title>")
        dash = ' stroke-dasharray="4 3"' if node.state == "cancelled" else ""
        if node.mapped:
            for k in (2, 1):
                a(
                    f'<rect x="{_f(bx + k * off)}" y="{_f(by - k * off)}" width="{_f(bw)}" '
                    f'height="{_f(h)}" rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/>'
                )
        a(
            f'<rect x="{_f(bx)}" y="{_f(by)}" width="{_f(bw)}" height="{_f(h)}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>'
        )
        cx = bx + bw / 2
        if lay.sub[i]:
            a(
                f'<text x="{_f(cx)}" y="{_f(by + h / 2 - 6)}" text-anchor="middle" dy="0.35em" '
                f'fill="#0f172a">{_xml(lay.label[i])}</text>'
                f'<text x="{_f(cx)}" y="{_f(by + h / 2 + 9)}" text-anchor="middle" dy="0.35em" '
                f'font-size="10" fill="#475569">{_xml(lay.sub[i])}</text>'
            )
        else:
            a(
                f'<text x="{_f(cx)}" y="{_f(by + h / 2)}" text-anchor="middle" dy="0.35em" '
                f'fill="#0f172a">{_xml(lay.label[i])}</text>'
            )
        a("</g>\n")
    a("</g>\n</svg>\n")
    return "".join(out)
