"""Data quality: one schema model, contracts, row checks, quarantine and schema drift.

    from datamill.quality import load_contract, check, Quarantine
    result = check(load_contract("orders.yaml"), table, quarantine=Quarantine("."))
    result.good, result.bad, result.error_rate, result.drift, result.passed

Modules: ``contract`` (the model and its loading), ``coercion`` (text into column
types), ``checks`` (the row check), ``rules_sql`` (row rules in DuckDB), ``schema``,
``drift``, ``infer`` (a draft from a sample), ``seen`` (unique keys across batches),
``quarantine``. See docs/quality.md.
"""

from datamill.quality.checks import CheckResult, check, to_table
from datamill.quality.coercion import coerce
from datamill.quality.contract import Contract, Rule, load_contract
from datamill.quality.drift import DriftReport, detect_drift, evolve_schema
from datamill.quality.infer import infer
from datamill.quality.quarantine import Quarantine, read_quarantine
from datamill.quality.schema import TYPES, Column, Schema
from datamill.quality.seen import SeenKeys

__all__ = [
    "TYPES",
    "CheckResult",
    "Column",
    "Contract",
    "DriftReport",
    "Quarantine",
    "Rule",
    "Schema",
    "SeenKeys",
    "check",
    "coerce",
    "detect_drift",
    "evolve_schema",
    "infer",
    "load_contract",
    "read_quarantine",
    "to_table",
]
