"""Demo data: every stage, three countries, consistent with the rules, deterministic, and usable by the reports."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from passage.avrr.demo import DemoData, generate_demo
from passage.avrr.rules import parse_household
from passage.avrr.stages import Stage
from passage.avrr.statistics import (
    CaseRecord,
    application_to_departure,
    cost_per_returnee,
    returns_per_country_month,
)
from passage.avrr.sustainability import ScoredRound, cohort_reports, load_scoring_config, score_survey
from passage.core.cli import main


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate_demo()


def test_about_40_cases_at_every_stage_in_3_countries(demo: DemoData) -> None:
    assert len(demo.cases) == 40
    assert set(Counter(c.stage for c in demo.cases)) == set(Stage)
    assert set(c.country_of_return for c in demo.cases) == {"NGA", "IRQ", "VNM"}
    assert len({c.reference for c in demo.cases}) == 40
    assert {c.programme_id for c in demo.cases} == {"de_reag_garp", "de_reag_garp_jrs"}


def test_cases_follow_the_rules(demo: DemoData) -> None:
    config = load_scoring_config()
    for case in demo.cases:
        parse_household(case.household)
        assert case.events[-1].to_stage == case.stage
        assert [e.occurred_on for e in case.events] == sorted(e.occurred_on for e in case.events)
        if case.stage is Stage.WITHDRAWN:
            assert case.facts.departed_on is None and case.withdrawal is not None and case.withdrawal.by_person
        for item in case.assistance:
            paid = sum((t.disbursement.amount for t in item.tranches if t.disbursement), Decimal(0))
            assert paid <= item.budget
            for t in item.tranches:
                if t.disbursement:
                    assert t.spec.due_from <= t.disbursement.paid_on <= t.spec.due_to and t.disbursement.proof_ref
        for rnd in case.monitoring:
            if rnd.answers is not None:
                assert rnd.score == score_survey(rnd.answers, config)
            assert rnd.completed_on is None or rnd.completed_on <= demo.generated_for
        if case.facts.plan_agreed_on and case.facts.arrived_on:
            assert (case.facts.plan_agreed_on - case.facts.arrived_on).days <= 31
    closed_after_monitoring = [c for c in demo.cases if c.stage is Stage.CLOSED and c.facts.closure_reason == "monitoring complete"]
    assert closed_after_monitoring and all(len([m for m in c.monitoring if m.score]) == 3 for c in closed_after_monitoring)
    assert any(c.facts.closure_reason == "ineligible" for c in demo.cases)


def test_deterministic_and_json_round_trip(demo: DemoData) -> None:
    again = generate_demo()
    assert again.model_dump_json() == demo.model_dump_json()
    assert DemoData.model_validate_json(demo.model_dump_json()) == demo
    assert generate_demo(seed=1).model_dump_json() != demo.model_dump_json()


def test_reports_and_statistics_run_on_demo(demo: DemoData) -> None:
    rows = []
    records = []
    for case in demo.cases:
        records.append(CaseRecord(case_id=case.reference, country_of_return=case.country_of_return, programme_id=case.programme_id,
                                  applied_on=case.facts.applied_on, departed_on=case.facts.departed_on,
                                  cost=sum((c.amount for c in case.costs), Decimal(0)) if case.costs else None,
                                  returnees=len(case.household["members"])))
        for rnd in case.monitoring:
            if rnd.score and case.facts.departed_on:
                rows.append(ScoredRound(case_id=case.reference, country_of_return=case.country_of_return,
                                        year=case.facts.departed_on.year, programme_id=case.programme_id,
                                        assistance_kinds=[a.kind.value for a in case.assistance], round_number=rnd.round_number,
                                        composite=rnd.score.composite, **{d: rnd.score.dimensions[d] for d in ("economic", "social", "psychosocial")}))
    reports = cohort_reports(rows, by=["country_of_return"], threshold=0.5)
    assert {r.cohort["country_of_return"] for r in reports} == {"NGA", "IRQ", "VNM"}
    assert sum(r.rounds[0].n for r in reports) >= 8
    assert sum(returns_per_country_month(records).values()) == sum(len(c.household["members"]) for c in demo.cases if c.facts.departed_on)
    duration = application_to_departure(records)
    assert duration.median_days == 54.0  # demo timeline: applied day 8, departed day 62
    comparison = cost_per_returnee(records, demo.forced_return_costs)
    assert comparison.avrr_to_forced_ratio is not None and comparison.avrr_cost_per_returnee is not None


def test_demo_command_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "demo.json"
    try:
        main(["avrr", "demo", "--output", str(out), "--today", "2026-06-30"])
    except SystemExit as exc:
        assert not exc.code
    data = json.loads(out.read_text())
    assert len(data["cases"]) == 40 and data["generated_for"] == dt.date(2026, 6, 30).isoformat()
