"""The forms API through the real app: uploads (413/415), imports, quarantine fix and re-validation, duplicates,
submissions with field paths, organisation scope and audit entries."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.security.models import AuditEntry
from tests.conftest import api_headers
from tests.forms.test_service import HEADER, good
from tests.forms.xlsform_factory import CHOICES, SETTINGS, SURVEY, write_xlsform

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_bytes(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    import csv

    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()


@pytest.fixture
def analyst(app_client: Any) -> dict[str, str]:
    return api_headers(app_client, "analyst")


@pytest.fixture
def form_id(app_client: Any, analyst: dict[str, str], tmp_path: Path) -> str:
    path = write_xlsform(tmp_path / "site_check.xlsx", SURVEY, CHOICES, SETTINGS)
    response = app_client.post("/api/v1/forms", headers=analyst, files={"file": ("site_check.xlsx", path.read_bytes(), XLSX)})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] and body["version"]["number"] == 1 and body["form"]["form_key"] == "site_check"
    return str(body["form"]["id"])


def audit_actions(entity_type: str) -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == entity_type).order_by(AuditEntry.sequence)))


def test_upload_refuses_wrong_type_and_oversized_files(app_client: Any, analyst: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    response = app_client.post("/api/v1/forms", headers=analyst, files={"file": ("form.xlsx", b"type,name\n", "text/csv")})
    assert response.status_code == 415
    from passage.core.settings import get_settings

    monkeypatch.setattr(get_settings(), "max_upload_bytes", 100)
    response = app_client.post("/api/v1/forms", headers=analyst, files={"file": ("form.xlsx", b"PK\x03\x04" + b"0" * 200, XLSX)})
    assert response.status_code == 413


def test_broken_xlsform_is_refused_with_its_location(app_client: Any, analyst: dict[str, str], tmp_path: Path) -> None:
    broken = [SURVEY[0], ["integer", "age", "Age", "年龄", "yes", ". > ${nope}", "", "", "", "", ""]]  # pyxform refuses it
    path = write_xlsform(tmp_path / "broken.xlsx", broken, None, SETTINGS)
    response = app_client.post("/api/v1/forms", headers=analyst, files={"file": ("broken.xlsx", path.read_bytes(), XLSX)})
    assert response.status_code == 422
    assert "survey" in response.text and "row 2" in response.text


def test_form_with_an_expression_passage_cannot_evaluate_loads_with_a_warning(app_client: Any, analyst: dict[str, str], tmp_path: Path) -> None:
    odd = [SURVEY[0], ["integer", "age", "Age", "年龄", "yes", ". >>= 0", "", "", "", "", ""]]  # pyxform accepts it
    path = write_xlsform(tmp_path / "odd.xlsx", odd, None, SETTINGS)
    response = app_client.post("/api/v1/forms", headers=analyst, files={"file": ("odd.xlsx", path.read_bytes(), XLSX)})
    assert response.status_code == 201, response.text
    assert any("row 2, column constraint" in warning and "not evaluated" in warning for warning in response.json()["warnings"])


def test_import_quarantine_fix_and_duplicates(app_client: Any, analyst: dict[str, str], form_id: str) -> None:
    rows = [good("u1"), good("u2", **{"pop/individuals": "3"}), good("u3", visit_date="2999-01-01"), good("u4")]
    upload = {"file": ("export.csv", csv_bytes(rows), "text/csv")}
    response = app_client.post(f"/api/v1/forms/{form_id}/imports", headers=analyst, files=upload)
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["rows_read"], report["accepted"], report["quarantined"], report["duplicates"]) == (4, 2, 2, 0)
    assert report["quarantined_by_reason"] == {"constraint": 2}

    again = app_client.post(f"/api/v1/forms/{form_id}/imports", headers=analyst, files=upload).json()
    assert (again["accepted"], again["duplicates"], again["quarantined"]) == (0, 4, 0)

    page = app_client.get(f"/api/v1/forms/{form_id}/quarantine", headers=analyst, params={"reason": "constraint"}).json()
    assert page["total"] == 2
    entry = next(item for item in page["items"] if item["uuid"] == "u2")
    assert entry["row_number"] == 3 and entry["field"] == "pop/individuals" and entry["data"]["pop/individuals"] == "3"

    still_bad = app_client.post(f"/api/v1/forms/quarantine/{entry['id']}/fix", headers=analyst,
                                json={"changes": {"pop/individuals": "x"}, "version": entry["version"]})
    assert still_bad.status_code == 200 and still_bad.json()["status"] == "open" and still_bad.json()["reason"] == "type"
    stale = app_client.post(f"/api/v1/forms/quarantine/{entry['id']}/fix", headers=analyst,
                            json={"changes": {"pop/individuals": "40"}, "version": entry["version"]})
    assert stale.status_code == 409
    fixed = app_client.post(f"/api/v1/forms/quarantine/{entry['id']}/fix", headers=analyst,
                            json={"changes": {"pop/individuals": "40"}, "version": still_bad.json()["version"]})
    assert fixed.json()["status"] == "accepted" and fixed.json()["submission_id"]

    unknown = app_client.post(f"/api/v1/forms/quarantine/{entry['id']}/fix", headers=analyst, json={"changes": {}, "version": "x"})
    assert unknown.status_code == 422

    subs = app_client.get(f"/api/v1/forms/{form_id}/submissions", headers=analyst, params={"limit": 2}).json()
    assert subs["total"] == 3 and len(subs["items"]) == 2
    sources = {item["source"] for item in app_client.get(f"/api/v1/forms/{form_id}/submissions", headers=analyst).json()["items"]}
    assert sources == {"import", "quarantine"}

    summary = app_client.post(f"/api/v1/forms/{form_id}/quarantine/revalidate", headers=analyst, json={}).json()
    assert summary == {"checked": 1, "accepted": 0, "duplicates": 0, "still_open": 1}
    assert "import" in audit_actions("forms_import_batch")
    assert audit_actions("forms_quarantine_entry").count("update") == 2
    assert audit_actions("forms_quarantine") == ["revalidate"]


def test_web_submission_errors_name_field_paths_never_values(app_client: Any, analyst: dict[str, str], form_id: str) -> None:
    data = {"site_name": "Camp Zeta", "admin1": "north", "admin2": "s1", "visit_date": "2024-03-01",
            "pop/households": "10", "pop/individuals": "5", "reasons": "conflict",
            "members": [{"members/member_age": "200", "members/member_sex": "f"}]}
    response = app_client.post(f"/api/v1/forms/{form_id}/submissions", headers=analyst, json={"data": data})
    assert response.status_code == 422, response.text
    paths = {error["path"] for error in response.json()["fields"]}
    assert paths == {"admin2", "pop/individuals", "members[1]/member_age"}
    assert "Camp Zeta" not in response.text and "200" not in response.text
    data.update({"admin2": "n1", "pop/individuals": "40", "members": [{"members/member_age": "20", "members/member_sex": "f"}]})
    created = app_client.post(f"/api/v1/forms/{form_id}/submissions", headers=analyst, json={"data": data, "uuid": "web-1"})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["members"] == [{"members/member_age": 20, "members/member_sex": "f"}]
    assert app_client.post(f"/api/v1/forms/{form_id}/submissions", headers=analyst, json={"data": data, "uuid": "web-1"}).status_code == 409
    assert audit_actions("forms_submission")[0] == "create"


def test_scope_and_permissions(app_client: Any, analyst: dict[str, str], form_id: str) -> None:
    # Another organisation does not see IOM's form at all (404, not 403).
    nl = api_headers(app_client, "nl.officer")
    assert app_client.get(f"/api/v1/forms/{form_id}", headers=nl).status_code == 404
    assert app_client.get("/api/v1/forms", headers=nl).json()["total"] == 0
    # The IOM caseworker (same organisation) may read and submit but not import.
    caseworker = api_headers(app_client, "iom.caseworker")
    assert app_client.get(f"/api/v1/forms/{form_id}/versions", headers=caseworker).json()[0]["number"] == 1
    refused = app_client.post(f"/api/v1/forms/{form_id}/imports", headers=caseworker, files={"file": ("e.csv", b"a\n", "text/csv")})
    assert refused.status_code == 403


def test_import_refuses_binary_and_unknown_columns(app_client: Any, analyst: dict[str, str], form_id: str) -> None:
    binary = app_client.post(f"/api/v1/forms/{form_id}/imports", headers=analyst, files={"file": ("e.csv", b"\x00\x01\x02garbage", "text/csv")})
    assert binary.status_code == 415
    unknown = app_client.post(f"/api/v1/forms/{form_id}/imports", headers=analyst,
                              files={"file": ("e.csv", b"_uuid,site_name,mystery\nu1,A,1\n", "text/csv")})
    assert unknown.status_code == 422 and "mystery" in unknown.json()["detail"]


def test_xls_workbook_upload_loads_with_the_file_name_as_form_id(app_client: Any, analyst: dict[str, str]) -> None:
    corpus = Path(__file__).parent / "corpus"
    content = (corpus / "XLSForm__pyxform__tests__example_xls__yes_or_no_question.xls").read_bytes()
    response = app_client.post("/api/v1/forms", headers=analyst, files={"file": ("yes_or_no_question.xls", content, "application/vnd.ms-excel")})
    assert response.status_code == 201, response.text
    assert response.json()["form"]["form_key"] == "yes_or_no_question"
    renamed = app_client.post("/api/v1/forms", headers=analyst, files={"file": ("yes_or_no_question.xlsx", content, XLSX)})
    assert renamed.status_code == 415 and "an XLSForm must be an .xlsx or .xls workbook" in renamed.text


def test_central_zip_and_kobo_json_uploads_import(app_client: Any, analyst: dict[str, str], form_id: str) -> None:
    import io
    import json
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("site_check.csv", "SubmissionDate,site_name,admin1,admin2,visit_date,pop-households,pop-individuals,reasons,KEY\n"
                                           "2024-03-02T10:00:00Z,Camp Z,north,n1,2024-03-01,10,40,conflict,uuid:z1\n")
        archive.writestr("site_check-members.csv", "member_age,member_sex,PARENT_KEY,KEY\n30,f,uuid:z1,uuid:z1/members[1]\n")
    response = app_client.post(f"/api/v1/forms/{form_id}/imports", headers=analyst, files={"file": ("site_check.zip", buffer.getvalue(), "application/zip")})
    assert response.status_code == 201, response.text
    assert (response.json()["accepted"], response.json()["quarantined"]) == (1, 0)
    kobo = {"results": [{"_uuid": "j1", "site_name": "Camp J", "admin1": "north", "admin2": "n1", "visit_date": "2024-03-01",
                         "pop/households": "10", "pop/individuals": "40", "reasons": "conflict"}]}
    response = app_client.post(f"/api/v1/forms/{form_id}/imports", headers=analyst,
                                files={"file": ("kobo.json", json.dumps(kobo).encode(), "application/json")})
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == 1
    wrong = app_client.post(f"/api/v1/forms/{form_id}/imports", headers=analyst, files={"file": ("kobo.json", b"PK\x03\x04", "application/json")})
    assert wrong.status_code == 415
