"""Migration 0011 moves the Dialogue's Chinese columns into `translations` and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine

from passage.core.schema import alembic_config

BEFORE = "0011_audit_sealing"
MIGRATION = "0012_dialogue_translations"


def _translations(value: object) -> dict[str, object]:
    return dict(json.loads(value) if isinstance(value, str) else value)  # type: ignore[arg-type]


def test_chinese_columns_move_into_translations_and_back(any_store: Engine) -> None:
    config = alembic_config(any_store.url.render_as_string(hide_password=False))
    command.downgrade(config, BEFORE)
    with any_store.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO dialogue_event (id, key, title_en, title_zh, event_type, start_date, end_date, venue_en, venue_zh, project_en, "
            "objectives_en, version, created_at, updated_at) VALUES ('e1', 'k1', 'Workshop', '研讨会', 'workshop', '2015-11-03', '2015-11-04', "
            "'Beijing', '北京', 'Project', 'Objectives without Chinese', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        connection.execute(sa.text(
            "INSERT INTO dialogue_session (id, event_id, number, title_en, title_zh, kind) VALUES ('s1', 'e1', 1, 'Session', '会议', 'presentation')"))
        connection.execute(sa.text(
            "INSERT INTO dialogue_key_observation (id, session_id, position, text_en, text_zh) VALUES ('o1', 's1', 0, 'Point', '要点')"))
    command.upgrade(config, MIGRATION)
    with any_store.connect() as connection:
        event = connection.execute(sa.text("SELECT title_en, translations FROM dialogue_event WHERE id = 'e1'")).one()
        session = connection.execute(sa.text("SELECT translations FROM dialogue_session WHERE id = 's1'")).one()
        observation = connection.execute(sa.text("SELECT translations FROM dialogue_key_observation WHERE id = 'o1'")).one()
        columns = {c["name"] for c in sa.inspect(connection).get_columns("dialogue_event")}
    assert event.title_en == "Workshop"
    assert _translations(event.translations) == {"title": {"zh_Hans": "研讨会"}, "venue": {"zh_Hans": "北京"}}
    assert _translations(session.translations) == {"title": {"zh_Hans": "会议"}}
    assert _translations(observation.translations) == {"text": {"zh_Hans": "要点"}}  # children survive (no table copies, no cascades)
    assert "title_zh" not in columns and "translations" in columns
    command.downgrade(config, BEFORE)
    with any_store.connect() as connection:
        back = connection.execute(sa.text("SELECT title_zh, venue_zh, objectives_zh FROM dialogue_event WHERE id = 'e1'")).one()
    assert tuple(back) == ("研讨会", "北京", None)
    command.upgrade(config, "head")
