"""Errors raised by datamill. Every message names the task, input or file and the fix.

Exit codes: ``UsageError`` and its subclasses map to 2 (bad usage or input);
``RunFailed`` to 1 (the work failed).
"""

from __future__ import annotations


class DatamillError(Exception):
    """Base class of all datamill errors."""

    exit_code = 1


class UsageError(DatamillError):
    """Bad usage or bad input: the command line, a parameter, a pipeline definition."""

    exit_code = 2


class PipelineDefinitionError(UsageError):
    """The pipeline cannot be built: a cycle, an unknown input, a duplicate name."""

    def __init__(self, problems: list[str] | str, pipeline: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.pipeline = pipeline
        head = f"pipeline {pipeline!r} is invalid" if pipeline else "pipeline is invalid"
        if len(self.problems) == 1:
            super().__init__(f"{head}: {self.problems[0]}")
        else:
            super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class ParameterError(UsageError):
    """A parameter value is missing, unknown or cannot be parsed to its type."""


class MissingExtraError(UsageError):
    """An optional dependency is not installed; the message holds the pip line to run."""

    def __init__(self, module: str, extra: str, feature: str = ""):
        self.module, self.extra = module, extra
        what = f" for {feature}" if feature else ""
        super().__init__(
            f"{module!r} is not installed{what}. Install it with:\n"
            f"    pip install 'datamill[{extra}]'"
        )


class StoreError(DatamillError):
    """The run store or artifact store cannot be used."""


class RunNotFoundError(UsageError):
    """No run with that id (or id prefix) in the run store."""


class RunLockedError(UsageError):
    """A run is still alive (its heartbeat is fresh); it cannot be resumed by another process."""


class CheckpointCorruptError(DatamillError):
    """A checkpoint's checksum does not match what was written; it must be recomputed."""

    def __init__(self, path: str, expected: str, actual: str, task: str | None = None):
        self.path, self.expected, self.actual, self.task = path, expected, actual, task
        who = f" of task {task!r}" if task else ""
        super().__init__(
            f"checkpoint{who} at {path} is corrupt (checksum {actual}, expected {expected}); "
            "it will be recomputed"
        )


class SerializationError(DatamillError):
    """A task output cannot be checkpointed in a safe format."""


class TaskTimeoutError(DatamillError):
    """A task attempt ran longer than its timeout."""


class RunFailed(DatamillError):
    """A run finished with failed tasks (raised only when the caller asks for it)."""

    exit_code = 1


# Optional dependencies: top-level module -> the extra that installs it. The one table
# behind every "pip install 'datamill[extra]'" line.
EXTRAS: dict[str, str] = {
    "psycopg": "postgres",
    "adbc_driver_postgresql": "postgres",
    "adbc_driver_manager": "postgres",
    "pymysql": "mysql",
    "duckdb": "etl",
    "yaml": "etl",
    "openpyxl": "etl",
    "deltalake": "etl",
    "s3fs": "s3",
    "dask": "dask",
    "distributed": "dask",
    "polars": "polars",
    "sklearn": "ml",
    "optuna": "ml",
    "skops": "ml",
    "lightgbm": "ml",
    "xgboost": "ml",
    "scipy": "analytics",
    "statsmodels": "analytics",
    "redis": "stream",
    "nats": "stream",
    "pika": "stream",
    "paho": "stream",
    "pymemcache": "stream",
    "adlfs": "azure",
    "gcsfs": "gcs",
}


def require(module: str, extra: str | None = None, feature: str = ""):
    """Import an optional dependency or raise MissingExtraError with the exact pip line.

    ``extra`` defaults to the one :data:`EXTRAS` names for the module's top-level package.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingExtraError(top, extra or EXTRAS.get(top, "all"), feature) from exc


def missing_extra(exc: BaseException) -> MissingExtraError | None:
    """The MissingExtraError an ImportError of an optional dependency stands for, else None.

    The command line and the task runner use it so that an optional import that was not
    wrapped in :func:`require` still ends in the pip line, never in a traceback.
    """
    if isinstance(exc, MissingExtraError):
        return exc
    if not isinstance(exc, ImportError):
        return None
    name = getattr(exc, "name", None) or ""
    top = name.split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return None
    err = MissingExtraError(top, extra)
    err.__cause__ = exc
    return err
