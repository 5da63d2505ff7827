"""What the read-only CLI commands print: tables for people, JSON for scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from datamill.errors import UsageError

_COLOURS = {
    "succeeded": "green", "cached": "cyan", "failed": "red", "upstream_failed": "red",
    "skipped": "yellow", "cancelled": "magenta", "running": "blue", "pending": "dim",
}


def _e(text: Any) -> str:
    """Escape user text (task keys like ``load[3fa9]``, errors) for rich markup."""
    from rich.markup import escape

    return escape(str(text))


def _console() -> Any:
    import sys

    from rich.console import Console

    # a pipe or a log file has no width: do not squash tables into 80 columns
    return Console() if sys.stdout.isatty() else Console(width=160)


def _ago(dt: datetime | None) -> str:
    if dt is None:
        return "-"
    secs = (datetime.now(UTC) - dt).total_seconds()
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{int(secs // n)}{unit} ago"
    return f"{int(secs)}s ago"


def _secs(a: datetime | None, b: datetime | None) -> str:
    if a is None or b is None:
        return "-"
    return f"{(b - a).total_seconds():.2f}"


def _state_label(store: Any, run: Any) -> str:
    s = run.state.value
    if s == "running" and not store.is_alive(run):
        return "running (dead: no heartbeat)"
    return s


def _run_json(store: Any, r: Any) -> dict[str, Any]:
    return {
        "run_id": r.run_id, "pipeline": r.pipeline, "state": r.state.value,
        "alive": store.is_alive(r) if r.state.value == "running" else False,
        "trigger": r.trigger, "params": r.params, "created_at": r.created_at,
        "started_at": r.started_at, "ended_at": r.ended_at, "heartbeat_at": r.heartbeat_at,
        "host": r.host, "pid": r.pid, "error": r.error, "source": r.project,
    }


def _check_state(state: str | None) -> None:
    from datamill.store.records import State

    valid = [s.value for s in State]
    if state is not None and state not in valid:
        raise UsageError(f"--state {state!r} is not a run state; use one of: {', '.join(valid)}")


def _shown(key: str, label: str | None) -> str:
    return f"{key} ({label})" if label else key


def list_runs(project: Any, pipeline: str | None, state: str | None, limit: int, as_json: bool) -> None:
    _check_state(state)
    store = project.open_store()
    try:
        rows = store.list_runs(pipeline=pipeline, state=state, limit=limit)
        if as_json:
            click.echo(json.dumps([_run_json(store, r) for r in rows], indent=2, default=str))
            return
        if not rows:
            click.echo("no runs yet" + (f" of pipeline {pipeline!r}" if pipeline else ""))
            return
        from rich.table import Table

        table = Table(caption=f"run store: {store.url_display}", caption_justify="left")
        table.add_column("run id", no_wrap=True)
        table.add_column("pipeline", no_wrap=True)
        for col in ("state", "trigger", "started", "seconds"):
            table.add_column(col, no_wrap=True)
        table.add_column("error", overflow="fold")
        for r in rows:
            label = _state_label(store, r)
            c = _COLOURS.get(r.state.value, "")
            table.add_row(r.run_id, _e(r.pipeline), f"[{c}]{label}[/]", r.trigger, _ago(r.started_at),
                          _secs(r.started_at, r.ended_at), _e((r.error or "")[:80]))
        _console().print(table)
    finally:
        store.close()


def show_run(project: Any, run_id: str, as_json: bool) -> None:
    from datamill.store.catalog import run_reports

    store = project.open_store()
    try:
        r = store.get_run(run_id)
        tasks = store.task_runs(r.run_id)
        if as_json:
            per: dict[str, list[Any]] = {}
            for a in store.attempts(r.run_id):
                per.setdefault(a.task_key, []).append(a)
            out = _run_json(store, r)
            out["tasks"] = [
                {"task": t.task_key, "label": t.label, "state": t.state.value,
                 "attempts": t.attempts, "seconds": t.duration_s, "queued_seconds": t.queued_s,
                 "rows_in": t.rows_in, "rows_out": t.rows_out,
                 "bytes": t.bytes, "fingerprint": t.fingerprint, "checkpoint": t.checkpoint,
                 "cached_from": t.cached_from_run, "error": t.error, "traceback": t.traceback,
                 "started_at": t.started_at, "ended_at": t.ended_at,
                 "attempt_times": [_attempt_json(a) for a in per.get(t.task_key, [])]}
                for t in tasks
            ]
            out["reports"] = run_reports(store, r.run_id)
            click.echo(json.dumps(out, indent=2, default=str))
            return
        from rich.table import Table

        con = _console()
        c = _COLOURS.get(r.state.value, "")
        con.print(f"[bold]run {r.run_id}[/]  pipeline [bold]{_e(r.pipeline)}[/]  "
                  f"state [{c}]{_state_label(store, r)}[/]  trigger {r.trigger}")
        con.print(f"started {r.started_at}  ended {r.ended_at or '-'}  "
                  f"seconds {_secs(r.started_at, r.ended_at)}  host {r.host} pid {r.pid}")
        if r.params:
            con.print("params: " + _e(", ".join(f"{k}={v!r}" for k, v in r.params.items())))
        if r.error:
            con.print(f"[red]error:[/] {_e(r.error)}")
        counts: dict[str, int] = {}
        for t in tasks:
            counts[t.state.value] = counts.get(t.state.value, 0) + 1
        con.print("tasks: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
        table = Table(title_justify="left")
        for col in ("task", "state", "attempts", "seconds", "queued", "rows in", "rows out",
                    "error"):
            table.add_column(col, overflow="fold")
        for t in tasks[:500]:
            tc = _COLOURS.get(t.state.value, "")
            table.add_row(_e(_shown(t.task_key, t.label)), f"[{tc}]{t.state.value}[/]",
                          str(t.attempts),
                          "-" if t.duration_s is None else f"{t.duration_s:.3f}",
                          "-" if t.queued_s is None else f"{t.queued_s:.3f}",
                          "-" if t.rows_in is None else str(t.rows_in),
                          "-" if t.rows_out is None else str(t.rows_out), _e((t.error or "")[:160]))
        con.print(table)
        if len(tasks) > 500:
            con.print(f"... {len(tasks) - 500} more tasks (use --json for all)")
        for rep in run_reports(store, r.run_id):
            con.print(f"report of {_e(rep['task'])}: {_e(rep['location'])}")
        failed = [t for t in tasks if t.state.value == "failed" and t.traceback]
        for t in failed[:3]:
            con.print(f"\n[red]traceback of {_e(_shown(t.task_key, t.label))}:[/]\n"
                      f"{_e(t.traceback)}")
        if r.state.value in ("failed", "cancelled") or (
                r.state.value == "running" and not store.is_alive(r)):
            con.print(f"resume with: datamill resume {r.run_id}")
    finally:
        store.close()


def _attempt_json(a: Any) -> dict[str, Any]:
    wait = run = None
    if a.queued_at is not None and a.started_at is not None:
        wait = round((a.started_at - a.queued_at).total_seconds(), 6)
    if a.duration_s is not None:
        run = a.duration_s
    return {"attempt": a.attempt, "state": a.state.value, "queued_at": a.queued_at,
            "started_at": a.started_at, "ended_at": a.ended_at, "seconds": run,
            "queued_seconds": wait, "worker": a.worker, "error": a.error}


def show_logs(project: Any, run_id: str, task: str | None, as_json: bool) -> None:
    from datamill.runtime.logs import format_line

    store = project.open_store()
    arts = project.open_artifacts()
    try:
        r = store.get_run(run_id)
        attempts = store.attempts(r.run_id)
        if task:
            keys = {a.task_key for a in attempts}
            chosen = [a for a in attempts if a.task_key == task or a.task_key.split("[")[0] == task]
            if not chosen and task not in keys:
                names = sorted({k.split("[")[0] for k in keys})
                raise UsageError(f"run {r.run_id} has no task {task!r} (tasks: {', '.join(names)})")
            attempts = chosen
        lines: list[dict[str, Any]] = []
        for a in attempts:
            if not a.log_path:
                continue
            try:
                raw = arts.read_bytes(a.log_path)
            except (FileNotFoundError, OSError):
                continue
            for ln in raw.decode("utf-8", "replace").splitlines():
                try:
                    lines.append(json.loads(ln))
                except ValueError:
                    continue
        lines.sort(key=lambda d: d.get("ts", 0))
        labels = {t.task_key: t.label for t in store.task_runs(r.run_id) if t.label}
        for ln in lines:
            label = labels.get(ln.get("task", ""))
            if label:
                ln = {**ln, "label": label} if as_json else {**ln, "task": _shown(ln["task"], label)}
            click.echo(format_line(ln, "json" if as_json else "text"))
        if not lines and not as_json:
            click.echo(f"no log lines for run {r.run_id}" + (f" task {task}" if task else ""), err=True)
    finally:
        store.close()


def _spec(pipeline: Any, states: dict[str, str] | None = None) -> Any:
    from datamill.render import GraphNode, GraphSpec

    nodes = [
        GraphNode(name=n.name, mapped=n.mapped, tags=tuple(n.task.tags),
                  state=(states or {}).get(n.name), detail=n.task.description)
        for n in pipeline.nodes.values()
    ]
    edges = [(u, n.name) for n in pipeline.nodes.values() for u in n.upstream]
    return GraphSpec(name=pipeline.name, nodes=nodes, edges=edges)


def show_graph(project: Any, target: str, output: str | None, run_id: str | None, as_json: bool) -> None:
    from datamill import render
    from datamill.runtime.loader import load_pipeline

    p = load_pipeline(target, project)
    states = None
    if run_id:
        store = project.open_store()
        try:
            run = store.get_run(run_id)
            from datamill.runtime.engine import _aggregate
            from datamill.store.records import State

            per: dict[str, list[State]] = {}
            for t in store.task_runs(run.run_id):
                per.setdefault(t.task, []).append(t.state)
            states = {k: _aggregate(v).value for k, v in per.items()}
        finally:
            store.close()
    spec = _spec(p, states)
    if as_json:
        click.echo(json.dumps({
            "pipeline": p.name,
            "nodes": [{"name": n.name, "mapped": n.mapped, "tags": list(n.task.tags),
                       "params": n.params, "inputs": n.inputs, "trigger": n.task.trigger.value,
                       "run_in": n.task.run_in, "state": (states or {}).get(n.name)}
                      for n in p.nodes.values()],
            "edges": [list(e) for e in spec.edges],
            "params": {k: {"type": s.type_name(), "required": s.required and not s.has_default,
                           "secret": s.secret,
                           "default": None if not s.has_default or s.secret else s.default}
                       for k, s in p.params.items()},
        }, indent=2, default=str))
        return
    if output:
        try:
            fmt = render.format_for_path(output)
        except ValueError as exc:
            raise UsageError(f"-o {output}: {exc}") from None
        text = render.render(spec, fmt)
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        click.echo(f"wrote {output} ({fmt}, {len(p.nodes)} tasks)", err=True)
        return
    _console().print(render.to_rich(spec))


def run_gc(project: Any, keep_last: int | None, older_than: str | None, pipeline: str | None,
           dry_run: bool, as_json: bool) -> None:
    from datamill.store.retention import apply_retention

    store = project.open_store()
    try:
        report = apply_retention(store, project.open_artifacts(), keep_last, older_than,
                                 pipeline, config=project.config, dry_run=dry_run)
        out = report.to_dict()
        if as_json:
            click.echo(json.dumps(out, indent=2))
        else:
            verb = "would delete" if dry_run else "deleted"
            click.echo(f"{verb} {len(report.run_ids)} run(s) and {report.checkpoints_deleted} "
                       f"checkpoint file(s), {report.bytes_freed / 1e6:.1f} MB (policy: "
                       f"keep_last={report.keep_last}, older_than={report.older_than})")
    finally:
        store.close()


def list_datasets(project: Any, as_json: bool) -> None:
    from datamill.store.catalog import list_datasets as catalog

    store = project.open_store()
    try:
        infos = catalog(store)
        if as_json:
            click.echo(json.dumps([i.to_dict() for i in infos], indent=2, default=str))
            return
        if not infos:
            click.echo("no datasets yet: tasks record them with ctx.record_input / record_output, "
                       "and datamill.io does it for every read and write")
            return
        from rich.table import Table

        table = Table(title_justify="left")
        for col in ("dataset", "rows", "columns", "last written", "by", "reads"):
            table.add_column(col, overflow="fold")
        for i in infos:
            cols = len(i.schema) if isinstance(i.schema, list) else "-"
            table.add_row(_e(i.dataset), "-" if i.rows is None else f"{i.rows:,}", str(cols),
                          _ago(i.last_written), _e(i.written_by or "-"), str(i.reads))
        _console().print(table)
    finally:
        store.close()


def show_dataset(project: Any, name: str, as_json: bool) -> None:
    from datamill.store.catalog import find_dataset

    store = project.open_store()
    try:
        info = find_dataset(store, name)
        if as_json:
            click.echo(json.dumps(info.to_dict(), indent=2, default=str))
            return
        con = _console()
        con.print(f"[bold]{_e(info.dataset)}[/]")
        con.print(f"rows {info.rows if info.rows is not None else '-'}  last written "
                  f"{_ago(info.last_written)} by {_e(info.written_by or '-')}  writes {info.writes}  "
                  f"reads {info.reads}")
        con.print("producers: " + _e(", ".join(info.producers) or "-"))
        con.print("consumers: " + _e(", ".join(info.consumers) or "-"))
        if isinstance(info.schema, list):
            from rich.table import Table

            t = Table(title="schema", title_justify="left")
            t.add_column("column")
            t.add_column("type")
            for f in info.schema:
                t.add_row(_e(f.get("name", "?")), _e(f.get("type", "?")))
            con.print(t)
    finally:
        store.close()


def show_lineage(project: Any, name: str, depth: int, as_json: bool) -> None:
    from datamill.store.catalog import find_dataset, lineage

    store = project.open_store()
    try:
        info = find_dataset(store, name)
        graph = lineage(store, info.dataset, depth)
        if as_json:
            click.echo(json.dumps(graph, indent=2))
            return
        from datamill.render import GraphNode, GraphSpec, to_rich

        names = sorted({n for e in graph["edges"] for n in e} | {info.dataset})
        nodes = [GraphNode(name=n.removeprefix("task:"), kind="task" if n.startswith("task:")
                           else "dataset") for n in names]
        edges = [(a.removeprefix("task:"), b.removeprefix("task:")) for a, b in graph["edges"]]
        _console().print(to_rich(GraphSpec(name=f"lineage of {info.dataset}", nodes=nodes,
                                           edges=edges)))
    finally:
        store.close()
