"""A private NATS server with JetStream."""

from __future__ import annotations

import socket
from pathlib import Path

from datamill.testing.instances._base import ServerInstance, recv_line


class NatsInstance(ServerInstance):
    """A private nats-server, with JetStream storing into its dir unless ``jetstream=False``."""

    kind = "nats"
    binaries = ("nats-server",)

    def __init__(
        self,
        port: int | None = None,
        *,
        jetstream: bool = True,
        extra_args: list[str] | tuple[str, ...] = (),
        **kwargs: object,
    ):
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.jetstream = jetstream
        self.extra_args = list(extra_args)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def store_dir(self) -> Path:
        assert self.dir is not None, "not started yet"
        return self.dir / "jetstream"

    def _command(self) -> list[str]:
        cmd = [self.binary(), "-a", self.host, "-p", str(self.port)]
        if self.jetstream:
            cmd += ["-js", "-sd", str(self.store_dir)]
        return cmd + self.extra_args

    def _ready(self) -> bool:
        with socket.create_connection((self.host, self.port), timeout=1.0) as s:
            return recv_line(s).startswith(b"INFO ")
