"""Private PostgreSQL, Redis, NATS and Mosquitto servers for fault tests.

Each instance is a real server of the machine's own binaries on an ephemeral loopback
port with its data in a temp dir, so a test may kill it (SIGKILL), restart it on the
same port and data dir, and see what survived, without touching the shared services
on the well-known ports::

    with RedisInstance(appendonly=True) as redis:
        ...                      # talk to redis.url / redis.port
        redis.kill()             # SIGKILL: the connection is refused from now on
        redis.restart()          # same port, same data dir

``start()`` returns once the server answers a real protocol probe (bounded by
``startup_timeout``) and otherwise raises :class:`InstanceError` with the tail of its
log. Leaving the ``with`` block, ``cleanup()`` or the interpreter's exit stops the server
and removes its dir; servers also get SIGKILL if the thread that started them dies
(``PR_SET_PDEATHSIG``), so a killed test run leaves no orphans either.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import getpass
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

__all__ = [
    "InstanceError",
    "InstanceUnavailable",
    "MosquittoInstance",
    "NatsInstance",
    "PostgresInstance",
    "RedisInstance",
    "ServerInstance",
    "free_port",
    "port_open",
]

HOST = "127.0.0.1"


class InstanceError(RuntimeError):
    """A private server could not be started or stopped; the message holds its log tail."""


class InstanceUnavailable(InstanceError):
    """The server's binary is not installed on this machine."""


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = HOST, timeout: float = 0.25) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_port_closed(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not port_open(port):
            return True
        time.sleep(0.01)
    return False


# ------------------------------------------------------------------ orphan protection

_libc = None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _prctl = _libc.prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


_live: set[ServerInstance] = set()
_live_lock = threading.Lock()


@atexit.register
def _cleanup_all() -> None:
    with _live_lock:
        instances = list(_live)
    for inst in instances:
        try:
            inst.cleanup()
        except Exception:  # at exit, do what can be done
            pass


# ------------------------------------------------------------------------- the base


class ServerInstance:
    """One private server process: start, stop, kill, restart, on a fixed port and dir.

    Subclasses give the binary, the command line, the readiness probe and the URL.
    """

    kind: ClassVar[str] = "server"
    binaries: ClassVar[tuple[str, ...]] = ()
    stop_signal: ClassVar[int] = signal.SIGTERM

    def __init__(
        self,
        port: int | None = None,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 30.0,
        keep: bool = False,
    ):
        self.host = HOST
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.keep = keep
        self._base_dir = os.fspath(base_dir) if base_dir is not None else None
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # ----------------------------------------------------------------- to override

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Create what the server needs in ``self.dir`` before its first start."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        """Whether the server answers a real request (called until true or timeout)."""
        return port_open(self.port)

    def _popen_kwargs(self) -> dict[str, object]:
        return {}

    # ------------------------------------------------------------------ public API

    @classmethod
    def binary(cls, name: str | None = None) -> str:
        """The path of the server's binary; raises :class:`InstanceUnavailable`."""
        name = name or cls.binaries[0]
        found = shutil.which(name)
        for d in ("/usr/sbin", "/usr/local/bin", "/usr/bin", "/sbin"):
            if not found and os.access(os.path.join(d, name), os.X_OK):
                found = os.path.join(d, name)
        if not found:
            raise InstanceUnavailable(
                f"{cls.kind}: {name!r} is not installed (not on PATH nor in /usr/sbin); "
                f"install the Debian package that provides it"
            )
        return found

    @classmethod
    def available(cls) -> bool:
        """Whether this machine has the binaries to run this kind of server."""
        try:
            for b in cls.binaries:
                cls.binary(b)
        except InstanceUnavailable:
            return False
        return True

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def log_path(self) -> Path:
        assert self.dir is not None, "not started yet"
        return self.dir / "server.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            data = self.log_path.read_bytes()
        except (OSError, AssertionError):
            return "(no log)"
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    def start(self) -> ServerInstance:
        """Start the server (a no-op if running) and wait until it answers."""
        if self.running:
            return self
        if self.dir is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"datamill-{self.kind}-", dir=self._base_dir))
            with _live_lock:
                _live.add(self)
            try:
                self._prepare()
            except BaseException:
                self.cleanup()
                raise
        if port_open(self.port):
            raise InstanceError(
                f"{self.kind}: port {self.host}:{self.port} is taken by another process; "
                f"pass another port (or none: a free one is picked)"
            )
        with open(self.log_path, "ab") as log:
            log.write(f"--- datamill: start #{self.starts + 1} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                **self._popen_kwargs(),  # type: ignore[arg-type]
            )
        self.starts += 1
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise InstanceError(
                    f"{self.kind} on port {self.port} exited with code {code} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if self._ready():
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._kill_group()
                raise InstanceError(
                    f"{self.kind} on port {self.port} did not answer within "
                    f"{self.startup_timeout}s; log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop gracefully (SIGKILL after ``timeout``); the data dir stays for restart()."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, self.stop_signal)
            except ProcessLookupError:
                pass
            if not _wait_unreaped(self.proc.pid, timeout):
                self._kill_group()
                return
        self._kill_group()  # whatever of its process group is left

    def kill(self) -> None:
        """SIGKILL the server and every process it started, as a crash would."""
        if self.proc is None:
            return
        self._kill_group()

    def restart(self, kill: bool = False) -> ServerInstance:
        """Stop (or with ``kill=True`` SIGKILL) and start again on the same port and dir."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and remove its dir (unless ``keep``)."""
        try:
            self.stop(timeout=10.0)
        finally:
            with _live_lock:
                _live.discard(self)
            if self.dir is not None and not self.keep:
                self._remove_dir()
                self.dir = None

    def __enter__(self) -> ServerInstance:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} dir={self.dir}>"

    # ------------------------------------------------------------------- internals

    def _kill_group(self) -> None:
        assert self.proc is not None
        victims: list[tuple[int, int]] = []
        if self.proc.returncode is None:
            # The leader is unreaped (running or a zombie), so its pid and pgid are still
            # ours. Children that left the group (PostgreSQL backends call setsid) die
            # first, so none of them can finish a transaction after the "crash"; then the
            # group. Once the leader is reaped its pid may belong to anyone: never signal it.
            for child in _descendants(self.proc.pid):
                start = _start_time(child)
                if start is not None:
                    victims.append((child, start))
                try:
                    os.kill(child, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        # SIGKILL only queues the signal: a process is gone once it has exited (a zombie
        # holds no memory, sockets or files). Until then it may still hold what a restart
        # needs (PostgreSQL refuses to start while a killed backend is still attached to
        # the old shared memory), so wait for every one of them, not just the leader.
        _wait_exited(victims, 10.0)
        self._after_kill()
        _wait_port_closed(self.port)

    def _after_kill(self) -> None:
        """Wait until nothing of the killed server holds what a restart needs."""

    def _remove_dir(self) -> None:
        assert self.dir is not None
        shutil.rmtree(self.dir, ignore_errors=True)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), deepest first."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    stack = list(children.get(pid, []))
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out[::-1]


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if it has exited (gone or
    a zombie): with the pid, it names one process even if the pid is reused later."""
    fields = _stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _wait_exited(procs: list[tuple[int, int]], timeout: float) -> bool:
    """Wait up to ``timeout`` until each ``(pid, start_time)`` has exited."""
    deadline = time.monotonic() + timeout
    left = list(procs)
    while True:
        left = [(pid, start) for pid, start in left if _start_time(pid) == start]
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def _wait_unreaped(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for child ``pid`` to exit, leaving it unreaped."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


def _recv_line(sock: socket.socket, limit: int = 65536) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n") and len(buf) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


# ------------------------------------------------------------------------ PostgreSQL


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
                preexec_fn=_die_with_parent,
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
        if _start_time(int(entry)) is not None:
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


# ----------------------------------------------------------------------------- Redis


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
            return _recv_line(s).startswith(b"+PONG")


# ------------------------------------------------------------------------------ NATS


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
            return _recv_line(s).startswith(b"INFO ")


# ------------------------------------------------------------------------- Mosquitto


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


# ------------------------------------------------------------------------- Memcached


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
            return _recv_line(s).startswith(b"VERSION")
