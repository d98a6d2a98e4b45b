"""projection keys of any length

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

A projection's ``pk`` is often a string from user code (a sensor's run key, a
partition key); VARCHAR(512) made PostgreSQL refuse a longer one and stopped the
fold there. TEXT has no limit (and on PostgreSQL the change rewrites nothing).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = (
    "p_backfill_chunks",
    "p_backfill_requests",
    "p_backfills",
    "p_partition_status",
    "p_run_key_conflicts",
    "p_run_key_index",
    "p_run_plans",
    "p_runs",
    "p_schedule_definitions",
    "p_schedule_state",
    "p_schedule_ticks",
    "p_sensor_definitions",
    "p_sensor_evals",
    "p_sensor_state",
    "p_tasks",
    "p_timers",
)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "pk", existing_type=sa.String(length=512), type_=sa.Text(), existing_nullable=False
            )


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "pk", existing_type=sa.Text(), type_=sa.String(length=512), existing_nullable=False
            )
