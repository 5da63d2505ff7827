"""SQL transforms on DuckDB over upstream tables, and ``.sql`` files as pipeline tasks.

``sql("select ... from orders join customers using (customer_id)", orders=o, customers=c)``
registers each keyword table as a view (zero-copy for Arrow and Polars) and runs the
query in a fresh in-memory DuckDB connection.

``sql_task("models/daily_revenue.sql")`` turns a query into a datamill task the way dbt
users work: the tables the query reads are the upstream tasks it depends on (found with
DuckDB's own parser, CTE names excluded), and the task's name is the file's stem.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from datamill.errors import UsageError
from datamill.transform._frame import KINDS, kind_of

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _arrowish(name: str, table: Any) -> Any:
    """What DuckDB registers: Arrow and Polars as they are, pandas through Arrow."""
    kind = kind_of(table)
    if kind == "pandas":
        import pyarrow as pa

        return pa.Table.from_pandas(table, preserve_index=False)
    if kind == "polars":
        import polars as pl

        return table.collect() if isinstance(table, pl.LazyFrame) else table
    return table


def sql(query: str, output: str | None = None, **tables: Any) -> Any:
    """Run ``query`` on DuckDB with each keyword table visible under its name.

    ``output`` is ``"arrow"``, ``"pandas"`` or ``"polars"``; by default the kind of the
    first table given (Arrow when none is).
    """
    import duckdb

    if not isinstance(query, str) or not query.strip():
        raise UsageError("sql: the query is empty")
    kinds = [kind_of(t) for t in tables.values()]
    out = output or (kinds[0] if kinds else "arrow")
    if out not in KINDS:
        raise UsageError(f"sql: output must be one of {', '.join(KINDS)}, got {output!r}")
    con = duckdb.connect(":memory:")
    try:
        for name, t in tables.items():
            con.register(name, _arrowish(name, t))
        try:
            rel = con.sql(query)
        except duckdb.CatalogException as exc:
            raise UsageError(f"sql: {_first_line(exc)}; tables given: "
                             f"{', '.join(tables) or '(none)'}") from None
        except (duckdb.ParserException, duckdb.BinderException) as exc:
            raise UsageError(f"sql: {_first_line(exc)}") from None
        if rel is None:
            raise UsageError("sql: the statement returns no table; write a SELECT")
        if out == "pandas":
            return rel.df()
        if out == "polars":
            return rel.pl()
        return rel.to_arrow_table()
    finally:
        con.close()


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


# -- finding the tables a query reads ---------------------------------------------------------

def referenced_tables(query: str) -> list[str]:
    """The unqualified tables a SELECT reads (sorted), by DuckDB's parser; CTE names excluded.

    Table functions (``read_parquet(...)``) and schema-qualified names other than ``main``
    are not tables of the pipeline and are left out.
    """
    import duckdb

    con = duckdb.connect(":memory:")
    try:
        text = con.execute("select json_serialize_sql(?)", [query]).fetchone()[0]  # type: ignore[index]
    finally:
        con.close()
    tree = json.loads(text)
    if tree.get("error"):
        raise UsageError(f"sql_task: cannot parse the query ({tree.get('error_message', 'unknown')}); "
                         "only a single SELECT is supported, or list the tables with inputs=[...]")
    found: set[str] = set()
    ctes: set[str] = set()
    _walk(tree.get("statements", []), found, ctes)
    return sorted(found - ctes)


def _walk(node: Any, found: set[str], ctes: set[str]) -> None:
    if isinstance(node, list):
        for x in node:
            _walk(x, found, ctes)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "BASE_TABLE" and "table_name" in node:
        if node.get("schema_name", "") in ("", "main") and not node.get("catalog_name"):
            found.add(node["table_name"])
    cte_map = node.get("cte_map")
    if isinstance(cte_map, dict):
        for entry in cte_map.get("map", []):
            ctes.add(entry.get("key", ""))
    for v in node.values():
        if isinstance(v, dict | list):
            _walk(v, found, ctes)


# -- .sql files as tasks ------------------------------------------------------------------------

class SqlQuery:
    """The callable behind a ``sql_task``: runs the query over its keyword inputs.

    Its ``repr`` carries a hash of the query text, which is what the task's fingerprint
    sees (there is no Python source to hash), so editing the SQL invalidates the cache.
    """

    def __init__(self, query: str, tables: Mapping[str, str], output: str, name: str, doc: str):
        self.query, self.tables, self.output = query, dict(tables), output
        self.__name__ = self.__qualname__ = name
        self.__doc__ = doc
        self.__module__ = "datamill.transform"
        self.digest = hashlib.sha256(query.encode("utf-8")).hexdigest()
        self.__signature__ = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY) for p in self.tables])

    def __call__(self, **tables: Any) -> Any:
        missing = [p for p in self.tables if p not in tables]
        if missing:
            raise UsageError(f"sql task {self.__name__!r}: missing input tables {missing}")
        return sql(self.query, output=self.output, **{self.tables[p]: t for p, t in tables.items()})

    def __repr__(self) -> str:
        return f"SqlQuery({self.__name__!r}, sha256={self.digest}, output={self.output!r})"

    def __reduce__(self) -> Any:  # picklable for process and Dask executors
        return (SqlQuery, (self.query, self.tables, self.output, self.__name__, self.__doc__ or ""))


def sql_task(path_or_query: str | Path, name: str | None = None,
             inputs: Iterable[str] | Mapping[str, str] | None = None, *, output: str = "arrow",
             **task_options: Any) -> Any:
    """Make a datamill task from a ``.sql`` file or a query string.

    The tables the query reads name the upstream tasks (``select ... from orders`` depends
    on task ``orders``), found with DuckDB's parser; ``inputs=["orders", "customers"]``
    lists them instead, and ``inputs={"o": "orders"}`` lets the query call task ``orders``
    ``o``. ``name`` defaults to the file's stem (required for a query string). The result
    is an Arrow table by default (``output="pandas"`` / ``"polars"``). Other keyword
    options go to ``datamill.task`` (``retries=``, ``cache=``, ``tags=`` ...).
    """
    from datamill.core.task import task

    text, default_name, doc = _read(path_or_query)
    name = name or default_name
    if not name:
        raise UsageError("sql_task: give name= for a query string (the task's name)")
    if output not in KINDS:
        raise UsageError(f"sql_task {name!r}: output must be one of {', '.join(KINDS)}, got {output!r}")
    explicit: dict[str, str] | None = None
    if inputs is None:
        names = referenced_tables(text)
    elif isinstance(inputs, Mapping):
        names, explicit = list(inputs), dict(inputs)  # name in the SQL -> upstream task
    else:
        names = list(inputs)
    for alias in names:
        if not _IDENT.match(alias):
            raise UsageError(f"sql_task {name!r}: table name {alias!r} is not a plain identifier; "
                             "map it with inputs={'alias': 'task_name'}")
    tables = {t: t for t in names}
    fn = SqlQuery(text, tables, output, name, doc or f"SQL transform {name}")
    return task(fn, name=name, inputs=explicit, **task_options)


def _read(path_or_query: str | Path) -> tuple[str, str | None, str]:
    """(query, default task name, first comment line as the description)."""
    p = Path(path_or_query) if isinstance(path_or_query, Path) or (
        isinstance(path_or_query, str) and path_or_query.strip().endswith(".sql")
        and "\n" not in path_or_query) else None
    if p is not None:
        if not p.is_file():
            raise UsageError(f"sql_task: no such SQL file: {p}")
        text, default = p.read_text(encoding="utf-8"), p.stem
    else:
        text, default = str(path_or_query), None
    text = text.strip().rstrip(";").strip()
    if not text:
        raise UsageError(f"sql_task: the query{f' in {p}' if p else ''} is empty")
    doc = ""
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("--"):
            doc = s.lstrip("-").strip()
            break
        if s:
            break
    return text, default, doc


__all__ = ["SqlQuery", "referenced_tables", "sql", "sql_task"]
