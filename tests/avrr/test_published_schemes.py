"""AVRR scheme files against their published sources (issue 20); each test quotes the text it checks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from passage.avrr.rules import calculate_incentives, parse_household
from passage.avrr.schemas import Household
from passage.avrr.schemes import default_registry
from passage.core.errors import NotFound

REGISTRY = default_registry()


def household(members: list[tuple[int, str]], **extra: Any) -> Household:
    data: dict[str, Any] = {"nationality": "AFG", "legal_status": "asylum_seeker", "asylum_stage": "pending",
                            "members": [{"member_id": f"m{i + 1}", "age": a, "relationship": r} for i, (a, r) in enumerate(members)]}
    data.update(extra)
    return parse_household(data)


def total_of(result: Any, rule_id: str) -> Decimal:
    return sum((line.amount for line in result.lines if line.rule_id == rule_id and line.amount is not None), Decimal(0))


REAG_2017 = REGISTRY.in_force("reag_garp", dt.date(2017, 6, 1))
COUPLE = [(40, "head"), (38, "spouse")]


def test_reag_2017_european_third_state_nationals_get_travel_costs_only() -> None:
    """Fluechtlinge Frankfurt, REAG/GARP 2017: "Auch Staatsangehörige aus europäischen Drittstaaten können keine
    Reisebeihilfe in Anspruch nehmen – sie bekommen lediglich die Reisekosten erstattet." A Serbian couple: EUR 0
    travel assistance (it was EUR 400), tickets at cost."""
    result = calculate_incentives(REAG_2017, household(COUPLE, nationality="SRB", travel_cost_estimate="300"), on=dt.date(2017, 6, 1))
    assert result.eligible
    assert total_of(result, "travel_assistance") == Decimal(0)
    assert any(n.rule_id == "travel_assistance" and "excluded" in n.reason for n in result.not_applied)
    assert result.total == Decimal("300.00")


def test_reag_2017_trafficking_victims_from_european_third_states_keep_travel_assistance() -> None:
    """Same source: "Ausgenommen sind hier Opfer von Zwangsprostitution und/oder Menschenhandel, sie erhalten auch Reisebeihilfen." """
    result = calculate_incentives(REAG_2017, household(COUPLE, nationality="SRB", legal_status="trafficking_victim"), on=dt.date(2017, 6, 1))
    assert total_of(result, "travel_assistance") == Decimal("400.00")


def test_reag_2017_dublin_case_caps() -> None:
    """Fluechtlingshilfe Paderborn, REAG/GARP 2017: "die maximale Förderhöhe bei Vorliegen einer unanfechtbaren
    Entscheidung gemäß § 29 Abs. 1 Nr. 1 AsylG, sog. 'Dublin-Fall' … beträgt für Gruppe 1: 1.500,00 € und für
    Gruppe 2: 900,00 €."""
    family = [(40, "head"), (38, "spouse"), (16, "child"), (14, "child")]
    # group 1 (AFG): travel assistance 4 x 200 = 800, start-up 4 x 500 = 2000 -> 2800, capped at 1500
    afg = calculate_incentives(REAG_2017, household(family, dublin_case=True), on=dt.date(2017, 6, 1))
    cap = [line for line in afg.lines if line.rule_id == "dublin_cap_group_1"]
    assert len(cap) == 1 and cap[0].amount == Decimal("-1300.00")
    assert afg.total == Decimal("1500.00")
    # group 2 (CHN): 800 + 4 x 300 = 2000, capped at 900
    chn = calculate_incentives(REAG_2017, household(family, nationality="CHN", dublin_case=True), on=dt.date(2017, 6, 1))
    assert chn.total == Decimal("900.00")
    # not a Dublin case: no cap
    assert calculate_incentives(REAG_2017, household(family), on=dt.date(2017, 6, 1)).total == Decimal("2800.00")


def test_starthilfeplus_six_nationalities_eligible_from_1_december_2017() -> None:
    """Issue 20: nationals of Armenia, Azerbaijan, Georgia, Russia, Turkey and Ukraine became eligible from
    1 Dec 2017 (the date's own source is marked unverified in the scheme file)."""
    for nationality in ("ARM", "AZE", "GEO", "RUS", "TUR", "UKR"):
        before = calculate_incentives(REGISTRY.in_force("starthilfeplus", dt.date(2017, 11, 30)), household([(30, "head")], nationality=nationality), on=dt.date(2017, 11, 30))
        after = calculate_incentives(REGISTRY.in_force("starthilfeplus", dt.date(2017, 12, 1)), household([(30, "head")], nationality=nationality), on=dt.date(2017, 12, 1))
        assert not before.eligible, nationality
        assert after.eligible and after.total == Decimal("1200.00"), nationality
    december = REGISTRY.in_force("starthilfeplus", dt.date(2017, 12, 1))
    assert any("unverified" in (c.note or "").lower() for c in december.citations)


def test_starthilfeplus_rejected_within_departure_deadline_is_stage_2() -> None:
    """Fluechtlinge Frankfurt, StarthilfePlus 2017: "Stufe 2: Wurde der Asylantrag abgelehnt, aber die
    Ausreisefrist ist noch nicht abgelaufen, werden pro Person 800 Euro gewährt." A final rejection within the
    deadline qualifies; after the deadline it does not."""
    shp = REGISTRY.in_force("starthilfeplus", dt.date(2017, 3, 1))
    within = calculate_incentives(shp, household([(30, "head")], asylum_stage="final_negative", legal_status="rejected_asylum_seeker"), on=dt.date(2017, 3, 1))
    assert within.eligible and total_of(within, "stage_2") == Decimal("800.00")
    late = calculate_incentives(shp, household([(30, "head")], asylum_stage="final_negative", legal_status="rejected_asylum_seeker", departure_within_deadline=False), on=dt.date(2017, 3, 1))
    assert total_of(late, "stage_2") == Decimal(0)


def test_reag_garp_2019_is_closed_and_later_versions_cite_their_sources() -> None:
    """BAMF press release 005/2019 (the 2019 programme); LfAR Bayern 19.01.2022 ("auch 2022 … mit bis zu 4.000 €
    pro Familie"). No version stays in force forever."""
    versions = REGISTRY.versions("reag_garp")
    assert all(v.effective_to is not None for v in versions)
    v2019 = next(v for v in versions if v.version == "2019")
    assert v2019.effective_to == dt.date(2021, 12, 31)
    v2022 = REGISTRY.in_force("reag_garp", dt.date(2022, 6, 1))
    assert v2022.version == "2022" and any("lfar.bayern.de" in (c.url or "") for c in v2022.citations)
    with pytest.raises(NotFound):
        REGISTRY.in_force("reag_garp", dt.date(2027, 1, 1))


def test_conflicting_family_cap_is_shown_with_both_sources_and_unverified() -> None:
    """Foerderdatenbank: "pro Familie maximal 4.000 EUR"; a cap of EUR 3,500 was reported as well. Both values
    travel with the result, the 4,000 the file applies is marked unverified."""
    scheme = REGISTRY.in_force("reag_garp", dt.date(2020, 3, 1))
    family = [(40, "head"), (38, "spouse"), (20, "child"), (16, "child"), (10, "child")]
    result = calculate_incentives(scheme, household(family), on=dt.date(2020, 3, 1))
    assert total_of(result, "start_up") == Decimal("4000.00")
    (conflict,) = result.unverified_figures
    assert conflict.rule_id == "start_up" and conflict.field == "family_cap" and not conflict.verified
    assert {v.value for v in conflict.values} == {"4000", "3500"}
    by_value = {v.value: v.citation for v in conflict.values}
    assert by_value["4000"] == "foerderdatenbank"
    cited = {c.id: c for c in scheme.citations}
    assert "no such source was found" in (cited[by_value["3500"]].note or "")  # never an invented source


def test_every_shipped_scheme_text_has_chinese_and_keeps_its_legal_terms() -> None:
    """Scheme lines are published content: every title, rule, age band and cap has Chinese (issue 16), and the
    benefit's legal name (Reisebeihilfe) stays in the Chinese text, marked translate="no" where it is shown."""
    from passage.avrr.messages import published
    from passage.avrr.schemes import default_registry
    from passage.core.i18n import set_locale

    registry = default_registry()
    for scheme_id in registry.scheme_ids(include_templates=True):
        for version in registry.versions(scheme_id):
            assert version.translations["title"]["zh_Hans"], (scheme_id, version.version)
            for item in [*version.rules, *version.age_bands, *version.household_caps]:
                assert item.translations["label"]["zh_Hans"], (scheme_id, version.version, item.label)
            for rule in version.rules:
                for term in rule.original_terms:
                    assert term in rule.label and term in rule.translations["label"]["zh_Hans"]
    token = set_locale("zh_Hans")
    try:
        shown = published("Travel assistance (Reisebeihilfe)", {"zh_Hans": "旅行补助（Reisebeihilfe）"},
                          original_terms=["Reisebeihilfe"], original_language="de")
        missing = published("Travel assistance", {})
    finally:
        from passage.core.i18n import _current_locale

        _current_locale.reset(token)
    assert str(shown) == '旅行补助（<span translate="no" lang="de">Reisebeihilfe</span>）'
    assert 'class="fallback"' in str(missing) and 'lang="en"' in str(missing)
