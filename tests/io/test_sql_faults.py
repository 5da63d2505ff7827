"""The PostgreSQL server dies in the middle of a load: nothing partial, and the retry
with the same load id lands exactly once. Uses a private server, never the shared one."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pyarrow as pa
import pytest

from datamill import io
from datamill.io.sql import DatabaseError
from datamill.testing.instances import PostgresInstance

pytestmark = pytest.mark.slow


@pytest.fixture
def pg() -> Iterator[PostgresInstance]:
    if not PostgresInstance.available():
        pytest.skip("PostgreSQL server binaries are not installed")
    with PostgresInstance() as inst:
        yield inst


def batches(n: int, start: int = 0) -> list[pa.RecordBatch]:
    return [pa.record_batch({"id": pa.array(range(i * 1000, i * 1000 + 1000), pa.int64()),
                             "v": pa.array(["x" * 20] * 1000)}) for i in range(start, start + n)]


def crash(inst: PostgresInstance) -> None:
    """SIGKILL the postmaster and its backends. Backends run in their own sessions
    (setsid), so ``inst.kill()`` alone can leave ours running long enough to commit."""
    children = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == inst.pid:
            children.append(int(pid))
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    inst.kill()


def killing(inst: PostgresInstance, good: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Yield some batches (the COPY is under way), then kill the server and yield more."""
    yield from good[:5]
    crash(inst)
    yield from good[5:]


@pytest.mark.parametrize("mode", ["append", "replace", "merge"])
def test_server_killed_mid_load(pg: PostgresInstance, mode: str) -> None:
    url = pg.url + "#facts"
    io.write(url, batches(2, start=100), load_id="before")  # rows that must survive
    data = batches(10)
    with pytest.raises(DatabaseError, match="nothing was written") as err:
        io.write(url, killing(pg, data), mode=mode, key=["id"], load_id="L1")
    assert "facts" in str(err.value)
    pg.restart()
    assert sorted(io.read(url).column("id").to_pylist()) == list(range(100_000, 102_000))
    report = io.write(url, data, mode=mode, key=["id"], load_id="L1")
    assert report.rows == 10_000 and not report.skipped
    assert io.write(url, data, mode=mode, key=["id"], load_id="L1").skipped
    ids = io.read(url).column("id").to_pylist()
    expected = list(range(10_000)) + ([] if mode == "replace" else list(range(100_000, 102_000)))
    assert sorted(ids) == expected
    tables = io.read(pg.url, query="SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert not any("__dm_" in t for t in tables.column(0).to_pylist())


def test_restart_right_after_kill_waits_for_dying_backends(pg: PostgresInstance) -> None:
    """SIGKILL only queues the signal: killed backends can still be attached to the old
    shared memory when the restart comes, which PostgreSQL refuses ("pre-existing shared
    memory block is still in use"). kill() returns only once every one has exited."""
    psycopg = pytest.importorskip("psycopg")
    for _ in range(10):
        conns = [psycopg.connect(pg.dsn, autocommit=True) for _ in range(8)]
        for c in conns:
            c.execute("SELECT count(*) FROM pg_class").fetchall()
        crash(pg)
        pg.start()  # at once: no sleep
        for c in conns:
            c.close()
        with psycopg.connect(pg.dsn) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
