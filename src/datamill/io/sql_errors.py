"""Database error messages cut to a readable length, with the limit that was hit named.

Drivers echo the statement that failed (``Failed to execute query 'CREATE TABLE ... (100,000
column definitions)'``), which made one error message 1.7 MB. :func:`short_message` keeps
the server's own error (``ERROR: ...``, ``SQLSTATE``), shortens any echoed statement and
caps the whole to :data:`MAX_CHARS` characters with ``... (N more characters)``;
:func:`limit_hint` says in words which database limit a known SQLSTATE means.
"""

from __future__ import annotations

import re

__all__ = ["MAX_CHARS", "limit_hint", "short_message", "trim"]

MAX_CHARS = 500
_QUERY = re.compile(r"(query|statement) '(.{120,}?)'(?=\s*:|\s*$)", re.S | re.I)
_SQLSTATE = re.compile(r"SQLSTATE[:\s]+([0-9A-Z]{5})")

# SQLSTATE -> what it means, with {columns} filled in when known
_LIMITS = {
    "54011": "PostgreSQL allows at most 1,600 columns in a table{have}; write fewer columns "
             "(columns=[...]) or split the table",
    "54000": "a PostgreSQL program limit was exceeded (an index row, an identifier or a "
             "statement too large)",
    "54001": "the statement is too complex for PostgreSQL (nesting too deep)",
    "54023": "PostgreSQL allows at most 100 arguments to a function",
}


def trim(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()}... ({len(text) - limit} more characters)"


def short_message(exc: BaseException, limit: int = MAX_CHARS) -> str:
    """The first lines of ``exc``'s text, an echoed SQL statement shortened, capped."""
    text = str(exc).strip()
    if not text:
        return type(exc).__name__

    def cut(m: re.Match[str]) -> str:
        sql = m.group(2)
        return f"{m.group(1)} '{sql[:80]}... ({len(sql) - 80} more characters of SQL)'"

    text = _QUERY.sub(cut, text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return trim(" ".join(lines[:2]) if lines else type(exc).__name__, limit)


def limit_hint(exc: BaseException, columns: int | None = None) -> str:
    """``" (<what the limit is>)"`` when ``exc`` is a known database limit, else ``""``."""
    text = str(exc)
    m = _SQLSTATE.search(text)
    state = m.group(1) if m else ("54011" if "at most 1600 columns" in text else None)
    hint = _LIMITS.get(state or "")
    if not hint:
        return ""
    have = f" and this data has {columns:,}" if columns else ""
    return f" ({hint.format(have=have)})"
