"""A private PostgreSQL cluster (initdb into a temp dir, run as the ``postgres`` user when root)."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import ClassVar

from datamill.testing.instances._base import (
    InstanceError,
    InstanceUnavailable,
    ServerInstance,
    die_with_parent,
    port_open,
    start_time,
)


def _postgres_bindir() -> str:
    """The directory of ``postgres``/``initdb`` of one version (the newest found)."""
    candidates = []
    found = shutil.which("postgres")
    if found:
        candidates.append(os.path.dirname(os.path.realpath(found)))
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.split("/")[-2].split(".")],
        reverse=True,
    )
    candidates += versions
    for d in candidates:
        if os.access(os.path.join(d, "postgres"), os.X_OK) and os.access(
            os.path.join(d, "initdb"), os.X_OK
        ):
            return d
    raise InstanceUnavailable(
        "postgres: no 'postgres' and 'initdb' binaries on PATH nor in /usr/lib/postgresql/*/bin; "
        "install the Debian package postgresql"
    )


class PostgresInstance(ServerInstance):
    """A private PostgreSQL cluster: initdb (trust auth) into a temp dir, then ``postgres``.

    As root, initdb and postgres refuse to run, so both run as the OS user ``postgres``
    (``run_as``) and the temp dir is chowned to it; the default temp dir is in /tmp so
    that user can reach it (a ``base_dir`` under a root-only dir would not work).
    ``settings`` are extra ``-c name=value`` server settings; by default ``fsync`` is off,
    which loses nothing when only the process is killed (the kernel keeps the writes).
    """

    kind = "postgres"
    binaries = ("postgres", "initdb")
    stop_signal = signal.SIGINT  # "fast" shutdown: rolls back clients instead of waiting

    DEFAULT_SETTINGS: ClassVar[dict[str, str]] = {
        "fsync": "off",
        "shared_buffers": "32MB",
        "max_connections": "50",
    }

    def __init__(
        self,
        port: int | None = None,
        *,
        settings: dict[str, str] | None = None,
        run_as: str | None = None,
        **kwargs: object,
    ):
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.settings = {**self.DEFAULT_SETTINGS, **(settings or {})}
        if run_as is None and os.geteuid() == 0:
            run_as = "postgres"
        self.run_as = run_as
        self.user = "postgres"  # the database superuser initdb creates
        self.dbname = "postgres"

    @classmethod
    def binary(cls, name: str | None = None) -> str:
        return os.path.join(_postgres_bindir(), name or "postgres")

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3)."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def dsn(self) -> str:
        """libpq URL, for ``psycopg.connect``."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    @property
    def data_dir(self) -> Path:
        assert self.dir is not None, "not started yet"
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.dir is not None, "not started yet"
        return self.dir / "sock"

    def _popen_kwargs(self) -> dict[str, object]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        kw: dict[str, object] = {"env": env}
        if self.run_as is not None:
            kw.update(user=self.run_as, group=self.run_as, extra_groups=[])
        return kw

    def _prepare(self) -> None:
        assert self.dir is not None
        bindir = _postgres_bindir()
        self.socket_dir.mkdir()
        if self.run_as is not None:
            os.chmod(self.dir, 0o700)
            shutil.chown(self.dir, self.run_as, self.run_as)
            shutil.chown(self.socket_dir, self.run_as, self.run_as)
        cmd = [
            os.path.join(bindir, "initdb"),
            "-D", str(self.data_dir),
            "-U", self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                preexec_fn=die_with_parent,
                timeout=120,
                **self._popen_kwargs(),  # type: ignore[arg-type]
            )
        if done.returncode != 0:
            hint = ""
            if self.run_as is not None:
                hint = (
                    f" (initdb runs as OS user {self.run_as!r}, which must be able to reach "
                    f"{self.dir}; leave base_dir unset to use the system temp dir)"
                )
            raise InstanceError(
                f"postgres: initdb failed with code {done.returncode}{hint}; log "
                f"{self.log_path}:\n{self.log_tail()}"
            )

    def _command(self) -> list[str]:
        cmd = [
            os.path.join(_postgres_bindir(), "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-k", str(self.socket_dir),
            "-c", f"listen_addresses={self.host}",
        ]  # fmt: skip
        for name, value in self.settings.items():
            cmd += ["-c", f"{name}={value}"]
        return cmd

    def _lockfile(self) -> list[str]:
        try:
            return (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    def _ready(self) -> bool:
        # As pg_ctl -w does: the lock file of *this* postmaster says "ready" (after any
        # crash recovery), then the port must accept.
        lines = self._lockfile()
        return (
            len(lines) >= 8
            and self.proc is not None
            and lines[0].strip() == str(self.proc.pid)
            and lines[7].strip() == "ready"
            and port_open(self.port)
        )

    def _after_kill(self) -> None:
        # A restart refuses to run ("pre-existing shared memory block is still in use")
        # while any process of the killed server is still attached to its SysV segment:
        # backends that were still exiting, or a child the postmaster forked while it was
        # being killed (after we listed its children). Every one of them runs in the
        # data dir, so sweep by working directory until the segment is free.
        if self.dir is None:
            return
        data = os.path.realpath(self.data_dir)
        lines = self._lockfile()
        parts = lines[6].split() if len(lines) >= 7 else []
        shmid = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else None
        deadline = time.monotonic() + 10.0
        while True:
            left = _processes_in(data)
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if not left and not _shm_attached(shmid):
                return
            if time.monotonic() > deadline:
                return  # start() will fail and show the server's own explanation
            time.sleep(0.005)

    def _remove_dir(self) -> None:
        # A postmaster killed with SIGKILL leaves its small SysV shared memory segment
        # behind (a restart reclaims it, a removed dir would not): remove it.
        lines = self._lockfile()
        if len(lines) >= 7 and not self.running:
            parts = lines[6].split()
            if len(parts) == 2 and parts[1].isdigit() and shutil.which("ipcrm"):
                subprocess.run(
                    ["ipcrm", "-m", parts[1]],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                )
        super()._remove_dir()


def _processes_in(directory: str) -> list[int]:
    """Live (not zombie) processes whose working directory is ``directory``."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/cwd") != directory:
                continue
        except OSError:
            continue
        if start_time(int(entry)) is not None:
            out.append(int(entry))
    return out


def _shm_attached(shmid: int | None) -> bool:
    """Whether SysV shared memory segment ``shmid`` exists and a process is attached."""
    if shmid is None:
        return False
    try:
        with open("/proc/sysvipc/shm") as f:
            next(f)  # the header
            for line in f:
                fields = line.split()
                if len(fields) > 6 and fields[1] == str(shmid):
                    return int(fields[6]) > 0
    except (OSError, StopIteration, ValueError):
        return False
    return False
