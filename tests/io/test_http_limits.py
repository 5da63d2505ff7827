"""The HTTP source against a hostile local server: slow headers, a slow-loris body, a gzip
bomb, an endless chunked body and pagination that loops. Each must end with a clear error
naming the limit, fast and in bounded memory."""

from __future__ import annotations

import json
import threading
import time
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from datamill import io
from datamill.io.http import HttpSourceError

ROWS = [{"id": i} for i in range(10)]


def _bomb(decoded_mib: int) -> bytes:
    """A gzip stream of ``decoded_mib`` MiB of spaces, built without holding it decoded."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    parts = [comp.compress(b"[")]
    parts += [comp.compress(block) for _ in range(decoded_mib)]
    parts.append(comp.compress(b"]") + comp.flush())
    return b"".join(parts)


BOMB = _bomb(1024)  # 1 GiB decoded, about 1 MB on the wire


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _head(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def do_GET(self):  # noqa: C901 - one branch per scenario
        parts = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        body = json.dumps(ROWS).encode()
        stop = time.monotonic() + 20  # never outlive the test run
        try:
            if path == "/slow_headers":  # one header line every 0.1 s, forever
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                i = 0
                while time.monotonic() < stop:
                    self.wfile.write(f"X-Pad-{i}: x\r\n".encode())
                    self.wfile.flush()
                    i += 1
                    time.sleep(0.1)
            elif path == "/slowloris":  # a body of 10 MB sent one byte every 0.05 s
                self._head({"Content-Length": str(10_000_000)})
                while time.monotonic() < stop:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            elif path == "/bomb":
                self._head({"Content-Encoding": "gzip", "Content-Length": str(len(BOMB))})
                self.wfile.write(BOMB)
            elif path == "/endless":  # chunked, never ends
                self._head({"Transfer-Encoding": "chunked"})
                self.wfile.write(b"1\r\n[\r\n")
                chunk = b" " * 65536
                while time.monotonic() < stop:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            elif path == "/self_link":  # rel=next points at this very page
                self._head({"Content-Length": str(len(body)),
                            "Link": f'<{self.path}>; rel="next"'})
                self.wfile.write(body)
            elif path == "/cycle":  # a -> b -> a
                nxt = "/cycle?p=b" if q.get("p", "a") == "a" else "/cycle?p=a"
                rows = json.dumps([{"id": q.get("p", "a")}]).encode()
                self._head({"Content-Length": str(len(rows)), "Link": f'<{nxt}>; rel="next"'})
                self.wfile.write(rows)
            elif path == "/ignores_page":  # the same page whatever ?page= says
                self._head({"Content-Length": str(len(body))})
                self.wfile.write(body)
            else:
                self.send_error(404)
        except OSError:
            pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.mark.timeout(60)
def test_slow_headers_hit_the_request_deadline(server):
    # each header line arrives well within timeout=5, so only the overall deadline ends it
    with pytest.raises(HttpSourceError, match=r"page 1.*within deadline=0.5s.*raise deadline="):
        io.read(f"{server}/slow_headers", timeout=5, deadline=0.5, max_retries=0)


@pytest.mark.timeout(60)
def test_slowloris_body_hits_the_deadline_also_as_url_option(server):
    with pytest.raises(HttpSourceError, match=r"slowloris.*within deadline=0.5s"):
        io.read(f"{server}/slowloris?deadline=0.5&max_retries=0", timeout=5)


@pytest.mark.timeout(60)
def test_page_deadline_bounds_all_attempts(server):
    with pytest.raises(HttpSourceError, match=r"page_deadline=1s.*raise page_deadline="):
        io.read(f"{server}/slowloris", timeout=5, deadline=0.4, page_deadline=1,
                max_retries=100, backoff=0.01, max_backoff=0.05)


@pytest.mark.timeout(60)
def test_gzip_bomb_fails_fast_in_bounded_memory(server):
    tracemalloc.start()
    try:
        with pytest.raises(HttpSourceError, match=r"bomb.*max_ratio=200.*raise max_ratio="):
            io.read(f"{server}/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 << 20  # the body decodes to 1 GiB


@pytest.mark.timeout(60)
def test_decoded_size_cap(server):
    tracemalloc.start()
    try:
        with pytest.raises(HttpSourceError, match=r"decodes to more than max_body_bytes=8388608"):
            io.read(f"{server}/bomb", max_body_bytes=8 << 20, max_ratio=1e9)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20


@pytest.mark.timeout(60)
def test_endless_chunked_body_hits_the_size_cap(server):
    with pytest.raises(HttpSourceError, match=r"larger than max_body_bytes=4194304 \(4 MiB\)"):
        io.read(f"{server}/endless", max_body_bytes=4 << 20)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("path", ["/self_link", "/cycle"])
def test_link_loops_are_detected(server, path):
    with pytest.raises(HttpSourceError, match=r"already read as page \d.*pagination loops"):
        io.read(f"{server}{path}")


@pytest.mark.timeout(60)
def test_api_ignoring_the_page_parameter_is_a_loop(server):
    with pytest.raises(HttpSourceError, match=r"page 2 .*same body as page 1"):
        io.read(f"{server}/ignores_page", pagination="page")
