"""The allocation rules: capacities, priorities, households, connections, and the checks a plan must pass."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from passage.consular import evacuation as ev
from passage.core.errors import InvalidInput

T0 = dt.datetime(2026, 12, 8, 6, 0, tzinfo=dt.UTC)


def hours(n: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=n)


def network(seats: int = 10, capacity: int = 1000) -> tuple[list[ev.AssemblyPoint], list[ev.Leg]]:
    points = [ev.AssemblyPoint("A", -8.58, 116.11, capacity), ev.AssemblyPoint("AIR", -8.75, 116.27, capacity), ev.AssemblyPoint("B", -8.35, 115.64, capacity)]
    legs = [
        ev.Leg("bus1", "bus", "A", "AIR", hours(0), hours(1), seats),
        ev.Leg("fl1", "charter_flight", "AIR", None, hours(4), hours(10), seats),
        ev.Leg("fl2", "charter_flight", "AIR", None, hours(30), hours(36), seats),
        ev.Leg("bus2", "bus", "B", None, hours(2), hours(6), seats),
    ]
    return points, legs


def crowd(n: int, vulnerable_every: int = 4, seed: int = 3) -> list[ev.Evacuee]:
    rng = random.Random(seed)
    people = []
    for i in range(n):
        near_a = rng.random() < 0.7
        lat, lon = (-8.58, 116.11) if near_a else (-8.35, 115.64)
        tier = ev.TIER_NEEDS_HELP if i % (vulnerable_every * 3) == 0 else (ev.TIER_VULNERABLE if i % vulnerable_every == 0 else ev.TIER_OTHER)
        people.append(ev.Evacuee(f"p{i:03d}", lat + rng.uniform(-0.01, 0.01), lon + rng.uniform(-0.01, 0.01), tier))
    return people


def test_no_leg_over_capacity_and_every_vulnerable_person_placed_before_others_when_seats_are_short() -> None:
    points, legs = network(seats=8)
    people = crowd(60)  # 60 people for 8 + 8 + 8 seats to safety: seats are short
    plan = ev.plan_evacuation(points, legs, people)
    assert ev.verify_plan(plan, points, legs) == []
    for leg in legs:
        assert plan.seats_used[leg.leg_id] <= leg.seats
    placed = {a.person_id: a for a in plan.assignments}
    vulnerable = [p for p in people if p.tier < ev.TIER_OTHER]
    assert len(vulnerable) <= 24
    assert all(p.person_id in placed for p in vulnerable), "every vulnerable person gets a seat before anyone else"
    # And they leave first: no one of a lower tier departs earlier from the same point than someone of a higher tier.
    for a in plan.assignments:
        for b in plan.assignments:
            if a.origin_point_id == b.origin_point_id and a.tier < b.tier:
                assert a.departs_at <= b.departs_at


def test_when_vulnerable_people_outnumber_seats_no_other_person_gets_one() -> None:
    points, legs = network(seats=3)
    people = [ev.Evacuee(f"v{i}", -8.58, 116.11, ev.TIER_VULNERABLE) for i in range(10)] + [ev.Evacuee(f"o{i}", -8.58, 116.11) for i in range(10)]
    plan = ev.plan_evacuation(points, legs, people)
    assert {a.person_id[0] for a in plan.assignments} == {"v"}
    assert {p for p, _ in plan.unplaced} >= {f"o{i}" for i in range(10)}


def test_households_travel_together_on_the_same_legs() -> None:
    points, legs = network(seats=5)
    family = [ev.Evacuee(f"f{i}", -8.58, 116.11, ev.TIER_OTHER, household="H1") for i in range(3)]
    family[2] = ev.Evacuee("f2", -8.58, 116.11, ev.TIER_VULNERABLE, household="H1")
    plan = ev.plan_evacuation(points, legs, [ev.Evacuee("x", -8.58, 116.11), *family])
    itineraries = {a.person_id: a.legs for a in plan.assignments}
    assert itineraries["f0"] == itineraries["f1"] == itineraries["f2"]
    assert all(a.tier == ev.TIER_VULNERABLE for a in plan.assignments if a.person_id.startswith("f")), "the household takes its most vulnerable member's priority"


def test_connections_need_the_transfer_time_and_the_assembly_point_capacity_holds() -> None:
    points, legs = network(seats=50, capacity=5)
    people = [ev.Evacuee(f"p{i}", -8.58, 116.11) for i in range(20)]
    parameters = ev.Parameters(transfer_minutes=90, nearest_points=1)
    plan = ev.plan_evacuation(points, legs, people, parameters=parameters)
    assert ev.verify_plan(plan, points, legs, parameters=parameters) == []
    # The point A holds 5 at once and there is one departure from it: 5 placed, the rest wait for another plan.
    assert len(plan.assignments) == 5
    assert all(a.legs == ("bus1", "fl1") for a in plan.assignments)
    tight = ev.Parameters(transfer_minutes=4 * 60, nearest_points=1)
    plan = ev.plan_evacuation(points, legs, people[:2], parameters=tight)
    assert all(a.legs == ("bus1", "fl2") for a in plan.assignments), "fl1 leaves 3 h after the bus arrives: too tight for 4 h"


def test_seats_already_booked_are_not_given_again() -> None:
    points, legs = network(seats=4)
    plan = ev.plan_evacuation(points, legs, [ev.Evacuee(f"p{i}", -8.35, 115.64) for i in range(6)], taken={"bus2": {1, 2}})
    seats = sorted(s for a in plan.assignments for leg, s in zip(a.legs, a.seats, strict=True) if leg == "bus2")
    assert seats == [3, 4]


def test_negative_capacity_and_seats_are_refused_with_field_paths() -> None:
    points, legs = network()
    bad_points = [ev.AssemblyPoint("A", 0, 0, -1), *points[1:]]
    bad_legs = [ev.Leg("bus1", "bus", "A", "AIR", hours(0), hours(1), -5), ev.Leg("x", "bus", "A", "nowhere", hours(2), hours(1), 5)]
    with pytest.raises(InvalidInput) as caught:
        ev.plan_evacuation(bad_points, bad_legs, [])
    paths = {f.path for f in caught.value.fields}
    assert {"assembly_points.0.capacity", "legs.0.seats", "legs.1.destination_point_id", "legs.1.arrives_at"} <= paths


def test_overlapping_legs_are_found_and_verify_reports_them() -> None:
    points, legs = network()
    assert ev.overlapping([legs[3], legs[1]]) is not None  # bus2 08:00-12:00 and fl1 10:00-16:00 overlap
    assert ev.overlapping([legs[0], legs[3]]) is None  # bus1 06:00-07:00, then bus2 08:00
    assert ev.overlapping([legs[0], legs[1]]) is None
    plan = ev.Plan(assignments=[ev.Assignment("p", "A", ("bus2", "fl1"), (1, 1), hours(2), hours(10), 2)], seats_used={})
    problems = ev.verify_plan(plan, points, legs)
    assert any("overlap" in p for p in problems)


def test_ours_fills_more_seats_and_moves_the_vulnerable_earlier_than_the_greedy_baseline() -> None:
    points, legs = network(seats=10)
    people = crowd(80)
    ours = ev.metrics(ev.plan_evacuation(points, legs, people), legs, people)
    greedy = ev.metrics(ev.greedy_baseline(points, legs, people), legs, people)
    assert ours.seats_empty <= greedy.seats_empty
    assert ours.vulnerable_placed >= greedy.vulnerable_placed
    assert ours.vulnerable_mean_departure_hours is not None
    assert greedy.vulnerable_mean_departure_hours is None or ours.vulnerable_mean_departure_hours <= greedy.vulnerable_mean_departure_hours
