"""Database errors stay readable: an echoed statement is shortened, the message capped, and
a known limit (PostgreSQL's 1,600 columns) said in words."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill import io as dio
from datamill.io.sql import DatabaseError
from datamill.io.sql_errors import MAX_CHARS, short_message, trim


@pytest.mark.timeout(300)
def test_too_many_columns_into_postgresql_is_short_and_names_the_limit(pg_url):
    wide = pa.table({f"column_{i}": [1] for i in range(20_000)})
    with pytest.raises(DatabaseError) as err:
        dio.write(f"{pg_url}#wide", wide)
    msg = str(err.value)
    assert len(msg) < 1_500, len(msg)
    assert "at most 1,600 columns" in msg and "this data has 20,000" in msg
    assert "more characters" in msg and "#wide" in msg


@given(st.text(min_size=0, max_size=3_000))
def test_trim_caps_and_counts(text):
    out = trim(text)
    assert len(out) <= MAX_CHARS + 40
    if len(text) <= MAX_CHARS:
        assert out == text
    else:
        assert out.endswith(f"({len(text) - MAX_CHARS} more characters)")


def test_echoed_statement_is_shortened_but_the_server_error_kept():
    sql = "INSERT INTO t VALUES " + ", ".join(f"({i})" for i in range(10_000))
    exc = RuntimeError(f"[libpq] Failed to execute query '{sql}': ERROR:  boom. SQLSTATE: 22003")
    out = short_message(exc)
    assert "ERROR:  boom" in out and "SQLSTATE: 22003" in out and len(out) <= MAX_CHARS + 40
