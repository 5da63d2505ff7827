"""The HTTP client of the HTTP source: GET over one keep-alive connection per host, with
retries (backoff with jitter, ``Retry-After`` honoured up to a cap), redirects, a rate
cap and the response limits of ``http_limits``; credentials go only to the first host.
Its errors (``HttpSourceError``, ``HttpAuthError``) are the source's errors.
"""

from __future__ import annotations

import http.client
import logging
import random
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import (
    urljoin,
    urlsplit,
)

from datamill.errors import DatamillError
from datamill.io.http_limits import BodyTooLarge, Deadline, Limits, read_body, remaining

log = logging.getLogger("datamill.io.http")  # one logger for the HTTP source and its client

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))
REDIRECTS = (301, 302, 303, 307, 308)
SNIPPET = 80


class HttpSourceError(DatamillError):
    """An HTTP API could not be read: the message names the URL (secrets hidden), the
    status and the page."""

    def __init__(self, message: str, url: str = "", status: int | None = None,
                 page: int | None = None):
        super().__init__(message)
        self.url, self.status, self.page = url, status, page


class HttpAuthError(HttpSourceError):
    """401 / 403: the credentials are missing or wrong (never retried)."""

    exit_code = 2


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))



class Client:
    """GET requests over one keep-alive connection per host, with retries and a rate cap."""

    def __init__(self, *, headers: dict[str, str], timeout: float, rate_limit: float | None,
                 max_retries: int, backoff: float, max_backoff: float, max_retry_after: float,
                 compress: bool, redact: Any, auth_hint: str, limits: Limits):
        self.headers = headers
        self.limits = limits
        self.timeout = timeout
        self.interval = 1.0 / rate_limit if rate_limit else 0.0
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        self.max_retry_after = max_retry_after
        self.compress = compress
        self.redact = redact
        self.auth_hint = auth_hint
        self.conns: dict[tuple[str, str], http.client.HTTPConnection] = {}
        self.connections_opened = 0
        self.requests = 0
        self._next_at = 0.0
        self.origin: str | None = None  # credentials go only to the first request's host
        self.secret_headers: set[str] = set()

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()

    def _conn(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        conn = self.conns.get(key)
        if conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = cls(netloc, timeout=self.timeout)
            self.conns[key] = conn
        if conn.sock is None:
            self.connections_opened += 1
        return conn

    def _throttle(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self._next_at > now:
            time.sleep(self._next_at - now)
            now = self._next_at
        self._next_at = now + self.interval

    def _delay(self, attempt: int) -> float:
        base = min(self.max_backoff, self.backoff * (2 ** attempt))
        return base * (0.5 + random.random())  # full-ish jitter: 0.5x .. 1.5x

    def get(self, url: str, page: int) -> tuple[int, http.client.HTTPMessage, bytes]:
        """GET ``url`` (query included); retried, redirected; raises HttpSourceError."""
        attempt = 0
        redirects = 0
        stale_retry_used = False
        started = time.monotonic()
        while True:
            left = remaining(started, self.limits)
            if left <= 0:
                raise HttpSourceError(self.redact(
                    f"GET {url} (page {page}): no response within page_deadline="
                    f"{self.limits.page_deadline:g}s ({attempt} attempts, retries and waits "
                    "included); raise page_deadline= (a keyword or URL option)"),
                    self.redact(url), None, page)
            parts = urlsplit(url)
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            headers = dict(self.headers)
            if self.origin is None:
                self.origin = parts.netloc
            elif parts.netloc != self.origin:  # a redirect or Link to another host
                headers = {k: v for k, v in headers.items() if k not in self.secret_headers}
            if self.compress:
                headers.setdefault("Accept-Encoding", "gzip, deflate")
            self._throttle()
            conn = self._conn(parts.scheme, parts.netloc)
            reused = conn.sock is not None
            self.requests += 1
            where = self.redact(f"GET {url} (page {page})")
            dl = Deadline(conn, min(self.limits.deadline, left))
            try:
                with dl:
                    conn.request("GET", target, headers=headers)
                    resp = conn.getresponse()
                    body = read_body(resp, self.limits, where, dl)
                if resp.will_close:
                    conn.close()
            except BodyTooLarge as exc:
                conn.close()
                raise HttpSourceError(self.redact(str(exc)), self.redact(url), None, page) from None
            except ValueError as exc:  # a corrupt gzip / deflate body
                conn.close()
                raise HttpSourceError(f"{where}: {self.redact(str(exc))}", self.redact(url),
                                      200, page) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if dl.expired:
                    which = ("deadline", self.limits.deadline) if dl.seconds < left else (
                        "page_deadline", self.limits.page_deadline)
                    failure = (f"no complete response within {which[0]}={which[1]:g}s "
                               f"(headers and body); raise {which[0]}= (a keyword or URL "
                               "option)")
                    status, wait = None, self._delay(attempt)
                elif (reused and not stale_retry_used and isinstance(
                        exc, (http.client.RemoteDisconnected, ConnectionResetError,
                              BrokenPipeError))):
                    stale_retry_used = True  # the server closed an idle keep-alive connection
                    continue
                else:
                    if isinstance(exc, TimeoutError):
                        failure = f"timed out after {self.timeout:g}s (timeout= option)"
                    else:
                        failure = f"connection error: {type(exc).__name__}: {exc}"
                    status, wait = None, self._delay(attempt)
            else:
                status = resp.status
                if 200 <= status < 300:
                    return status, resp.headers, body
                if status in REDIRECTS and resp.headers.get("Location") and redirects < 5:
                    redirects += 1
                    url = urljoin(url, resp.headers["Location"])
                    continue
                snippet = self._snippet(body)
                if status in (401, 403):
                    raise HttpAuthError(self.redact(
                        f"HTTP {status} {resp.reason} from {url} (page {page}): the API refused "
                        f"the credentials; {self.auth_hint}. Response: {snippet}"),
                        self.redact(url), status, page)
                if status not in RETRY_STATUS:
                    raise HttpSourceError(self.redact(
                        f"HTTP {status} {resp.reason} from {url} (page {page}): {snippet}"),
                        self.redact(url), status, page)
                failure = f"HTTP {status} {resp.reason}: {snippet}"
                wait = retry_after_seconds(resp.headers.get("Retry-After"))
                if wait is not None and wait > self.max_retry_after:
                    raise HttpSourceError(self.redact(
                        f"HTTP {status} from {url} (page {page}): the API asks to wait "
                        f"{wait:.0f}s (Retry-After), more than max_retry_after="
                        f"{self.max_retry_after:g}s; try later or raise max_retry_after"),
                        self.redact(url), status, page)
                if wait is None:
                    wait = self._delay(attempt)
            if attempt >= self.max_retries:
                raise HttpSourceError(self.redact(
                    f"GET {url} (page {page}) failed after {attempt + 1} attempts "
                    f"(max_retries={self.max_retries}): {failure}"),
                    self.redact(url), status, page)
            log.info("retrying %s (page %d) in %.2fs: %s", self.redact(url), page, wait,
                     self.redact(failure))
            attempt += 1
            time.sleep(max(0.0, min(wait, remaining(started, self.limits))))

    @staticmethod
    def _snippet(body: bytes) -> str:
        text = body[:SNIPPET * 4].decode("utf-8", "replace").strip().replace("\n", " ")
        return repr(text[:SNIPPET]) if text else "(empty body)"


