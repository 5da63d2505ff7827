"""Drawing a pipeline DAG for ``datamill graph``: terminal tree, rich tree, DOT and SVG.

Presentation, not model: the model layer (``datamill.core``) knows tasks and edges, this
package knows how they look. Everything here is a pure function of a :class:`GraphSpec`;
nothing does I/O and only the standard library is imported at module import time
(``rich`` is imported lazily by :func:`to_rich`). The SVG layout is computed here (no
Graphviz needed): a layered, Sugiyama-style drawing, left to right.

    spec = GraphSpec("sales", [GraphNode("extract"), GraphNode("load")], [("extract", "load")])
    print(to_text(spec))
    fmt = format_for_path("sales.svg")  # 'svg'
    svg = render(spec, fmt)

Ordering is deterministic everywhere: topological, ties broken by node name. The modules:
``_model`` (nodes, edges, colours, the validated graph), ``_text`` (text and rich trees,
DOT), ``_svg`` (layout and SVG).
"""

from __future__ import annotations

from datamill.render._model import (
    DEFAULT_MAX_DEPTH,
    FORMATS,
    STATE_COLORS,
    STATES,
    GraphNode,
    GraphSpec,
    format_for_path,
)
from datamill.render._svg import to_svg
from datamill.render._text import to_dot, to_rich, to_text

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "FORMATS",
    "STATES",
    "STATE_COLORS",
    "GraphNode",
    "GraphSpec",
    "format_for_path",
    "render",
    "to_dot",
    "to_rich",
    "to_svg",
    "to_text",
]


def render(spec: GraphSpec, fmt: str) -> str:
    """Render ``spec`` as ``'txt'``, ``'dot'`` or ``'svg'`` (see :func:`format_for_path`)."""
    if fmt == "txt":
        return to_text(spec)
    if fmt == "dot":
        return to_dot(spec)
    if fmt == "svg":
        return to_svg(spec)
    raise ValueError(f"unknown graph format {fmt!r}; expected one of: {', '.join(FORMATS)}")
