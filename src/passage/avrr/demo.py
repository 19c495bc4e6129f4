"""Realistic, deterministic demo data: about 40 AVRR cases at every stage, 3 countries of return.

The output is plain data (pydantic models, JSON-serialisable) that wave 2 loads through the AVRR service,
so every record passes the same rules as a real one: households are valid, every stage event satisfies
`stages.check_transition`, every payment `stages.check_disbursement`, incentives come from
`rules.calculate_incentives`, and monitoring scores from `sustainability.score_survey`.

Nothing here is a real person. Costs of forced return are synthetic figures for the dashboard's
comparison, not published ones.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from passage.avrr.rules import calculate_incentives, parse_household
from passage.avrr.schemes import SchemeRegistry, default_registry
from passage.avrr.stages import (
    AssistanceKind,
    AssistancePlanItem,
    CaseFacts,
    ConsentRecord,
    Disbursement,
    ProgrammeConfig,
    Stage,
    TrancheSpec,
    Withdrawal,
    check_disbursement,
    check_transition,
    check_withdrawal,
    monitoring_schedule,
    plan_due_on,
)
from passage.avrr.statistics import ForcedReturnCost
from passage.avrr.sustainability import ScoringConfig, SurveyScore, load_scoring_config, score_survey

COUNTRIES = ("NGA", "IRQ", "VNM")
COUNTRY_BASELINE = {"NGA": 0.50, "IRQ": 0.42, "VNM": 0.60}
"""Synthetic starting level of reintegration per country, so that cohort reports differ."""

STAGE_PLAN: list[tuple[Stage, int]] = [
    (Stage.COUNSELLING, 3), (Stage.APPLICATION, 3), (Stage.ELIGIBILITY, 3), (Stage.PRE_DEPARTURE, 4),
    (Stage.TRAVEL, 3), (Stage.ARRIVAL, 3), (Stage.REINTEGRATION_PLAN, 4), (Stage.ASSISTANCE, 5),
    (Stage.MONITORING, 6), (Stage.CLOSED, 4), (Stage.WITHDRAWN, 2),
]
ORDER = [Stage.COUNSELLING, Stage.APPLICATION, Stage.ELIGIBILITY, Stage.PRE_DEPARTURE, Stage.TRAVEL, Stage.ARRIVAL,
         Stage.REINTEGRATION_PLAN, Stage.ASSISTANCE, Stage.MONITORING, Stage.CLOSED]
BUDGETS = {
    AssistanceKind.CASH: Decimal("600"), AssistanceKind.IN_KIND: Decimal("800"),
    AssistanceKind.BUSINESS_START_UP: Decimal("1500"), AssistanceKind.HOUSING: Decimal("1000"),
    AssistanceKind.MEDICAL: Decimal("700"), AssistanceKind.EDUCATION: Decimal("500"),
}
COUNSELLORS = ("counsellor-berlin-1", "counsellor-berlin-2", "counsellor-nuremberg-1")


class DemoEvent(BaseModel):
    from_stage: Stage | None
    to_stage: Stage
    occurred_on: dt.date
    actor_id: str
    details: dict[str, Any] = {}


class DemoTranche(BaseModel):
    spec: TrancheSpec
    disbursement: Disbursement | None


class DemoAssistance(BaseModel):
    kind: AssistanceKind
    budget: Decimal
    currency: str
    tranches: list[DemoTranche]


class DemoMonitoring(BaseModel):
    round_number: int
    months_after_arrival: int
    due_on: dt.date
    completed_on: dt.date | None
    answers: dict[str, str] | None
    score: SurveyScore | None


class DemoCost(BaseModel):
    category: str
    amount: Decimal
    currency: str
    booked_on: dt.date


class DemoCase(BaseModel):
    reference: str
    programme_id: str
    scheme_id: str
    country_of_return: str
    stage: Stage
    household: dict[str, Any]
    facts: CaseFacts
    events: list[DemoEvent]
    withdrawal: Withdrawal | None
    consents: list[ConsentRecord]
    incentives_total: Decimal | None
    assistance: list[DemoAssistance]
    monitoring: list[DemoMonitoring]
    costs: list[DemoCost]


class DemoData(BaseModel):
    generated_for: dt.date
    seed: int
    programmes: list[ProgrammeConfig]
    scoring_config: str
    cases: list[DemoCase]
    forced_return_costs: list[ForcedReturnCost]


def _household(rng: random.Random, country: str, scheme_id: str) -> dict[str, Any]:
    head_age = rng.randint(22, 52)
    members: list[dict[str, Any]] = [{"member_id": "m1", "age": head_age, "relationship": "head", "sex": rng.choice("fm")}]
    shape = rng.random()
    if shape > 0.45:
        members.append({"member_id": "m2", "age": max(18, head_age + rng.randint(-6, 4)), "relationship": "spouse",
                        "sex": "m" if members[0]["sex"] == "f" else "f"})
    if shape > 0.6:
        for _ in range(rng.randint(1, 4)):
            members.append({"member_id": f"m{len(members) + 1}", "age": rng.randint(0, max(0, head_age - 18)),
                            "relationship": "child", "sex": rng.choice("fm")})
    status, stage = rng.choice([("rejected_asylum_seeker", "final_negative"), ("tolerated", "final_negative"),
                                ("asylum_seeker", "pending"), ("rejected_asylum_seeker", "first_negative")])
    return {"nationality": country, "legal_status": status, "asylum_stage": stage, "members": members}


def _answers(rng: random.Random, config: ScoringConfig, level: float) -> dict[str, str]:
    answers = {}
    for item in config.items:
        choices = [c for c in config.scales[item.scale] if c.score is not None]
        if rng.random() < 0.05:
            skipped = [c for c in config.scales[item.scale] if c.score is None]
            answers[item.name] = skipped[0].name
            continue
        target = min(1.0, max(0.0, level + rng.gauss(0, 0.18)))
        answers[item.name] = min(choices, key=lambda c: abs((c.score or 0.0) - target)).name
    return answers


def _build_case(index: int, target: Stage, rng: random.Random, today: dt.date, registry: SchemeRegistry,
                config: ScoringConfig, programmes: dict[str, ProgrammeConfig]) -> DemoCase:
    country = COUNTRIES[index % len(COUNTRIES)]
    # StarthilfePlus 2017 ended on 2017-12-31, so current demo cases all run under REAG/GARP; the second
    # programme adds EU Joint Reintegration Services assistance in the country of return.
    scheme_id = "reag_garp"
    programme = programmes["de_reag_garp_jrs" if rng.random() < 0.4 else "de_reag_garp"]
    household_data = _household(rng, country, scheme_id)
    household = parse_household(household_data)

    reached = ORDER.index(target) if target in ORDER else ORDER.index(rng.choice([Stage.APPLICATION, Stage.PRE_DEPARTURE]))
    post_arrival_days = {Stage.ARRIVAL: (0, 2), Stage.REINTEGRATION_PLAN: (4, 15), Stage.ASSISTANCE: (22, 35),
                         Stage.MONITORING: (100, 330), Stage.CLOSED: (380, 600)}
    pre_arrival_entry = {Stage.COUNSELLING: 0, Stage.APPLICATION: 8, Stage.ELIGIBILITY: 9, Stage.PRE_DEPARTURE: 18,
                         Stage.TRAVEL: 48}
    stop = ORDER[reached]
    if stop in post_arrival_days:
        low, high = post_arrival_days[stop]
        counselled = today - dt.timedelta(days=rng.randint(low, high) + 63)
    else:
        counselled = today - dt.timedelta(days=pre_arrival_entry[stop] + rng.randint(0, 6))

    counsellor = rng.choice(COUNSELLORS)
    facts = CaseFacts()
    events: list[DemoEvent] = [DemoEvent(from_stage=None, to_stage=Stage.COUNSELLING, occurred_on=counselled, actor_id=counsellor)]
    stage = Stage.COUNSELLING
    assistance: list[DemoAssistance] = []
    monitoring: list[DemoMonitoring] = []
    costs: list[DemoCost] = []
    incentives_total: Decimal | None = None
    ineligible_closure = target is Stage.CLOSED and index % 4 == 0

    def move(to: Stage, on: dt.date, actor: str, **update: Any) -> None:
        nonlocal facts, stage
        facts = CaseFacts.model_validate(facts.model_dump() | update)
        check_transition(stage, to, facts)
        events.append(DemoEvent(from_stage=stage, to_stage=to, occurred_on=on, actor_id=actor, details={"fields": sorted(update)}))
        stage = to

    facts = CaseFacts(counselling={"held_on": counselled, "counsellor_id": counsellor, "informed": True, "voluntary": True,
                                   "decision": "return" if reached >= 1 else "undecided",
                                   "decided_on": counselled + dt.timedelta(days=7) if reached >= 1 else None})
    applied = counselled + dt.timedelta(days=8)
    if reached >= 1:
        move(Stage.APPLICATION, applied, counsellor, applied_on=applied)
    if reached >= 2:
        move(Stage.ELIGIBILITY, applied + dt.timedelta(days=1), "caseworker-iom-1")
    decided = applied + dt.timedelta(days=10)
    if ineligible_closure:
        move(Stage.CLOSED, decided, "caseworker-iom-1",
             eligibility={"decided_on": decided, "eligible": False, "decided_by": "caseworker-iom-1",
                          "scheme_id": scheme_id, "reason": "outside the scheme's legal status or country list"},
             closure_reason="ineligible")
    elif reached >= 3:
        move(Stage.PRE_DEPARTURE, decided, "caseworker-iom-1",
             eligibility={"decided_on": decided, "eligible": True, "decided_by": "caseworker-iom-1", "scheme_id": scheme_id})
        scheme = registry.in_force(scheme_id, decided)
        incentives_total = calculate_incentives(scheme, household, on=decided).total
    if reached >= 4 and not ineligible_closure:
        vulnerable = rng.random() < 0.2
        move(Stage.TRAVEL, counselled + dt.timedelta(days=48), "caseworker-iom-1",
             travel_document=rng.choice(["valid_passport", "laissez_passer_issued"]), medical_fitness="fit",
             vulnerability_screened=True, vulnerable=vulnerable, referral_made=vulnerable,
             itinerary_ref=f"ITN-{index:04d}")
    if reached >= 5 and not ineligible_closure:
        departed = counselled + dt.timedelta(days=62)
        arrived = departed + dt.timedelta(days=1)
        move(Stage.ARRIVAL, arrived, "caseworker-iom-1", departed_on=departed, arrived_on=arrived)
        people = len(household.members)
        costs.append(DemoCost(category="travel", amount=Decimal(rng.randint(450, 1400) * people), currency="EUR", booked_on=departed))
        if incentives_total:
            costs.append(DemoCost(category="incentives", amount=incentives_total, currency="EUR", booked_on=departed))
        if reached >= 6:
            move(Stage.REINTEGRATION_PLAN, arrived + dt.timedelta(days=3), "reintegration-officer-1",
                 received_by=f"IOM {country} reception desk")
        if reached >= 7:
            plan_day = min(arrived + dt.timedelta(days=20), plan_due_on(arrived, programme))
            kinds = rng.sample(list(AssistanceKind), k=rng.randint(1, 2))
            for kind in kinds:
                budget = BUDGETS[kind]
                first = (budget * Decimal("0.6")).quantize(Decimal("1"))
                specs = [TrancheSpec(number=1, amount=first, due_from=arrived + dt.timedelta(days=25), due_to=arrived + dt.timedelta(days=45)),
                         TrancheSpec(number=2, amount=budget - first, due_from=arrived + dt.timedelta(days=120),
                                     due_to=arrived + dt.timedelta(days=180))]
                item = AssistancePlanItem(kind=kind, budget=budget, currency="EUR", tranches=specs)
                paid: list[Disbursement] = []
                tranches = []
                for spec, pay_after in zip(specs, (30, 130), strict=True):
                    pay_day = arrived + dt.timedelta(days=pay_after)
                    disbursement = None
                    if pay_day <= today and (spec.number == 1 or rng.random() < 0.8):
                        disbursement = Disbursement(tranche_number=spec.number, amount=spec.amount, paid_on=pay_day,
                                                    proof_ref=f"RCPT-{index:04d}-{kind.value[:3]}-{spec.number}")
                        check_disbursement(item, paid, disbursement)
                        paid.append(disbursement)
                        costs.append(DemoCost(category="assistance", amount=spec.amount, currency="EUR", booked_on=pay_day))
                    tranches.append(DemoTranche(spec=spec, disbursement=disbursement))
                assistance.append(DemoAssistance(kind=kind, budget=budget, currency="EUR", tranches=tranches))
            move(Stage.ASSISTANCE, plan_day, "reintegration-officer-1", plan_agreed_on=plan_day, assistance_items=len(assistance))
        if reached >= 8:
            schedule = monitoring_schedule(arrived, programme)
            level = COUNTRY_BASELINE[country] + rng.uniform(-0.1, 0.1)
            done = 0
            for due in schedule:
                completed = due.due_on + dt.timedelta(days=rng.randint(0, 10))
                if completed <= today:
                    answers = _answers(rng, config, level + 0.06 * due.round_number)
                    monitoring.append(DemoMonitoring(round_number=due.round_number, months_after_arrival=due.months_after_arrival,
                                                     due_on=due.due_on, completed_on=completed, answers=answers,
                                                     score=score_survey(answers, config)))
                    done += 1
                else:
                    monitoring.append(DemoMonitoring(round_number=due.round_number, months_after_arrival=due.months_after_arrival,
                                                     due_on=due.due_on, completed_on=None, answers=None, score=None))
            move(Stage.MONITORING, arrived + dt.timedelta(days=40), "reintegration-officer-1",
                 monitoring_rounds_due=len(schedule), monitoring_rounds_completed=done)
        if reached >= 9:
            last = max(m.completed_on for m in monitoring if m.completed_on)
            move(Stage.CLOSED, last + dt.timedelta(days=5), "reintegration-officer-1", closure_reason="monitoring complete")

    withdrawal = None
    if target is Stage.WITHDRAWN:
        withdrawal = Withdrawal(withdrawn_on=events[-1].occurred_on + dt.timedelta(days=2), recorded_by=counsellor,
                                stated_reason=None)
        check_withdrawal(stage, facts, withdrawal)
        events.append(DemoEvent(from_stage=stage, to_stage=Stage.WITHDRAWN, occurred_on=withdrawal.withdrawn_on,
                                actor_id=counsellor, details={"by_person": True}))
        stage = Stage.WITHDRAWN

    consents = []
    if index % 7 == 3:
        consents.append(ConsentRecord(purpose="link_readmission_case", given_on=counselled + dt.timedelta(days=1),
                                      withdrawn_on=counselled + dt.timedelta(days=30) if index % 14 == 3 else None,
                                      recorded_by=counsellor, form_ref=f"CONSENT-{index:04d}"))
    if stage in (Stage.MONITORING, Stage.CLOSED):
        consents.append(ConsentRecord(purpose="monitoring_contact", given_on=counselled + dt.timedelta(days=7),
                                      recorded_by=counsellor, form_ref=f"MON-{index:04d}"))
    return DemoCase(
        reference=f"AVRR-DE-{counselled.year}-{index + 1:04d}", programme_id=programme.programme_id, scheme_id=scheme_id,
        country_of_return=country, stage=stage, household=household_data, facts=facts, events=events,
        withdrawal=withdrawal, consents=consents, incentives_total=incentives_total, assistance=assistance,
        monitoring=monitoring, costs=costs,
    )


def generate_demo(*, today: dt.date = dt.date(2026, 6, 30), seed: int = 20151103) -> DemoData:
    """Deterministic demo data for `today` (the default seed is the date of the 2015 Beijing workshop)."""
    rng = random.Random(seed)
    registry = default_registry()
    config = load_scoring_config()
    programmes = {
        "de_reag_garp": ProgrammeConfig(programme_id="de_reag_garp"),
        "de_reag_garp_jrs": ProgrammeConfig(programme_id="de_reag_garp_jrs", monitoring_months=[3, 6, 12]),
    }
    cases = []
    index = 0
    for target, count in STAGE_PLAN:
        for _ in range(count):
            cases.append(_build_case(index, target, rng, today, registry, config, programmes))
            index += 1
    forced = [ForcedReturnCost(returnees=rng.choice([1, 1, 1, 2]), cost=Decimal(rng.randint(2800, 9500)), currency="EUR")
              for _ in range(25)]
    return DemoData(generated_for=today, seed=seed, programmes=list(programmes.values()), scoring_config=config.config_id,
                    cases=cases, forced_return_costs=forced)



def _facts_payload(before: CaseFacts, after: CaseFacts) -> dict[str, Any]:
    """The facts that changed between two steps, in the service's `CaseFactsIn` shape."""
    old, new = before.model_dump(), after.model_dump()
    changed: dict[str, Any] = {}
    for name, value in new.items():
        if value == old.get(name) or name in ("assistance_items", "monitoring_rounds_completed", "monitoring_rounds_due"):
            continue
        if name == "eligibility" and value is not None:
            changed[name] = {"eligible": value["eligible"], "reason": value.get("reason")}
        elif name == "counselling" and value is not None:
            changed[name] = {k: value[k] for k in ("held_on", "informed", "voluntary", "decision", "decided_on")}
        else:
            changed[name] = value
    return changed


def load_demo_records(session: Any, *, context: Any, today: dt.date | None = None) -> list[str]:
    """Load the demo cases through the AVRR service as the IOM caseworker, so every rule and audit entry is real.

    The stage facts are replayed in order: counselling, each transition with the facts it needs, assistance
    with its payments, the monitoring surveys through the forms engine, and closure.
    """
    from passage.avrr import payloads, service
    from passage.readmission import service as readmission_service

    today = today or dt.date.today()
    actor = context.users["iom_caseworker"]
    data = generate_demo(today=today)
    readmission_cases = readmission_service.demo_case_ids(session, limit=20)
    linked = 0
    for case_data in data.cases:
        household = case_data.household
        first = case_data.events[0]
        initial = case_data.facts.counselling
        assert initial is not None
        decided = case_data.stage not in (Stage.COUNSELLING,) and not (case_data.stage is Stage.WITHDRAWN and len(case_data.events) == 1)
        counselling = payloads.CounsellingIn(held_on=first.occurred_on, informed=True, voluntary=True,
                                             decision="return" if decided else "undecided",
                                             decided_on=initial.decided_on if decided else None)
        create = payloads.CaseCreate(
            programme_id=case_data.programme_id, scheme_id=case_data.scheme_id, nationality=household["nationality"],
            country_of_return=case_data.country_of_return, legal_status=household["legal_status"],
            asylum_stage=household["asylum_stage"], counselling=counselling, reference=case_data.reference,
            members=[payloads.MemberIn(**m) for m in household["members"]],
        )
        case = service.create_case(session, actor=actor, data=create, today=today)
        facts = CaseFacts(counselling={"held_on": first.occurred_on, "counsellor_id": actor.id, "informed": True, "voluntary": True,
                                       "decision": counselling.decision, "decided_on": counselling.decided_on})
        final = case_data.facts
        for event in case_data.events[1:]:
            if event.to_stage is Stage.WITHDRAWN:
                assert case_data.withdrawal is not None
                service.withdraw_case(session, actor=actor, case_id=case.id, today=today, data=payloads.WithdrawalIn(
                    version=case.version, withdrawn_on=min(case_data.withdrawal.withdrawn_on, today)))
                continue
            fields = set(event.details.get("fields", []))
            step = CaseFacts.model_validate(facts.model_dump() | {k: v for k, v in final.model_dump().items() if k in fields})
            payload = _facts_payload(facts, step)
            if event.to_stage is Stage.APPLICATION:
                payload.pop("counselling", None)
            if event.to_stage is Stage.ASSISTANCE:
                for item in case_data.assistance:
                    service.add_assistance(session, actor=actor, case_id=case.id, today=today, data=payloads.AssistanceIn(
                        kind=item.kind, budget=item.budget, currency=item.currency,
                        tranches=[payloads.TrancheIn(**t.spec.model_dump()) for t in item.tranches]))
            if event.to_stage is Stage.MONITORING:
                _pay(session, service, payloads, actor, case, case_data, today)
            if event.to_stage is Stage.CLOSED and case_data.monitoring:
                _survey(session, service, payloads, actor, case, case_data, today)
            service.transition_case(session, actor=actor, case_id=case.id, today=today, data=payloads.TransitionIn(
                to_stage=event.to_stage, version=case.version, occurred_on=event.occurred_on, **payload))
            facts = step
        if case_data.stage is Stage.ASSISTANCE:
            _pay(session, service, payloads, actor, case, case_data, today)
        if case_data.stage is Stage.MONITORING:
            _survey(session, service, payloads, actor, case, case_data, today)
        for consent in case_data.consents:
            record = service.record_consent(session, actor=actor, case_id=case.id, today=today, data=payloads.ConsentIn(
                purpose=consent.purpose, given_on=consent.given_on, form_ref=consent.form_ref))
            if consent.purpose == "link_readmission_case" and readmission_cases:
                # A link needs a real readmission case: the readmission demo's, in turn.
                service.link_readmission_case(session, actor=actor, case_id=case.id, on=consent.given_on,
                                              readmission_case_id=readmission_cases[linked % len(readmission_cases)])
                linked += 1
            if consent.withdrawn_on is not None and consent.withdrawn_on <= today:
                service.withdraw_consent(session, actor=actor, case_id=case.id, consent_id=record.id, version=record.version,
                                         withdrawn_on=consent.withdrawn_on, today=today)
        for cost in case_data.costs:
            if cost.category != "assistance":  # assistance costs are booked by the payments themselves
                service.record_cost(session, actor=actor, case_id=case.id, today=today, data=payloads.CostIn(
                    category=cost.category, amount=cost.amount, currency=cost.currency, booked_on=cost.booked_on))
    for index, forced in enumerate(data.forced_return_costs):
        service.record_forced_return_cost(session, actor=actor, data=payloads.ForcedCostIn(
            booked_on=today - dt.timedelta(days=30 * (index % 12)), returnees=forced.returnees, cost=forced.cost,
            currency=forced.currency, source="synthetic demo figure"))
    return [f"avrr: loaded {len(data.cases)} cases and {len(data.forced_return_costs)} forced-return cost figures"]


def _pay(session: Any, service: Any, payloads: Any, actor: Any, case: Any, case_data: DemoCase, today: dt.date) -> None:
    items = {item.kind: item for item in case.assistance}
    for planned in case_data.assistance:
        stored = items[planned.kind.value]
        for tranche, spec in zip(stored.tranches, planned.tranches, strict=True):
            if spec.disbursement is not None:
                service.pay_tranche(session, actor=actor, case_id=case.id, tranche_id=tranche.id, today=today,
                                    data=payloads.PaymentIn(version=tranche.version, amount=spec.disbursement.amount,
                                                            paid_on=spec.disbursement.paid_on, proof_ref=spec.disbursement.proof_ref))


def _survey(session: Any, service: Any, payloads: Any, actor: Any, case: Any, case_data: DemoCase, today: dt.date) -> None:
    rounds = {r.round_number: r for r in case.monitoring}
    for planned in case_data.monitoring:
        if planned.completed_on is None or planned.answers is None:
            continue
        stored = rounds[planned.round_number]
        service.submit_monitoring(session, actor=actor, case_id=case.id, round_number=planned.round_number, today=today,
                                  data=payloads.MonitoringIn(version=stored.version, interview_date=planned.completed_on,
                                                             interview_mode="phone" if planned.round_number > 1 else "in_person",
                                                             consent="yes", answers=planned.answers))
