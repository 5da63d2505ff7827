"""The process side of kill points: ``reached(name)``, called in the runtime's hot path.

This tiny module holds only what production code calls, so the runtime never imports
``datamill.testing`` (the test side: ``KillPoint``, ``run_and_kill_at``, lives there and
documents the protocol). Unless ``DATAMILL_KILLPOINT_DIR`` was set when this module was
imported, ``reached()`` is one global lookup and returns.
"""

from __future__ import annotations

import os
import threading
import time

ENV_DIR = "DATAMILL_KILLPOINT_DIR"
ENV_BLOCK = "DATAMILL_KILLPOINT_BLOCK"
ENV_TIMEOUT = "DATAMILL_KILLPOINT_TIMEOUT"


# Process-side state. ``_dir is None`` is the fast path: nothing else is looked at.
_dir: str | None = None
_block: dict[str, int] = {}  # name -> hit number to block at (0: every hit); "*" for all
_timeout: float = 120.0
_counts: dict[str, int] = {}
_counts_lock = threading.Lock()


def reached(name: str) -> None:
    """Announce that this process reached the point ``name`` (a no-op unless enabled)."""
    if _dir is None:
        return
    _reached(_dir, name)


def configure(
    directory: str | os.PathLike[str] | None,
    block: str | list[str] | tuple[str, ...] | None = None,
    timeout: float | None = None,
) -> None:
    """Set this process's kill-point state directly (for in-process, threaded tests).

    ``configure(None)`` turns kill points off again. ``block`` takes the same forms as
    ``DATAMILL_KILLPOINT_BLOCK`` (a comma-separated string or a list of names).
    """
    global _dir, _block, _timeout
    _dir = os.fspath(directory) if directory is not None else None
    if isinstance(block, (list, tuple)):
        block = ",".join(block)
    _block = _parse_block(block or "")
    _timeout = 120.0 if timeout is None else float(timeout)
    _counts.clear()


def _parse_block(spec: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, nth = item.partition(":")
        out[name] = int(nth) if nth else 0
    return out


def _configure_from_env() -> None:
    directory = os.environ.get(ENV_DIR) or None
    timeout = os.environ.get(ENV_TIMEOUT)
    configure(directory, os.environ.get(ENV_BLOCK, ""), float(timeout) if timeout else None)


def _check_name(name: str) -> None:
    if (
        not name
        or name.startswith(".")
        or name.endswith(".go")
        or any(not (c.isalnum() or c in "-_.") for c in name)
    ):
        raise ValueError(
            f"invalid kill point name {name!r}: use letters, digits, '-', '_' and '.', "
            "not starting with '.' nor ending with '.go'"
        )


def _reached(directory: str, name: str) -> None:
    _check_name(name)
    with _counts_lock:
        n = _counts.get(name, 0) + 1
        _counts[name] = n
    path = os.path.join(directory, name)
    # One small O_APPEND write per hit: the line count is the hit count, the lines the pids.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    nth = _block.get(name, _block.get("*"))
    if nth is None or (nth and nth != n):
        return
    go = path + ".go"
    deadline = time.monotonic() + _timeout
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            os.write(
                2, f"datamill killpoint {name!r}: no {go} after {_timeout}s; going on\n".encode()
            )
            return
        time.sleep(0.002)


_configure_from_env()
