"""Per-task log capture and secret redaction.

While a task runs, ``logging`` records and ``print`` output from its thread go to that
task's buffer (a thread-local), redacted, and are written as JSON lines to the artifact
store at the end of the attempt. Output from other threads passes through untouched.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time
from typing import Any

from datamill.core.redaction import redact as _redact

_local = threading.local()
_install_lock = threading.Lock()
_installed = 0
_orig_stdout: Any = None
_orig_stderr: Any = None
_handler: logging.Handler | None = None


def redact(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    """Replace each secret value in ``text`` by ``***``: raw, URL-encoded and base64
    forms (``core.redaction.secret_forms``)."""
    return _redact(text, secrets)


class TaskLogBuffer:
    """Log lines of one task attempt (dicts ready for JSON)."""

    __slots__ = ("task", "key", "attempt", "secrets", "lines", "_partial")

    def __init__(self, task: str, key: str, attempt: int, secrets: tuple[str, ...]):
        self.task, self.key, self.attempt, self.secrets = task, key, attempt, secrets
        self.lines: list[dict[str, Any]] = []
        self._partial = ""

    def add(self, level: str, msg: str, logger: str = "", ts: float | None = None) -> None:
        self.lines.append(
            {
                "ts": round(ts or time.time(), 6),
                "level": level,
                "task": self.key,
                "attempt": self.attempt,
                "logger": logger,
                "msg": redact(msg, self.secrets),
            }
        )

    def write_stream(self, text: str, stream: str) -> None:
        text = self._partial + text
        *complete, self._partial = text.split("\n")
        for line in complete:
            self.add("INFO" if stream == "stdout" else "WARNING", line, stream)

    def close(self) -> None:
        if self._partial:
            self.add("INFO", self._partial, "stdout")
            self._partial = ""

    def to_jsonl(self) -> bytes:
        return "".join(json.dumps(ln, ensure_ascii=False) + "\n" for ln in self.lines).encode()


def current() -> TaskLogBuffer | None:
    return getattr(_local, "buf", None)


class _Proxy(io.TextIOBase):
    def __init__(self, orig: Any, stream: str):
        self._orig, self._stream = orig, stream

    def write(self, s: str) -> int:
        buf = getattr(_local, "buf", None)
        if buf is None:
            return self._orig.write(s)
        buf.write_stream(s, self._stream)
        return len(s)

    def flush(self) -> None:
        if getattr(_local, "buf", None) is None:
            self._orig.flush()

    def isatty(self) -> bool:
        return self._orig.isatty()

    def fileno(self) -> int:
        return self._orig.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._orig, "encoding", "utf-8")


class _RouteHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buf = getattr(_local, "buf", None)
        if buf is None:
            return
        try:
            msg = record.getMessage()
            if record.exc_info:
                msg += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # noqa: BLE001
            msg = str(record.msg)
        buf.add(record.levelname, msg, record.name, record.created)


def install() -> None:
    """Route task output to task buffers (idempotent, reference counted)."""
    global _installed, _orig_stdout, _orig_stderr, _handler
    with _install_lock:
        _installed += 1
        if _installed > 1:
            return
        _orig_stdout, _orig_stderr = sys.stdout, sys.stderr
        sys.stdout = _Proxy(_orig_stdout, "stdout")  # type: ignore[assignment]
        sys.stderr = _Proxy(_orig_stderr, "stderr")  # type: ignore[assignment]
        _handler = _RouteHandler(level=logging.DEBUG)
        logging.getLogger().addHandler(_handler)


def uninstall() -> None:
    global _installed, _handler
    with _install_lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed:
            return
        if isinstance(sys.stdout, _Proxy):
            sys.stdout = _orig_stdout
        if isinstance(sys.stderr, _Proxy):
            sys.stderr = _orig_stderr
        if _handler is not None:
            logging.getLogger().removeHandler(_handler)
            _handler = None


class capture:  # noqa: N801 - used as a context manager
    """Capture a task attempt's output into a buffer for the current thread."""

    def __init__(self, buf: TaskLogBuffer):
        self.buf = buf

    def __enter__(self) -> TaskLogBuffer:
        self.prev = getattr(_local, "buf", None)
        _local.buf = self.buf
        return self.buf

    def __exit__(self, *exc: Any) -> None:
        self.buf.close()
        _local.buf = self.prev


def task_logger(task: str) -> logging.Logger:
    """The logger a task gets from its context (``datamill.task.<name>``)."""
    lg = logging.getLogger(f"datamill.task.{task}")
    if lg.level == logging.NOTSET:
        lg.setLevel(logging.INFO)
    return lg


def format_line(line: dict[str, Any], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(line, ensure_ascii=False)
    ts = time.strftime("%H:%M:%S", time.localtime(line.get("ts", 0)))
    return f"{ts} {line.get('level', 'INFO'):<7} {line.get('task', '')}: {line.get('msg', '')}"
