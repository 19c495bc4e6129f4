"""Imports as the field exports them: Kobo `;` CSV, label headers, ODK Central CSV ZIP, Kobo and Central JSON."""

from __future__ import annotations

import csv
import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from passage.core.errors import InvalidInput
from passage.forms import service
from passage.security.actors import system_actor
from tests.forms.test_service import HEADER, TODAY, good

assert isinstance(TODAY, dt.date)

SYSTEM = system_actor("forms.test")


@pytest.fixture
def loaded(session: Session, site_form_path: Path) -> service.LoadResult:
    result = service.load_form(session, actor=SYSTEM, content=site_form_path.read_bytes(), filename=site_form_path.name)
    session.commit()
    return result


def _write(path: Path, header: list[str], rows: list[list[Any]], delimiter: str = ",") -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_kobo_semicolon_csv_is_detected_and_imported(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    path = _write(tmp_path / "kobo.csv", HEADER, [good("u1"), good("u2", **{"pop/individuals": "3"})], delimiter=";")
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    assert (report.rows_read, report.accepted, report.quarantined) == (2, 1, 1)
    assert report.quarantined_by_reason == {"constraint": 1}


def test_semicolon_inside_quoted_values_does_not_mislead_detection(tmp_path: Path) -> None:
    from passage.forms.exports import read_export

    path = tmp_path / "e.csv"
    path.write_text('_uuid,site_name\nu1,"a;b;c;d"\n', encoding="utf-8")
    raw = read_export(path)
    assert raw.sheets[0][1] == ["_uuid", "site_name"] and raw.sheets[0][2][0][1] == ["u1", "a;b;c;d"]


def test_label_headers_and_label_values_are_read_back(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    by_name = dict(zip(HEADER, good("u1"), strict=True))
    labels = {"site_name": "Site name", "admin1": "Province", "admin2": "District", "visit_date": "Date of visit",
              "location": "Location", "pop/households": "Population/Households", "pop/individuals": "Population/Individuals",
              "pop/avg_size": "Average size", "reasons": "Reasons", "reasons_other": "Other reason"}
    header = ["_uuid", "_submission_time", "__version__", *labels.values()]
    row = [by_name["_uuid"], by_name["_submission_time"], by_name["__version__"]] + [by_name[name] for name in labels]
    row[header.index("Province")] = "North"  # a choice label, as Kobo writes with "labels" values
    row[header.index("District")] = "North One"
    path = _write(tmp_path / "labels.csv", header, [row], delimiter=";")
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    assert (report.accepted, report.quarantined) == (1, 0), report.quarantined_by_reason
    stored = next(service.iter_submissions(session, form_ref="site_check", actor=SYSTEM))
    assert stored.data["admin1"] == "north" and stored.data["admin2"] == "n1" and stored.data["pop/households"] == 10


def test_odk_central_csv_zip_links_repeats_by_key_and_counts_attachments(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    main_header = ["SubmissionDate", "site_name", "admin1", "admin2", "visit_date", "location-Latitude", "location-Longitude", "pop-households",
                   "pop-individuals", "pop-avg_size", "reasons", "reasons_other", "meta-instanceID", "KEY", "FormVersion"]
    rows = []
    for key in ("uuid:a1", "uuid:a2"):
        rows.append(["2024-03-02T10:00:00.000Z", "Camp A", "north", "n1", "2024-03-01", "12.5", "44.1", "10", "40", "4", "conflict", "",
                     key, key, "2024.1"])
    path = tmp_path / "site_check.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("site_check.csv", _csv_text(main_header, rows))
        archive.writestr("site_check-members.csv", _csv_text(
            ["member_age", "member_sex", "PARENT_KEY", "KEY"],
            [["30", "f", "uuid:a1", "uuid:a1/members[1]"], ["150", "m", "uuid:a2", "uuid:a2/members[1]"], ["4", "m", "uuid:zz", "uuid:zz/members[1]"]],
        ))
        archive.writestr("media/1700000000.jpg", b"\xff\xd8")
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    assert (report.rows_read, report.accepted, report.quarantined) == (3, 1, 2)
    assert report.quarantined_by_reason == {"constraint": 1, "repeat_link": 1}
    assert report.attachments == 1
    stored = next(service.iter_submissions(session, form_ref="site_check", actor=SYSTEM))
    assert stored.uuid == "a1" and stored.data["members"] == [{"members/member_age": 30, "members/member_sex": "f"}]


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(",".join(cells) for cells in [header, *rows]) + "\n"


def test_kobo_json_and_central_json_import(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    kobo = {"count": 1, "results": [{
        "_id": 5, "_uuid": "k1", "_submission_time": "2024-03-02T10:00:00", "__version__": "2024.1", "formhub/uuid": "x",
        "site_name": "Camp K", "admin1": "north", "admin2": "n1", "visit_date": "2024-03-01", "pop/households": "10",
        "pop/individuals": "40", "reasons": "conflict", "meta/instanceID": "uuid:k1",
        "members": [{"members/member_age": "30", "members/member_sex": "f"}], "_attachments": [],
    }]}
    path = tmp_path / "kobo.json"
    path.write_text(json.dumps(kobo), encoding="utf-8")
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    assert (report.accepted, report.quarantined) == (1, 0), report.quarantined_by_reason
    central = {"value": [{
        "__id": "uuid:c1", "__system": {"submissionDate": "2024-03-02T10:00:00Z", "formVersion": "2024.1"},
        "site_name": "Camp C", "admin1": "south", "admin2": "s1", "visit_date": "2024-03-01",
        "location": {"type": "Point", "coordinates": [44.1, 12.5, 3], "properties": {"accuracy": 5}},
        "pop": {"households": 2, "individuals": 9, "avg_size": None}, "reasons": "flood",
        "members": [{"member_age": 40, "member_sex": "m"}], "meta": {"instanceID": "uuid:c1"},
    }]}
    path = tmp_path / "central.json"
    path.write_text(json.dumps(central), encoding="utf-8")
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    assert (report.accepted, report.quarantined) == (1, 0), report.quarantined_by_reason
    stored = {s.uuid: s for s in service.iter_submissions(session, form_ref="site_check", actor=SYSTEM)}
    assert stored["c1"].data["location"] == [12.5, 44.1, 3, 5] and stored["c1"].data["pop/individuals"] == 9
    assert stored["c1"].data["members"] == [{"members/member_age": 40, "members/member_sex": "m"}]


def test_unreadable_json_and_zip_are_refused_with_the_file_named(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("{nope", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"^x.json: not readable JSON"):
        service.import_export(session, actor=SYSTEM, form_ref="site_check", path=bad, today=TODAY)
    zipped = tmp_path / "y.zip"
    zipped.write_bytes(b"PK-not")
    with pytest.raises(InvalidInput, match=r"^y.zip: not a readable ZIP"):
        service.import_export(session, actor=SYSTEM, form_ref="site_check", path=zipped, today=TODAY)
