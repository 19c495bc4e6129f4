"""Dialogue fixtures on the shared, migrated store (`tests/conftest.py`): the seed events loaded through the service."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session


@pytest.fixture()
def seeded(session: Session) -> Session:
    """The shared `session` (a fresh migrated SQLite store) with the 2015 workshop and the 2018 seminar loaded."""
    from passage.dialogue.service import SYSTEM, load_seed_events

    assert load_seed_events(session, actor=SYSTEM) == ["2015-11-return-readmission-workshop", "2018-02-mixed-migration-seminar"]
    session.flush()
    return session
