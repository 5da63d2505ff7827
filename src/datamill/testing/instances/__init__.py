"""Private PostgreSQL, Redis, NATS, Mosquitto and memcached servers for fault tests.

Each instance is a real server of the machine's own binaries on an ephemeral loopback
port with its data in a temp dir, so a test may kill it (SIGKILL), restart it on the
same port and data dir, and see what survived, without touching the shared services
on the well-known ports::

    with RedisInstance(appendonly=True) as redis:
        ...                      # talk to redis.url / redis.port
        redis.kill()             # SIGKILL: the connection is refused from now on
        redis.restart()          # same port, same data dir

``start()`` returns once the server answers a real protocol probe (bounded by
``startup_timeout``) and otherwise raises :class:`InstanceError` with the tail of its
log. Leaving the ``with`` block, ``cleanup()`` or the interpreter's exit stops the server
and removes its dir; servers also get SIGKILL if the thread that started them dies
(``PR_SET_PDEATHSIG``), so a killed test run leaves no orphans either.

One module per kind of server (``_postgres``, ``_redis``, ``_nats``, ``_mosquitto``,
``_memcached``) on the life cycle they share (``_base``); import them from here.
"""

from __future__ import annotations

from datamill.testing.instances._base import (
    HOST,
    InstanceError,
    InstanceUnavailable,
    ServerInstance,
    free_port,
    port_open,
)
from datamill.testing.instances._memcached import MemcachedInstance
from datamill.testing.instances._mosquitto import MosquittoInstance, mqtt_connect_packet
from datamill.testing.instances._nats import NatsInstance
from datamill.testing.instances._postgres import PostgresInstance
from datamill.testing.instances._redis import RedisInstance

__all__ = [
    "HOST",
    "InstanceError",
    "InstanceUnavailable",
    "MemcachedInstance",
    "MosquittoInstance",
    "NatsInstance",
    "PostgresInstance",
    "RedisInstance",
    "ServerInstance",
    "free_port",
    "mqtt_connect_packet",
    "port_open",
]
