"""The drawn graph: nodes, edges, run-state colours, and the validated, indexed form
every renderer walks (topological order, ties by name)."""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field
from os import PathLike
from pathlib import PurePath

#: Run states a node may carry (used to colour nodes when showing a run).
STATES: tuple[str, ...] = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "upstream_failed",
    "skipped",
    "cached",
    "cancelled",
)

#: state -> (fill, stroke) colours used by DOT and SVG; ``None`` is "no run state".
STATE_COLORS: dict[str | None, tuple[str, str]] = {
    None: ("#ffffff", "#475569"),
    "pending": ("#f1f5f9", "#94a3b8"),
    "running": ("#dbeafe", "#2563eb"),
    "succeeded": ("#dcfce7", "#16a34a"),
    "failed": ("#fee2e2", "#dc2626"),
    "upstream_failed": ("#ffedd5", "#ea580c"),
    "skipped": ("#fce7f3", "#db2777"),
    "cached": ("#ede9fe", "#7c3aed"),
    "cancelled": ("#e5e7eb", "#4b5563"),
}

# rich styles for the terminal tree
RICH_STATE_STYLES: dict[str, str] = {
    "pending": "grey62",
    "running": "bold blue",
    "succeeded": "green",
    "failed": "bold red",
    "upstream_failed": "dark_orange",
    "skipped": "magenta",
    "cached": "medium_purple",
    "cancelled": "grey50",
}

#: format name -> file extensions (lower case, with the dot)
FORMATS: dict[str, tuple[str, ...]] = {
    "dot": (".dot", ".gv"),
    "svg": (".svg",),
    "txt": (".txt",),
}

DEFAULT_MAX_DEPTH = 30


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class GraphNode:
    """One node of the drawn DAG (normally a task)."""

    name: str
    kind: str = "task"
    mapped: bool = False
    tags: tuple[str, ...] = ()
    state: str | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"graph node name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.tags, tuple):
            object.__setattr__(self, "tags", tuple(self.tags))
        if self.state is not None and self.state not in STATES:
            raise ValueError(
                f"node {self.name!r} has unknown state {self.state!r}; "
                f"expected one of: {', '.join(STATES)}"
            )


@dataclass
class GraphSpec:
    """A pipeline DAG to draw. ``edges`` are ``(upstream, downstream)`` node names."""

    name: str
    nodes: list[GraphNode]
    edges: list[tuple[str, str]] = field(default_factory=list)


class Graph:
    """Validated, indexed form of a :class:`GraphSpec`.

    Node indices are topological ranks (ties by name), so sorting by index is the
    deterministic order used everywhere.
    """

    __slots__ = ("name", "nodes", "children", "parents", "edges", "roots")

    def __init__(self, spec: GraphSpec):
        self.name = str(spec.name)
        by_name: dict[str, int] = {}
        raw = list(spec.nodes)
        for i, node in enumerate(raw):
            if not isinstance(node, GraphNode):
                raise TypeError(f"GraphSpec.nodes must hold GraphNode objects, got {node!r}")
            if node.name in by_name:
                raise ValueError(f"pipeline {self.name!r}: duplicate node name {node.name!r}")
            by_name[node.name] = i
        n = len(raw)
        succ: list[set[int]] = [set() for _ in range(n)]
        indeg = [0] * n
        for edge in spec.edges:
            try:
                up, down = edge
            except (TypeError, ValueError):
                raise ValueError(
                    f"pipeline {self.name!r}: edge {edge!r} is not an (upstream, downstream) pair"
                ) from None
            for end in (up, down):
                if end not in by_name:
                    raise ValueError(
                        f"pipeline {self.name!r}: edge {up!r} -> {down!r} names unknown node {end!r}"
                    )
            u, v = by_name[up], by_name[down]
            if v not in succ[u]:
                succ[u].add(v)
                indeg[v] += 1

        # Kahn's algorithm, ties broken by name
        heap = [(raw[i].name, i) for i in range(n) if indeg[i] == 0]
        heapq.heapify(heap)
        order: list[int] = []
        left = indeg[:]
        while heap:
            _, i = heapq.heappop(heap)
            order.append(i)
            for j in succ[i]:
                left[j] -= 1
                if left[j] == 0:
                    heapq.heappush(heap, (raw[j].name, j))
        if len(order) < n:
            raise ValueError(f"pipeline {self.name!r}: {_describe_cycle(raw, succ, left)}")

        rank = [0] * n
        for r, i in enumerate(order):
            rank[i] = r
        self.nodes: list[GraphNode] = [raw[i] for i in order]
        self.children: list[list[int]] = [sorted(rank[j] for j in succ[i]) for i in order]
        self.parents: list[list[int]] = [[] for _ in range(n)]
        for u, kids in enumerate(self.children):
            for v in kids:
                self.parents[v].append(u)  # ascending, since u ascends
        self.edges: list[tuple[int, int]] = [
            (u, v) for u, kids in enumerate(self.children) for v in kids
        ]
        self.roots: list[int] = [i for i in range(n) if not self.parents[i]]


def _describe_cycle(raw: list[GraphNode], succ: list[set[int]], left: list[int]) -> str:
    """Name one cycle among the nodes Kahn's algorithm could not order."""
    remaining = {i for i, d in enumerate(left) if d > 0}
    pred: dict[int, int] = {}
    for u in sorted(remaining):
        for v in succ[u]:
            if v in remaining and v not in pred:
                pred[v] = u
    # every remaining node has a remaining predecessor: walk back until a repeat
    start = min(remaining, key=lambda i: raw[i].name)
    seen: dict[int, int] = {}
    path: list[int] = []
    cur = start
    while cur not in seen:
        seen[cur] = len(path)
        path.append(cur)
        cur = pred[cur]
    cycle = path[seen[cur] :][::-1]  # reversed predecessor walk = edge direction
    k = min(range(len(cycle)), key=lambda j: raw[cycle[j]].name)
    cycle = cycle[k:] + cycle[:k]  # start at the smallest name, for stable messages
    names = [raw[i].name for i in cycle] + [raw[cycle[0]].name]
    return "the graph has a cycle: " + " -> ".join(repr(x) for x in names)


# --------------------------------------------------------------------------- helpers

CTRL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(s: str) -> str:
    """One-line, control-free text for the terminal (newline shown as ``\\n``)."""
    if not CTRL.search(s):
        return s
    return CTRL.sub(
        lambda m: {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(m[0], f"\\x{ord(m[0]):02x}"), s
    )


def format_for_path(path: str | PathLike[str]) -> str:
    """Pick the output format from a file name: ``'dot'``, ``'svg'`` or ``'txt'``.

    ``.dot``/``.gv`` -> ``'dot'``, ``.svg`` -> ``'svg'``, ``.txt`` -> ``'txt'`` (case-insensitive).
    Anything else raises :class:`ValueError` naming the supported extensions.
    """
    suffix = PurePath(path).suffix.lower()
    for fmt, exts in FORMATS.items():
        if suffix in exts:
            return fmt
    supported = ", ".join(e for exts in FORMATS.values() for e in exts)
    got = f"extension {suffix!r}" if suffix else "no extension"
    raise ValueError(
        f"cannot tell the graph format of {str(path)!r} ({got}); supported extensions: {supported}"
    )

def tooltip(node: GraphNode) -> str:
    bits = [node.name]
    if node.mapped:
        bits.append("(mapped)")
    if node.kind != "task":
        bits.append(f"<{node.kind}>")
    if node.state:
        bits.append(f"[{node.state}]")
    bits.extend("#" + t for t in node.tags)
    text = " ".join(bits)
    if node.detail:
        text += "\n" + node.detail
    return text
