"""core/task.py: the @task decorator, its options and their validation."""

from __future__ import annotations

import datetime as dt

import pytest

import datamill
from datamill.core.task import Skip, Task, Trigger, task
from datamill.errors import UsageError


def test_bare_and_configured_decorators_keep_the_plain_function():
    @task
    def add(a: int, b: int) -> int:
        """Adds two numbers.

        More text."""
        return a + b

    @task(retries=2, retry_delay="2s", timeout="1m", tags=["x"], name="plus")
    def add2(a: int, b: int) -> int:
        return a + b

    assert isinstance(add, Task) and add(1, 2) == 3 and add.name == "add"
    assert add.description == "Adds two numbers."
    assert add.__name__ == "add" and add.__doc__.startswith("Adds")
    assert (add2.name, add2.retries, add2.retry_delay, add2.timeout, add2.tags) == (
        "plus", 2, 2.0, 60.0, ("x",))
    assert repr(add2) == "<datamill task 'plus'>"
    assert datamill.task is task


def test_redecorating_a_task_wraps_its_function_not_the_task():
    @task
    def f(x: int) -> int:
        return x

    g = task(retries=1)(f)
    assert g.fn is f.fn and g.retries == 1


@pytest.mark.parametrize(("cache", "policy", "expire"), [
    ("fingerprint", "fingerprint", None),
    ("never", "never", None),
    (False, "never", None),
    (True, "fingerprint", None),
    ("1h", "fingerprint", 3600.0),
    (dt.timedelta(minutes=5), "fingerprint", 300.0),
])
def test_cache_policies(cache, policy, expire):
    t = task(cache=cache)(lambda x: x)
    assert (t.cache, t.cache_expire) == (policy, expire)


@pytest.mark.parametrize(("options", "message"), [
    ({"retries": -1}, "retries must be an integer >= 0"),
    ({"retries": 1.5}, "retries must be an integer >= 0"),
    ({"timeout": 0}, "timeout must be positive"),
    ({"run_in": "gpu"}, "run_in must be 'thread' or 'process'"),
    ({"cache": "sometimes"}, "cache must be 'fingerprint', 'never' or a duration"),
    ({"concurrency": 0}, "concurrency must be >= 1"),
    ({"name": "a b"}, "may not contain spaces"),
    ({"name": "x[1]"}, "may not contain spaces, slashes or brackets"),
    ({"map": {"a": "b", "c": "d"}}, "map= takes one parameter"),
    ({"map": 3}, "map= takes a task name"),
    ({"trigger": "sometimes"}, "sometimes"),
])
def test_invalid_options_are_usage_errors_naming_the_task(options, message):
    def work(x):
        return x

    with pytest.raises((UsageError, ValueError), match=message):
        task(**options)(work)


def test_async_tasks_cannot_run_in_processes():
    async def fetch() -> int:
        return 1

    assert task(fetch).is_async
    with pytest.raises(UsageError, match="async tasks run in threads"):
        task(run_in="process")(fetch)


def test_not_a_function_is_refused():
    with pytest.raises(UsageError, match="@task needs a function"):
        task(42)


def test_map_forms_and_trigger_values():
    t1 = task(map="files")(lambda files: files)
    t2 = task(map={"path": "list_files"}, trigger="all_done")(lambda path: path)
    assert t1.map == ("files", "files")
    assert t2.map == ("path", "list_files") and t2.trigger is Trigger.ALL_DONE


def test_options_key_changes_with_output_relevant_options_only():
    base = task(lambda x: x)
    assert base.options_key() == task(retries=5, timeout=3)(lambda x: x).options_key()
    assert base.options_key() != task(version="2")(lambda x: x).options_key()
    assert base.options_key() != task(serializer="pickle")(lambda x: x).options_key()


def test_with_options_copies_and_validates():
    t = task(lambda x: x)
    renamed = t.with_options(name="other")
    assert renamed.name == "other" and t.name == "<lambda>"
    with pytest.raises(UsageError):
        t.with_options(retries=-2)


def test_skip_carries_its_reason():
    assert Skip("no new files").reason == "no new files"


# -- the run context protocol -------------------------------------------------------------

SEAM = {
    "run_id", "pipeline", "task", "key", "attempt", "map_key", "params", "log",  # identity, logger
    "metric", "record_input", "record_output", "save_report",  # metrics, lineage, reports
    "get_state", "set_state",  # saved state
    "secret", "secrets",  # secrets
    "quarantine_root",  # quarantine
    "submit", "map",  # sub-tasks
    "cancelled", "check_cancelled",  # cancellation
}


def _members(proto: type) -> set[str]:
    names = set(proto.__annotations__)
    names |= {n for n, v in vars(proto).items()
              if not n.startswith("_") and (callable(v) or isinstance(v, property))}
    return names


def test_context_is_a_protocol_listing_the_seam():
    from typing import Protocol

    from datamill.core.task import Context

    assert Protocol in Context.__mro__
    assert _members(Context) == SEAM


def test_run_context_implements_every_member_of_the_protocol():
    from datamill.core.task import Context, is_context_type
    from datamill.runtime.context import RunContext

    ctx = RunContext("run", "pipe", "t", "t[k]", 1, {}, {}, map_key="k")
    for name in SEAM:
        assert hasattr(ctx, name), name
        # implemented by the runtime, not inherited from the protocol's stubs
        assert getattr(RunContext, name, None) is not getattr(Context, name, None) or \
            name in Context.__annotations__, name
    assert isinstance(ctx, Context)
    assert is_context_type(Context) and is_context_type(RunContext)
    assert not is_context_type(int) and not is_context_type("Context")
