"""A flow reads the project once and parses each location once (issue #14): the layers
below take the parsed location and the project's connections as given."""

from __future__ import annotations

import sqlite3

import pyarrow.csv as pacsv

import datamill
import datamill.io.api as io_api
import datamill.store.project as project_mod
from datamill.flows.copy import copy


def _spy(monkeypatch, module, name):
    calls: list[object] = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args[0] if args else None)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_copy_reads_the_project_once_and_parses_each_url_once(project, monkeypatch):
    db = project / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE orders (id INTEGER, amount REAL)")
    con.executemany("INSERT INTO orders VALUES (?, ?)", [(i, i * 1.5) for i in range(50)])
    con.commit()
    con.close()
    (project / "datamill.toml").write_text(
        f'[project]\nname = "p"\n\n[connections.shop]\nurl = "sqlite:///{db}"\n')
    finds = _spy(monkeypatch, project_mod, "find_project")
    parses = _spy(monkeypatch, io_api, "_parse")
    rep = copy("shop#orders", "out/orders.csv", handle_signals=False)
    assert rep.state == "succeeded" and rep.rows_written == 50, rep.error
    assert len(finds) == 1  # datamill.toml read once, at the top
    assert sorted(map(str, parses)) == sorted([f"sqlite:///{db}#orders", "out/orders.csv"])
    assert pacsv.read_csv(project / "out" / "orders.csv").num_rows == 50


def test_the_run_context_names_the_quarantine_root(project):
    """Quarantine is a service of the run context (``ctx.quarantine_root()``), not code
    reaching into the run's artifact store."""
    @datamill.task
    def where(ctx: datamill.Context) -> str | None:
        return ctx.quarantine_root()

    result = datamill.run([where], handle_signals=False)
    assert result.ok and result["where"] == str((project / ".datamill" / "artifacts").resolve())
