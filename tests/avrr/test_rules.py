"""Calculator and household checks against hand-worked examples for every rule of both shipped schemes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passage.avrr.rules import add_months, calculate_incentives, parse_household
from passage.avrr.schemas import Household
from passage.avrr.schemes import default_registry, parse_scheme
from passage.core.errors import InvalidInput

REGISTRY = default_registry()
REAG = REGISTRY.in_force("reag_garp", dt.date(2020, 3, 1))
SHP = REGISTRY.in_force("starthilfeplus", dt.date(2017, 3, 1))


def household(ages_rel: list[tuple[int, str]], **extra: Any) -> Household:
    data: dict[str, Any] = {
        "nationality": "AFG", "legal_status": "asylum_seeker", "asylum_stage": "pending",
        "members": [{"member_id": f"m{i + 1}", "age": age, "relationship": rel} for i, (age, rel) in enumerate(ages_rel)],
    }
    data.update(extra)
    return parse_household(data)


def amounts(result: Any, rule_id: str) -> list[Decimal]:
    return [line.amount for line in result.lines if line.rule_id == rule_id]


# --- REAG/GARP -------------------------------------------------------------------------------


def test_reag_family_of_five_every_rule_by_hand() -> None:
    # head 40, spouse 38, children 16, 10, 5; quoted tickets 2,000.
    # travel assistance 200+200+100+100+100 = 700; start-up 1000+1000+500+500+500 = 3500 (< cap 4000)
    # medical up to 2000 is a ceiling, not in the total. Total = 2000 + 700 + 3500 = 6200.
    hh = household([(40, "head"), (38, "spouse"), (16, "child"), (10, "child"), (5, "child")],
                   planned_departure_date="2020-04-10", travel_cost_estimate="2000")
    result = calculate_incentives(REAG, hh, on=dt.date(2020, 3, 1))
    assert result.eligible
    assert amounts(result, "travel_costs") == [Decimal("2000.00")]
    assert amounts(result, "travel_assistance") == [Decimal(x) for x in ("200.00", "200.00", "100.00", "100.00", "100.00")]
    assert amounts(result, "start_up") == [Decimal(x) for x in ("1000.00", "1000.00", "500.00", "500.00", "500.00")]
    medical = [line for line in result.lines if line.rule_id == "medical_support"]
    assert len(medical) == 1 and medical[0].amount == Decimal("2000.00") and not medical[0].counted_in_total
    assert medical[0].payment_date == dt.date(2020, 4, 10) and medical[0].payment_date_latest == dt.date(2020, 7, 10)
    assert result.total == Decimal("6200.00")
    assert result.ceilings == Decimal("2000.00")
    assert all(line.payment_date == dt.date(2020, 4, 10) for line in result.lines if line.rule_id != "medical_support")
    assert [line.line for line in result.lines] == list(range(1, len(result.lines) + 1))


def test_reag_family_cap_reduces_start_up_to_4000_with_its_own_line() -> None:
    # 3 adults and 3 minors: 3*1000 + 3*500 = 4500 > 4000, so a line of -500 brings it to the cap.
    hh = household([(45, "head"), (44, "spouse"), (19, "child"), (15, "child"), (12, "child"), (8, "child")])
    result = calculate_incentives(REAG, hh, on=dt.date(2020, 3, 1))
    start_up = [line for line in result.lines if line.rule_id == "start_up"]
    assert start_up[-1].member_id is None and start_up[-1].amount == Decimal("-500.00")
    assert "family cap of €4,000.00" in start_up[-1].basis
    from passage.core.i18n import Text

    chinese = Text.from_stored(start_up[-1].basis_message).render("zh_Hans")
    assert "家庭上限" in chinese and "€4,000.00" in chinese and "€4,500.00" in chinese
    assert sum(line.amount for line in start_up) == Decimal("4000.00")
    # travel assistance is not capped: 3*200 + 3*100
    assert sum(amounts(result, "travel_assistance")) == Decimal("900.00")
    # no ticket quote: the actual-cost line has no amount and is not counted
    tickets = [line for line in result.lines if line.rule_id == "travel_costs"]
    assert tickets[0].amount is None and not tickets[0].counted_in_total
    assert result.total == Decimal("4900.00")


def test_reag_cap_exactly_reached_adds_no_reduction_line() -> None:
    hh = household([(45, "head"), (44, "spouse"), (19, "child"), (15, "child"), (12, "child")])
    result = calculate_incentives(REAG, hh, on=dt.date(2020, 3, 1))
    start_up = [line for line in result.lines if line.rule_id == "start_up"]
    assert len(start_up) == 5 and sum(line.amount for line in start_up) == Decimal("4000.00")


def test_reag_minor_band_ends_at_17() -> None:
    hh = household([(40, "head"), (18, "child"), (17, "child")])
    result = calculate_incentives(REAG, hh, on=dt.date(2020, 3, 1))
    assert amounts(result, "travel_assistance") == [Decimal("200.00"), Decimal("200.00"), Decimal("100.00")]


def test_reag_start_up_only_for_listed_nationalities() -> None:
    hh = household([(30, "head")], nationality="ALB", legal_status="rejected_asylum_seeker", asylum_stage="final_negative")
    result = calculate_incentives(REAG, hh, on=dt.date(2020, 3, 1))
    assert result.eligible
    assert amounts(result, "start_up") == []
    assert [n.rule_id for n in result.not_applied] == ["start_up"]
    assert amounts(result, "travel_assistance") == [Decimal("200.00")]


def test_reag_refuses_eu_nationals_and_uncovered_status() -> None:
    eu = calculate_incentives(REAG, household([(30, "head")], nationality="FRA"), on=dt.date(2020, 3, 1))
    assert not eu.eligible and eu.lines == [] and eu.total == 0
    assert "excluded" in eu.ineligibility_reasons[0]
    status = calculate_incentives(REAG, household([(30, "head")], legal_status="other_residence_permit"), on=dt.date(2020, 3, 1))
    assert not status.eligible and "legal status" in status.ineligibility_reasons[0]


# --- StarthilfePlus 2017 ---------------------------------------------------------------------


def test_shp_stage_1_single_adult_split_half_at_departure_half_6_to_8_months_later() -> None:
    hh = household([(30, "head")], planned_departure_date="2017-03-20")
    result = calculate_incentives(SHP, hh, on=dt.date(2017, 3, 1))
    lines = result.lines
    assert [(line.rule_id, line.amount, line.instalment) for line in lines] == [
        ("stage_1", Decimal("600.00"), "1/2"), ("stage_1", Decimal("600.00"), "2/2")]
    assert (lines[0].payment_date, lines[0].payment_date_latest) == (dt.date(2017, 3, 20), dt.date(2017, 3, 20))
    assert (lines[1].payment_date, lines[1].payment_date_latest) == (dt.date(2017, 9, 20), dt.date(2017, 11, 20))
    assert lines[1].place == "country of origin"
    assert result.total == Decimal("1200.00")
    assert {n.rule_id for n in result.not_applied} == {"stage_2", "family_supplement"}


def test_shp_stage_2_with_under_12_half_and_boundary_at_12() -> None:
    # head 40 (800), child 12 (800, full rate from 12), child 11 (400, half) = 2000
    hh = household([(40, "head"), (12, "child"), (11, "child")], asylum_stage="first_negative",
                   legal_status="rejected_asylum_seeker", planned_departure_date="2017-05-01")
    result = calculate_incentives(SHP, hh, on=dt.date(2017, 4, 1))
    per_member: dict[str | None, Decimal] = {}
    for line in result.lines:
        per_member[line.member_id] = per_member.get(line.member_id, Decimal(0)) + line.amount
    assert per_member == {"m1": Decimal("800.00"), "m2": Decimal("800.00"), "m3": Decimal("400.00")}
    assert result.total == Decimal("2000.00")
    assert all(line.rule_id == "stage_2" for line in result.lines)


def test_shp_stage_2_refused_after_appeal_or_after_deadline() -> None:
    appeal = household([(40, "head")], asylum_stage="first_negative", appeal_lodged=True)
    result = calculate_incentives(SHP, appeal, on=dt.date(2017, 4, 1))
    assert result.lines == [] and "appeal" in {n.rule_id: n.reason for n in result.not_applied}["stage_2"]
    late = household([(40, "head")], asylum_stage="first_negative", departure_within_deadline=False)
    result = calculate_incentives(SHP, late, on=dt.date(2017, 4, 1))
    assert result.lines == [] and "deadline" in {n.rule_id: n.reason for n in result.not_applied}["stage_2"]


def test_shp_family_of_more_than_4_gets_500_split_in_two() -> None:
    # head 38, spouse 35, children 14, 9, 4 (example file): 1200*3 + 600*2 + 500 = 5300
    hh = household([(38, "head"), (35, "spouse"), (14, "child"), (9, "child"), (4, "child")], planned_departure_date="2017-06-15")
    result = calculate_incentives(SHP, hh, on=dt.date(2017, 5, 2))
    supplement = [line for line in result.lines if line.rule_id == "family_supplement"]
    assert [(line.amount, line.payment_date) for line in supplement] == [
        (Decimal("250.00"), dt.date(2017, 6, 15)), (Decimal("250.00"), dt.date(2017, 12, 15))]
    assert result.total == Decimal("5300.00")
    four = household([(38, "head"), (35, "spouse"), (14, "child"), (9, "child")])
    assert "family_supplement" in {n.rule_id for n in calculate_incentives(SHP, four, on=dt.date(2017, 5, 2)).not_applied}


def test_shp_published_worked_example_five_person_family() -> None:
    # fluechtlingshilfe-paderborn.de: a family of five deciding before the negative decision "can receive
    # an additional 4,200 euros" = 2 x 1,200 + 3 x 600 (children under 12). The family supplement for more
    # than four members (IOM Germany, same programme) comes on top: 4,700.
    hh = household([(36, "head"), (33, "spouse"), (10, "child"), (7, "child"), (2, "child")])
    result = calculate_incentives(SHP, hh, on=dt.date(2017, 3, 1))
    assert sum(line.amount for line in result.lines if line.rule_id == "stage_1") == Decimal("4200.00")
    assert result.total == Decimal("4700.00")


def test_shp_2017_versions_end_with_2017() -> None:
    # the 2017 rules are split on 1 Dec 2017, when six nationalities joined (see test_published_schemes)
    assert SHP.effective_to == dt.date(2017, 11, 30)
    december = REGISTRY.in_force("starthilfeplus", dt.date(2017, 12, 1))
    assert december.effective_to == dt.date(2017, 12, 31)
    with pytest.raises(InvalidInput, match="not in force"):
        calculate_incentives(december, household([(30, "head")]), on=dt.date(2018, 1, 1))


def test_shp_ineligible_outside_country_list_or_after_final_decision() -> None:
    result = calculate_incentives(SHP, household([(30, "head")], nationality="ALB"), on=dt.date(2017, 3, 1))
    assert not result.eligible and "list of countries" in result.ineligibility_reasons[0]
    # a final rejection is eligible within the departure deadline (published reading, issue 20), not after it
    final = calculate_incentives(SHP, household([(30, "head")], asylum_stage="final_negative", departure_within_deadline=False), on=dt.date(2017, 3, 1))
    assert final.eligible and final.total == 0 and any(n.rule_id == "stage_2" for n in final.not_applied)
    appeal = calculate_incentives(SHP, household([(30, "head")], asylum_stage="appeal_pending"), on=dt.date(2017, 3, 1))
    assert not appeal.eligible and "Appeal pending" in appeal.ineligibility_reasons[0]
    from passage.core.i18n import Text

    assert "上诉" in Text.from_stored(appeal.ineligibility_messages[0]).render("zh_Hans")


def test_shp_second_instalment_window_clamps_to_month_end() -> None:
    hh = household([(30, "head")], planned_departure_date="2017-08-31")
    second = calculate_incentives(SHP, hh, on=dt.date(2017, 8, 1)).lines[1]
    assert (second.payment_date, second.payment_date_latest) == (dt.date(2018, 2, 28), dt.date(2018, 4, 30))


def test_split_rounds_to_cents_and_last_instalment_takes_the_remainder() -> None:
    data = SHP.model_dump(mode="json")
    data["rules"] = [data["rules"][2] | {"amount": "100.01", "conditions": {}}]
    scheme = parse_scheme(data)
    result = calculate_incentives(scheme, household([(30, "head")]), on=dt.date(2017, 3, 1))
    assert [line.amount for line in result.lines] == [Decimal("50.01"), Decimal("50.00")]


def test_template_and_out_of_force_dates_are_refused() -> None:
    template = REGISTRY.versions("china_avrr_pilot")[0]
    with pytest.raises(InvalidInput, match="template"):
        calculate_incentives(template, household([(30, "head")]), on=dt.date(2031, 1, 1))
    with pytest.raises(InvalidInput, match="not in force"):
        calculate_incentives(SHP, household([(30, "head")]), on=dt.date(2017, 1, 31))


def test_add_months() -> None:
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2023, 11, 15), 3) == dt.date(2024, 2, 15)
    assert add_months(dt.date(2023, 5, 15), 0) == dt.date(2023, 5, 15)


# --- household validation ---------------------------------------------------------------------


def _paths(exc: InvalidInput) -> list[str]:
    return [f.path for f in exc.fields]


@pytest.mark.parametrize(
    ("members", "path", "message"),
    [
        ([(30, "head"), (35, "child")], "members.1.age", "younger"),
        ([(30, "head"), (25, "child")], "members.1.age", "12 years younger"),
        ([(30, "head"), (40, "parent")], "members.1.age", "12 years older"),
        ([(30, "head"), (29, "spouse"), (28, "spouse")], "members.2.relationship", "second spouse"),
        ([(30, "spouse"), (5, "child")], "members", "no head"),
        ([(30, "head"), (31, "head")], "members.1.relationship", "second head"),
        ([(30, "head"), (31, "grandchild")], "members.1.age", "younger"),
    ],
)
def test_inconsistent_households_name_the_field(members: list[tuple[int, str]], path: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        household(members)
    assert path in _paths(info.value)
    assert any(message in f.message for f in info.value.fields if f.path == path)


def test_household_schema_errors_have_paths() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_household({"nationality": "afg", "legal_status": "asylum_seeker",
                         "members": [{"member_id": "a", "age": -1, "relationship": "head"}]})
    assert {"nationality", "members.0.age"} <= set(_paths(info.value))
    with pytest.raises(InvalidInput) as unknown_country:
        household([(30, "head")], nationality="ABC")
    assert _paths(unknown_country.value) == ["nationality"]
    with pytest.raises(InvalidInput) as dup:
        household([(30, "head"), (5, "child")], members=[
            {"member_id": "a", "age": 30, "relationship": "head"}, {"member_id": "a", "age": 5, "relationship": "child"}])
    assert _paths(dup.value) == ["members.1.member_id"]


def test_error_messages_carry_no_personal_values() -> None:
    with pytest.raises(InvalidInput) as info:
        household([(37, "head"), (93, "child")])
    assert "93" not in info.value.one_line() and "37" not in info.value.one_line()


# --- properties ---------------------------------------------------------------------------------

member_ages = st.lists(st.integers(min_value=0, max_value=20), min_size=0, max_size=8)


@settings(max_examples=60, deadline=None)
@given(children=member_ages, head_age=st.integers(min_value=35, max_value=70), with_spouse=st.booleans())
def test_instalments_add_up_and_cap_holds(children: list[int], head_age: int, with_spouse: bool) -> None:
    members = [(head_age, "head")] + ([(head_age - 2, "spouse")] if with_spouse else []) + [(a, "child") for a in children]
    hh = household(members, planned_departure_date="2020-06-01")
    reag = calculate_incentives(REAG, hh, on=dt.date(2020, 5, 1))
    start_up = sum((line.amount for line in reag.lines if line.rule_id == "start_up"), Decimal(0))
    uncapped = sum(Decimal(1000) if a >= 18 else Decimal(500) for a, _ in members)
    assert start_up == min(uncapped, Decimal(4000))
    shp = calculate_incentives(SHP, hh, on=dt.date(2017, 5, 1))
    expected = sum(Decimal(1200) if a >= 12 else Decimal(600) for a, _ in members) + (500 if len(members) > 4 else 0)
    assert shp.total == expected
    first = sum(line.amount for line in shp.lines if line.instalment == "1/2")
    assert first * 2 == shp.total


def test_reag_2017_country_groups_and_child_limit_at_12() -> None:
    reag_2017 = REGISTRY.in_force("reag_garp", dt.date(2017, 6, 1))
    assert reag_2017.version == "2017"
    # Afghanistan is group 1: head 40 and child 12 get 200 + 500 each; child 11 gets 100 + 250.
    afg = household([(40, "head"), (12, "child"), (11, "child")])
    result = calculate_incentives(reag_2017, afg, on=dt.date(2017, 6, 1))
    assert sum(amounts(result, "travel_assistance")) == Decimal("500.00")
    assert amounts(result, "start_up_group_1") == [Decimal("500.00"), Decimal("500.00"), Decimal("250.00")]
    assert {n.rule_id for n in result.not_applied} == {"start_up_group_2"}
    assert result.total == Decimal("1750.00")
    # China is group 2: 200 + 300 for one adult.
    chn = calculate_incentives(reag_2017, household([(30, "head")], nationality="CHN"), on=dt.date(2017, 6, 1))
    assert chn.total == Decimal("500.00") and amounts(chn, "start_up_group_2") == [Decimal("300.00")]


def test_reag_and_starthilfeplus_2017_together_for_one_family() -> None:
    # The two programmes are applied for together (IOM Germany): a Nigerian couple with children 9 and 4,
    # asylum pending, mid-2017. REAG/GARP 2017: travel 200+200+100+100 = 600, start-up group 1
    # 500+500+250+250 = 1500. StarthilfePlus stage 1: 1200+1200+600+600 = 3600 (4 members: no supplement).
    hh = household([(31, "head"), (29, "spouse"), (9, "child"), (4, "child")], nationality="NGA")
    on = dt.date(2017, 7, 1)
    reag = calculate_incentives(REGISTRY.in_force("reag_garp", on), hh, on=on)
    shp = calculate_incentives(REGISTRY.in_force("starthilfeplus", on), hh, on=on)
    assert (reag.total, shp.total) == (Decimal("2100.00"), Decimal("3600.00"))
