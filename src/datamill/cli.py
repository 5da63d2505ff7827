"""The ``datamill`` command. Thin: parses arguments and calls the layers below.

Grammar: verbs for actions (``run``, ``resume``, ``gc``), nouns for resources where the
bare noun lists (``runs``). ``--json`` prints results as JSON on stdout; ``-o`` writes
files. Exit codes: 0 success, 1 the work failed, 2 bad usage or input, 130 interrupted.
Heavy modules are imported inside commands so ``datamill --help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from datamill.errors import DatamillError, UsageError, missing_extra


def _fail(exc: DatamillError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


class _Group(click.Group):
    """Turns datamill errors into one clear line and the right exit code, no traceback wall."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DatamillError as exc:
            _fail(exc)
        except ImportError as exc:
            extra = missing_extra(exc)
            if extra is None:
                raise
            _fail(extra)


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def _parse_params(pairs: tuple[str, ...], params_file: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if params_file:
        path = Path(params_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise UsageError(f"--params-file {params_file}: {exc.strerror}") from None
        try:
            if path.suffix == ".toml":
                import tomllib

                loaded = tomllib.loads(text)
            elif path.suffix in (".yaml", ".yml"):
                try:
                    import yaml
                except ImportError:
                    raise UsageError("--params-file: YAML needs PyYAML (pip install pyyaml); "
                                     "or use .json / .toml") from None
                loaded = yaml.safe_load(text)
            else:
                loaded = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"--params-file {params_file}: cannot parse: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--params-file {params_file}: expected a mapping of name to value")
        values.update(loaded)
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE")
        k, v = pair.split("=", 1)
        values[k.strip()] = v
    return values


def _project(project_dir: str | None) -> Any:
    from datamill.runtime.project import find_project

    return find_project(project_dir)


def _result_json(result: Any) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "pipeline": result.pipeline,
        "state": result.state.value,
        "seconds": round(result.duration, 4),
        "counts": result.counts(),
        "error": result.error,
        "tasks": [
            {"task": t.key, "label": t.label, "state": t.state.value, "attempts": t.attempts,
             "seconds": t.duration, "queued_seconds": t.queued, "error": t.error}
            for t in result.tasks.values()
        ],
    }


def _finish_run(result: Any, as_json: bool, quiet: bool = False) -> None:
    if as_json:
        _echo_json(_result_json(result))
    code = 0 if result.state.value == "succeeded" else (130 if result.state.value == "cancelled" else 1)
    if code and not quiet:
        click.echo(f"run {result.run_id} {result.state.value}; resume with: "
                   f"datamill resume {result.run_id}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # A timed-out thread cannot be killed; do not let it hold the process open.
    os._exit(code) if _stray_threads() else sys.exit(code)


def _stray_threads() -> bool:
    import threading

    return any(t.name.startswith("datamill-task") and t.is_alive() for t in threading.enumerate())


def _configure_logging(fmt: str, verbose: bool) -> None:
    import logging

    class _Stderr(logging.StreamHandler):
        # look sys.stderr up at each record, so the live display's redirection sees it
        @property  # type: ignore[override]
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    handler = _Stderr()
    if fmt == "json":
        class _Json(logging.Formatter):
            def format(self, r: logging.LogRecord) -> str:
                return json.dumps({"ts": round(r.created, 3), "level": r.levelname,
                                   "logger": r.name, "msg": r.getMessage()})
        handler.setFormatter(_Json())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                               "%H:%M:%S"))
    lg = logging.getLogger("datamill.run")
    lg.addHandler(handler)
    lg.setLevel(logging.DEBUG if verbose else logging.WARNING)
    lg.propagate = False


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="datamill", prog_name="datamill")
@click.option("--project", "project_dir", metavar="DIR", default=None,
              help="Project folder (default: the nearest folder with datamill.toml, else here).")
@click.pass_context
def main(ctx: click.Context, project_dir: str | None) -> None:
    """datamill: data & ML pipelines as checkpointed, resumable DAGs."""
    ctx.obj = {"project_dir": project_dir}


_run_options = [
    click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
                 help="Set a pipeline parameter (repeatable). Secrets accept env:VAR or file:PATH."),
    click.option("--params-file", metavar="FILE", help="Parameters from a JSON, TOML or YAML file."),
    click.option("--workers", "-w", type=click.IntRange(1, 1024), default=None,
                 help="Parallel task slots (threads; processes are capped at the CPU count)."),
    click.option("--executor", "-e", default="local", show_default=True,
                 metavar="local|dask|dask://HOST:PORT", help="Where tasks run."),
    click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."),
    click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                 show_default=True, help="Progress and log lines as text or JSON (for shipping)."),
    click.option("--quiet", "-q", is_flag=True, help="No progress output."),
    click.option("--verbose", "-v", is_flag=True, help="Debug logging of the scheduler."),
]


def _with(options: list[Any]) -> Any:
    def deco(f: Any) -> Any:
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


@main.command()
@click.argument("pipeline")
@_with(_run_options)
@click.option("--only", multiple=True, metavar="TASK",
              help="Run only these tasks; their inputs come from the latest checkpoints.")
@click.option("--force", multiple=True, metavar="TASK",
              help="Recompute TASK and everything downstream of it ('all' for every task).")
@click.option("--no-checkpoint", is_flag=True, help="Do not write checkpoints (no reuse, no resume).")
@click.option("--fail-fast", is_flag=True, default=None,
              help="Cancel the whole run at the first failed task.")
@click.pass_obj
def run(obj: dict[str, Any], pipeline: str, params: tuple[str, ...], params_file: str | None,
        workers: int | None, executor: str, as_json: bool, log_format: str, quiet: bool,
        verbose: bool, only: tuple[str, ...], force: tuple[str, ...], no_checkpoint: bool,
        fail_fast: bool | None) -> None:
    """Run PIPELINE (a .py file, a module, or a name in datamill.toml)."""
    from datamill.runtime import api, progress

    _configure_logging(log_format, verbose)
    values = _parse_params(params, params_file)
    result = api.run(
        pipeline, values, workers=workers, executor=executor, only=only, force=force,
        checkpoint=not no_checkpoint, fail_fast=fail_fast, project=_project(obj["project_dir"]),
        progress=progress.choose(log_format, quiet or as_json and not sys.stderr.isatty()),
        params_from_strings=True,
    )
    _finish_run(result, as_json, quiet)


@main.command()
@click.argument("run_id")
@_with(_run_options)
@click.pass_obj
def resume(obj: dict[str, Any], run_id: str, params: tuple[str, ...], params_file: str | None,
           workers: int | None, executor: str, as_json: bool, log_format: str, quiet: bool,
           verbose: bool) -> None:
    """Continue a failed, cancelled or killed run; completed tasks are not run again."""
    from datamill.runtime import api, progress

    _configure_logging(log_format, verbose)
    values = _parse_params(params, params_file)
    result = api.resume(run_id, values, workers=workers, executor=executor,
                        project=_project(obj["project_dir"]),
                        progress=progress.choose(log_format, quiet or as_json and not sys.stderr.isatty()),
                        params_from_strings=True)
    _finish_run(result, as_json, quiet)


@main.group(cls=_Group, invoke_without_command=True)
@click.option("--pipeline", default=None, help="Only runs of this pipeline.")
@click.option("--state", default=None,
              help="Only runs in this state (running, succeeded, failed, cancelled, ...).")
@click.option("--limit", "-n", type=click.IntRange(1, 100000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def runs(ctx: click.Context, pipeline: str | None, state: str | None, limit: int, as_json: bool) -> None:
    """List runs (newest first); `runs show` and `runs logs` look into one."""
    if ctx.invoked_subcommand is not None:
        return
    from datamill.cli_views import list_runs

    list_runs(_project(ctx.obj["project_dir"]), pipeline, state, limit, as_json)


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def runs_show(obj: dict[str, Any], run_id: str, as_json: bool) -> None:
    """One run: its parameters, state, and every task with timings and errors."""
    from datamill.cli_views import show_run

    show_run(_project(obj["project_dir"]), run_id, as_json)


@runs.command("logs")
@click.argument("run_id")
@click.argument("task", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print log lines as JSON objects.")
@click.pass_obj
def runs_logs(obj: dict[str, Any], run_id: str, task: str | None, as_json: bool) -> None:
    """Log lines of a run, or of one TASK (a task name or instance key)."""
    from datamill.cli_views import show_logs

    show_logs(_project(obj["project_dir"]), run_id, task, as_json)


@main.command()
@click.argument("pipeline")
@click.option("-o", "--output", metavar="FILE", help="Write DOT (.dot) or SVG (.svg) instead of a tree.")
@click.option("--run", "run_id", metavar="RUN_ID", help="Colour tasks by their state in this run.")
@click.option("--json", "as_json", is_flag=True, help="Print nodes and edges as JSON.")
@click.pass_obj
def graph(obj: dict[str, Any], pipeline: str, output: str | None, run_id: str | None,
          as_json: bool) -> None:
    """Show PIPELINE's task graph: a tree here, DOT or SVG with -o."""
    from datamill.cli_views import show_graph

    show_graph(_project(obj["project_dir"]), pipeline, output, run_id, as_json)


@main.command()
@click.option("--keep-last", type=click.IntRange(0, None), default=None,
              help="Keep the newest N runs of each pipeline.")
@click.option("--older-than", metavar="AGE", default=None, help="Delete runs older than AGE (30d, 12h).")
@click.option("--pipeline", default=None, help="Only this pipeline's runs.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def gc(obj: dict[str, Any], keep_last: int | None, older_than: str | None, pipeline: str | None,
       dry_run: bool, as_json: bool) -> None:
    """Apply the retention policy: delete old runs and checkpoints no kept run uses.

    Defaults come from [retention] in datamill.toml (keep_last, older_than), else keep the
    last 20 runs per pipeline.
    """
    from datamill.cli_views import run_gc

    run_gc(_project(obj["project_dir"]), keep_last, older_than, pipeline, dry_run, as_json)


# -- connectors ---------------------------------------------------------------------------


@main.command("copy")
@click.argument("locations", nargs=-1, required=True, metavar="SOURCE... DEST")
@click.option("--contract", metavar="FILE", help="Validate rows against this contract (YAML); "
              "rejected rows go to quarantine with their reason.")
@click.option("--mode", type=click.Choice(["append", "replace", "merge"]), default="append",
              show_default=True, help="How to write DEST (each is all or nothing).")
@click.option("--key", metavar="COL[,COL]", help="Key columns for --mode merge and --dedupe.")
@click.option("--dedupe", type=click.Choice(["first", "last"]), default=None,
              help="Keep one row per --key: its first or last occurrence in source order.")
@click.option("--incremental", metavar="COL", help="Read only rows whose COL is above the "
              "watermark saved by the previous copy of this pair.")
@click.option("--batch-size", type=click.IntRange(1, None), default=100_000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_obj
def copy_cmd(obj: dict[str, Any], locations: tuple[str, ...], contract: str | None, mode: str,
             key: str | None, dedupe: str | None, incremental: str | None, batch_size: int,
             as_json: bool, quiet: bool) -> None:
    """Copy SOURCE (one or more, read in order) to DEST: files (CSV, JSON, Parquet, Delta,
    TFRecord; local or s3://) and database tables (URL#schema.table), validated, recorded
    as a run. Quote globs ('data/*.csv') so the shell does not expand them."""
    from datamill.flows.copy import copy as run_copy

    if len(locations) < 2:
        raise UsageError("copy needs a SOURCE and a DEST: datamill copy SOURCE... DEST")
    sources, dest = list(locations[:-1]), locations[-1]
    progress = on_batch = report = None
    if not quiet and not as_json and sys.stderr.isatty():
        from datamill.cli_progress import RowCounter  # drawn on the terminal, not the capture

        progress = RowCounter("copying").start()
        on_batch = progress.update
    try:
        report = run_copy(sources if len(sources) > 1 else sources[0], dest, contract=contract,
                          mode=mode, key=[k.strip() for k in key.split(",")] if key else None,
                          incremental=incremental, dedupe=dedupe, batch_size=batch_size,
                          project=_project(obj["project_dir"]), on_batch=on_batch)
    finally:
        if progress is not None:
            progress.stop(report.rows_read if report else None, "read" if report else None)
    ok = report.state == "succeeded"
    if as_json:
        _echo_json(report.to_dict())
    else:
        verb = "skipped (this load was already done)" if report.skipped else report.state
        click.echo(f"{report.source} -> {report.dest}: {verb}", err=not ok)
        click.echo(f"  rows read {report.rows_read:,}  written {report.rows_written:,}  "
                   f"quarantined {report.rows_quarantined:,}  deduplicated "
                   f"{report.rows_deduplicated:,}  in {report.seconds:.2f}s "
                   f"({report.rows_per_second:,.0f} rows/s)  run {report.run_id}", err=not ok)
        if report.watermark is not None:
            click.echo(f"  watermark {incremental} = {report.watermark}")
        if report.quarantine:
            click.echo(f"  quarantine {report.quarantine}")
    if report.error:
        click.echo(f"error: {report.error}", err=True)
        if report.exit_code != 2:
            click.echo(f"resume with: datamill resume {report.run_id}", err=True)
    sys.exit(0 if ok else (report.exit_code or 1))


# -- data and analytics: contract, datasets, quarantine, describe, profile, abtest, explain


from datamill.cli_data import register as _register_data  # noqa: E402

_register_data(main)


if __name__ == "__main__":  # pragma: no cover
    main()
