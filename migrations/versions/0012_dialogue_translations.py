"""dialogue: published text per language in `translations` JSON ({field: {locale: text}}), replacing the *_zh columns

Revision ID: 0012_dialogue_translations
Revises: 0011_audit_sealing
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012_dialogue_translations"
down_revision = "0011_audit_sealing"
branch_labels = None
depends_on = None

#: table -> {field in `translations`: (former Chinese column, its type)}; tables without a former column get only `translations`.
MOVED: dict[str, dict[str, tuple[str, Any]]] = {
    "dialogue_event": {
        "title": ("title_zh", sa.String(length=400)), "venue": ("venue_zh", sa.String(length=300)),
        "project": ("project_zh", sa.String(length=300)), "funder": ("funder_zh", sa.String(length=300)),
        "objectives": ("objectives_zh", sa.Text()), "introduction": ("introduction_zh", sa.Text()),
        "conclusion": ("conclusion_zh", sa.Text()),
    },
    "dialogue_session": {"title": ("title_zh", sa.String(length=500)), "abstract": ("abstract_zh", sa.Text())},
    "dialogue_key_observation": {"text": ("text_zh", sa.Text())},
    "dialogue_opening_remark": {"text": ("text_zh", sa.Text())},
    "dialogue_outcome": {"text": ("text_zh", sa.Text())},
    "dialogue_evaluation_question": {"text": ("text_zh", sa.Text())},
    "dialogue_participant": {},
    "dialogue_follow_up": {},
    "dialogue_focal_point": {},
    "dialogue_evaluation": {},
    "dialogue_attendance_statement": {},
}
CHINESE = "zh_Hans"


# No batch mode (a copy of each table) on SQLite: dropping the old copy of a parent table would delete its children
# through ON DELETE CASCADE. SQLite (3.35+) adds and drops plain columns in place, as PostgreSQL does.


def upgrade() -> None:
    connection = op.get_bind()
    for table, moved in MOVED.items():
        op.add_column(table, sa.Column("translations", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))
        if moved:
            columns = ", ".join(column for column, _type in moved.values())
            rows = connection.execute(sa.text(f"SELECT id, {columns} FROM {table}")).mappings().all()  # noqa: S608 - names are constants above
            for row in rows:
                values = {field: {CHINESE: row[column]} for field, (column, _type) in moved.items() if row[column]}
                if values:
                    update = sa.text(f"UPDATE {table} SET translations = :value WHERE id = :id").bindparams(  # noqa: S608 - constant table name
                        sa.bindparam("value", type_=sa.JSON()))
                    connection.execute(update, {"value": values, "id": row["id"]})
            for column, _type in moved.values():
                op.drop_column(table, column)


def downgrade() -> None:
    connection = op.get_bind()
    for table, moved in MOVED.items():
        if moved:
            for column, kind in moved.values():
                op.add_column(table, sa.Column(column, kind, nullable=True))
            rows = connection.execute(sa.text(f"SELECT id, translations FROM {table}")).mappings().all()  # noqa: S608 - constant table name
            for row in rows:
                stored = row["translations"]
                translations = json.loads(stored) if isinstance(stored, str) else dict(stored or {})
                params = {column: (translations.get(field) or {}).get(CHINESE) for field, (column, _type) in moved.items()}
                if any(params.values()):
                    assignments = ", ".join(f"{column} = :{column}" for column in params)
                    connection.execute(sa.text(f"UPDATE {table} SET {assignments} WHERE id = :id"), {**params, "id": row["id"]})  # noqa: S608 - constant names
        op.drop_column(table, "translations")
