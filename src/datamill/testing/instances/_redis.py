"""A private Redis server (optionally with an append-only file)."""

from __future__ import annotations

import socket

from datamill.testing.instances._base import ServerInstance, recv_line


class RedisInstance(ServerInstance):
    """A private redis-server; ``appendonly=True`` keeps every write in an AOF file in its
    dir (written before the reply, so it survives SIGKILL of the process)."""

    kind = "redis"
    binaries = ("redis-server",)

    def __init__(
        self,
        port: int | None = None,
        *,
        appendonly: bool = False,
        extra_args: list[str] | tuple[str, ...] = (),
        **kwargs: object,
    ):
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.appendonly = appendonly
        self.extra_args = list(extra_args)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _command(self) -> list[str]:
        return [
            self.binary(),
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--dir", str(self.dir),
            "--daemonize", "no",
            "--logfile", "",
            *self.extra_args,
        ]  # fmt: skip

    def _ready(self) -> bool:
        # While loading its AOF, redis accepts connections but answers -LOADING.
        with socket.create_connection((self.host, self.port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return recv_line(s).startswith(b"+PONG")
