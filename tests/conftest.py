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


# -- Azure Blob Storage and Google Cloud Storage: emulators on ephemeral loopback ports -----

ROOT = TESTS.parent
AZURITE = Path(os.environ.get("DATAMILL_AZURITE", ROOT / ".ci/node/node_modules/.bin/azurite-blob"))
# Azurite's documented development account and key (public; the same for every Azurite)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")


def _missing_emulator(reason: str) -> None:
    if os.environ.get("DATAMILL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (DATAMILL_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def _stop(proc) -> None:
    import subprocess

    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="session")
def azurite_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Azurite's blob service (``.ci/run`` installs it under ``.ci/node``) on an ephemeral
    loopback port, with its data in a private temporary folder; stopped at session end."""
    import re
    import subprocess
    import threading
    import time

    if not AZURITE.exists():
        _missing_emulator(f"Azurite is not installed at {AZURITE}: run .ci/run, or "
                          "npm install --prefix .ci/node azurite")
    data = tmp_path_factory.mktemp("azurite")
    proc = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", str(data),
         "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=data)
    found: list[str] = []

    def read() -> None:  # the port it took, then keep draining its output
        assert proc.stdout is not None
        for line in proc.stdout:
            m = re.search(r"listens on (http://127\.0\.0\.1:\d+)", line)
            if m and not found:
                found.append(m.group(1))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while not found:
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise RuntimeError("Azurite did not start")
        time.sleep(0.05)
    try:
        yield found[0]
    finally:
        _stop(proc)


@pytest.fixture
def azure_container(azurite_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh container on Azurite, with the environment a user would set."""
    for var in ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY",
                "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CLIENT_ID",
                "AZURE_STORAGE_CLIENT_SECRET", "AZURE_STORAGE_TENANT_ID", "AZURE_STORAGE_ANON"):
        monkeypatch.delenv(var, raising=False)
    conn = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={azurite_endpoint}/{AZURITE_ACCOUNT};")
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", conn)
    from azure.storage.blob import BlobServiceClient

    name = f"dm-{uuid.uuid4().hex[:12]}"
    with BlobServiceClient.from_connection_string(conn) as client:
        client.create_container(name)
    return name


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcp-storage-emulator (from PyPI) on an ephemeral loopback port, its data in a private
    temporary folder; stopped at session end."""
    import socket
    import subprocess
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path_factory.mktemp("gcs")
    proc = subprocess.Popen([sys.executable, "-m", "gcp_storage_emulator", "-d", str(data),
                             "start", "--host", "127.0.0.1", "--port", str(port), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                _stop(proc)
                raise RuntimeError(f"the GCS emulator did not start on port {port}") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def gcs_bucket(gcs_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the GCS emulator, with the environment a user would set."""
    import json
    import urllib.request

    monkeypatch.setenv("DATAMILL_GCS_ENDPOINT_URL", gcs_endpoint)
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    name = f"dm-{uuid.uuid4().hex[:12]}"
    req = urllib.request.Request(f"{gcs_endpoint}/storage/v1/b?project=test", method="POST",
                                 data=json.dumps({"name": name}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).close()
    return name
