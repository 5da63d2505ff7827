"""``datamill describe`` for people: the statistics as tables that fit the terminal.

Numbers are never cut: every cell is formatted compactly first (``1.235e+06``, ``12,345``),
then the statistics are packed into as many tables as the width needs, each repeating the
column names, instead of letting the table squeeze cells into ``40…``.
"""

from __future__ import annotations

from typing import Any

SHOWN = ("dtype", "count", "nulls", "distinct", "mean", "std", "min", "q50", "max", "skewness")
_EDGE = 4  # the table's outer border and the first column's padding
_PER_COLUMN = 3  # a column's separator and padding


def cell(v: Any) -> str:
    """A statistic as short text that keeps every significant digit it shows."""
    import numpy as np

    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        n = int(v)
        return f"{n:,}" if abs(n) < 10**12 else f"{n:.4e}"
    if isinstance(v, float | np.floating):
        f = float(v)
        if f.is_integer() and abs(f) < 10**12:
            return f"{int(f):,}"
        return f"{f:.4g}"
    text = str(v)
    if hasattr(v, "isoformat") and text.endswith(" 00:00:00"):
        return text[: -len(" 00:00:00")]  # a date at midnight
    return text


def pack(widths: list[int], key_width: int, total: int) -> list[list[int]]:
    """Split column indexes into groups whose tables fit ``total`` characters, each table
    repeating the key column of ``key_width``; a column too wide for any table gets one
    of its own."""
    groups: list[list[int]] = []
    used = total  # forces a first group
    for i, w in enumerate(widths):
        need = w + _PER_COLUMN
        if not groups or used + need > total:
            groups.append([i])
            used = _EDGE + key_width + need
        else:
            groups[-1].append(i)
            used += need
    return groups


def print_describe(console: Any, out: Any, *, title: str, grouped: bool) -> None:
    """Print ``describe``'s frame as one table, or several when the terminal is narrow."""
    from rich.markup import escape
    from rich.table import Table

    shown = [c for c in SHOWN if c in out.columns]
    headers = ["median" if c == "q50" else c for c in shown]
    keys = [str(k or "column") for k in out.index.names] if grouped else ["column"]
    rows: list[tuple[list[str], list[str]]] = []
    for idx, row in out.iterrows():
        ids = [str(i) for i in (idx if isinstance(idx, tuple) else (idx,))]
        vals = [str(row[c]).split("(")[0] if c == "dtype" else cell(row[c]) for c in shown]
        rows.append((ids, vals))
    widths = [max([len(h), *(len(r[1][j]) for r in rows)]) for j, h in enumerate(headers)]
    key_widths = [max([len(k), *(len(r[0][j]) for r in rows)]) for j, k in enumerate(keys)]
    width = console.width
    # long column names may fold, but never take more than a third of the line
    key_width = min(sum(key_widths) + _PER_COLUMN * (len(keys) - 1), max(12, width // 3))
    groups = pack(widths, key_width, width)
    for n, group in enumerate(groups):
        last = n == len(groups) - 1
        table = Table(title=escape(title) if n == 0 else None, title_justify="left",
                      caption="--json for every statistic (mode, variance, quantiles, "
                      "kurtosis...)" if last else None, caption_justify="left")
        for k in keys:
            table.add_column(escape(k), overflow="fold", max_width=key_width)
        for j in group:
            table.add_column(headers[j], justify="left" if shown[j] == "dtype" else "right",
                             no_wrap=True, min_width=widths[j])
        for ids, vals in rows:
            table.add_row(*[escape(i) for i in ids], *[escape(vals[j]) for j in group])
        console.print(table)
