from __future__ import annotations

import datetime as dt

import pytest

from passage.dtm import rules
from passage.dtm.geography import Gazetteer
from passage.dtm.rules import figure_from_submission, round_changes, run_checks

from .conftest import baseline_submission, breakdown


def checks_of(report: rules.CheckReport, row: int) -> list[str]:
    return [i.check for i in report.by_row().get(row, [])]


def test_clean_batch_has_no_issues(gazetteer: Gazetteer) -> None:
    report = run_checks([(2, baseline_submission("a")), (3, baseline_submission("b", admin2="NG008001", admin2_name="Abadam"))], component="baseline", gazetteer=gazetteer)
    assert report.issues == []
    first = report.figures[0]
    assert (first.admin_pcode, first.admin_level, first.idp_individuals, first.returnee_individuals) == ("NG008017", 2, 500, 90)
    assert first.reasons == ["conflict", "flood"]
    assert first.males == 250 and first.females == 250
    assert first.assessment_date == dt.date(2025, 3, 1)


def test_flatten_accepts_kobo_dash_paths() -> None:
    assert rules.flatten({"idps-idp_individuals": "5", "_uuid": "u"}) == {"idp_individuals": "5", "_uuid": "u"}


def test_select_multiple_list_or_space_separated() -> None:
    assert rules.to_choices(["conflict", "flood"]) == rules.to_choices("conflict flood") == ["conflict", "flood"]


def test_sex_age_sum_mismatch_is_reported_on_its_row(gazetteer: Gazetteer) -> None:
    groups = breakdown(500)
    groups["f_60plus"] += 7
    report = run_checks([(2, baseline_submission("a")), (3, baseline_submission("b", admin2="NG008001", admin2_name="Abadam", groups=groups))], component="baseline", gazetteer=gazetteer)
    assert checks_of(report, 2) == []
    assert checks_of(report, 3) == ["sex_age_sum"]
    assert "507" in report.issues[0].message and "500" in report.issues[0].message


def test_missing_and_incomplete_breakdown(gazetteer: Gazetteer) -> None:
    partial = breakdown(500)
    del partial["m_under1"]
    report = run_checks([(2, baseline_submission("a", groups={})), (3, baseline_submission("b", admin2="NG008001", admin2_name="Abadam", groups=partial))], component="baseline", gazetteer=gazetteer)
    assert checks_of(report, 2) == ["sex_age_missing"]
    assert checks_of(report, 3) == ["sex_age_missing"]
    assert report.by_row()[3][0].field == "m_under1"


def test_no_idps_needs_no_breakdown(gazetteer: Gazetteer) -> None:
    values = baseline_submission("a", groups={})
    values["idps/idp_present"] = "no"
    report = run_checks([(2, values)], component="baseline", gazetteer=gazetteer)
    assert report.issues == []
    assert report.figures[0].idp_individuals == 0


@pytest.mark.parametrize(("households", "individuals", "size", "flagged"), [(100, 500, 5.0, False), (100, 590, 5.0, False), (100, 610, 5.0, True), (100, 390, 5.0, True)])
def test_household_size_tolerance(gazetteer: Gazetteer, households: int, individuals: int, size: float, flagged: bool) -> None:
    report = run_checks([(2, baseline_submission("a", households=households, individuals=individuals, size=size))], component="baseline", gazetteer=gazetteer)
    assert ("household_size" in checks_of(report, 2)) is flagged


def test_household_size_uses_operation_default_or_plausible_range() -> None:
    figure = rules.FigureRow(row=4, uuid="u", component="baseline", admin_pcode="NG008017", admin_level=2, reported_name=None, location_key="area:NG008017", idp_households=10, idp_individuals=300)
    assert [i.check for i in rules.check_household_size(figure)] == ["household_size"]  # implied 30 per household
    assert rules.check_household_size(figure, default_household_size=29.0) == []
    figure.idp_individuals = 60
    assert rules.check_household_size(figure) == []
    assert [i.row for i in rules.check_household_size(figure, default_household_size=4.0)] == [4]


def test_duplicate_location_flags_later_rows_and_names_the_first(gazetteer: Gazetteer) -> None:
    report = run_checks([(2, baseline_submission("a")), (3, baseline_submission("b", admin2="NG008001", admin2_name="Abadam")), (4, baseline_submission("c"))], component="baseline", gazetteer=gazetteer)
    assert checks_of(report, 4) == ["duplicate_location"]
    assert checks_of(report, 2) == [] and checks_of(report, 3) == []
    assert report.by_row()[4][0].message == "same location as row 2 in this round"


def test_duplicate_sites_by_site_id(gazetteer: Gazetteer) -> None:
    site = {"_uuid": "s1", "site_id": "BOR-001", "admin1_pcode": "NG008", "admin2_pcode": "NG008017", "idp_households": 10, "idp_individuals": 50, **breakdown(50)}
    report = run_checks([(2, site), (3, {**site, "_uuid": "s2"})], component="site", gazetteer=gazetteer)
    assert [(i.row, i.check, i.field) for i in report.issues] == [(3, "duplicate_location", "site_id")]


def test_pcode_name_mismatch_suggests_the_right_code(gazetteer: Gazetteer) -> None:
    report = run_checks([(2, baseline_submission("a", admin2_name="Abadam"))], component="baseline", gazetteer=gazetteer)
    assert checks_of(report, 2) == ["pcode_name_mismatch"]
    assert "NG008001" in report.issues[0].message
    assert report.issues[0].field == "admin2_name"


def test_known_variant_is_not_a_mismatch(gazetteer: Gazetteer) -> None:
    report = run_checks([(2, baseline_submission("a", admin2_name="Maidugiri", admin1_name="Bornu"))], component="baseline", gazetteer=gazetteer)
    assert report.issues == []


def test_unknown_pcode_and_wrong_parent(gazetteer: Gazetteer) -> None:
    report = run_checks([(2, baseline_submission("a", admin2="NG008099")), (3, baseline_submission("b", admin1="NG002", admin1_name="Adamawa"))], component="baseline", gazetteer=gazetteer)
    assert checks_of(report, 2) == ["unknown_pcode"]
    assert checks_of(report, 3) == ["pcode_parent_mismatch"]


def test_outlier_against_last_round_is_a_warning(gazetteer: Gazetteer) -> None:
    previous = {"area:NG008017": 200, "area:NG008001": 480}
    report = run_checks([(2, baseline_submission("a")), (3, baseline_submission("b", admin2="NG008001", admin2_name="Abadam"))], component="baseline", gazetteer=gazetteer, previous=previous)
    assert checks_of(report, 2) == ["outlier_last_round"]
    assert checks_of(report, 3) == []
    assert report.issues[0].severity == "warning"
    assert "+300" in report.issues[0].message


def test_outlier_needs_both_thresholds() -> None:
    small = rules.FigureRow(row=2, uuid="u", component="baseline", admin_pcode="X", admin_level=2, reported_name=None, location_key="k", idp_individuals=8)
    assert rules.check_outliers([small], {"k": 4}) == []
    assert len(rules.check_outliers([small], {"k": 4}, absolute=2)) == 1


def test_every_check_has_a_test_name() -> None:
    # Guards against adding a check code without reporting it in ALL_CHECKS (the report sort needs it).
    assert set(rules.ALL_CHECKS) == {v for k, v in vars(rules).items() if k.startswith("CHECK_")}


def test_round_changes() -> None:
    changes = {c.key: c for c in round_changes({"a": 150, "b": 50, "c": 10, "e": 5}, {"a": 100, "b": 100, "d": 40, "e": 5})}
    assert (changes["a"].change, changes["a"].percent, changes["a"].status) == (50, 50.0, "increase")
    assert (changes["b"].change, changes["b"].status) == (-50, "decrease")
    assert (changes["c"].previous, changes["c"].status) == (None, "new")
    assert (changes["d"].current, changes["d"].change, changes["d"].status) == (None, -40, "closed")
    assert changes["e"].status == "unchanged"


def test_flow_lines_and_summary() -> None:
    submission = {
        "_uuid": "f1",
        "fmp_id": "FMP-01",
        "observation_date": "2025-03-02",
        "flows": [
            {"flows/direction": "incoming", "flows/nationality": "ner", "flows/transport_mode": "bus", "flows/adult_males": 3, "flows/adult_females": 2, "flows/boys": 1, "flows/girls": 1, "flows/flow_total": 7},
            {"flows/direction": "incoming", "flows/nationality": "NER", "flows/transport_mode": "bus", "flows/adult_males": 1, "flows/adult_females": 0, "flows/boys": 0, "flows/girls": 0, "flows/flow_total": 2},
            {"flows/direction": "outgoing", "flows/nationality": "TCD", "flows/transport_mode": "foot", "flows/adult_males": 5, "flows/adult_females": 0, "flows/boys": 0, "flows/girls": 0, "flows/flow_total": 5},
        ],
    }
    lines, issues = rules.flow_lines(submission, row=2)
    assert [(i.row, i.field) for i in issues] == [(2, "flows[2].flow_total")]
    summary = rules.summarise_flows(lines)
    assert summary[0] == {"direction": "incoming", "nationality": "NER", "transport_mode": "bus", "adult_males": 4, "adult_females": 2, "boys": 1, "girls": 1, "total": 9}
    assert summary[1]["total"] == 5


def test_site_figure_reads_services_needs_and_gps() -> None:
    values = {"_uuid": "s", "site_id": "BOR-001", "site_name": "Bakassi", "admin1_pcode": "NG008", "admin2_pcode": "NG008017", "gps": "11.83 13.15 0 5", "site_type": "camp", "site_management": "yes", "management_agency": "government", "needs/priority_needs": "health shelter_nfi", "services/service_health": "partial", "idp_households": 1, "idp_individuals": 4}
    figure = figure_from_submission(values, row=5, component="site")
    assert (figure.latitude, figure.longitude) == (11.83, 13.15)
    assert figure.needs == ["health", "shelter_nfi"]
    assert figure.services == {"health": "partial"}
    assert figure.location_key == "site:BOR-001"
    assert figure.management == "government"


def test_unreadable_row_is_reported_not_dropped(gazetteer: Gazetteer) -> None:
    broken = baseline_submission("b", admin2="NG008001", admin2_name="Abadam")
    broken["idps/idp_individuals"] = "five hundred"
    report = run_checks([(2, baseline_submission("a")), (3, broken)], component="baseline", gazetteer=gazetteer)
    assert [(i.row, i.check) for i in report.issues] == [(3, "unreadable_value")]
    assert [f.row for f in report.figures] == [2]
