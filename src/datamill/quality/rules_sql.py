"""Load-time validation of a contract's row rules (SQL expressions) and column regexes.

A row rule is one scalar SQL expression, evaluated by DuckDB per row of a batch. It is
parsed (``json_serialize_sql``) inside ``SELECT (<rule>) FROM batch`` and the whole tree
is checked, not only the select list: the statement must be that one plain ``SELECT`` over
the table ``batch`` (no set operation, no other ``FROM``, ``WHERE``, ``GROUP BY``, CTE,
...), a rule that closes the parenthesis and adds its own ``FROM read_csv(...)`` is
refused, and only scalar functions are allowed (no aggregate, no table, file, network or
settings function). DuckDB's ``enable_external_access=false`` stays on at check time as a
second line. Column regexes are compiled with the engine that runs them (RE2, via Arrow),
so a lookahead or backreference is refused at load, not at the first check.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from datamill.errors import UsageError, require

if TYPE_CHECKING:
    from datamill.quality.contract import Contract
    from datamill.quality.schema import Column

__all__ = ["connect", "duck_type", "validate_column_regexes", "validate_expressions"]

_SAFE_CLASSES = {"COLUMN_REF", "CONSTANT", "COMPARISON", "CONJUNCTION", "OPERATOR", "FUNCTION",
                 "CASE", "CAST", "BETWEEN", "TYPE"}
_BAD_FUNCS = re.compile(r"^(read_|getenv|current_setting|nextval|currval|setseed|random|"
                        r"query|sql_|glob|load|install)", re.I)
# the keys of the SELECT node that must stay empty, with what they would add
_CLAUSES = {"where_clause": "a WHERE clause", "having": "a HAVING clause",
            "qualify": "a QUALIFY clause", "sample": "a SAMPLE clause",
            "group_expressions": "a GROUP BY", "group_sets": "a GROUP BY",
            "modifiers": "ORDER BY / LIMIT / DISTINCT"}


def duck_type(c: Column) -> str:
    return {"int": "BIGINT", "float": "DOUBLE", "str": "VARCHAR", "bool": "BOOLEAN",
            "date": "DATE", "binary": "BLOB", "decimal": f"DECIMAL({c.precision},{c.scale})",
            "datetime": "TIMESTAMPTZ" if c.tz else "TIMESTAMP"}[c.type]


def connect() -> Any:
    """A DuckDB connection with no file or network access."""
    duckdb = require("duckdb", "etl", "contract rules")
    return duckdb.connect(config={"enable_external_access": False})


def _walk(node: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(node, dict):
        if "class" in node and "type" in node:
            out.append(node)
        for v in node.values():
            _walk(v, out)
    elif isinstance(node, list):
        for v in node:
            _walk(v, out)


def _aggregates(con: Any) -> set[str]:
    rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
                       "WHERE function_type = 'aggregate'").fetchall()
    return {r[0] for r in rows}


def _shape_error(stmts: list[dict[str, Any]]) -> str | None:
    """Why the parsed statement is not ``SELECT (<one expression>) FROM batch``, or None."""
    if len(stmts) != 1:
        return "a rule is exactly one expression"
    node = stmts[0].get("node") or {}
    if node.get("type") != "SELECT_NODE":
        kind = str(node.get("setop_type") or node.get("type") or "statement").replace("_", " ")
        return f"a rule is one expression, not a {kind.lower()} of queries"
    if (node.get("cte_map") or {}).get("map"):
        return "a rule cannot define a WITH query"
    for key, what in _CLAUSES.items():
        if node.get(key):
            return f"a rule is one expression; it cannot add {what}"
    src = node.get("from_table") or {}
    if src.get("type") != "BASE_TABLE" or src.get("table_name") != "batch" \
            or src.get("schema_name") or src.get("catalog_name"):
        return "a rule is one expression over the row; it cannot read from another table, " \
               "file or function (a FROM clause)"
    if len(node.get("select_list") or []) != 1:
        return "a rule is exactly one expression"
    return None


def validate_expressions(contract: Contract) -> None:
    """Parse and bind every rule against the contract's columns; raise naming the rule."""
    con = connect()
    try:
        cols = ", ".join(f'NULL::{duck_type(c)} AS "{c.name}"' for c in contract.columns) \
            or "NULL AS _"
        con.execute(f"CREATE TABLE batch AS SELECT {cols} FROM range(2)")
        aggregates = _aggregates(con)
        for r in contract.rules:
            _validate_rule(con, contract, r, aggregates)
    finally:
        con.close()


def _validate_rule(con: Any, contract: Contract, r: Any, aggregates: set[str]) -> None:
    head = f"contract {contract.name!r}: rule {r.name!r} ({r.expr!r})"
    if ";" in r.expr:
        raise UsageError(f"{head}: a rule is one expression; ';' is not allowed")
    try:
        tree = json.loads(con.execute("SELECT json_serialize_sql(?)",
                                      [f"SELECT ({r.expr}) FROM batch"]).fetchone()[0])
    except Exception as exc:  # noqa: BLE001 - reported with the rule
        raise UsageError(f"{head}: {exc}") from None
    if tree.get("error"):
        raise UsageError(f"{head}: syntax error: {tree.get('error_message', 'cannot parse')}")
    stmts = tree.get("statements", [])
    why = _shape_error(stmts)
    if why:
        raise UsageError(f"{head}: {why}")
    nodes: list[dict[str, Any]] = []
    _walk(stmts, nodes)  # the whole statement, not only the select list
    for n in nodes:
        if n["class"] not in _SAFE_CLASSES:
            raise UsageError(f"{head}: {n['class'].lower()} expressions are not allowed in rules")
        if n["class"] == "FUNCTION":
            fn = str(n.get("function_name", ""))
            if _BAD_FUNCS.match(fn):
                raise UsageError(f"{head}: function {fn!r} is not allowed in rules")
            if fn.lower() in aggregates:
                raise UsageError(f"{head}: {fn!r} is an aggregate function; a rule is checked "
                                 "row by row (compare whole-table figures after the check)")
    try:
        out = con.execute(f"SELECT ({r.expr})::BOOLEAN FROM batch").fetchall()
    except Exception as exc:  # noqa: BLE001 - binder errors name the unknown column
        raise UsageError(f"{head}: {str(exc).splitlines()[0]}") from None
    if len(out) != 2:  # anything that is not one value per row (a hidden aggregate)
        raise UsageError(f"{head}: a rule must give one value per row")


def validate_column_regexes(contract: Contract) -> None:
    """Compile every column ``regex`` with RE2, the engine ``check`` runs it with."""
    import pyarrow as pa
    import pyarrow.compute as pc

    probe = pa.array([""], pa.string())
    for c in contract.columns:
        if not c.regex:
            continue
        try:
            pc.match_substring_regex(probe, f"^(?:{c.regex})$")
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise UsageError(
                f"contract {contract.name!r}: column {c.name!r}: field 'regex': {c.regex!r} "
                f"is not supported by the RE2 engine rules run on ({exc}); lookaheads, "
                "lookbehinds and backreferences are not available") from None
