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

from passage.avrr import messages  # noqa: F401 - registers the label domains the messages below name
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
from passage.core.i18n import P_, T_, Label, Money, Text

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
        problems.append(FieldError("nationality", T_("not an ISO 3166-1 alpha-3 country code")))
    members = household.members
    seen: set[str] = set()
    for i, member in enumerate(members):
        if member.member_id in seen:
            problems.append(FieldError(f"members.{i}.member_id", T_("duplicate member id")))
        seen.add(member.member_id)
    heads = [i for i, m in enumerate(members) if m.relationship is Relationship.HEAD]
    if not heads:
        problems.append(FieldError("members", T_("no head of household: exactly one member must be the head of household")))
    for extra in heads[1:]:
        problems.append(FieldError(f"members.{extra}.relationship", T_("a second head of household; exactly one is allowed")))
    spouses = [i for i, m in enumerate(members) if m.relationship is Relationship.SPOUSE]
    for extra in spouses[1:]:
        problems.append(FieldError(f"members.{extra}.relationship", T_("a second spouse of the head; at most one is allowed")))
    if len(heads) == 1:
        head_age = members[heads[0]].age
        for i, member in enumerate(members):
            if member.relationship in (Relationship.CHILD, Relationship.GRANDCHILD) and member.age >= head_age:
                problems.append(FieldError(f"members.{i}.age", T_("a {relationship} must be younger than the head of household", relationship=Label("avrr.relationship", member.relationship.value))))
            elif member.relationship is Relationship.CHILD and head_age - member.age < MIN_PARENT_CHILD_GAP:
                problems.append(FieldError(f"members.{i}.age", T_("a child must be at least {years} years younger than the head of household", years=MIN_PARENT_CHILD_GAP)))
            elif member.relationship is Relationship.PARENT and member.age - head_age < MIN_PARENT_CHILD_GAP:
                problems.append(FieldError(f"members.{i}.age", T_("a parent must be at least {years} years older than the head of household", years=MIN_PARENT_CHILD_GAP)))
    return problems


def parse_household(data: Any) -> Household:
    """Validate a `household.json` document; `InvalidInput` lists every problem with its field path."""
    try:
        household = Household.model_validate(data)
    except ValidationError as exc:
        fields = [FieldError(".".join(str(p) for p in e["loc"]) or "(root)", e["msg"]) for e in exc.errors()]
        raise InvalidInput(T_("invalid household"), fields=fields) from None
    problems = household_problems(household)
    if problems:
        raise InvalidInput(T_("inconsistent household"), fields=problems)
    return household


# --- calculator --------------------------------------------------------------------------------


def band_for(age: int, bands: list[AgeBand]) -> AgeBand:
    for band in bands:
        if band.min_age <= age and (band.max_age is None or age <= band.max_age):
            return band
    # check_scheme guarantees full coverage; reaching here means an unchecked scheme was passed.
    raise InvalidInput(T_("age not covered by the scheme's age bands"), fields=[FieldError("age_bands", T_("incomplete"))])


def eligibility_reasons(scheme: SchemeVersion, household: Household) -> list[Text]:
    """Why the household is not eligible for the scheme (empty when it is)."""
    rules = scheme.eligibility
    reasons = []
    if rules.legal_statuses and household.legal_status not in rules.legal_statuses:
        reasons.append(T_("legal status {status} is not covered by the scheme", status=Label("avrr.legal_status", household.legal_status.value)))
    if rules.nationalities and household.nationality not in rules.nationalities:
        reasons.append(T_("nationality is not on the scheme's list of countries"))
    if household.nationality in rules.excluded_nationalities:
        reasons.append(T_("nationality is excluded from the scheme"))
    if rules.asylum_stages and household.asylum_stage not in rules.asylum_stages:
        reasons.append(T_("asylum procedure stage {stage} is not covered by the scheme", stage=Label("avrr.asylum_stage", household.asylum_stage.value)))
    return reasons


def _condition_failures(conditions: Conditions, household: Household) -> list[Text]:
    failures: list[Text] = []
    if conditions.nationalities is not None and household.nationality not in conditions.nationalities:
        failures.append(T_("nationality is not on this rule's list"))
    if conditions.asylum_stages is not None and household.asylum_stage not in conditions.asylum_stages:
        allowed = _listed([Label("avrr.asylum_stage", s.value) for s in conditions.asylum_stages])
        failures.append(T_("asylum stage {stage} is not one of: {allowed}", stage=Label("avrr.asylum_stage", household.asylum_stage.value), allowed=allowed))
    if conditions.departure_within_deadline is not None and household.departure_within_deadline != conditions.departure_within_deadline:
        failures.append(T_("departure deadline condition not met") if conditions.departure_within_deadline else T_("applies only after the departure deadline"))
    if conditions.appeal_lodged is not None and household.appeal_lodged != conditions.appeal_lodged:
        failures.append(T_("an appeal has been lodged") if household.appeal_lodged else T_("applies only when an appeal has been lodged"))
    if conditions.min_household_size is not None and len(household.members) < conditions.min_household_size:
        failures.append(P_("household has fewer than {n} member", "household has fewer than {n} members", conditions.min_household_size))
    if conditions.excluded_nationalities and household.nationality in conditions.excluded_nationalities:
        waived = conditions.exclusion_waived_for or []
        if household.legal_status not in waived:
            if waived:
                failures.append(T_("nationality is excluded from this rule (except {statuses})",
                                   statuses=_listed([Label("avrr.legal_status", s.value) for s in waived])))
            else:
                failures.append(T_("nationality is excluded from this rule"))
    if conditions.dublin_case is not None and household.dublin_case != conditions.dublin_case:
        failures.append(T_("applies only to a Dublin case") if conditions.dublin_case else T_("does not apply to a Dublin case"))
    return failures


def _listed(items: list[Label]) -> Text:
    """Labels joined as a list in the reader's language ("a, b" / "a、b")."""
    text = Text("{item}", item=items[0]) if items else Text("")  # no words: not a catalogue entry
    for item in items[1:]:
        text = T_("{list}, {item}", list=text, item=item)
    return text


def _translations_of(translations: dict[str, dict[str, str]], field: str) -> dict[str, str]:
    """One field's published text per language ({locale: text}), from the scheme's `translations`."""
    return dict(translations.get(field) or {})


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
        raise InvalidInput(T_("scheme {scheme} is a template and cannot be used for calculations", scheme=scheme.scheme_id),
                           fields=[FieldError("scheme", T_("a template"))])
    if on < scheme.effective_from or (scheme.effective_to is not None and on > scheme.effective_to):
        raise InvalidInput(T_("scheme {scheme} version {version} is not in force on {date}", scheme=scheme.scheme_id,
                              version=scheme.version, date=on),
                           fields=[FieldError("date", T_("outside the scheme version's validity"))])
    problems = household_problems(household)
    if problems:
        raise InvalidInput(T_("inconsistent household"), fields=problems)

    departure = household.planned_departure_date or on
    reasons = eligibility_reasons(scheme, household)
    lines: list[IncentiveLine] = []
    not_applied: list[NotApplied] = []

    def emit(rule: Rule, member_id: str | None, basis: Text | AgeBand, amount: Decimal | None, counted: bool) -> None:
        """One line per instalment; `basis` is Passage's message, or the scheme's age band (its published label)."""
        instalments = rule.instalments or [Instalment(share=Decimal(1), event="arrival")]
        parts: list[Decimal | None] = list(_split(amount, instalments)) if amount is not None else [None] * len(instalments)
        for n, (inst, part) in enumerate(zip(instalments, parts, strict=True), start=1):
            first, last = _window(inst, departure)
            lines.append(IncentiveLine(
                line=len(lines) + 1, rule_id=rule.rule_id, rule=rule.label, kind=rule.kind, member_id=member_id,
                basis=basis.label if isinstance(basis, AgeBand) else str(basis),
                basis_message=None if isinstance(basis, AgeBand) else basis.as_stored(),
                basis_translations=_translations_of(basis.translations, "label") if isinstance(basis, AgeBand) else {},
                rule_translations=_translations_of(rule.translations, "label"), original_terms=rule.original_terms,
                original_language=scheme.original_language,
                amount=part, counted_in_total=counted and part is not None,
                instalment=f"{n}/{len(instalments)}" if len(instalments) > 1 else None,
                payment_date=first, payment_date_latest=last, place=inst.place, citation=rule.citation,
            ))

    if not reasons:
        for rule in scheme.rules:
            failures = _condition_failures(rule.conditions, household)
            if failures:
                not_applied.append(NotApplied(rule_id=rule.rule_id, reason="; ".join(failures),
                                              reason_messages=[f.as_stored() for f in failures]))
                continue
            if rule.kind == "per_person":
                assert rule.amounts_by_band is not None
                entitlements = []
                for member in household.members:
                    band = band_for(member.age, scheme.age_bands)
                    entitlements.append((member.member_id, band, rule.amounts_by_band[band.id]))
                subtotal = sum((amount for _, _, amount in entitlements), Decimal(0))
                for member_id, basis, amount in entitlements:
                    emit(rule, member_id, basis, amount, True)
                if rule.family_cap is not None and subtotal > rule.family_cap:
                    reduction = rule.family_cap - subtotal
                    emit(rule, None, T_("family cap of {cap} applied to a subtotal of {subtotal}",
                                        cap=Money(rule.family_cap, scheme.currency), subtotal=Money(subtotal, scheme.currency)),
                         reduction, True)
            elif rule.kind == "per_household":
                assert rule.amount is not None
                size_note = P_("household of {n} person", "household of {n} people", len(household.members))
                emit(rule, None, size_note, rule.amount, True)
            elif rule.kind == "actual_cost":
                estimate = household.travel_cost_estimate
                cost_basis = T_("quoted cost") if estimate is not None else T_("paid at actual cost; no quote given")
                emit(rule, None, cost_basis, estimate, True)
            else:  # ceiling
                assert rule.amount is not None
                ceiling = Money(rule.amount, scheme.currency)
                if rule.coverage_months:
                    ceiling_basis = P_("up to {amount} per household on proof, within {n} month after arrival",
                                       "up to {amount} per household on proof, within {n} months after arrival",
                                       rule.coverage_months, amount=ceiling)
                else:
                    ceiling_basis = T_("up to {amount} per household on proof", amount=ceiling)
                emit(rule, None, ceiling_basis, rule.amount, False)

        for cap in scheme.household_caps:
            if _condition_failures(cap.conditions, household):
                continue
            covered = sum((line.amount for line in lines if line.rule_id in cap.applies_to and line.counted_in_total and line.amount is not None), Decimal(0))
            if covered > cap.amount:
                cap_basis = T_("household cap of {cap} on {rules} applied to a subtotal of {subtotal}",
                               cap=Money(cap.amount, scheme.currency), rules=", ".join(cap.applies_to),
                               subtotal=Money(covered, scheme.currency))
                lines.append(IncentiveLine(
                    line=len(lines) + 1, rule_id=cap.cap_id, rule=cap.label, kind="household_cap", member_id=None,
                    basis=str(cap_basis), basis_message=cap_basis.as_stored(),
                    rule_translations=_translations_of(cap.translations, "label"), original_language=scheme.original_language,
                    amount=cap.amount - covered, counted_in_total=True, instalment=None, payment_date=departure,
                    payment_date_latest=departure, place=None, citation=cap.citation,
                ))

    total = sum((line.amount for line in lines if line.counted_in_total and line.amount is not None), Decimal(0))
    ceilings = sum((line.amount for line in lines if line.kind == "ceiling" and line.amount is not None), Decimal(0))
    return IncentiveResult(
        scheme_id=scheme.scheme_id, scheme_version=scheme.version, scheme_title=scheme.title,
        scheme_title_translations=_translations_of(scheme.translations, "title"),
        currency=scheme.currency, calculation_date=on, departure_date=departure, eligible=not reasons,
        ineligibility_reasons=[str(r) for r in reasons], ineligibility_messages=[r.as_stored() for r in reasons], lines=lines, not_applied=not_applied, total=_money(total),
        ceilings=_money(ceilings), citations=scheme.citations,
        unverified_figures=[c for c in scheme.figure_conflicts if not c.verified and c.rule_id in {line.rule_id for line in lines}],
    )


def result_as_json(result: IncentiveResult) -> dict[str, Any]:
    """The CLI/API rendering: amounts as decimal strings with two places, dates as ISO strings."""
    return result.model_dump(mode="json")
