"""Connectors: read and write data by URL, the same call shape for every family.

    from datamill import io
    table = io.read("data/orders/*.csv")                        # a pyarrow.Table
    for batch in io.read_batches("postgresql://.../shop#public.orders", batch_size=50_000): ...
    io.write("sqlite:///warehouse.db#orders", table, mode="merge", key=["id"])

A URL names the connector (see ``docs/io.md`` for the grammar): a path or ``file://`` /
``s3://`` URL is a file or lake location; a SQLAlchemy-style database URL followed by
``#table`` (or ``#schema.table``) is a table. Each family lives in its own module
(``files.py``, ``sql.py``, ``http.py``, ``cache.py``, ``brokers.py``) and is found by URL
scheme (``registry.py``); the heavy libraries load on use. ``url.py`` is the grammar and
the one parser of option values, ``connections.py`` the named connections of
``datamill.toml``. A location parsed once (a ``Location``) and the project's connections
(``connections=``) are taken as given, so callers above (``datamill.flows``, the command
line) read the project and parse each URL once; ``datamill copy`` lives in ``flows``.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "read": "api", "read_batches": "api", "write": "api", "parse_url": "url", "Location": "url",
    "WriteReport": "base", "connector_for": "registry",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f"datamill.io.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'datamill.io' has no attribute {name!r}")
