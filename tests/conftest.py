"""Shared test setup: hypothesis profiles, an isolated project folder per test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, max_examples=50,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=25)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

TESTS = Path(__file__).parent
RESOURCES = TESTS / "resources"
sys.path.insert(0, str(TESTS))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder (with datamill.toml) as the current directory."""
    monkeypatch.delenv("DATAMILL_STORE", raising=False)
    monkeypatch.delenv("DATAMILL_ARTIFACTS", raising=False)
    (tmp_path / "datamill.toml").write_text('[project]\nname = "test"\n')
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def resources() -> Path:
    return RESOURCES
