"""Data contracts: a schema plus row rules, a bad-row threshold and a drift policy.

This module holds the model (``Contract``, ``Rule``) and its loading from YAML, JSON or
Python; ``coercion.py`` turns text into the contract's types and ``checks.py`` splits a
batch into good and bad rows (``check``). Those names are importable from here too, as
they were before the split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamill.errors import UsageError
from datamill.quality.drift import POLICIES
from datamill.quality.rules_sql import validate_column_regexes, validate_expressions
from datamill.quality.schema import Column, Schema, dump_yaml, load_yaml, parse_columns


@dataclass
class Rule:
    """A row-level rule: a SQL boolean expression over the contract's columns.

    Evaluated by DuckDB over the coerced batch; a row fails when the expression is FALSE
    (NULL passes, as in a SQL CHECK constraint). Only scalar expressions are allowed:
    no subqueries, no table functions, no file or network access.
    """

    name: str
    expr: str
    description: str = ""


@dataclass
class Contract:
    """What a dataset must look like; build it in Python or load it from YAML."""

    name: str
    columns: list[Column] = field(default_factory=list)
    unique: list[list[str]] = field(default_factory=list)  # composite keys
    rules: list[Rule] = field(default_factory=list)
    max_bad_share: float = 0.0
    drift: str = "fail"
    description: str = ""

    def __post_init__(self) -> None:
        self.schema  # noqa: B018 - validates duplicate names
        if self.drift not in POLICIES:
            raise UsageError(f"contract {self.name!r}: field 'drift': {self.drift!r} is not one of "
                             f"{', '.join(POLICIES)}")
        if not isinstance(self.max_bad_share, int | float) or isinstance(self.max_bad_share, bool) \
                or not 0 <= self.max_bad_share <= 1:
            raise UsageError(f"contract {self.name!r}: field 'max_bad_share': expected a share "
                             f"between 0 and 1, got {self.max_bad_share!r}")
        names = {c.name for c in self.columns}
        self.unique = [[k] if isinstance(k, str) else list(k) for k in self.unique]
        for key in self.unique:
            for k in key:
                if k not in names:
                    raise UsageError(f"contract {self.name!r}: field 'unique': column {k!r} is "
                                     "not a column of the contract")
        validate_column_regexes(self)
        self.rules = [r if isinstance(r, Rule) else Rule(str(r), str(r)) for r in self.rules]
        if self.rules:
            validate_expressions(self)

    @property
    def schema(self) -> Schema:
        return Schema(self.columns)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["max_bad_share"] = self.max_bad_share
        out["drift"] = self.drift
        out["columns"] = [c.to_dict() for c in self.columns]
        if self.unique:
            out["unique"] = [list(k) for k in self.unique]
        if self.rules:
            out["rules"] = [{"name": r.name, "expr": r.expr,
                             **({"description": r.description} if r.description else {})}
                            for r in self.rules]
        return out

    def to_yaml(self) -> str:
        return dump_yaml(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> Contract:
        prefix = f"{where}: " if where else ""
        if not isinstance(d, dict):
            raise UsageError(f"{prefix}a contract must be a mapping with name and columns")
        known = {"name", "description", "max_bad_share", "drift", "columns", "unique", "rules"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UsageError(f"{prefix}unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        if "columns" not in d:
            raise UsageError(f"{prefix}the contract has no 'columns'")
        name = d.get("name") or (Path(where).stem if where else "dataset")
        rules_in = d.get("rules") or []
        if isinstance(rules_in, dict):
            rules_in = [{"name": k, "expr": v} for k, v in rules_in.items()]
        if not isinstance(rules_in, list):
            raise UsageError(f"{prefix}field 'rules': expected a list of {{name, expr}}")
        rules = []
        for i, r in enumerate(rules_in):
            if isinstance(r, str):
                r = {"name": f"rule_{i + 1}", "expr": r}
            if not isinstance(r, dict) or not isinstance(r.get("expr"), str) \
                    or set(r) - {"name", "expr", "description"}:
                raise UsageError(f"{prefix}rule {i + 1}: expected a mapping with 'name' and "
                                 f"'expr' (text), got {r!r}")
            rules.append(Rule(str(r.get("name") or f"rule_{i + 1}"), r["expr"],
                              str(r.get("description") or "")))
        unique = d.get("unique") or []
        if not isinstance(unique, list) or not all(
                isinstance(k, str) or (isinstance(k, list) and all(isinstance(x, str) for x in k))
                for k in unique):
            raise UsageError(f"{prefix}field 'unique': expected a list of column names or of "
                             f"lists of column names, got {unique!r}")
        try:
            return cls(name=str(name), columns=parse_columns(d["columns"], where), unique=unique,
                       rules=rules, max_bad_share=d.get("max_bad_share", 0.0),
                       drift=d.get("drift", "fail"), description=str(d.get("description") or ""))
        except UsageError as exc:
            msg = str(exc)
            raise UsageError(msg if where and msg.startswith(where) else f"{prefix}{msg}") from None

    @classmethod
    def from_yaml(cls, text: str, where: str = "") -> Contract:
        return cls.from_dict(load_yaml(text, where), where)


def load_contract(source: str | Path | dict[str, Any] | Contract) -> Contract:
    """A contract from a YAML/JSON file, a Python file defining one, a mapping, or as is.

    A Python file must define a ``Contract`` in a variable named ``contract`` (or exactly
    one ``Contract`` anywhere at module level).
    """
    if isinstance(source, Contract):
        return source
    if isinstance(source, dict):
        return Contract.from_dict(source)
    path = Path(source)
    if not path.exists():
        raise UsageError(f"contract file {str(path)!r} does not exist")
    where = str(path)
    if path.suffix == ".py":
        import importlib.util

        spec = importlib.util.spec_from_file_location(f"_datamill_contract_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise UsageError(f"{where}: cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
        found = getattr(module, "contract", None)
        if not isinstance(found, Contract):
            all_ = [v for v in vars(module).values() if isinstance(v, Contract)]
            if len(all_) != 1:
                raise UsageError(f"{where}: define the contract as a module variable named "
                                 f"'contract' (found {len(all_)} Contract objects)")
            found = all_[0]
        return found
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        import json

        try:
            return Contract.from_dict(json.loads(text), where)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not valid JSON ({exc})") from None
    return Contract.from_yaml(text, where)


_MOVED = {
    "check": "checks", "CheckResult": "checks", "to_table": "checks",
    "RULE_COLUMNS": "checks", "coerce": "coercion",
}


def __getattr__(name: str) -> Any:
    """``from datamill.quality.contract import check`` (and the other names that lived
    here before the split) keeps working, without an import cycle."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"datamill.quality.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
