"""Initial run store: runs, task_runs, attempts, lineage, saved_state, metrics.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["runs.run_id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("params", _json(), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("trigger", sa.String(50), nullable=False),
        sa.Column("parent_run_id", sa.String(64), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("started_at", _ts(), nullable=True),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("heartbeat_at", _ts(), nullable=True),
        sa.Column("host", sa.String(255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("project", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_index("ix_runs_pipeline_created_at", "runs", ["pipeline", "created_at"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_state", "runs", ["state"])

    op.create_table(
        "task_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_key", sa.String(500), nullable=False),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("map_key", sa.String(200), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=True),
        sa.Column("data_version", sa.String(128), nullable=True),
        sa.Column("checkpoint", sa.Text(), nullable=True),
        sa.Column("type_tag", sa.String(100), nullable=True),
        sa.Column("started_at", _ts(), nullable=True),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rows_in", sa.BigInteger(), nullable=True),
        sa.Column("rows_out", sa.BigInteger(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("cached_from_run", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "task_key", name="pk_task_runs"),
        _run_fk("task_runs"),
    )
    op.create_index("ix_task_runs_fingerprint", "task_runs", ["fingerprint"])

    op.create_table(
        "attempts",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_key", sa.String(500), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("started_at", _ts(), nullable=True),
        sa.Column("ended_at", _ts(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "task_key", "attempt", name="pk_attempts"),
        _run_fk("attempts"),
    )

    op.create_table(
        "lineage",
        sa.Column("id", _id(), nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_key", sa.String(500), nullable=False),
        sa.Column("dataset", sa.String(1000), nullable=False),
        sa.Column("direction", sa.String(6), nullable=False),
        sa.Column("schema", _json(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lineage"),
        sa.CheckConstraint("direction IN ('input', 'output')", name="ck_lineage_direction"),
        _run_fk("lineage"),
    )
    op.create_index("ix_lineage_dataset", "lineage", ["dataset"])
    op.create_index("ix_lineage_run_id", "lineage", ["run_id"])

    op.create_table(
        "saved_state",
        sa.Column("namespace", sa.String(200), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("value", _json(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "key", name="pk_saved_state"),
    )

    op.create_table(
        "metrics",
        sa.Column("id", _id(), nullable=False, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_key", sa.String(500), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("labels", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_metrics"),
        _run_fk("metrics"),
    )
    op.create_index("ix_metrics_run_id", "metrics", ["run_id"])
    op.create_index("ix_metrics_name_recorded_at", "metrics", ["name", "recorded_at"])


def downgrade() -> None:
    for table in ("metrics", "saved_state", "lineage", "attempts", "task_runs", "runs"):
        op.drop_table(table)
