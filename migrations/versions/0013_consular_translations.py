"""consular: published names per language (assembly points, transport leg destinations)

Revision ID: 0013_consular_translations
Revises: 0012_dialogue_translations
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_consular_translations"
down_revision = "0012_dialogue_translations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consular_assembly_points") as batch:
        batch.add_column(sa.Column("translations", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("consular_transport_legs") as batch:
        batch.add_column(sa.Column("translations", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("consular_transport_legs") as batch:
        batch.drop_column("translations")
    with op.batch_alter_table("consular_assembly_points") as batch:
        batch.drop_column("translations")
