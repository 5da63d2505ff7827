"""Named connections: declared once in ``datamill.toml``, referred to by name.

```toml
[connections.warehouse]
url = "postgresql://etl@db.internal:5432/shop"
password_env = "WAREHOUSE_PASSWORD"     # or password_file = "/run/secrets/wh"
options = { batch_size = "50000" }

[profiles.dev.connections.warehouse]    # DATAMILL_PROFILE=dev (or --profile dev) overrides
url = "sqlite:///dev.db"
```

Then ``datamill copy data/orders.csv warehouse#public.orders`` and
``io.read("warehouse#public.orders")`` use it. The password is put into the URL only in
memory, never written back, logged or stored (``Location.display`` hides it).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from datamill._secrets import from_options
from datamill.errors import UsageError


def profile_name(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get("DATAMILL_PROFILE") or None


def connections(config: dict[str, Any], profile: str | None = None) -> dict[str, dict[str, Any]]:
    """The connections of a project config, with the active profile's overrides applied."""
    base = {k: dict(v) for k, v in config.get("connections", {}).items()}
    prof = profile_name(profile)
    if prof:
        profiles = config.get("profiles", {})
        if prof not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise UsageError(f"profile {prof!r} is not in datamill.toml (profiles: {known})")
        for name, over in profiles[prof].get("connections", {}).items():
            base.setdefault(name, {}).update(over)
    return base


def resolve(location: str, config: dict[str, Any], profile: str | None = None) -> tuple[str, dict[str, Any]]:
    """``name#rest`` or ``name`` -> (the connection's URL + ``#rest``, its options)."""
    if not _is_name(location):
        return location, {}
    return lookup(location, connections(config, profile))


def _is_name(location: str) -> bool:
    name = location.partition("#")[0]
    return not ("://" in name or "/" in name or "\\" in name or "." in name.split("?")[0])


def lookup(location: str, conns: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """``resolve`` against connections already read (``connections(config)``): a caller
    that reads the project once resolves every location without reading it again."""
    name, sep, rest = location.partition("#")
    if not _is_name(location) or name not in conns:
        return location, {}
    conn = conns[name]
    url = conn.get("url")
    if not url:
        raise UsageError(f"connection {name!r} in datamill.toml has no url")
    password = from_options(conn, "password", f"connection {name!r} in datamill.toml") \
        if conn.get("password_env") or conn.get("password_file") else None
    if password is not None and "://" in url:
        scheme, _, tail = url.partition("://")
        userinfo, at, hostpart = tail.rpartition("@")
        if at and ":" not in userinfo:
            url = f"{scheme}://{userinfo}:{quote(password, safe='')}@{hostpart}"
    return url + (sep + rest if sep else ""), dict(conn.get("options", {}))
