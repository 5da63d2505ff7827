"""What a person sees while a run goes: a live rich display in a terminal, plain (or JSON)
log lines otherwise. The engine calls these from its own thread; they must be cheap."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

from datamill.runtime.logs import redact

_COLOURS = {
    "succeeded": "green", "cached": "cyan", "failed": "red", "upstream_failed": "red",
    "skipped": "yellow", "cancelled": "magenta", "running": "blue",
}


class PlainProgress:
    """One line per finished task (and per failure), for logs and CI."""

    def __init__(self, stream: TextIO | None = None, fmt: str = "text", secrets: tuple[str, ...] = ()):
        self.stream = stream or sys.stderr
        self.fmt = fmt
        self.secrets = secrets
        self.total = 0
        self.done = 0
        self.cancelled = 0
        self.t0 = time.time()

    def _emit(self, event: str, **fields: Any) -> None:
        if self.fmt == "json":
            line = json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str)
        else:
            ts = time.strftime("%H:%M:%S")
            rest = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
            line = f"{ts} {event} {rest}"
        self.stream.write(redact(line, self.secrets) + "\n")
        self.stream.flush()

    def start(self, run_id: str, pipeline: str, total: int) -> None:
        self.total, self.t0 = total, time.time()
        self._emit("run.started", run_id=run_id, pipeline=pipeline, tasks=total)

    def add_total(self, n: int) -> None:
        self.total += n

    def task_started(self, key: str) -> None:
        pass

    def task_finished(self, key: str, state: Any, duration: float) -> None:
        # a cancelled task did not get done: it does not count towards the progress
        if str(state) == "cancelled":
            self.cancelled += 1
        else:
            self.done += 1
        self._emit("task.finished", task=key, state=str(state), seconds=f"{duration:.3f}",
                   progress=f"{self.done}/{self.total}")

    def finish(self, result: Any) -> None:
        for t in result.failed:
            self._emit("task.failed", task=t.shown, error=t.error)
        self._emit("run.finished", run_id=result.run_id, state=str(result.state),
                   seconds=f"{result.duration:.2f}", **result.counts())


class RichProgress:
    """A live panel: done / running / failed / total, elapsed, the slowest running tasks."""

    def __init__(self, console: Any = None):
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self.total = 0
        self.counts: dict[str, int] = {}
        self.running: dict[str, float] = {}
        self.finished: list[tuple[str, str, float]] = []
        self.t0 = time.time()
        self.lock = threading.Lock()
        self.live: Any = None
        self.title = ""

    def start(self, run_id: str, pipeline: str, total: int) -> None:
        from rich.live import Live

        self.total, self.t0 = total, time.time()
        self.title = f"{pipeline} · run {run_id}"
        self.live = Live(self, console=self.console, refresh_per_second=8, transient=False)
        self.live.start()

    def add_total(self, n: int) -> None:
        self.total += n

    def task_started(self, key: str) -> None:
        with self.lock:
            self.running[key] = time.time()

    def task_finished(self, key: str, state: Any, duration: float) -> None:
        s = str(state)
        with self.lock:
            self.running.pop(key, None)
            self.counts[s] = self.counts.get(s, 0) + 1
            self.finished.append((key, s, duration))

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.markup import escape
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            # cancelled tasks did not get done: an interrupted run never shows 100 %
            done = sum(n for s, n in self.counts.items() if s != "cancelled")
            running = sorted(self.running.items(), key=lambda kv: kv[1])[:8]
            recent = self.finished[-6:]
            counts = dict(self.counts)
        now = time.time()
        head = Text.assemble(
            (self.title, "bold"), "  ",
            (f"{done}/{self.total} done", "bold"), "  ",
            (f"{len(self.running)} running", "blue"), "  ",
            (f"{counts.get('failed', 0)} failed", "red" if counts.get("failed") else "dim"), "  ",
            (f"{counts.get('cached', 0)} cached", "cyan"), "  ",
            *((f"{counts['cancelled']} cancelled", "magenta"), "  ") if counts.get("cancelled")
            else (),
            f"{now - self.t0:.1f}s",
        )
        width = 50
        filled = int(width * done / max(self.total, 1))
        bar = Text.assemble(("━" * filled, "green"), ("━" * (width - filled), "grey23"),
                            f" {100 * done / max(self.total, 1):3.0f}%")
        table = Table(show_header=True, header_style="dim", box=None, padding=(0, 2))
        table.add_column("task", no_wrap=True, overflow="ellipsis", max_width=60)
        table.add_column("state", no_wrap=True)
        table.add_column("seconds", justify="right", no_wrap=True)
        for key, started in running:
            table.add_row(escape(key), "[blue]running[/]", f"{now - started:.1f}")
        for key, s, d in reversed(recent):
            table.add_row(escape(key), f"[{_COLOURS.get(s, '')}]{s}[/]", f"{d:.2f}")
        return Group(head, bar, table)

    def finish(self, result: Any) -> None:
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
        from rich.markup import escape
        from rich.table import Table

        slow = sorted(result.tasks.values(), key=lambda t: -t.duration)[:10]
        table = Table(title=result.summary(), title_justify="left")
        for col in ("task", "state", "attempts", "seconds", "error"):
            table.add_column(col, overflow="fold")
        shown = {t.key for t in slow}
        rows = [t for t in result.tasks.values() if t.key in shown or t.state.value != "succeeded"
                and t.state.value != "cached"][:30]
        for t in rows:
            c = _COLOURS.get(t.state.value, "")
            table.add_row(escape(t.shown), f"[{c}]{t.state.value}[/]", str(t.attempts),
                          f"{t.duration:.3f}", escape((t.error or "")[:200]))
        self.console.print(table)


def choose(fmt: str = "text", quiet: bool = False, secrets: tuple[str, ...] = ()) -> Any:
    """Rich live display on a terminal; plain or JSON lines otherwise; nothing when quiet."""
    if quiet:
        return None
    if fmt == "text" and sys.stderr.isatty():
        return RichProgress()
    return PlainProgress(fmt=fmt, secrets=secrets)
