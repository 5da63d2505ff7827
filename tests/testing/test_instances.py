"""Private servers start, answer a real client, die on SIGKILL and come back on the same
port with what they persisted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from datamill.testing.instances import (
    InstanceError,
    MosquittoInstance,
    NatsInstance,
    PostgresInstance,
    RedisInstance,
    ServerInstance,
    free_port,
    mqtt_connect_packet,
    port_open,
)


def need(cls: type[ServerInstance]) -> None:
    if not cls.available():
        msg = f"{cls.kind} binaries are not installed"
        if os.environ.get("DATAMILL_REQUIRE_SERVICES") == "1":
            pytest.fail(msg + " (DATAMILL_REQUIRE_SERVICES=1)")
        pytest.skip(msg)


def assert_refused(port: int) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# ----------------------------------------------------------------- raw protocol clients


class LineSocket:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by server")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def close(self) -> None:
        self.sock.close()


def redis(port: int, *args: str) -> bytes | None:
    """One RESP command; the reply's simple value or bulk string."""
    c = LineSocket(port)
    try:
        c.sock.sendall(
            f"*{len(args)}\r\n".encode()
            + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)
        )
        line = c.line()
        if line.startswith(b"$"):
            n = int(line[1:])
            return None if n < 0 else c.exactly(n)
        assert line[:1] in b"+:", line
        return line[1:]
    finally:
        c.close()


class Nats(LineSocket):
    def __init__(self, port: int):
        super().__init__(port)
        line = self.line()
        assert line.startswith(b"INFO "), line
        self.info = json.loads(line[5:])
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.t 1\r\n')

    def request(self, subject: str, payload: bytes = b"") -> dict:
        self.sock.sendall(f"PUB {subject} _INBOX.t {len(payload)}\r\n".encode() + payload + b"\r\n")
        while True:
            line = self.line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                return json.loads(self.exactly(int(line.split()[-1])))
            elif line.startswith(b"-ERR"):
                raise AssertionError(line)


def mqtt_packet(header: int, body: bytes) -> bytes:
    n, length = len(body), bytearray()
    while True:
        byte, n = n % 128, n // 128
        length.append(byte | (0x80 if n else 0))
        if not n:
            return bytes([header]) + bytes(length) + body


def mqtt_read(sock: socket.socket) -> tuple[int, bytes]:
    def recv(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by broker")
            data += chunk
        return data

    header = recv(1)[0]
    length, mult = 0, 1
    while True:
        b = recv(1)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return header, recv(length)


def mqtt_connect(port: int, client_id: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(mqtt_connect_packet(client_id))
    assert mqtt_read(sock) == (0x20, b"\x00\x00")  # CONNACK, accepted
    return sock


def mqtt_str(s: str) -> bytes:
    return len(s.encode()).to_bytes(2, "big") + s.encode()


# ------------------------------------------------------------------------------ tests


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    assert not port_open(port)


@pytest.mark.parametrize("appendonly", [True, False])
def test_redis_survives_kill_only_with_appendonly(appendonly):
    need(RedisInstance)
    with RedisInstance(appendonly=appendonly) as r:
        port = r.port
        assert r.url == f"redis://127.0.0.1:{port}/0"
        c = LineSocket(port)
        c.sock.sendall(b"PING\r\n")
        assert c.line() == b"+PONG"
        c.close()
        assert redis(port, "SET", "answer", "42") == b"OK"

        r.kill()
        assert not r.running
        assert_refused(port)

        r.restart()
        assert r.port == port
        assert redis(port, "GET", "answer") == (b"42" if appendonly else None)


def test_nats_jetstream_stream_survives_kill():
    need(NatsInstance)
    with NatsInstance() as n:
        c = Nats(n.port)
        assert c.info["port"] == n.port and c.info.get("jetstream") is True
        config = {"name": "ORDERS", "subjects": ["orders.>"], "storage": "file"}
        created = c.request("$JS.API.STREAM.CREATE.ORDERS", json.dumps(config).encode())
        assert "error" not in created, created
        assert c.request("orders.new", b"first") == {"stream": "ORDERS", "seq": 1}
        c.close()

        n.kill()
        assert_refused(n.port)

        n.restart()
        c = Nats(n.port)
        info = c.request("$JS.API.STREAM.INFO.ORDERS")
        c.close()
        assert "error" not in info, info
        assert info["state"]["messages"] == 1


def test_mosquitto_retained_message_survives_kill_once_saved():
    need(MosquittoInstance)
    with MosquittoInstance(persistence=True) as m:
        sock = mqtt_connect(m.port, "writer")
        with m.expect_save():
            # PUBLISH, QoS 1, retain; packet id 1
            sock.sendall(mqtt_packet(0x33, mqtt_str("dm/state") + b"\x00\x01" + b"v1"))
            assert mqtt_read(sock) == (0x40, b"\x00\x01")  # PUBACK
        sock.close()

        m.kill()
        assert_refused(m.port)

        m.restart()
        sock = mqtt_connect(m.port, "reader")
        sock.sendall(mqtt_packet(0x82, b"\x00\x01" + mqtt_str("dm/state") + b"\x01"))
        assert mqtt_read(sock)[0] == 0x90  # SUBACK
        header, body = mqtt_read(sock)
        sock.close()
        assert header & 0xF1 == 0x31  # PUBLISH with the retain flag
        assert body.startswith(mqtt_str("dm/state")) and body.endswith(b"v1")


def test_mosquitto_without_persistence_forgets():
    need(MosquittoInstance)
    with MosquittoInstance() as m:
        sock = mqtt_connect(m.port, "writer")
        sock.sendall(mqtt_packet(0x33, mqtt_str("dm/state") + b"\x00\x01" + b"v1"))
        assert mqtt_read(sock) == (0x40, b"\x00\x01")
        sock.close()
        m.restart()  # graceful stop, then start
        sock = mqtt_connect(m.port, "reader")
        sock.sendall(mqtt_packet(0x82, b"\x00\x01" + mqtt_str("dm/state") + b"\x01"))
        assert mqtt_read(sock)[0] == 0x90
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            mqtt_read(sock)
        sock.close()


@pytest.mark.slow
def test_postgres_table_survives_kill():
    need(PostgresInstance)
    psycopg = pytest.importorskip("psycopg")
    with PostgresInstance() as pg:
        assert pg.url == f"postgresql+psycopg://postgres@127.0.0.1:{pg.port}/postgres"
        with psycopg.connect(pg.dsn) as conn:
            conn.execute("CREATE TABLE runs (id int PRIMARY KEY, state text)")
            conn.execute("INSERT INTO runs VALUES (1, 'done')")
        # an open transaction that the kill must roll back
        doomed = psycopg.connect(pg.dsn)
        doomed.execute("INSERT INTO runs VALUES (2, 'in flight')")

        pg.kill()
        assert_refused(pg.port)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg.dsn, connect_timeout=2)
        doomed.close()

        pg.restart()
        with psycopg.connect(pg.dsn) as conn:
            assert conn.execute("SELECT id, state FROM runs").fetchall() == [(1, "done")]


def test_failed_start_reports_the_server_log():
    need(RedisInstance)
    inst = RedisInstance(extra_args=["--no-such-directive", "1"])
    with pytest.raises(InstanceError) as err:
        with inst:
            pass
    assert "exited with code" in str(err.value)
    assert "no-such-directive" in str(err.value)  # from redis's own log
    assert inst.dir is None  # cleaned up


def test_taken_port_is_reported():
    need(RedisInstance)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        inst = RedisInstance(port=s.getsockname()[1])
        with pytest.raises(InstanceError, match="taken by another process"):
            inst.start()
        inst.cleanup()


def test_cleanup_leaves_no_process_and_no_dir():
    need(NatsInstance)
    with NatsInstance() as n:
        pid, path, port = n.pid, n.dir, n.port
        assert path is not None and path.is_dir()
    assert not os.path.exists(f"/proc/{pid}")
    assert not path.exists()
    assert not port_open(port)


def test_servers_die_with_the_process_that_started_them(tmp_path):
    need(RedisInstance)
    script = (
        "import sys, time\n"
        "from datamill.testing.instances import RedisInstance\n"
        f"r = RedisInstance(base_dir={str(tmp_path)!r}).start()\n"
        "print(r.port, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        assert port_open(port)
    finally:
        proc.send_signal(signal.SIGKILL)  # no atexit: only PR_SET_PDEATHSIG can help
        proc.wait()
        proc.stdout.close()
    deadline = time.monotonic() + 5
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not port_open(port)
