"""Read a table for analysis through ``datamill.io``: every location the connectors accept
(a local file or folder with ``?options``, ``s3://``, a database ``URL#table``, an HTTP
API, a named connection of the project), so every command shares one location grammar.
Arrow's types become the pandas dtypes users expect (nullable integers stay numbers, text
stays ``object``), and text columns of ISO dates become datetimes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datamill.errors import UsageError, missing_extra

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".json", ".ndjson", ".jsonl", ".xlsx", ".xls")

# extensions the connectors do not map to a format themselves
_EXTRA_FORMATS = {".txt": "csv", ".xls": "excel"}


def read_table(source: str | Path, *, columns: list[str] | None = None, project: Any = None) -> Any:
    """A pandas DataFrame from any connector location (``project``: the project whose
    ``datamill.toml`` names the connections; default: the one around the current folder)."""
    from datamill.io.api import read

    text = str(source)
    options: dict[str, Any] = {}
    base = text.split("?", 1)[0]
    suffix = Path(base).suffix.lower()
    if suffix in _EXTRA_FORMATS and "format=" not in text and "#" not in text:
        options["format"] = _EXTRA_FORMATS[suffix]
    if "://" not in base and "#" not in base and not any(ch in base for ch in "*?[") \
            and (suffix or "/" in base) and not Path(base).expanduser().exists():
        raise UsageError(f"{source}: no such file or folder")
    try:
        table = read(text, columns=columns, project=project, **options)
    except ImportError as exc:
        extra = missing_extra(exc)  # the pip line of the extra, when it is one
        if extra is not None:
            raise extra from exc
        raise UsageError(f"{source}: reading it needs an optional package: {exc}") from None
    return parse_dates(arrow_to_pandas(table))


def arrow_to_pandas(table: Any) -> Any:
    """pandas dtypes an analyst expects from an Arrow table: numbers as numpy numbers
    (integers with nulls as floats), text as ``object``, timestamps as ``datetime64``."""
    return table.to_pandas(date_as_object=False)


def require_columns(df: Any, cols: list[str]) -> None:
    """A clear error naming the first unknown column and listing the available ones."""
    missing = [c for c in cols if c not in df.columns]
    if missing:
        avail = ", ".join(map(str, df.columns[:40])) + (" …" if len(df.columns) > 40 else "")
        raise UsageError(f"unknown column {missing[0]!r}; available columns: {avail or '(none)'}")


def parse_dates(df: Any, sample: int = 500) -> Any:
    """Text columns that hold ISO dates or timestamps become datetimes (CSV has no types):
    a column converts when at least 95% of a sample of its non-empty values parse."""
    import warnings

    import pandas as pd

    for col in df.columns:
        s = df[col]
        if s.dtype.kind not in "OU" and str(s.dtype) not in ("string", "str"):
            continue
        probe = s.dropna().astype(str).head(sample)
        if probe.empty or not probe.str.match(r"^\d{4}-\d{2}-\d{2}").mean() >= 0.95:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = pd.to_datetime(probe, errors="coerce", format="ISO8601")
            if parsed.notna().mean() >= 0.95:
                df[col] = pd.to_datetime(s, errors="coerce", format="ISO8601")
    return df


def to_pandas(data: Any) -> Any:
    """Accept pandas, Polars or Arrow tables (and a path) and return a pandas DataFrame."""
    if isinstance(data, str | Path):
        return read_table(data)
    mod = type(data).__module__.split(".")[0]
    if mod == "pandas":
        return data
    if mod == "polars":
        return data.to_pandas()
    if mod == "pyarrow":
        return data.to_pandas()
    import pandas as pd

    try:
        return pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot analyse a {type(data).__name__}: pass a DataFrame or a table file") from exc
