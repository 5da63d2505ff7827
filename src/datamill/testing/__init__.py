"""Helpers for tests of datamill and of code built on it: faults on demand.

- :mod:`datamill.testing.killpoints`: ``reached("name")`` marks a point in code under
  test; a test kills the process exactly there (``run_and_kill_at``). Free when off.
- :mod:`datamill.testing.instances`: private PostgreSQL, Redis, NATS, Mosquitto and
  memcached servers on ephemeral loopback ports, to kill and restart.

Importing this package loads only the kill points (a few microseconds); the server
classes are imported on first use.
"""

from __future__ import annotations

from typing import Any

from datamill.testing.killpoints import KillPoint, KillPointNotReached, reached, run_and_kill_at

__all__ = [
    "InstanceError",
    "InstanceUnavailable",
    "KillPoint",
    "KillPointNotReached",
    "MemcachedInstance",
    "MosquittoInstance",
    "NatsInstance",
    "PostgresInstance",
    "RedisInstance",
    "free_port",
    "reached",
    "run_and_kill_at",
]

_LAZY = {
    "InstanceError",
    "InstanceUnavailable",
    "MemcachedInstance",
    "MosquittoInstance",
    "NatsInstance",
    "PostgresInstance",
    "RedisInstance",
    "free_port",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from datamill.testing import instances

        return getattr(instances, name)
    raise AttributeError(f"module 'datamill.testing' has no attribute {name!r}")
