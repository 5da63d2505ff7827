"""Lazy exports for package ``__init__`` modules: one helper, used by every package.

``import datamill`` must stay fast (a CLI call, a serverless-style cold start), so a
package re-exports the public names of its implementation modules without importing them:
the module is imported the first time one of its names is read. Every name of that module
listed in the table is bound in the package at that moment, so later reads are plain
attribute lookups, and a submodule import (which sets the package attribute of the
submodule's name) can never shadow a function of the same name — the reason the
implementation modules are private (``_sql.py`` beside the public ``sql`` function).

Use in a package ``__init__``::

    __getattr__, __dir__ = lazy_exports(__name__, globals(), {
        "sql": "._sql",                  # name -> module (relative to the package) ...
        "Connector": ".base:Base",       # ... or module:attribute when the names differ
    })

Type checkers and IDEs see the names through an ``if TYPE_CHECKING:`` import block beside
the table, and ``__all__`` lists them once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], table: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` exporting ``table`` lazily."""
    targets: dict[str, tuple[str, str]] = {}
    for name, spec in table.items():
        module, _, attr = spec.partition(":")
        targets[name] = (module, attr or name)

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module protocol's name
        target = targets.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(target[0], package)
        for other, (mod, attr) in targets.items():  # bind the module's names at once
            if mod == target[0]:
                namespace[other] = getattr(module, attr)
        return namespace[name]

    def __dir__() -> list[str]:  # noqa: N807
        return sorted({*namespace, *targets})

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
