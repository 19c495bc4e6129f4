"""Evacuation planning: allocation of people to transport legs, pure and deterministic (no I/O).

Structure after IOM's MEND guide (Comprehensive Guide for Planning Mass Evacuations in Natural Disasters, 2017,
§4 "Evacuation operations": assembly points, transport, movement tracking) and MICIC guideline 10 (2016:
"evacuation and relocation ... prioritise migrants in vulnerable situations"):

- *assembly points* hold at most `capacity` people at once; an evacuee reports `report_minutes` before their
  first departure and waits at a transfer point from arrival to the connecting departure;
- *legs* (bus, charter flight, ship) leave an assembly point at a time and reach another assembly point
  (a transfer, e.g. the bus to the airport) or safety (no destination point), with a number of seats;
- an *itinerary* is one leg to safety, or a leg to a transfer point and a connecting leg to safety leaving at
  least `transfer_minutes` after arrival.

Allocation (`plan_evacuation`): households travel together. They are taken in priority order (tier 0: needs
help now or medical; tier 1: a vulnerability such as a child, an older person, pregnancy, a disability; tier 2:
everyone else), larger households first within a tier (first-fit decreasing, Johnson 1973, so that families are
not left with scattered single seats), and each gets the feasible itinerary reaching safety earliest among the
`nearest_points` assembly points closest to them. Because a tier is fully served before the next one starts, no
seat goes to a lower tier while a higher-tier household that could use it is still waiting, and the
higher tiers take the earliest departures.

`greedy_baseline` is the plain first-come-first-served rule a spreadsheet would apply: in registration order,
the nearest assembly point only, its earliest itinerary with seats. The benchmark compares both on seats left
empty and on how late the vulnerable leave.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from passage.consular.geo import haversine_km
from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_

MODES = ("bus", "charter_flight", "ship", "scheduled_flight", "train", "other")
TIER_NEEDS_HELP, TIER_VULNERABLE, TIER_OTHER = 0, 1, 2


@dataclass(frozen=True)
class AssemblyPoint:
    point_id: str
    latitude: float
    longitude: float
    capacity: int


@dataclass(frozen=True)
class Leg:
    leg_id: str
    mode: str
    origin_point_id: str
    destination_point_id: str | None
    departs_at: dt.datetime
    arrives_at: dt.datetime
    seats: int


@dataclass(frozen=True)
class Evacuee:
    person_id: str
    latitude: float
    longitude: float
    tier: int = TIER_OTHER
    household: str | None = None
    """People with the same household key travel on the same legs."""


@dataclass(frozen=True)
class Parameters:
    report_minutes: int = 120
    transfer_minutes: int = 90
    nearest_points: int = 3


@dataclass
class Assignment:
    person_id: str
    origin_point_id: str
    legs: tuple[str, ...]
    seats: tuple[int, ...]
    departs_at: dt.datetime
    arrives_at: dt.datetime
    tier: int


@dataclass
class Plan:
    assignments: list[Assignment] = field(default_factory=list)
    unplaced: list[tuple[str, str]] = field(default_factory=list)
    """(person id, reason)."""
    seats_used: dict[str, int] = field(default_factory=dict)


def check_network(points: Sequence[AssemblyPoint], legs: Sequence[Leg]) -> None:
    """Refuse a network a plan cannot be made on: negative capacity or seats, unknown points, time travel."""
    problems: list[FieldError] = []
    known = set()
    for i, point in enumerate(points):
        if point.capacity < 0:
            problems.append(FieldError(f"assembly_points.{i}.capacity", T_("must not be negative")))
        known.add(point.point_id)
    for i, leg in enumerate(legs):
        if leg.seats < 0:
            problems.append(FieldError(f"legs.{i}.seats", T_("must not be negative")))
        if leg.mode not in MODES:
            problems.append(FieldError(f"legs.{i}.mode", T_("must be one of {MODES}", MODES=', '.join(MODES))))
        if leg.origin_point_id not in known:
            problems.append(FieldError(f"legs.{i}.origin_point_id", T_("not an assembly point of this crisis")))
        if leg.destination_point_id is not None and leg.destination_point_id not in known:
            problems.append(FieldError(f"legs.{i}.destination_point_id", T_("not an assembly point of this crisis")))
        if leg.destination_point_id == leg.origin_point_id:
            problems.append(FieldError(f"legs.{i}.destination_point_id", T_("the leg must go somewhere else")))
        if leg.arrives_at <= leg.departs_at:
            problems.append(FieldError(f"legs.{i}.arrives_at", T_("must be after the departure")))
    if problems:
        raise InvalidInput(T_("the evacuation network is not valid"), fields=problems)


def overlapping(legs: Sequence[Leg]) -> tuple[Leg, Leg] | None:
    """Two legs of one person whose travel times overlap, or None."""
    ordered = sorted(legs, key=lambda leg: leg.departs_at)
    for first, second in zip(ordered, ordered[1:], strict=False):
        if second.departs_at < first.arrives_at:
            return first, second
    return None


class _Occupancy:
    """People present at each assembly point over time, as weighted intervals keyed by what put them there."""

    def __init__(self, capacity: dict[str, int]) -> None:
        self.capacity = capacity
        self.intervals: dict[str, dict[tuple[dt.datetime, dt.datetime], int]] = {p: {} for p in capacity}

    def fits(self, point_id: str, start: dt.datetime, end: dt.datetime, count: int) -> bool:
        intervals = self.intervals[point_id]
        limit = self.capacity[point_id] - count
        if limit < 0:
            return False
        # The most people present during [start, end] is reached at `start` or at a later interval start.
        times = [start, *(s for s, _ in intervals if start < s <= end)]
        for t in times:
            present = sum(n for (s, e), n in intervals.items() if s <= t < e)
            if present > limit:
                return False
        return True

    def add(self, point_id: str, start: dt.datetime, end: dt.datetime, count: int) -> None:
        key = (start, end)
        self.intervals[point_id][key] = self.intervals[point_id].get(key, 0) + count


@dataclass(frozen=True)
class _Itinerary:
    legs: tuple[Leg, ...]

    @property
    def departs_at(self) -> dt.datetime:
        return self.legs[0].departs_at

    @property
    def arrives_at(self) -> dt.datetime:
        return self.legs[-1].arrives_at


def _itineraries(origin: str, legs: Sequence[Leg], transfer: dt.timedelta, *, connections: bool) -> list[_Itinerary]:
    found = []
    by_origin: dict[str, list[Leg]] = {}
    for leg in legs:
        by_origin.setdefault(leg.origin_point_id, []).append(leg)
    for first in by_origin.get(origin, []):
        if first.destination_point_id is None:
            found.append(_Itinerary((first,)))
        elif connections:
            for second in by_origin.get(first.destination_point_id, []):
                if second.destination_point_id is None and second.departs_at >= first.arrives_at + transfer:
                    found.append(_Itinerary((first, second)))
    return sorted(found, key=lambda it: (it.arrives_at, it.departs_at, tuple(leg.leg_id for leg in it.legs)))


def _households(evacuees: Sequence[Evacuee]) -> list[list[Evacuee]]:
    groups: dict[str, list[Evacuee]] = {}
    for person in evacuees:
        groups.setdefault(person.household or f"\x00{person.person_id}", []).append(person)
    return list(groups.values())


def _nearest(points: Sequence[AssemblyPoint], lat: float, lon: float, k: int) -> list[AssemblyPoint]:
    # A flat-earth distance ranks nearby points like the great-circle distance does, at a fraction of the cost.
    scale = math.cos(math.radians(lat))
    return sorted(points, key=lambda p: ((p.latitude - lat) ** 2 + ((p.longitude - lon) * scale) ** 2, p.point_id))[:k]


class _Allocator:
    def __init__(self, points: Sequence[AssemblyPoint], legs: Sequence[Leg], parameters: Parameters, *, connections: bool,
                 taken: dict[str, set[int]] | None = None) -> None:
        check_network(points, legs)
        self.points = list(points)
        self.legs = {leg.leg_id: leg for leg in legs}
        self.parameters = parameters
        self.report = dt.timedelta(minutes=parameters.report_minutes)
        transfer = dt.timedelta(minutes=parameters.transfer_minutes)
        self.itineraries = {p.point_id: _itineraries(p.point_id, legs, transfer, connections=connections) for p in points}
        self.taken = {leg.leg_id: set((taken or {}).get(leg.leg_id, set())) for leg in legs}
        self.free = {leg.leg_id: leg.seats - len(self.taken[leg.leg_id]) for leg in legs}
        self.next_seat = {leg.leg_id: 1 for leg in legs}
        self.occupancy = _Occupancy({p.point_id: p.capacity for p in points})
        self.plan = Plan()

    def feasible(self, itinerary: _Itinerary, n: int) -> bool:
        if any(self.free[leg.leg_id] < n for leg in itinerary.legs):
            return False
        first = itinerary.legs[0]
        if not self.occupancy.fits(first.origin_point_id, first.departs_at - self.report, first.departs_at, n):
            return False
        for previous, leg in zip(itinerary.legs, itinerary.legs[1:], strict=False):
            if not self.occupancy.fits(leg.origin_point_id, previous.arrives_at, leg.departs_at, n):
                return False
        return True

    def _seat(self, leg_id: str) -> int:
        seat = self.next_seat[leg_id]
        while seat in self.taken[leg_id]:
            seat += 1
        self.taken[leg_id].add(seat)
        self.next_seat[leg_id] = seat + 1
        return seat

    def place(self, household: list[Evacuee], itinerary: _Itinerary) -> None:
        n = len(household)
        first = itinerary.legs[0]
        self.occupancy.add(first.origin_point_id, first.departs_at - self.report, first.departs_at, n)
        for previous, leg in zip(itinerary.legs, itinerary.legs[1:], strict=False):
            self.occupancy.add(leg.origin_point_id, previous.arrives_at, leg.departs_at, n)
        for leg in itinerary.legs:
            self.free[leg.leg_id] -= n
        for person in household:
            seats = tuple(self._seat(leg.leg_id) for leg in itinerary.legs)
            self.plan.assignments.append(Assignment(
                person_id=person.person_id, origin_point_id=first.origin_point_id, legs=tuple(leg.leg_id for leg in itinerary.legs),
                seats=seats, departs_at=itinerary.departs_at, arrives_at=itinerary.arrives_at, tier=person.tier,
            ))

    def finish(self) -> Plan:
        self.plan.seats_used = {leg_id: leg.seats - self.free[leg_id] for leg_id, leg in self.legs.items()}
        return self.plan


def plan_evacuation(points: Sequence[AssemblyPoint], legs: Sequence[Leg], evacuees: Sequence[Evacuee], *,
                    parameters: Parameters | None = None, taken: dict[str, set[int]] | None = None) -> Plan:
    """Allocate evacuees to itineraries by priority (see the module docstring). `taken`: seats already booked per leg."""
    parameters = parameters or Parameters()
    if parameters.nearest_points < 1 or parameters.report_minutes < 0 or parameters.transfer_minutes < 0:
        raise InvalidInput(T_("invalid planning parameters"), fields=[FieldError("parameters", T_("nearest_points >= 1, minutes >= 0"))])
    allocator = _Allocator(points, legs, parameters, connections=True, taken=taken)
    if not points:
        allocator.plan.unplaced = [(e.person_id, "no assembly point") for e in evacuees]
        return allocator.finish()
    households = _households(evacuees)
    households.sort(key=lambda group: (min(p.tier for p in group), -len(group), group[0].person_id))
    for group in households:
        tier = min(p.tier for p in group)
        members = [Evacuee(p.person_id, p.latitude, p.longitude, tier, p.household) for p in group]
        best: _Itinerary | None = None
        best_key: tuple[dt.datetime, float] | None = None
        for point in _nearest(allocator.points, group[0].latitude, group[0].longitude, parameters.nearest_points):
            distance = haversine_km(group[0].latitude, group[0].longitude, point.latitude, point.longitude)
            for itinerary in allocator.itineraries[point.point_id]:
                if best_key is not None and itinerary.arrives_at > best_key[0]:
                    break
                if allocator.feasible(itinerary, len(members)):
                    key = (itinerary.arrives_at, distance)
                    if best_key is None or key < best_key:
                        best, best_key = itinerary, key
                    break
        if best is None:
            allocator.plan.unplaced.extend((p.person_id, "no seat on a reachable leg") for p in members)
        else:
            allocator.place(members, best)
    return allocator.finish()


def greedy_baseline(points: Sequence[AssemblyPoint], legs: Sequence[Leg], evacuees: Sequence[Evacuee], *,
                    parameters: Parameters | None = None) -> Plan:
    """First come, first served: registration order, the nearest point only, its earliest itinerary with seats."""
    parameters = parameters or Parameters()
    allocator = _Allocator(points, legs, parameters, connections=True)
    for group in _households(evacuees):
        nearest = _nearest(allocator.points, group[0].latitude, group[0].longitude, 1)
        chosen = next((it for it in allocator.itineraries[nearest[0].point_id] if allocator.feasible(it, len(group))), None) if nearest else None
        if chosen is None:
            allocator.plan.unplaced.extend((p.person_id, "no seat on a reachable leg") for p in group)
        else:
            allocator.place(group, chosen)
    return allocator.finish()


@dataclass(frozen=True)
class PlanMetrics:
    people: int
    placed: int
    unplaced: int
    seats_total: int
    seats_used: int
    seats_empty: int
    seats_to_safety_empty: int
    """Empty seats on the legs that reach safety (empty convoy seats to a hub cost little; these cost lives)."""
    vulnerable: int
    vulnerable_placed: int
    vulnerable_mean_departure_hours: float | None
    """Mean hours from the first departure of the operation to the departure of each placed vulnerable person."""
    vulnerable_last_departure_hours: float | None
    others_mean_departure_hours: float | None


def metrics(plan: Plan, legs: Sequence[Leg], evacuees: Sequence[Evacuee]) -> PlanMetrics:
    tiers = {e.person_id: e.tier for e in evacuees}
    household_tier: dict[str, int] = {}
    for e in evacuees:
        if e.household:
            household_tier[e.household] = min(household_tier.get(e.household, 9), e.tier)
    effective = {e.person_id: household_tier.get(e.household, e.tier) if e.household else e.tier for e in evacuees}
    start = min((leg.departs_at for leg in legs), default=None)

    def hours(values: Iterable[dt.datetime]) -> list[float]:
        return [(v - start).total_seconds() / 3600 for v in values] if start else []

    vulnerable_departures = hours(a.departs_at for a in plan.assignments if effective.get(a.person_id, 2) < TIER_OTHER)
    other_departures = hours(a.departs_at for a in plan.assignments if effective.get(a.person_id, 2) == TIER_OTHER)
    seats_total = sum(leg.seats for leg in legs)
    used = sum(plan.seats_used.values())
    vulnerable = sum(1 for t in effective.values() if t < TIER_OTHER)
    del tiers
    return PlanMetrics(
        people=len(evacuees), placed=len(plan.assignments), unplaced=len(plan.unplaced), seats_total=seats_total, seats_used=used,
        seats_empty=seats_total - used,
        seats_to_safety_empty=sum(leg.seats - plan.seats_used.get(leg.leg_id, 0) for leg in legs if leg.destination_point_id is None), vulnerable=vulnerable, vulnerable_placed=len(vulnerable_departures),
        vulnerable_mean_departure_hours=round(sum(vulnerable_departures) / len(vulnerable_departures), 2) if vulnerable_departures else None,
        vulnerable_last_departure_hours=round(max(vulnerable_departures), 2) if vulnerable_departures else None,
        others_mean_departure_hours=round(sum(other_departures) / len(other_departures), 2) if other_departures else None,
    )


def verify_plan(plan: Plan, points: Sequence[AssemblyPoint], legs: Sequence[Leg], *, parameters: Parameters | None = None) -> list[str]:
    """Every broken rule of a plan, in words (empty when sound): seats, double-booked seats, overlaps, capacity."""
    parameters = parameters or Parameters()
    by_id = {leg.leg_id: leg for leg in legs}
    problems: list[str] = []
    load: dict[str, int] = {}
    seats_seen: set[tuple[str, int]] = set()
    occupancy = _Occupancy({p.point_id: p.capacity for p in points})
    report = dt.timedelta(minutes=parameters.report_minutes)
    for a in plan.assignments:
        person_legs = [by_id[leg_id] for leg_id in a.legs]
        clash = overlapping(person_legs)
        if clash:
            problems.append(f"{a.person_id}: legs {clash[0].leg_id} and {clash[1].leg_id} overlap")
        for leg, seat in zip(person_legs, a.seats, strict=True):
            load[leg.leg_id] = load.get(leg.leg_id, 0) + 1
            if not 1 <= seat <= leg.seats:
                problems.append(f"{a.person_id}: seat {seat} does not exist on leg {leg.leg_id}")
            if (leg.leg_id, seat) in seats_seen:
                problems.append(f"leg {leg.leg_id}: seat {seat} booked twice")
            seats_seen.add((leg.leg_id, seat))
        occupancy.add(person_legs[0].origin_point_id, person_legs[0].departs_at - report, person_legs[0].departs_at, 1)
        for previous, leg in zip(person_legs, person_legs[1:], strict=False):
            if leg.origin_point_id != previous.destination_point_id:
                problems.append(f"{a.person_id}: leg {leg.leg_id} does not leave from where {previous.leg_id} arrives")
            occupancy.add(leg.origin_point_id, previous.arrives_at, leg.departs_at, 1)
    for leg_id, n in load.items():
        if n > by_id[leg_id].seats:
            problems.append(f"leg {leg_id}: {n} people on {by_id[leg_id].seats} seats")
    for point in points:
        for (start, _end) in occupancy.intervals[point.point_id]:
            present = sum(n for (s, e), n in occupancy.intervals[point.point_id].items() if s <= start < e)
            if present > point.capacity:
                problems.append(f"assembly point {point.point_id}: {present} people present at {start.isoformat()} for {point.capacity} places")
                break
    return problems
