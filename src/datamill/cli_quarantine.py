"""``datamill quarantine [RUN_ID]``: the rows a run set aside, with why and where from.

Reads the project's quarantine (``<artifacts>/quarantine/``) through
``datamill.quality.Quarantine``; without a run id it shows the newest run that quarantined
rows. Each row carries its rule, reason, column, source, line (or row number) and the
values of the row itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from datamill.errors import UsageError

#: quarantine columns -> the names the command shows (in this order, before the row)
SHOWN = {"_dm_rule": "rule", "_dm_reason": "reason", "_dm_column": "column",
         "_dm_source": "source", "_dm_line": "line", "_dm_row": "row", "_dm_raw": "raw",
         "_dm_run_id": "run", "_dm_task": "task", "_dm_quarantined_at": "quarantined_at"}
_HIDDEN = ("_dm_rules",)


def quarantined_rows(project: Any, run_id: str | None, dataset: str | None) -> tuple[str, Any]:
    """(the run id, its quarantined rows as an Arrow table with readable column names)."""
    from datamill.quality import Quarantine

    q = Quarantine(project.open_artifacts().root)
    if run_id:
        try:
            store = project.open_store()
        except Exception:  # noqa: BLE001 - no store: take the id as given
            store = None
        if store is not None:
            try:
                run_id = store.get_run(run_id).run_id  # a unique prefix is enough
            finally:
                store.close()
    else:
        found = q.runs(dataset)
        if not found:
            where = f" from {dataset!r}" if dataset else ""
            raise UsageError(f"no quarantined rows{where} in {q.folder} (copy --contract and "
                             "on_bad_lines=quarantine put rows there)")
        run_id = found[0]
    table = q.read(dataset, run_id)
    return run_id, _readable(table)


def _readable(table: Any) -> Any:
    front = [c for c in SHOWN if c in table.column_names]
    rest = [c for c in table.column_names if c not in SHOWN and c not in _HIDDEN]
    table = table.select(front + rest)
    return table.rename_columns([SHOWN.get(c, c) for c in front] + rest)


def write_rows(table: Any, output: str) -> None:
    """``-o``: CSV (default), Parquet or JSON lines, by the file's extension."""
    path = Path(output)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        elif suffix in (".json", ".ndjson", ".jsonl"):
            with path.open("w") as f:
                for row in table.to_pylist():
                    f.write(json.dumps(row, default=str) + "\n")
        else:
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, path)
    except OSError as exc:
        raise UsageError(f"-o {output}: {exc.strerror}") from None


def show_quarantine(project: Any, run_id: str | None, dataset: str | None, limit: int,
                    output: str | None, as_json: bool, console: Callable[[], Any]) -> None:
    rid, table = quarantined_rows(project, run_id, dataset)
    if output:
        write_rows(table, output)
        click.echo(f"wrote {output} ({table.num_rows:,} rows quarantined by run {rid})", err=True)
    if as_json:
        click.echo(json.dumps({"run_id": rid, "rows": table.num_rows,
                               "quarantined": table.to_pylist()}, indent=2, default=str))
        return
    if output:
        return
    if table.num_rows == 0:
        click.echo(f"run {rid} quarantined no rows", err=True)
        return
    from rich.markup import escape
    from rich.table import Table

    con = console()
    sources = sorted({s for s in table.column("source").to_pylist() if s}) \
        if "source" in table.column_names else []
    t = Table(title=f"run {rid}: {table.num_rows:,} rows quarantined"
              + (f" from {escape(', '.join(sources))}" if sources else ""), title_justify="left")
    cols = [c for c in ("line", "row", "rule", "reason", "column") if c in table.column_names]
    data = [c for c in table.column_names if c not in SHOWN.values()]
    for c in cols + data:
        t.add_column(escape(c), overflow="fold")
    for row in table.slice(0, limit).to_pylist():
        t.add_row(*["–" if row[c] is None else escape(str(row[c])) for c in cols + data])
    con.print(t)
    if table.num_rows > limit:
        con.print(f"... {table.num_rows - limit:,} more rows (-n, --json or -o rejected.csv for all)")
