"""Skip a test whose shared service is down, or fail it when services are required.

Use from fixtures::

    from servicecheck import require_service

    @pytest.fixture(scope="session")
    def redis_url():
        require_service("redis", "127.0.0.1", 6379)
        return "redis://127.0.0.1:6379/0"

With ``DATAMILL_REQUIRE_SERVICES=1`` (set by ``.ci/run``) a missing service fails the
test instead of skipping it, so CI cannot pass by skipping. Start the services with
``python tests/services.py ensure`` (``make test`` does).
"""

from __future__ import annotations

import os
import socket

import pytest

# Where the machine's shared services listen (see tests/services.py).
SERVICE_PORTS = {
    "postgres": 5432,
    "mariadb": 3306,
    "redis": 6379,
    "rabbitmq": 5672,
    "mosquitto": 1883,
    "nats": 4222,
}

_reachable: dict[tuple[str, int], bool] = {}


def services_required() -> bool:
    return os.environ.get("DATAMILL_REQUIRE_SERVICES") == "1"


def is_reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether ``host:port`` accepts a TCP connection (remembered per process when true)."""
    if _reachable.get((host, port)):
        return True
    try:
        with socket.create_connection((host, port), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _reachable[(host, port)] = ok
    return ok


def require_service(name: str, host: str = "127.0.0.1", port: int | None = None) -> None:
    """Return if ``name`` answers on ``host:port``; else skip (or fail if required)."""
    if port is None:
        port = SERVICE_PORTS[name]
    if is_reachable(host, port):
        return
    msg = (
        f"{name} is not reachable on {host}:{port}; start it with `python tests/services.py ensure`"
    )
    if services_required():
        pytest.fail(f"{msg} (DATAMILL_REQUIRE_SERVICES=1, so this fails instead of skipping)")
    pytest.skip(msg)
