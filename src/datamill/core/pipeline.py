"""Pipelines: a static DAG of task definitions, validated when it loads."""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from datamill.core.params import (
    REDACTED,
    ParamSpec,
    SecretRef,
    coerce_value,
    parse_value,
    secret_reference,
    split_annotation,
    type_label,
)
from datamill.core.task import Task, is_context_type, task
from datamill.errors import ParameterError, PipelineDefinitionError, UsageError


@dataclass
class PipelineOptions:
    """Pipeline-wide options, declared in a pipeline module as ``PIPELINE = datamill.options(...)``."""

    name: str | None = None
    fail_fast: bool = False
    pools: dict[str, int] = field(default_factory=dict)
    on_failure: Callable[..., Any] | None = None
    on_success: Callable[..., Any] | None = None
    description: str = ""
    listeners: list[Any] = field(default_factory=list)  # run listeners (docs/listeners.md)


def options(**kwargs: Any) -> PipelineOptions:
    """Declare pipeline options in a pipeline module (name, fail_fast, pools, hooks,
    run listeners)."""
    return PipelineOptions(**kwargs)


@dataclass
class Node:
    """A task resolved inside a pipeline: which parameters are inputs, params, context."""

    task: Task
    inputs: dict[str, str]  # parameter -> upstream task
    params: list[str]  # pipeline parameters it reads
    context_param: str | None
    upstream: tuple[str, ...]
    map_param: str | None = None
    map_source: str | None = None

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def mapped(self) -> bool:
        return self.map_source is not None


@dataclass
class SourceRef:
    """Where a pipeline's code came from, so other processes can load the same functions."""

    kind: str  # "file" | "module" | "object"
    target: str
    attr: str | None = None
    module_name: str | None = None


class Pipeline:
    """A named DAG of tasks. Build from a module, or from a list of tasks for generated DAGs."""

    def __init__(
        self,
        name: str,
        tasks: Iterable[Task | Callable[..., Any]],
        *,
        fail_fast: bool = False,
        pools: dict[str, int] | None = None,
        on_failure: Callable[..., Any] | None = None,
        on_success: Callable[..., Any] | None = None,
        description: str = "",
        listeners: Iterable[Any] = (),
    ):
        self.name = name
        self.fail_fast = fail_fast
        self.pools = dict(pools or {})
        self.on_failure = on_failure
        self.on_success = on_success
        self.description = description
        self.listeners = list(listeners)  # run listeners of every run of this pipeline
        self.source: SourceRef | None = None
        problems: list[str] = []
        task_list = [t if isinstance(t, Task) else task(t) for t in tasks]
        self.tasks: dict[str, Task] = {}
        for t in task_list:
            if t.name in self.tasks:
                if self.tasks[t.name] is t:
                    continue
                problems.append(f"duplicate task name {t.name!r} (two tasks are called {t.name!r})")
                continue
            self.tasks[t.name] = t
        if not name or not isinstance(name, str):
            problems.append("pipeline name must be a non-empty string")
        if not self.tasks and not problems:
            problems.append("it has no tasks (decorate functions with @datamill.task)")
        self.params: dict[str, ParamSpec] = {}
        nodes: dict[str, Node] = {}
        for t in self.tasks.values():
            node = self._resolve(t, problems)
            if node is not None:
                nodes[t.name] = node
        for pool, size in self.pools.items():
            if not isinstance(size, int) or size < 1:
                problems.append(f"pool {pool!r} must have a size >= 1, got {size!r}")
        for n in nodes.values():
            if n.task.pool and n.task.pool not in self.pools:
                problems.append(
                    f"task {n.name!r} uses pool {n.task.pool!r}, which is not declared "
                    f"(declare it with datamill.options(pools={{{n.task.pool!r}: 2}}) or "
                    "[pools] in datamill.toml)"
                )
        if not problems:
            order = _topological(nodes, problems)
        else:
            order = []
        if problems:
            raise PipelineDefinitionError(problems, name)
        self.nodes: dict[str, Node] = {n: nodes[n] for n in order}
        self.downstream: dict[str, list[str]] = {n: [] for n in self.nodes}
        for n in self.nodes.values():
            for up in n.upstream:
                self.downstream[up].append(n.name)

    # -- construction -------------------------------------------------------------------

    def _resolve(self, t: Task, problems: list[str]) -> Node | None:
        explicit = t.inputs or {}
        sig_params = t.signature.parameters
        for pname, up in explicit.items():
            if pname not in sig_params:
                problems.append(
                    f"task {t.name!r}: inputs= names parameter {pname!r}, which the function does not have"
                )
            if up not in self.tasks:
                problems.append(
                    f"task {t.name!r}: input {pname!r} refers to unknown task {up!r}{_suggest(up, self.tasks)}"
                )
        inputs: dict[str, str] = {}
        params: list[str] = []
        ctx_param = None
        hints = _hints(t)
        for pname, p in sig_params.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                problems.append(f"task {t.name!r}: *args/**kwargs are not supported ({p})")
                continue
            ann = hints.get(pname, p.annotation)
            bare, required, secret = split_annotation(ann)
            if is_context_type(bare):
                ctx_param = pname
                continue
            if pname in explicit:
                inputs[pname] = explicit[pname]
                continue
            if t.map and pname == t.map[0]:
                inputs[pname] = t.map[1]
                continue
            if pname in self.tasks and pname != t.name and not required:
                inputs[pname] = pname
                continue
            has_default = p.default is not inspect.Parameter.empty
            if not has_default and not required:
                problems.append(
                    f"task {t.name!r}: parameter {pname!r} names no task and has no default"
                    f"{_suggest(pname, self.tasks)}; give it a default, or mark it "
                    f"Required[{type_label(bare) if bare is not inspect.Parameter.empty else 'str'}]"
                    " if it must be passed with --param"
                )
                continue
            if has_default and required:
                problems.append(
                    f"task {t.name!r}: parameter {pname!r} is marked Required but has a default"
                )
                continue
            tp = bare if bare is not inspect.Parameter.empty else (
                type(p.default) if has_default and p.default is not None else str
            )
            default = p.default if has_default else ParamSpec.__dataclass_fields__["default"].default
            if has_default and p.default is not None and not (secret and secret_reference(p.default)):
                try:
                    coerce_value(p.default, tp, pname)
                except (ParameterError, UsageError) as exc:
                    problems.append(f"task {t.name!r}: default of parameter {pname!r} does not match its type: {exc}")
                    continue
            self._add_param(t.name, pname, tp, default, required, secret, problems)
            params.append(pname)
        if t.map:
            mparam, msrc = t.map
            if mparam not in sig_params:
                problems.append(f"task {t.name!r}: map= names parameter {mparam!r}, which the function does not have")
            if msrc not in self.tasks:
                problems.append(f"task {t.name!r}: map= refers to unknown task {msrc!r}{_suggest(msrc, self.tasks)}")
        upstream = tuple(dict.fromkeys(inputs.values()))
        if t.name in upstream:
            problems.append(f"task {t.name!r} depends on itself")
        return Node(
            task=t,
            inputs=inputs,
            params=params,
            context_param=ctx_param,
            upstream=upstream,
            map_param=t.map[0] if t.map else None,
            map_source=t.map[1] if t.map else None,
        )

    def _add_param(self, task_name, pname, tp, default, required, secret, problems) -> None:
        spec = self.params.get(pname)
        if spec is None:
            self.params[pname] = ParamSpec(pname, tp, default, required, secret, [task_name])
            return
        spec.used_by.append(task_name)
        if spec.annotation != tp and type_label(spec.annotation) != type_label(tp):
            problems.append(
                f"parameter {pname!r} is {type_label(spec.annotation)} in task {spec.used_by[0]!r} "
                f"but {type_label(tp)} in task {task_name!r}; a shared parameter needs one type"
            )
        elif spec.has_default and default is not ParamSpec.__dataclass_fields__["default"].default:
            if spec.default != default:
                problems.append(
                    f"parameter {pname!r} has default {spec.default!r} in task {spec.used_by[0]!r} "
                    f"but {default!r} in task {task_name!r}; a shared parameter needs one default"
                )
        spec.required = spec.required or required
        spec.secret = spec.secret or secret
        if required:
            spec.default = ParamSpec.__dataclass_fields__["default"].default

    @classmethod
    def from_module(cls, module: Any, name: str | None = None, default_name: str | None = None) -> Pipeline:
        """Collect the module's tasks (module-level ``@task`` objects) into a pipeline."""
        opts = None
        tasks: list[Task] = []
        for value in vars(module).values():
            if isinstance(value, Task):
                tasks.append(value)
            elif isinstance(value, PipelineOptions):
                opts = value
        opts = opts or PipelineOptions()
        mod_name = getattr(module, "__name__", "pipeline").rsplit(".", 1)[-1]
        return cls(
            name or opts.name or default_name or mod_name,
            tasks,
            fail_fast=opts.fail_fast,
            pools=opts.pools,
            on_failure=opts.on_failure,
            on_success=opts.on_success,
            listeners=opts.listeners,
            description=opts.description or (inspect.getdoc(module) or "").split("\n")[0],
        )

    # -- queries --------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<datamill pipeline {self.name!r}: {len(self.nodes)} tasks>"

    def __len__(self) -> int:
        return len(self.nodes)

    def ancestors(self, names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        stack = list(names)
        while stack:
            for up in self.nodes[stack.pop()].upstream:
                if up not in out:
                    out.add(up)
                    stack.append(up)
        return out

    def descendants(self, names: Iterable[str]) -> set[str]:
        out: set[str] = set()
        stack = list(names)
        while stack:
            for down in self.downstream[stack.pop()]:
                if down not in out:
                    out.add(down)
                    stack.append(down)
        return out

    def check_task_names(self, names: Iterable[str], option: str) -> list[str]:
        result = []
        for n in names:
            if n not in self.nodes:
                raise UsageError(
                    f"{option} {n!r}: pipeline {self.name!r} has no task {n!r}{_suggest(n, self.nodes)}"
                )
            result.append(n)
        return result

    def resolve_params(
        self,
        given: dict[str, Any] | None,
        *,
        from_strings: bool = False,
        resolve_secret: Callable[[SecretRef, str], str] | None = None,
    ) -> dict[str, Any]:
        """Merge given values with defaults; parse/check types; require required ones.

        A secret parameter given or defaulting to ``env:VAR`` / ``file:PATH`` is read by
        ``resolve_secret`` (the runtime's reader: core does no I/O); without one such a
        reference is an error, never handed to the task as text."""
        given = dict(given or {})
        unknown = [k for k in given if k not in self.params]
        if unknown:
            k = unknown[0]
            known = ", ".join(sorted(self.params)) or "none"
            raise ParameterError(
                f"unknown parameter {k!r} for pipeline {self.name!r}{_suggest(k, self.params)} "
                f"(parameters: {known})"
            )
        values: dict[str, Any] = {}
        missing = []
        for pname, spec in self.params.items():
            if pname in given:
                raw, read = given[pname], False
                if spec.secret and (ref := secret_reference(raw)) is not None:
                    raw, read = _read_secret(ref, pname, resolve_secret), True
                if (from_strings or read) and isinstance(raw, str):
                    values[pname] = parse_value(raw, spec.annotation, pname)
                else:
                    values[pname] = coerce_value(raw, spec.annotation, pname)
            elif spec.has_default:
                ref = secret_reference(spec.default) if spec.secret else None
                values[pname] = spec.default if ref is None else parse_value(
                    _read_secret(ref, pname, resolve_secret), spec.annotation, pname)
            else:
                missing.append(spec)
        if missing:
            lines = [
                f"{s.name} ({s.type_name()}, used by {', '.join(s.used_by)})" for s in missing
            ]
            raise ParameterError(
                f"pipeline {self.name!r} needs parameter(s) " + "; ".join(lines)
                + ". Pass them with --param NAME=VALUE or params={...}"
            )
        return values

    def redact(self, values: dict[str, Any]) -> dict[str, Any]:
        """The parameter values safe to store and log: secrets replaced by ***."""
        return {k: (REDACTED if self.params[k].secret else v) for k, v in values.items()}

    def secret_values(self, values: dict[str, Any]) -> list[str]:
        return [str(v) for k, v in values.items() if self.params[k].secret and v not in (None, "")]


def _read_secret(ref: SecretRef, name: str, reader: Callable[[SecretRef, str], str] | None) -> str:
    if reader is None:
        raise ParameterError(f"secret parameter {name!r} is {ref.scheme}:..., which only a run "
                             "reads (datamill.run / the CLI); pass the value itself here")
    return reader(ref, name)


def _hints(t: Task) -> dict[str, Any]:
    try:
        return _type_hints(t.fn)
    except TypeError:  # unhashable callable
        return _type_hints.__wrapped__(t.fn)


@functools.lru_cache(maxsize=8192)
def _type_hints(fn: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: fall back to raw annotations
        return {}


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _topological(nodes: dict[str, Node], problems: list[str]) -> list[str]:
    indeg = {n: 0 for n in nodes}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    for n in nodes.values():
        for up in n.upstream:
            if up in nodes:
                indeg[n.name] += 1
                children[up].append(n.name)
    ready = [n for n in nodes if indeg[n] == 0]
    order: list[str] = []
    i = 0
    while i < len(ready):
        cur = ready[i]
        i += 1
        order.append(cur)
        for c in children[cur]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    if len(order) < len(nodes):
        cycle = _find_cycle({n: nodes[n].upstream for n in nodes if indeg[n] > 0})
        problems.append("cycle between tasks: " + " -> ".join(cycle))
    return order


def _find_cycle(graph: dict[str, tuple[str, ...]]) -> list[str]:
    color: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        color[n] = 1
        stack.append(n)
        for m in graph.get(n, ()):
            if m not in graph:
                continue
            if color.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if color.get(m) is None:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        color[n] = 2
        return None

    for start in sorted(graph):
        if color.get(start) is None:
            found = visit(start)
            if found:
                # edges point downstream -> upstream; print in data-flow order
                return list(reversed(found))
    return sorted(graph)
