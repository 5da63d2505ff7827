"""Incremental copies keep their watermark's type across runs and run stores (issue 17):
rows are added between copies, for file, SQL and HTTP sources, on SQLite and PostgreSQL
run stores."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datamill.flows.copy import copy
from datamill.io import watermark as wm

UTC = dt.UTC
# (name, arrow type, sqlite declared type, values in order; the last two arrive later)
KINDS = {
    "timestamp": (pa.timestamp("us"), "TIMESTAMP",
                  [dt.datetime(2026, 1, d, 10, 30) for d in (1, 2, 3, 4, 5)]),
    "timestamptz": (pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ",
                    [dt.datetime(2026, 1, d, 10, 30, tzinfo=UTC) for d in (1, 2, 3, 4, 5)]),
    "date": (pa.date32(), "DATE", [dt.date(2026, 1, d) for d in (1, 2, 3, 4, 5)]),
    "integer": (pa.int64(), "INTEGER", [10, 20, 30, 40, 50]),
    "decimal": (pa.decimal128(10, 2), "DECIMAL(10,2)",
                [decimal.Decimal(x) for x in ("1.10", "2.20", "3.30", "4.40", "5.50")]),
    "string": (pa.string(), "TEXT", ["a01", "a02", "a03", "a04", "a05"]),
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def run_store(request, project, monkeypatch):
    """The run store of the copies: the project's SQLite file, or a fresh PG database."""
    if request.param == "postgresql":
        monkeypatch.setenv("DATAMILL_STORE", request.getfixturevalue("pg_url"))
    return request.param


def _rows(kind, n):
    typ, _, values = KINDS[kind]
    return pa.table({"id": pa.array(range(n), pa.int64()), "w": pa.array(values[:n], typ)})


def _check_twice(project, source, write_rows, kind):
    """Copy 3 rows, add 2, copy again: the second copy reads exactly the 2 new rows."""
    values = KINDS[kind][2]
    write_rows(3)
    first = copy(source, "lake/out/", incremental="w", handle_signals=False)
    assert first.state == "succeeded", first.error
    assert first.rows_read == 3
    write_rows(5)
    second = copy(source, "lake/out/", incremental="w", handle_signals=False)
    assert second.state == "succeeded", second.error
    assert (second.rows_read, second.rows_written) == (2, 2)
    third = copy(source, "lake/out/", incremental="w", handle_signals=False)
    assert third.state == "succeeded", third.error
    assert (third.rows_read, third.rows_written) == (0, 0)
    out = pq.read_table(project / "lake" / "out")
    assert sorted(out.column("id").to_pylist()) == [0, 1, 2, 3, 4]
    assert len(list((project / "lake" / "out").iterdir())) == 2  # nothing new: no empty part
    saved = wm.decode(_saved(second.run_id))
    expect = wm.coerce(values[4], KINDS[kind][0])
    assert saved == expect and type(saved) is type(expect)


def _saved(run_id):
    from datamill.runtime.project import find_project
    from datamill.store.runstore import RunStore

    proj = find_project()
    store = RunStore.open(proj.store_url, project_root=proj.root)
    try:
        run = store.get_run(run_id)
        return store.get_state(run.pipeline, "watermark")
    finally:
        store.close()


@pytest.mark.parametrize("kind", list(KINDS))
def test_file_source_watermark_keeps_its_type(project, run_store, kind):
    def write_rows(n):
        pq.write_table(_rows(kind, n), project / "events.parquet")

    _check_twice(project, "events.parquet", write_rows, kind)


@pytest.mark.parametrize("kind", list(KINDS))
def test_sqlite_source_watermark_keeps_its_type(project, run_store, kind):
    db = project / "src.db"
    decl = KINDS[kind][1]

    def write_rows(n):
        con = sqlite3.connect(db)
        con.execute(f"CREATE TABLE IF NOT EXISTS events (id INTEGER, w {decl})")
        have = con.execute("SELECT count(*) FROM events").fetchone()[0]
        for row in _rows(kind, n).slice(have).to_pylist():
            v = row["w"]
            v = v.isoformat(sep=" ") if isinstance(v, dt.datetime) else (
                v.isoformat() if isinstance(v, dt.date) else (str(v) if isinstance(
                    v, decimal.Decimal) else v))
            con.execute("INSERT INTO events VALUES (?, ?)", (row["id"], v))
        con.commit()
        con.close()

    _check_twice(project, f"sqlite:///{db}#events", write_rows, kind)


@pytest.mark.postgres
@pytest.mark.parametrize("kind", ["timestamp", "timestamptz", "date", "decimal"])
def test_postgres_source_watermark_keeps_its_type(project, pg_url, kind):
    import psycopg

    pg_decl = {"timestamp": "timestamp", "timestamptz": "timestamptz", "date": "date",
               "decimal": "numeric(10,2)"}[kind]
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")

    def write_rows(n):
        with psycopg.connect(dsn, autocommit=True) as con:
            con.execute(f"CREATE TABLE IF NOT EXISTS events (id bigint, w {pg_decl})")
            have = con.execute("SELECT count(*) FROM events").fetchone()[0]
            for row in _rows(kind, n).slice(have).to_pylist():
                con.execute("INSERT INTO events VALUES (%s, %s)", (row["id"], row["w"]))

    _check_twice(project, f"{dsn}#events", write_rows, kind)


RECORDS: list[dict] = []


class _Api(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps(RECORDS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def api():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("kind", ["timestamp", "integer", "string"])
def test_http_source_watermark_keeps_its_type(project, run_store, api, kind):
    schema = {"timestamp": "?schema=" + json.dumps({"w": "timestamp[us]"}),
              "integer": "", "string": ""}[kind]

    def write_rows(n):
        RECORDS[:] = [{"id": r["id"], "w": r["w"].isoformat() if isinstance(
            r["w"], dt.datetime) else r["w"]} for r in _rows(kind, n).to_pylist()]

    url = f"{api}/events?pagination=none" + schema.replace("?", "&")
    _check_twice(project, url, write_rows, kind)


def test_watermark_codec_round_trips_every_type():
    for _typ, _, values in KINDS.values():
        for v in values:
            back = wm.decode(json.loads(json.dumps(wm.encode(v))))
            assert back == v and type(back) is type(v)
    # a plain string saved by an older version still compares with a timestamp column
    assert wm.coerce("2026-01-02T10:00:00", pa.timestamp("us")) == dt.datetime(2026, 1, 2, 10)
    assert wm.coerce("2026-01-02T10:00:00Z", pa.timestamp("us", tz="UTC")) == \
        dt.datetime(2026, 1, 2, 10, tzinfo=UTC)
