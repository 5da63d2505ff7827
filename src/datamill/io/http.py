"""The HTTP API connector: records of a paginated JSON REST API as Arrow record batches.

    io.read("https://api.shop.example/v1/orders", pagination="page", page_size=1000,
            records_path="data.items", token_env="SHOP_TOKEN")

One keep-alive connection per host (``http.client``, no extra dependency); pages are read
in order, their records found at ``records_path`` and converted to Arrow page by page,
then merged into batches of ``batch_size`` rows with one schema. Bounded retries with
exponential backoff and jitter on 429, 5xx, timeouts and dropped connections, honouring
``Retry-After``; an optional requests-per-second cap. Secrets (tokens, passwords, API
keys) come from the environment or a file and are replaced by ``***`` in every message.
Every option is described in ``docs/io-http.md``.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import http.client
import json
import logging
import random
import time
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import (
    parse_qsl,
    quote,
    quote_plus,
    unquote,
    urljoin,
    urlsplit,
    urlunsplit,
)

from datamill._secrets import from_options
from datamill.errors import DatamillError, UsageError
from datamill.io.http_limits import BodyTooLarge, Deadline, Limits, read_body, remaining
from datamill.io.http_paging import LoopGuard, Paginator, Request, get_path
from datamill.io.http_paging import flatten as _flatten
from datamill.io.http_paging import with_query as _with_query
from datamill.io.url import Location, opt_bool, opt_float, opt_int, redact_url

log = logging.getLogger("datamill.io.http")

__all__ = ["HttpAuthError", "HttpSource", "HttpSourceError", "open_source"]

OPTIONS = {
    # paging and records
    "pagination", "records_path", "page_param", "page_size", "page_size_param", "start_page",
    "offset_param", "start_offset", "total_path", "cursor_path", "cursor_param", "max_pages",
    # request
    "params", "headers", "timeout", "rate_limit", "max_retries", "backoff", "max_backoff",
    "max_retry_after", "compress", "deadline", "page_deadline", "max_body_bytes", "max_ratio",
    # auth
    "auth", "token", "token_env", "token_file", "api_key_header", "api_key_param", "username",
    "password", "password_env", "password_file",
    # incremental and shape
    "incremental_param", "since", "watermark_field", "flatten", "schema", "batch_size",
}
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


# ----------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic GC while building many small objects (JSON decoding makes millions
    of dicts with no cycles; collecting during that costs more than the decoding)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):  # from a URL query: JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise UsageError(f"{name} must be a mapping (or its JSON text), not {value!r}") from None
    if not isinstance(value, Mapping):
        raise UsageError(f"{name} must be a mapping, not {type(value).__name__}")
    return dict(value)


def _secret(opts: dict[str, Any], name: str) -> str | None:
    """A secret given directly (``token``), from an env variable (``token_env``) or a file
    (``token_file``): read by the one secret reader, ``datamill._secrets``."""
    return from_options(opts, name, "the HTTP source")


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


def split_location(raw: str) -> tuple[str, list[tuple[str, str]], str | None, str | None]:
    """``(url without query/credentials, query pairs, username, password)`` of a location;
    a ``#suffix`` is appended to the URL path (``shopapi#orders`` -> ``{url}/orders``)."""
    head, _, frag = raw.partition("#")
    url, _, query = head.partition("?")
    fpath, _, fquery = frag.partition("?")
    if fpath:
        url = url.rstrip("/") + "/" + fpath.lstrip("/")
    parts = urlsplit(url)
    user = password = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, pw = userinfo.partition(":")
        user, password = unquote(user) or None, (unquote(pw) if pw else None)
    clean = urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", "", ""))
    pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(fquery, keep_blank_values=True)
    return clean, pairs, user, password


# ----------------------------------------------------------------------------- the client


class _Client:
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


# ----------------------------------------------------------------------------- the source


class HttpSource:
    """The records of a JSON REST API listing, page after page, as Arrow record batches.

    After reading: ``page_count`` (pages read), ``records`` (records read), ``max_watermark``
    (largest ``watermark_field`` value seen, or ``since`` when nothing new arrived),
    ``connections_opened``, ``requests`` (including retries)."""

    def __init__(self, location: Location, **opts: Any):
        self.location = location
        raw_opts = {**location.options, **opts}
        url, pairs, user, password = split_location(location.raw)
        url_keys = {k for k, _ in pairs}
        query_params: dict[str, Any] = {}
        for k, v in pairs:
            if k not in OPTIONS:
                query_params[k] = v
        unknown = sorted(k for k in raw_opts if k not in OPTIONS and k not in url_keys)
        if unknown:
            raise UsageError(f"unknown HTTP source option(s) {', '.join(unknown)}; send API "
                             "parameters with params={...} or in the URL query; options are "
                             "listed in docs/io-http.md")
        o = {k: v for k, v in raw_opts.items() if k in OPTIONS and v is not None}
        self.url = url
        self.options = o
        self.secrets: list[str] = []

        headers = {"Accept": "application/json", "User-Agent": "datamill"}
        headers.update({str(k): str(v) for k, v in _mapping(o.get("headers"), "headers").items()})
        params = {**query_params, **_mapping(o.get("params"), "params")}

        auth = (o.get("auth") or "").lower() or None
        token = _secret(o, "token")
        if auth is None:
            if o.get("api_key_header") or o.get("api_key_param"):
                auth = "api_key"
            elif token is not None:
                auth = "bearer"
            elif o.get("username") or user or _secret(o, "password") is not None:
                auth = "basic"
        hint = "check the credentials"
        if auth == "bearer":
            if token is None:
                raise UsageError("auth='bearer' needs token_env= (or token_file=) with the token")
            self.secrets.append(token)
            headers["Authorization"] = f"Bearer {token}"
            hint = f"check the token ({_where(o, 'token')})"
        elif auth == "api_key":
            if token is None:
                raise UsageError("auth='api_key' needs token_env= (or token_file=) with the key")
            self.secrets.append(token)
            if o.get("api_key_param"):
                params[str(o["api_key_param"])] = token
            else:
                headers[str(o.get("api_key_header") or "X-API-Key")] = token
            hint = f"check the API key ({_where(o, 'token')})"
        elif auth == "basic":
            username = o.get("username") or user or ""
            pw = _secret(o, "password")
            pw = password if pw is None else pw
            if pw is None:
                raise UsageError("auth='basic' needs password_env= (or password_file=)")
            self.secrets.append(pw)
            cred = base64.b64encode(f"{username}:{pw}".encode()).decode()
            self.secrets.append(cred)
            headers["Authorization"] = f"Basic {cred}"
            hint = f"check the user name and password ({_where(o, 'password')})"
        elif auth is not None:
            raise UsageError(f"auth must be bearer, api_key or basic, not {auth!r}")
        else:
            hint = "the API needs credentials: set token_env= (bearer), api_key_header= with " \
                   "token_env= (API key) or username= with password_env= (basic)"
        if password:
            self.secrets.append(password)
        self.auth = auth

        if o.get("since") is not None:
            if not o.get("incremental_param"):
                raise UsageError("since= needs incremental_param= (the API parameter that takes "
                                 "it, e.g. incremental_param='updated_since')")
            params[str(o["incremental_param"])] = o["since"]
        self.params = params
        self.records_path = o.get("records_path") or None
        def num(name: str, default: float | None) -> float | None:
            return opt_float(o.get(name), default, name=name)

        def whole(name: str, default: int | None) -> int | None:
            return opt_int(o.get(name), default, name=name)

        self.flatten = opt_bool(o.get("flatten"), name="flatten")
        self.watermark_field = o.get("watermark_field") or None
        self.since = o.get("since")
        self.max_pages = whole("max_pages", None)
        self.batch_size = whole("batch_size", None)
        self.schema_override = _schema(o.get("schema"))
        style = str(o.get("pagination") or "auto").lower()
        page_opts = {k: o.get(k) for k in ("page_param", "page_size_param", "offset_param",
                                            "total_path", "cursor_path", "cursor_param")}
        page_opts.update(page_size=whole("page_size", None), start_page=whole("start_page", 1),
                         start_offset=whole("start_offset", 0))
        self._paging = (style, page_opts)
        Paginator(style, url, params, page_opts)  # validate now, not at the first read
        self._secret_headers = {k for k in headers if k == "Authorization"
                                or k == str(o.get("api_key_header") or "X-API-Key")}
        self._client_args = dict(
            headers=headers, timeout=num("timeout", 30.0), rate_limit=num("rate_limit", None),
            max_retries=whole("max_retries", 5), backoff=num("backoff", 0.5),
            max_backoff=num("max_backoff", 30.0), max_retry_after=num("max_retry_after", 300.0),
            compress=opt_bool(o.get("compress"), True, name="compress"), redact=self.redact,
            auth_hint=hint,
            limits=Limits(num("deadline", 300.0), num("page_deadline", 900.0),
                          whole("max_body_bytes", 256 << 20), num("max_ratio", 200.0)))
        self.page_count = 0
        self.records = 0
        self.requests = 0
        self.connections_opened = 0
        self.max_watermark: Any = None
        self._schema: Any = None

    # -- secrets ------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every secret of this source (and URL passwords) replaced by ***."""
        text = redact_url(str(text))
        for s in sorted(self.secrets, key=len, reverse=True):
            if s:
                text = text.replace(s, "***")
                for enc in (quote(s, safe=""), quote_plus(s)):
                    if enc != s:
                        text = text.replace(enc, "***")
        return text

    @property
    def display(self) -> str:
        return self.redact(self.url)

    # -- reading ------------------------------------------------------------------------

    def schema(self) -> Any | None:
        return self._schema

    def pages(self) -> Iterator[tuple[int, Any]]:
        """``(number of records, Arrow table or None)`` of each page, in order.

        Decoding, conversion to Arrow and freeing the Python records happen with the cyclic
        GC paused, so it never walks the page's millions of short-lived objects."""
        style, page_opts = self._paging
        pager = Paginator(style, self.url, self.params, page_opts)
        client = _Client(**self._client_args)
        client.secret_headers = self._secret_headers
        req: Request | None = pager.first()
        loops = LoopGuard(pager.style, self.display)
        page = 0
        try:
            while req is not None:
                page += 1
                if self.max_pages is not None and page > self.max_pages:
                    log.warning("stopped after max_pages=%d pages of %s", self.max_pages,
                                self.display)
                    break
                full = _with_query(req.url, req.params)
                _, headers, body = client.get(full, page)
                loop = loops.check(self.redact(full), body, page)
                if loop:
                    raise HttpSourceError(loop, self.redact(full), None, page)
                with _no_gc():
                    data = self._parse(body, headers, full, page)
                    records = self._records(data, full, page)
                    count = len(records)
                    table = self._page_table(records, page) if count else None
                    nxt = pager.next(req, records, data, headers)
                    del data, records, body
                self.page_count += 1
                self.records += count
                log.debug("page %d of %s: %d records", page, self.display, count)
                yield count, table
                req = nxt
        finally:
            self.requests += client.requests
            self.connections_opened += client.connections_opened
            client.close()

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000) -> Iterator[Any]:
        """Yield record batches of ``batch_size`` rows (the last one shorter), one schema."""
        import pyarrow as pa

        size = self.batch_size or batch_size
        pending: list[Any] = []
        rows = 0
        for count, table in self.pages():
            if not count:
                continue
            pending.append(table)
            rows += count
            while rows >= size:
                table = _concat(pending)
                head, rest = table.slice(0, size), table.slice(size)
                yield self._finish(head, columns)
                pending, rows = ([rest] if rest.num_rows else []), rest.num_rows
        if rows:
            yield self._finish(_concat(pending), columns)
        if self.max_watermark is None and self.since is not None:
            self.max_watermark = self.since
        if self._schema is None and columns is None:
            self._schema = pa.schema([])

    # -- internals ----------------------------------------------------------------------

    def _parse(self, body: bytes, headers: Any, url: str, page: int) -> Any:
        ctype = headers.get("Content-Type") or ""
        low = ctype.lower()
        start = body.lstrip()[:1]
        if "html" in low or ("json" not in low and start not in (b"{", b"[")):
            text = body[:SNIPPET * 4].decode("utf-8", "replace").strip().replace("\n", " ")
            raise HttpSourceError(self.redact(
                f"GET {url} (page {page}) returned {ctype or 'no Content-Type'}, not JSON: "
                f"{text[:SNIPPET]!r}; check the URL (an HTML page is often a login or error "
                "page)"), self.redact(url), 200, page)
        try:
            return json.loads(body)
        except ValueError as exc:
            pos = getattr(exc, "pos", None)
            truncated = pos is not None and pos >= len(body.rstrip()) - 1
            why = "the body is truncated" if truncated else "the body is not valid JSON"
            raise HttpSourceError(self.redact(
                f"GET {url} (page {page}): {why} ({exc}; {len(body)} bytes received)"),
                self.redact(url), 200, page) from None

    def _records(self, data: Any, url: str, page: int) -> list[Any]:
        if self.records_path:
            found = get_path(data, self.records_path)
            if found is None:
                keys = ", ".join(list(data)[:10]) if isinstance(data, dict) else type(data).__name__
                raise HttpSourceError(self.redact(
                    f"GET {url} (page {page}): no records at records_path="
                    f"{self.records_path!r} (top-level keys: {keys})"), self.redact(url), 200, page)
            return found if isinstance(found, list) else [found]
        if isinstance(data, list):
            return data
        if isinstance(data, dict):
            level = [data]
            for _ in range(3):  # breadth first: {"items": [...]}, then {"data": {"items": ...}}
                for node in level:
                    for value in node.values():
                        if isinstance(value, list):
                            return value
                level = [v for node in level for v in node.values() if isinstance(v, dict)]
            raise HttpSourceError(self.redact(
                f"GET {url} (page {page}): the response has no list of records; set "
                f"records_path= (top-level keys: {', '.join(list(data)[:10])})"),
                self.redact(url), 200, page)
        raise HttpSourceError(self.redact(
            f"GET {url} (page {page}): the response is a {type(data).__name__}, not records"),
            self.redact(url), 200, page)

    def _page_table(self, records: list[Any], page: int) -> Any:
        import pyarrow as pa

        try:
            arr = pa.array(records)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return self._columnwise(records, page)
        if pa.types.is_struct(arr.type):
            batch = pa.RecordBatch.from_struct_array(arr)
        else:
            batch = pa.RecordBatch.from_arrays([arr], ["value"])
        return pa.Table.from_batches([batch])

    def _columnwise(self, records: list[Any], page: int) -> Any:
        """Slow path for a page whose records mix types: convert column by column, with the
        ``schema=`` types, so the error can name the column."""
        import pyarrow as pa

        if not all(isinstance(r, dict) for r in records):
            raise HttpSourceError(f"page {page} of {self.display}: records mix objects and "
                                  "other values", self.display, 200, page)
        names = list(dict.fromkeys(k for r in records for k in r))
        cols = {}
        for name in names:
            values = [r.get(name) for r in records]
            typ = self.schema_override.get(name) if self.schema_override else None
            try:
                cols[name] = pa.array(values, type=typ)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise HttpSourceError(
                    f"page {page} of {self.display}: field {name!r} mixes value types ({exc}); "
                    f"give its type, e.g. schema={{'{name}': 'string'}}", self.display, 200,
                    page) from None
        return pa.table(cols)

    def _finish(self, table: Any, columns: list[str] | None) -> Any:
        """Apply schema overrides, keep one schema across batches, the watermark, flatten,
        select columns; return one record batch."""
        import pyarrow as pa

        if self.schema_override:
            for name, typ in self.schema_override.items():
                idx = table.schema.get_field_index(name)
                if idx >= 0 and table.schema.field(idx).type != typ:
                    try:
                        table = table.set_column(idx, name, table.column(idx).cast(typ))
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                        raise HttpSourceError(f"{self.display}: cannot convert field {name!r} "
                                              f"to {typ} ({exc})", self.display) from None
        if self.watermark_field:
            self._update_watermark(table)
        if self.flatten:
            table = _flatten(table)
        if self._schema is None:
            self._schema = table.schema
        elif not table.schema.equals(self._schema):
            table = self._conform(table)
        if columns is not None:
            missing = [c for c in columns if c not in table.column_names]
            if missing:
                raise UsageError(f"{self.display} has no column(s) {', '.join(missing)} "
                                 f"(columns: {', '.join(table.column_names)})")
            table = table.select(columns)
        batches = table.combine_chunks().to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)

    def _conform(self, table: Any) -> Any:
        import pyarrow as pa

        try:
            merged = pa.concat_tables([self._schema.empty_table(), table],
                                      promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            merged, err = None, str(exc)
        if merged is not None and merged.schema.equals(self._schema):
            return merged
        if merged is not None:
            new = [f"{f.name}: {f.type}" for f in merged.schema
                   if f.name not in self._schema.names or self._schema.field(f.name) != f]
            err = "fields new or wider than in the first batch: " + ", ".join(new)
        raise HttpSourceError(
            f"{self.display}: the records of a later batch do not fit the schema of the "
            f"first batch ({err}); give the types with schema={{...}} or raise "
            "batch_size so one batch sees them", self.display)

    def _update_watermark(self, table: Any) -> None:
        import pyarrow.compute as pc

        first, *rest = self.watermark_field.split(".")
        if first not in table.column_names:
            raise UsageError(f"watermark_field {self.watermark_field!r} is not a field of the "
                             f"records of {self.display} (fields: {', '.join(table.column_names)})")
        col = table.column(first)
        for part in rest:
            col = pc.struct_field(col, part)
        value = pc.max(col).as_py()
        if value is not None and (self.max_watermark is None or value > self.max_watermark):
            self.max_watermark = value


def _where(o: dict[str, Any], name: str) -> str:
    if o.get(f"{name}_env"):
        return f"{name}_env={o[f'{name}_env']}"
    if o.get(f"{name}_file"):
        return f"{name}_file={o[f'{name}_file']}"
    return f"set {name}_env= or {name}_file="


def _schema(value: Any) -> dict[str, Any] | None:
    """``schema=`` as {name: pyarrow type}: a pyarrow Schema, or a mapping of type names."""
    if value is None:
        return None
    import pyarrow as pa

    if isinstance(value, pa.Schema):
        return {f.name: f.type for f in value}
    out = {}
    for name, typ in _mapping(value, "schema").items():
        if isinstance(typ, pa.DataType):
            out[name] = typ
            continue
        try:
            out[name] = pa.type_for_alias(str(typ))
        except (ValueError, KeyError):
            raise UsageError(f"schema: unknown type {typ!r} for {name!r} (use int64, double, "
                             "string, bool, timestamp[us], date32, ...)") from None
    return out


def _concat(tables: list[Any]) -> Any:
    import pyarrow as pa

    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise HttpSourceError(f"the records of consecutive pages do not share types ({exc}); "
                              "give the types with schema={...}") from None


def open_source(loc: Location, **opts: Any) -> HttpSource:
    """The connector entry point: an :class:`HttpSource` for an ``http(s)://`` location."""
    return HttpSource(loc, **opts)
