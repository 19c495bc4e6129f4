"""The demo loader goes through the service: scoped to IOM China, audited, one row quarantined for its choice filter."""

from __future__ import annotations

from sqlalchemy import func, select

from passage.core.db import unit_of_work
from passage.forms import service
from passage.forms.demo import load_demo_records
from passage.security.demo import DemoContext
from passage.security.models import AuditEntry, Organisation, User


def test_demo_records_load_through_the_service(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        users = {key: session.get(User, demo_people[name]) for key, name in (("analyst", "analyst"), ("iom_caseworker", "iom.caseworker"))}
        context = DemoContext(organisations={o.name: o for o in session.scalars(select(Organisation))}, users=users)  # type: ignore[arg-type]
        summary = load_demo_records(session, context=context)
    assert summary == ["forms: 1 form, 2 submissions, 1 row in quarantine"]
    with unit_of_work() as session:
        analyst = session.get(User, demo_people["analyst"])
        entries = service.list_quarantine(session, form_ref="demo_site_check", actor=analyst)
        assert [(e.row_number, e.field, e.reason) for e in entries] == [(3, "county", "choice")]
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.entity_type.like("form%"))) >= 3
        outsider = session.get(User, demo_people["nl.officer"])
        assert service.list_forms(session, actor=outsider) == []
