"""The row check: ``check(contract, data)`` splits a batch into ``good`` rows (coerced to
the contract's types) and ``bad`` rows (as they came, with the rules they failed and
why), vectorised over Arrow compute in parallel slices, with DuckDB for row expressions.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datamill._arrow import filter_rows, first_occurrence, int_keys, take_sorted
from datamill.errors import UsageError
from datamill.quality.coercion import _is_text, _np, coerce
from datamill.quality.contract import Contract, load_contract
from datamill.quality.drift import DriftReport, detect_drift
from datamill.quality.rules_sql import connect as _connect
from datamill.quality.schema import Column
from datamill.quality.seen import SeenKeys

RULE_COLUMNS = ("_dm_rule", "_dm_rules", "_dm_reason", "_dm_column", "_dm_row")
_SLICE = 1 << 20  # rows per parallel slice


@dataclass
class _Check:
    rule: str        # type, not_null, range, allowed, regex, unique, expression
    label: str       # what goes into _dm_rules, e.g. "range:qty"
    column: str | None
    reason: str      # suffix after the value, or the full text when value is None


@dataclass
class CheckResult:
    """The outcome of checking one batch against a contract."""

    contract: str
    good: pa.Table
    bad: pa.Table
    rows: int
    drift: DriftReport
    max_bad_share: float
    quarantine_path: str | None = None
    failures: dict[str, int] = field(default_factory=dict)  # _dm_rules label -> rows

    @property
    def good_rows(self) -> int:
        return self.good.num_rows

    @property
    def bad_rows(self) -> int:
        return self.bad.num_rows

    @property
    def error_rate(self) -> float:
        return self.bad_rows / self.rows if self.rows else 0.0

    @property
    def passed(self) -> bool:
        if self.drift.policy == "fail" and self.drift.found:
            return False
        return self.error_rate <= self.max_bad_share

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = (f"contract {self.contract!r} {verdict}: {self.good_rows} good, {self.bad_rows} bad "
                f"of {self.rows} rows (error rate {self.error_rate:.4%}, allowed "
                f"{self.max_bad_share:.4%})")
        if self.drift.found:
            text += f"; {self.drift.summary()}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"contract": self.contract, "passed": self.passed, "rows": self.rows,
                "good_rows": self.good_rows, "bad_rows": self.bad_rows,
                "error_rate": self.error_rate, "max_bad_share": self.max_bad_share,
                "failures": dict(self.failures), "drift": self.drift.to_dict(),
                "quarantine": self.quarantine_path}


def to_table(data: Any) -> pa.Table:
    """An Arrow table from a table, record batch(es), pandas or Polars frame."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    mod = type(data).__module__
    if mod.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if mod.startswith("polars"):
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if isinstance(data, list | tuple) and data and all(isinstance(b, pa.RecordBatch) for b in data):
        return pa.Table.from_batches(list(data))
    if isinstance(data, dict):
        return pa.table(data)
    raise UsageError(f"cannot check a {type(data).__name__}: give an Arrow table or record "
                     "batch, a pandas or a Polars DataFrame")


def _plan(contract: Contract) -> list[_Check]:
    checks: list[_Check] = []
    for c in contract.columns:
        n = c.name
        checks.append(_Check("type", f"type:{n}", n, f" does not parse as {c.type}"
                             + (f" (format {c.format})" if c.format else "")))
        if not c.nullable:
            checks.append(_Check("not_null", f"not_null:{n}", n, "is null but the column is required"))
        if c.min is not None or c.max is not None:
            op = "<=" if c.inclusive else "<"
            lo = f"{c.min} {op} " if c.min is not None else ""
            hi = f" {op} {c.max}" if c.max is not None else ""
            checks.append(_Check("range", f"range:{n}", n, f" is out of range ({lo}{n}{hi})"))
        if c.allowed is not None:
            shown = ", ".join(map(str, c.allowed[:10])) + (", ..." if len(c.allowed) > 10 else "")
            checks.append(_Check("allowed", f"allowed:{n}", n, f" is not one of {shown}"))
        if c.regex:
            checks.append(_Check("regex", f"regex:{n}", n, f" does not match {c.regex}"))
        if c.unique:
            checks.append(_Check("unique", f"unique:{n}", n, " repeats an earlier row's value"))
    for key in contract.unique:
        if len(key) == 1 and contract.schema[key[0]].unique:
            continue
        label = ",".join(key)
        checks.append(_Check("unique", f"unique:{label}", label if len(key) == 1 else None,
                             f"the key ({label}) repeats an earlier row's key"))
    for r in contract.rules:
        checks.append(_Check("expression", f"expression:{r.name}", None,
                             f"rule {r.name!r} is false: {r.expr}"))
    return checks


def _n_keys(contract: Contract) -> int:
    """How many composite unique keys are checked apart from the column flags."""
    return sum(1 for key in contract.unique
               if not (len(key) == 1 and contract.schema[key[0]].unique))


def _column_masks(raw: pa.Array, col: Column, treat_nullable: bool) -> tuple[pa.Array, list[Any]]:
    """Coerce one column slice and compute its rule masks (None when nothing failed)."""
    values, type_bad = coerce(raw, col)
    masks: list[Any] = [type_bad]
    if not col.nullable:
        if treat_nullable:
            masks.append(None)
        else:
            nulls = pc.is_null(values)
            if type_bad is not None:
                nulls = pc.and_(nulls, pc.invert(type_bad))
            masks.append(nulls)
    if col.min is not None or col.max is not None:
        t = values.type
        bad = None
        if col.min is not None:
            lo = pa.scalar(col.min, t)
            bad = pc.less(values, lo) if col.inclusive else pc.less_equal(values, lo)
        if col.max is not None:
            hi = pa.scalar(col.max, t)
            b2 = pc.greater(values, hi) if col.inclusive else pc.greater_equal(values, hi)
            bad = b2 if bad is None else pc.or_(bad, b2)
        if col.type == "float":
            bad = pc.or_(bad, pc.is_nan(values))
        masks.append(pc.fill_null(bad, False))
    if col.allowed is not None:
        ok = pc.is_in(values, pa.array(col.allowed, values.type))
        masks.append(pc.and_(pc.invert(ok), pc.is_valid(values)))
    if col.regex:
        masks.append(pc.invert(pc.fill_null(pc.match_substring_regex(values, f"^(?:{col.regex})$"), True)))
    if col.unique:
        masks.append(None)  # filled in over the whole table
    return values, [m if m is None or pc.any(m).as_py() else None for m in masks]


def _key_valid(table: pa.Table, key: list[str]) -> np.ndarray:
    """Rows whose key has no null."""
    valid = np.ones(table.num_rows, dtype=bool)
    for k in key:
        col = table.column(k)
        if col.null_count:
            valid &= _np(pc.is_valid(col))
    return valid


def _duplicates(table: pa.Table, key: list[str],
                valid: np.ndarray | None = None) -> np.ndarray | None:
    """Rows whose non-null key already appeared in an earlier row (``valid``: the rows
    whose key has no null, when the caller has it)."""
    n = table.num_rows
    if n < 2:
        return None
    if valid is None:
        valid = _key_valid(table, key)
    v = int_keys(table.column(key[0])) if len(key) == 1 else None
    if v is not None:  # integer, date, timestamp: a stable sort, exact
        if valid.all():
            if len(v) and bool(np.all(v[1:] > v[:-1])):
                return None  # strictly increasing: no repeats (the common id case)
            first = first_occurrence(v)
            dup = np.zeros(n, dtype=bool) if first is True else ~first
        else:
            rows = np.flatnonzero(valid)
            first = first_occurrence(v[rows])
            dup = np.zeros(n, dtype=bool)
            if first is not True:
                dup[rows[~first]] = True
        return dup if dup.any() else None
    sub = table.select(key)
    try:
        import polars as pl
    except ImportError:
        sub = sub.append_column("__dm_i", pa.array(np.arange(n, dtype=np.int64)))
        firsts = sub.group_by(key, use_threads=True).aggregate([("__dm_i", "min")])
        dup = np.ones(n, dtype=bool)
        dup[firsts.column("__dm_i_min").to_numpy()] = False
    else:
        df = pl.from_arrow(sub, rechunk=False)
        assert isinstance(df, pl.DataFrame)
        expr = pl.col(key[0]) if len(key) == 1 else pl.struct(key)
        dup = ~df.select(expr.is_first_distinct())[:, 0].to_numpy()
    dup &= valid
    return dup if dup.any() else None


def _unique_mask(table: pa.Table, key: list[str], seen: SeenKeys | None) -> np.ndarray | None:
    """Repeats within the table and, with ``seen``, of keys from earlier batches."""
    if seen is None:
        return _duplicates(table, key)
    valid = _key_valid(table, key)
    dup = _duplicates(table, key, valid)
    prior = seen.repeats(table, key, valid)
    seen.add(table, key, valid)
    mask = prior if dup is None else (dup | prior)
    return mask if mask.any() else None


def _reasons(checks: list[_Check], first: np.ndarray, bad_raw: pa.Table,
             bad_values: dict[str, pa.Array]) -> pa.Array:
    """Human text for each bad row's first failure, built column-wise per rule."""
    n = len(first)
    parts_idx, parts_txt = [], []
    for i in np.unique(first):
        sel = np.flatnonzero(first == i)
        ck = checks[i]
        if ck.rule in ("type", "range", "allowed", "regex", "unique") and ck.column and \
                (ck.column in bad_raw.column_names or ck.column in bad_values):
            src = bad_raw.column(ck.column) if ck.rule == "type" or ck.column not in bad_values \
                else bad_values[ck.column]
            vals = src.take(pa.array(sel))
            try:
                txt = pc.cast(vals, pa.string())
                quote = "'" if _is_text(vals.type) else ""
                txt = pc.binary_join_element_wise(f"{ck.column} = {quote}", pc.fill_null(txt, "null"),
                                                  f"{quote}{ck.reason}", "")
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                txt = pa.array([f"{ck.column}{ck.reason}"] * len(sel), pa.string())
        elif ck.rule == "not_null":
            txt = pa.array([f"{ck.column} {ck.reason}"] * len(sel), pa.string())
        else:
            txt = pa.array([ck.reason.strip()] * len(sel), pa.string())
        parts_idx.append(sel)
        parts_txt.append(txt)
    order = np.argsort(np.concatenate(parts_idx), kind="stable") if parts_idx else np.array([], int)
    allt = pa.concat_arrays([t.combine_chunks() if isinstance(t, pa.ChunkedArray) else t
                             for t in parts_txt]) if parts_txt else pa.array([], pa.string())
    return allt.take(pa.array(order)) if n else allt


def check(contract: Contract | str | Path, data: Any, *, ctx: Any = None,
          quarantine: Any = None, source: str | None = None, run_id: str | None = None,
          task_key: str | None = None, seen: SeenKeys | None = None) -> CheckResult:
    """Check ``data`` against ``contract``; every input row ends in ``good`` or ``bad``.

    ``seen``: for a stream checked batch by batch, one ``SeenKeys`` passed with every
    batch, so a unique key repeated from an earlier batch is caught too.

    With ``quarantine`` (a ``Quarantine`` or a folder) the bad rows are written there,
    tagged with ``source`` (the dataset identity, default the contract name), the run id
    and task key (taken from ``ctx`` when given). With ``ctx`` the counts are recorded as
    the metrics ``rows_checked``, ``rows_rejected`` and ``error_rate``.
    """
    contract = load_contract(contract) if not isinstance(contract, Contract) else contract
    table = to_table(data)
    n = table.num_rows
    drift = detect_drift(contract.schema, table.schema, contract.drift)
    checks = _plan(contract)
    missing = set(drift.missing)
    evolve = contract.drift == "evolve"

    # slices in parallel threads (Arrow compute releases the GIL)
    bounds = [(s, min(s + _SLICE, n)) for s in range(0, n, _SLICE)] or [(0, 0)]

    def run_slice(b: tuple[int, int]) -> tuple[list[pa.Array], list[Any]]:
        part = table.slice(b[0], b[1] - b[0])
        vals, masks = [], []
        for c in contract.columns:
            raw = part.column(c.name) if c.name not in missing else pa.nulls(part.num_rows)
            v, m = _column_masks(raw, c, treat_nullable=evolve and c.name in missing)
            vals.append(v)
            masks.extend(m)
        return vals, masks

    workers = min(len(bounds), os.cpu_count() or 2)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="datamill-check") if workers > 1 \
        else None
    try:
        parts = list(pool.map(run_slice, bounds)) if pool else [run_slice(b) for b in bounds]
        return _finish(contract, table, parts, bounds, checks, drift, pool, ctx=ctx,
                       quarantine=quarantine, source=source, run_id=run_id, task_key=task_key,
                       seen=seen)
    finally:
        if pool is not None:
            pool.shutdown()


def _finish(contract: Contract, table: pa.Table, parts: list[Any], bounds: list[tuple[int, int]],
            checks: list[_Check], drift: DriftReport, pool: ThreadPoolExecutor | None, *,
            ctx: Any, quarantine: Any, source: str | None, run_id: str | None,
            task_key: str | None, seen: SeenKeys | None) -> CheckResult:
    """Combine the slices' masks, split good from bad rows, write the quarantine."""
    n = table.num_rows
    evolve = contract.drift == "evolve"

    n_col = len(checks) - len(contract.rules) - _n_keys(contract)
    coerced = pa.table({c.name: pa.chunked_array([p[0][j] for p in parts], c.arrow_type())
                        for j, c in enumerate(contract.columns)})
    masks: list[Any] = []
    for k in range(n_col):
        ms = [p[1][k] for p in parts]
        if checks[k].rule == "unique":  # single-column unique flag, over the whole table
            masks.append(_unique_mask(coerced, [checks[k].column], seen))
        elif all(m is None for m in ms):
            masks.append(None)
        else:
            masks.append(pa.chunked_array([
                m if m is not None else pa.array(np.zeros(b - a, bool))
                for m, (a, b) in zip(ms, bounds, strict=True)], pa.bool_()))
    for ck in checks[n_col:]:
        if ck.rule == "unique":
            masks.append(_unique_mask(coerced, ck.label.split(":", 1)[1].split(","), seen))
    if contract.rules:
        masks.extend(_expressions(contract, coerced))

    # combine
    bad_np = np.zeros(n, dtype=bool)
    for m in masks:
        if m is not None:
            bad_np |= _np(m)
    if evolve and drift.new:
        extra = table.select(drift.new)
        for name in drift.new:
            coerced = coerced.append_column(name, extra.column(name))
    if not bad_np.any():
        good = coerced
        bad = _empty_bad(table)
        failures: dict[str, int] = {}
    else:
        idx = np.flatnonzero(bad_np)
        good = filter_rows(coerced, ~bad_np, pool)
        bad_raw = take_sorted(table, idx)
        live = [(k, m) for k, m in enumerate(masks) if m is not None]
        mat = np.stack([_np(m)[idx] for _, m in live])  # (rules failing somewhere) x bad rows
        failures = {checks[k].label: int(mat[j].sum()) for j, (k, _) in enumerate(live)
                    if mat[j].any()}
        first_local = np.argmax(mat, axis=0)
        first = np.array([k for k, _ in live])[first_local]
        rows_t, which = np.nonzero(mat.T)  # ordered by bad row, then by rule
        labels = pa.array([checks[k].label for k, _ in live], pa.string())
        offsets = np.concatenate([[0], np.cumsum(np.bincount(rows_t, minlength=len(idx)))])
        rules_list = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()),
                                              labels.take(pa.array(which)))
        rule_names = pa.array([c.rule for c in checks], pa.string()).take(pa.array(first))
        cols = pa.array([c.column for c in checks], pa.string()).take(pa.array(first))
        bad_coerced = take_sorted(coerced.select([c.name for c in contract.columns]), idx)
        bad_vals = {c.name: bad_coerced.column(c.name) for c in contract.columns}
        reasons = _reasons(checks, first, bad_raw, bad_vals)
        bad = bad_raw
        for name, arr in zip(RULE_COLUMNS, (rule_names, rules_list, reasons, cols,
                                            pa.array(idx, pa.int64())), strict=True):
            if name in bad.column_names:
                bad = bad.drop_columns([name])
            bad = bad.append_column(name, arr)
    result = CheckResult(contract.name, good, bad, n, drift, contract.max_bad_share,
                         failures=failures)
    if ctx is not None:
        run_id = run_id or getattr(ctx, "run_id", None)
        task_key = task_key or getattr(ctx, "key", None)
    if quarantine is not None and bad.num_rows:
        from datamill.quality.quarantine import Quarantine

        q = quarantine if isinstance(quarantine, Quarantine) else Quarantine(quarantine)
        result.quarantine_path = q.write(bad, source=source or contract.name, run_id=run_id,
                                         task_key=task_key)
    if ctx is not None:
        ctx.metric("rows_checked", n)
        ctx.metric("rows_rejected", result.bad_rows)
        ctx.metric("error_rate", result.error_rate)
    return result


def _empty_bad(table: pa.Table) -> pa.Table:
    empty = table.schema.empty_table()
    for name, t in zip(RULE_COLUMNS, (pa.string(), pa.list_(pa.string()), pa.string(),
                                      pa.string(), pa.int64()), strict=True):
        if name in empty.column_names:
            empty = empty.drop_columns([name])
        empty = empty.append_column(name, pa.array([], t))
    return empty


def _expressions(contract: Contract, coerced: pa.Table) -> list[Any]:
    """One failure mask per rule, evaluated by DuckDB over the coerced batch."""
    con = _connect()
    con.register("batch", coerced.select(contract.schema.names))
    sel = ", ".join(f"(({r.expr}) IS FALSE) AS r{i}" for i, r in enumerate(contract.rules))
    try:
        out = con.sql(f"SELECT {sel} FROM batch").to_arrow_table()
    except Exception as exc:  # noqa: BLE001 - a run-time error in a rule (e.g. a bad cast)
        raise UsageError(f"contract {contract.name!r}: a rule failed to evaluate: "
                         f"{str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    masks = []
    for i in range(len(contract.rules)):
        m = out.column(f"r{i}")
        masks.append(m if pc.any(m).as_py() else None)
    return masks

