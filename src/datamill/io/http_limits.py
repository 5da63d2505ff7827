"""Bounds on one HTTP response: an overall deadline and a cap on the decoded body size.

A socket timeout bounds each ``recv`` only: a server that sends one byte a second (slow
headers, a slow-loris body) or an endless chunked body would hold a read forever, and a
small gzip body can decode to gigabytes. :class:`Deadline` shuts the socket down when an
attempt runs past its deadline (the blocked read returns at once); :func:`read_body`
reads and decompresses the body in steps, stopping as soon as the raw or decoded size
passes ``max_body_bytes`` or the compression ratio passes ``max_ratio``.
"""

from __future__ import annotations

import socket
import threading
import time
import zlib
from typing import Any

from datamill.errors import DatamillError

__all__ = ["Deadline", "Limits", "BodyTooLarge", "read_body"]

READ_STEP = 1 << 16          # raw bytes read per step
OUT_STEP = 1 << 20           # decoded bytes produced per decompression step
RATIO_FLOOR = 16 << 20       # the ratio check starts once this much is decoded


class BodyTooLarge(DatamillError):
    """A response body (raw or decoded) passed a limit; never retried."""


class Limits:
    """The bounds of one source: ``deadline`` (seconds per attempt, headers and body),
    ``page_deadline`` (seconds per page, all attempts and waits), ``max_body_bytes``
    (raw and decoded body) and ``max_ratio`` (decoded / compressed size)."""

    def __init__(self, deadline: float = 300.0, page_deadline: float = 900.0,
                 max_body_bytes: int = 256 << 20, max_ratio: float = 200.0):
        self.deadline, self.page_deadline = deadline, page_deadline
        self.max_body_bytes, self.max_ratio = max_body_bytes, max_ratio


class Deadline:
    """Shut ``conn``'s socket down after ``seconds`` (a watchdog timer thread); ``expired``
    tells afterwards whether it fired. Use as a context manager around one attempt."""

    def __init__(self, conn: Any, seconds: float):
        self.conn, self.seconds = conn, max(0.0, seconds)
        self.expired = False
        self._timer = threading.Timer(self.seconds, self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.expired = True
        sock = getattr(self.conn, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _mib(n: float) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{int(n)} bytes"


def read_body(resp: Any, limits: Limits, where: str, deadline: Deadline | None = None) -> bytes:
    """The body of ``resp``, decompressed (gzip / deflate ``Content-Encoding``) in bounded
    steps. Raises :class:`BodyTooLarge` naming ``where`` and the limit passed, and
    ``TimeoutError`` once ``deadline`` expired."""
    enc = (resp.headers.get("Content-Encoding") or "").lower()
    dec = None
    if enc in ("gzip", "x-gzip", "deflate"):
        dec = zlib.decompressobj(47 if "gzip" in enc else zlib.MAX_WBITS)
    cap = limits.max_body_bytes
    how = "raise max_body_bytes= (a keyword or URL option)"
    parts: list[bytes] = []
    raw = size = 0
    while True:
        chunk = resp.read(READ_STEP)
        if deadline is not None and deadline.expired:
            raise TimeoutError("deadline")
        if not chunk:
            break
        raw += len(chunk)
        if raw > cap:
            raise BodyTooLarge(f"{where}: the response body is larger than max_body_bytes="
                               f"{cap} ({_mib(cap)}); {how}")
        if dec is None:
            parts.append(chunk)
            size += len(chunk)
            continue
        data = chunk
        while data:
            try:
                out = dec.decompress(data, OUT_STEP)
            except zlib.error as exc:
                raise ValueError(f"cannot decompress the {enc} body ({exc})") from None
            data = dec.unconsumed_tail
            size += len(out)
            if size > cap:
                raise BodyTooLarge(f"{where}: the {enc} body decodes to more than "
                                   f"max_body_bytes={cap} ({_mib(cap)}; {_mib(raw)} received "
                                   f"so far); {how}")
            if size > RATIO_FLOOR and size > limits.max_ratio * raw:
                raise BodyTooLarge(f"{where}: the {enc} body decodes to over "
                                   f"{size / raw:.0f} times its compressed size, more than "
                                   f"max_ratio={limits.max_ratio:g} (a compression bomb?); "
                                   "raise max_ratio= (a keyword or URL option)")
            parts.append(out)
            if dec.eof:
                break
    if dec is not None:
        if not dec.eof and raw:
            raise ValueError(f"cannot decompress the {enc} body (it is truncated)")
    return b"".join(parts)


def remaining(started: float, limits: Limits) -> float:
    """Seconds left of the page deadline of a page whose first attempt began at ``started``."""
    return limits.page_deadline - (time.monotonic() - started)
