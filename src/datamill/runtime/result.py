"""The result of a run: states per task, outputs loaded on demand, a readable display."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from datamill.store.records import State


@dataclass
class TaskResult:
    """The outcome of one task instance (also what failure/success hooks receive)."""

    key: str
    task: str
    state: State
    attempts: int = 0
    duration: float = 0.0
    error: str | None = None
    traceback: str | None = None
    fingerprint: str | None = None
    data_version: str | None = None
    meta: Any = None
    map_key: str | None = None
    log_path: str | None = None
    run_id: str | None = None
    #: Seconds the attempts waited for a worker (``duration`` is execution time only).
    queued: float = 0.0
    #: A readable label of a mapped instance's item (``jan.csv``), or None.
    label: str | None = None

    @property
    def shown(self) -> str:
        """The key with the label beside it, as people see it."""
        return f"{self.key} ({self.label})" if self.label else self.key


@dataclass
class RunResult:
    """What ``datamill.run`` returns. ``result["task"]`` is that task's output."""

    run_id: str
    pipeline: str
    state: State
    tasks: dict[str, TaskResult]
    node_keys: dict[str, list[str]]
    started: float
    ended: float
    values: dict[str, Any] = field(default_factory=dict, repr=False)
    artifacts: Any = field(default=None, repr=False)
    error: str | None = None
    #: How often each run listener that raised did so (``module.Class`` -> errors); empty
    #: when every listener behaved. A listener's error never fails the run.
    listener_errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == State.SUCCEEDED

    @property
    def duration(self) -> float:
        return self.ended - self.started

    @property
    def states(self) -> dict[str, State]:
        return {k: t.state for k, t in self.tasks.items()}

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tasks.values():
            out[t.state.value] = out.get(t.state.value, 0) + 1
        return out

    @property
    def failed(self) -> list[TaskResult]:
        return [t for t in self.tasks.values() if t.state == State.FAILED]

    def output(self, task: str) -> Any:
        """The output of a task: from memory if kept, else loaded from its checkpoint.

        For a mapped task, the list of its instances' outputs (in item order).
        """
        if task in self.node_keys and (len(self.node_keys[task]) != 1 or self.node_keys[task][0] != task):
            return [self.output(k) for k in self.node_keys[task]
                    if self.tasks[k].state in (State.SUCCEEDED, State.CACHED)]
        if task in self.values:
            return self.values[task]
        tr = self.tasks.get(task)
        if tr is None:
            raise KeyError(f"run {self.run_id} has no task {task!r}")
        if tr.state not in (State.SUCCEEDED, State.CACHED):
            raise KeyError(f"task {task!r} has no output: it ended {tr.state.value}"
                           + (f" ({tr.error})" if tr.error else ""))
        if tr.meta is None or self.artifacts is None:
            raise KeyError(f"task {task!r} has no checkpoint and its value was not kept "
                           "(only final tasks' values are kept in memory when checkpoints are off)")
        return self.artifacts.load_checkpoint(tr.meta)

    def __getitem__(self, task: str) -> Any:
        return self.output(task)

    @property
    def outputs(self) -> dict[str, Any]:
        """Outputs of the final tasks (those nothing else consumes)."""
        return {n: self.output(n) for n in self.values} if self.values else {}

    def raise_for_state(self) -> RunResult:
        """Raise RunFailed when the run did not succeed (handy in scripts and tests)."""
        if not self.ok:
            from datamill.errors import RunFailed

            lines = [f"{t.key}: {t.error}" for t in self.failed]
            raise RunFailed(f"run {self.run_id} of {self.pipeline!r} {self.state.value}"
                            + (":\n  " + "\n  ".join(lines) if lines else ""))
        return self

    def summary(self) -> str:
        c = ", ".join(f"{v} {k}" for k, v in sorted(self.counts().items()))
        return f"run {self.run_id} of {self.pipeline!r} {self.state.value} in {self.duration:.2f}s ({c})"

    def __repr__(self) -> str:
        return f"<RunResult {self.summary()}>"

    def __rich__(self) -> Any:
        from rich.markup import escape
        from rich.table import Table

        colours = {"succeeded": "green", "cached": "cyan", "failed": "red", "upstream_failed": "red",
                   "skipped": "yellow", "cancelled": "magenta", "running": "blue", "pending": "dim"}
        table = Table(title=self.summary(), title_justify="left")
        for col in ("task", "state", "attempts", "seconds", "error"):
            table.add_column(col, overflow="fold")
        for t in self.tasks.values():
            c = colours.get(t.state.value, "")
            table.add_row(escape(t.key), f"[{c}]{t.state.value}[/]", str(t.attempts),
                          f"{t.duration:.3f}", escape((t.error or "")[:200]))
        return table

    def _repr_html_(self) -> str:
        colours = {"succeeded": "#2e7d32", "cached": "#00838f", "failed": "#c62828",
                   "upstream_failed": "#c62828", "skipped": "#f9a825", "cancelled": "#6a1b9a"}
        rows = "".join(
            f"<tr><td>{html.escape(t.key)}</td>"
            f"<td style='color:{colours.get(t.state.value, '#444')}'>{t.state.value}</td>"
            f"<td>{t.attempts}</td><td>{t.duration:.3f}</td>"
            f"<td>{html.escape((t.error or '')[:300])}</td></tr>"
            for t in list(self.tasks.values())[:500]
        )
        more = "" if len(self.tasks) <= 500 else f"<p>… {len(self.tasks) - 500} more tasks</p>"
        return (f"<div><b>{html.escape(self.summary())}</b><table><thead><tr><th>task</th><th>state"
                f"</th><th>attempts</th><th>seconds</th><th>error</th></tr></thead><tbody>{rows}"
                f"</tbody></table>{more}</div>")
