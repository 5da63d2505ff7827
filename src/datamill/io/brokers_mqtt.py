"""MQTT as a broker: a persistent session at QoS 1, its messages acknowledged after the
load; the sink publishes one JSON message a row. Part of ``datamill.io.brokers``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
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
        self.client_id = self.required("client_id", "the broker keeps messages for a persistent session by client id")
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
            n = publish_rows(batches, lambda body: infos.append(
                c.publish(self.topic, body, qos=self.qos, retain=retain)))
            for info in infos:
                info.wait_for_publish(timeout=30)
                if not info.is_published():
                    raise TimeoutError(f"{self.location.display}: message {info.mid} not "
                                       "acknowledged by the broker within 30 s")
        finally:
            self._disconnect()
        return WriteReport(redact_url(self.location.dataset), rows=n, mode=mode, load_id=load_id)
