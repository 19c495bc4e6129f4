"""Readmission fixtures on the real migrations: the shared `demo_people` store, organisation ids by key."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from passage.core.db import get_engine, session_factory


@pytest.fixture
def engine(demo_people: dict[str, str]) -> Engine:
    """The migrated store of this test (SQLite or PostgreSQL), with the demo organisations and users."""
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


def _load_demo_records() -> None:
    from passage.core.db import unit_of_work
    from passage.readmission.demo import load_demo_records

    with unit_of_work() as s:
        load_demo_records(s, context=demo_context(s))


def readmission_demo_template(request: pytest.FixtureRequest, kind: str):  # type: ignore[no-untyped-def]
    """The migrated store with demo people and the 30 demo cases loaded once (per store kind) through the service."""
    from tests.conftest import derived_template, people_template

    return derived_template(request, kind, "readmission_demo", people_template(request, kind), _load_demo_records)


def demo_context(session: Session):  # type: ignore[no-untyped-def]
    from passage.security.demo import DEMO_ORGANISATIONS, DEMO_USERS, DemoContext
    from passage.security.models import Organisation, User

    by_name = {str(spec["name"]): str(spec["key"]) for spec in DEMO_ORGANISATIONS}
    keys = {str(spec["username"]): str(spec["key"]) for spec in DEMO_USERS}
    return DemoContext(
        organisations={by_name[o.name]: o for o in session.scalars(select(Organisation))},
        users={keys[u.username]: u for u in session.scalars(select(User))},
    )


@pytest.fixture
def demo(request: pytest.FixtureRequest, store_kind: str, tmp_path) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """A fresh copy of the demo-loaded store, SQLite or PostgreSQL; returns username -> user id."""
    from passage.core.db import dispose_engines
    from tests.conftest import _people_ids, fresh_store

    fresh_store(request, readmission_demo_template(request, store_kind), tmp_path)
    yield _people_ids()
    dispose_engines()


@pytest.fixture
def demo_client(demo):  # type: ignore[no-untyped-def]
    """A TestClient on a fresh copy of the demo-loaded store."""
    from fastapi.testclient import TestClient

    from passage.core.app import create_app
    from passage.security.service import rate_limiter
    from tests.contract import ContractCheck

    rate_limiter.clear()
    app = create_app()
    with TestClient(app) as client:
        client.event_hooks["response"].append(ContractCheck(app.openapi()).hook)
        yield client
