from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import passage.dialogue.models  # noqa: F401 - registers the tables
from passage.core.db import make_engine, session_factory
from passage.core.models import Base


@pytest.fixture()
def engine(tmp_path) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'dialogue.db'}")
    Base.metadata.create_all(engine, tables=[t for name, t in Base.metadata.tables.items() if name.startswith("dialogue_")])
    yield engine
    engine.dispose()


@pytest.fixture()
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as db:
        yield db
        db.rollback()


@pytest.fixture()
def seeded(session: Session) -> Session:
    from passage.dialogue.service import SYSTEM, load_seed_events

    assert load_seed_events(session, actor=SYSTEM) == ["2015-11-return-readmission-workshop", "2018-02-mixed-migration-seminar"]
    session.flush()
    return session
