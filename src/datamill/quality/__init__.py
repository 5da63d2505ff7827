"""Data quality: one schema model, contracts, row checks, quarantine and schema drift.

    from datamill.quality import load_contract, check, Quarantine
    result = check(load_contract("orders.yaml"), table, quarantine=Quarantine("."))
    result.good, result.bad, result.error_rate, result.drift, result.passed

See docs/quality.md.
"""

from datamill.quality.contract import (
    CheckResult,
    Contract,
    Rule,
    check,
    coerce,
    load_contract,
    to_table,
)
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
