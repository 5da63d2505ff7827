"""Pagination styles of JSON REST APIs: what to ask for next, and when to stop.

A paginator is asked for the first request's parameters, then shown each page (its
records, decoded body and headers) and answers the next request (URL + parameters) or
``None`` when the listing is complete. Styles: ``page`` (page number + page size),
``offset`` (offset + limit), ``cursor`` (next cursor read from the body), ``link`` (the
``Link: <...>; rel="next"`` header), ``none`` (one request) and ``auto`` (follow a ``Link``
header when the server sends one, else one request).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from datamill.errors import UsageError

STYLES = ("auto", "none", "page", "offset", "cursor", "link")

_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


def get_path(body: Any, path: str | None) -> Any:
    """The value at a dotted ``path`` (``meta.next``) of a decoded JSON body, or None."""
    if not path:
        return body
    node = body
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.lstrip("-").isdigit():
            idx = int(part)
            node = node[idx] if -len(node) <= idx < len(node) else None
        else:
            return None
        if node is None:
            return None
    return node


def next_link(header: str | None) -> str | None:
    """The URL of ``rel="next"`` in a ``Link`` header, if any."""
    if not header:
        return None
    for m in _LINK.finditer(header):
        params = m.group(2) or ""
        for p in params.split(";"):
            key, _, val = p.strip().partition("=")
            if key.strip().lower() == "rel" and "next" in val.strip().strip('"').lower().split():
                return m.group(1).strip()
    return None


@dataclass
class Request:
    """One request to make: the URL (without the connector's own query) and its params."""

    url: str
    params: dict[str, Any]


class Paginator:
    """Decides the next request of a listing from the page just read."""

    def __init__(self, style: str, url: str, params: dict[str, Any], opts: dict[str, Any]):
        if style not in STYLES:
            raise UsageError(f"pagination must be one of {', '.join(STYLES)}, not {style!r}")
        self.style = style
        self.url = url
        self.base = dict(params)
        self.page_size = opts.get("page_size")
        self.page_param = opts.get("page_param") or "page"
        self.offset_param = opts.get("offset_param") or "offset"
        default_size = "limit" if style == "offset" else "per_page"
        self.page_size_param = opts.get("page_size_param") or default_size
        self.page = int(opts.get("start_page") or 1)
        self.offset = int(opts.get("start_offset") or 0)
        self.total_path = opts.get("total_path")
        self.cursor_path = opts.get("cursor_path")
        self.cursor_param = opts.get("cursor_param") or "cursor"
        self.seen_records = 0
        self.cursors: set[str] = set()
        if style == "cursor" and not self.cursor_path:
            raise UsageError("pagination='cursor' needs cursor_path= (where the next cursor is "
                             "in the response, e.g. cursor_path='meta.next_cursor')")

    def first(self) -> Request:
        params = dict(self.base)
        if self.style == "page":
            params[self.page_param] = self.page
        elif self.style == "offset":
            params[self.offset_param] = self.offset
        if self.page_size and self.style in ("page", "offset", "cursor"):
            params[self.page_size_param] = self.page_size
        return Request(self.url, params)

    def next(self, current: Request, records: list[Any], body: Any,
             headers: Mapping[str, str]) -> Request | None:
        """The request after ``current``, or None when the listing is complete."""
        self.seen_records += len(records)
        style = self.style
        if style in ("auto", "link"):
            link = next_link(headers.get("Link") or headers.get("link"))
            if not link:
                return None
            # the next URL carries its own query; our params are not repeated
            return Request(urljoin(current.url, link), {})
        if style == "none":
            return None
        if style == "cursor":
            cursor = get_path(body, self.cursor_path)
            if cursor in (None, "", False) or not records:
                return None
            key = str(cursor)
            if key in self.cursors:
                raise UsageError(f"the API returned cursor {key!r} twice: its pagination "
                                 "would loop; check cursor_path / cursor_param")
            self.cursors.add(key)
            params = dict(current.params)
            params[self.cursor_param] = cursor
            return Request(current.url, params)
        # page / offset: stop on an empty page or once the announced total is reached
        if not records:
            return None
        if self.total_path:
            total = get_path(body, self.total_path)
            if total is not None and self.seen_records >= int(total):
                return None
        params = dict(current.params)
        if style == "page":
            self.page += 1
            params[self.page_param] = self.page
        else:
            self.offset += len(records)
            params[self.offset_param] = self.offset
        return Request(current.url, params)


class LoopGuard:
    """Stops a listing that loops: a ``Link: rel=next`` (or a redirect chain of pages)
    back to a URL already read, or a page whose body is the same as the page before (an
    API that ignores the page / offset parameter). Only a digest of each URL and of the
    last body is kept."""

    def __init__(self, style: str, display: str):
        self.style, self.display = style, display
        self.urls: dict[bytes, int] = {}
        self.last_body: bytes | None = None

    def check(self, url: str, body: bytes, page: int) -> str | None:
        """Why the listing loops at this page, or None."""
        key = hashlib.blake2b(url.encode(), digest_size=16).digest()
        first = self.urls.get(key)
        if first is not None:
            return (
                f"{self.display}: page {page} is {url}, already read as page {first}: the "
                "API's pagination loops (a Link rel=next or cursor back to an earlier page); "
                "stop earlier with max_pages= or check the pagination options")
        self.urls[key] = page
        digest = hashlib.blake2b(body, digest_size=16).digest()
        if self.style != "none" and digest == self.last_body and body.strip() not in (
                b"", b"[]", b"{}"):
            return (
                f"{self.display}: page {page} ({url}) has the same body as page {page - 1}: "
                "the API ignores the paging parameter and would loop; check page_param / "
                "offset_param / cursor_param, or stop with max_pages=")
        self.last_body = digest
        return None


# ----------------------------------------------------------------------------- URLs, shape


def with_query(url: str, params: Mapping[str, Any]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    have = {k for k, _ in pairs}
    pairs += [(k, _param_text(v)) for k, v in params.items() if k not in have]
    pairs = [(k, _param_text(params[k])) if k in params else (k, v) for k, v in pairs]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(pairs), ""))


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flatten(table: Any) -> Any:
    """Struct columns become ``parent__child`` columns, recursively."""
    import pyarrow as pa

    names, cols = [], []
    stack = list(zip(table.column_names, table.columns, strict=True))
    while stack:
        name, col = stack.pop(0)
        if pa.types.is_struct(col.type):
            children = col.flatten() if hasattr(col, "flatten") else None
            kids = [(f"{name}__{col.type.field(i).name}", children[i])
                    for i in range(col.type.num_fields)]
            stack[0:0] = kids
        else:
            names.append(name)
            cols.append(col)
    return pa.table(cols, names=names)
