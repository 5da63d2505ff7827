"""The HTTP API source against a real local server: every pagination style, auth, retries,
rate limits, incremental reads and a server that misbehaves in each way it can."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq
import pytest

from datamill import io
from datamill.errors import UsageError
from datamill.io.http import HttpAuthError, HttpSourceError, open_source, retry_after_seconds
from datamill.io.http_paging import next_link
from datamill.io.url import parse_url

N = 1234
TOKEN = "s3cr3t-t0ken-value"
RECORDS = [
    {"id": i, "customer": f"c{i % 37}", "amount": round(i * 1.25, 2),
     "updated_at": f"2024-01-{1 + i % 28:02d}T00:00:{i % 60:02d}Z",
     "address": {"city": f"city{i % 5}", "zip": str(10000 + i)}}
    for i in range(N)
]
IDS = list(range(N))


class State:
    """What the server saw and how it should misbehave (reset per test)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.hits: dict[str, int] = {}
        self.ports: set[int] = set()
        self.times: list[float] = []

    def hit(self, key: str) -> int:
        with self.lock:
            self.hits[key] = self.hits.get(key, 0) + 1
            return self.hits[key]


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def send(self, status, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: C901 - one branch per scenario
        STATE.ports.add(self.client_address[1])
        STATE.times.append(time.monotonic())
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        STATE.hit(path)
        page = int(q.get("page", 1))
        per = int(q.get("per_page", 100))
        chunk = RECORDS[(page - 1) * per: page * per]

        if path in ("/orders", "/api/orders"):  # page number, stop on empty page
            return self.send(200, {"data": {"items": chunk}})
        if path == "/page_total":  # page number, stop on total; a page past it is an error
            if (page - 1) * per >= N:
                return self.send(400, {"error": "page out of range"})
            return self.send(200, {"items": chunk, "meta": {"total": N}})
        if path == "/offset":
            off, lim = int(q.get("offset", 0)), int(q.get("limit", 50))
            return self.send(200, RECORDS[off: off + lim])
        if path == "/cursor":
            start = int(q.get("cursor", 0))
            nxt = start + 200
            return self.send(200, {"results": RECORDS[start:nxt],
                                   "paging": {"next": str(nxt) if nxt < N else None}})
        if path == "/link":
            start = int(q.get("from", 0))
            headers = {}
            if start + 300 < N:
                headers["Link"] = (f'<http://{self.headers["Host"]}/link?from={start + 300}>; '
                                   'rel="next", <http://x/first>; rel="first"')
            return self.send(200, RECORDS[start: start + 300], headers=headers)
        if path == "/incremental":
            since = q.get("updated_since", "")
            rows = [r for r in RECORDS if r["updated_at"] > since][:50]
            return self.send(200, rows)
        if path.startswith("/auth/"):
            kind = path.split("/")[2]
            expected = {"bearer": ("Authorization", f"Bearer {TOKEN}"),
                        "key": ("X-Shop-Key", TOKEN),
                        "basic": ("Authorization",
                                  "Basic " + base64.b64encode(f"ann:{TOKEN}".encode()).decode())}
            name, value = expected[kind]
            if kind == "key" and q.get("api_key") == TOKEN:
                return self.send(200, RECORDS[:10])
            if self.headers.get(name) != value:
                status = 403 if self.headers.get(name) else 401
                return self.send(status, {"error": f"bad credentials {self.headers.get(name)}"})
            return self.send(200, RECORDS[:10])
        if path == "/flaky":  # page 2 fails twice with 503 then works
            if page == 2 and STATE.hit("flaky-p2") <= 2:
                return self.send(503, b"<html>busy</html>", "text/html")
            return self.send(200, {"items": chunk})
        if path == "/broken":  # page 3 always fails
            if page == 3:
                return self.send(500, {"error": "database on fire"})
            return self.send(200, {"items": chunk})
        if path == "/slow":
            if page == 2:
                time.sleep(0.6)
            return self.send(200, {"items": chunk})
        if path == "/truncated":
            body = json.dumps({"items": chunk}).encode()
            return self.send(200, body[: len(body) // 2] if page == 2 else body)
        if path == "/html":
            return self.send(200, b"<!DOCTYPE html><html><head><title>Sign in</title></head>"
                             b"<body>please log in to continue ........................</body>",
                             "text/html; charset=utf-8")
        if path == "/ratelimited":
            if page == 2 and STATE.hit("rl-p2") == 1:
                return self.send(429, {"error": "slow down"}, headers={"Retry-After": "0.4"})
            return self.send(200, {"items": chunk})
        if path == "/dropper":  # closes the connection without answering once
            if page == 2 and STATE.hit("drop-p2") == 1:
                self.close_connection = True
                return
            return self.send(200, {"items": chunk})
        if path == "/drift":  # a field null on page 1, a string later; a new field on page 2
            rows = [{"id": (page - 1) * 10 + i, "note": None if page == 1 else "x"}
                    for i in range(10)]
            if page == 2:
                for r in rows:
                    r["extra"] = 1
            return self.send(200, rows if page <= 3 else [])
        if path == "/gzip":
            import gzip

            assert "gzip" in self.headers.get("Accept-Encoding", "")
            return self.send(200, gzip.compress(json.dumps(RECORDS).encode()),
                             headers={"Content-Encoding": "gzip"})
        if path == "/redirect":
            return self.send(302, b"", headers={"Location": "/offset?limit=2000"})
        if path == "/crosshost":  # the next page lives on another host name
            port = self.headers["Host"].rsplit(":", 1)[1]
            return self.send(200, RECORDS[:5], headers={
                "Link": f'<http://localhost:{port}/auth/bearer>; rel="next"'})
        if path == "/notfound":
            return self.send(404, {"error": "no such thing"})
        return self.send(404, {"error": "unknown path"})


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    global STATE
    STATE = State()
    monkeypatch.setenv("SHOP_TOKEN", TOKEN)
    monkeypatch.delenv("DATAMILL_PROFILE", raising=False)


FAST = {"backoff": 0.01, "max_backoff": 0.05}


def ids(table):
    return table.column("id").to_pylist()


# ----------------------------------------------------------------------------- pagination


def test_page_number_pagination_reads_every_record_once_in_order(server):
    t = io.read(f"{server}/orders", pagination="page", page_size=100, records_path="data.items")
    assert ids(t) == IDS
    assert t.schema.field("address").type.num_fields == 2  # nested dicts stay structs
    assert t.slice(7, 1).to_pylist()[0] == RECORDS[7]
    assert STATE.hits["/orders"] == 14  # 13 pages with data + the empty page that stops it
    assert len(STATE.ports) == 1  # one keep-alive connection for every page


def test_page_pagination_stops_at_the_total(server):
    src = open_source(parse_url(f"{server}/page_total", pagination="page", page_size=500,
                                total_path="meta.total"))
    batches = list(src.batches(batch_size=400))
    assert [b.num_rows for b in batches] == [400, 400, 400, 34]
    assert sum((b.column("id").to_pylist() for b in batches), []) == IDS
    assert STATE.hits["/page_total"] == 3 and src.page_count == 3 and src.connections_opened == 1


def test_offset_cursor_and_link_pagination(server):
    assert ids(io.read(f"{server}/offset", pagination="offset", page_size=300)) == IDS
    assert ids(io.read(f"{server}/cursor", pagination="cursor", cursor_path="paging.next")) == IDS
    assert ids(io.read(f"{server}/link", pagination="link")) == IDS
    assert ids(io.read(f"{server}/link")) == IDS  # auto: follows a Link header when present
    assert ids(io.read(f"{server}/link", pagination="none")) == IDS[:300]
    assert ids(io.read(f"{server}/gzip")) == IDS
    assert ids(io.read(f"{server}/redirect")) == IDS


def test_flatten_columns_and_query_params(server):
    t = io.read(f"{server}/orders?per_page=1000&pagination=page", flatten=True,
                columns=["id", "address__city"])
    assert t.column_names == ["id", "address__city"]
    assert t.num_rows == N and t.column("address__city")[6].as_py() == "city1"
    assert STATE.hits["/orders"] == 3  # per_page from the URL query went to the API


def test_named_connection_with_path_suffix(server, tmp_path, monkeypatch):
    (tmp_path / "datamill.toml").write_text(
        f'[connections.shopapi]\nurl = "{server}/api"\n'
        'options = { pagination = "page", page_size = "500", records_path = "data.items", '
        'token_env = "SHOP_TOKEN" }\n')
    monkeypatch.chdir(tmp_path)
    assert ids(io.read("shopapi#orders")) == IDS
    batches = list(io.read_batches("shopapi#orders", batch_size=1000))
    assert [b.num_rows for b in batches] == [1000, 234]


def test_schema_drift_across_pages_and_batches(server):
    t = io.read(f"{server}/drift", pagination="page")  # one batch: pages are unified
    assert t.num_rows == 30 and str(t.schema.field("note").type) == "string"
    assert t.column("extra").to_pylist() == [None] * 10 + [1] * 10 + [None] * 10
    src = open_source(parse_url(f"{server}/drift", pagination="page"))
    with pytest.raises(HttpSourceError, match="schema="):
        list(src.batches(batch_size=10))  # batch 1 fixes note as null; batch 2 brings strings
    ok = open_source(parse_url(f"{server}/drift", pagination="page",
                               schema={"note": "string", "extra": "int64"}))
    # the first batch has no "extra" field: still a clear error rather than silent loss
    with pytest.raises(HttpSourceError, match="extra"):
        list(ok.batches(batch_size=10))


# ----------------------------------------------------------------------------- auth


def test_auth_bearer_api_key_basic(server, tmp_path):
    assert io.read(f"{server}/auth/bearer", token_env="SHOP_TOKEN").num_rows == 10
    assert io.read(f"{server}/auth/key", api_key_header="X-Shop-Key",
                   token_env="SHOP_TOKEN").num_rows == 10
    assert io.read(f"{server}/auth/key", api_key_param="api_key",
                   token_env="SHOP_TOKEN").num_rows == 10
    secret = tmp_path / "pw"
    secret.write_text(TOKEN + "\n")
    assert io.read(f"{server}/auth/basic", username="ann", password_file=str(secret)).num_rows == 10
    assert io.read(server.replace("://", f"://ann:{TOKEN}@") + "/auth/basic").num_rows == 10


def test_auth_failure_is_not_retried_and_hides_the_secret(server, monkeypatch):
    with pytest.raises(HttpAuthError, match="401.*token") as err:
        io.read(f"{server}/auth/bearer", max_retries=3)
    assert STATE.hits["/auth/bearer"] == 1
    monkeypatch.setenv("WRONG", "wrong-" + TOKEN)
    with pytest.raises(HttpAuthError, match="403") as err:
        io.read(f"{server}/auth/bearer", token_env="WRONG", max_retries=3)
    assert "token_env=WRONG" in str(err.value) and TOKEN not in str(err.value)
    assert STATE.hits["/auth/bearer"] == 2
    with pytest.raises(HttpAuthError) as err:  # key in the query string: hidden in the URL
        io.read(f"{server}/auth/key", api_key_param="wrong_param", token_env="SHOP_TOKEN")
    assert TOKEN not in str(err.value) and "***" in str(err.value)
    with pytest.raises(HttpAuthError, match="401"):  # the token is not sent to another host
        io.read(f"{server}/crosshost", token_env="SHOP_TOKEN")
    monkeypatch.delenv("SHOP_TOKEN")
    with pytest.raises(UsageError, match="SHOP_TOKEN"):
        io.read(f"{server}/auth/bearer", token_env="SHOP_TOKEN")


# ----------------------------------------------------------------------------- misbehaviour


def test_5xx_that_recovers_is_retried_and_data_complete(server):
    t = io.read(f"{server}/flaky", pagination="page", page_size=500, **FAST)
    assert ids(t) == IDS
    assert STATE.hits["flaky-p2"] == 3


def test_5xx_that_never_recovers_raises_after_max_retries(server):
    src = open_source(parse_url(f"{server}/broken", pagination="page", page_size=100,
                                max_retries=2, **FAST))
    with pytest.raises(HttpSourceError) as err:
        list(src.batches())
    msg = str(err.value)
    assert "page 3" in msg and "500" in msg and "3 attempts" in msg and "database on fire" in msg
    assert f"{server}/broken?page=3" in msg and err.value.status == 500 and err.value.page == 3
    assert STATE.hits["/broken"] == 2 + 3
    with pytest.raises(HttpSourceError, match="max_retries=1"):
        io.read(f"{server}/broken", pagination="page", max_retries=1, **FAST)  # nothing returned


def test_slow_page_times_out_retries_then_fails(server):
    with pytest.raises(HttpSourceError, match=r"page 2.*timed out after 0.2s"):
        io.read(f"{server}/slow", pagination="page", page_size=500, timeout=0.2, max_retries=1,
                **FAST)
    assert STATE.hits["/slow"] == 1 + 2


def test_truncated_json_and_html_name_the_page(server):
    with pytest.raises(HttpSourceError, match=r"page 2\).*truncated"):
        io.read(f"{server}/truncated", pagination="page", page_size=500)
    with pytest.raises(HttpSourceError) as err:
        io.read(f"{server}/html")
    msg = str(err.value)
    assert "text/html; charset=utf-8" in msg and "<!DOCTYPE html><html><head><title>Sign in" in msg
    assert "log in to continue ....." not in msg  # only the first 80 characters
    with pytest.raises(HttpSourceError, match="HTTP 404"):
        io.read(f"{server}/notfound")
    assert STATE.hits["/notfound"] == 1


def test_429_waits_retry_after(server):
    start = time.monotonic()
    t = io.read(f"{server}/ratelimited", pagination="page", page_size=500)
    assert ids(t) == IDS and STATE.hits["rl-p2"] == 2
    assert time.monotonic() - start >= 0.4
    assert STATE.times[2] - STATE.times[1] >= 0.39  # the retry came after Retry-After


def test_dropped_connection_is_retried(server):
    assert ids(io.read(f"{server}/dropper", pagination="page", page_size=500, **FAST)) == IDS


def test_rate_limit_caps_requests_per_second(server):
    t = io.read(f"{server}/orders", pagination="page", page_size=300, records_path="data.items",
                rate_limit=20)
    assert ids(t) == IDS
    # Requests are spaced >= 50 ms when sent; arrival times at the server can bunch up on a
    # busy machine (one late arrival shortens the next gap), so check the whole span,
    # which a missing throttle could not reach: 5 gaps of 50 ms, less one gap of slack.
    assert len(STATE.times) == 6
    assert STATE.times[-1] - STATE.times[0] >= 4 * 0.05


def test_retry_after_parsing_and_link_header():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(formatdate(time.time() - 60, usegmt=True)) == 0.0
    assert 25 < retry_after_seconds(formatdate(time.time() + 30, usegmt=True)) <= 31
    assert retry_after_seconds("soon") is None
    assert next_link('<https://a/x?p=2>; rel="next", <https://a/x?p=9>; rel="last"') == \
        "https://a/x?p=2"
    assert next_link('<https://a/x?p=1>; rel="prev"') is None


# ----------------------------------------------------------------------------- incremental


def test_incremental_since_and_watermark(server):
    src = open_source(parse_url(f"{server}/incremental", incremental_param="updated_since",
                                since="2024-01-27T00:00:59Z", watermark_field="updated_at"))
    rows = [r for b in src.batches() for r in b.to_pylist()]
    assert rows and all(r["updated_at"] > "2024-01-27T00:00:59Z" for r in rows)
    assert src.max_watermark == max(r["updated_at"] for r in rows)
    again = open_source(parse_url(f"{server}/incremental", incremental_param="updated_since",
                                  since="2099-01-01", watermark_field="updated_at"))
    assert list(again.batches()) == [] and again.max_watermark == "2099-01-01"
    with pytest.raises(UsageError, match="incremental_param"):
        open_source(parse_url(f"{server}/incremental", since="2024"))


def test_unknown_option_and_bad_style(server):
    with pytest.raises(UsageError, match="unknown HTTP source option.*pagesize"):
        io.read(f"{server}/orders", pagesize=10)
    with pytest.raises(UsageError, match="pagination must be"):
        io.read(f"{server}/orders", pagination="pages")
    with pytest.raises(UsageError, match="cursor_path"):
        io.read(f"{server}/cursor", pagination="cursor")


def test_secrets_are_never_logged(server, caplog):
    caplog.set_level(logging.DEBUG, logger="datamill.io.http")
    io.read(f"{server}/flaky", pagination="page", page_size=500, api_key_param="key",
            token_env="SHOP_TOKEN", **FAST)
    assert "retrying" in caplog.text and TOKEN not in caplog.text


def test_load_to_parquet(server, tmp_path):
    out = tmp_path / "orders.parquet"
    io.write(str(out), io.read_batches(f"{server}/orders", pagination="page", page_size=500,
                                       records_path="data.items"))
    assert pq.read_table(out).column("id").to_pylist() == IDS
