"""A row counter for long commands on a terminal (``datamill copy``).

The display writes to the terminal's stderr file object taken when it starts, not to
whatever ``sys.stdout`` / ``sys.stderr`` are at each refresh: the run engine swaps those to
capture a task's output, and a refresh written into that capture came back through
rich's own redirection as escaped text (raw escape codes on screen, the counter frozen at
an early value). It does not redirect output itself, and its last frame stays on screen
with the final count.
"""

from __future__ import annotations

import sys
from typing import Any


class RowCounter:
    """``⠋ copying 12,345 rows 0:00:03`` on stderr while rows flow; the final count stays."""

    def __init__(self, description: str = "copying", stream: Any = None):
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(file=stream or sys.stderr, stderr=True)
        self.progress = Progress(SpinnerColumn(finished_text="✓"), TextColumn("{task.description}"),
                                 TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                                 console=self.console, transient=False, redirect_stdout=False,
                                 redirect_stderr=False)
        self.task = self.progress.add_task(description, total=None)
        self.rows = 0

    def start(self) -> RowCounter:
        self.progress.start()
        return self

    def update(self, rows: int) -> None:
        """The rows read so far (called from the copy's thread)."""
        self.rows = rows
        self.progress.update(self.task, completed=rows)

    def stop(self, rows: int | None = None, description: str | None = None) -> None:
        """Draw the final count (``rows``: the total the command reports) and stop."""
        if rows is not None:
            self.rows = rows
        self.progress.update(self.task, completed=self.rows, total=self.rows,
                             description=description or self.progress.tasks[0].description)
        self.progress.stop()
