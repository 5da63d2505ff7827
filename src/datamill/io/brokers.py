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
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from datamill.errors import UsageError, require
from datamill.io.base import WriteReport
from datamill.io.brokers_common import (
    Rejected,
    decode_json,
    dumps,
    opt_bool,
    opt_float,
    opt_int,
    rows_of,
    rows_to_batches,
    split_url,
)
from datamill.io.url import redact_url

__all__ = ["Commit", "drain", "open_sink", "open_source"]

DEFAULT_MAX_MESSAGES = 100_000
DEFAULT_IDLE_TIMEOUT = 1.0


def open_source(loc: Any) -> Any:
    kind = _kind(loc)
    return {"redis+stream": RedisStreamSource, "nats": NatsSource, "amqp": AmqpSource,
            "mqtt": MqttSource}[kind](loc)


def open_sink(loc: Any) -> Any:
    kind = _kind(loc)
    return {"redis+stream": RedisStreamSink, "nats": NatsSink, "amqp": AmqpSink,
            "mqtt": MqttSink}[kind](loc)


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


# ------------------------------------------------------------------------- the contract


class DrainSource:
    """What every broker source does: receive once, decode, yield batches, commit or release.

    Subclasses implement ``_receive() -> list[(id, payload)]`` (payload: bytes, or a dict
    for brokers whose messages are field maps), ``_ack()`` and ``_release()``.
    """

    position: Any = None  # the replayable position after the last delivered message

    def __init__(self, loc: Any):
        self.location = loc
        self.parts = split_url(loc)
        self.options = self.parts.options
        self.max_messages = opt_int(self.options, "max_messages", DEFAULT_MAX_MESSAGES) or 1
        self.idle_timeout = opt_float(self.options, "idle_timeout", DEFAULT_IDLE_TIMEOUT) or 0.0
        self.rejected: list[Rejected] = []
        self.delivered = 0
        self.committed = False
        self.closed = False
        self._messages: list[tuple[Any, Any]] | None = None

    def schema(self) -> Any | None:
        return None

    def messages(self) -> list[tuple[Any, Any]]:
        """The drained ``(id, payload)`` pairs (received on first use)."""
        if self._messages is None:
            self._messages = self._receive()
            self.delivered = len(self._messages)
        return self._messages

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000) -> Iterator[Any]:
        rows: list[dict[str, Any]] = []
        self.rejected = []
        for mid, payload in self.messages():
            if isinstance(payload, dict):
                row, reason = payload, None
            else:
                row, reason = decode_json(payload)
            if row is None:
                self.rejected.append(Rejected(mid, payload, reason or "undecodable"))
            else:
                rows.append(row)
        yield from rows_to_batches(rows, columns, batch_size)

    def commit(self) -> None:
        """Acknowledge every delivered message (rejected ones too: they are in ``rejected``).
        Call only after the load of these rows committed."""
        if self.committed:
            return
        if self._messages:
            self._ack()
        self.committed = True
        self.close()

    def close(self) -> None:
        """Disconnect; without a commit the delivered messages go back for redelivery."""
        if self.closed:
            return
        self.closed = True
        self._release(acked=self.committed)

    def __enter__(self) -> DrainSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _receive(self) -> list[tuple[Any, Any]]:
        raise NotImplementedError

    def _ack(self) -> None:
        raise NotImplementedError

    def _release(self, acked: bool) -> None:
        raise NotImplementedError


def _publish_rows(batches: Iterable[Any], send: Callable[[bytes], None]) -> int:
    n = 0
    for row in rows_of(batches):
        send(dumps(row))
        n += 1
    return n


# ---------------------------------------------------------------------- Redis Streams


class RedisStreamSource(DrainSource):
    """Entries of a Redis Stream. With ``group=`` (a consumer group, created from ``start=``,
    default ``0``, if absent) this consumer's pending entries come first, then new ones;
    commit is XACK. Without a group the stream is read with XRANGE after ``after=ID``
    (``drain(ctx=...)`` keeps that id as saved state) and commit acknowledges nothing.
    An entry with a ``json`` field (``field=``) is that JSON object; otherwise its fields."""

    def __init__(self, loc: Any):
        super().__init__(loc)
        self.stream = self.parts.fragment
        if not self.stream:
            raise UsageError(f"{loc.display}: name the stream after '#' "
                             "(redis+stream://host:6379/0#events?group=g)")
        self.group = self.options.get("group") or None
        self.consumer = self.options.get("consumer") or "datamill"
        self.field = str(self.options.get("field", "json")).encode()
        self.claim_after = opt_float(self.options, "claim_after", None)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from datamill.io.cache import redis_client

            self._client = redis_client(self.location)
        return self._client

    def _entry(self, eid: bytes, fields: dict[bytes, bytes] | None) -> tuple[str, Any]:
        mid = eid.decode()
        if not fields:
            return mid, b""  # deleted from the stream while pending: rejected, then acked
        if self.field in fields:
            return mid, fields[self.field]
        return mid, {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}

    def _ensure_group(self) -> None:
        redis = require("redis", "stream", "Redis Streams")
        try:
            self.client.xgroup_create(self.stream, self.group,
                                      id=str(self.options.get("start", "0")), mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _receive(self) -> list[tuple[Any, Any]]:
        out: list[tuple[Any, Any]] = []
        room = self.max_messages
        step = 10_000
        if self.group is None:
            start = self.options.get("after")
            lo = f"({start}" if start else "-"
            while room > 0:
                got = self.client.xrange(self.stream, min=lo, max="+", count=min(room, step))
                if not got:
                    break
                out += [self._entry(i, f) for i, f in got]
                room -= len(got)
                lo = "(" + got[-1][0].decode()
            if out:
                self.position = out[-1][0]
            return out
        self._ensure_group()
        last = "0"  # 1. this consumer's pending entries (delivered before, never acked)
        while room > 0:
            got = self.client.xreadgroup(self.group, self.consumer, {self.stream: last},
                                         count=min(room, step))
            entries = got[0][1] if got else []
            if not entries:
                break
            out += [self._entry(i, f) for i, f in entries]
            room -= len(entries)
            last = entries[-1][0]
        if self.claim_after is not None and room > 0:  # 2. entries of consumers that died
            start = "0-0"
            while room > 0:
                res = self.client.xautoclaim(self.stream, self.group, self.consumer,
                                             int(self.claim_after * 1000), start_id=start,
                                             count=min(room, step))
                nxt, entries = res[0], res[1]
                out += [self._entry(i, f) for i, f in entries]
                room -= len(entries)
                if nxt in (b"0-0", "0-0"):
                    break
                start = nxt
        block = int(self.idle_timeout * 1000) or None  # 3. new entries
        while room > 0:
            got = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"},
                                         count=min(room, step), block=block)
            entries = got[0][1] if got else []
            if not entries:
                break
            out += [self._entry(i, f) for i, f in entries]
            room -= len(entries)
        if out:
            self.position = max(out, key=lambda m: _stream_id(m[0]))[0]
        return out

    def _ack(self) -> None:
        if self.group is None:
            return
        ids = [mid for mid, _ in self._messages or []]
        for i in range(0, len(ids), 10_000):
            self.client.xack(self.stream, self.group, *ids[i:i + 10_000])

    def _release(self, acked: bool) -> None:
        if self._client is not None:
            self._client.close()


def _stream_id(mid: str) -> tuple[int, int]:
    ms, _, seq = mid.partition("-")
    return int(ms), int(seq or 0)


class RedisStreamSink:
    """Rows appended with XADD as ``{json: <row>}``, in one MULTI/EXEC (all or none);
    ``maxlen=`` caps the stream (approximate trimming)."""

    def __init__(self, loc: Any):
        self.location = loc
        parts = split_url(loc)
        self.options = parts.options
        self.stream = parts.fragment
        if not self.stream:
            raise UsageError(f"{loc.display}: name the stream after '#'")
        self.field = str(self.options.get("field", "json"))

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        if mode != "append":
            raise UsageError(f"a stream can only be appended to, not mode={mode!r}")
        from datamill.io.cache import redis_client

        client = redis_client(self.location)
        maxlen = opt_int(self.options, "maxlen", None)
        pipe = client.pipeline(transaction=True)
        n = _publish_rows(batches, lambda body: pipe.xadd(
            self.stream, {self.field: body}, maxlen=maxlen, approximate=True))
        ids = pipe.execute() if n else []
        client.close()
        return WriteReport(redact_url(self.location.dataset), rows=n, mode=mode, load_id=load_id,
                           details={"last_id": ids[-1].decode() if ids else None})


# ------------------------------------------------------------------------ NATS (async)


class _Loop:
    """An asyncio loop in a daemon thread, so async clients work from sync code (and from
    code already running inside another loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="datamill-broker-loop")
        self.thread.start()

    def run(self, coro: Any, timeout: float | None = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


class _Nats:
    def __init__(self, loc: Any):
        self.location = loc
        self.parts = split_url(loc)
        self.options = self.parts.options
        self.subject = self.parts.path
        if not self.subject:
            raise UsageError(f"{loc.display}: name the subject as the path "
                             "(nats://host:4222/orders.created?stream=ORDERS&durable=loader)")
        self.stream = self.options.get("stream") or None
        self._loop: _Loop | None = None
        self.nc: Any = None
        self.js: Any = None

    def _server(self) -> str:
        p = self.parts
        auth = ""
        if p.username:
            auth = p.username + (f":{p.password}" if p.password else "") + "@"
        return f"nats://{auth}{p.host}:{p.port or 4222}"

    def _connect(self) -> None:
        nats = require("nats", "stream", "NATS locations")
        self._loop = _Loop()

        async def go() -> None:
            self.nc = await nats.connect(self._server(), connect_timeout=10,
                                         allow_reconnect=False, max_reconnect_attempts=0)
            self.js = self.nc.jetstream()
            await self._ensure_stream()

        self._loop.run(go())

    async def _ensure_stream(self) -> None:
        from nats.js.errors import NotFoundError

        if self.stream is None:
            try:
                self.stream = await self.js.find_stream_name_by_subject(self.subject)
            except NotFoundError:
                raise UsageError(f"{self.location.display}: no JetStream stream holds subject "
                                 f"{self.subject!r}; add ?stream=NAME (created if absent)"
                                 ) from None
            return
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(name=self.stream, subjects=[self.subject])

    def _disconnect(self) -> None:
        if self._loop is None:
            return
        try:
            if self.nc is not None and not self.nc.is_closed:
                self._loop.run(self.nc.close(), timeout=5)
        except Exception:  # the server is gone already: nothing left to close cleanly
            pass
        finally:
            self._loop.stop()
            self._loop = None


def _buffered(sub: Any) -> list[Any]:
    """What a JetStream pull subscription holds already delivered (nats-py keeps it for
    the next fetch; an unsubscribe would drop it)."""
    queue = getattr(getattr(sub, "_sub", None), "_pending_queue", None)
    out: list[Any] = []
    while queue is not None and not queue.empty():
        out.append(queue.get_nowait())
    return out


class NatsSource(_Nats, DrainSource):
    """A JetStream durable pull consumer (``durable=``, created on first use with
    ``deliver=all|new``, ``ack_wait=`` seconds, unlimited ack-pending); fetched in batches
    until nothing comes within ``idle_timeout``. A message redelivered within one drain
    (its ``ack_wait`` ran out while the drain was still fetching) is taken once.
    ``position`` is the last stream sequence."""

    def __init__(self, loc: Any):
        DrainSource.__init__(self, loc)
        _Nats.__init__(self, loc)
        self.durable = self.options.get("durable")
        if not self.durable:
            raise UsageError(f"{loc.display}: add ?durable=NAME: a durable consumer keeps the "
                             "position between runs")
        self.ack_wait = opt_float(self.options, "ack_wait", 30.0)
        self._msgs: list[Any] = []

    def _receive(self) -> list[tuple[Any, Any]]:
        self._connect()
        assert self._loop is not None
        return self._loop.run(self._fetch_all(), timeout=None)

    async def _fetch_all(self) -> list[tuple[Any, Any]]:
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        deliver = str(self.options.get("deliver", "all")).lower()
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait, max_ack_pending=-1,
            deliver_policy=DeliverPolicy.NEW if deliver == "new" else DeliverPolicy.ALL)
        sub = await self.js.pull_subscribe(self.subject, durable=self.durable,
                                           stream=self.stream, config=config)
        out: list[tuple[Any, Any]] = []
        seen: set[int] = set()
        room = self.max_messages
        wait = max(self.idle_timeout, 0.05)
        while room > 0:
            try:
                msgs = await sub.fetch(batch=min(room, 1000), timeout=wait)
            except (NatsTimeout, TimeoutError):  # nothing more within idle_timeout
                msgs = []
            if not msgs:
                # taken off the socket after the fetch gave up (a busy machine): take
                # them now, or they would wait out ack_wait after the unsubscribe
                msgs = [m for m in _buffered(sub) if not self.js.is_status_msg(m)]
                if not msgs:
                    break
            fresh = 0
            for m in msgs:
                self._msgs.append(m)  # every delivery is acked or handed back
                seq = m.metadata.sequence.stream
                if seq in seen:  # redelivered within this drain (ack_wait ran out)
                    continue
                seen.add(seq)
                fresh += 1
                out.append((seq, m.data))
                self.position = seq if self.position is None else max(self.position, seq)
            room -= fresh
            if not fresh:  # only redeliveries: nothing new is coming
                break
        await sub.unsubscribe()
        return out

    def _ack(self) -> None:
        async def ack() -> None:
            for m in self._msgs:
                await m.ack()
            await self.nc.flush(timeout=30)

        assert self._loop is not None
        self._loop.run(ack())

    def _release(self, acked: bool) -> None:
        if not acked and self._msgs and self._loop is not None and self.nc.is_connected:
            async def nak() -> None:  # hand back now instead of after ack_wait
                for m in self._msgs:
                    await m.nak()
                await self.nc.flush(timeout=3)

            try:
                self._loop.run(nak(), timeout=5)
            except Exception:  # the server is gone: ack_wait redelivers
                pass
        self._disconnect()


class NatsSink(_Nats):
    """Rows published to the subject through JetStream (each publish acknowledged by the
    stream, so a returned write is stored); the stream is created if ``stream=`` names a
    missing one."""

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        if mode != "append":
            raise UsageError(f"a subject can only be published to, not mode={mode!r}")
        self._connect()
        assert self._loop is not None
        bodies = [dumps(r) for r in rows_of(batches)]

        async def pub() -> Any:
            futs = [await self.js.publish_async(self.subject, b) for b in bodies] \
                if hasattr(self.js, "publish_async") else None
            if futs is None:
                acks = [await self.js.publish(self.subject, b) for b in bodies]
            else:
                acks = await asyncio.gather(*futs)
            return acks[-1].seq if acks else None

        try:
            last = self._loop.run(pub(), timeout=None)
        finally:
            self._disconnect()
        return WriteReport(redact_url(self.location.dataset), rows=len(bodies), mode=mode, load_id=load_id,
                           details={"last_seq": last})


# --------------------------------------------------------------------------- RabbitMQ


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
            n = _publish_rows(batches, lambda body: self.ch.basic_publish(
                exchange, routing, body, properties=props, mandatory=True))
        finally:
            self._disconnect()
        return WriteReport(redact_url(self.location.dataset), rows=n, mode=mode, load_id=load_id)


# ------------------------------------------------------------------------------- MQTT


@dataclass
class _MqttInbox:
    messages: list[Any] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    subscribed: bool = False
    error: str | None = None
    last: float = field(default_factory=time.monotonic)


class _Mqtt:
    def __init__(self, loc: Any):
        self.location = loc
        self.parts = split_url(loc)
        self.options = self.parts.options
        self.topic = self.parts.path
        if not self.parts.fragment and "#" in loc.raw and (not self.topic
                                                           or self.topic.endswith("/")):
            self.topic += "#"  # the multi-level wildcard written bare: mqtt://h/sensors/#
        if not self.topic:
            raise UsageError(f"{loc.display}: name the topic as the path "
                             "(mqtt://host:1883/sensors/temp?qos=1&client_id=loader)")
        self.qos = opt_int(self.options, "qos", 1)
        self.client: Any = None

    def _client(self, client_id: str, clean: bool) -> Any:
        mqtt = require("paho.mqtt.client", "stream", "MQTT locations")
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        clean_session=clean, protocol=mqtt.MQTTv311, manual_ack=not clean)
        if self.parts.username:
            c.username_pw_set(self.parts.username, self.parts.password)
        return c

    def _disconnect(self) -> None:
        c, self.client = self.client, None
        if c is None:
            return
        gone = threading.Event()
        c.on_disconnect = lambda *a: gone.set()
        try:
            if c.is_connected():
                c.disconnect()
                gone.wait(5)
        finally:
            c.loop_stop()


class MqttSource(_Mqtt, DrainSource):
    """An MQTT subscription in a persistent session (``client_id=`` required,
    clean_session=False) at QoS ``qos`` (default 1). Messages are acknowledged (PUBACK)
    only on commit; unacknowledged ones are sent again when the session resumes.
    MQTT keeps no replayable position: nothing published before the client id's first
    subscription is ever received (see docs/io-brokers.md)."""

    def __init__(self, loc: Any):
        DrainSource.__init__(self, loc)
        _Mqtt.__init__(self, loc)
        self.client_id = self.options.get("client_id")
        if not self.client_id:
            raise UsageError(f"{loc.display}: add ?client_id=NAME: the broker keeps messages "
                             "for a persistent session by client id")
        self._inbox = _MqttInbox()

    def _receive(self) -> list[tuple[Any, Any]]:
        inbox = self._inbox
        c = self.client = self._client(self.client_id, clean=False)

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
            if reason.is_failure:
                with inbox.cond:
                    inbox.error = f"connect refused: {reason}"
                    inbox.cond.notify_all()
                return
            client.subscribe(self.topic, qos=self.qos)

        def on_subscribe(client: Any, userdata: Any, mid: Any, codes: Any, props: Any) -> None:
            with inbox.cond:
                bad = [rc for rc in codes if rc.is_failure]
                if bad:
                    inbox.error = f"subscription to {self.topic!r} refused: {bad[0]}"
                inbox.subscribed = True
                inbox.last = time.monotonic()
                inbox.cond.notify_all()

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            with inbox.cond:
                inbox.messages.append(msg)
                inbox.last = time.monotonic()
                inbox.cond.notify_all()

        c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
        c.connect(self.parts.host, self.parts.port or 1883, keepalive=60)
        c.loop_start()
        deadline = time.monotonic() + 30
        with inbox.cond:
            while True:
                if inbox.error:
                    self._disconnect()
                    raise UsageError(f"{self.location.display}: {inbox.error}")
                now = time.monotonic()
                if len(inbox.messages) >= self.max_messages:
                    break
                if inbox.subscribed and now - inbox.last >= self.idle_timeout:
                    break
                if not inbox.subscribed and now > deadline:
                    self._disconnect()
                    raise TimeoutError(f"{self.location.display}: no SUBACK within 30 s")
                inbox.cond.wait(0.02)
            got = inbox.messages[:self.max_messages]  # the rest stay unacked: sent again
        return [(m.mid, m.payload) for m in got]

    def _ack(self) -> None:
        """PUBACK every message, then wait for the answer to an UNSUBSCRIBE sent after them:
        the broker handles a connection's packets in order, so the answer proves the acks
        were processed (a broker may drop unread packets of a closing connection)."""
        c = self.client
        assert c is not None
        synced = threading.Event()
        c.on_unsubscribe = lambda *a: synced.set()
        for mid, _ in self._messages or []:
            c.ack(mid, self.qos)
        c.unsubscribe(f"datamill/ack-sync/{uuid.uuid4().hex}")
        if not synced.wait(30):
            raise TimeoutError(f"{self.location.display}: the broker did not confirm the "
                               "acknowledgements within 30 s; the messages will be redelivered")

    def _release(self, acked: bool) -> None:
        self._disconnect()


class MqttSink(_Mqtt):
    """Rows published to the topic at ``qos`` (default 1: each waits for the broker's
    PUBACK); ``retain=1`` keeps the last message for new subscribers."""

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        if mode != "append":
            raise UsageError(f"a topic can only be published to, not mode={mode!r}")
        cid = self.options.get("client_id") or f"datamill-pub-{uuid.uuid4().hex[:12]}"
        c = self.client = self._client(cid, clean=True)
        c.connect(self.parts.host, self.parts.port or 1883, keepalive=60)
        c.loop_start()
        retain = opt_bool(self.options, "retain", False)
        infos: list[Any] = []
        try:
            n = _publish_rows(batches, lambda body: infos.append(
                c.publish(self.topic, body, qos=self.qos, retain=retain)))
            for info in infos:
                info.wait_for_publish(timeout=30)
                if not info.is_published():
                    raise TimeoutError(f"{self.location.display}: message {info.mid} not "
                                       "acknowledged by the broker within 30 s")
        finally:
            self._disconnect()
        return WriteReport(redact_url(self.location.dataset), rows=n, mode=mode, load_id=load_id)


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
