"""Ctrl-C and SIGTERM during a run: the first cancels the run cleanly (running tasks are
stopped, the run is recorded as cancelled), the second interrupts at once.

Handlers are installed only on the main thread (Python allows no other) and only when
the caller lets the run handle signals (``handle_signals=False`` for embedding).
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def install(q: Any, enabled: bool) -> Any:
    """Route SIGINT/SIGTERM to a cancel message on the driver's queue ``q``; returns the
    previous handlers for :func:`restore` (None when nothing was installed)."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        return None
    count = {"n": 0}

    def handler(signum: int, frame: Any) -> None:
        count["n"] += 1
        if count["n"] > 1:
            raise KeyboardInterrupt
        q.put(("cancel", "interrupted (Ctrl-C)"))

    prev = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        prev[sig] = signal.signal(sig, handler)
    return prev


def restore(prev: Any) -> None:
    if prev:
        for sig, h in prev.items():
            signal.signal(sig, h)
