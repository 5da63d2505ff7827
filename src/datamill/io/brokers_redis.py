"""Redis Streams as a broker: a consumer group read with XREADGROUP and acknowledged with
XACK after the load (or a plain XRANGE read after a saved position); the sink XADDs one
JSON message a row. Part of ``datamill.io.brokers`` (see its docstring).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from datamill.errors import UsageError, require
from datamill.io.base import WriteReport
from datamill.io.brokers_common import (
    DrainSource,
    opt_float,
    opt_int,
    publish_rows,
    split_url,
)
from datamill.io.url import redact_url


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
        n = publish_rows(batches, lambda body: pipe.xadd(
            self.stream, {self.field: body}, maxlen=maxlen, approximate=True))
        ids = pipe.execute() if n else []
        client.close()
        return WriteReport(redact_url(self.location.dataset), rows=n, mode=mode, load_id=load_id,
                           details={"last_id": ids[-1].decode() if ids else None})
