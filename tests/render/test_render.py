"""Tests for datamill.render: text tree, rich tree, DOT, SVG layout, format choice."""

from __future__ import annotations

import io
import random
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill.render import (
    STATE_COLORS,
    STATES,
    GraphNode,
    GraphSpec,
    format_for_path,
    render,
    to_dot,
    to_rich,
    to_svg,
    to_text,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
REF_RE = re.compile(r" \((see above|see below|continued below)\)$")
QSTR = r'"(?:\\.|[^"\\])*"'
EDGE_LINE = re.compile(rf"^\s*({QSTR})\s*->\s*({QSTR})\s*;\s*$")
NODE_LINE = re.compile(rf"^\s*({QSTR})\s*\[(.*)\]\s*;\s*$")


# --------------------------------------------------------------------------- helpers


def diamond(**kw) -> GraphSpec:
    return GraphSpec(
        "diamond",
        [GraphNode("a"), GraphNode("b", **kw), GraphNode("c"), GraphNode("d")],
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
    )


def random_dag(n: int, seed: int = 0, max_parents: int = 3, window: int | None = None) -> GraphSpec:
    rng = random.Random(seed)
    nodes = [
        GraphNode(f"t{i:05d}", mapped=i % 13 == 0, state=rng.choice((None, *STATES)))
        for i in range(n)
    ]
    edges = []
    for i in range(1, n):
        lo = 0 if window is None else max(0, i - window)
        for p in sorted({rng.randrange(lo, i) for _ in range(rng.randint(1, max_parents))}):
            edges.append((f"t{p:05d}", f"t{i:05d}"))
    return GraphSpec(f"random-{n}", nodes, edges)


def parse_tree(text: str) -> list[tuple[int, str, str | None]]:
    """Lines of to_text output (header dropped) as (depth, name, ref-or-None)."""
    out = []
    for line in text.splitlines()[1:]:
        m = re.match(r"^((?:│   |    )*)(├── |└── )?(.*)$", line)
        assert m, line
        guides, conn, label = m.groups()
        depth = len(guides) // 4 + (1 if conn else 0)
        if not conn:
            assert guides == "", f"guides without a connector: {line!r}"
        ref = REF_RE.search(label)
        name = label[: ref.start()] if ref else label.split(" ")[0]
        out.append((depth, name.removesuffix("[*]"), ref.group(1) if ref else None))
    return out


def tree_edges(rows: list[tuple[int, str, str | None]]) -> list[tuple[str, str]]:
    """(parent, child) pairs implied by indentation; checks nesting is well formed."""
    stack: list[str] = []
    pairs = []
    for depth, name, _ref in rows:
        assert depth <= len(stack), f"{name} jumps from depth {len(stack) - 1} to {depth}"
        del stack[depth:]
        if depth:
            pairs.append((stack[depth - 1], name))
        stack.append(name)
    return pairs


def svg_parts(svg: str):
    root = ET.fromstring(svg)  # well-formed XML or this raises
    assert root.tag == SVG_NS + "svg"
    nodes = {}
    for g in root.iter(SVG_NS + "g"):
        if "node" in g.get("class", "").split():
            rects = g.findall(SVG_NS + "rect")
            assert rects, "node group without a box"
            front = rects[-1]
            x, y = float(front.get("x")), float(front.get("y"))
            right = max(float(r.get("x")) + float(r.get("width")) for r in rects)
            nodes.setdefault(g.get("data-name"), []).append((x, y, right))
    edges = [
        (p.get("data-from"), p.get("data-to"), p.get("d"))
        for p in root.iter(SVG_NS + "path")
        if p.get("class") == "edge"
    ]
    return root, nodes, edges


def dot_unquote(s: str) -> str:
    assert s[0] == s[-1] == '"'
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m[1], m[1]), s[1:-1])


def strip_dot_strings(dot: str) -> str:
    return re.sub(QSTR, '""', dot)


# --------------------------------------------------------------------------- text


def test_text_diamond_structure():
    text = to_text(diamond())
    assert text == (
        "diamond (4 nodes, 4 edges)\na\n├── b\n│   └── d\n└── c\n    └── d (see above)\n"
    )
    assert text.count("(see above)") == 1


def test_text_mapped_tags_state_kind_detail():
    spec = GraphSpec(
        "p",
        [
            GraphNode("load"),
            GraphNode(
                "score",
                mapped=True,
                tags=("ml", "gpu"),
                state="failed",
                kind="model",
                detail="boom\nline2",
            ),
            GraphNode("report", state="upstream_failed"),
        ],
        [("load", "score"), ("score", "report"), ("load", "report")],
    )
    lines = to_text(spec).splitlines()
    assert lines[1] == "load"
    assert lines[2] == "├── score[*] <model> [failed] #ml #gpu — boom\\nline2"
    assert lines[3] == "│   └── report [upstream_failed]"
    assert lines[4] == "└── report (see above)"


def test_text_back_reference_keeps_mapped_marker():
    spec = GraphSpec(
        "p",
        [GraphNode("a"), GraphNode("b"), GraphNode("m", mapped=True)],
        [("a", "m"), ("b", "m")],
    )
    text = to_text(spec)
    assert "└── m[*]\n" in text
    assert "└── m[*] (see above)\n" in text


def test_text_order_is_topological_with_name_ties():
    spec = GraphSpec(
        "p",
        [GraphNode(x) for x in ("zeta", "alpha", "mid", "beta")],
        [("zeta", "mid"), ("alpha", "mid"), ("mid", "beta")],
    )
    rows = parse_tree(to_text(spec))
    assert [(d, n) for d, n, _ in rows] == [
        (0, "alpha"),
        (1, "mid"),
        (2, "beta"),
        (0, "zeta"),
        (1, "mid"),
    ]
    assert rows[-1][2] == "see above"
    # independent of the input order
    shuffled = GraphSpec("p", spec.nodes[::-1], spec.edges[::-1])
    assert to_text(shuffled) == to_text(spec)


def test_text_deep_chain_is_cut_into_sections():
    n = 50
    spec = GraphSpec(
        "chain",
        [GraphNode(f"n{i}") for i in range(n)],
        [(f"n{i}", f"n{i + 1}") for i in range(n - 1)],
    )
    text = to_text(spec, max_depth=8)
    rows = parse_tree(text)
    assert max(d for d, _, _ in rows) <= 8
    full = [name for _, name, ref in rows if ref is None]
    assert sorted(full) == sorted(f"n{i}" for i in range(n))
    assert "n8 (continued below)" in text
    assert text.splitlines()[1 + 9] == "n8"  # its section starts right after
    assert sorted(tree_edges(rows)) == sorted(spec.edges)


def test_text_control_characters_are_escaped():
    spec = GraphSpec("p", [GraphNode("evil\nname\x1b[31m")], [])
    text = to_text(spec)
    assert text.splitlines()[1] == "evil\\nname\\x1b[31m"
    assert "\x1b" not in text


def test_text_empty_pipeline():
    assert to_text(GraphSpec("nothing", [], [])) == "nothing (0 nodes, 0 edges)\n(no tasks)\n"


@st.composite
def small_dags(draw, max_nodes: int = 14):
    n = draw(st.integers(1, max_nodes))
    # a hidden topological order different from name order
    names = draw(st.permutations([f"n{i}" for i in range(n)]))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=3 * n)) if pairs else []
    edges = [(names[i], names[j]) for i, j in chosen]  # may contain duplicates
    mapped = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    states = draw(st.lists(st.sampled_from((None, *STATES)), min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))
    nodes = [GraphNode(names[i], mapped=mapped[i], state=states[i]) for i in order]
    return GraphSpec("prop", nodes, edges)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=small_dags(), max_depth=st.sampled_from([1, 2, 3, 30]))
def test_text_invariants(spec, max_depth):
    edges = sorted(set(spec.edges))
    names = {nd.name for nd in spec.nodes}
    text = to_text(spec, max_depth=max_depth)
    rows = parse_tree(text)
    # every node appears exactly once in full
    full = [name for _, name, ref in rows if ref is None]
    assert sorted(full) == sorted(names)
    # indentation encodes exactly the edges, each once
    assert sorted(tree_edges(rows)) == edges
    # back-references point at nodes printed in full on an earlier line
    seen: set[str] = set()
    for _, name, ref in rows:
        if ref == "see above":
            assert name in seen
        if ref is None:
            seen.add(name)
    assert max(d for d, _, _ in rows) <= max_depth
    # linear size: header + one line per root / deferred section + one per edge
    roots = names - {v for _, v in edges}
    deferred = sum(1 for _, _, ref in rows if ref == "continued below")
    assert len(rows) == len(roots) + deferred + len(edges)
    # deterministic whatever the input order
    again = GraphSpec(spec.name, spec.nodes[::-1], spec.edges[::-1])
    assert to_text(again, max_depth=max_depth) == text


# --------------------------------------------------------------------------- rich


def test_rich_tree_structure_and_colours():
    from rich.console import Console
    from rich.tree import Tree

    spec = GraphSpec(
        "p",
        [GraphNode("a", state="succeeded"), GraphNode("[bold]b", state="failed", mapped=True)],
        [("a", "[bold]b")],
    )
    tree = to_rich(spec)
    assert isinstance(tree, Tree)
    a = tree.children[0]
    b = a.children[0]
    assert a.label.plain == "a [succeeded]"
    assert b.label.plain == "[bold]b[*] [failed]"
    styles = {str(span.style) for span in b.label.spans}
    assert any("red" in s for s in styles)
    buf = io.StringIO()
    Console(file=buf, width=120, color_system=None).print(tree)
    out = buf.getvalue()
    assert "[bold]b[*] [failed]" in out  # not swallowed as markup
    assert "└── a [succeeded]" in out


def test_rich_matches_text_rows():
    from rich.console import Console

    spec = random_dag(40, seed=5)
    buf = io.StringIO()
    Console(file=buf, width=400, color_system=None).print(to_rich(spec))
    rich_lines = buf.getvalue().rstrip("\n").splitlines()[1:]
    # rich nests the roots under the header: drop that first guide level
    rich_lines = [ln[4:].rstrip() for ln in rich_lines]
    assert rich_lines == to_text(spec).splitlines()[1:]


# --------------------------------------------------------------------------- DOT


def check_dot(spec: GraphSpec, dot: str) -> None:
    assert dot.startswith(f"digraph {to_dot_quote(spec.name)} {{\n")
    assert "rankdir=LR;" in dot
    skeleton = strip_dot_strings(dot)
    assert skeleton.count("{") == skeleton.count("}") == 1
    assert skeleton.count("[") == skeleton.count("]")
    assert dot.rstrip().endswith("}")
    edges, labels = set(), {}
    for line in dot.splitlines():
        if m := EDGE_LINE.match(line):
            edges.add((dot_unquote(m[1]), dot_unquote(m[2])))
        elif (m := NODE_LINE.match(line)) and not line.strip().startswith(("node", "edge")):
            label = re.search(rf"label=({QSTR})", m[2])
            labels[dot_unquote(m[1])] = dot_unquote(label[1]).split("\n")[0]
    assert edges == set(spec.edges)
    assert labels == {nd.name: nd.name.split("\n")[0] for nd in spec.nodes}


def to_dot_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_dot_diamond_and_escaping():
    nasty = 'say "hi" [x] {y} ünï 名前 \\'
    spec = GraphSpec(
        'pipe "q"',
        [GraphNode("a"), GraphNode(nasty, mapped=True, state="failed"), GraphNode("c d")],
        [("a", nasty), (nasty, "c d"), ("a", "c d")],
    )
    dot = to_dot(spec)
    check_dot(spec, dot)
    assert r'"say \"hi\" [x] {y} ünï 名前 \\"' in dot
    assert 'digraph "pipe \\"q\\"" {' in dot
    line = next(ln for ln in dot.splitlines() if ln.lstrip().startswith('"say'))
    assert "shape=box3d" in line
    assert f'fillcolor="{STATE_COLORS["failed"][0]}"' in line
    assert dot.count("->") == 3


@settings(max_examples=100, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True),
    data=st.data(),
)
def test_dot_arbitrary_names_roundtrip(names, data):
    n = len(names)
    pairs = [(names[i], names[j]) for i in range(n) for j in range(i + 1, n)]
    edges = data.draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    spec = GraphSpec("g", [GraphNode(x) for x in names], edges)
    dot = to_dot(spec)
    assert not re.search(r"[\x00-\x08\x0b-\x1f]", dot)
    # names made only of printable chars roundtrip exactly
    if all(x.isprintable() for x in names):
        check_dot(spec, dot)
    else:
        assert strip_dot_strings(dot).count("{") == 1
        assert dot.count("->") >= len(edges)


# --------------------------------------------------------------------------- SVG


def test_svg_diamond_layout():
    svg = to_svg(diamond(mapped=True, state="running"))
    root, nodes, edges = svg_parts(svg)
    assert set(nodes) == {"a", "b", "c", "d"} and all(len(v) == 1 for v in nodes.values())
    assert len(root.findall(f".//{SVG_NS}g[@class='node']")) == 3  # plus one "node running"
    assert sorted((f, t) for f, t, _ in edges) == sorted(diamond().edges)
    x = {k: v[0][0] for k, v in nodes.items()}
    right = {k: v[0][2] for k, v in nodes.items()}
    assert right["a"] < x["b"] and right["a"] < x["c"]
    assert max(right["b"], right["c"]) < x["d"]
    assert x["b"] == pytest.approx(x["c"], abs=20)  # same layer
    for _, _, d in edges:
        assert re.fullmatch(r"M[-\d.]+,[-\d.]+( C[-\d., ]+)+", d), d  # cubic Béziers
    assert root.find(f"{SVG_NS}title").text == "diamond"
    assert root.find(f".//{SVG_NS}marker[@id='arrow']") is not None
    assert all(
        p.get("marker-end") == "url(#arrow)"
        for p in root.iter(SVG_NS + "path")
        if p.get("class") == "edge"
    )
    # mapped task drawn as a stack (three boxes), coloured by state
    b = next(g for g in root.iter(SVG_NS + "g") if g.get("data-name") == "b")
    rects = b.findall(SVG_NS + "rect")
    assert len(rects) == 3
    assert {r.get("fill") for r in rects} == {STATE_COLORS["running"][0]}
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_svg_long_edge_is_routed_around_nodes():
    # a -> b -> c -> d plus a -> d: the long edge passes the b and c columns
    spec = GraphSpec(
        "skip",
        [GraphNode(x) for x in "abcd"],
        [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")],
    )
    _, nodes, edges = svg_parts(to_svg(spec))
    long_d = next(d for f, t, d in edges if (f, t) == ("a", "d"))
    assert long_d.count("C") == 3 and long_d.count("L") == 2  # via two dummy points
    ys = [float(v) for v in re.findall(r"L[-\d.]+,([-\d.]+)", long_d)]
    for name in "bc":
        top = nodes[name][0][1]
        assert all(not (top <= y <= top + 34) for y in ys), "long edge runs through a node"


def test_svg_escapes_and_sanitises_names():
    names = ['<script>alert("x")</script>', "a & b", "ctl\x00\x07char", "名前 ünï", "]]>"]
    spec = GraphSpec("x<&>", [GraphNode(x) for x in names], [(names[0], names[1])])
    svg = to_svg(spec)
    _, nodes, edges = svg_parts(svg)
    assert "<script>" not in svg
    assert set(nodes) - {"ctl\ufffd\ufffdchar"} == set(names) - {"ctl\x00\x07char"}
    assert len(nodes) == len(names) and len(edges) == 1


def test_svg_state_legend_and_colours():
    spec = GraphSpec(
        "p",
        [GraphNode("a", state="succeeded"), GraphNode("b", state="failed")],
        [("a", "b")],
    )
    root, _, _ = svg_parts(to_svg(spec))
    legend = root.find(f".//{SVG_NS}g[@class='legend']")
    assert [t.text for t in legend.iter(SVG_NS + "text")] == ["succeeded", "failed"]
    g = next(g for g in root.iter(SVG_NS + "g") if g.get("data-name") == "b")
    assert g.find(SVG_NS + "rect").get("stroke") == STATE_COLORS["failed"][1]


def test_svg_empty_pipeline_is_valid():
    root, nodes, edges = svg_parts(to_svg(GraphSpec("empty", [], [])))
    assert nodes == {} and edges == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=small_dags())
def test_svg_invariants(spec):
    svg = to_svg(spec)
    root, nodes, edges = svg_parts(svg)
    assert sorted(nodes) == sorted(nd.name for nd in spec.nodes)
    assert all(len(v) == 1 for v in nodes.values())
    assert sorted((f, t) for f, t, _ in edges) == sorted(set(spec.edges))
    width, height = float(root.get("width")), float(root.get("height"))
    boxes = {k: v[0] for k, v in nodes.items()}
    for f, t, d in edges:
        assert boxes[f][2] < boxes[t][0], f"{t} not right of its upstream {f}"
        nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
        assert nums[0] == pytest.approx(boxes[f][2], abs=0.11)
        assert nums[-2] == pytest.approx(boxes[t][0], abs=0.11)
    for x, y, right in boxes.values():
        assert 0 <= x and right <= width and 0 <= y <= height
    # boxes of one layer never overlap
    by_x: dict[float, list[float]] = {}
    for x, y, right in boxes.values():
        by_x.setdefault(round((x + right) / 2), []).append(y)
    for ys in by_x.values():
        ys.sort()
        assert all(b - a >= 34 for a, b in zip(ys, ys[1:], strict=False))
    assert svg == to_svg(GraphSpec(spec.name, spec.nodes[::-1], spec.edges[::-1]))


# --------------------------------------------------------------------------- validation, formats


@pytest.mark.parametrize(
    ("nodes", "edges", "message"),
    [
        (["a", "a"], [], "duplicate node name 'a'"),
        (["a"], [("a", "zz")], "unknown node 'zz'"),
        (["a", "b"], [("a", "b"), ("b", "a")], "cycle: 'a' -> 'b' -> 'a'"),
        (["a"], [("a", "a")], "cycle: 'a' -> 'a'"),
    ],
)
def test_invalid_graphs_are_rejected(nodes, edges, message):
    spec = GraphSpec("bad", [GraphNode(x) for x in nodes], edges)
    for fn in (to_text, to_dot, to_svg, to_rich):
        with pytest.raises(ValueError, match=re.escape(message)):
            fn(spec)


def test_unknown_state_rejected():
    with pytest.raises(ValueError, match="unknown state 'done'.*succeeded"):
        GraphNode("a", state="done")


def test_tags_are_normalised_to_tuple():
    assert GraphNode("a", tags=["x", "y"]).tags == ("x", "y")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("out.dot", "dot"),
        ("dir.v2/OUT.GV", "dot"),
        ("graph.svg", "svg"),
        ("/tmp/x.SVG", "svg"),
        ("tree.txt", "txt"),
    ],
)
def test_format_for_path(path, fmt):
    from pathlib import Path

    assert format_for_path(path) == fmt
    assert format_for_path(Path(path)) == fmt


@pytest.mark.parametrize("path", ["graph.png", "graph", "archive.svg.gz", "dir.svg/file"])
def test_format_for_path_rejects(path):
    with pytest.raises(ValueError) as err:
        format_for_path(path)
    msg = str(err.value)
    assert path in msg
    for ext in (".dot", ".gv", ".svg", ".txt"):
        assert ext in msg


def test_render_dispatch():
    spec = diamond()
    assert render(spec, "txt") == to_text(spec)
    assert render(spec, "dot") == to_dot(spec)
    assert render(spec, "svg") == to_svg(spec)
    with pytest.raises(ValueError, match="unknown graph format 'png'"):
        render(spec, "png")


def test_module_imports_only_stdlib_at_import_time():
    import ast
    import sys
    from pathlib import Path

    import datamill.render as mod

    top: set[str] = set()
    for path in Path(mod.__file__).parent.glob("*.py"):  # every module of the package
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for stmt in tree.body:  # module level only: lazy imports inside functions are fine
            if isinstance(stmt, ast.Import):
                top.update(a.name.split(".")[0] for a in stmt.names)
            elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0:
                top.add(stmt.module.split(".")[0])
    top.discard("datamill")  # its own modules
    assert top and top <= set(sys.stdlib_module_names), top - set(sys.stdlib_module_names)


# --------------------------------------------------------------------------- large graphs
# Correctness on large graphs only; how fast they render is measured in bench/, never
# asserted here (a busy machine must not fail a test).


def test_text_10k_nodes():
    spec = random_dag(10_000, seed=1)
    text = to_text(spec)
    assert len(text.splitlines()) <= 1 + 10_000 + len(spec.edges)
    assert max(len(line) for line in text.splitlines()) < 4 * 31 + 80


@pytest.mark.slow
def test_5k_random_dag_renders():
    spec = random_dag(5_000, seed=2)
    assert to_text(spec) and to_dot(spec)
    _, nodes, edges = svg_parts(to_svg(spec))
    assert len(nodes) == 5_000 and len(edges) == len(set(spec.edges))


@pytest.mark.slow
def test_svg_2k_nodes():
    spec = random_dag(2_000, seed=3)
    _, nodes, edges = svg_parts(to_svg(spec))
    assert len(nodes) == 2_000 and len(edges) == len(set(spec.edges))
