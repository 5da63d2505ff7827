"""Find the connector module of a location by its family / scheme."""

from __future__ import annotations

import importlib
from typing import Any

from datamill.errors import UsageError
from datamill.io.url import Location

FAMILIES = {"file": "datamill.io.files", "sql": "datamill.io.sql",
            "http": "datamill.io.http", "https": "datamill.io.http",
            "redis": "datamill.io.cache", "rediss": "datamill.io.cache",
            "memcached": "datamill.io.cache",
            "nats": "datamill.io.brokers", "amqp": "datamill.io.brokers",
            "amqps": "datamill.io.brokers", "mqtt": "datamill.io.brokers"}


def connector_for(loc: Location) -> Any:
    """The module implementing ``open_source`` / ``open_sink`` for ``loc``."""
    mod = FAMILIES.get(loc.family)
    if mod is None:
        known = "paths, s3:// URLs, sqlite/duckdb/postgresql/mysql URLs#table"
        raise UsageError(f"no connector for {loc.display!r} (scheme {loc.scheme!r}); "
                         f"datamill reads and writes {known}")
    return importlib.import_module(mod)
