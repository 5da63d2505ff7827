"""What every broker and cache connector shares: rows <-> JSON, Arrow batches from decoded
messages, URL pieces, and the ``Rejected`` record of a message that could not be decoded."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from datamill.errors import UsageError
from datamill.io import url as url_opts


@dataclass
class Rejected:
    """A message that could not be turned into a row, kept with its reason (never dropped)."""

    id: Any
    payload: bytes
    reason: str


@dataclass(frozen=True)
class Parts:
    """A broker URL split: ``scheme://user:pw@host:port/path#fragment?query``."""

    scheme: str
    host: str
    port: int | None
    username: str | None
    password: str | None
    path: str  # without the leading "/" and unquoted
    raw_path: str  # as written (still quoted)
    fragment: str
    options: dict[str, Any]


def split_url(loc: Any) -> Parts:
    """Split a location's raw URL; a query may follow the fragment (``#queue?prefetch=10``)."""
    text = loc.raw
    base, _, fragment = text.partition("#")
    opts: dict[str, Any] = {}
    base, _, q1 = base.partition("?")
    opts.update(parse_qsl(q1))
    fragment, _, q2 = fragment.partition("?")
    opts.update(parse_qsl(q2))
    # options given in Python (parse_url(**options)) win over the URL's
    naive = dict(parse_qsl(text.partition("?")[2]))
    opts.update({k: v for k, v in loc.options.items() if naive.get(k, object()) != v})
    u = urlsplit(base)
    return Parts(u.scheme.lower(), u.hostname or "127.0.0.1", u.port,
                 unquote(u.username) if u.username else None,
                 unquote(u.password) if u.password else None,
                 unquote(u.path.lstrip("/")), u.path.lstrip("/"), unquote(fragment), opts)


def opt_float(opts: dict[str, Any], name: str, default: float | None) -> float | None:
    """The option ``name`` of ``opts`` as a number (the one parser of ``io.url``)."""
    return url_opts.opt_float(opts.get(name), default, name=name)


def opt_int(opts: dict[str, Any], name: str, default: int | None) -> int | None:
    return url_opts.opt_int(opts.get(name), default, name=name)


def opt_bool(opts: dict[str, Any], name: str, default: bool) -> bool:
    return url_opts.opt_bool(opts.get(name), default, name=name)


def opt_list(opts: dict[str, Any], name: str) -> list[str]:
    value = opts.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in (s.strip() for s in value.split(",")) if v]
    return [str(v) for v in value]


# ------------------------------------------------------------------------ rows <-> JSON


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(row: dict[str, Any]) -> bytes:
    """A row as compact JSON bytes (dates as ISO strings, decimals as strings)."""
    return json.dumps(row, default=_default, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def rows_of(batches: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """The rows (dicts) of Arrow record batches."""
    for batch in batches:
        yield from batch.to_pylist()


def decode_json(payload: bytes | str) -> tuple[dict[str, Any] | None, str | None]:
    """``(row, None)`` for a JSON object payload, else ``(None, reason)``."""
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"JSON {type(value).__name__}, not an object"
    return value, None


def row_key(row: dict[str, Any], key: list[str]) -> str:
    """The cache key part of a row: its key columns joined by ':'."""
    parts = []
    for k in key:
        if k not in row:
            raise UsageError(f"key column {k!r} is not in the data (columns: {', '.join(row)})")
        if row[k] is None:
            raise UsageError(f"key column {k!r} is null in row {row!r}: every row needs a key")
        parts.append(str(row[k]))
    return ":".join(parts)


# ------------------------------------------------------------------------ rows -> Arrow


def _column(values: list[Any]) -> Any:
    import pyarrow as pa

    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        # mixed types across messages: keep every value, as JSON text
        return pa.array([None if v is None else v if isinstance(v, str)
                         else json.dumps(v, default=_default) for v in values], pa.string())


def rows_to_batch(rows: list[dict[str, Any]], columns: list[str] | None = None) -> Any:
    """An Arrow record batch from dict rows; columns are the union of keys in first-seen order
    (missing values are null); a column whose values mix types becomes JSON text."""
    import pyarrow as pa

    names: dict[str, None] = {}
    for r in rows:
        for k in r:
            names.setdefault(k, None)
    wanted = list(names) if columns is None else columns
    arrays = [_column([r.get(n) for r in rows]) for n in wanted]
    return pa.RecordBatch.from_arrays(arrays, names=wanted)


def rows_to_batches(rows: list[dict[str, Any]], columns: list[str] | None,
                    batch_size: int) -> Iterator[Any]:
    """Batches of at most ``batch_size`` rows, all with one schema (inferred over all rows)."""
    if not rows:
        return
    import pyarrow as pa

    table = pa.Table.from_batches([rows_to_batch(rows, columns)])
    yield from table.to_batches(max_chunksize=max(1, batch_size))


def cast_like(batches: list[Any]) -> list[Any]:
    """Unify schemas of batches decoded separately (nulls promote, conflicts become text)."""
    import pyarrow as pa

    if len({b.schema for b in batches}) <= 1:
        return batches
    try:
        table = pa.concat_tables([pa.Table.from_batches([b]) for b in batches],
                                 promote_options="permissive")
        return table.to_batches()
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        rows = [r for b in batches for r in b.to_pylist()]
        return [rows_to_batch(rows)]


DEFAULT_MAX_MESSAGES = 100_000
DEFAULT_IDLE_TIMEOUT = 1.0


# ------------------------------------------------------------------------- the contract

class DrainSource:
    """What every broker source does: receive once, decode, yield batches, commit or release.

    Subclasses implement ``_receive() -> list[(id, payload)]`` (payload: bytes, or a dict
    for brokers whose messages are field maps), ``_ack()`` and ``_release()``.
    """

    position: Any = None  # the replayable position after the last delivered message

    def __init__(self, loc: Any):
        self.location = loc
        self.parts = split_url(loc)
        self.options = self.parts.options
        self.max_messages = opt_int(self.options, "max_messages", DEFAULT_MAX_MESSAGES) or 1
        self.idle_timeout = opt_float(self.options, "idle_timeout", DEFAULT_IDLE_TIMEOUT) or 0.0
        self.rejected: list[Rejected] = []
        self.delivered = 0
        self.committed = False
        self.closed = False
        self._messages: list[tuple[Any, Any]] | None = None

    def required(self, name: str, why: str) -> str:
        """The option ``name``, which this broker cannot drain without (``why``)."""
        value = self.options.get(name)
        if not value:
            raise UsageError(f"{self.location.display}: add ?{name}=NAME: {why}")
        return str(value)

    def schema(self) -> Any | None:
        return None

    def messages(self) -> list[tuple[Any, Any]]:
        """The drained ``(id, payload)`` pairs (received on first use)."""
        if self._messages is None:
            self._messages = self._receive()
            self.delivered = len(self._messages)
        return self._messages

    def batches(self, *, columns: list[str] | None = None,
                batch_size: int = 100_000) -> Iterator[Any]:
        rows: list[dict[str, Any]] = []
        self.rejected = []
        for mid, payload in self.messages():
            if isinstance(payload, dict):
                row, reason = payload, None
            else:
                row, reason = decode_json(payload)
            if row is None:
                self.rejected.append(Rejected(mid, payload, reason or "undecodable"))
            else:
                rows.append(row)
        yield from rows_to_batches(rows, columns, batch_size)

    def commit(self) -> None:
        """Acknowledge every delivered message (rejected ones too: they are in ``rejected``).
        Call only after the load of these rows committed."""
        if self.committed:
            return
        if self._messages:
            self._ack()
        self.committed = True
        self.close()

    def close(self) -> None:
        """Disconnect; without a commit the delivered messages go back for redelivery."""
        if self.closed:
            return
        self.closed = True
        self._release(acked=self.committed)

    def __enter__(self) -> DrainSource:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _receive(self) -> list[tuple[Any, Any]]:
        raise NotImplementedError

    def _ack(self) -> None:
        raise NotImplementedError

    def _release(self, acked: bool) -> None:
        raise NotImplementedError


def publish_rows(batches: Iterable[Any], send: Callable[[bytes], None]) -> int:
    n = 0
    for row in rows_of(batches):
        send(dumps(row))
        n += 1
    return n
