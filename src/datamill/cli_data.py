"""The data and analytics commands of ``datamill``: ``contract``, ``datasets``,
``quarantine``, ``describe``, ``profile``, ``abtest``, ``explain``.

Every command reads the project once (``--project`` or the nearest ``datamill.toml``) and
passes it down, so a named connection works from any folder; every source is a location
of ``datamill.io`` (``file.csv?delimiter=;``, ``s3://...``, ``URL#table``, a connection).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from datamill.errors import UsageError


def _project(ctx: click.Context) -> Any:
    """The project of this invocation, read once and kept on the click context."""
    from datamill.runtime.project import find_project

    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    if obj.get("project") is None:
        obj["project"] = find_project(obj.get("project_dir"))
        root.obj = obj
    return obj["project"]


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def _console() -> Any:
    """A console for tables: the terminal's width; off a terminal ``COLUMNS`` if set, else
    160 (a pipe or a log file has no width)."""
    from rich.console import Console

    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return Console(width=int(cols))
    return Console() if sys.stdout.isatty() else Console(width=160)


# -- contracts ----------------------------------------------------------------------------


@click.group()
def contract() -> None:
    """Data contracts: draft one from a sample, check data against one."""


def _sample(source: str, rows: int, project: Any) -> Any:
    import pyarrow as pa

    from datamill.io.api import read_batches

    batches, n = [], 0
    for b in read_batches(source, batch_size=min(rows, 100_000), project=project):
        batches.append(b)
        n += b.num_rows
        if n >= rows:
            break
    if not batches:
        raise UsageError(f"{source}: no rows to look at")
    return pa.Table.from_batches(batches).slice(0, rows)


@contract.command("infer")
@click.argument("source")
@click.option("--name", default=None, help="The contract's name (default: from SOURCE).")
@click.option("--sample", type=click.IntRange(1, None), default=100_000, show_default=True,
              help="Rows to look at.")
@click.option("-o", "--output", metavar="FILE", help="Write the YAML draft to FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the draft as JSON instead of YAML.")
@click.pass_context
def contract_infer(ctx: click.Context, source: str, name: str | None, sample: int,
                   output: str | None, as_json: bool) -> None:
    """Draft a contract (YAML) from a sample of SOURCE, for a person to edit."""
    from datamill.quality import infer

    stem = Path(source.split("#")[-1].split("?")[0]).stem or "dataset"
    draft = infer(_sample(source, sample, _project(ctx)), name=name or stem, sample_rows=sample)
    if output:
        try:
            Path(output).write_text(draft.to_yaml())
        except OSError as exc:
            raise UsageError(f"-o {output}: {exc.strerror}") from None
        click.echo(f"wrote {output}: review it before use (ranges and allowed values come from "
                   "the sample)", err=True)
    if as_json:
        _echo_json(draft.to_dict())
    elif not output:
        click.echo(draft.to_yaml())


@contract.command("check")
@click.argument("source")
@click.argument("contract_file", metavar="CONTRACT")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def contract_check(ctx: click.Context, source: str, contract_file: str, as_json: bool) -> None:
    """Check SOURCE against CONTRACT without writing anything: counts per rule, drift."""
    import pyarrow as pa

    from datamill.io.api import read_batches
    from datamill.quality import check, load_contract

    c = load_contract(contract_file)
    batches = list(read_batches(source, project=_project(ctx)))
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    res = check(c, table)
    if as_json:
        _echo_json(res.to_dict())
    else:
        click.echo(res.summary())
        for rule, n in sorted(res.failures.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {rule}: {n:,} rows")
    sys.exit(0 if res.passed else 1)


# -- catalogue ----------------------------------------------------------------------------


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def datasets(ctx: click.Context, as_json: bool) -> None:
    """The dataset catalogue: every dataset read or written by a run; `datasets show` and
    `datasets lineage` look into one."""
    if ctx.invoked_subcommand is not None:
        return
    from datamill.cli_views import list_datasets

    list_datasets(_project(ctx), as_json)


@datasets.command("show")
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def datasets_show(ctx: click.Context, dataset: str, as_json: bool) -> None:
    """One dataset: schema, rows, last written and by which pipeline, freshness."""
    from datamill.cli_views import show_dataset

    show_dataset(_project(ctx), dataset, as_json)


@datasets.command("lineage")
@click.argument("dataset")
@click.option("--depth", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def datasets_lineage(ctx: click.Context, dataset: str, depth: int, as_json: bool) -> None:
    """What produced DATASET and what consumes it (tasks and datasets up and down stream)."""
    from datamill.cli_views import show_lineage

    show_lineage(_project(ctx), dataset, depth, as_json)


# -- quarantine ---------------------------------------------------------------------------


@click.command("quarantine")
@click.argument("run_id", required=False)
@click.option("--dataset", default=None, metavar="NAME", help="Only rows set aside from this source.")
@click.option("-n", "--limit", type=click.IntRange(1, None), default=50, show_default=True,
              help="Rows shown in the table (--json and -o have all).")
@click.option("-o", "--output", metavar="FILE", help="Write the rows to FILE (.csv, .parquet, .json).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.pass_context
def quarantine_cmd(ctx: click.Context, run_id: str | None, dataset: str | None, limit: int,
                   output: str | None, as_json: bool) -> None:
    """Rows a run set aside (rule, reason, source, line and the row itself); default: the
    newest run that quarantined rows."""
    from datamill.cli_quarantine import show_quarantine

    show_quarantine(_project(ctx), run_id, dataset, limit, output, as_json, _console)


# -- analytics ----------------------------------------------------------------------------


def _emit_report(result: Any, output: str | None, as_json: bool, what: str) -> None:
    """The analytics grammar: -o writes the HTML report (JSON for .json), --json prints the
    facts, otherwise a table for people."""
    if output:
        path = Path(output)
        try:
            if path.suffix.lower() == ".json":
                path.write_text(json.dumps(result.to_dict(), indent=2, default=str))
            else:
                path.write_text(result.to_html(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"-o {output}: {exc.strerror}") from None
        click.echo(f"wrote {output} ({path.stat().st_size / 1e6:.2f} MB {what})", err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    elif not output:
        _console().print(result)


def _table(ctx: click.Context, source: str) -> Any:
    """A pandas DataFrame from any connector location (a file with ?options, s3://, a
    database table URL#table, an HTTP API, a named connection of the project)."""
    from datamill.analytics.source import read_table

    return read_table(source, project=_project(ctx))


@click.command()
@click.argument("source")
@click.option("--by", default=None, metavar="COL[,COL]", help="Describe per group of these columns.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def describe(ctx: click.Context, source: str, by: str | None, as_json: bool) -> None:
    """Descriptive statistics of every column of SOURCE (a file or any connector URL)."""
    from datamill.analytics.describe import describe as run_describe
    from datamill.cli_describe import print_describe

    df = _table(ctx, source)
    out = run_describe(df, by=[b.strip() for b in by.split(",")] if by else None)
    if as_json:
        flat = out.reset_index()
        flat.columns = [str(c) if str(c) != "index" else "column" for c in flat.columns]
        click.echo(flat.to_json(orient="records", indent=2, default_handler=str))
        return
    print_describe(_console(), out, title=f"{source}: {len(df):,} rows, {df.shape[1]} columns",
                   grouped=bool(by))


def _check_output(output: str | None) -> None:
    """Refuse an unknown report extension before any work (exit 2)."""
    if output:
        from datamill.analytics.profile import report_format

        report_format(output)


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("-o", "--output", metavar="FILE", help="Write the HTML report (or JSON for .json).")
@click.option("--names", nargs=2, default=None, metavar="NAME_A NAME_B",
              help="Names of the two tables in the report (default: their file names).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison's facts as JSON.")
@click.pass_context
def profile_compare(ctx: click.Context, a: str, b: str, output: str | None,
                    names: tuple[str, str] | None, as_json: bool) -> None:
    """Compare table B with table A (train vs test, this month vs last): schema
    differences, per-column distribution overlays and drift statistics (PSI, KS)."""
    from datamill.analytics.profile_compare import compare

    _check_output(output)
    if not names:
        na, nb = (Path(x.split("?")[0]).name or x for x in (a, b))
        names = (na, nb) if na != nb else ("A", "B")
    report = compare(_table(ctx, a), _table(ctx, b), names=names)
    _emit_report(report, output, as_json, "comparison report")


class _ProfileCommand(click.Command):
    """``profile SOURCE`` and ``profile compare A B``: one command name, two forms, so the
    plain form keeps its arguments and options unchanged."""

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        if args and args[0] == "compare":
            return profile_compare.make_context(f"{info_name} compare", args[1:], parent=parent,
                                                **extra)
        return super().make_context(info_name, args, parent=parent, **extra)


@click.command(cls=_ProfileCommand, epilog="datamill profile compare A B -o diff.html compares "
               "two tables (see datamill profile compare --help).")
@click.argument("source")
@click.option("-o", "--output", metavar="FILE", help="Write the HTML report (or JSON for .json).")
@click.option("--target", default=None, metavar="COL", help="A target column: warn about leakage.")
@click.option("--sample", type=click.IntRange(100, None), default=None, metavar="N",
              help="Rows sampled for the expensive sections.")
@click.option("--minimal", is_flag=True, help="Skip correlations beyond Pearson, VIF, PCA, pair plots.")
@click.option("--json", "as_json", is_flag=True, help="Print the report's facts as JSON.")
@click.pass_context
def profile(ctx: click.Context, source: str, output: str | None, target: str | None,
            sample: int | None, minimal: bool, as_json: bool) -> None:
    """An EDA report of SOURCE: overview, missing values, distributions, correlations,
    outliers, warnings. One self-contained HTML file with -o."""
    from datamill.analytics.profile import profile as run_profile

    _check_output(output)
    df = _table(ctx, source)
    title = Path(source.split("?")[0]).name or source
    report = run_profile(df, target=target, sample=sample, minimal=minimal, title=title)
    if output and Path(output).suffix.lower() not in (".json",):
        try:
            report.save(output)
        except OSError as exc:
            raise UsageError(f"-o {output}: {exc.strerror}") from None
        click.echo(f"wrote {output} ({Path(output).stat().st_size / 1e6:.2f} MB profile)", err=True)
        output = None
        if not as_json:
            return
    if output:
        Path(output).write_text(report.to_json())
        click.echo(f"wrote {output}", err=True)
    if as_json:
        click.echo(report.to_json())
    elif not output:
        _console().print(report)


@click.command()
@click.argument("source")
@click.option("--variant", required=True, metavar="COL", help="The column naming each row's variant.")
@click.option("--outcome", required=True, metavar="COL", help="The outcome: 0/1 (conversion) or a number.")
@click.option("--control", default=None, metavar="VALUE", help="The control variant (default: the first).")
@click.option("--metric", type=click.Choice(["conversion", "mean"]), default=None,
              help="Conversion rate or mean (default: from the outcome).")
@click.option("--time", "time_col", default=None, metavar="COL", help="A time column: check for peeking.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True)
@click.option("-o", "--output", metavar="FILE", help="Write the HTML report (or JSON for .json).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def abtest(ctx: click.Context, source: str, variant: str, outcome: str, control: str | None,
           metric: str | None, time_col: str | None, alpha: float, output: str | None,
           as_json: bool) -> None:
    """Analyse an A/B(/n) test: sample ratio check, frequentist and Bayesian results."""
    from datamill.analytics.abtest import abtest as run_abtest

    _check_output(output)
    df = _table(ctx, source)
    if control is not None and variant in df.columns and df[variant].dtype.kind in "iuf":
        try:
            control = type(df[variant].dropna().iloc[0].item())(control)  # type: ignore[assignment]
        except (ValueError, IndexError):
            pass
    result = run_abtest(df, variant, outcome, control=control, metric=metric, alpha=alpha,
                        time=time_col)
    _emit_report(result, output, as_json, "A/B test report")


@click.command()
@click.argument("source")
@click.option("--metric", required=True, metavar="METRIC",
              help="A column (summed), 'count', or a ratio of two sums like revenue/orders.")
@click.option("--time", "time_col", required=True, metavar="COL", help="The time column.")
@click.option("--by", required=True, metavar="DIM[,DIM]", help="Dimensions to break the change down by.")
@click.option("--compare", nargs=2, required=True, metavar="PERIOD_A PERIOD_B",
              help="Two periods: 2026-05 2026-06, days, or ranges 2026-06-01..2026-06-15.")
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--per", type=click.Choice(["auto", "total", "day"]), default="auto", show_default=True,
              help="Compare period totals or per-day averages (auto: per day when the periods "
                   "differ in length).")
@click.option("-o", "--output", metavar="FILE", help="Write the HTML report (or JSON for .json).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def explain(ctx: click.Context, source: str, metric: str, time_col: str, by: str,
            compare: tuple[str, str], top: int, per: str, output: str | None,
            as_json: bool) -> None:
    """Explain why METRIC changed between two periods: the segments behind the change."""
    from datamill.analytics.explain import explain as run_explain

    _check_output(output)
    df = _table(ctx, source)
    result = run_explain(df, metric, time_col, [b.strip() for b in by.split(",") if b.strip()],
                         compare, top=top, per=per)
    _emit_report(result, output, as_json, "explain report")


DATA_COMMANDS = [contract, datasets]
QUARANTINE_COMMANDS = [quarantine_cmd]
ANALYTICS_COMMANDS = [describe, profile, abtest, explain]


def register(main: click.Group) -> None:
    """Add these commands to the ``datamill`` group."""
    for cmd in (*DATA_COMMANDS, *QUARANTINE_COMMANDS, *ANALYTICS_COMMANDS):
        main.add_command(cmd)
