from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from passage.core.db import session_factory
from passage.core.errors import Conflict, InvalidInput
from passage.forms import service
from passage.forms.models import FormVersion, ImportBatch, QuarantineEntry, QuarantineStatus, Submission
from passage.security.actors import system_actor
from tests.forms.xlsform_factory import CHOICES, SETTINGS, SURVEY, write_csv, write_xlsform

SYSTEM = system_actor("forms.test")

TODAY = dt.date(2024, 6, 1)
HEADER = ["_uuid", "_submission_time", "__version__", "site_name", "admin1", "admin2", "visit_date", "location",
          "pop/households", "pop/individuals", "pop/avg_size", "reasons", "reasons/conflict", "reasons/flood",
          "reasons/other", "reasons/none", "reasons_other", "_index", "_id"]


def good(uuid: str, **changes: Any) -> list[Any]:
    row = {"_uuid": uuid, "_submission_time": "2024-03-02T10:00:00", "__version__": "2024.1", "site_name": "Camp A",
           "admin1": "north", "admin2": "n1", "visit_date": "2024-03-01", "location": "12.5 44.1 0 5",
           "pop/households": "10", "pop/individuals": "40", "pop/avg_size": "4", "reasons": "conflict",
           "reasons/conflict": "1", "reasons/flood": "0", "reasons/other": "0", "reasons/none": "0",
           "reasons_other": "", "_index": "", "_id": "7"}
    row.update(changes)
    return [row[h] for h in HEADER]


@pytest.fixture
def loaded(session: Session, site_form_path: Path) -> service.LoadResult:
    result = service.load_form(session, actor=SYSTEM, content=site_form_path.read_bytes(), filename=site_form_path.name)
    session.commit()
    return result


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_load_is_idempotent_and_versions_are_kept(session: Session, site_form_path: Path, tmp_path: Path, loaded: service.LoadResult) -> None:
    assert loaded.created and loaded.version.number == 1
    again = service.load_form(session, actor=SYSTEM, content=site_form_path.read_bytes(), filename="again.xlsx")
    assert not again.created and again.version.id == loaded.version.id
    settings = [SETTINGS[0], ["Site check", "site_check", "2024.2", "English (en)"]]
    v2 = write_xlsform(tmp_path / "v2.xlsx", SURVEY, CHOICES, settings)
    second = service.load_form(session, actor=SYSTEM, content=v2.read_bytes(), filename="v2.xlsx")
    assert second.created and second.version.number == 2 and second.form.current_version_id == second.version.id
    stored = session.get(FormVersion, loaded.version.id)
    assert stored is not None and stored.xlsx == site_form_path.read_bytes() and stored.definition["version"] == "2024.1"
    changed = write_xlsform(tmp_path / "changed.xlsx", SURVEY[:-1], CHOICES, settings)
    with pytest.raises(Conflict, match="already has a version 2024.2"):
        service.load_form(session, actor=SYSTEM, content=changed.read_bytes(), filename="changed.xlsx")


def test_import_accepts_quarantines_and_counts_reasons(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", HEADER, [
        good("u1"),
        good("u2", **{"pop/individuals": "3"}),  # constraint
        good("u3", admin2="s1"),  # choice filter
        good("u4", site_name=""),  # required
        good("u5", **{"pop/households": "many"}),  # type
        good("", site_name="Camp B"),  # missing uuid
        good("u7", reasons="", **{"reasons/flood": "1", "reasons/conflict": "0"}),  # derived select columns
    ])
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    session.commit()
    assert (report.rows_read, report.accepted, report.quarantined, report.duplicates) == (7, 2, 5, 0)
    assert report.quarantined_by_reason == {"constraint": 1, "choice": 1, "required": 1, "type": 1, "missing_uuid": 1}
    entries = {e.row_number: e for e in service.list_quarantine(session, form_ref="site_check", actor=SYSTEM)}
    assert sorted(entries) == [3, 4, 5, 6, 7]
    assert (entries[3].field, entries[3].reason, entries[3].uuid) == ("pop/individuals", "constraint", "u2")
    assert entries[4].field == "admin2" and entries[5].field == "site_name"
    assert entries[6].data["pop/households"] == "many"  # the raw row is kept whole, to be fixed
    accepted = {s.uuid: s for s in service.iter_submissions(session, form_ref="site_check", actor=SYSTEM)}
    assert accepted["u7"].data["reasons"] == ["flood"]
    assert accepted["u1"].submission_time is not None and accepted["u1"].submission_time.year == 2024
    assert accepted["u1"].source_row == 2


def test_reimport_skips_duplicates_and_quarantines_uuid_conflicts(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", HEADER, [good("u1"), good("u2", **{"pop/individuals": "3"})])
    service.import_export(session, actor=SYSTEM, form_ref="site_check", path=first, today=TODAY)
    session.commit()
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=first, today=TODAY)
    session.commit()
    assert (report.accepted, report.duplicates, report.quarantined) == (0, 2, 0)
    assert count(session, Submission) == 1 and count(session, QuarantineEntry) == 1
    changed = write_csv(tmp_path / "b.csv", HEADER, [good("u1", site_name="Camp Z"), good("u9"), good("u9")])
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=changed, today=TODAY)
    session.commit()
    assert (report.accepted, report.duplicates, report.quarantined) == (1, 1, 1)
    assert report.quarantined_by_reason == {"uuid_conflict": 1}
    assert count(session, Submission) == 2


def test_fix_and_revalidate_quarantined_row(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", HEADER, [good("u2", **{"pop/individuals": "3", "pop/households": "x"})])
    service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    session.commit()
    entry = service.list_quarantine(session, form_ref="site_check", actor=SYSTEM)[0]
    assert {e["reason"] for e in entry.errors} == {"type"}
    fixed = service.fix_quarantine_entry(session, actor=SYSTEM, entry_id=entry.id, changes={"pop/households": "1"}, expected_version=entry.version, today=TODAY)
    session.commit()
    assert fixed.status == QuarantineStatus.ACCEPTED and fixed.resolved_at is not None
    stored = session.get(Submission, fixed.submission_id)
    assert stored is not None and stored.uuid == "u2" and stored.data["pop/households"] == 1
    assert service.list_quarantine(session, form_ref="site_check", actor=SYSTEM) == []


def test_fix_that_still_fails_stays_open_with_new_errors(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", HEADER, [good("u2", **{"pop/individuals": "3"})])
    service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    session.commit()
    entry = service.list_quarantine(session, form_ref="site_check", actor=SYSTEM)[0]
    version = entry.version
    still = service.fix_quarantine_entry(session, actor=SYSTEM, entry_id=entry.id, changes={"pop/individuals": "7"}, expected_version=version, today=TODAY)
    session.commit()
    assert still.status == QuarantineStatus.OPEN and still.reason == "constraint" and still.version == version + 1
    with pytest.raises(Conflict):
        service.fix_quarantine_entry(session, actor=SYSTEM, entry_id=entry.id, changes={"pop/individuals": "70"}, expected_version=version, today=TODAY)
    with pytest.raises(InvalidInput, match="unknown field"):
        service.fix_quarantine_entry(session, actor=SYSTEM, entry_id=entry.id, changes={"surname": "x"}, expected_version=still.version, today=TODAY)
    done = service.fix_quarantine_entry(session, actor=SYSTEM, entry_id=entry.id, changes={"pop/individuals": "70"}, expected_version=still.version, today=TODAY)
    session.commit()
    assert done.status == QuarantineStatus.ACCEPTED and done.submission_id
    submission = session.get(Submission, done.submission_id)
    assert submission is not None and submission.source == "quarantine" and submission.data["pop/individuals"] == 70


def test_revalidate_after_corrected_form_version(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", HEADER, [good("u2", **{"site_name": "x" * 45})])
    service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    session.commit()
    survey = [list(row) for row in SURVEY]
    survey[1][5] = "string-length(.) <= 80"
    settings = [SETTINGS[0], ["Site check", "site_check", "2024.2", "English (en)"]]
    v2 = write_xlsform(tmp_path / "v2.xlsx", survey, CHOICES, settings)
    service.load_form(session, actor=SYSTEM, content=v2.read_bytes(), filename="v2.xlsx")
    unchanged = service.revalidate_quarantine(session, actor=SYSTEM, form_ref="site_check", today=TODAY)
    assert (unchanged.checked, unchanged.accepted, unchanged.still_open) == (1, 0, 1)
    moved = service.revalidate_quarantine(session, actor=SYSTEM, form_ref="site_check", use_current_version=True, today=TODAY)
    session.commit()
    assert (moved.checked, moved.accepted) == (1, 1)
    assert service.count_submissions(session, form_ref="site_check", actor=SYSTEM) == 1


def test_unknown_columns_and_wrong_version_are_refused(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    bad_header = write_csv(tmp_path / "labels.csv", [*HEADER, "Name of the site"], [[*good("u1"), "x"]])
    with pytest.raises(InvalidInput, match="match no field of the form: Name of the site"):
        service.import_export(session, actor=SYSTEM, form_ref="site_check", path=bad_header, today=TODAY)
    wrong = write_csv(tmp_path / "v9.csv", HEADER, [good("u1", __version__="2023.9")])
    with pytest.raises(InvalidInput, match="version\\(s\\) 2023.9 of form site_check, which are not loaded"):
        service.import_export(session, actor=SYSTEM, form_ref="site_check", path=wrong, today=TODAY)
    no_uuid = write_csv(tmp_path / "nouuid.csv", HEADER[1:], [good("u1")[1:]])
    with pytest.raises(InvalidInput, match="no _uuid"):
        service.import_export(session, actor=SYSTEM, form_ref="site_check", path=no_uuid, today=TODAY)
    assert count(session, ImportBatch) == 0


def test_group_dash_headers_and_bare_names(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    header = [h.replace("pop/", "pop-") for h in HEADER]
    path = write_csv(tmp_path / "central.csv", header, [good("u1")])
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    assert report.accepted == 1
    header = [h.replace("pop/", "") for h in HEADER]
    path = write_csv(tmp_path / "bare.csv", header, [good("u2")])
    assert service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY).accepted == 1


def test_xlsx_export_with_repeat_sheet(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    main = workbook.active
    assert main is not None
    main.title = "Site check"
    header = [h for h in HEADER if h != "_index"] + ["_index"]
    main.append(header)
    for index, uuid in enumerate(["u1", "u2"], start=1):
        values = dict(zip(HEADER, good(uuid), strict=True))
        values["_index"] = index
        values["pop/households"] = 10  # numeric cell
        values["visit_date"] = dt.datetime(2024, 3, 1)  # date cell
        main.append([values[h] for h in header])
    members = workbook.create_sheet("members")
    members.append(["member_age", "member_sex", "_index", "_parent_index", "_parent_table_name"])
    members.append([30, "f", 1, 1, "Site check"])
    members.append([4, "m", 2, 1, "Site check"])
    members.append([150, "m", 3, 2, "Site check"])  # constraint: quarantines parent u2
    members.append([20, "f", 4, 9, "Site check"])  # orphan
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    session.commit()
    assert (report.accepted, report.quarantined) == (1, 2)
    assert report.quarantined_by_reason == {"constraint": 1, "repeat_link": 1}
    accepted = next(service.iter_submissions(session, form_ref="site_check", actor=SYSTEM))
    assert accepted.data["members"] == [{"members/member_age": 30, "members/member_sex": "f"}, {"members/member_age": 4, "members/member_sex": "m"}]
    assert accepted.data["member_count"] == 2
    entries = {e.reason: e for e in service.list_quarantine(session, form_ref="site_check", actor=SYSTEM)}
    assert entries["constraint"].field == "members[1]/member_age" and entries["constraint"].row_number == 3
    assert entries["repeat_link"].row_number == 5
    other = write_xlsform(tmp_path / "x.xlsx", [["a"], ["b"]])
    workbook2 = openpyxl.load_workbook(path)
    workbook2.create_sheet("stray").append(["a"])
    workbook2.save(other)
    with pytest.raises(InvalidInput, match="sheet stray is not a repeat"):
        service.import_export(session, actor=SYSTEM, form_ref="site_check", path=other, today=TODAY)


def test_crash_mid_import_leaves_nothing(engine: Engine, loaded: service.LoadResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from passage.core.db import unit_of_work

    monkeypatch.setattr(service, "INSERT_CHUNK", 10)
    path = write_csv(tmp_path / "big.csv", HEADER, [good(f"u{i}") for i in range(55)])

    def crash(done: int, total: int) -> None:
        if done >= 30:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError), unit_of_work(engine) as session:
        service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY, progress=crash)
    with session_factory(engine)() as fresh:
        assert count(fresh, Submission) == 0 and count(fresh, ImportBatch) == 0
    with unit_of_work(engine) as session:
        report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY)
    assert report.accepted == 55


def test_web_entry_uses_the_same_validation(session: Session, loaded: service.LoadResult) -> None:
    from tests.forms.xlsform_factory import valid_row

    with pytest.raises(InvalidInput) as caught:
        service.submit_entry(session, actor=SYSTEM, form_ref="site_check", data=valid_row(**{"pop/individuals": "2"}), today=TODAY)
    assert [(f.path, f.reason) for f in caught.value.fields] == [("pop/individuals", "constraint")]  # type: ignore[attr-defined]
    submission = service.submit_entry(session, actor=SYSTEM, form_ref="site_check", data=valid_row(), submission_uuid="w1", today=TODAY)
    assert submission.source == "web" and submission.data["pop/individuals"] == 42
    with pytest.raises(Conflict):
        service.submit_entry(session, actor=SYSTEM, form_ref="site_check", data=valid_row(), submission_uuid="w1", today=TODAY)


def test_two_workers_give_the_same_outcome_in_row_order(engine: Engine, loaded: service.LoadResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from passage.core.db import unit_of_work

    monkeypatch.setattr(service, "PARALLEL_MIN_ROWS", 10)
    monkeypatch.setattr(service, "WORKER_CHUNK", 7)
    rows = [good(f"u{i}", **({"pop/individuals": "3"} if i % 5 == 0 else {})) for i in range(40)]
    rows.append(good("u1"))  # the same uuid again, same data: a duplicate inside the file
    path = write_csv(tmp_path / "workers.csv", HEADER, rows)
    with unit_of_work(engine) as session:
        report = service.import_export(session, actor=SYSTEM, form_ref="site_check", path=path, today=TODAY, workers=2)
    assert (report.accepted, report.quarantined, report.duplicates) == (32, 8, 1)
    with session_factory(engine)() as fresh:
        stored = {s.uuid: s for s in service.iter_submissions(fresh, form_ref="site_check", actor=SYSTEM)}
        assert stored["u1"].data["pop/households"] == 10 and stored["u1"].source_row == 3  # decrypts through the ORM
        quarantined = service.list_quarantine(fresh, form_ref="site_check", actor=SYSTEM)
        assert [e.uuid for e in quarantined] == [f"u{i}" for i in range(0, 40, 5)]
        assert quarantined[1].data["pop/individuals"] == "3"


def test_fix_value_reads_repeat_instances() -> None:
    data = {"site_name": "Camp A", "members": [{"members/member_age": "30"}, {"members/member_age": "130"}]}
    assert service.fix_value(data, "site_name") == "Camp A"
    assert service.fix_value(data, "members[2]/member_age") == "130"
    assert service.fix_value(data, "members[3]/member_age") == ""
    assert service.fix_value(data, "members") == ""


def test_page_forms_filters_sorts_and_pages_in_sql(session: Session, loaded: service.LoadResult, tmp_path: Path) -> None:
    other = write_xlsform(tmp_path / "other.xlsx", SURVEY, CHOICES, [["form_title", "form_id", "version"], ["Another check", "another", "1"]])
    service.load_form(session, actor=SYSTEM, content=other.read_bytes(), filename=other.name)
    forms, total = service.page_forms(session, offset=0, limit=1, actor=SYSTEM)
    assert total == 2 and [f.form_key for f in forms] == ["another"]
    forms, total = service.page_forms(session, offset=1, limit=1, actor=SYSTEM)
    assert [f.form_key for f in forms] == ["site_check"]
    forms, total = service.page_forms(session, q="SITE", sort="title", actor=SYSTEM)
    assert total == 1 and forms[0].form_key == "site_check"
    assert service.page_forms(session, q="%", actor=SYSTEM)[1] == 0
