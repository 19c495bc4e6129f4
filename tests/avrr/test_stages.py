"""Stage transitions, withdrawal, consent for readmission links, plan and monitoring dates, tranches."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from passage.avrr.stages import (
    ASSISTANCE_LABELS,
    STAGE_LABELS,
    AssistanceKind,
    AssistancePlanItem,
    CaseFacts,
    ConsentRecord,
    Disbursement,
    ProgrammeConfig,
    Stage,
    TrancheSpec,
    Withdrawal,
    assistance_item_problems,
    check_disbursement,
    check_transition,
    check_withdrawal,
    monitoring_schedule,
    plan_due_on,
    plan_overdue,
    require_link_consent,
)
from passage.core.errors import Conflict, Forbidden, InvalidInput

D = dt.date


def counselled(**over: Any) -> CaseFacts:
    counselling = {"held_on": D(2024, 1, 10), "counsellor_id": "u-7", "informed": True, "voluntary": True,
                   "decision": "return", "decided_on": D(2024, 1, 17)} | over
    return CaseFacts.model_validate({"counselling": counselling})


def field_paths(exc: InvalidInput) -> list[str]:
    return [f.path for f in exc.fields]


def test_full_happy_path_walks_every_stage() -> None:
    facts = counselled()
    steps: list[tuple[Stage, dict[str, Any]]] = [
        (Stage.APPLICATION, {}),
        (Stage.ELIGIBILITY, {"applied_on": D(2024, 1, 18)}),
        (Stage.PRE_DEPARTURE, {"eligibility": {"decided_on": D(2024, 1, 25), "eligible": True, "decided_by": "u-2"}}),
        (Stage.TRAVEL, {"travel_document": "laissez_passer_issued", "medical_fitness": "fit", "vulnerability_screened": True,
                        "itinerary_ref": "IT-1"}),
        (Stage.ARRIVAL, {"departed_on": D(2024, 3, 1), "arrived_on": D(2024, 3, 2)}),
        (Stage.REINTEGRATION_PLAN, {"received_by": "IOM Lagos"}),
        (Stage.ASSISTANCE, {"plan_agreed_on": D(2024, 3, 20)}),
        (Stage.MONITORING, {"assistance_items": 2}),
        (Stage.CLOSED, {"monitoring_rounds_due": 3, "monitoring_rounds_completed": 3, "closure_reason": "monitoring complete"}),
    ]
    stage = Stage.COUNSELLING
    for target, update in steps:
        facts = CaseFacts.model_validate(facts.model_dump() | update)
        check_transition(stage, target, facts)
        stage = target
    assert stage is Stage.CLOSED


@pytest.mark.parametrize(
    ("over", "path"),
    [({"informed": False}, "counselling.informed"), ({"voluntary": False}, "counselling.voluntary"),
     ({"decision": "undecided"}, "counselling.decision"), ({"decided_on": None}, "counselling.decided_on")],
)
def test_application_needs_an_informed_voluntary_dated_decision(over: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_transition(Stage.COUNSELLING, Stage.APPLICATION, counselled(**over))
    assert field_paths(info.value) == [path]
    with pytest.raises(InvalidInput) as none:
        check_transition(Stage.COUNSELLING, Stage.APPLICATION, CaseFacts())
    assert field_paths(none.value) == ["counselling"]


def test_illegal_moves_are_conflicts_listing_allowed_moves() -> None:
    with pytest.raises(Conflict) as info:
        check_transition(Stage.COUNSELLING, Stage.TRAVEL, counselled())
    assert info.value.extra["allowed"] == ["application"]
    with pytest.raises(Conflict):
        check_transition(Stage.CLOSED, Stage.MONITORING, CaseFacts())
    with pytest.raises(Conflict):
        check_transition(Stage.APPLICATION, Stage.WITHDRAWN, CaseFacts())


def test_travel_requires_documents_fitness_screening_referral_and_escort() -> None:
    facts = CaseFacts(medical_fitness="fit_with_escort", vulnerability_screened=True, vulnerable=True, travel_document="pending")
    with pytest.raises(InvalidInput) as info:
        check_transition(Stage.PRE_DEPARTURE, Stage.TRAVEL, facts)
    assert field_paths(info.value) == ["travel_document", "referral_made", "itinerary_ref", "escort_assigned"]
    ok = facts.model_copy(update={"travel_document": "valid_passport", "referral_made": True, "itinerary_ref": "X",
                                  "escort_assigned": True})
    check_transition(Stage.PRE_DEPARTURE, Stage.TRAVEL, ok)
    unfit = ok.model_copy(update={"medical_fitness": "unfit"})
    with pytest.raises(InvalidInput, match="travel"):
        check_transition(Stage.PRE_DEPARTURE, Stage.TRAVEL, unfit)


def test_ineligible_case_closes_with_a_reason_eligible_one_cannot() -> None:
    refused = CaseFacts(eligibility={"decided_on": D(2024, 2, 1), "eligible": False, "decided_by": "u", "reason": "nationality"})
    check_transition(Stage.ELIGIBILITY, Stage.CLOSED, refused)
    with pytest.raises(InvalidInput):
        check_transition(Stage.ELIGIBILITY, Stage.PRE_DEPARTURE, refused)
    eligible = CaseFacts(eligibility={"decided_on": D(2024, 2, 1), "eligible": True, "decided_by": "u"}, closure_reason="x")
    with pytest.raises(InvalidInput) as info:
        check_transition(Stage.ELIGIBILITY, Stage.CLOSED, eligible)
    assert "eligibility.eligible" in field_paths(info.value)


def test_arrival_before_departure_and_open_monitoring_block() -> None:
    with pytest.raises(InvalidInput) as info:
        check_transition(Stage.TRAVEL, Stage.ARRIVAL, CaseFacts(departed_on=D(2024, 3, 2), arrived_on=D(2024, 3, 1)))
    assert field_paths(info.value) == ["arrived_on"]
    with pytest.raises(InvalidInput) as open_rounds:
        check_transition(Stage.MONITORING, Stage.CLOSED,
                         CaseFacts(monitoring_rounds_due=3, monitoring_rounds_completed=2, closure_reason="done"))
    assert field_paths(open_rounds.value) == ["monitoring_rounds_completed"]


@pytest.mark.parametrize("stage", [Stage.COUNSELLING, Stage.APPLICATION, Stage.ELIGIBILITY, Stage.PRE_DEPARTURE, Stage.TRAVEL])
def test_withdrawal_allowed_any_time_before_departure(stage: Stage) -> None:
    check_withdrawal(stage, counselled(), Withdrawal(withdrawn_on=D(2024, 2, 1), recorded_by="u-7"))


def test_withdrawal_refused_after_departure_or_before_counselling() -> None:
    after = counselled().model_copy(update={"departed_on": D(2024, 3, 1)})
    with pytest.raises(Conflict, match="before departure"):
        check_withdrawal(Stage.TRAVEL, after, Withdrawal(withdrawn_on=D(2024, 3, 2), recorded_by="u"))
    with pytest.raises(Conflict):
        check_withdrawal(Stage.ARRIVAL, counselled(), Withdrawal(withdrawn_on=D(2024, 3, 2), recorded_by="u"))
    with pytest.raises(InvalidInput):
        check_withdrawal(Stage.APPLICATION, counselled(), Withdrawal(withdrawn_on=D(2024, 1, 1), recorded_by="u"))
    assert Withdrawal(withdrawn_on=D(2024, 2, 1), recorded_by="u").by_person is True


def test_readmission_link_needs_consent_in_force() -> None:
    with pytest.raises(Forbidden) as info:
        require_link_consent([], D(2024, 2, 1))
    assert info.value.status == 403
    other = ConsentRecord(purpose="monitoring_contact", given_on=D(2024, 1, 1), recorded_by="u", form_ref="F1")
    with pytest.raises(Forbidden):
        require_link_consent([other], D(2024, 2, 1))
    link = ConsentRecord(purpose="link_readmission_case", given_on=D(2024, 1, 15), withdrawn_on=D(2024, 3, 1),
                         recorded_by="u", form_ref="F2")
    assert require_link_consent([other, link], D(2024, 2, 1)) is link
    with pytest.raises(Forbidden):
        require_link_consent([link], D(2024, 3, 1))  # withdrawn that day
    with pytest.raises(Forbidden):
        require_link_consent([link], D(2024, 1, 14))  # not yet given


def test_plan_due_one_month_after_arrival_configurable() -> None:
    default = ProgrammeConfig(programme_id="p")
    assert plan_due_on(D(2024, 1, 31), default) == D(2024, 2, 29)
    assert plan_due_on(D(2024, 1, 31), ProgrammeConfig(programme_id="p", plan_due_months=2)) == D(2024, 3, 31)
    facts = CaseFacts(arrived_on=D(2024, 1, 31))
    assert not plan_overdue(facts, default, D(2024, 2, 29))
    assert plan_overdue(facts, default, D(2024, 3, 1))
    assert not plan_overdue(facts.model_copy(update={"plan_agreed_on": D(2024, 3, 5)}), default, D(2024, 4, 1))


def test_monitoring_schedule_default_and_per_programme() -> None:
    rounds = monitoring_schedule(D(2024, 3, 31), ProgrammeConfig(programme_id="p"))
    assert [(r.round_number, r.months_after_arrival, r.due_on) for r in rounds] == [
        (1, 3, D(2024, 6, 30)), (2, 6, D(2024, 9, 30)), (3, 12, D(2025, 3, 31))]
    custom = monitoring_schedule(D(2024, 1, 1), ProgrammeConfig(programme_id="p", monitoring_months=[18, 1, 9]))
    assert [r.due_on for r in custom] == [D(2024, 2, 1), D(2024, 10, 1), D(2025, 7, 1)]


ITEM = AssistancePlanItem(kind="business_start_up", budget=Decimal("1500"), currency="EUR", tranches=[
    TrancheSpec(number=1, amount=Decimal("1000"), due_from=D(2024, 4, 1), due_to=D(2024, 4, 30)),
    TrancheSpec(number=2, amount=Decimal("500"), due_from=D(2024, 7, 1), due_to=D(2024, 8, 31)),
])


def test_disbursement_within_schedule_and_budget_is_accepted() -> None:
    first = Disbursement(tranche_number=1, amount=Decimal("1000"), paid_on=D(2024, 4, 15), proof_ref="R1")
    check_disbursement(ITEM, [], first)
    check_disbursement(ITEM, [first], Disbursement(tranche_number=2, amount=Decimal("500"), paid_on=D(2024, 8, 31), proof_ref="R2"))


def test_disbursement_outside_schedule_beyond_budget_twice_or_without_proof_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        check_disbursement(ITEM, [], Disbursement(tranche_number=2, amount=Decimal("600"), paid_on=D(2024, 6, 30)))
    assert field_paths(info.value) == ["paid_on", "amount", "proof_ref"]
    with pytest.raises(InvalidInput) as unknown:
        check_disbursement(ITEM, [], Disbursement(tranche_number=3, amount=Decimal("1"), paid_on=D(2024, 4, 2), proof_ref="R"))
    assert field_paths(unknown.value) == ["tranche_number"]
    paid = [Disbursement(tranche_number=1, amount=Decimal("1000"), paid_on=D(2024, 4, 2), proof_ref="R")]
    with pytest.raises(Conflict):
        check_disbursement(ITEM, paid, Disbursement(tranche_number=1, amount=Decimal("1"), paid_on=D(2024, 4, 3), proof_ref="R"))
    # a budget cut below what was scheduled: the second tranche fits its own amount but not the budget
    tight = ITEM.model_copy(update={"budget": Decimal("1200")})
    with pytest.raises(InvalidInput) as budget:
        check_disbursement(tight, paid, Disbursement(tranche_number=2, amount=Decimal("500"), paid_on=D(2024, 7, 2), proof_ref="R"))
    assert [f.message for f in budget.value.fields] == ["beyond the assistance budget"]


def test_assistance_schedule_checks() -> None:
    assert assistance_item_problems(ITEM) == []
    bad = ITEM.model_copy(update={"budget": Decimal("1400"), "tranches": [ITEM.tranches[1], ITEM.tranches[0]]})
    assert {f.path for f in assistance_item_problems(bad)} == {"tranches", "tranches.1.due_from"}


def test_every_stage_and_kind_has_english_and_chinese_labels() -> None:
    assert set(STAGE_LABELS) == set(Stage) and set(ASSISTANCE_LABELS) == set(AssistanceKind)
    for en, zh in [*STAGE_LABELS.values(), *ASSISTANCE_LABELS.values()]:
        assert en.isascii() and any("\u4e00" <= ch <= "\u9fff" for ch in zh)
