"""Readmission fixtures on the real migrations: the shared `demo_people` store, organisation ids by key."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from passage.core.db import get_engine, session_factory


@pytest.fixture
def engine(demo_people: dict[str, str]) -> Engine:
    """The migrated SQLite store of this test, with the demo organisations and users."""
    return get_engine()


@pytest.fixture
def orgs(engine: Engine) -> dict[str, str]:
    """Demo organisation key (nl, fr, mps, fujian, zhejiang, guangdong, iom, secretariat) -> id."""
    from passage.security.demo import DEMO_ORGANISATIONS
    from passage.security.models import Organisation

    by_name = {str(spec["name"]): str(spec["key"]) for spec in DEMO_ORGANISATIONS}
    with session_factory(engine)() as s:
        return {by_name[o.name]: o.id for o in s.scalars(select(Organisation))}


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s
