"""datamill: one install for data & ML pipelines.

Tasks are plain functions; a task's parameters that name other tasks are its inputs::

    import datamill

    @datamill.task
    def raw(path: datamill.Required[str]):
        ...

    @datamill.task(retries=3)
    def clean(raw):
        ...

    result = datamill.run(__name__, params={"path": "sales.csv"})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datamill._lazy import lazy_exports
from datamill.core.params import Required, Secret
from datamill.core.pipeline import Pipeline, PipelineOptions, options
from datamill.core.task import Context, Skip, Task, Trigger, task

__version__ = "0.1.0"

__all__ = [
    "Context",
    "Pipeline",
    "PipelineOptions",
    "Required",
    "RunResult",
    "Secret",
    "Skip",
    "Task",
    "Trigger",
    "__version__",
    "load_pipeline",
    "options",
    "resume",
    "run",
    "run_async",
    "task",
]

_LAZY = {
    "run": "datamill.runtime.api",
    "run_async": "datamill.runtime.api",
    "resume": "datamill.runtime.api",
    "RunResult": "datamill.runtime.result",
    "load_pipeline": "datamill.runtime.loader",
}

if TYPE_CHECKING:
    from datamill.runtime.api import resume, run, run_async
    from datamill.runtime.loader import load_pipeline
    from datamill.runtime.result import RunResult


__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)
