"""Evacuation planning at the scale of the 2017 Bali evacuation (seed 004: about 18,000 nationals in 10 days).

18,000 people over 10 days, 40 assembly points (4 of them hubs: two airports, two ports) and 120 transport legs
(convoys from local points to hubs, charter flights and ships from hubs to safety), households of 1-4, 17% of
people vulnerable. Runs Passage's planner (`plan_evacuation`) and the greedy first-come-first-served baseline
(`greedy_baseline`) on the same input; "vulnerable" counts people whose household has a vulnerable member (the
household travels at that member's priority), checks both plans with `verify_plan`, and prints seats left empty, people
placed, how late the vulnerable leave, and the time taken (median of --repeat runs).

    .venv/bin/python bench/consular/bench_plan.py --people 18000 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from passage.consular import evacuation as ev

T0 = dt.datetime(2017, 11, 27, 6, 0, tzinfo=dt.UTC)
HUBS = [("DPS", -8.748, 115.167), ("LOP", -8.757, 116.276), ("PDB", -8.53, 115.51), ("LMB", -8.727, 116.074)]


def scenario(people: int, seed: int = 2017) -> tuple[list[ev.AssemblyPoint], list[ev.Leg], list[ev.Evacuee]]:
    rng = random.Random(seed)
    points = [ev.AssemblyPoint(code, lat, lon, 2500) for code, lat, lon in HUBS]
    for i in range(36):
        lat, lon = rng.uniform(-8.85, -8.2), rng.uniform(115.05, 116.6)
        points.append(ev.AssemblyPoint(f"P{i:02d}", lat, lon, rng.choice([300, 500, 800, 1200])))
    legs: list[ev.Leg] = []
    local = points[4:]
    for i in range(64):  # convoys to the nearest hub, spread over the 10 days
        origin = local[i % len(local)]
        hub = min(points[:4], key=lambda h: (h.latitude - origin.latitude) ** 2 + (h.longitude - origin.longitude) ** 2)
        start = T0 + dt.timedelta(hours=rng.uniform(0, 228))
        legs.append(ev.Leg(f"CV{i:03d}", "bus", origin.point_id, hub.point_id, start, start + dt.timedelta(hours=rng.uniform(1, 3)), rng.choice([200, 300, 400])))
    for i in range(40):  # charter flights from the two airports (closed on days 1-2, as at Bali in 2017)
        hub = points[i % 2]
        start = T0 + dt.timedelta(hours=48 + rng.uniform(0, 190))
        legs.append(ev.Leg(f"CF{i:03d}", "charter_flight", hub.point_id, None, start, start + dt.timedelta(hours=6), 300))
    for i in range(16):  # ships from the two ports
        hub = points[2 + i % 2]
        start = T0 + dt.timedelta(hours=rng.uniform(4, 230))
        legs.append(ev.Leg(f"SH{i:03d}", "ship", hub.point_id, None, start, start + dt.timedelta(hours=10), 500))
    evacuees = []
    index = 0
    household = 0
    while index < people:
        size = min(rng.choice([1, 1, 2, 2, 3, 4]), people - index)
        centre = rng.choice(local)
        lat, lon = centre.latitude + rng.uniform(-0.05, 0.05), centre.longitude + rng.uniform(-0.05, 0.05)
        for _ in range(size):
            roll = rng.random()
            tier = ev.TIER_NEEDS_HELP if roll < 0.02 else (ev.TIER_VULNERABLE if roll < 0.17 else ev.TIER_OTHER)
            evacuees.append(ev.Evacuee(f"R{index:06d}", lat, lon, tier, f"H{household:06d}" if size > 1 else None))
            index += 1
        household += 1
    return points, legs, evacuees


def timed(function, *args, repeat: int):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - started)
    return result, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=18_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    points, legs, evacuees = scenario(args.people)
    seats_to_safety = sum(leg.seats for leg in legs if leg.destination_point_id is None)
    print(f"{len(evacuees):,} people, {len(points)} assembly points, {len(legs)} legs, {seats_to_safety:,} seats to safety")
    rows = []
    for name, planner in (("Passage plan_evacuation", ev.plan_evacuation), ("greedy baseline (FCFS, nearest point)", ev.greedy_baseline)):
        plan, times = timed(planner, points, legs, evacuees, repeat=args.repeat)
        problems = ev.verify_plan(plan, points, legs)
        m = ev.metrics(plan, legs, evacuees)
        rows.append((name, statistics.median(times), m, problems))
        print(f"{name}: median {statistics.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}), plan problems: {len(problems)}")
    print()
    print("| planner | median s | placed | unplaced | empty seats to safety | vulnerable placed | vulnerable mean departure h | vulnerable last departure h | others mean departure h |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, seconds, m, _problems in rows:
        print(f"| {name} | {seconds:.2f} | {m.placed:,} | {m.unplaced:,} | {m.seats_to_safety_empty:,} | {m.vulnerable_placed:,} / {m.vulnerable:,} | "
              f"{m.vulnerable_mean_departure_hours} | {m.vulnerable_last_departure_hours} | {m.others_mean_departure_hours} |")
    ours, greedy = rows[0][2], rows[1][2]
    print()
    print(f"time ours/greedy: {rows[0][1] / rows[1][1]:.2f}; placed ours/greedy: {ours.placed / max(greedy.placed, 1):.2f}; "
          f"empty seats to safety ours/greedy: {ours.seats_to_safety_empty / max(greedy.seats_to_safety_empty, 1):.2f}; "
          f"vulnerable mean departure ours/greedy: {(ours.vulnerable_mean_departure_hours or 0) / max(greedy.vulnerable_mean_departure_hours or 1, 1e-9):.2f}")


if __name__ == "__main__":
    main()
