"""Message brokers drained in batch: Redis Streams, NATS JetStream, RabbitMQ, MQTT.

    redis+stream://host:6379/0#stream?group=g&consumer=c     consumer group (XREADGROUP/XACK)
    nats://host:4222/subject?stream=S&durable=D              JetStream durable pull consumer
    amqp://guest:guest@host:5672/%2F#queue                   RabbitMQ queue, manual acks
    mqtt://host:1883/topic?qos=1&client_id=x                 persistent session, QoS 1

A source drains what is available now (at most ``max_messages``, stopping after
``idle_timeout`` seconds without a message), decodes JSON payloads into Arrow batches and
keeps undecodable messages in ``source.rejected`` with the reason. Nothing is
acknowledged until ``source.commit()``, which the caller runs only *after* its load
committed: a crash in between means redelivery (at least once, duplicates possible).
``source.close()`` without commit hands the messages back for redelivery. Brokers with a
replayable position (Redis Stream ids, JetStream sequences) expose ``source.position``.
A sink publishes each row as one JSON message. Details: ``docs/io-brokers.md``.

This module finds the protocol and drains (``drain``); ``brokers_common.py`` holds what
every broker shares (``DrainSource``, decoding, options) and ``brokers_redis.py``,
``brokers_nats.py``, ``brokers_amqp.py``, ``brokers_mqtt.py`` one protocol each.
"""

from __future__ import annotations

from typing import Any

from datamill.errors import UsageError
from datamill.io.brokers_common import (
    DrainSource,
    Rejected,
)
from datamill.io.url import redact_url

__all__ = ["Commit", "drain", "open_sink", "open_source"]



# kind -> (module, source class, sink class): each protocol in its own module, loaded on use
_PROTOCOLS = {
    "redis+stream": ("brokers_redis", "RedisStreamSource", "RedisStreamSink"),
    "nats": ("brokers_nats", "NatsSource", "NatsSink"),
    "amqp": ("brokers_amqp", "AmqpSource", "AmqpSink"),
    "mqtt": ("brokers_mqtt", "MqttSource", "MqttSink"),
}


def _class(kind: str, which: int) -> Any:
    import importlib

    module, *names = _PROTOCOLS[kind]
    return getattr(importlib.import_module(f"datamill.io.{module}"), names[which])


def open_source(loc: Any) -> Any:
    return _class(_kind(loc), 0)(loc)


def open_sink(loc: Any) -> Any:
    return _class(_kind(loc), 1)(loc)


def __getattr__(name: str) -> Any:
    """The protocol classes (``NatsSource``, ...) by their old names in this module."""
    for kind, (_, source, sink) in _PROTOCOLS.items():
        if name in (source, sink):
            return _class(kind, 0 if name == source else 1)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _kind(loc: Any) -> str:
    scheme = loc.raw.split("://", 1)[0].lower()
    if scheme in ("redis+stream", "rediss+stream"):
        return "redis+stream"
    if scheme in ("amqp", "amqps"):
        return "amqp"
    if scheme in ("nats", "mqtt"):
        return scheme
    raise UsageError(f"no broker connector for {loc.display!r}; use redis+stream://, nats://, "
                     "amqp:// or mqtt://")


# ------------------------------------------------------------------------------ drain


class Commit:
    """The commit function ``drain`` returns: call it after the load committed. It also
    carries the source's ``rejected`` messages and ``position``."""

    def __init__(self, source: DrainSource):
        self.source = source

    @property
    def rejected(self) -> list[Rejected]:
        return self.source.rejected

    @property
    def position(self) -> Any:
        return self.source.position

    def __call__(self) -> None:
        self.source.commit()

    def release(self) -> None:
        """Give the messages back without acknowledging them (they are redelivered)."""
        self.source.close()


def drain(url: str, ctx: Any = None, *, max_messages: int | None = None,
          idle_timeout: float | None = None, **options: Any) -> tuple[Any, Commit]:
    """Drain what a broker holds now into a ``pyarrow.Table`` and return it with the commit
    function, to call only after the table is loaded::

        table, commit = drain("nats://127.0.0.1:4222/orders?stream=ORDERS&durable=etl", ctx)
        io.write("postgresql://.../shop#orders", table, mode="merge", key=["id"])
        commit()

    With ``ctx`` the read is recorded as lineage, rejected messages as a metric, and a
    replayable position is saved as state ``position:<dataset>`` (committed with the task);
    a Redis Stream read without a group resumes after that saved position.
    """
    import pyarrow as pa

    from datamill.io.api import parse_url
    from datamill.io.registry import connector_for

    if max_messages is not None:
        options["max_messages"] = max_messages
    if idle_timeout is not None:
        options["idle_timeout"] = idle_timeout
    loc = parse_url(url, **options)
    state_key = f"position:{loc.dataset}"
    if ctx is not None and _kind(loc) == "redis+stream" and "after" not in loc.options:
        saved = ctx.get_state(state_key)
        if saved is not None:
            loc = parse_url(url, after=saved, **options)
    src = connector_for(loc).open_source(loc)
    try:
        batches = list(src.batches())
    except BaseException:
        src.close()
        raise
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    if ctx is not None:
        from datamill.io.api import _schema_json

        ctx.record_input(redact_url(loc.dataset), schema=_schema_json(table.schema), rows=table.num_rows)
        ctx.metric("messages_read", src.delivered)
        ctx.metric("messages_rejected", len(src.rejected))
        if src.position is not None:
            ctx.set_state(state_key, src.position)
    return table, Commit(src)
