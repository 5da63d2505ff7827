"""Caches as sources and sinks: Redis (hashes, JSON, TTL, SCAN patterns) and a private
memcached."""

from __future__ import annotations

import time
import uuid

import pyarrow as pa
import pytest

import datamill.io as io
from datamill.errors import UsageError
from datamill.io.registry import connector_for
from datamill.testing.instances import MemcachedInstance
from servicecheck import require_service

REDIS = "redis://127.0.0.1:6379/0"
ROWS = pa.table({"id": [1, 2, 3], "name": ["ann", "bob", None], "score": [1.5, 2.0, 3.25]})


@pytest.fixture
def redis_prefix():
    require_service("redis")
    import redis

    prefix = f"dmtest-{uuid.uuid4().hex[:10]}"
    yield prefix
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)
    client.close()


def _redis():
    import redis

    return redis.Redis.from_url(REDIS)


def test_redis_hash_round_trip(redis_prefix: str) -> None:
    report = io.write(f"{REDIS}#{redis_prefix}?key=id", ROWS)
    assert report.rows == 3
    assert _redis().hgetall(f"{redis_prefix}:2") == {b"id": b"2", b"name": b"bob",
                                                     b"score": b"2.0"}
    back = io.read(f"{REDIS}#{redis_prefix}").to_pylist()
    # hashes hold strings; a null is an absent field
    assert sorted(back, key=lambda r: r["id"]) == [
        {"id": "1", "name": "ann", "score": "1.5"},
        {"id": "2", "name": "bob", "score": "2.0"},
        {"id": "3", "name": None, "score": "3.25"},
    ]


def test_redis_json_round_trip_keeps_types(redis_prefix: str) -> None:
    url = f"{REDIS}#{redis_prefix}?as=json"
    io.write(url, ROWS, key="id")
    back = io.read(url).sort_by("id")
    assert back.to_pylist() == ROWS.to_pylist()
    assert back.schema.field("score").type == pa.float64()


def test_redis_ttl_is_honoured(redis_prefix: str) -> None:
    io.write(f"{REDIS}#{redis_prefix}?key=id&ttl=1", ROWS)
    client = _redis()
    assert 0 < client.ttl(f"{redis_prefix}:1") <= 1
    io.write(f"{REDIS}#{redis_prefix}k?key=id&as=json", ROWS)  # no ttl: kept
    assert client.ttl(f"{redis_prefix}k:1") == -1
    time.sleep(1.3)
    assert io.read(f"{REDIS}#{redis_prefix}").num_rows == 0
    assert io.read(f"{REDIS}#{redis_prefix}k?as=json").num_rows == 3


def test_redis_read_scans_only_the_prefix_and_never_uses_keys(
        redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    def no_keys(*a, **k):
        raise AssertionError("KEYS blocks the server; SCAN must be used")

    monkeypatch.setattr(redis.Redis, "keys", no_keys)
    io.write(f"{REDIS}#{redis_prefix}?key=id", ROWS)
    io.write(f"{REDIS}#{redis_prefix}x?key=id", ROWS.slice(0, 1))  # "prefixx:1" is not ours
    assert io.read(f"{REDIS}#{redis_prefix}").num_rows == 3
    assert io.read(f"{REDIS}#{redis_prefix}x").num_rows == 1
    # an explicit pattern narrows the scan
    only = io.read(f"{REDIS}#{redis_prefix}?pattern={redis_prefix}:[12]").column("id")
    assert sorted(only.to_pylist()) == ["1", "2"]


def test_redis_replace_removes_keys_not_written_again(redis_prefix: str) -> None:
    url = f"{REDIS}#{redis_prefix}?key=id&as=json"
    io.write(url, ROWS)
    io.write(url, ROWS.slice(0, 1), mode="replace")
    assert io.read(url).to_pylist() == [{"id": 1, "name": "ann", "score": 1.5}]


def test_redis_undecodable_value_goes_to_rejected(redis_prefix: str) -> None:
    url = f"{REDIS}#{redis_prefix}?as=json"
    io.write(url, ROWS.slice(0, 1), key="id")
    _redis().set(f"{redis_prefix}:bad", b"{not json")
    loc = io.parse_url(url)
    src = connector_for(loc).open_source(loc)
    rows = [r for b in src.batches() for r in b.to_pylist()]
    assert rows == [{"id": 1, "name": "ann", "score": 1.5}]
    assert [r.id for r in src.rejected] == [f"{redis_prefix}:bad"]
    assert "not JSON" in src.rejected[0].reason


def test_cache_write_needs_a_key(redis_prefix: str) -> None:
    with pytest.raises(UsageError, match="key"):
        io.write(f"{REDIS}#{redis_prefix}", ROWS)


@pytest.fixture(scope="module")
def memcached():
    if not MemcachedInstance.available():
        pytest.skip("memcached is not installed")
    with MemcachedInstance() as inst:
        yield inst


def test_memcached_round_trip(memcached: MemcachedInstance) -> None:
    prefix = uuid.uuid4().hex[:10]
    url = f"{memcached.url}#{prefix}?key=id&ttl=60"
    assert io.write(url, ROWS).rows == 3
    back = io.read(f"{memcached.url}#{prefix}", keys=["3", "1", "404"])
    assert back.to_pylist() == [ROWS.to_pylist()[2], ROWS.to_pylist()[0]]
    loc = io.parse_url(f"{memcached.url}#{prefix}?keys=1,404")
    src = connector_for(loc).open_source(loc)
    assert sum(b.num_rows for b in src.batches()) == 1
    assert src.missing == ["404"]


def test_memcached_cannot_list_keys(memcached: MemcachedInstance) -> None:
    with pytest.raises(UsageError, match="cannot list"):
        io.read(f"{memcached.url}#p")
    with pytest.raises(UsageError, match="replace"):
        io.write(f"{memcached.url}#p?key=id", ROWS, mode="replace")
