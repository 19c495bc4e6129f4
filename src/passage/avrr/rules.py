"""Pure AVRR rules: household validation and the incentive calculator that explains every amount.

The calculator applies one `SchemeVersion` (versioned rules data, see `passage.avrr.schemes`) to one
`Household` and returns one line per rule, member and instalment, each with the rule, the basis
(age band, condition, cap), the amount and the payment date or window. Figures come from the scheme
files, which cite their sources: REAG/GARP (Foerderdatenbank des Bundes, BMI programme page; BAMF/IOM
"Returning from Germany", programme 2019) and StarthilfePlus 2017 (programme description as published
by Fluechtlinge Frankfurt; seed 004, BMI presentation of 8 February 2018).

Calculation conventions (documented in `docs/avrr.md`):
- ages are completed years on the calculation date;
- a family cap reduces the rule's total for the household and appears as its own negative line;
- an instalment's amount is the rule amount times its share, rounded to cents; the last instalment
  takes the rounding remainder, so instalments always add up to the entitlement;
- an instalment "at departure + 6 to 8 months" has payment_date = departure + 6 months and
  payment_date_latest = departure + 8 months; arrival is taken to be the departure date.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pycountry
from pydantic import ValidationError

from passage.avrr.schemas import (
    AgeBand,
    Conditions,
    Household,
    IncentiveLine,
    IncentiveResult,
    Instalment,
    NotApplied,
    Relationship,
    Rule,
    SchemeVersion,
)
from passage.core.errors import FieldError, InvalidInput

CENT = Decimal("0.01")
MIN_PARENT_CHILD_GAP = 12
"""Years; a smaller gap between a head of household and their child or parent is refused as inconsistent."""


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar months later, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- household ---------------------------------------------------------------------------------


def is_country_code(code: str) -> bool:
    """ISO 3166-1 alpha-3, plus XKX (Kosovo, user-assigned code used by the EU and IOM)."""
    return code == "XKX" or pycountry.countries.get(alpha_3=code) is not None


def household_problems(household: Household) -> list[FieldError]:
    """Consistency of ages and relationships; every problem names the member's field path."""
    problems: list[FieldError] = []
    if not is_country_code(household.nationality):
        problems.append(FieldError("nationality", "not an ISO 3166-1 alpha-3 country code"))
    members = household.members
    seen: set[str] = set()
    for i, member in enumerate(members):
        if member.member_id in seen:
            problems.append(FieldError(f"members.{i}.member_id", "duplicate member id"))
        seen.add(member.member_id)
    heads = [i for i, m in enumerate(members) if m.relationship is Relationship.HEAD]
    if not heads:
        problems.append(FieldError("members", "no head of household: exactly one member must have relationship 'head'"))
    for extra in heads[1:]:
        problems.append(FieldError(f"members.{extra}.relationship", "a second head of household; exactly one is allowed"))
    spouses = [i for i, m in enumerate(members) if m.relationship is Relationship.SPOUSE]
    for extra in spouses[1:]:
        problems.append(FieldError(f"members.{extra}.relationship", "a second spouse of the head; at most one is allowed"))
    if len(heads) == 1:
        head_age = members[heads[0]].age
        for i, member in enumerate(members):
            if member.relationship in (Relationship.CHILD, Relationship.GRANDCHILD) and member.age >= head_age:
                problems.append(FieldError(f"members.{i}.age", f"a {member.relationship.value} must be younger than the head of household"))
            elif member.relationship is Relationship.CHILD and head_age - member.age < MIN_PARENT_CHILD_GAP:
                problems.append(FieldError(f"members.{i}.age", f"a child must be at least {MIN_PARENT_CHILD_GAP} years younger than the head of household"))
            elif member.relationship is Relationship.PARENT and member.age - head_age < MIN_PARENT_CHILD_GAP:
                problems.append(FieldError(f"members.{i}.age", f"a parent must be at least {MIN_PARENT_CHILD_GAP} years older than the head of household"))
    return problems


def parse_household(data: Any) -> Household:
    """Validate a `household.json` document; `InvalidInput` lists every problem with its field path."""
    try:
        household = Household.model_validate(data)
    except ValidationError as exc:
        fields = [FieldError(".".join(str(p) for p in e["loc"]) or "(root)", e["msg"]) for e in exc.errors()]
        raise InvalidInput("invalid household", fields=fields) from None
    problems = household_problems(household)
    if problems:
        raise InvalidInput("inconsistent household", fields=problems)
    return household


# --- calculator --------------------------------------------------------------------------------


def band_for(age: int, bands: list[AgeBand]) -> AgeBand:
    for band in bands:
        if band.min_age <= age and (band.max_age is None or age <= band.max_age):
            return band
    # check_scheme guarantees full coverage; reaching here means an unchecked scheme was passed.
    raise InvalidInput("age not covered by the scheme's age bands", fields=[FieldError("age_bands", "incomplete")])


def eligibility_reasons(scheme: SchemeVersion, household: Household) -> list[str]:
    """Why the household is not eligible for the scheme (empty when it is)."""
    rules = scheme.eligibility
    reasons = []
    if rules.legal_statuses and household.legal_status not in rules.legal_statuses:
        reasons.append(f"legal status '{household.legal_status.value}' is not covered by the scheme")
    if rules.nationalities and household.nationality not in rules.nationalities:
        reasons.append("nationality is not on the scheme's list of countries")
    if household.nationality in rules.excluded_nationalities:
        reasons.append("nationality is excluded from the scheme")
    if rules.asylum_stages and household.asylum_stage not in rules.asylum_stages:
        reasons.append(f"asylum procedure stage '{household.asylum_stage.value}' is not covered by the scheme")
    return reasons


def _condition_failures(conditions: Conditions, household: Household) -> list[str]:
    failures = []
    if conditions.nationalities is not None and household.nationality not in conditions.nationalities:
        failures.append("nationality is not on this rule's list")
    if conditions.asylum_stages is not None and household.asylum_stage not in conditions.asylum_stages:
        allowed = ", ".join(s.value for s in conditions.asylum_stages)
        failures.append(f"asylum stage '{household.asylum_stage.value}' is not one of: {allowed}")
    if conditions.departure_within_deadline is not None and household.departure_within_deadline != conditions.departure_within_deadline:
        failures.append("departure deadline condition not met" if conditions.departure_within_deadline else "applies only after the departure deadline")
    if conditions.appeal_lodged is not None and household.appeal_lodged != conditions.appeal_lodged:
        failures.append("an appeal has been lodged" if household.appeal_lodged else "applies only when an appeal has been lodged")
    if conditions.min_household_size is not None and len(household.members) < conditions.min_household_size:
        failures.append(f"household has fewer than {conditions.min_household_size} members")
    if conditions.excluded_nationalities and household.nationality in conditions.excluded_nationalities:
        waived = conditions.exclusion_waived_for or []
        if household.legal_status not in waived:
            unless = f" (except {', '.join(s.value for s in waived)})" if waived else ""
            failures.append(f"nationality is excluded from this rule{unless}")
    if conditions.dublin_case is not None and household.dublin_case != conditions.dublin_case:
        failures.append("applies only to a Dublin case" if conditions.dublin_case else "does not apply to a Dublin case")
    return failures


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _split(amount: Decimal, instalments: list[Instalment]) -> list[Decimal]:
    parts = [_money(amount * inst.share) for inst in instalments[:-1]]
    parts.append(_money(amount) - sum(parts, Decimal(0)))
    return parts


def _window(inst: Instalment, departure: dt.date) -> tuple[dt.date, dt.date]:
    return add_months(departure, inst.offset_months_from), add_months(departure, inst.offset_months_to)


def calculate_incentives(scheme: SchemeVersion, household: Household, *, on: dt.date) -> IncentiveResult:
    """Apply one scheme version to one household on date `on`, explaining every amount line by line.

    Raises `InvalidInput` if `scheme` is a template or not in force on `on`; an ineligible household
    gets a result with `eligible = False`, its reasons, and no lines.
    """
    if scheme.template:
        raise InvalidInput(f"scheme {scheme.scheme_id} is a template and cannot be used for calculations",
                           fields=[FieldError("scheme", "template")])
    if on < scheme.effective_from or (scheme.effective_to is not None and on > scheme.effective_to):
        raise InvalidInput(f"scheme {scheme.scheme_id} version {scheme.version} is not in force on {on.isoformat()}",
                           fields=[FieldError("date", "outside the scheme version's validity")])
    problems = household_problems(household)
    if problems:
        raise InvalidInput("inconsistent household", fields=problems)

    departure = household.planned_departure_date or on
    reasons = eligibility_reasons(scheme, household)
    lines: list[IncentiveLine] = []
    not_applied: list[NotApplied] = []

    def emit(rule: Rule, member_id: str | None, basis: str, amount: Decimal | None, counted: bool) -> None:
        instalments = rule.instalments or [Instalment(share=Decimal(1), event="arrival")]
        parts: list[Decimal | None] = list(_split(amount, instalments)) if amount is not None else [None] * len(instalments)
        for n, (inst, part) in enumerate(zip(instalments, parts, strict=True), start=1):
            first, last = _window(inst, departure)
            lines.append(IncentiveLine(
                line=len(lines) + 1, rule_id=rule.rule_id, rule=rule.label, kind=rule.kind, member_id=member_id,
                basis=basis, amount=part, counted_in_total=counted and part is not None,
                instalment=f"{n}/{len(instalments)}" if len(instalments) > 1 else None,
                payment_date=first, payment_date_latest=last, place=inst.place, citation=rule.citation,
            ))

    if not reasons:
        for rule in scheme.rules:
            failures = _condition_failures(rule.conditions, household)
            if failures:
                not_applied.append(NotApplied(rule_id=rule.rule_id, reason="; ".join(failures)))
                continue
            if rule.kind == "per_person":
                assert rule.amounts_by_band is not None
                entitlements = []
                for member in household.members:
                    band = band_for(member.age, scheme.age_bands)
                    entitlements.append((member.member_id, band.label, rule.amounts_by_band[band.id]))
                subtotal = sum((amount for _, _, amount in entitlements), Decimal(0))
                for member_id, basis, amount in entitlements:
                    emit(rule, member_id, basis, amount, True)
                if rule.family_cap is not None and subtotal > rule.family_cap:
                    reduction = rule.family_cap - subtotal
                    emit(rule, None, f"family cap {rule.family_cap} {scheme.currency} applied to a subtotal of {subtotal}",
                         reduction, True)
            elif rule.kind == "per_household":
                assert rule.amount is not None
                size_note = f"household of {len(household.members)}"
                emit(rule, None, size_note, rule.amount, True)
            elif rule.kind == "actual_cost":
                estimate = household.travel_cost_estimate
                basis = "quoted cost" if estimate is not None else "paid at actual cost; no quote given"
                emit(rule, None, basis, estimate, True)
            else:  # ceiling
                assert rule.amount is not None
                months = f" within {rule.coverage_months} months after arrival" if rule.coverage_months else ""
                emit(rule, None, f"up to {rule.amount} {scheme.currency} per household on proof{months}", rule.amount, False)

        for cap in scheme.household_caps:
            if _condition_failures(cap.conditions, household):
                continue
            covered = sum((line.amount for line in lines if line.rule_id in cap.applies_to and line.counted_in_total and line.amount is not None), Decimal(0))
            if covered > cap.amount:
                lines.append(IncentiveLine(
                    line=len(lines) + 1, rule_id=cap.cap_id, rule=cap.label, kind="household_cap", member_id=None,
                    basis=f"household cap {cap.amount} {scheme.currency} on {', '.join(cap.applies_to)} applied to a subtotal of {covered}",
                    amount=cap.amount - covered, counted_in_total=True, instalment=None, payment_date=departure,
                    payment_date_latest=departure, place=None, citation=cap.citation,
                ))

    total = sum((line.amount for line in lines if line.counted_in_total and line.amount is not None), Decimal(0))
    ceilings = sum((line.amount for line in lines if line.kind == "ceiling" and line.amount is not None), Decimal(0))
    return IncentiveResult(
        scheme_id=scheme.scheme_id, scheme_version=scheme.version, scheme_title=scheme.title,
        currency=scheme.currency, calculation_date=on, departure_date=departure, eligible=not reasons,
        ineligibility_reasons=reasons, lines=lines, not_applied=not_applied, total=_money(total),
        ceilings=_money(ceilings), citations=scheme.citations,
        unverified_figures=[c for c in scheme.figure_conflicts if not c.verified and c.rule_id in {line.rule_id for line in lines}],
    )


def result_as_json(result: IncentiveResult) -> dict[str, Any]:
    """The CLI/API rendering: amounts as decimal strings with two places, dates as ISO strings."""
    return result.model_dump(mode="json")
