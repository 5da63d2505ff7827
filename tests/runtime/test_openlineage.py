"""OpenLineage events over the file and HTTP transports."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import datamill
from datamill import Context, Pipeline, task
from datamill.runtime.openlineage import dataset_ref


def _pipeline():
    @task
    def load(ctx: Context):
        ctx.record_input("postgresql+psycopg://etl@db:5432/shop#public.orders",
                         schema=[{"name": "id", "type": "int64"}])
        ctx.record_output("s3://lake/orders/part-1.parquet", rows=3)
        return 1

    @task
    def broken(load):
        raise ValueError("bad row")

    return Pipeline("shop", [load, broken])


def test_file_transport(project):
    (project / "datamill.toml").write_text('[openlineage]\ntransport = "file"\npath = "ol.jsonl"\n'
                                           'namespace = "shop-ns"\n')
    r = datamill.run(_pipeline(), handle_signals=False)
    events = [json.loads(x) for x in (project / "ol.jsonl").read_text().splitlines()]
    kinds = [(e["eventType"], e["job"]["name"]) for e in events]
    assert ("START", "shop.load") in kinds and ("COMPLETE", "shop.load") in kinds
    assert ("FAIL", "shop.broken") in kinds
    done = next(e for e in events if e["eventType"] == "COMPLETE")
    assert done["job"]["namespace"] == "shop-ns"
    assert done["inputs"][0]["namespace"] == "postgresql://db:5432"
    assert done["inputs"][0]["name"] == "shop.public.orders"
    assert done["inputs"][0]["facets"]["schema"]["fields"] == [{"name": "id", "type": "int64"}]
    assert done["outputs"] == [{"namespace": "s3://lake", "name": "orders/part-1.parquet"}]
    fail = next(e for e in events if e["eventType"] == "FAIL")
    assert "bad row" in fail["run"]["facets"]["errorMessage"]["message"]
    assert done["run"]["facets"]["datamill"]["runId"] == r.run_id


def test_http_transport(project, monkeypatch):
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "auth": self.headers.get("Authorization"),
                             "event": json.loads(body)})
            self.send_response(201)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("OPENLINEAGE_API_KEY", "k-123")
        datamill.run(_pipeline(), handle_signals=False)
    finally:
        server.shutdown()
    assert received and all(x["path"] == "/api/v1/lineage" for x in received)
    assert received[0]["auth"] == "Bearer k-123"
    assert {x["event"]["eventType"] for x in received} == {"START", "COMPLETE", "FAIL"}


def test_backend_down_does_not_fail_the_run(project, monkeypatch):
    from datamill.testing.instances import free_port

    monkeypatch.setenv("OPENLINEAGE_URL", f"http://127.0.0.1:{free_port()}")

    @task
    def ok():
        return 1

    assert datamill.run(Pipeline("p", [ok]), handle_signals=False).ok


def test_dataset_ref():
    assert dataset_ref("file:///lake/x.parquet") == {"namespace": "file", "name": "/lake/x.parquet"}
    assert dataset_ref("sqlite:///wh.db#orders") == {"namespace": "sqlite://", "name": "wh.db.orders"}
