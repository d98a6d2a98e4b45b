"""request keys of any length

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

Idempotency keys of API requests are stored escaped on PostgreSQL (ADR 0005), so
a 255-character key can need more than VARCHAR(256).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("arco_api_requests", schema=None) as batch_op:
        batch_op.alter_column(
            "idempotency_key",
            existing_type=sa.VARCHAR(length=256),
            type_=sa.Text(),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("arco_api_requests", schema=None) as batch_op:
        batch_op.alter_column(
            "idempotency_key",
            existing_type=sa.Text(),
            type_=sa.VARCHAR(length=256),
            existing_nullable=False,
        )
