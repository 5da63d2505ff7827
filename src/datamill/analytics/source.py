"""Read a table for analysis: a local file (CSV, TSV, Parquet, JSON / NDJSON, Excel) with
pandas, so the analysis sees the dtypes pandas users expect, or any connector location
(``s3://``, a database ``URL#table``, an HTTP API, a named connection) through
``datamill.io``. Text columns of ISO dates become datetimes either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datamill.errors import UsageError

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".json", ".ndjson", ".jsonl", ".xlsx", ".xls")


def read_table(source: str | Path, *, columns: list[str] | None = None) -> Any:
    """A pandas DataFrame from a local file, a folder of Parquet files, or a connector URL."""
    import pandas as pd

    text = str(source)
    if ("://" in text and not text.startswith("file://")) or "#" in text \
            or not (Path(text).expanduser().exists() or Path(text).suffix):
        # a connector location, or a bare name (a named connection in datamill.toml)
        from datamill.io.api import read

        return parse_dates(read(text, columns=columns).to_pandas())
    if text.startswith("file://"):
        text = text[len("file://"):]
    path = Path(text).expanduser()
    if not path.exists():
        raise UsageError(f"{source}: no such file or folder")
    suffix = path.suffix.lower()
    try:
        if path.is_dir() or suffix in (".parquet", ".pq"):
            return pd.read_parquet(path, columns=columns)
        if suffix in (".csv", ".txt"):
            return parse_dates(pd.read_csv(path, usecols=columns, low_memory=False))
        if suffix == ".tsv":
            return parse_dates(pd.read_csv(path, sep="\t", usecols=columns, low_memory=False))
        if suffix in (".ndjson", ".jsonl"):
            return pd.read_json(path, lines=True)[columns or slice(None)]
        if suffix == ".json":
            try:
                return pd.read_json(path)[columns or slice(None)]
            except ValueError:
                return pd.read_json(path, lines=True)[columns or slice(None)]
        if suffix in (".xlsx", ".xls"):
            return pd.read_excel(path, usecols=columns)
    except (ValueError, KeyError, OSError) as exc:
        raise UsageError(f"{source}: cannot read it as a table ({type(exc).__name__}: {exc})") from None
    except ImportError as exc:
        raise UsageError(f"{source}: reading it needs an optional package: {exc}") from None
    raise UsageError(f"{source}: unsupported file type {suffix!r} (use one of {', '.join(SUFFIXES)})")


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
