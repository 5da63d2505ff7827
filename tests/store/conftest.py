"""Fixtures of the run-store tests: a fresh PostgreSQL database per test, and a store per dialect.

``pg_url`` is the pattern other layers copy: it creates ``dm_test_<uuid>`` through the
``postgres`` database and drops it afterwards; PostgreSQL missing means skip, unless
DATAMILL_REQUIRE_SERVICES=1, which turns it into a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamill.store.runstore import RunStore

PG_HOST = os.environ.get("DATAMILL_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("DATAMILL_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("DATAMILL_TEST_PG_USER", "postgres")

_pg_unreachable: str | None = None  # remembered so an absent server costs one timeout


def _pg_admin():
    """An autocommit connection to the ``postgres`` database, or skip/fail if there is none."""
    global _pg_unreachable
    reason = _pg_unreachable
    conn = None
    if reason is None:
        try:
            import psycopg

            conn = psycopg.connect(
                host=PG_HOST,
                port=PG_PORT,
                user=PG_USER,
                dbname="postgres",
                autocommit=True,
                connect_timeout=3,
            )
        except Exception as exc:  # ImportError or any connection failure
            reason = _pg_unreachable = f"PostgreSQL at {PG_HOST}:{PG_PORT} unavailable: {exc}"
    if conn is None:
        if os.environ.get("DATAMILL_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (DATAMILL_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return conn


@pytest.fixture
def pg_url() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database that is dropped after the test."""
    admin = _pg_admin()
    name = f"dm_test_{uuid.uuid4().hex[:16]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each dialect: a SQLite file under tmp_path, then a fresh PG database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[RunStore]:
    """An open RunStore on each dialect."""
    s = RunStore.open(store_url, project_root=tmp_path)
    try:
        yield s
    finally:
        s.close()
