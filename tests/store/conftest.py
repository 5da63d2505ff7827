"""Fixtures of the run-store tests: a store per dialect (``pg_url`` lives in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datamill.store.runstore import RunStore


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
