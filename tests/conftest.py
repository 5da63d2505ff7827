"""Shared test setup: hypothesis profiles, an isolated project folder per test."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
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


# -- PostgreSQL: a fresh database per test (skip if absent, fail under DATAMILL_REQUIRE_SERVICES=1)

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




# -- S3: one moto server (S3-compatible, loopback, ephemeral port) for the session ---------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server (moto's server mode) on an ephemeral loopback port.

    In its own process, as a real S3 endpoint is: a client that blocks while holding the
    GIL (delta-rs' ``is_deltatable``) would otherwise starve an in-process server thread.
    """
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto's S3 server did not start on port {port}") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the moto server, with the environment a user would set."""
    monkeypatch.setenv("DATAMILL_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    import boto3

    name = f"dm-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name
