"""A run listener that writes one CSV row per finished task instance (its state, attempts,
seconds of execution and of waiting for a worker), declared by the pipeline so that every
run of it, from the command line too, writes ``out/task_durations.csv``.

    cd examples/listeners && datamill run durations.py -p n=8

Listeners are called on the driver thread, between the run's events; this one only keeps
rows in memory while the run goes and writes the file once, when the run has finished.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import datamill
from datamill.runtime.events import RunFinished, TaskFinished
from datamill.runtime.listeners import RunListener


class TaskDurationsCsv(RunListener):
    """``run_id, task, key, state, attempts, seconds, queued_seconds`` per task instance."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict[str, object]] = []

    def on_task_finished(self, event: TaskFinished) -> None:
        r = event.result
        self.rows.append({"run_id": event.run_id, "task": event.task, "key": event.key,
                          "state": event.state.value, "attempts": r.attempts,
                          "seconds": f"{r.duration:.6f}", "queued_seconds": f"{r.queued:.6f}"})

    def on_run_finished(self, event: RunFinished) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["run_id", "task", "key", "state", "attempts",
                                                   "seconds", "queued_seconds"])
            writer.writeheader()
            writer.writerows(self.rows)
        self.rows = []


PIPELINE = datamill.options(name="durations",
                            listeners=[TaskDurationsCsv("out/task_durations.csv")])


@datamill.task
def numbers(n: int = 5) -> list[int]:
    return list(range(n))


@datamill.task(map="numbers")
def slow_square(numbers: int) -> int:
    time.sleep(0.01 * numbers)  # so the durations differ
    return numbers * numbers


@datamill.task
def total(slow_square: list[int]) -> int:
    return sum(slow_square)
