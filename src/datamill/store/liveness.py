"""Is a process on this host still the one that was recorded? Pid reuse-proof tokens.

A *start token* names one process for its whole life: ``<boot id>/<pid namespace>/<start
time>``, read from ``/proc`` (Linux), else from psutil when installed. The run store keeps
the token of a run's driver (``runs.pid_start``) and of each process worker
(``attempts.worker``), so a resume on the same host can tell at once that a driver is gone
(no process with that pid, or one started at another time) instead of waiting for its
heartbeat to go stale. Where no token can be read (another OS without psutil, another
pid namespace) callers fall back to the heartbeat rule.
"""

from __future__ import annotations

import os
import socket

__all__ = ["hostname", "process_gone", "start_token", "worker_id", "parse_worker_id"]


def hostname() -> str:
    return socket.gethostname()


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _namespace() -> str | None:
    """This machine's boot and this process's pid namespace: tokens compare only within it."""
    boot = _read("/proc/sys/kernel/random/boot_id")
    if boot is None:
        return None
    try:
        ns = os.readlink("/proc/self/ns/pid")
    except OSError:
        ns = "-"
    return f"{boot}/{ns}"


def start_token(pid: int) -> str | None:
    """The start token of process ``pid``; None if it does not exist (or is a zombie) or
    cannot be read."""
    ns = _namespace()
    if ns is not None:
        stat = _read(f"/proc/{pid}/stat")
        if stat is None:
            return None
        # the command name (field 2) may hold spaces and parentheses: split after the last ')'
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) < 20 or fields[0] in ("Z", "X"):
            return None  # a zombie runs no code any more: gone
        return f"{ns}/{fields[19]}"  # field 22: start time in clock ticks since boot
    try:
        import psutil
    except ImportError:
        return None
    try:
        return f"psutil/{psutil.Process(pid).create_time():.3f}"
    except Exception:  # noqa: BLE001 - no such process, or access denied
        return None


def process_gone(pid: int | None, token: str | None) -> bool | None:
    """True if the recorded process (pid and start token, on this host) no longer runs.

    None when it cannot be told: no pid or token recorded, or the token comes from another
    boot or pid namespace (a container sharing the host name), where the pid means nothing.
    """
    if not pid or not token:
        return None
    mine = start_token(os.getpid())
    if mine is None:
        return None
    if token.rsplit("/", 1)[0] != mine.rsplit("/", 1)[0]:
        return None  # recorded in another boot or pid namespace: cannot judge from here
    now = start_token(pid)
    return now != token


def worker_id(pid: int) -> str:
    """``host:pid:token`` of a worker process, as ``attempts.worker`` stores it."""
    return f"{hostname()}:{pid}:{start_token(pid) or ''}"


def parse_worker_id(value: str) -> tuple[str, int, str | None] | None:
    """``(host, pid, token)`` from ``worker_id``'s text, None if it is not one."""
    host, sep, rest = value.partition(":")
    pid_text, sep2, token = rest.partition(":")
    if not sep or not sep2 or not pid_text.isdigit():
        return None
    return host, int(pid_text), token or None
