"""The DTM API on the demo operation: field names, the public DTM API v3 endpoints, HXL and PDF downloads, errors."""

from __future__ import annotations

import io
import json
from typing import Any

import hxl
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.dtm.demo import BASE_IDPS, OPERATION, SITES
from passage.dtm.dtm_api import DTM_API_V3_FIELDS, QUERY_PARAMETERS
from passage.security.models import AuditEntry
from tests.conftest import api_headers

from .test_demo import load_demo

PUBLIC = "/api/v1/dtm/public/v3/displacement"


@pytest.fixture
def client(app_client: Any) -> Any:
    with unit_of_work() as session:
        load_demo(session)
    return app_client


def rounds(client: Any, headers: dict[str, str]) -> dict[int, dict[str, Any]]:
    response = client.get("/api/v1/dtm/rounds", headers=headers, params={"operation": OPERATION})
    assert response.status_code == 200
    return {r["number"]: r for r in response.json()["items"]}


def test_public_dtm_api_v3_endpoints_need_no_sign_in_and_use_its_field_names(client: Any) -> None:
    for level in (0, 1, 2):
        response = client.get(f"{PUBLIC}/admin{level}", params={"Operation": OPERATION})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["isSuccess"] is True
        assert body["result"], level
        assert all(tuple(record) == DTM_API_V3_FIELDS[level] for record in body["result"])
    admin0 = client.get(f"{PUBLIC}/admin0", params={"Operation": OPERATION, "FromRoundNumber": "1", "ToRoundNumber": "1"}).json()["result"]
    baseline = [r for r in admin0 if r["assessmentType"] == "BA"]
    assert len(baseline) == 1 and baseline[0]["numPresentIdpInd"] == sum(BASE_IDPS.values())
    assert (baseline[0]["admin0Pcode"], baseline[0]["roundNumber"], baseline[0]["reportingDate"], baseline[0]["yearReportingDate"], baseline[0]["monthReportingDate"]) == ("NG", 1, "2025-01-31", 2025, 1)
    assert baseline[0]["numberMales"] + baseline[0]["numberFemales"] == baseline[0]["numPresentIdpInd"]
    site_records = [r for r in admin0 if r["assessmentType"] == "SA"]
    assert site_records[0]["numPresentIdpInd"] == sum(s[6] for s in SITES)
    borno = client.get(f"{PUBLIC}/admin2", params={"CountryName": "nigeria", "Admin1Pcode": "NG008", "FromReportingDate": "2025-03-01"}).json()["result"]
    assert {r["roundNumber"] for r in borno} == {3} and {r["admin1Name"] for r in borno} == {"Borno"}
    assert {r["admin2Pcode"] for r in borno if r["assessmentType"] == "BA"} == {lga for lga in BASE_IDPS if lga.startswith("NG008")}


def test_public_query_errors_are_422_in_the_dtm_envelope_with_field_paths(client: Any) -> None:
    """DTM API v3 answers a refused query with `isSuccess: false` and `errorMessages` (as its `dtmapi` client reads it)."""
    missing = client.get(f"{PUBLIC}/admin1")
    assert missing.status_code == 422
    body = missing.json()
    assert body["isSuccess"] is False and body["result"] == [] and body["errorMessages"][0].startswith("Operation:")
    assert [f["path"] for f in body["fields"]] == ["Operation"]
    bad = client.get(f"{PUBLIC}/admin1", params={"Operation": OPERATION, "FromReportingDate": "31/01/2025", "Colour": "red"})
    assert bad.status_code == 422
    assert {f["path"] for f in bad.json()["fields"]} == {"FromReportingDate", "Colour"}
    assert "31/01/2025" not in bad.text
    superscript = client.get(f"{PUBLIC}/admin2", params={"Operation": OPERATION, "ToRoundNumber": "¹"})  # was a 500 (deep fuzz run)
    assert superscript.status_code == 422 and [f["path"] for f in superscript.json()["fields"]] == ["ToRoundNumber"]
    too_large = client.get(f"{PUBLIC}/admin2", params={"Operation": OPERATION, "FromRoundNumber": "1000000"})
    assert too_large.status_code == 422 and too_large.json()["fields"] == [{"path": "FromRoundNumber", "message": "too large: at most 999,999"}]


def test_public_routes_declare_dtm_query_parameters_and_numeric_ids(client: Any) -> None:
    document = client.get("/api/v1/openapi.json").json()
    operation = document["paths"][f"{PUBLIC}/admin2"]["get"]
    assert {p["name"] for p in operation["parameters"]} == set(QUERY_PARAMETERS)
    records = client.get(f"{PUBLIC}/admin0", params={"Operation": OPERATION}).json()["result"]
    assert all(isinstance(r["id"], int) and 0 <= r["id"] < 2**53 for r in records)
    assert len({r["id"] for r in records}) == len(records)


def test_authenticated_api_permissions(client: Any) -> None:
    assert client.get("/api/v1/dtm/rounds").status_code == 401
    caseworker = api_headers(client, "iom.caseworker")
    assert client.get("/api/v1/dtm/rounds", headers=caseworker).status_code == 200
    refused = client.post("/api/v1/dtm/rounds", headers=caseworker, json={"operation": "X", "number": 1, "reporting_date": "2025-01-31"})
    assert refused.status_code == 403
    officer = api_headers(client, "nl.officer")
    assert client.get("/api/v1/dtm/rounds", headers=officer).status_code == 403
    with unit_of_work() as session:
        refusals = session.scalars(select(AuditEntry).where(AuditEntry.action == "refused", AuditEntry.entity_id == "/api/v1/dtm/rounds")).all()
    assert len(refusals) == 2


def test_rounds_figures_aggregates_and_changes(client: Any) -> None:
    headers = api_headers(client, "analyst")
    by_number = rounds(client, headers)
    assert sorted(by_number) == [1, 2, 3]
    third = by_number[3]["id"]
    flagged = client.get(f"/api/v1/dtm/rounds/{third}/figures", headers=headers, params={"component": "baseline", "issues_only": "true"}).json()
    assert flagged["total"] == 2
    checks = {(f["admin_pcode"], i["check"], i["field"]) for f in flagged["items"] for i in f["issues"]}
    assert checks == {("NG008013", "pcode_name_mismatch", "admin2_name"), ("NG008001", "outlier_last_round", "idp_individuals")}
    all_rows = client.get(f"/api/v1/dtm/rounds/{third}/figures", headers=headers, params={"limit": 5, "offset": 0}).json()
    assert all_rows["total"] == 20 and len(all_rows["items"]) == 5
    aggregates = client.get(f"/api/v1/dtm/rounds/{third}/aggregates", headers=headers, params={"level": 1}).json()
    assert aggregates["level"] == 1 and len(aggregates["rows"]) == 3
    row = next(r for r in aggregates["rows"] if r["admin1Pcode"] == "NG008")
    assert {"admin0Pcode", "admin1Name", "idpIndividuals", "idpHouseholds", "roundNumber", "reportingDate", "idpChangeSincePreviousRound", "rowsWithIssues"} <= set(row)
    assert row["rowsWithIssues"] == 2 and row["roundNumber"] == 3
    changes = client.get(f"/api/v1/dtm/rounds/{third}/changes", headers=headers, params={"level": 2}).json()
    abadam = next(c for c in changes if c["pcode"] == "NG008001")
    assert (abadam["name"], abadam["current"], abadam["status"]) == ("Abadam", 2400, "increase")
    assert client.get(f"/api/v1/dtm/rounds/{by_number[1]['id']}/changes", headers=headers, params={"level": 1}).json() == []
    series = client.get("/api/v1/dtm/series", headers=headers, params={"operation": OPERATION, "level": 1}).json()
    assert [p["round"] for p in series] == [1, 2, 3] and series[0]["idp_individuals"] == sum(BASE_IDPS.values())
    assert client.get(f"/api/v1/dtm/rounds/{third}/aggregates", headers=headers, params={"level": 7}).status_code == 422
    assert client.get("/api/v1/dtm/rounds/nope", headers=headers).status_code == 404


def test_hxl_downloads_carry_the_hashtags(client: Any) -> None:
    headers = api_headers(client, "analyst")
    first = rounds(client, headers)[1]["id"]
    csv_response = client.get(f"/api/v1/dtm/rounds/{first}/hxl.csv", headers=headers, params={"level": 2})
    assert csv_response.status_code == 200 and "attachment" in csv_response.headers["content-disposition"]
    dataset = hxl.data(io.BytesIO(csv_response.content), hxl.InputOptions(allow_local=True)).cache()
    tags = set(dataset.display_tags)
    assert {"#adm1+code", "#adm2+code", "#affected+idps+ind", "#date+reported", "#round+code"} <= tags
    values = {row.get("#adm2+code"): int(row.get("#affected+idps+ind")) for row in dataset}
    assert values == BASE_IDPS
    xlsx = client.get(f"/api/v1/dtm/rounds/{first}/hxl.xlsx", headers=headers, params={"level": 1})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.title == "admin1"
    hashtags = [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))]
    assert "#adm1+code" in hashtags and "#affected+idps+ind" in hashtags and "#adm2+code" not in hashtags


def test_report_pdf_and_map_layers(client: Any) -> None:
    headers = api_headers(client, "analyst")
    third = rounds(client, headers)[3]["id"]
    for language in ("en", "zh"):
        pdf = client.get(f"/api/v1/dtm/rounds/{third}/report.pdf", headers=headers, params={"level": 1, "language": language})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF-")
    layer = client.get(f"/api/v1/dtm/rounds/{third}/choropleth.geojson", headers=headers, params={"level": 2}).json()
    assert len(layer["features"]) == 16 and layer["legend"]["method"] == "quantile"
    assert {f["properties"]["pcode"]: f["properties"]["value"] for f in layer["features"]}["NG008001"] == 2400
    sites = client.get(f"/api/v1/dtm/rounds/{third}/sites.geojson", headers=headers).json()
    assert {f["properties"]["site_id"] for f in sites["features"]} == {s[0] for s in SITES}
    bakassi = next(f for f in sites["features"] if f["properties"]["site_id"] == "NG-BOR-S001")
    assert bakassi["geometry"]["coordinates"] == [13.10, 12.60]


def test_round_create_update_conflicts_and_processing(client: Any) -> None:
    headers = api_headers(client, "analyst")
    created = client.post("/api/v1/dtm/rounds", headers=headers, json={"operation": OPERATION, "number": 4, "reporting_date": "2025-04-30", "period_start": "2025-04-01", "period_end": "2025-04-30"})
    assert created.status_code == 201
    again = client.post("/api/v1/dtm/rounds", headers=headers, json={"operation": OPERATION, "number": 4, "reporting_date": "2025-04-30"})
    assert again.status_code == 409
    round_id, version = created.json()["id"], created.json()["version"]
    updated = client.patch(f"/api/v1/dtm/rounds/{round_id}", headers=headers, json={"version": version, "title": "April"})
    assert updated.status_code == 200 and updated.json()["title"] == "April"
    stale = client.patch(f"/api/v1/dtm/rounds/{round_id}", headers=headers, json={"version": version, "title": "Again"})
    assert stale.status_code == 409
    backwards = client.patch(f"/api/v1/dtm/rounds/{round_id}", headers=headers, json={"version": updated.json()["version"], "period_end": "2025-03-01"})
    assert backwards.status_code == 422 and backwards.json()["fields"][0]["path"] == "period_end"
    processed = client.post(f"/api/v1/dtm/rounds/{round_id}/process", headers=headers, json={"component": "baseline"})
    assert processed.status_code == 200 and processed.json()["recorded"] == 0  # no April submissions
    bad = client.post(f"/api/v1/dtm/rounds/{round_id}/process", headers=headers, json={"component": "flows"})
    assert bad.status_code == 422 and bad.json()["fields"][0]["path"] == "component"


def test_boundary_upload_media_type_size_and_audit(client: Any) -> None:
    headers = api_headers(client, "analyst")
    assert client.post("/api/v1/dtm/areas", headers={**headers, "Content-Type": "text/plain"}, content=b"{}").status_code == 415
    huge = client.post("/api/v1/dtm/areas", headers={**headers, "Content-Type": "application/json"}, content=b" " * (20 * 1024 * 1024 + 1))
    assert huge.status_code == 413
    broken = client.post("/api/v1/dtm/areas", headers={**headers, "Content-Type": "application/json"}, content=b"{not json")
    assert broken.status_code == 422
    collection = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"ADM3_PCODE": "NG008021001", "ADM3_EN": "Bolori", "ADM2_PCODE": "NG008021"}, "geometry": {"type": "Polygon", "coordinates": [[[13.2, 12.6], [13.3, 12.6], [13.3, 12.7], [13.2, 12.6]]]}}]}
    loaded = client.post("/api/v1/dtm/areas", headers={**headers, "Content-Type": "application/geo+json"}, content=json.dumps(collection))
    assert loaded.status_code == 200, loaded.text
    assert loaded.json()["created"] == 1 and loaded.json()["by_level"] == {"3": 1}
    listed = client.get("/api/v1/dtm/areas", headers=headers, params={"level": 3}).json()
    assert [a["pcode"] for a in listed["items"]] == ["NG008021001"]
    orphan = {"type": "FeatureCollection", "features": [{**collection["features"][0], "properties": {"ADM3_PCODE": "NG009001001", "ADM3_EN": "X", "ADM2_PCODE": "NG009001"}}]}
    refused = client.post("/api/v1/dtm/areas", headers={**headers, "Content-Type": "application/json"}, content=json.dumps(orphan))
    assert refused.status_code == 422 and refused.json()["fields"][0]["path"].startswith("features[0]")
    with unit_of_work() as session:
        loads = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "dtm_admin_areas")).all()
    assert len(loads) == 2 and loads[-1].details["created"] == 1


def test_every_output_withholds_a_small_area_and_its_giveaway(client: Any) -> None:
    """Round 4 has Maiduguri (600 IDPs) and Abadam (9): Abadam is withheld in the aggregates, the HXL CSV and XLSX,
    the choropleth, the public DTM API v3 and the report, and so is one more Borno figure (else Borno - Maiduguri)."""
    import datetime as dt

    from passage.dtm import service
    from passage.security.models import User

    from .conftest import baseline_submission

    with unit_of_work() as session:
        analyst = session.scalar(select(User).where(User.username == "analyst"))
        round_ = service.create_round(session, actor=analyst, operation=OPERATION, number=4, reporting_date=dt.date(2025, 9, 30))
        submissions = [
            (2, "r4-maiduguri", baseline_submission("r4-maiduguri", admin2="NG008021", admin2_name="Maiduguri", households=120, individuals=600, returnees=None)),
            (3, "r4-abadam", baseline_submission("r4-abadam", admin2="NG008001", admin2_name="Abadam", households=3, individuals=9, size=3.0, returnees=None)),
        ]
        service.record_submissions(session, actor=analyst, round_id=round_.id, component="baseline", submissions=submissions)
        round_id = round_.id
    headers = api_headers(client, "analyst")
    aggregates = {level: client.get(f"/api/v1/dtm/rounds/{round_id}/aggregates", headers=headers, params={"level": level}).json() for level in (0, 1, 2)}
    admin2 = {r["admin2Pcode"]: r for r in aggregates[2]["rows"]}
    assert admin2["NG008001"]["idpIndividuals"] is None and admin2["NG008001"]["idpHouseholds"] is None
    borno = next(r for r in aggregates[1]["rows"] if r["admin1Pcode"] == "NG008")
    assert borno["idpIndividuals"] is None or admin2["NG008021"]["idpIndividuals"] is None  # no Borno - Maiduguri
    assert aggregates[2]["disclosure"]["threshold"] == 15 and aggregates[2]["disclosure"]["cells_withheld_small"] >= 1
    csv_bytes = client.get(f"/api/v1/dtm/rounds/{round_id}/hxl.csv", headers=headers, params={"level": 2}).content
    dataset = list(hxl.data(io.BytesIO(csv_bytes), hxl.InputOptions(allow_local=True)))
    assert next(row for row in dataset if row.get("#adm2+code") == "NG008001").get("#affected+idps+ind") in (None, "")
    sheet = load_workbook(io.BytesIO(client.get(f"/api/v1/dtm/rounds/{round_id}/hxl.xlsx", headers=headers, params={"level": 2}).content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    hashtags = [c.value for c in next(sheet.iter_rows(min_row=2, max_row=2))]  # row 1 is the reader's headers
    abadam = next(r for r in rows if "NG008001" in r)
    assert abadam[hashtags.index("#affected+idps+ind")] in (None, "")
    layer = client.get(f"/api/v1/dtm/rounds/{round_id}/choropleth.geojson", headers=headers, params={"level": 2}).json()
    feature = next(f["properties"] for f in layer["features"] if f["properties"]["pcode"] == "NG008001")
    assert feature["value"] is None and feature["withheld"] is True
    public = client.get(f"{PUBLIC}/admin2", params={"Operation": OPERATION, "FromRoundNumber": 4, "ToRoundNumber": 4}).json()
    assert {r["admin2Pcode"]: r["numPresentIdpInd"] for r in public["result"]}["NG008001"] is None
    pdf = client.get(f"/api/v1/dtm/rounds/{round_id}/report.pdf", headers=headers, params={"level": 2})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    series = client.get("/api/v1/dtm/series", headers=headers, params={"operation": OPERATION, "level": 2}).json()
    assert series[-1]["round"] == 4 and series[-1]["by_area"]["NG008001"] is None
