"""What every private server shares: ports, orphan protection, the process life cycle
(start, stop, kill, restart) and the clean-up at exit."""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import ClassVar

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


def die_with_parent() -> None:  # runs in the child between fork and exec
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
                preexec_fn=die_with_parent,
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
                start = start_time(child)
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


def start_time(pid: int) -> int | None:
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
        left = [(pid, start) for pid, start in left if start_time(pid) == start]
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


def recv_line(sock: socket.socket, limit: int = 65536) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n") and len(buf) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf
