"""The shipped DTM forms through the forms engine's own validator: a site assessment entered on the web
reaches the map's site layer, and a bad entry is refused with field paths (what wave 2's browser test does)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.orm import Session

from passage.core.errors import InvalidInput
from passage.dtm import service, vocab
from passage.dtm.choropleth import site_points
from passage.dtm.geography import parse_cod_ab
from passage.dtm.xlsforms import DATA_DIR
from passage.forms import service as forms_service
from passage.security.actors import system_actor

from .conftest import breakdown, sample_collection

SYSTEM = system_actor("dtm.test")


def site_entry(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "assessment_date": "2025-03-05",
        "site_id": "BOR-001",
        "site_name": "Bakassi camp",
        "location/admin1_pcode": "NG008",
        "location/admin1_name": "Borno",
        "location/admin2_pcode": "NG008017",
        "location/admin2_name": "Maiduguri",
        "gps": "11.83 13.15 0 5",
        "site_profile/site_type": "camp",
        "site_profile/site_classification": "planned",
        "site_profile/site_management": "yes",
        "site_profile/management_agency": "government",
        "population/idp_households": "100",
        "population/idp_individuals": "500",
        "population/avg_household_size": "5",
        "needs/priority_needs": "health shelter_nfi",
        "access/site_access": "partial",
        "access/access_constraints": "flooding",
    }
    data.update({f"site_demography/{name}": str(count) for name, count in breakdown(500).items()})
    data.update({f"services/service_{sector.name}": "partial" for sector in vocab.MCOF_SECTORS})
    data.update(overrides)
    return data


@pytest.fixture
def ready(session: Session) -> Session:
    service.load_areas(session, actor=SYSTEM, areas=parse_cod_ab(sample_collection()), source="t")
    forms_service.load_form(session, actor=SYSTEM, content=(DATA_DIR / "dtm_site_assessment.xlsx").read_bytes(), filename="dtm_site_assessment.xlsx")
    return session


def test_web_entry_of_a_site_assessment_reaches_the_site_layer(ready: Session) -> None:
    forms_service.submit_entry(ready, actor=SYSTEM, form_ref="dtm_site_assessment", data=site_entry())
    round1 = service.create_round(ready, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 3, 31), period_start=dt.date(2025, 3, 1), period_end=dt.date(2025, 3, 31))
    result = service.process_form_submissions(ready, actor=SYSTEM, round_id=round1.id, component="site")
    assert (result.recorded, result.issues) == (1, [])
    points = site_points(service.site_features(ready, round_=round1))
    feature = points["features"][0]
    assert feature["geometry"]["coordinates"] == [13.15, 11.83]
    assert feature["properties"]["site_id"] == "BOR-001" and feature["properties"]["idp_individuals"] == 500
    assert feature["properties"]["needs"] == ["health", "shelter_nfi"]
    table = service.aggregate_round(ready, round_=round1, level=2, component="site")
    assert [(r.pcode, r.idp_individuals, r.males) for r in table.rows] == [("NG008017", 500, 250)]


def test_site_entry_outside_the_round_period_is_not_taken(ready: Session) -> None:
    forms_service.submit_entry(ready, actor=SYSTEM, form_ref="dtm_site_assessment", data=site_entry(assessment_date="2025-04-02"))
    round1 = service.create_round(ready, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 3, 31), period_start=dt.date(2025, 3, 1), period_end=dt.date(2025, 3, 31))
    assert service.process_form_submissions(ready, actor=SYSTEM, round_id=round1.id, component="site").recorded == 0


def test_the_form_itself_refuses_four_priority_needs_and_missing_access_constraints(ready: Session) -> None:
    bad = site_entry(**{"needs/priority_needs": "health shelter_nfi transport consular"})
    del bad["access/access_constraints"]
    with pytest.raises(InvalidInput) as info:
        forms_service.submit_entry(ready, actor=SYSTEM, form_ref="dtm_site_assessment", data=bad)
    paths = {f.path for f in info.value.fields}
    assert {"needs/priority_needs", "access/access_constraints"} <= paths
