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

The client (connections, retries, redirects, rate cap) is ``http_client.py``; paging
styles are ``http_paging.py``; deadlines and body limits ``http_limits.py``.
"""

from __future__ import annotations

import base64
import contextlib
import gc
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import (
    parse_qsl,
    quote,
    quote_plus,
    unquote,
    urlsplit,
    urlunsplit,
)

from datamill._secrets import from_options
from datamill.errors import UsageError
from datamill.io.http_client import (
    SNIPPET,
    Client,
    HttpAuthError,
    HttpSourceError,
    retry_after_seconds,  # noqa: F401 - importable from here, as before the split
)
from datamill.io.http_limits import Limits
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
        client = Client(**self._client_args)
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
