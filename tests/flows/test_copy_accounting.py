"""Every row a copy reads is written, quarantined or deduplicated, and bad input exits 2
(issue 17): bad lines, empty CSV fields, --dedupe, several sources, exit codes, umask."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamill.flows.copy import copy
from datamill.quality import read_quarantine

DATAMILL = [sys.executable, "-m", "datamill.cli"]


def _identity(rep):
    assert rep.state == "succeeded", rep.error
    assert rep.rows_read == rep.rows_written + rep.rows_quarantined + rep.rows_deduplicated
    from datamill.store.runstore import RunStore

    store = RunStore.open(project_root=os.getcwd())
    try:
        m = {x.name: x.value for x in store.metrics(rep.run_id)}
    finally:
        store.close()
    assert m["rows_read"] == m["rows_written"] + m["rows_quarantined"] + m["rows_deduplicated"]
    assert m["rows_read"] == rep.rows_read


def test_ragged_csv_lines_are_quarantined_and_counted(project):
    (project / "ragged.csv").write_text("id,name\n1,a\n2,b,extra\n3,c\n4\n")
    rep = copy("ragged.csv?on_bad_lines=quarantine", "out.parquet", handle_signals=False)
    _identity(rep)
    assert (rep.rows_read, rep.rows_written, rep.rows_quarantined) == (4, 2, 2)
    assert rep.quarantine and "quarantine" in rep.quarantine
    bad = read_quarantine(project / ".datamill" / "artifacts", run_id=rep.run_id).to_pylist()
    assert sorted((r["_dm_line"], r["_dm_raw"]) for r in bad) == [(3, "2,b,extra"), (5, "4")]
    assert all(r["_dm_rule"] == "bad_line" and "columns" in r["_dm_reason"] for r in bad)


def test_truncated_ndjson_lines_are_quarantined_and_counted(project):
    (project / "ev.ndjson").write_text('{"id": 1}\n{"id": 2\n{"id": 3}\n{"id"\n')
    rep = copy("ev.ndjson?on_bad_lines=quarantine", "lake/ev/", handle_signals=False)
    _identity(rep)
    assert (rep.rows_read, rep.rows_written, rep.rows_quarantined) == (4, 2, 2)
    bad = read_quarantine(project / ".datamill" / "artifacts", run_id=rep.run_id).to_pylist()
    assert sorted(r["_dm_line"] for r in bad) == [2, 4]


def test_cli_json_and_summary_show_the_quarantined_lines(project):
    (project / "ragged.csv").write_text("id,name\n1,a\n2,b,extra\n3,c\n4\n")
    r = subprocess.run([*DATAMILL, "copy", "ragged.csv?on_bad_lines=quarantine",
                        "out.parquet", "--json"], cwd=project, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["rows_read"], out["rows_written"], out["rows_quarantined"]) == (4, 2, 2)
    assert out["rows_deduplicated"] == 0 and out["quarantine"]


def test_parquet_sql_and_contract_paths_keep_the_identity(project):
    pq.write_table(pa.table({"id": [1, 2, 3, 4], "amount": [1.0, -2.0, 3.0, 4.0]}),
                   project / "o.parquet")
    (project / "o.yaml").write_text("name: o\ncolumns:\n  id: {type: int}\n"
                                    "  amount: {type: float, min: 0}\nmax_bad_share: 0.5\n")
    rep = copy("o.parquet", "lake/o/", contract="o.yaml", handle_signals=False)
    _identity(rep)
    assert (rep.rows_written, rep.rows_quarantined) == (3, 1)
    con = sqlite3.connect(project / "src.db")
    con.execute("CREATE TABLE t (id INTEGER, v TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(7)])
    con.commit()
    con.close()
    _identity(copy(f"sqlite:///{project / 'src.db'}#t", "lake/t/", handle_signals=False))


class _Api(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps([{"id": i, "id2": i % 3} for i in range(6)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_http_path_with_dedupe_keeps_the_identity(project):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/x?pagination=none"
        rep = copy(url, "lake/h/", key=["id2"], dedupe="last", handle_signals=False)
        _identity(rep)
        assert (rep.rows_read, rep.rows_written, rep.rows_deduplicated) == (6, 3, 3)
        assert sorted(pq.read_table(project / "lake" / "h").column("id").to_pylist()) == [3, 4, 5]
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("keep,expect", [("first", [(1, "a"), (2, "b")]),
                                         ("last", [(1, "c"), (2, "d")])])
def test_dedupe_across_batches_then_merge(project, keep, expect):
    pq.write_table(pa.table({"id": [1, 2, 1, 2], "v": ["a", "b", "c", "d"]}),
                   project / "dup.parquet")
    db = f"sqlite:///{project / 'wh.db'}#t"
    refused = copy("dup.parquet", db, mode="merge", key=["id"], handle_signals=False)
    assert refused.state == "failed" and "--dedupe" in refused.error and refused.exit_code == 2
    rep = copy("dup.parquet", db, mode="merge", key=["id"], dedupe=keep, batch_size=1,
               handle_signals=False)
    _identity(rep)
    assert (rep.rows_written, rep.rows_deduplicated) == (2, 2)
    con = sqlite3.connect(project / "wh.db")
    assert con.execute("SELECT id, v FROM t ORDER BY id").fetchall() == expect
    con.close()


def test_empty_csv_fields_are_null_everywhere(project):
    (project / "e.csv").write_text('id,name,n\n1,,\n2,"",5\n3,x,6\n')
    assert copy("e.csv", "out.parquet", handle_signals=False).state == "succeeded"
    t = pq.read_table(project / "out.parquet")
    assert t.column("name").to_pylist() == [None, None, "x"]
    assert t.column("n").to_pylist() == [None, 5, 6]
    from datamill.io.api import read
    from datamill.quality import infer

    draft = infer(read("e.csv"), name="e")
    name = next(c for c in draft.columns if c.name == "name")
    assert name.nullable and not name.allowed or "" not in (name.allowed or [])
    r = subprocess.run([*DATAMILL, "describe", "e.csv", "--json"], cwd=project,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    row = next(x for x in json.loads(r.stdout) if x["column"] == "name")
    assert row["nulls"] == 2


def test_several_sources_and_quoted_glob(project):
    for i in range(3):
        (project / f"p{i}.csv").write_text(f"id,v\n{i},{i * 10}\n")
    r = subprocess.run([*DATAMILL, "copy", "p0.csv", "p1.csv", "p2.csv", "lake/all/", "--json"],
                       cwd=project, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows_written"] == 3
    r = subprocess.run([*DATAMILL, "copy", "p*.csv", "lake/glob/", "--json"],
                       cwd=project, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["rows_written"] == 3


def test_written_files_honour_the_umask(project):
    (project / "a.csv").write_text("id\n1\n")
    old = os.umask(0o022)
    try:
        assert copy("a.csv", "out/a.parquet", handle_signals=False).state == "succeeded"
        assert copy("a.csv", "lake/a/", handle_signals=False).state == "succeeded"
    finally:
        os.umask(old)
    assert stat.S_IMODE((project / "out" / "a.parquet").stat().st_mode) == 0o644
    part = next((project / "lake" / "a").iterdir())
    assert stat.S_IMODE(part.stat().st_mode) == 0o644


BAD_INPUT = {
    "utf8": ("latin1.csv", b"id,name\n1,caf\xe9\n", "latin1.csv?encoding=latin-1"),
    "json": ("bad.json", b'[{"id": 1},', None),
    "ragged": ("ragged.csv", b"id,name\n1,a\n2,b,c\n", "?on_bad_lines=quarantine"),
    "ndjson": ("t.ndjson", b'{"id": 1}\n{"id": 2\n', "?on_bad_lines=quarantine"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_exits_2_with_the_url_form_hint(project, case):
    name, data, hint = BAD_INPUT[case]
    (project / name).write_bytes(data)
    r = subprocess.run([*DATAMILL, "copy", name, "out.parquet"], cwd=project,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and name in r.stderr
    if hint:
        assert hint in r.stderr, r.stderr


def test_second_append_to_a_file_exits_2(project):
    (project / "a.csv").write_text("id\n1\n")
    cmd = [*DATAMILL, "copy", "a.csv", "out.parquet"]
    assert subprocess.run(cmd, cwd=project, capture_output=True, timeout=120).returncode == 0
    r = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "replace" in r.stderr


def test_duplicate_merge_keys_exit_2(project):
    pq.write_table(pa.table({"id": [1, 1]}), project / "d.parquet")
    r = subprocess.run([*DATAMILL, "copy", "d.parquet", f"sqlite:///{project / 'w.db'}#t",
                        "--mode", "merge", "--key", "id"], cwd=project, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "--dedupe" in r.stderr


@pytest.mark.postgres
def test_empty_csv_fields_are_null_in_postgres(project, pg_url):
    import psycopg

    (project / "e.csv").write_text('id,name\n1,\n2,""\n3,x\n')
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    rep = copy("e.csv", f"{dsn}#e", handle_signals=False)
    assert rep.state == "succeeded", rep.error
    with psycopg.connect(dsn) as con:
        rows = con.execute("SELECT id, name FROM e ORDER BY id").fetchall()
    assert rows == [(1, None), (2, None), (3, "x")]
