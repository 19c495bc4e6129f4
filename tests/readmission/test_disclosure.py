"""Readmission statistics for readers outside the cases' scope: an attacker reads every grouping the API
offers them (the total; by agreement, state or province; by month, quarter or year) and tries to recover a
withheld count from the totals and the relations between columns. It must fail, and the overall total
must stay useful."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from passage.readmission.statistics import GROUP_KEYS, CaseRecord, compute, published
from tests.disclosure_attack import Publication, recovered

THRESHOLD = 3
"""Small, so the random tables have cells on both sides of it."""

QUERIES = [([], "month"), *(([key], "month") for key in GROUP_KEYS[:3]), *((["period"], g) for g in ("month", "quarter", "year"))]
"""Every grouping published for readers outside the cases' scope."""


def _record(agreement: str, state: str, province: str, day: int, outcome: str | None) -> CaseRecord:
    submitted = dt.date(2024, 1, 1) + dt.timedelta(days=day)
    return CaseRecord(agreement_id=agreement, requesting_state=state, province=province, state="x", submitted_on=submitted,
                      outcome=outcome, refusal_reason="not_a_national" if outcome == "refused" else None,
                      replied_on=submitted + dt.timedelta(days=3) if outcome in ("accepted", "refused") else None,
                      reply_due=submitted + dt.timedelta(days=5))


records = st.lists(st.builds(_record, st.just("eu-china"), st.sampled_from(["NL", "FR"]), st.sampled_from(["11", "31"]),
                             st.integers(0, 120), st.sampled_from(["accepted", "refused", None])), min_size=1, max_size=40)


def _attack(rows_by_query: list[tuple[list[str], str, list[dict[str, Any]]]], truth: dict[Any, int]) -> tuple[Publication, list[Any]]:
    """Publication of applications and outcomes over every grouping, with the relations a reader derives:
    applications = sum of outcomes in a row; a coarser row = the sum of its finer rows along one key."""
    public = Publication()
    nodes: dict[tuple[Any, ...], dict[str, Any]] = {}
    for group_by, granularity, rows in rows_by_query:
        level = granularity if "period" in group_by else "all"
        for row in rows:
            node = tuple(row["group"].get(k, "*") if k in group_by else "*" for k in GROUP_KEYS) + (level,)
            nodes[node] = row
            public.values[(node, "applications")] = row["applications"]
            for outcome, value in row["outcomes"].items():
                public.values[(node, outcome)] = value
            public.total((node, "applications"), [(node, o) for o in row["outcomes"]])
    measures = ["applications", *next(iter(nodes.values()))["outcomes"]]

    def coarser(node: tuple[Any, ...], position: int) -> tuple[Any, ...] | None:
        parent = list(node)
        if position < 3:
            parent[position] = "*"
        else:
            period, level = node[3], node[4]
            if level == "month":
                year, month = period.split("-")
                parent[3], parent[4] = f"{year}-Q{(int(month) - 1) // 3 + 1}", "quarter"
            elif level == "quarter":
                parent[3], parent[4] = period.split("-")[0], "year"
            else:
                parent[3], parent[4] = "*", "all"
        return tuple(parent)

    for position in range(4):
        children: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for node in nodes:
            if node[position] != "*":
                children.setdefault(coarser(node, position), []).append(node)  # type: ignore[arg-type]
        for parent, kids in children.items():
            for measure in measures:
                public.total((parent, measure), [(k, measure) for k in kids])
    small = [key for key, value in truth.items() if value <= THRESHOLD and key in public.values]
    return public, small


@settings(max_examples=25, phases=[Phase.explicit, Phase.generate], deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(cases=records)
def test_no_withheld_count_can_be_recovered_across_groupings(cases: list[CaseRecord]) -> None:
    cube = published(cases, threshold=THRESHOLD)
    answers = [(group_by, granularity, cube.rows(group_by, granularity)) for group_by, granularity in QUERIES]
    truth: dict[Any, int] = {}
    for group_by, granularity, rows in answers:
        exact = {tuple(r.group.get(k) for k in group_by): r for r in compute(cases, group_by=group_by, granularity=granularity)}
        level = granularity if "period" in group_by else "all"
        assert len(rows) == len(exact)
        for row in rows:
            node = tuple(row["group"].get(k, "*") if k in group_by else "*" for k in GROUP_KEYS) + (level,)
            real = exact[tuple(row["group"].get(k) for k in group_by)]
            truth[(node, "applications")] = real.applications
            for outcome, value in row["outcomes"].items():
                truth[(node, outcome)] = real.outcomes.get(outcome, 0)
                assert value is None or value == real.outcomes.get(outcome, 0)
            assert row["applications"] is None or row["applications"] == real.applications
    public, small = _attack(answers, truth)
    assert recovered(public, small, THRESHOLD) == {}


def test_the_overall_total_stays_useful_for_the_analyst() -> None:
    cases = [_record("eu-china", state, province, day, outcome)
             for state, province, day, outcome in itertools.product(["NL", "FR"], ["11", "31", "44"], range(0, 120, 40), ["accepted", "refused"])]
    cube = published(cases, threshold=5)
    [total] = cube.rows([], "month")
    assert total["applications"] == 36 and total["outcomes"] == {"accepted": 18, "refused": 18}
    by_state = cube.rows(["requesting_state"], "year")
    assert [r["applications"] for r in by_state] == [18, 18]
    monthly = cube.rows(["period"], "month")
    assert [r["applications"] for r in monthly] == [12, 12, 12]
    # cross-classified groupings of other parties' cases are not published at all
    assert cube.rows(["province", "period"], "month") == []
    # a count of 1 per province (issue 17, item 13) is withheld, with the province that would reveal it
    cube = published([*cases, _record("eu-china", "NL", "65", 3, "refused")], threshold=5)
    by_province = {r["group"]["province"]: r for r in cube.rows(["province"], "month")}
    assert by_province["65"]["applications"] is None and by_province["65"]["outcomes"]["refused"] is None
    assert sum(r["applications"] is None for r in by_province.values()) >= 2


def test_on_the_demo_the_analyst_sees_a_total_and_an_officer_sees_no_small_counts_of_another_state(demo: dict[str, str]) -> None:
    from sqlalchemy import select

    from passage.core.db import unit_of_work
    from passage.readmission import service
    from passage.security.models import User

    with unit_of_work() as s:
        analyst = s.scalars(select(User).where(User.username == "analyst")).one()
        rows = service.published_statistics(s, actor=analyst, group_by=["requesting_state"], granularity="quarter")
        assert {r["scope"] for r in rows} == {"others"}
        [total] = [r for r in rows if r["total"]]
        assert total["applications"] is not None and total["applications"] > 15  # useful, not "withheld" everywhere
        officer = s.scalars(select(User).where(User.username == "nl.officer")).one()
        fine = service.published_statistics(s, actor=officer, group_by=["province", "period"], granularity="month")
        # another state's cases: no cross-classified rows, only their overall total
        assert fine and all(r["scope"] == "own" or r["total"] for r in fine)
        by_province = [r for r in service.published_statistics(s, actor=officer, group_by=["province"], granularity="month") if r["scope"] == "others"]
        assert by_province
        for row in by_province:
            counts = [row["applications"], *row["outcomes"].values(), *row["refusals_by_reason"].values()]
            assert all(c is None or c > 15 for c in counts)
