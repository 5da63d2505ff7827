"""The layer rules of docs/design-notes.md, checked on the source: lower layers never
import higher ones. An AST scan of every module (imports inside functions included), so a
lazy import cannot slip past. The rules are written once, here; the design notes quote them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import datamill

SRC = Path(datamill.__file__).parent

LIBRARY = {"io", "quality", "transform", "analytics", "ml", "monitor", "stream"}
BASE = {"errors", "_arrow", "_killpoint", "_secrets", "_lazy"}

# package -> the datamill packages it may import (itself always allowed).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "_arrow": {"errors"},
    "_killpoint": set(),
    "_lazy": set(),  # the lazy-export helper of every package __init__
    "_secrets": {"errors"},  # reads env:/file: secrets for the runtime and io
    "core": {"errors", "_lazy"},
    "render": {"_lazy"},  # drawing the DAG: presentation, standard library only
    "store": {"errors", "_lazy", "core"},
    "runtime": {"errors", "_lazy", "core", "store", "_killpoint", "_secrets"},
    "io": BASE | {"core", "store"},
    "quality": BASE | {"core", "store"},
    "transform": BASE | {"core", "store", "io", "quality"},
    "analytics": BASE | {"core", "store", "io", "quality", "transform"},
    "ml": BASE | {"core", "store", "io", "quality", "transform"},
    "monitor": BASE | {"core", "store", "io", "quality", "transform", "ml"},
    "stream": BASE | {"core", "store", "runtime", "io", "quality", "transform"},
    "flows": BASE | {"core", "store", "runtime"} | LIBRARY,
    "serve": BASE | {"core", "store", "io", "quality", "transform", "ml", "monitor"},
    "testing": BASE | {"core", "store", "runtime", "io"},
    # entry points: the command line, the server and the package's lazy exports use all
    "server": BASE | {"core", "store", "runtime", "flows", "serve", "testing"} | LIBRARY,
    "cli": {"*"},
    "cli_views": {"*"},
    "__init__": {"*"},
}

# Imports that break the rules today and that the renovation (issue #14) removes. The test
# fails when one of these disappears, so the list only ever shrinks.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def _package(path: Path) -> str:
    rel = path.relative_to(SRC)
    if len(rel.parts) == 1:
        return "cli" if rel.stem.startswith("cli_") else rel.stem  # cli_*.py: the command line
    return rel.parts[0]


def _imports(path: Path) -> set[str]:
    return _imports_of(path.read_text(encoding="utf-8"), path.relative_to(SRC))


def _imports_of(text: str, rel: Path) -> set[str]:
    """The datamill packages a module's source imports (``rel``: its path in the package)."""
    tree = ast.parse(text, filename=str(rel))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                here = ["datamill", *rel.parts[:-1]]
                base = here[: len(here) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
                if not node.module:  # from . import x
                    names = [".".join(base + [a.name]) for a in node.names]
            else:
                names = [node.module or ""]
                if node.module == "datamill":  # from datamill import x
                    names = [f"datamill.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "datamill" and len(parts) > 1:
                out.add(parts[1])
    return out


def _edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        pkg = _package(path)
        for target in _imports(path):
            if target != pkg:
                edges.setdefault((pkg, target), []).append(str(path.relative_to(SRC)))
    return edges


def _allowed(pkg: str, target: str) -> bool:
    rules = ALLOWED.get(pkg)
    assert rules is not None, (
        f"package {pkg!r} has no layer rule: add it to ALLOWED in tests/test_layers.py "
        "and to the layer map in docs/design-notes.md"
    )
    return "*" in rules or target in rules


def test_lower_layers_never_import_higher_ones():
    bad = {
        edge: files for edge, files in _edges().items()
        if not _allowed(*edge) and edge not in KNOWN_VIOLATIONS
    }
    assert not bad, "layer rule broken:\n" + "\n".join(
        f"  {a} -> {b}: {', '.join(files)}" for (a, b), files in sorted(bad.items())
    )


def test_known_violations_still_exist():
    """When a known violation is removed, delete it from KNOWN_VIOLATIONS too."""
    edges = _edges()
    gone = sorted(e for e in KNOWN_VIOLATIONS if e not in edges)
    assert not gone, f"no longer violated, remove from KNOWN_VIOLATIONS: {gone}"


def test_the_scan_sees_lazy_and_relative_imports():
    """The scanner itself: imports inside functions and relative imports are found."""
    src = (
        "import os\n"
        "from datamill.errors import UsageError\n"
        "def f():\n    from ..io import api\n    import datamill.cli\n"
        "def g():\n    from . import task\n    from datamill import store\n"
    )
    assert _imports_of(src, Path("core/x.py")) == {"errors", "io", "cli", "core", "store"}
