from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from passage.core.errors import Conflict, InvalidInput, NotFound
from passage.dtm import service
from passage.dtm.geography import NameVariant, parse_cod_ab
from passage.dtm.models import AdminAreaRecord, DisplacementFigure, Location
from passage.security.actors import system_actor

from .conftest import baseline_submission, breakdown, sample_collection

SYSTEM = system_actor("dtm.test")


@pytest.fixture
def loaded(session: Session) -> Session:
    service.load_areas(session, actor=SYSTEM, areas=parse_cod_ab(sample_collection()), source="test")
    return session


def test_load_areas_creates_then_updates_and_keeps_variants(session: Session) -> None:
    first = service.load_areas(session, actor=SYSTEM, areas=parse_cod_ab(sample_collection()), source="a.geojson", variants=[NameVariant("NG002021", "Yola Nord", "fr")])
    assert (first.created, first.updated, first.by_level) == (7, 0, {0: 1, 1: 2, 2: 3, 3: 1})
    assert first.variants_added == 3  # Bornu, Maidugiri, Yola Nord
    again = service.load_areas(session, actor=SYSTEM, areas=parse_cod_ab(sample_collection()), source="b.geojson")
    assert (again.created, again.updated, again.variants_added) == (0, 7, 0)
    record = session.scalar(select(AdminAreaRecord).where(AdminAreaRecord.pcode == "NG008017"))
    assert record is not None and record.parent_pcode == "NG008" and record.source == "b.geojson"
    gazetteer = service.get_gazetteer(session)
    assert gazetteer.check_name("NG002021", "Yola-Nord").status == "variant"
    assert service.known_area_levels(session)["NG008017001"] == 3


def test_round_numbers_unique_per_operation(loaded: Session) -> None:
    service.create_round(loaded, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 1, 31))
    with pytest.raises(Conflict):
        service.create_round(loaded, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 2, 28))
    service.create_round(loaded, actor=SYSTEM, operation="Chad", number=1, reporting_date=dt.date(2025, 1, 31))
    with pytest.raises(InvalidInput, match="several operations"):
        service.get_round(loaded, number=1)
    assert service.get_round(loaded, number=1, operation="Chad").operation == "Chad"
    with pytest.raises(NotFound):
        service.get_round(loaded, number=9)


def record(session: Session, round_id: str, rows: list[tuple[int, str, dict[str, Any]]], component: str = "baseline") -> service.RecordResult:
    return service.record_submissions(session, actor=SYSTEM, round_id=round_id, component=component, submissions=rows)  # type: ignore[arg-type]


def test_record_checks_stores_and_is_idempotent(loaded: Session) -> None:
    round1 = service.create_round(loaded, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 1, 31))
    groups = breakdown(500)
    groups["m_18_59"] += 1
    result = record(loaded, round1.id, [
        (2, "u1", baseline_submission("x", groups=groups)),
        (3, "u2", baseline_submission("x")),  # same area: duplicate, not stored
        (4, "u3", baseline_submission("x", admin2="NG008099")),  # unknown P-code, not stored
        (5, "u4", baseline_submission("x", admin2="NG008001", admin2_name="Abadam")),
    ])
    assert (result.recorded, result.not_stored) == (2, 2)
    assert [(i.row, i.check) for i in result.issues] == [(2, "sex_age_sum"), (3, "duplicate_location"), (4, "unknown_pcode")]
    stored = {f.submission_uuid: f for f in loaded.scalars(select(DisplacementFigure))}
    assert set(stored) == {"u1", "u4"}
    assert stored["u1"].issues == [{"check": "sex_age_sum", "field": "idp_individuals", "severity": "error"}]
    assert stored["u4"].reasons == ["conflict", "flood"]
    again = record(loaded, round1.id, [(2, "u1", baseline_submission("x")), (9, "u9", baseline_submission("x"))])
    assert again.already_recorded == 1
    assert [(i.row, i.check, i.message) for i in again.issues] == [(9, "duplicate_location", "location already recorded in this round by an earlier batch")]
    assert service.issue_counts(loaded, round_id=round1.id, component="baseline") == {"sex_age_sum": 1}


def test_outlier_against_previous_round_and_aggregate_change(loaded: Session) -> None:
    round1 = service.create_round(loaded, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 1, 31))
    round2 = service.create_round(loaded, actor=SYSTEM, operation="Nigeria", number=2, reporting_date=dt.date(2025, 2, 28))
    record(loaded, round1.id, [(2, "a1", baseline_submission("x", households=40, individuals=200, size=5.0))])
    result = record(loaded, round2.id, [(2, "b1", baseline_submission("x"))])
    assert [(i.check, i.severity) for i in result.issues] == [("outlier_last_round", "warning")]
    table = service.aggregate_round(loaded, round_=round2, level=1)
    assert [(r.pcode, r.idp_individuals, r.idp_change, r.rows_with_issues) for r in table.rows] == [("NG008", 500, 300, 1)]


def test_sites_enter_the_master_list_with_stable_ids(loaded: Session) -> None:
    round1 = service.create_round(loaded, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 1, 31))
    round2 = service.create_round(loaded, actor=SYSTEM, operation="Nigeria", number=2, reporting_date=dt.date(2025, 2, 28))
    site = {"site_id": "BOR-001", "site_name": "Bakassi", "admin1_pcode": "NG008", "admin1_name": "Borno", "admin2_pcode": "NG008017", "admin2_name": "Maiduguri", "gps": [11.83, 13.15, 0.0, 5.0], "site_type": "camp", "site_management": "yes", "management_agency": "government", "idp_households": 10, "idp_individuals": 50, "priority_needs": ["health"], **breakdown(50)}
    record(loaded, round1.id, [(2, "s1", site)], component="site")
    location = loaded.scalar(select(Location).where(Location.code == "BOR-001"))
    assert location is not None and location.kind == "site" and location.site_type == "camp"
    stable_id = location.id
    record(loaded, round2.id, [(2, "s2", {**site, "gps": [11.84, 13.16]})], component="site")
    locations = service.list_locations(loaded, kind="site")
    assert [(loc.id, loc.latitude) for loc in locations] == [(stable_id, 11.84)]
    features = service.site_features(loaded, round_=round2)
    assert features[0]["site_id"] == "BOR-001" and features[0]["needs"] == ["health"] and features[0]["longitude"] == 13.16


def test_register_location_checks_pcode_and_code(loaded: Session) -> None:
    point = service.register_location(loaded, actor=SYSTEM, code="FMP-01", kind="flow_point", name="Banki border", admin_pcode="NG008001", latitude=11.0, longitude=14.0)
    assert len(point.id) == 32
    with pytest.raises(Conflict):
        service.register_location(loaded, actor=SYSTEM, code="FMP-01", kind="flow_point", name="x", admin_pcode="NG008001")
    with pytest.raises(InvalidInput):
        service.register_location(loaded, actor=SYSTEM, code="FMP-02", kind="flow_point", name="x", admin_pcode="NG777")


def test_record_needs_boundaries(session: Session) -> None:
    round1 = service.create_round(session, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 1, 31))
    with pytest.raises(InvalidInput, match="geo load"):
        record(session, round1.id, [(2, "u", baseline_submission("x"))])


def flow_submission(uuid_total: int = 7, admin2: str = "NG008001") -> dict[str, Any]:
    return {
        "fmp_id": "FMP-01", "fmp_name": "Banki", "fmp_type": "border_crossing", "admin1_pcode": "NG008", "admin2_pcode": admin2,
        "gps": [11.0, 14.0], "observation_date": "2025-03-02",
        "flows": [
            {"flows/direction": "incoming", "flows/nationality": "CMR", "flows/transport_mode": "foot", "flows/adult_males": 3, "flows/adult_females": 2, "flows/boys": 1, "flows/girls": 1, "flows/flow_total": uuid_total},
            {"flows/direction": "outgoing", "flows/nationality": "NGA", "flows/transport_mode": "bus", "flows/adult_males": 4, "flows/adult_females": 0, "flows/boys": 0, "flows/girls": 0, "flows/flow_total": 4},
        ],
    }


def test_flow_counts_stored_summarised_and_point_registered(loaded: Session) -> None:
    result = service.record_flow_submissions(loaded, actor=SYSTEM, submissions=[(2, "f1", flow_submission()), (3, "f2", flow_submission(9)), (4, "f3", flow_submission(admin2="NG777001"))])
    assert (result.lines, result.not_stored) == (4, 1)
    assert [(i.row, i.check) for i in result.issues] == [(3, "sex_age_sum"), (4, "unknown_pcode")]
    again = service.record_flow_submissions(loaded, actor=SYSTEM, submissions=[(2, "f1", flow_submission())])
    assert (again.lines, again.already_recorded) == (0, 1)
    summary = service.flow_summary(loaded, by=("direction",))
    # published through disclosure control: the incoming total (7 + 9 = 16) is above 15 and its parts (6, 4, 2, 2)
    # do not add up to it (a reported total), so only the parts are withheld; every outgoing count is 15 or fewer
    assert summary == [
        {"direction": "incoming", "adult_males": None, "adult_females": None, "boys": None, "girls": None, "total": 16},
        {"direction": "outgoing", "adult_males": None, "adult_females": None, "boys": None, "girls": None, "total": None},
    ]
    assert service.flow_summary(loaded, date_from=dt.date(2025, 3, 3)) == []
    point = service.list_locations(loaded, kind="flow_point")[0]
    assert (point.code, point.latitude, point.admin_pcode) == ("FMP-01", 11.0, "NG008001")


def test_unreadable_submission_counts_as_not_stored(loaded: Session) -> None:
    round1 = service.create_round(loaded, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 1, 31))
    result = record(loaded, round1.id, [(2, "u1", {**baseline_submission("x"), "idps/idp_households": "1.5"})])
    assert (result.recorded, result.not_stored, [i.check for i in result.issues]) == (0, 1, ["unreadable_value"])
