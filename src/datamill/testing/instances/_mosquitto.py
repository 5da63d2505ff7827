"""A private Mosquitto MQTT broker, with the bytes of an MQTT CONNECT for probes."""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from datamill.testing.instances._base import InstanceError, ServerInstance


def mqtt_connect_packet(client_id: str = "", clean: bool = True, keepalive: int = 60) -> bytes:
    """An MQTT 3.1.1 CONNECT packet (no will, no credentials)."""
    cid = client_id.encode()
    body = (
        b"\x00\x04MQTT\x04"
        + bytes([0x02 if clean else 0x00])
        + keepalive.to_bytes(2, "big")
        + len(cid).to_bytes(2, "big")
        + cid
    )
    return b"\x10" + _mqtt_varint(len(body)) + body


def _mqtt_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


class MosquittoInstance(ServerInstance):
    """A private mosquitto broker from a generated config (anonymous, loopback).

    ``persistence=True`` saves retained messages, subscriptions and queued messages to
    its dir after every change (``autosave_on_changes``), so they survive SIGKILL.
    """

    kind = "mosquitto"
    binaries = ("mosquitto",)

    def __init__(
        self,
        port: int | None = None,
        *,
        persistence: bool = False,
        extra_config: str = "",
        **kwargs: object,
    ):
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.persistence = persistence
        self.extra_config = extra_config

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        assert self.dir is not None, "not started yet"
        return self.dir / "mosquitto.conf"

    def _prepare(self) -> None:
        assert self.dir is not None
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            # As root mosquitto would switch to user "mosquitto", which cannot write here.
            f"user {getpass.getuser()}",
            f"log_dest file {self.dir / 'server.log'}",
            "log_timestamp true",
        ]
        if self.persistence:
            lines += [
                "persistence true",
                f"persistence_location {self.dir}/",
                "autosave_on_changes true",
                "autosave_interval 1",
            ]
        else:
            lines.append("persistence false")
        if self.extra_config:
            lines.append(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    @property
    def db_path(self) -> Path:
        """The persistence file (written only with ``persistence=True``)."""
        assert self.dir is not None, "not started yet"
        return self.dir / "mosquitto.db"

    @contextlib.contextmanager
    def expect_save(self, timeout: float = 5.0) -> Iterator[None]:
        """Wait, on leaving the block, until the broker saved its state after entering it.

        mosquitto acknowledges a message (PUBACK) before its autosave writes it, so a
        test that kills the broker to see what persists must wait for the save::

            with broker.expect_save():
                publish_retained(...)
            broker.kill()
        """
        if not self.persistence:
            raise InstanceError("mosquitto: expect_save() needs persistence=True")
        # Each save writes a new file and renames it over the old one. Holding the old
        # file open keeps its inode number from being reused, so a new inode at the path
        # means a complete save happened since.
        try:
            old = os.open(self.db_path, os.O_RDONLY)
        except FileNotFoundError:
            old = None
        try:
            yield
            old_ino = os.fstat(old).st_ino if old is not None else None
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if os.stat(self.db_path).st_ino != old_ino:
                        return
                except FileNotFoundError:
                    pass
                if time.monotonic() > deadline:
                    raise InstanceError(
                        f"mosquitto: {self.db_path} not saved within {timeout}s; "
                        f"log:\n{self.log_tail()}"
                    )
                time.sleep(0.002)
        finally:
            if old is not None:
                os.close(old)

    def _command(self) -> list[str]:
        return [self.binary(), "-c", str(self.config_path)]

    def _ready(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1.0) as s:
            s.sendall(mqtt_connect_packet("datamill-probe"))
            ack = b""
            while len(ack) < 4:
                chunk = s.recv(4 - len(ack))
                if not chunk:
                    return False
                ack += chunk
            s.sendall(b"\xe0\x00")  # DISCONNECT
            return ack == b"\x20\x02\x00\x00"
