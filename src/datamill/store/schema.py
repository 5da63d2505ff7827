"""The run store's schema: ``SCHEMA_REVISION`` and (lazily) the tables of ``tables.py``.

``SCHEMA_REVISION`` is read on every open of the store; the SQLAlchemy metadata is needed
only by migrations and by layers using SQLAlchemy Core, so ``schema.runs``,
``schema.metadata``, ... import SQLAlchemy (through ``tables.py``) on first use and not
before (``import sqlalchemy`` alone costs ~150 ms on the development machine).
"""

from __future__ import annotations

from typing import Any

__all__ = [  # noqa: F822 - the tables are loaded on first use, by __getattr__
    "SCHEMA_REVISION",
    "JSONDocument",
    "UTCDateTime",
    "attempts",
    "json_type",
    "lineage",
    "metadata",
    "metrics",
    "runs",
    "saved_state",
    "task_runs",
]

#: The alembic revision this code expects; opening the store upgrades an older database.
#: Bump it with every new file in ``migrations/versions/`` (a test checks it is the head),
#: and regenerate ``migrations/sqlite_head.sql`` (``python -m datamill.store.migrations
#: sqlite-head``; a test checks it too).
SCHEMA_REVISION = "0002"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_LAZY = frozenset(__all__) - {"SCHEMA_REVISION"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from datamill.store import tables

        globals().update({k: getattr(tables, k) for k in _LAZY})
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
