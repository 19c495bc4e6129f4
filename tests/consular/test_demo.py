"""The demo earthquake: 2,000 registered nationals, a crisis with people inside, a booked plan within capacity."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from passage.consular import demo, service
from passage.consular.models import Registration, SeatAssignment, TransportLeg
from tests.consular.conftest import demo_context, user_named


def test_demo_loads_the_simulated_earthquake(demo_people: dict[str, str]) -> None:
    from passage.core.db import unit_of_work

    with unit_of_work() as s:
        summary = demo.load_demo_records(s, context=demo_context(s))
    assert summary[0].startswith("consular: 2002 registrations")
    with unit_of_work() as s:
        check(s)


def check(s: Session) -> None:
    assert s.scalar(select(func.count()).select_from(Registration)) == demo.PEOPLE + 2
    assert s.scalar(select(func.count()).select_from(Registration).where(Registration.duplicate_status == "possible")) == 1
    centre = user_named(s, "consular.centre")
    crisis = service.list_crises(s, actor=centre)[0]
    people = service.affected_people(s, actor=centre, crisis_id=crisis.id, limit=1)
    assert 500 < people["total"] < 1500 and people["by_status"]["not_contacted"] < people["total"]
    for leg in s.scalars(select(TransportLeg)):
        taken = s.scalar(select(func.count()).select_from(SeatAssignment).where(SeatAssignment.leg_id == leg.id)) or 0
        assert taken <= leg.seats
    board = service.dashboard(s, actor=centre, crisis_id=crisis.id)
    assert board["planned"] > 0 and board["checked_in"] == 40
    denpasar = user_named(s, "denpasar.officer")
    jakarta = user_named(s, "jakarta.officer")
    assert service.list_registrations(s, actor=denpasar)[1] + service.list_registrations(s, actor=jakarta)[1] == service.list_registrations(s, actor=centre)[1]
