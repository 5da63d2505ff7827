"""A private memcached server."""

from __future__ import annotations

import os
import socket

from datamill.testing.instances._base import ServerInstance, recv_line


class MemcachedInstance(ServerInstance):
    """A private memcached (nothing persists: a restart starts empty, as memcached does)."""

    kind = "memcached"
    binaries = ("memcached",)

    def __init__(self, port: int | None = None, *, memory_mb: int = 64, **kwargs: object):
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.memory_mb = memory_mb

    @property
    def url(self) -> str:
        return f"memcached://{self.host}:{self.port}"

    def _command(self) -> list[str]:
        cmd = [self.binary(), "-l", self.host, "-p", str(self.port), "-U", "0",
               "-m", str(self.memory_mb)]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]  # memcached refuses to run as root without -u
        return cmd

    def _ready(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1.0) as s:
            s.sendall(b"version\r\n")
            return recv_line(s).startswith(b"VERSION")
