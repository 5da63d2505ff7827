"""Caches as sources and sinks: Redis (rows as hashes or JSON strings) and Memcached.

    redis://host:6379/0#prefix?key=id&ttl=3600          a row per key ``prefix:<id>`` (hash)
    redis://host:6379/0#prefix?key=id&as=json           the same, values as JSON strings
    memcached://host:11211#prefix?key=id&ttl=60         rows as JSON; read back by ``keys=``

Redis is read back by key pattern (``prefix:*``, or ``pattern=``) with SCAN, never KEYS.
Memcached cannot list its keys, so reading needs the list of keys (``keys=a,b,c`` or
``io.read(url, keys=[...])``). ``redis+stream://`` URLs are streams: see ``brokers.py``.
Grammar and guarantees: ``docs/io-brokers.md``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from datamill.errors import UsageError, require
from datamill.io.base import MODES, WriteReport
from datamill.io.brokers_common import (
    Rejected,
    decode_json,
    dumps,
    opt_int,
    opt_list,
    row_key,
    rows_of,
    rows_to_batches,
    split_url,
)
from datamill.io.url import redact_url


def _is_stream(loc: Any) -> bool:
    return loc.raw.lower().split("://", 1)[0] in ("redis+stream", "rediss+stream")


def open_source(loc: Any) -> Any:
    if _is_stream(loc):
        from datamill.io.brokers import open_source as stream_source

        return stream_source(loc)
    if loc.scheme == "memcached":
        return MemcachedSource(loc)
    return RedisCacheSource(loc)


def open_sink(loc: Any) -> Any:
    if _is_stream(loc):
        from datamill.io.brokers import open_sink as stream_sink

        return stream_sink(loc)
    if loc.scheme == "memcached":
        return MemcachedSink(loc)
    return RedisCacheSink(loc)


# ------------------------------------------------------------------------------ Redis


def redis_client(loc: Any) -> Any:
    """A redis-py client for a ``redis://`` / ``rediss://`` / ``redis+stream://`` URL."""
    redis = require("redis", "stream", "Redis locations")
    base = loc.raw.partition("#")[0].partition("?")[0]
    scheme, _, rest = base.partition("://")
    scheme = "rediss" if scheme.lower().startswith("rediss") else "redis"
    return redis.Redis.from_url(f"{scheme}://{rest}", socket_timeout=30, socket_connect_timeout=10)


def _hash_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(value, default=str)


class _RedisCache:
    def __init__(self, loc: Any):
        self.location = loc
        parts = split_url(loc)
        self.options = parts.options
        self.prefix = parts.fragment
        self.as_ = str(self.options.get("as", "hash")).lower()
        if self.as_ not in ("hash", "json"):
            raise UsageError(f"{loc.display}: as={self.as_!r}; use as=hash or as=json")

    def key_for(self, part: str) -> str:
        return f"{self.prefix}:{part}" if self.prefix else part

    @property
    def pattern(self) -> str:
        return str(self.options.get("pattern") or self.key_for("*"))

    def scan(self, client: Any) -> Iterator[bytes]:
        """Every key matching the pattern once (SCAN may repeat keys; KEYS would block)."""
        seen: set[bytes] = set()
        count = opt_int(self.options, "scan_count", 1000)
        for k in client.scan_iter(match=self.pattern, count=count):
            if k not in seen:
                seen.add(k)
                yield k


class RedisCacheSource(_RedisCache):
    """Rows read back from Redis keys matching ``prefix:*``; ``rejected`` keeps values that
    are not JSON objects (``as=json``) or not hashes, with their reason."""

    def __init__(self, loc: Any):
        super().__init__(loc)
        self.rejected: list[Rejected] = []

    def schema(self) -> Any | None:
        return None

    def _rows(self) -> list[dict[str, Any]]:
        client = redis_client(self.location)
        rows: list[dict[str, Any]] = []
        keys = list(self.scan(client))
        step = 1000
        for i in range(0, len(keys), step):
            chunk = keys[i:i + step]
            pipe = client.pipeline(transaction=False)
            for k in chunk:
                pipe.hgetall(k) if self.as_ == "hash" else pipe.get(k)
            for k, value in zip(chunk, pipe.execute(raise_on_error=False), strict=True):
                if isinstance(value, Exception):
                    self.rejected.append(Rejected(k.decode(), b"", f"{value} (as={self.as_})"))
                elif not value:
                    continue  # expired or deleted between SCAN and read
                elif self.as_ == "hash":
                    rows.append({f.decode(): v.decode("utf-8", "replace")
                                 for f, v in value.items()})
                else:
                    row, reason = decode_json(value)
                    if row is None:
                        self.rejected.append(Rejected(k.decode(), value, reason or ""))
                    else:
                        rows.append(row)
        client.close()
        return rows

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000) -> Iterator[Any]:
        yield from rows_to_batches(self._rows(), columns, batch_size)


class RedisCacheSink(_RedisCache):
    """Rows written as one MULTI/EXEC transaction: all keys or none. A row replaces the
    whole key (DEL + HSET); ``replace`` also removes keys of the prefix not written again."""

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        if mode not in MODES:
            raise UsageError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        keys = list(key or opt_list(self.options, "key"))
        if not keys:
            raise UsageError(f"{self.location.display}: a cache needs key columns: add "
                             "?key=COLUMN to the URL or pass key=[...]")
        ttl = opt_int(self.options, "ttl", None)
        client = redis_client(self.location)
        pipe = client.pipeline(transaction=True)
        if mode == "replace":
            old = list(self.scan(client))
            for i in range(0, len(old), 1000):
                pipe.unlink(*old[i:i + 1000])
        n = 0
        for row in rows_of(batches):
            k = self.key_for(row_key(row, keys))
            if self.as_ == "json":
                pipe.set(k, dumps(row), ex=ttl)
            else:
                pipe.delete(k)
                pipe.hset(k, mapping={f: _hash_value(v) for f, v in row.items() if v is not None})
                if ttl:
                    pipe.expire(k, ttl)
            n += 1
        pipe.execute()
        client.close()
        return WriteReport(redact_url(self.location.dataset), rows=n, mode=mode, load_id=load_id,
                           details={"ttl": ttl, "as": self.as_})


# -------------------------------------------------------------------------- Memcached


class _Memcached:
    def __init__(self, loc: Any):
        self.location = loc
        parts = split_url(loc)
        self.options = parts.options
        self.prefix = parts.fragment
        self.server = (parts.host, parts.port or 11211)

    def key_for(self, part: str) -> str:
        return f"{self.prefix}:{part}" if self.prefix else part

    def client(self) -> Any:
        base = require("pymemcache.client.base", "stream", "Memcached locations")
        return base.Client(self.server, connect_timeout=10, timeout=30)


class MemcachedSource(_Memcached):
    """Rows of the given keys (memcached cannot list keys); ``missing`` names keys not found,
    ``rejected`` values that are not JSON objects."""

    def __init__(self, loc: Any):
        super().__init__(loc)
        self.keys = opt_list(self.options, "keys")
        if not self.keys:
            raise UsageError(f"{loc.display}: memcached cannot list its keys; give the keys "
                             "to read (?keys=a,b,c or io.read(url, keys=[...]))")
        self.missing: list[str] = []
        self.rejected: list[Rejected] = []

    def schema(self) -> Any | None:
        return None

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000) -> Iterator[Any]:
        client = self.client()
        rows: list[dict[str, Any]] = []
        try:
            for i in range(0, len(self.keys), 500):
                chunk = self.keys[i:i + 500]
                found = client.get_many([self.key_for(k) for k in chunk])
                for k in chunk:
                    value = found.get(self.key_for(k))
                    if value is None:
                        self.missing.append(k)
                        continue
                    row, reason = decode_json(value)
                    if row is None:
                        self.rejected.append(Rejected(k, value, reason or ""))
                    else:
                        rows.append(row)
        finally:
            client.close()
        yield from rows_to_batches(rows, columns, batch_size)


class MemcachedSink(_Memcached):
    """Rows set as JSON under ``prefix:<key>`` (``ttl=`` seconds). Memcached has no
    transactions: keys are set one by one, so a failed write may leave some set; repeating
    the write sets the same keys again (idempotent by key)."""

    def write(self, batches: Iterable[Any], *, mode: str = "append",
              key: list[str] | None = None, load_id: str | None = None) -> WriteReport:
        if mode == "replace":
            raise UsageError("memcached cannot list its keys, so mode='replace' cannot remove "
                             "old ones; use mode='append' or 'merge' (both set by key)")
        if mode not in MODES:
            raise UsageError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        keys = list(key or opt_list(self.options, "key"))
        if not keys:
            raise UsageError(f"{self.location.display}: a cache needs key columns: add "
                             "?key=COLUMN to the URL or pass key=[...]")
        ttl = opt_int(self.options, "ttl", 0) or 0
        client = self.client()
        n = 0
        try:
            pending: dict[str, bytes] = {}
            for row in rows_of(batches):
                pending[self.key_for(row_key(row, keys))] = dumps(row)
                n += 1
                if len(pending) >= 500:
                    self._flush(client, pending, ttl)
            self._flush(client, pending, ttl)
        finally:
            client.close()
        return WriteReport(redact_url(self.location.dataset), rows=n, mode=mode, load_id=load_id,
                           details={"ttl": ttl})

    def _flush(self, client: Any, pending: dict[str, bytes], ttl: int) -> None:
        if not pending:
            return
        try:
            failed = client.set_many(pending, expire=ttl, noreply=False)
        except Exception as exc:
            if type(exc).__name__ == "MemcacheIllegalInputError":
                raise UsageError(f"{self.location.display}: bad memcached key or value "
                                 f"({exc}); keys are at most 250 bytes, no spaces") from exc
            raise
        if failed:
            raise RuntimeError(f"{self.location.display}: memcached did not store "
                               f"{len(failed)} keys (e.g. {failed[0]!r}); values are at "
                               "most 1 MB by default")
        pending.clear()
