"""The one lazy-export helper of the package ``__init__`` modules."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from datamill._lazy import lazy_exports


def _package(table: dict[str, str]) -> types.ModuleType:
    pkg = types.ModuleType("lazy_probe")
    pkg.__getattr__, pkg.__dir__ = lazy_exports(  # type: ignore[attr-defined]
        "datamill", vars(pkg), table)
    return pkg


def test_a_name_imports_its_module_once_and_binds_its_siblings() -> None:
    pkg = _package({"dumps": "json", "loads": "json", "Req": "urllib.request:Request"})
    assert "dumps" not in vars(pkg)
    import json
    import urllib.request

    assert pkg.loads is json.loads
    assert vars(pkg)["dumps"] is json.dumps  # bound with its sibling, no second lookup
    assert "Req" not in vars(pkg)
    assert pkg.Req is urllib.request.Request
    assert {"dumps", "loads", "Req"} <= set(dir(pkg))


def test_an_unknown_name_is_an_attribute_error_naming_the_package() -> None:
    pkg = _package({"dumps": "json"})
    with pytest.raises(AttributeError, match="module 'datamill' has no attribute 'nope'"):
        pkg.nope  # noqa: B018


def test_relative_modules_resolve_against_the_package() -> None:
    pkg = _package({"lazy_exports": "._lazy"})
    assert pkg.lazy_exports is lazy_exports


@pytest.mark.parametrize("package", ["datamill", "datamill.transform"])
def test_every_exported_name_resolves(package: str) -> None:
    code = (f"import importlib; m = importlib.import_module({package!r})\n"
            "missing = [n for n in m.__all__ if getattr(m, n, None) is None]\n"
            "print(missing)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
