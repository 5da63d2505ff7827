"""Task definitions: a decorated function is a node; its parameter names are its inputs."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import inspect
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, runtime_checkable

from datamill.core.params import parse_duration
from datamill.errors import UsageError


class Trigger(enum.StrEnum):
    """When a task runs, given the states of its upstream tasks (Airflow's trigger rules)."""

    ALL_SUCCESS = "all_success"  # every upstream succeeded or was cached (default)
    ALL_DONE = "all_done"  # every upstream finished, whatever the outcome
    ANY_FAILED = "any_failed"  # at least one upstream failed (clean-up, alerts)
    NONE_FAILED = "none_failed"  # no upstream failed; skipped upstreams are fine


class Skip(Exception):  # noqa: N818 - reads as an instruction: raise Skip("why")
    """Raise inside a task to skip it (and, by default, its downstream branch)."""

    def __init__(self, reason: str = ""):
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class Context(Protocol):
    """The run context: the one seam between a running task and the platform.

    Annotate a task parameter with it to receive one (``def load(path, ctx: Context)``).
    This protocol lists what the seam offers, so a type checker sees every use of it in
    tasks and in library code that takes ``ctx=``: identity (run, pipeline, task, key,
    attempt, map key, parameters), the logger, metrics, lineage, saved state, secrets, the
    quarantine, sub-tasks and cancellation. The runtime's ``RunContext`` implements it; a
    test may pass any object with these members. What a task records travels back with the
    attempt and is written only if the attempt succeeds (see docs/concepts.md#run-context).
    """

    __slots__ = ()

    run_id: str
    pipeline: str
    task: str
    key: str  # the instance key: ``task`` or ``task[map key]``
    attempt: int
    map_key: str | None
    params: dict[str, Any]
    log: logging.Logger  # lines go to the attempt's log, secrets masked

    # -- saved state (watermarks, broker positions) ----------------------------------
    def get_state(self, key: str, default: Any = None) -> Any:
        """Saved state of this pipeline from earlier runs (or set by this attempt)."""
        ...

    def set_state(self, key: str, value: Any) -> None:
        """Save state for the next run; committed only if the attempt succeeds."""
        ...

    # -- metrics, lineage, reports ---------------------------------------------------
    def metric(self, name: str, value: float, **labels: str) -> None:
        """Record a numeric metric of this attempt."""
        ...

    def record_input(self, dataset: str, schema: Any = None, rows: int | None = None) -> None:
        """Record that this task read ``dataset``."""
        ...

    def record_output(self, dataset: str, schema: Any = None, rows: int | None = None) -> None:
        """Record that this task wrote ``dataset``."""
        ...

    def save_report(self, report: Any, name: str = "report.html") -> str:
        """Keep a report with the run; returns its path in the artifact store."""
        ...

    # -- secrets -----------------------------------------------------------------------
    def secret(self, name: str, default: str | None = None) -> str:
        """A secret from the environment (``NAME`` or ``NAME_FILE``), masked from then on."""
        ...

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values masked in this attempt's logs, errors and lineage."""
        ...

    # -- quarantine --------------------------------------------------------------------
    def quarantine_root(self) -> str | None:
        """Where the run sets rejected rows aside (a folder or an object-store URL), for
        ``datamill.quality.Quarantine``; None when the run has no artifact store."""
        ...

    # -- cancellation and sub-tasks ------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        """True once the attempt timed out or the run was cancelled."""
        ...

    def check_cancelled(self) -> None:
        """Raise if the attempt was cancelled (call it in long loops)."""
        ...

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        """Run a sub-task in parallel; returns its Future."""
        ...

    def map(self, fn: Callable[..., Any], items: Iterable[Any]) -> list[Any]:
        """Run ``fn`` over ``items`` in parallel sub-tasks; the results in order."""
        ...


def is_context_type(annotation: Any) -> bool:
    """Whether a parameter annotated with ``annotation`` receives the run context: the
    protocol itself or a class that declares it as a base (``RunContext``). Decided by
    declaration, not structure: a protocol with attributes cannot be ``issubclass``-checked,
    and a user's class that happens to have a ``log`` is not a context."""
    return annotation is Context or (isinstance(annotation, type)
                                     and Context in getattr(annotation, "__mro__", ()))


CACHE_POLICIES = ("fingerprint", "never")
#: ``checkpoint=``: "always"/True (the default format), "never"/False (not stored: run again
#: on resume when a downstream task needs it), or a table format (docs/checkpoints.md).
CHECKPOINT_POLICIES = ("always", "never", "arrow", "arrow-lz4", "parquet")


@dataclass(eq=False)
class Task:
    """One node of a pipeline: a function plus how to run it."""

    fn: Callable[..., Any]
    name: str
    inputs: dict[str, str] | None = None  # explicit param -> upstream task; None = by name
    retries: int = 0
    retry_delay: float = 1.0
    backoff: float = 2.0
    max_retry_delay: float = 300.0
    jitter: float = 0.1
    timeout: float | None = None
    cache: str = "fingerprint"
    cache_expire: float | None = None  # seconds; set when cache="expire after"
    run_in: str = "thread"
    tags: tuple[str, ...] = ()
    trigger: Trigger = Trigger.ALL_SUCCESS
    pool: str | None = None
    concurrency: int | None = None
    on_failure: Callable[..., Any] | None = None
    on_success: Callable[..., Any] | None = None
    map: tuple[str, str] | None = None  # (parameter, upstream task) mapped item by item
    version: str | Callable[..., Any] | None = None
    checkpoint: bool | str = True  # True, False, or a table format (see CHECKPOINT_POLICIES)
    serializer: str | None = None
    description: str = ""
    signature: inspect.Signature = field(init=False, repr=False)

    def __post_init__(self) -> None:
        functools.update_wrapper(self, self.fn, updated=())  # type: ignore[arg-type]
        self.signature = _signature(self.fn)
        if not self.description:
            doc = inspect.getdoc(self.fn) or ""
            self.description = doc.strip().splitlines()[0] if doc.strip() else ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the plain function: tasks stay testable without the framework."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<datamill task {self.name!r}>"

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    def with_options(self, **changes: Any) -> Task:
        """A copy with other options (e.g. a different name for a generated DAG)."""
        return _validated(replace(self, **changes))

    def options_key(self) -> str:
        """The options that change what a task produces, for its fingerprint."""
        ver = self.version if isinstance(self.version, str) else None
        return f"ser={self.serializer};ver={ver};map={self.map}"


@functools.lru_cache(maxsize=8192)
def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    """Signatures are cached: a generated DAG often makes thousands of tasks of one function."""
    return inspect.signature(fn)


def _validated(t: Task) -> Task:
    where = f"task {t.name!r}"
    if not t.name or not isinstance(t.name, str):
        raise UsageError(f"{where}: name must be a non-empty string")
    if any(c in t.name for c in "[]/\\ \t\n"):
        raise UsageError(f"{where}: name may not contain spaces, slashes or brackets")
    if not isinstance(t.retries, int) or t.retries < 0:
        raise UsageError(f"{where}: retries must be an integer >= 0, got {t.retries!r}")
    if t.timeout is not None and t.timeout <= 0:
        raise UsageError(f"{where}: timeout must be positive seconds, got {t.timeout!r}")
    if t.run_in not in ("thread", "process"):
        raise UsageError(f"{where}: run_in must be 'thread' or 'process', got {t.run_in!r}")
    if t.cache not in CACHE_POLICIES:
        raise UsageError(
            f"{where}: cache must be 'fingerprint', 'never' or a duration like '1h', got {t.cache!r}"
        )
    if t.concurrency is not None and t.concurrency < 1:
        raise UsageError(f"{where}: concurrency must be >= 1, got {t.concurrency!r}")
    if t.checkpoint not in (True, False, *CHECKPOINT_POLICIES[2:]):
        if t.checkpoint in ("always", "never"):  # stored as the boolean the runtime reads
            t.checkpoint = t.checkpoint == "always"
        else:
            raise UsageError(f"{where}: checkpoint must be True, False or one of "
                             f"{', '.join(map(repr, CHECKPOINT_POLICIES))}, got {t.checkpoint!r}")
    if t.run_in == "process" and t.is_async:
        raise UsageError(f"{where}: async tasks run in threads; drop run_in='process'")
    return t


def task(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    inputs: dict[str, str] | None = None,
    retries: int = 0,
    retry_delay: float | str = 1.0,
    backoff: float = 2.0,
    max_retry_delay: float | str = 300.0,
    jitter: float = 0.1,
    timeout: float | str | None = None,
    cache: str | float | dt.timedelta = "fingerprint",
    run_in: str = "thread",
    tags: tuple[str, ...] | list[str] = (),
    trigger: Trigger | str = Trigger.ALL_SUCCESS,
    pool: str | None = None,
    concurrency: int | None = None,
    on_failure: Callable[..., Any] | None = None,
    on_success: Callable[..., Any] | None = None,
    map: str | dict[str, str] | None = None,  # noqa: A002 - the user-facing word
    version: str | Callable[..., Any] | None = None,
    checkpoint: bool | str = True,
    serializer: str | None = None,
) -> Any:
    """Declare a task. Use bare (``@task``) or with options (``@task(retries=3)``).

    ``map="files"`` runs one instance per item of upstream ``files``' output, the item
    passed as the parameter of the same name; ``map={"path": "list_files"}`` names the
    parameter. ``cache`` is ``"fingerprint"``, ``"never"`` or a duration (``"1h"``) after
    which a checkpoint is no longer reused. ``checkpoint`` is True (``"always"``), False
    (``"never"``) or the format of a table output: ``"arrow"`` (default), ``"arrow-lz4"``,
    ``"parquet"``.
    """

    def wrap(f: Callable[..., Any]) -> Task:
        if isinstance(f, Task):
            f = f.fn
        if not callable(f):
            raise UsageError(f"@task needs a function, got {type(f).__name__}")
        cache_policy, expire = _parse_cache(cache, name or f.__name__)
        mapped: tuple[str, str] | None = None
        if isinstance(map, str):
            mapped = (map, map)
        elif isinstance(map, dict):
            if len(map) != 1:
                raise UsageError(f"task {name or f.__name__!r}: map= takes one parameter")
            mapped = next(iter(map.items()))
        elif map is not None:
            raise UsageError(f"task {name or f.__name__!r}: map= takes a task name or {{param: task}}")
        return _validated(
            Task(
                fn=f,
                name=name or f.__name__,
                inputs=dict(inputs) if inputs else None,
                retries=retries,
                retry_delay=_secs(retry_delay),
                backoff=backoff,
                max_retry_delay=_secs(max_retry_delay),
                jitter=jitter,
                timeout=None if timeout is None else _secs(timeout),
                cache=cache_policy,
                cache_expire=expire,
                run_in=run_in,
                tags=tuple(tags),
                trigger=Trigger(trigger),
                pool=pool,
                concurrency=concurrency,
                on_failure=on_failure,
                on_success=on_success,
                map=mapped,
                version=version,
                checkpoint=checkpoint,
                serializer=serializer,
            )
        )

    if fn is not None:
        return wrap(fn)
    return wrap


def _secs(value: float | str) -> float:
    if isinstance(value, int | float):
        return float(value)
    return parse_duration(value).total_seconds()


def _parse_cache(cache: Any, where: str) -> tuple[str, float | None]:
    if cache in CACHE_POLICIES:
        return cache, None
    if isinstance(cache, bool):
        return ("fingerprint" if cache else "never"), None
    try:
        return "fingerprint", parse_duration(cache).total_seconds()
    except (ValueError, TypeError):
        raise UsageError(
            f"task {where!r}: cache must be 'fingerprint', 'never' or a duration like '1h', got {cache!r}"
        ) from None
