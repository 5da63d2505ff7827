"""The URL grammar of connectors: what a location string means.

* files and lakes: a local path (globs allowed), ``file:///abs/path``, ``s3://bucket/key``;
  the format comes from the extension or ``?format=csv`` (``csv``, ``tsv``, ``json``,
  ``ndjson``, ``parquet``, ``excel``, ``tfrecord``, ``delta``).
* databases: a SQLAlchemy URL (``sqlite:///file.db``, ``duckdb:///file.duckdb``,
  ``postgresql://user@host:5432/db``, ``mysql+pymysql://user@host/db``) followed by
  ``#table`` or ``#schema.table``.
* query options after ``?`` (``?format=csv&delimiter=;``) are connector options; options
  passed in Python win.

Passwords in URLs are never shown: ``Location.display`` redacts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from datamill.core.redaction import redact_url
from datamill.errors import UsageError
from datamill.store.remote import CLOUD_SCHEMES

DB_SCHEMES = ("sqlite", "duckdb", "postgresql", "postgres", "mysql", "mariadb")
FILE_SCHEMES = ("", "file", *CLOUD_SCHEMES, "memory")  # s3, s3a, az, abfs, abfss, gs, gcs


@dataclass(frozen=True)
class Location:
    """A parsed connector URL."""

    raw: str
    family: str  # "file" | "sql" | scheme of another family
    scheme: str
    path: str  # file path / URL without query; database URL without fragment and query
    table: str | None = None
    schema: str | None = None
    options: dict[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The URL with any password replaced by ***."""
        return redact_url(self.raw)

    @property
    def dataset(self) -> str:
        """The normalised dataset identity used for lineage (URL + table or path)."""
        if self.family == "sql":
            base = redact_url(_absolute_file_db(self.path), drop_user=False)
            qual = f"{self.schema}.{self.table}" if self.schema else self.table
            return f"{base}#{qual}"
        if self.scheme in ("", "file"):
            return "file://" + str(Path(self.path).expanduser().resolve())
        return redact_url(self.path)


def _absolute_file_db(url: str) -> str:
    """``sqlite:///rel/x.db`` -> ``sqlite:////abs/rel/x.db`` (also DuckDB): a file database
    named relative to where it was opened is one dataset, wherever the run started."""
    m = re.match(r"^((?:sqlite|duckdb)(?:\+\w+)?:///)([^?#]*)(.*)$", url, re.I)
    if not m or not m.group(2) or m.group(2).startswith("/") or m.group(2) == ":memory:":
        return url
    return m.group(1) + str(Path(m.group(2)).expanduser().resolve()) + m.group(3)


def parse_url(url: str | Path, **options: Any) -> Location:
    """Split a location string into family, scheme, path, table and options."""
    text = str(url).strip()
    if not text:
        raise UsageError("empty location: give a path, an s3:// URL or a database URL#table")
    scheme = text.split("://", 1)[0].split("+", 1)[0].lower() if "://" in text else ""
    if scheme in DB_SCHEMES:
        base, _, fragment = text.partition("#")
        clean, _, query = base.partition("?")
        opts = dict(parse_qsl(query))
        table = schema = None
        if fragment:
            frag, _, fq = fragment.partition("?")
            opts.update(parse_qsl(fq))
            if "." in frag:
                schema, table = frag.split(".", 1)
            else:
                table = frag
        opts.update({k: v for k, v in options.items() if v is not None})
        return Location(text, "sql", "postgresql" if scheme == "postgres" else scheme, clean,
                        table or None, schema or None, opts)
    if scheme in FILE_SCHEMES or len(scheme) == 1:  # "C:" style drive letters count as paths
        path, _, query = text.partition("?")
        opts = dict(parse_qsl(query))
        opts.update({k: v for k, v in options.items() if v is not None})
        if scheme == "file":
            path = path[len("file://"):]
        return Location(text, "file", scheme if scheme != "file" else "", path, None, None, opts)
    base, _, query = text.partition("?")
    opts = dict(parse_qsl(query))
    opts.update({k: v for k, v in options.items() if v is not None})
    return Location(text, scheme, scheme, base, None, None, opts)


def with_options(loc: Location, **options: Any) -> Location:
    """``loc`` with ``options`` added to its own (they win; None means "not given"), as
    ``parse_url(loc.raw, **options)`` would give, without parsing the URL again."""
    extra = {k: v for k, v in options.items() if v is not None}
    return replace(loc, options={**loc.options, **extra}) if extra else loc


# -- option values ------------------------------------------------------------------------
# One parser per kind for every connector: an option arrives as text from a URL query or
# datamill.toml, or as a Python value, and means the same wherever it is used.

TRUE = ("1", "true", "yes", "y", "on", "t")
FALSE = ("0", "false", "no", "n", "off", "f")


def opt_bool(value: Any, default: bool = False, *, name: str = "option") -> bool:
    """A yes/no option: a bool or number as Python says, text by ``TRUE`` / ``FALSE``
    (any case); None or empty text is ``default``; any other text is a UsageError (a typo
    must not silently mean "no")."""
    if value is None:
        return default
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return default
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise UsageError(f"option {name}={value!r} must be true or false "
                         f"({'/'.join(TRUE)} or {'/'.join(FALSE)})")
    return bool(value)


def opt_float(value: Any, default: float | None = None, *, name: str = "option") -> float | None:
    """A number option; None or empty text is ``default``."""
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"option {name}={value!r} must be a number") from None


def opt_int(value: Any, default: int | None = None, *, name: str = "option") -> int | None:
    """A whole-number option (``5``, ``"5"``, ``"5.0"``); None or empty text is ``default``."""
    number = opt_float(value, None, name=name)
    if number is None:
        return default
    if number != int(number):
        raise UsageError(f"option {name}={value!r} must be a whole number")
    return int(number)
