"""``datamill.run`` and ``datamill.resume``: the Python entry points."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import Any

from datamill._secrets import resolve_param
from datamill.core.pipeline import Pipeline
from datamill.errors import UsageError
from datamill.runtime.engine import Engine, EngineOptions
from datamill.runtime.executors import make_executor
from datamill.runtime.loader import load_pipeline
from datamill.runtime.project import Project, find_project
from datamill.runtime.result import RunResult
from datamill.store.records import State


def _open(project: Project | str | None, store: Any, artifacts: Any) -> tuple[Project, Any, Any]:
    proj = project if isinstance(project, Project) else find_project(project)
    if store is None or isinstance(store, str):
        from datamill.store.runstore import RunStore

        store = RunStore.open(store or proj.store_url, project_root=proj.root)
    if artifacts is None or isinstance(artifacts, str):
        from datamill.store.artifacts import ArtifactStore

        artifacts = ArtifactStore(artifacts or proj.artifacts_root)
    return proj, store, artifacts


def run(
    pipeline: Any,
    params: dict[str, Any] | None = None,
    *,
    workers: int | None = None,
    executor: str | Any = "local",
    only: Iterable[str] = (),
    force: Iterable[str] = (),
    checkpoint: bool = True,
    fail_fast: bool | None = None,
    project: Project | str | None = None,
    store: Any = None,
    artifacts: Any = None,
    progress: Any = None,
    trigger: str = "manual",
    params_from_strings: bool = False,
    raise_on_failure: bool = False,
    handle_signals: bool = True,
    listeners: Iterable[Any] = (),
) -> RunResult:
    """Run a pipeline and return its RunResult (states, outputs, run id).

    ``pipeline`` is a Pipeline, a module, a list of tasks, a ``.py`` path, a module name
    or a name from datamill.toml. Works inside a running event loop (Jupyter) too.
    ``listeners`` watch the run's events, after those the pipeline declares
    (``datamill.options(listeners=...)``; docs/listeners.md).
    """
    proj = project if isinstance(project, Project) else find_project(project)
    p = load_pipeline(pipeline, proj)
    values = p.resolve_params(params, from_strings=params_from_strings,
                              resolve_secret=resolve_param)
    proj, store_, arts = _open(proj, store, artifacts)
    ex = make_executor(executor, workers)
    opts = EngineOptions(workers=workers, checkpoint=checkpoint, fail_fast=fail_fast,
                         only=list(only), force=list(force), trigger=trigger, pools=proj.pools,
                         handle_signals=handle_signals, secret_env=proj.secret_env,
                         openlineage=_openlineage(proj))
    engine = Engine(p, values, store=store_, artifacts=arts, executor=ex, options=opts,
                    progress=progress, target=_target(p), listeners=listeners)
    try:
        result = engine.run()
    finally:
        if store is None:
            store_.close()
    if raise_on_failure:
        result.raise_for_state()
    return result


async def run_async(pipeline: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> RunResult:
    """``await datamill.run_async(...)`` from async code: the run goes to a worker thread."""
    import asyncio  # here, not at the top: a sync run does not pay its import (~30 ms)

    kwargs.setdefault("handle_signals", False)
    return await asyncio.to_thread(run, pipeline, params, **kwargs)


def resume(
    run_id: str,
    params: dict[str, Any] | None = None,
    *,
    pipeline: Any = None,
    workers: int | None = None,
    executor: str | Any = "local",
    project: Project | str | None = None,
    store: Any = None,
    artifacts: Any = None,
    progress: Any = None,
    params_from_strings: bool = False,
    handle_signals: bool = True,
    listeners: Iterable[Any] = (),
) -> RunResult:
    """Continue a failed, cancelled or killed run: completed tasks are reused, the rest run.

    Refuses (RunLockedError) while the run is still alive. Secret parameters are not
    stored, so pass them again in ``params``.
    """
    proj = project if isinstance(project, Project) else find_project(project)
    proj, store_, arts = _open(proj, store, artifacts)
    try:
        rec = store_.get_run(run_id)
        if rec.state == State.SUCCEEDED:
            raise UsageError(f"run {rec.run_id} already succeeded; nothing to resume "
                             "(use `datamill run` to run again)")
        if rec.state == State.RUNNING and store_.is_alive(rec):
            store_.claim_run(rec.run_id, host=socket.gethostname(), pid=os.getpid())  # raises
        p = load_pipeline(pipeline if pipeline is not None else (rec.project or rec.pipeline), proj)
        if p.name != rec.pipeline:
            raise UsageError(f"run {rec.run_id} is of pipeline {rec.pipeline!r}, not {p.name!r}")
        stored = {k: v for k, v in (rec.params or {}).items() if k in p.params}
        given = dict(params or {})
        for k, spec in p.params.items():
            if spec.secret and k in stored and k not in given:
                raise UsageError(f"run {rec.run_id} had secret parameter {k!r}, which is never "
                                 f"stored; pass it again with --param {k}=... (or env:VAR)")
        merged_strings = {k: v for k, v in stored.items() if not p.params[k].secret}
        values = p.resolve_params({**merged_strings, **given},
                                  from_strings=True, resolve_secret=resolve_param)
        claimed = store_.claim_run(rec.run_id, host=socket.gethostname(), pid=os.getpid(),
                                   trigger="resume")
        ex = make_executor(executor, workers)
        opts = EngineOptions(workers=workers, trigger="resume", pools=proj.pools,
                             handle_signals=handle_signals, secret_env=proj.secret_env,
                             openlineage=_openlineage(proj))
        engine = Engine(p, values, store=store_, artifacts=arts, executor=ex, options=opts,
                        progress=progress, resume=claimed, target=_target(p),
                        listeners=listeners)
        return engine.run()
    finally:
        if store is None:
            store_.close()


def _openlineage(proj: Project) -> Any:
    if "openlineage" not in proj.config and not os.environ.get("OPENLINEAGE_URL"):
        return None
    from datamill.runtime.openlineage import Emitter

    return Emitter.from_project(proj)


def _target(p: Pipeline) -> str | None:
    src = p.source
    if src is None:
        return None
    if src.kind == "file":
        return src.target + (f":{src.attr}" if src.attr else "")
    return src.target + (f":{src.attr}" if src.attr else "")
