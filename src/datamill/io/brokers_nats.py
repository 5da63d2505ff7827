"""NATS JetStream as a broker: a durable pull consumer drained on a private event loop,
acknowledged after the load; the sink publishes one JSON message a row. Part of
``datamill.io.brokers`` (see its docstring).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from typing import Any

from datamill.errors import UsageError, require
from datamill.io.base import WriteReport
from datamill.io.brokers_common import (
    DrainSource,
    dumps,
    opt_float,
    rows_of,
    split_url,
)
from datamill.io.url import redact_url


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
        self.durable = self.required("durable", "a durable consumer keeps the position between runs")
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
