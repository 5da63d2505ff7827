"""Resume details: the run's options and process start, attempt queue times and workers,
task labels and queue wait.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

* ``runs.options`` (JSON): the options a resume must honour (``force``, ``only``).
* ``runs.pid_start``: the start token of the driver process (boot, pid namespace and
  start time), so a resume on the same host can tell a dead driver from a live one.
* ``attempts.queued_at``: when the attempt was handed to the executor; ``started_at`` is
  when it really started, so queue wait and execution time are apart.
* ``attempts.worker``: ``host:pid:start`` of the worker process running the attempt.
* ``task_runs.label``: a readable label of a mapped instance's item (a file name, a value).
* ``task_runs.queued_s``: seconds the task's attempts waited for a worker.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("runs", sa.Column("options", _json(), nullable=True))
    op.add_column("runs", sa.Column("pid_start", sa.String(200), nullable=True))
    op.add_column("attempts", sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("attempts", sa.Column("worker", sa.String(300), nullable=True))
    op.add_column("task_runs", sa.Column("label", sa.String(200), nullable=True))
    op.add_column("task_runs", sa.Column("queued_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_runs") as batch:
        batch.drop_column("queued_s")
        batch.drop_column("label")
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("worker")
        batch.drop_column("queued_at")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("pid_start")
        batch.drop_column("options")
