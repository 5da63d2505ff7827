"""Brokers drained in batch: round trips, at-least-once delivery (no commit -> redelivered,
commit -> gone, a crash before commit -> redelivered), rejected payloads, positions, a
JetStream durable consumer across a server restart, and MQTT persistent sessions."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

import datamill.io as io
from datamill.errors import UsageError
from datamill.io.brokers import drain
from datamill.testing.instances import NatsInstance
from servicecheck import require_service

IDLE = 0.25
ROWS = pa.table({"id": [1, 2, 3, 4, 5], "name": ["a", "b", "c", "d", "e"]})


@dataclass
class Broker:
    name: str
    url: str
    publish_raw: Callable[[bytes], None]
    redelivery_wait: float = 0.0  # after a crash (no nak): JetStream waits for ack_wait


def _nats_run(server: str, coro_fn: Callable[[Any], Any]) -> Any:
    import nats

    async def go() -> Any:
        nc = await nats.connect(server)
        try:
            return await coro_fn(nc)
        finally:
            await nc.close()

    return asyncio.run(go())


def _redis_stream(uid: str) -> Iterator[Broker]:
    require_service("redis")
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    stream = f"dmtest-{uid}"
    yield Broker("redis", f"redis+stream://127.0.0.1:6379/0#{stream}?group=g&consumer=c",
                 lambda body: client.xadd(stream, {"json": body}))
    client.delete(stream)
    client.close()


def _nats(uid: str) -> Iterator[Broker]:
    require_service("nats")
    server, subject, stream = "nats://127.0.0.1:4222", f"dmtest.{uid}", f"DMTEST_{uid}"

    async def create(nc: Any) -> None:
        await nc.jetstream().add_stream(name=stream, subjects=[subject])
    _nats_run(server, create)

    def publish_raw(body: bytes) -> None:
        async def pub(nc: Any) -> None:
            await nc.jetstream().publish(subject, body)
        _nats_run(server, pub)

    yield Broker("nats", f"{server}/{subject}?stream={stream}&durable=d&ack_wait=2",
                 publish_raw, redelivery_wait=2.2)

    async def delete(nc: Any) -> None:
        try:
            await nc.jetstream().delete_stream(stream)
        except Exception:
            pass
    _nats_run(server, delete)


def _amqp(uid: str) -> Iterator[Broker]:
    require_service("rabbitmq")
    import pika

    params = pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F")
    queue = f"dmtest-{uid}"

    def publish_raw(body: bytes) -> None:
        conn = pika.BlockingConnection(params)
        ch = conn.channel()
        ch.queue_declare(queue, durable=True)
        ch.basic_publish("", queue, body)
        conn.close()

    yield Broker("amqp", f"amqp://guest:guest@127.0.0.1:5672/%2F#{queue}", publish_raw)
    conn = pika.BlockingConnection(params)
    conn.channel().queue_delete(queue)
    conn.close()


def _forget_mqtt_session(client_id: str, port: int = 1883) -> None:
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    c.connect("127.0.0.1", port)
    c.loop_start()
    c.disconnect()
    c.loop_stop()


def _mqtt(uid: str) -> Iterator[Broker]:
    require_service("mosquitto")
    import paho.mqtt.publish as publish

    topic, cid = f"dmtest/{uid}", f"dmtest-{uid}"
    url = f"mqtt://127.0.0.1:1883/{topic}?qos=1&client_id={cid}"
    # MQTT has no replayable position: the session must subscribe before messages count
    drain(url, idle_timeout=0.05)[1]()
    yield Broker("mqtt", url,
                 lambda body: publish.single(topic, body, qos=1, hostname="127.0.0.1"))
    _forget_mqtt_session(cid)


@pytest.fixture(params=["redis", "nats", "amqp", "mqtt"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    make = {"redis": _redis_stream, "nats": _nats, "amqp": _amqp, "mqtt": _mqtt}[request.param]
    yield from make(uuid.uuid4().hex[:10])


def _publish_url(b: Broker) -> str:
    """The sink URL: the same location (the MQTT publisher must not take the client id)."""
    return b.url.split("&client_id=")[0] if b.name == "mqtt" else b.url


def _ids(table: pa.Table) -> list[int]:
    return sorted(table.column("id").to_pylist()) if table.num_rows else []


def test_round_trip(broker: Broker) -> None:
    assert io.write(_publish_url(broker), ROWS).rows == 5
    table, commit = drain(broker.url, idle_timeout=IDLE)
    assert table.sort_by("id").to_pylist() == ROWS.to_pylist()
    assert commit.rejected == []
    commit()


def test_uncommitted_messages_are_redelivered_and_committed_ones_are_not(
        broker: Broker) -> None:
    io.write(_publish_url(broker), ROWS)
    first, commit = drain(broker.url, idle_timeout=IDLE)
    commit.release()  # the load failed: hand the messages back
    again, commit = drain(broker.url, idle_timeout=IDLE)
    for _ in range(3):  # a message handed back into a pull that expired waits ack_wait
        if _ids(again) == [1, 2, 3, 4, 5] or not broker.redelivery_wait:
            break
        commit.release()
        time.sleep(broker.redelivery_wait)
        again, commit = drain(broker.url, idle_timeout=IDLE)
    assert _ids(first) == _ids(again) == [1, 2, 3, 4, 5]
    commit()
    after, commit = drain(broker.url, idle_timeout=IDLE)
    assert after.num_rows == 0
    commit()


def test_a_crash_before_commit_means_redelivery(broker: Broker) -> None:
    io.write(_publish_url(broker), ROWS)
    code = ("import os, sys\nfrom datamill.io.brokers import drain\n"
            f"table, commit = drain({broker.url!r}, idle_timeout={IDLE})\n"
            "assert table.num_rows == 5, table.num_rows\n"
            "sys.stdout.flush()\nos._exit(0)  # dies before commit: no ack, no nak\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    time.sleep(broker.redelivery_wait)
    table, commit = drain(broker.url, idle_timeout=IDLE)
    assert _ids(table) == [1, 2, 3, 4, 5]
    commit()


def test_max_messages_bounds_a_drain_and_the_rest_waits(broker: Broker) -> None:
    io.write(_publish_url(broker), ROWS)
    part, commit = drain(broker.url, idle_timeout=IDLE, max_messages=2)
    assert part.num_rows == 2
    commit()
    rest, commit = drain(broker.url, idle_timeout=IDLE)
    commit()
    assert sorted(_ids(part) + _ids(rest)) == [1, 2, 3, 4, 5]


def test_undecodable_message_goes_to_rejected(broker: Broker) -> None:
    broker.publish_raw(b'{"id": 1, "name": "ok"}')
    broker.publish_raw(b"\xff\xfe not json")
    broker.publish_raw(b"[1, 2]")
    table, commit = drain(broker.url, idle_timeout=IDLE)
    assert table.to_pylist() == [{"id": 1, "name": "ok"}]
    reasons = [r.reason for r in commit.rejected]
    assert len(reasons) == 2 and "not JSON" in reasons[0] and "not an object" in reasons[1]
    assert commit.rejected[0].payload == b"\xff\xfe not json"
    commit()  # rejected messages are acked too: the caller keeps them from .rejected
    table, commit = drain(broker.url, idle_timeout=IDLE)
    assert table.num_rows == 0 and commit.rejected == []
    commit()


class _Ctx:
    """The slice of the run context that drain uses."""

    def __init__(self, state: dict[str, Any] | None = None):
        self.state = dict(state or {})
        self.inputs: list[tuple[str, int | None]] = []
        self.metrics: dict[str, float] = {}

    def get_state(self, key: str, default: Any = None) -> Any:
        return self.state.get(key, default)

    def set_state(self, key: str, value: Any) -> None:
        self.state[key] = value

    def record_input(self, dataset: str, schema: Any = None, rows: int | None = None) -> None:
        self.inputs.append((dataset, rows))

    def metric(self, name: str, value: float, **labels: str) -> None:
        self.metrics[name] = value


def test_positions_are_saved_through_the_context(broker: Broker) -> None:
    io.write(_publish_url(broker), ROWS)
    ctx = _Ctx()
    table, commit = drain(broker.url, ctx, idle_timeout=IDLE)
    commit()
    assert table.num_rows == 5 and ctx.metrics["messages_read"] == 5
    assert ctx.inputs and ctx.inputs[0][1] == 5 and "guest:guest" not in ctx.inputs[0][0]
    (key, position), = ctx.state.items() if broker.name in ("redis", "nats") else [(None, None)]
    if broker.name == "nats":
        assert position == commit.position and position >= 5  # the stream sequence
    elif broker.name == "redis":
        assert position == commit.position and "-" in position  # the last entry id
    else:
        assert ctx.state == {}  # RabbitMQ and MQTT keep no replayable position


def test_redis_stream_without_group_resumes_after_the_saved_position() -> None:
    require_service("redis")
    import redis

    stream = f"dmtest-{uuid.uuid4().hex[:10]}"
    url = f"redis+stream://127.0.0.1:6379/0#{stream}"
    try:
        io.write(url, ROWS.slice(0, 3))
        ctx = _Ctx()
        first, _ = drain(url, ctx)
        assert _ids(first) == [1, 2, 3]
        io.write(url, ROWS.slice(3))
        second, _ = drain(url, _Ctx(ctx.state))  # the next run, with the state it saved
        assert _ids(second) == [4, 5]
    finally:
        redis.Redis.from_url("redis://127.0.0.1:6379/0").delete(stream)


def test_broker_urls_name_what_is_missing() -> None:
    for url, needle in [("nats://127.0.0.1:4222/x?stream=S", "durable"),
                        ("mqtt://127.0.0.1:1883/x", "client_id"),
                        ("amqp://127.0.0.1:5672/%2F", "queue"),
                        ("redis+stream://127.0.0.1:6379/0", "stream")]:
        with pytest.raises(UsageError, match=needle):
            io.read(url)
    with pytest.raises(UsageError, match="append"):
        io.write("redis+stream://127.0.0.1:6379/0#s", ROWS, mode="replace")


def test_mqtt_persistent_session_receives_what_was_published_while_away() -> None:
    require_service("mosquitto")
    import paho.mqtt.publish as publish

    uid = uuid.uuid4().hex[:10]
    topic, cid = f"dmtest/{uid}", f"dmtest-{uid}"
    url = f"mqtt://127.0.0.1:1883/{topic}?qos=1&client_id={cid}"
    try:
        publish.single(topic, b'{"id": 0}', qos=1, hostname="127.0.0.1")  # before any session
        table, commit = drain(url, idle_timeout=IDLE)  # first subscription: the session starts
        commit()
        assert table.num_rows == 0  # nothing from before the first subscription
        io.write(f"mqtt://127.0.0.1:1883/{topic}?qos=1", ROWS)  # the subscriber is away
        table, commit = drain(url, idle_timeout=IDLE)
        commit()
        assert _ids(table) == [1, 2, 3, 4, 5]
    finally:
        _forget_mqtt_session(cid)


@pytest.mark.slow
def test_jetstream_durable_consumer_survives_a_server_restart() -> None:
    if not NatsInstance.available():
        pytest.skip("nats-server is not installed")
    with NatsInstance() as nats:
        url = f"{nats.url}/orders?stream=ORDERS&durable=loader&ack_wait=1"
        io.write(url, ROWS)
        done, commit = drain(url, idle_timeout=IDLE, max_messages=2)
        commit()
        assert _ids(done) == [1, 2] and commit.position == 2
        pending, commit = drain(url, idle_timeout=IDLE, max_messages=1)
        assert _ids(pending) == [3]
        nats.restart()  # the load "failed" with message 3 delivered, not acked
        commit.release()  # nothing to hand back to: that connection is gone
        time.sleep(1.2)  # ack_wait: unacked message 3 becomes deliverable again
        rest, commit = drain(url, idle_timeout=IDLE)
        commit()
        assert _ids(rest) == [3, 4, 5] and commit.position == 5

        # SIGKILL: JetStream writes consumer state asynchronously, so acks of the last
        # moments may be lost and redelivered, but nothing unacked is lost
        io.write(url, pa.table({"id": [6, 7, 8], "name": ["f", "g", "h"]}))
        pending, commit = drain(url, idle_timeout=IDLE, max_messages=1)
        assert _ids(pending) == [6]
        nats.restart(kill=True)
        commit.release()
        time.sleep(1.2)
        rest, commit = drain(url, idle_timeout=IDLE)
        commit()
        assert {6, 7, 8} <= set(_ids(rest)) <= set(range(1, 9)) and commit.position == 8
        nats.restart()  # graceful: the acks above are kept
        again, commit = drain(url, idle_timeout=IDLE)
        commit()
        assert again.num_rows == 0


def test_a_message_redelivered_within_one_drain_is_taken_once() -> None:
    """A drain that outlasts ``ack_wait`` (a slow trickle keeps it fetching) sees its first
    messages delivered again; each stream sequence is taken once, and the commit acks all
    deliveries so nothing comes back."""
    require_service("nats")
    uid = uuid.uuid4().hex[:10]
    gen = _nats(uid)
    broker = next(gen)
    url = broker.url.replace("ack_wait=2", "ack_wait=1")
    io.write(url, ROWS)
    stop = False

    def trickle() -> None:  # keeps the drain busy past ack_wait
        for i in range(6, 14):
            if stop:
                return
            time.sleep(0.2)
            broker.publish_raw(b'{"id": %d, "name": "t"}' % i)

    import threading

    t = threading.Thread(target=trickle)
    t.start()
    try:
        table, commit = drain(url, idle_timeout=0.6)
        commit()
    finally:
        stop = True
        t.join()
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)), ids
    assert set(ids) >= {1, 2, 3, 4, 5}
    time.sleep(1.2)
    after, commit = drain(url, idle_timeout=IDLE)
    commit()
    assert set(_ids(after)) <= set(range(6, 14)) - set(ids)
    list(gen)  # delete the stream
