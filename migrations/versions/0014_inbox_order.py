"""readmission inbox: index in the default sort's order (updated_at, id)

Revision ID: 0014_inbox_order
Revises: 0013_consular_translations
Create Date: 2026-12-07 15:40:00
"""

from __future__ import annotations

from alembic import op


revision = "0014_inbox_order"
down_revision = "0013_consular_translations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("readmission_case", schema=None) as batch_op:
        batch_op.create_index("ix_readmission_case_updated_id", ["updated_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("readmission_case", schema=None) as batch_op:
        batch_op.drop_index("ix_readmission_case_updated_id")
