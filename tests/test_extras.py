"""With only the core dependencies installed, a command that needs an extra exits 2 with
the exact pip line, never a traceback. The core-only virtualenv is built once per test
session by uv from the lock file (its cache makes this a few seconds)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"


def _uv() -> str:
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.exists() else shutil.which("uv")
    if not found:
        pytest.fail("uv is needed to build the core-only virtualenv (make venv installs it)")
    return found


@pytest.fixture(scope="session")
def core_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("corevenv") / "venv"
    uv = _uv()
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)],
                   check=True, env=env, timeout=300)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                    "-c", str(LOCK), "-e", str(REPO)], check=True, env=env, timeout=600)
    py = venv / "bin" / "python"
    probe = subprocess.run(
        [str(py), "-c", "import importlib.util as u; import sys; "
         "sys.exit(any(u.find_spec(m) for m in ('polars','scipy','duckdb','deltalake',"
         "'psycopg','adbc_driver_postgresql','distributed','s3fs')))"], timeout=60)
    assert probe.returncode == 0, "the core-only virtualenv has an extra installed"
    return venv


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "t.csv").write_text("a,b,g\n1,2,x\n3,4,y\n5,7,x\n6,1,y\n")
    (tmp_path / "ab.csv").write_text("variant,conv\nA,1\nA,0\nB,1\nB,1\nA,0\nB,0\n")
    (tmp_path / "datamill.toml").write_text('[project]\nname = "extras"\n')
    (tmp_path / "p.py").write_text(
        "import datamill\n\n@datamill.task\ndef one() -> int:\n    return 1\n")
    return tmp_path


def _datamill(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "DATAMILL_STORE", "DATAMILL_ARTIFACTS")}
    return subprocess.run([str(venv / "bin" / "datamill"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_help_works_with_core_only(core_venv: Path, data: Path):
    r = _datamill(core_venv, data, "--help")
    assert r.returncode == 0, r.stderr
    assert "run" in r.stdout


@pytest.mark.parametrize(("args", "extra"), [
    (("describe", "t.csv"), "polars"),
    (("profile", "t.csv", "-o", "p.html"), "polars"),
    (("abtest", "ab.csv", "--variant", "variant", "--outcome", "conv"), "analytics"),
    (("run", "p.py", "--executor", "dask"), "dask"),
    (("copy", "t.csv", "out.delta"), "etl"),
    (("copy", "t.csv", "postgresql://postgres@127.0.0.1/test#extras_t"), "postgres"),
])
def test_a_missing_extra_prints_its_pip_line(core_venv: Path, data: Path, args, extra):
    r = _datamill(core_venv, data, *args)
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    assert f"pip install 'datamill[{extra}]'" in out, out
    assert r.returncode == 2, out


def test_core_only_parquet_copy_works(core_venv: Path, data: Path):
    r = _datamill(core_venv, data, "copy", "t.csv", "out.parquet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (data / "out.parquet").exists()


def test_missing_extra_maps_optional_modules_only():
    from datamill.errors import MissingExtraError, missing_extra, require

    err = missing_extra(ModuleNotFoundError("No module named 'scipy.stats'", name="scipy.stats"))
    assert isinstance(err, MissingExtraError) and err.exit_code == 2
    assert "pip install 'datamill[analytics]'" in str(err)
    assert missing_extra(ModuleNotFoundError("x", name="not_an_extra_pkg")) is None
    assert missing_extra(ValueError("polars")) is None
    with pytest.raises(MissingExtraError, match=r"datamill\[gcs\]"):
        require("datamill_no_such_module", "gcs")
