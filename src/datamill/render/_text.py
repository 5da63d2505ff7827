"""The terminal tree (plain and rich) and Graphviz DOT text of a graph."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from datamill.render._model import (
    CTRL,
    DEFAULT_MAX_DEPTH,
    RICH_STATE_STYLES,
    STATE_COLORS,
    Graph,
    GraphNode,
    GraphSpec,
    clean,
    tooltip,
)

# --------------------------------------------------------------------------- tree walk

# reference kinds for a line of the tree
_FULL, _ABOVE, _BELOW, _CONTINUED = 0, 1, 2, 3
_REF_SUFFIX = {_ABOVE: " (see above)", _BELOW: " (see below)", _CONTINUED: " (continued below)"}


def _walk(g: Graph, max_depth: int) -> Iterator[tuple[int, bool, int, int]]:
    """Yield ``(depth, is_last_sibling, node, ref)`` for the tree view, depth-first.

    Each node is yielded in full exactly once (under the first parent reached); later
    arrivals are back-references, so the output is O(nodes + edges) lines. A node that would
    be expanded deeper than ``max_depth`` is left as a "continued below" stub and expanded as
    a new top-level section after the current one, which bounds the indentation too.
    """
    children = g.children
    status = bytearray(len(g.nodes))  # 0 unseen, 1 printed, 2 deferred (printed later)
    deferred: deque[int] = deque()

    def section(start: int) -> Iterator[tuple[int, bool, int, int]]:
        status[start] = 1
        yield 0, True, start, _FULL
        stack: list[list[Any]] = [[children[start], 0]]
        while stack:
            frame = stack[-1]
            kids, i = frame
            if i == len(kids):
                stack.pop()
                continue
            frame[1] = i + 1
            c = kids[i]
            last = i == len(kids) - 1
            depth = len(stack)
            st = status[c]
            if st == 1:
                yield depth, last, c, _ABOVE
            elif st == 2:
                yield depth, last, c, _BELOW
            elif children[c] and depth >= max_depth:
                status[c] = 2
                deferred.append(c)
                yield depth, last, c, _CONTINUED
            else:
                status[c] = 1
                yield depth, last, c, _FULL
                if children[c]:
                    stack.append([children[c], 0])

    for root in g.roots:
        yield from section(root)
        while deferred:
            yield from section(deferred.popleft())


def _header(g: Graph) -> str:
    n, e = len(g.nodes), len(g.edges)
    return f"{clean(g.name)} ({n} node{'s' if n != 1 else ''}, {e} edge{'s' if e != 1 else ''})"


def _text_label(node: GraphNode) -> str:
    parts = [clean(node.name) + ("[*]" if node.mapped else "")]
    if node.kind != "task":
        parts.append(f"<{clean(node.kind)}>")
    if node.state:
        parts.append(f"[{node.state}]")
    parts.extend("#" + clean(t) for t in node.tags)
    if node.detail:
        parts.append("— " + clean(node.detail))
    return " ".join(parts)


def to_text(spec: GraphSpec, *, max_depth: int = DEFAULT_MAX_DEPTH) -> str:
    """A ``tree``-style view: roots at the top, children indented with box-drawing guides.

    Mapped tasks show as ``name[*]``; a non-task kind as ``<kind>``; the run state as
    ``[state]``; tags as ``#tag``; the detail after ``—``. A node with several parents is
    printed in full once and as ``name (see above)`` afterwards. Subtrees deeper than
    ``max_depth`` continue in a later top-level section (``name (continued below)``).
    """
    g = Graph(spec)
    if max_depth < 1:
        raise ValueError(f"max_depth must be >= 1, got {max_depth}")
    nodes = g.nodes
    full = [_text_label(nd) for nd in nodes]
    short: list[str | None] = [None] * len(nodes)
    lines = [_header(g)]
    if not nodes:
        lines.append("(no tasks)")
    prefixes = [""] * (max_depth + 2)
    for depth, last, i, ref in _walk(g, max_depth):
        if ref == _FULL:
            label = full[i]
        else:
            s = short[i]
            if s is None:
                s = short[i] = clean(nodes[i].name) + ("[*]" if nodes[i].mapped else "")
            label = s + _REF_SUFFIX[ref]
        if depth == 0:
            lines.append(label)
        else:
            pre = prefixes[depth - 1]
            lines.append(pre + ("└── " if last else "├── ") + label)
            prefixes[depth] = pre + ("    " if last else "│   ")
    return "\n".join(lines) + "\n"


def to_rich(spec: GraphSpec, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The same tree as :func:`to_text`, as a ``rich.tree.Tree`` with state colours.

    Labels are ``rich.text.Text`` objects, so names containing ``[...]`` are never read as
    rich markup.
    """
    from rich.text import Text
    from rich.tree import Tree

    g = Graph(spec)
    if max_depth < 1:
        raise ValueError(f"max_depth must be >= 1, got {max_depth}")
    tree = Tree(Text(_header(g), style="bold"), guide_style="grey50")
    if not g.nodes:
        tree.add(Text("(no tasks)", style="dim"))
        return tree

    def label(node: GraphNode, ref: int) -> Text:
        style = RICH_STATE_STYLES.get(node.state or "", "")
        t = Text()
        if ref != _FULL:
            t.append(clean(node.name), style=style or None)
            if node.mapped:
                t.append("[*]", style="cyan")
            t.append(_REF_SUFFIX[ref], style="dim italic")
            return t
        t.append(clean(node.name), style=("bold " + style).strip())
        if node.mapped:
            t.append("[*]", style="bold cyan")
        if node.kind != "task":
            t.append(f" <{clean(node.kind)}>", style="blue")
        if node.state:
            t.append(f" [{node.state}]", style=style)
        for tag in node.tags:
            t.append(f" #{clean(tag)}", style="cyan")
        if node.detail:
            t.append(f" — {clean(node.detail)}", style="dim")
        return t

    levels: list[Any] = [tree] + [None] * (max_depth + 1)
    for depth, _last, i, ref in _walk(g, max_depth):
        levels[depth + 1] = levels[depth].add(label(g.nodes[i], ref))
    return tree


# --------------------------------------------------------------------------- DOT


def _dot_str(s: str) -> str:
    """A DOT double-quoted string (also an escString: ``\\`` doubled, newlines as ``\\n``)."""
    s = s.replace("\\", "\\\\").replace('"', '\\"')
    s = s.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    return '"' + CTRL.sub(" ", s) + '"'


def to_dot(spec: GraphSpec) -> str:
    """Graphviz DOT source (``rankdir=LR``), node ids and labels quoted and escaped.

    Mapped tasks are drawn as ``box3d`` (a stacked box); the run state sets ``fillcolor``
    and ``color``; tags and detail go into the tooltip.
    """
    g = Graph(spec)
    out = [
        f"digraph {_dot_str(g.name)} {{",
        "  rankdir=LR;",
        f"  label={_dot_str(g.name)};",
        "  labelloc=t;",
        '  fontname="Helvetica,Arial,sans-serif";',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", color="#475569",'
        ' fontname="Helvetica,Arial,sans-serif", fontsize=11];',
        '  edge [color="#64748b", arrowsize=0.7];',
    ]
    for node in g.nodes:
        fill, stroke = STATE_COLORS[node.state]
        sub = [x for x in (node.kind if node.kind != "task" else "", node.state or "") if x]
        label = node.name + ("\n" + " · ".join(sub) if sub else "")
        attrs = [f"label={_dot_str(label)}"]
        if node.mapped or node.state == "cancelled":
            style = ["filled"] if node.mapped else ["rounded", "filled"]
            if node.state == "cancelled":
                style.append("dashed")
            attrs.append(f'style="{",".join(style)}"')
        if node.mapped:
            attrs.append("shape=box3d")
        if node.state:
            attrs.append(f'fillcolor="{fill}", color="{stroke}"')
        tip = tooltip(node)
        if tip != node.name:
            attrs.append(f"tooltip={_dot_str(tip)}")
        out.append(f"  {_dot_str(node.name)} [{', '.join(attrs)}];")
    names = [_dot_str(nd.name) for nd in g.nodes]
    for u, v in g.edges:
        out.append(f"  {names[u]} -> {names[v]};")
    out.append("}")
    return "\n".join(out) + "\n"
