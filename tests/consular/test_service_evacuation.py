"""Evacuation in the database: network validation, seats (full legs, overlaps, the concurrent double booking on
SQLite and PostgreSQL), planning and booking a plan, check-in and the live dashboard."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from passage.consular import service
from passage.consular.models import SeatAssignment
from passage.consular.schemas import AssemblyPointIn, CrisisIn, LegIn
from passage.core.db import unit_of_work
from passage.core.errors import Conflict, InvalidInput, PassageError
from tests.consular.conftest import SQUARE, TODAY, registration, user_named, with_districts

T0 = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(6), tzinfo=dt.UTC)


def setup_crisis(session: Session, *, people: int = 4, seats: int = 2, vulnerable: int = 0) -> tuple[str, list[str], dict[str, str]]:
    officer = user_named(session, "denpasar.officer")
    ids = [service.create_registration(session, actor=officer, data=registration(
        "王", f"{i}", birth=None, vulnerabilities=["older_person"] if i < vulnerable else [])).id for i in range(people)]
    crisis = service.create_crisis(session, actor=officer, data=CrisisIn(name_en="Quake", name_zh="地震", crisis_type="earthquake", country="ID",
                                                                        starts_on=TODAY, area=SQUARE))
    for code, lat, lon in (("MTR", -8.58, 116.11), ("LOP", -8.75, 116.27)):
        service.add_assembly_point(session, actor=officer, crisis_id=crisis.id, data=AssemblyPointIn(code=code, name=code, latitude=lat, longitude=lon, capacity=100))
    legs = {}
    for code, origin, destination, start, hours, n in (("BUS1", "MTR", "LOP", 0, 1, seats), ("CF1", "LOP", None, 4, 6, seats), ("BUS2", "MTR", None, 0.5, 3, seats)):
        leg = service.add_leg(session, actor=officer, crisis_id=crisis.id, data=LegIn(
            code=code, mode="bus" if code.startswith("BUS") else "charter_flight", origin_point=origin, destination_point=destination,
            destination_name="Safety", departs_at=T0 + dt.timedelta(hours=start), arrives_at=T0 + dt.timedelta(hours=start + hours), seats=n))
        legs[code] = leg.id
    session.commit()
    return crisis.id, ids, legs


def test_network_input_errors_are_clear(session: Session) -> None:
    crisis_id, _ids, _legs = setup_crisis(session)
    officer = user_named(session, "denpasar.officer")
    with pytest.raises(InvalidInput) as caught:
        service.add_assembly_point(session, actor=officer, crisis_id=crisis_id, data=AssemblyPointIn(code="X", name="X", latitude=0, longitude=0, capacity=-3))
    assert caught.value.fields[0].path == "capacity"
    with pytest.raises(InvalidInput) as caught:
        service.add_leg(session, actor=officer, crisis_id=crisis_id, data=LegIn(code="L", mode="ship", origin_point="MTR", destination_point="NOPE",
                                                                                 destination_name="x", departs_at=T0, arrives_at=T0 - dt.timedelta(hours=1), seats=-1))
    assert {f.path for f in caught.value.fields} == {"seats", "arrives_at"}
    with pytest.raises(Conflict):
        service.add_assembly_point(session, actor=officer, crisis_id=crisis_id, data=AssemblyPointIn(code="MTR", name="again", latitude=0, longitude=0, capacity=3))


def test_seats_full_legs_and_overlapping_legs_for_one_person(session: Session) -> None:
    crisis_id, ids, legs = setup_crisis(session, seats=2)
    officer = user_named(session, "denpasar.officer")
    service.assign_seat(session, actor=officer, crisis_id=crisis_id, leg_id=legs["BUS1"], registration_id=ids[0])
    with pytest.raises(InvalidInput) as caught:  # BUS2 06:30-09:30 overlaps BUS1 06:00-07:00 for the same person
        service.assign_seat(session, actor=officer, crisis_id=crisis_id, leg_id=legs["BUS2"], registration_id=ids[0])
    assert caught.value.message == "overlapping legs for one person" and "BUS2 overlaps leg BUS1" in caught.value.fields[0].message
    service.assign_seat(session, actor=officer, crisis_id=crisis_id, leg_id=legs["CF1"], registration_id=ids[0])  # the connection is fine
    with pytest.raises(Conflict):
        service.assign_seat(session, actor=officer, crisis_id=crisis_id, leg_id=legs["BUS1"], registration_id=ids[1], seat_number=1)
    with pytest.raises(InvalidInput):
        service.assign_seat(session, actor=officer, crisis_id=crisis_id, leg_id=legs["BUS1"], registration_id=ids[1], seat_number=3)
    service.assign_seat(session, actor=officer, crisis_id=crisis_id, leg_id=legs["BUS1"], registration_id=ids[1])
    with pytest.raises(Conflict) as full:
        service.assign_seat(session, actor=officer, crisis_id=crisis_id, leg_id=legs["BUS1"], registration_id=ids[2])
    assert full.value.message == "the leg is full"


@pytest.fixture
def shared_store(any_store_people: dict[str, str]) -> Iterator[Engine]:
    """The store with the demo people (one database: asking for `any_store` as well would configure a second)."""
    from passage.core.db import get_engine

    with_districts()
    yield get_engine()


@pytest.mark.parametrize("seat_number", [1, None])
def test_two_officers_taking_the_same_seat_at_once_one_wins_nothing_double_booked(shared_store: Engine, seat_number: int | None) -> None:
    with unit_of_work() as s:
        crisis_id, ids, legs = setup_crisis(s, seats=1)
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def officer(registration_id: str) -> None:
        try:
            # Both start together; SQLite serialises writers (BEGIN IMMEDIATE), PostgreSQL lets both run until the unique index decides.
            barrier.wait(timeout=10)
            with unit_of_work() as s:
                user = user_named(s, "denpasar.officer")
                service.assign_seat(s, actor=user, crisis_id=crisis_id, leg_id=legs["BUS2"], registration_id=registration_id, seat_number=seat_number)
            outcomes.append("ok")
        except PassageError as exc:
            outcomes.append(exc.status)

    threads = [threading.Thread(target=officer, args=(rid,)) for rid in ids[:2]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes, key=str) == [409, "ok"]
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(SeatAssignment).where(SeatAssignment.leg_id == legs["BUS2"])) == 1


def test_plan_books_seats_within_capacity_vulnerable_first_and_the_dashboard_follows(session: Session) -> None:
    crisis_id, ids, legs = setup_crisis(session, people=6, seats=2, vulnerable=2)
    centre = user_named(session, "consular.centre")
    plan = service.plan_for_crisis(session, actor=centre, crisis_id=crisis_id)
    placed = {a["registration_id"] for a in plan["assignments"]}
    assert set(ids[:2]) <= placed, "the two older people are placed"
    assert plan["summary"]["placed"] == 4 and plan["summary"]["unplaced"] == 2  # 2 seats direct + 2 via BUS1 and CF1
    booked = service.apply_plan(session, actor=centre, crisis_id=crisis_id, plan=plan)
    session.commit()
    assert booked == 6  # two people on two legs each, two on one
    with pytest.raises(Conflict):
        service.apply_plan(session, actor=centre, crisis_id=crisis_id, plan=plan)  # the same seats again: all or nothing
    session.rollback()
    assert session.scalar(select(func.count()).select_from(SeatAssignment)) == 6
    board = service.dashboard(session, actor=centre, crisis_id=crisis_id)
    assert (board["in_area"], board["planned"], board["moved"], board["unplaced"]) == (6, 4, 0, 2)
    direct = next(a for a in plan["assignments"] if len(a["legs"]) == 1)
    person = direct["registration_id"]
    service.check_in(session, actor=centre, crisis_id=crisis_id, leg_id=legs["BUS2"], registration_id=person, event="checked_in")
    service.check_in(session, actor=centre, crisis_id=crisis_id, leg_id=legs["BUS2"], registration_id=person, event="departed")
    with pytest.raises(Conflict):
        service.check_in(session, actor=centre, crisis_id=crisis_id, leg_id=legs["BUS2"], registration_id=person, event="checked_in")
    service.check_in(session, actor=centre, crisis_id=crisis_id, leg_id=legs["BUS2"], registration_id=person, event="arrived")
    session.commit()
    board = service.dashboard(session, actor=centre, crisis_id=crisis_id)
    assert (board["checked_in"], board["moved"], board["arrived"]) == (1, 1, 1)
    replanned = service.plan_for_crisis(session, actor=centre, crisis_id=crisis_id)
    assert replanned["already_seated"] == 4 and replanned["summary"]["people"] == 2
    leg, people = service.manifest(session, actor=centre, crisis_id=crisis_id, leg_id=legs["BUS2"])
    assert leg.code == "BUS2" and {p["status"] for p in people} >= {"arrived"} and all(p["family_name"] == "王" for p in people)
