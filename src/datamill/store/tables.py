"""The run store's tables as SQLAlchemy Core metadata, identical on SQLite and PostgreSQL.

``schema.py`` re-exports everything here on first use, so importing ``schema`` (for
``SCHEMA_REVISION``) does not import SQLAlchemy. The migrations in
``migrations/versions/`` create these tables; a test checks that a migrated database and
this metadata agree, so change both together (see docs/run-store.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from datamill.store.schema import NAMING_CONVENTION

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python (naive UTC text on SQLite)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        else:
            value = value.astimezone(UTC)
        # SQLite has no time zones: store naive UTC so text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONDocument(sa.TypeDecorator[Any]):
    """JSON on SQLite, JSONB on PostgreSQL (its dialect is imported only when used)."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


def json_type() -> sa.types.TypeEngine[Any]:
    """The JSON column type of the run store."""
    return JSONDocument()


def _id_type() -> sa.types.TypeEngine[int]:
    """A 64-bit autoincrement key; INTEGER on SQLite so it aliases the rowid."""
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.run_id", ondelete="CASCADE")


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("pipeline", sa.String(200), nullable=False),
    sa.Column("params", json_type(), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("trigger", sa.String(50), nullable=False),
    sa.Column("parent_run_id", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("pid", sa.Integer(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("project", sa.String(200), nullable=True),
    sa.Column("options", json_type(), nullable=True),  # 0002: force/only, honoured by resume
    sa.Column("pid_start", sa.String(200), nullable=True),  # 0002: driver process start token
    sa.Index(None, "pipeline", "created_at"),
    sa.Index(None, "created_at"),
    sa.Index(None, "state"),
)

task_runs = sa.Table(
    "task_runs",
    metadata,
    sa.Column("run_id", sa.String(64), _run_fk(), primary_key=True),
    sa.Column("task_key", sa.String(500), primary_key=True),
    sa.Column("task", sa.String(200), nullable=False),
    sa.Column("map_key", sa.String(200), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("fingerprint", sa.String(128), nullable=True),
    sa.Column("data_version", sa.String(128), nullable=True),
    sa.Column("checkpoint", sa.Text(), nullable=True),
    sa.Column("type_tag", sa.String(100), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("duration_s", sa.Float(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("rows_in", sa.BigInteger(), nullable=True),
    sa.Column("rows_out", sa.BigInteger(), nullable=True),
    sa.Column("bytes", sa.BigInteger(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("traceback", sa.Text(), nullable=True),
    sa.Column("cached_from_run", sa.String(64), nullable=True),
    sa.Column("label", sa.String(200), nullable=True),  # 0002: readable label of a mapped item
    sa.Column("queued_s", sa.Float(), nullable=True),  # 0002: seconds waiting for a worker
    sa.Index(None, "fingerprint"),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("run_id", sa.String(64), _run_fk(), primary_key=True),
    sa.Column("task_key", sa.String(500), primary_key=True),
    sa.Column("attempt", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
    sa.Column("duration_s", sa.Float(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("traceback", sa.Text(), nullable=True),
    sa.Column("log_path", sa.Text(), nullable=True),
    sa.Column("queued_at", UTCDateTime(), nullable=True),  # 0002: handed to the executor
    sa.Column("worker", sa.String(300), nullable=True),  # 0002: host:pid:start of a process
)

lineage = sa.Table(
    "lineage",
    metadata,
    sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), _run_fk(), nullable=False),
    sa.Column("task_key", sa.String(500), nullable=False),
    sa.Column("dataset", sa.String(1000), nullable=False),
    sa.Column("direction", sa.String(6), nullable=False),
    sa.Column("schema", json_type(), nullable=True),
    sa.Column("rows", sa.BigInteger(), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("direction IN ('input', 'output')", name="direction"),
    sa.Index(None, "dataset"),
    sa.Index(None, "run_id"),
)

saved_state = sa.Table(
    "saved_state",
    metadata,
    sa.Column("namespace", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(500), primary_key=True),
    sa.Column("value", json_type(), nullable=True),
    # Provenance only, no foreign key: saved state (watermarks, offsets) outlives its run.
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), _run_fk(), nullable=False),
    sa.Column("task_key", sa.String(500), nullable=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("value", sa.Float(), nullable=False),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Column("labels", json_type(), nullable=True),
    sa.Index(None, "run_id"),
    sa.Index(None, "name", "recorded_at"),
)
