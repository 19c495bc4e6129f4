"""audit log sealed by one sealer: nullable hashes until sealed, key ids, signed checkpoints, a PostgreSQL sequence

Revision ID: 0011_audit_sealing
Revises: 0010_consular
Create Date: 2026-12-07 15:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_audit_sealing"
down_revision = "0010_consular"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
        batch_op.alter_column("previous_hash", existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=True)
    # Every entry written so far was chained at insert under the key derived from the deployment secret.
    op.execute("UPDATE audit_log SET key_id = 'legacy' WHERE entry_hash IS NOT NULL")
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("sequence", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_sequence"), ["sequence"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # CACHE 1 (the default): a number is handed out only when a transaction asks for it, so the sealer's
        # gap handling never meets numbers cached, unused, in another session.
        op.execute("CREATE SEQUENCE audit_log_sequence_seq AS bigint START WITH 1 CACHE 1")
        op.execute("SELECT setval('audit_log_sequence_seq', COALESCE((SELECT MAX(sequence) FROM audit_log), 0) + 1, false)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS audit_log_sequence_seq")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_sequence"))
    op.drop_table("audit_checkpoints")
    # Entries not sealed yet cannot fit the old schema: seal them (`passage audit seal`) before downgrading.
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("previous_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("key_id")
