"""``--project DIR`` from another folder: the project's named connections reach the URL
parser of every command that reads a source (issue 14)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DATAMILL = [sys.executable, "-m", "datamill.cli"]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A project (with a named connection ``shop`` to a SQLite file) and another folder,
    without datamill.toml, to run the commands from."""
    monkeypatch.delenv("DATAMILL_STORE", raising=False)
    monkeypatch.delenv("DATAMILL_ARTIFACTS", raising=False)
    monkeypatch.delenv("DATAMILL_PROFILE", raising=False)
    proj, cwd = tmp_path / "proj", tmp_path / "elsewhere"
    proj.mkdir()
    cwd.mkdir()
    db = proj / "shop.db"
    (proj / "datamill.toml").write_text(f'[project]\nname = "p"\n\n[connections.shop]\n'
                                        f'url = "sqlite:///{db}"\n')
    rng = np.random.default_rng(7)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE orders (id INTEGER, variant TEXT, converted INTEGER, day TEXT, "
                "kind TEXT, views INTEGER)")
    rows = [(i, ["a", "b"][i % 2], int(rng.random() < 0.3), f"2026-0{5 + i % 2}-{1 + i % 28:02d}",
             ["boots", "sandals"][i % 3 == 0], 1) for i in range(400)]
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return proj, cwd


def dm(proj: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*DATAMILL, "--project", str(proj), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_copy_named_connection_from_another_folder(elsewhere):
    proj, cwd = elsewhere
    r = dm(proj, cwd, "copy", "shop#orders", "out.csv", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows_written"] == 400
    assert (cwd / "out.csv").read_text().count("\n") == 401
    assert (proj / ".datamill").is_dir() and not (cwd / ".datamill").exists()


def test_describe_and_profile_named_connection_from_another_folder(elsewhere):
    proj, cwd = elsewhere
    r = dm(proj, cwd, "describe", "shop#orders", "--json")
    assert r.returncode == 0, r.stderr
    rows = {x["column"]: x for x in json.loads(r.stdout)}
    assert rows["id"]["count"] == 400
    r = dm(proj, cwd, "profile", "shop#orders", "--json", "--minimal")
    assert r.returncode == 0, r.stderr
    assert "converted" in r.stdout


def test_abtest_and_explain_named_connection_from_another_folder(elsewhere):
    proj, cwd = elsewhere
    r = dm(proj, cwd, "abtest", "shop#orders", "--variant", "variant", "--outcome", "converted",
           "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["comparisons"]
    r = dm(proj, cwd, "explain", "shop#orders", "--metric", "views", "--time", "day", "--by",
           "kind", "--compare", "2026-05", "2026-06", "--json")
    assert r.returncode == 0, r.stderr
    assert "summary" in json.loads(r.stdout)


def test_contract_named_connection_from_another_folder(elsewhere):
    proj, cwd = elsewhere
    r = dm(proj, cwd, "contract", "infer", "shop#orders", "--json")
    assert r.returncode == 0, r.stderr
    draft = json.loads(r.stdout)
    assert draft["name"] == "orders"
    assert "id" in json.dumps(draft["columns"] if "columns" in draft else draft)


CONTRACT = """
name: orders
columns:
  id: {type: int, nullable: false}
  variant: {type: string, allowed: [a]}
max_bad_share: 0.9
drift: ignore
"""


def test_contract_check_copy_with_contract_and_quarantine_from_another_folder(elsewhere):
    """A copy's quarantine goes to the project's artifact store (the run context's
    quarantine root), and ``quarantine`` finds it there, from any folder."""
    proj, cwd = elsewhere
    (cwd / "orders.yaml").write_text(CONTRACT)
    r = dm(proj, cwd, "contract", "check", "shop#orders", "orders.yaml", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["bad_rows"] == 200
    r = dm(proj, cwd, "copy", "shop#orders", "good.csv", "--contract", "orders.yaml", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows_written"] == 200 and out["rows_quarantined"] == 200
    assert out["quarantine"].startswith(str(proj / ".datamill"))
    r = dm(proj, cwd, "quarantine", "--json", "-n", "500")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] == 200
