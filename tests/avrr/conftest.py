"""AVRR database tests run on the real migrations: the shared `demo_people` store (organisations and users exist)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from passage.core.db import get_engine, session_factory
from passage.security.models import User


@pytest.fixture
def engine(demo_people: dict[str, str]) -> Engine:
    return get_engine()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s


def user_named(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()
