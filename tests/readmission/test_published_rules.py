"""Agreement citations and calendars as published (issue 20), each test quoting its source."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from passage.core.cli import main
from passage.core.db import unit_of_work
from passage.core.errors import Conflict, InvalidInput
from passage.readmission import rules, service
from passage.readmission.calendars import WorkingCalendar
from passage.readmission.models import ReadmissionCase
from passage.readmission.notices import parse_notice, shipped_notices
from passage.readmission.schemas import HolidayTable
from passage.readmission.store import all_agreements
from passage.security.models import AuditEntry

D = dt.date


def _version(agreement_id: str):  # type: ignore[no-untyped-def]
    return all_agreements(None)[agreement_id].versions[-1]


def test_eu_serbia_articles_are_cited_as_published() -> None:
    """EC–Serbia readmission agreement (OJ L 334, 19.12.2007): Art. 7 "Readmission application", Art. 14
    "Transit procedures" (Art. 15 is "Costs"), Art. 16 "Data protection"."""
    version = _version("eu-serbia-template")
    assert version.transit is not None
    assert version.transit.reply_limit.citation.article == "Art. 14(2)"
    assert version.transit.transit_limit.citation.article == "Art. 14(5)"
    assert version.transit.silence_means_consent.citation.article == "Art. 14(2)"
    assert version.data_protection.shared_fields_citation.article.startswith("Art. 16")
    assert version.required_application_data_citation is not None
    assert version.required_application_data_citation.article.startswith("Art. 7")
    # the figures themselves are unchanged
    assert (version.transit.reply_limit.value, version.transit.transit_limit.value) == (5, 30)


def test_eu_sri_lanka_standard_travel_document_deemed_accepted_after_30_calendar_days() -> None:
    """EP procedure 2003/0043(CNS): "If Sri Lanka has not acknowledged receipt of the Member State's request
    within 30 calendar days, it will be deemed to accept the use of the common provisional travel document"."""
    version = _version("eu-sri-lanka")
    accepted = D(2026, 3, 2)
    deadline = rules.standard_travel_document_deemed_accepted(version, accepted)
    assert deadline is not None
    assert deadline.due == D(2026, 4, 1)  # 30 calendar days, no holiday roll-over
    assert "2003/0043(CNS)" in deadline.citation.source
    kinds = {d.kind for d in rules.case_deadlines(version, rules.CaseDates(submitted_on=D(2026, 2, 1), accepted_on=accepted))}
    assert "standard_document_deemed_accepted" in kinds
    # no longer running once the document is issued
    issued = rules.CaseDates(submitted_on=D(2026, 2, 1), accepted_on=accepted, travel_document_issued_on=D(2026, 3, 10))
    assert "standard_document_deemed_accepted" not in {d.kind for d in rules.case_deadlines(version, issued)}
    # agreements without the clause compute nothing
    assert rules.standard_travel_document_deemed_accepted(_version("eu-pakistan"), accepted) is None


def test_shipped_2026_notice_is_the_state_council_notice() -> None:
    """国务院办公厅关于2026年部分节假日安排的通知 (4 Nov 2025): "春节：2月15日…至23日…放假调休，共9天。
    2月14日（周六）、2月28日（周六）上班"; "国庆节：10月1日…至7日…共7天。9月20日（周日）、10月10日（周六）上班"."""
    (notice,) = [n for n in shipped_notices() if n.country == "CN" and n.year == 2026]
    assert notice.issued_on == D(2025, 11, 4)
    holidays = {h.date for h in notice.holidays}
    workdays = {w.date for w in notice.workdays}
    assert {D(2026, 2, d) for d in range(15, 24)} <= holidays and len(holidays) == 33
    assert workdays == {D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)}
    cal = rules.calendar_for(_version("eu-china-draft"))
    assert cal.notice_for(2026) is notice
    assert cal.is_working_day(D(2026, 2, 14)) and not cal.is_working_day(D(2026, 2, 23))
    # the holidays package is exact for 2026 (issue 20): the two calendars agree on every day of the year
    package = WorkingCalendar(HolidayTable(country="CN"))
    day = D(2026, 1, 1)
    while day.year == 2026:
        assert cal.is_working_day(day) == package.is_working_day(day), day
        day += dt.timedelta(days=1)


def _notice_2027(version: int = 1) -> dict[str, object]:
    """FICTITIOUS test data in the notice format (no 2027 notice had been published when this was written):
    New Year off from Fri 1 to Mon 4 January 2027, which the holidays package does not guess."""
    return {
        "country": "CN", "year": 2027, "version": version, "title": "Test notice (fictitious)", "issued_on": "2026-11-01",
        "source": "test data, not an official text",
        "holidays": [{"date": f"2027-01-0{d}", "name": "元旦"} for d in range(1, 5)],
        "workdays": [],
    }


def test_a_year_without_notice_is_provisional_on_every_deadline_it_touches() -> None:
    """Without an official notice for 2027 the package guesses ("2027-02-09 (observed)"): the deadline says so."""
    version = _version("eu-china-draft")
    inside = rules.reply_deadline(version, D(2026, 3, 2))
    assert not inside.provisional and inside.warning is None
    crossing = rules.reply_deadline(version, D(2026, 12, 20))
    assert crossing.provisional_years == (2027,)
    assert crossing.warning is not None and "provisional calendar" in crossing.warning and "2027" in crossing.warning
    assert "provisional calendar" in crossing.rule
    assert crossing.as_dict()["provisional_calendar"] is True
    # a calendar-day limit does not use the holiday calendar, so it is never provisional
    sri_lanka = _version("eu-sri-lanka")
    assert not rules.standard_travel_document_deemed_accepted(sri_lanka, D(2027, 5, 1)).provisional  # type: ignore[union-attr]
    # states without annual notices (Serbia) are never provisional
    serbia = _version("eu-serbia-template")
    assert not rules.reply_deadline(serbia, D(2027, 1, 4), accelerated=True).provisional


def test_loaded_notice_replaces_the_guess() -> None:
    notice = parse_notice(_notice_2027())
    version = _version("eu-china-draft")
    with_notice = version.model_copy(update={"calendar": version.calendar.model_copy(update={"notices": (*version.calendar.notices, notice)})})
    before = rules.reply_deadline(version, D(2026, 12, 20))
    after = rules.reply_deadline(with_notice, D(2026, 12, 20))
    assert not after.provisional and "CN-2027 v1" in after.rule
    # hand count from Sun 20 Dec 2026, 20 working days: 9 in December; the package guesses only 1 Jan off,
    # so Mon 4 Jan is day 10 and Mon 18 Jan day 20; with 1-4 Jan off, Tue 19 Jan is day 20.
    assert before.due == D(2027, 1, 18)
    assert after.due == D(2027, 1, 19)


def test_notice_validation_names_the_field() -> None:
    bad = _notice_2027()
    bad["holidays"] = [{"date": "2026-12-31", "name": "wrong year"}]
    with pytest.raises(InvalidInput) as err:
        parse_notice(bad)
    assert "not in 2027" in err.value.one_line()


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_calendars_load_recomputes_and_audits(demo: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`passage calendars load NOTICE.json`: stored, versioned, deadlines recomputed, each change audited."""
    with unit_of_work() as s:
        case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.agreement_slug == "eu-china-draft", ReadmissionCase.state.in_(["acknowledged", "routed"]))).first()
        assert case is not None
        case.acknowledged_on = D(2026, 12, 20)
        case.submitted_on = D(2026, 12, 18)
        service.recompute_deadlines(s, case, service.case_version(s, case))
        case_id = case.id
        old_due = {row.kind: row.due for row in case.deadlines}["reply_due"]
        assert "provisional calendar" in {row.kind: row.rule for row in case.deadlines}["reply_due"]
    path = tmp_path / "cn_2027.json"
    path.write_text(json.dumps(_notice_2027()), encoding="utf-8")
    code, out, err = _cli(capsys, "calendars", "load", str(path))
    assert code == 0, err
    body = json.loads(out)
    assert body["added"] is True and body["notice"] == "CN-2027 v1"
    moved = {c["case_id"]: c["deadlines"] for c in body["changes"]}
    assert case_id in moved
    reply = next(d for d in moved[case_id] if d["kind"] == "reply_due")
    assert reply["old_due"] == old_due.isoformat() and reply["new_due"] != reply["old_due"]
    assert reply["was_provisional"] and not reply["is_provisional"]
    with unit_of_work() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "readmission.deadlines_recomputed", AuditEntry.entity_id == case_id)).all()
        assert entries and entries[-1].details["notice"] == "CN-2027 v1"
        row = {r.kind: r for r in s.get(ReadmissionCase, case_id).deadlines}["reply_due"]  # type: ignore[union-attr]
        assert row.due.isoformat() == reply["new_due"] and "provisional calendar" not in row.rule
    # the same file again changes nothing; other content under the same version is refused
    code, out, _ = _cli(capsys, "calendars", "load", str(path))
    assert code == 0 and json.loads(out)["added"] is False
    changed = _notice_2027()
    changed["holidays"] = changed["holidays"][:3]  # type: ignore[index]
    path.write_text(json.dumps(changed), encoding="utf-8")
    code, _, err = _cli(capsys, "calendars", "load", str(path))
    assert code != 0 and "next version" in err and len(err.strip().splitlines()) == 1
    with unit_of_work() as s, pytest.raises(Conflict):
        from passage.readmission.store import store_notice

        store_notice(s, notice=parse_notice({**_notice_2027(), "title": "another text under the same version"}))
