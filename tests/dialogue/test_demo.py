"""`load_demo_records`: the seed events through the service, organisers linked, a consenting directory."""

from __future__ import annotations

from sqlalchemy import func, select

from passage.core.db import unit_of_work
from passage.dialogue import models as m
from passage.dialogue.demo import load_demo_records
from passage.security.demo import DEMO_ORGANISATIONS, DEMO_USERS, DemoContext
from passage.security.models import AuditEntry, Organisation, User


def demo_context() -> DemoContext:
    """The demo organisations and users already in the store (from the `demo_people` fixture), keyed as `make run` keys them."""
    with unit_of_work() as session:
        context = DemoContext()
        for spec in DEMO_ORGANISATIONS:
            context.organisations[str(spec["key"])] = session.scalars(select(Organisation).where(Organisation.name == spec["name"])).one()
        for spec in DEMO_USERS:
            context.users[str(spec["key"])] = session.scalars(select(User).where(User.username == spec["username"])).one()
        session.expunge_all()
    return context


def load_demo() -> list[str]:
    context = demo_context()
    with unit_of_work() as session:
        return load_demo_records(session, context=context)


def test_demo_loads_seed_events_with_flags_and_is_idempotent(demo_people: dict[str, str]) -> None:
    lines = load_demo()
    assert lines == [
        "dialogue: loaded 2 seed events",
        "dialogue: 2015-11-return-readmission-workshop: 0 consistency flags",
        "dialogue: 2018-02-mixed-migration-seminar: 3 consistency flags",
    ]
    assert load_demo() == ["dialogue: loaded 0 seed events"]
    with unit_of_work() as session:
        iom = session.scalars(select(m.Institution).where(m.Institution.key == "iom-china")).one()
        assert iom.organisation_id is not None and session.get(Organisation, iom.organisation_id).name == "IOM China"  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(m.FocalPoint)) == 3
        actors = set(session.scalars(select(AuditEntry.actor_user_id).where(AuditEntry.entity_type == "dialogue_event")))
        assert actors == {demo_people["iom.caseworker"]}
