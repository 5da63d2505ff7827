"""RabbitMQ (AMQP 0-9-1) as a broker: a queue read with manual acks, acknowledged after
the load; the sink publishes one JSON message a row. Part of ``datamill.io.brokers``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datamill.errors import UsageError, require
from datamill.io.base import WriteReport
from datamill.io.brokers_common import (
    DrainSource,
    opt_bool,
    opt_int,
    publish_rows,
    split_url,
)
from datamill.io.url import redact_url


class _Amqp:
    def __init__(self, loc: Any):
        self.location = loc
        self.parts = split_url(loc)
        self.options = self.parts.options
        self.queue = self.parts.fragment or self.options.get("queue")
        if not self.queue:
            raise UsageError(f"{loc.display}: name the queue after '#' "
                             "(amqp://guest:guest@host:5672/%2F#orders)")
        self.conn: Any = None
        self.ch: Any = None

    def _connect(self) -> None:
        pika = require("pika", "stream", "RabbitMQ locations")
        base = self.location.raw.partition("#")[0].partition("?")[0]
        params = pika.URLParameters(base)
        params.connection_attempts = 1
        params.socket_timeout = 10
        self.conn = pika.BlockingConnection(params)
        self.ch = self.conn.channel()

    def _check_queue(self, declare: bool) -> None:
        pika = require("pika", "stream", "RabbitMQ locations")
        try:
            self.ch.queue_declare(self.queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if exc.reply_code != 404 or not declare:
                self.conn.close()
                raise UsageError(f"{self.location.display}: queue {self.queue!r} does not "
                                 "exist; declare it, or add ?declare=1") from None
            self.ch = self.conn.channel()
            self.ch.queue_declare(self.queue, durable=True)

    def _disconnect(self) -> None:
        if self.conn is not None and self.conn.is_open:
            self.conn.close()


class AmqpSource(_Amqp, DrainSource):
    """A RabbitMQ queue consumed with manual acks (``prefetch=``, default enough for the
    whole drain: unacked messages count against it). Commit acks them all (multiple=True);
    closing without commit requeues them. RabbitMQ queues keep no replayable position."""

    def __init__(self, loc: Any):
        DrainSource.__init__(self, loc)
        _Amqp.__init__(self, loc)
        self._last_tag: int | None = None

    def _receive(self) -> list[tuple[Any, Any]]:
        self._connect()
        self._check_queue(opt_bool(self.options, "declare", False))
        prefetch = opt_int(self.options, "prefetch", None)
        if prefetch is None:
            prefetch = self.max_messages if self.max_messages <= 65535 else 0
        self.ch.basic_qos(prefetch_count=prefetch)
        out: list[tuple[Any, Any]] = []
        for method, _props, body in self.ch.consume(self.queue, auto_ack=False,
                                                    inactivity_timeout=max(self.idle_timeout,
                                                                           0.05)):
            if method is None:
                break
            out.append((method.delivery_tag, body))
            self._last_tag = method.delivery_tag
            if len(out) >= self.max_messages:
                break
        self.ch.cancel()  # messages prefetched but not yielded go back to the queue
        return out

    def _ack(self) -> None:
        if self._last_tag is not None:
            self.ch.basic_ack(delivery_tag=self._last_tag, multiple=True)

    def _release(self, acked: bool) -> None:
        self._disconnect()  # unacked messages are requeued when the channel closes


class AmqpSink(_Amqp):
    """Rows published as persistent JSON messages to the queue (default exchange, or
    ``exchange=`` with ``routing_key=``) with publisher confirms: a returned write is held
    by the broker. The queue is declared durable if missing."""

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        if mode != "append":
            raise UsageError(f"a queue can only be published to, not mode={mode!r}")
        pika = require("pika", "stream", "RabbitMQ locations")
        self._connect()
        try:
            exchange = str(self.options.get("exchange", ""))
            routing = str(self.options.get("routing_key", self.queue))
            if not exchange:
                self._check_queue(declare=True)
            self.ch.confirm_delivery()
            props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
            n = publish_rows(batches, lambda body: self.ch.basic_publish(
                exchange, routing, body, properties=props, mandatory=True))
        finally:
            self._disconnect()
        return WriteReport(redact_url(self.location.dataset), rows=n, mode=mode, load_id=load_id)
