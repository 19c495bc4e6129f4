"""`passage retention run`: cases aged past their agreement's retention lose their personal data through
the tested erasure rule; statistics do not change; every erasure is audited; a dry run changes nothing."""

from __future__ import annotations

import ast
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from passage.core.cli import main
from passage.core.db import unit_of_work
from passage.readmission import safeguards, service
from passage.readmission.models import ReadmissionCase
from passage.readmission.store import PERSONAL_CHILD_COLUMNS, PERSONAL_STORAGE, personal_record
from passage.security import retention
from passage.security.models import AuditEntry, User


def _analyst(session: Any) -> User:
    return session.scalars(select(User).where(User.username == "analyst")).one()


def _statistics(session: Any) -> list[dict[str, Any]]:
    rows = service.statistics_rows(session, actor=_analyst(session), group_by=["agreement_id", "requesting_state", "province", "period"], granularity="month")
    return [r.as_dict() for r in rows]


def test_every_personal_field_has_a_storage_and_every_personal_column_is_covered() -> None:
    assert set(PERSONAL_STORAGE) == set(safeguards.PERSONAL_FIELDS)
    covered = {("ReadmissionCase", column) for column in PERSONAL_STORAGE.values() if not column.startswith("(")}
    covered |= {(cls, column) for by_class in PERSONAL_CHILD_COLUMNS.values() for cls, columns in by_class.items() for column in columns}
    tree = ast.parse(Path(service.__file__).with_name("models.py").read_text(encoding="utf-8"))
    source = Path(service.__file__).with_name("models.py").read_text(encoding="utf-8").splitlines()
    marked = {(node.name, item.target.id) for node in tree.body if isinstance(node, ast.ClassDef) for item in node.body
              if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and "# PERSONAL" in source[item.lineno - 1]}
    assert len(marked) >= 20 and marked <= covered, marked - covered


def test_aged_cases_are_erased_statistics_unchanged_and_audited(demo: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with unit_of_work() as s:
        closed = {c.id: c.closed_on for c in s.scalars(select(ReadmissionCase).where(ReadmissionCase.closed_on.is_not(None)))}
        assert closed
        before = _statistics(s)
        kept_before = {c.id: (c.sex, c.nationality, c.state, c.submitted_on, c.transferred_on) for c in s.scalars(select(ReadmissionCase))}
    aged = max(closed.values()) + dt.timedelta(days=3 * 365)
    # a dry run names what is due and changes nothing
    with pytest.raises(SystemExit) as exit_info:
        main(["retention", "run", "--dry-run", "--json", "--today", aged.isoformat()])
    assert exit_info.value.code in (0, None)
    dry = json.loads(capsys.readouterr().out)
    [policy] = [p for p in dry["policies"] if p["record_type"] == "readmission_case"]
    assert dry["dry_run"] is True and policy["expired"] == len(closed) and policy["erased"] == 0 and set(policy["ids"]) == set(closed)
    with unit_of_work() as s:
        assert all(personal_record(s.get(ReadmissionCase, case_id))["surname"] for case_id in closed)
    # the real run, from the command line as cron would start it
    with pytest.raises(SystemExit) as exit_info:
        main(["retention", "run", "--today", aged.isoformat()])
    assert exit_info.value.code in (0, None)
    assert "record(s) erased" in capsys.readouterr().out
    with unit_of_work() as s:
        for case_id in closed:
            case = s.get(ReadmissionCase, case_id)
            assert case.erased_on == aged
            record = personal_record(case)
            assert all(record.get(name) is None for name in safeguards.PERSONAL_FIELDS), case_id
            assert case.aliases == [] and all(d.content is None for d in case.documents)
        kept_after = {c.id: (c.sex, c.nationality, c.state, c.submitted_on, c.transferred_on) for c in s.scalars(select(ReadmissionCase))}
        assert kept_after == kept_before
        assert _statistics(s) == before
        erasures = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "readmission.erase", AuditEntry.entity_id.in_(closed)))
        assert erasures == len(closed)
        runs = s.scalars(select(AuditEntry).where(AuditEntry.action == "retention.run", AuditEntry.entity_type == "readmission_case")).all()
        assert len(runs) == 1 and runs[0].details["erased"] == len(closed)
    # open cases keep their data; a second run erases nothing
    with unit_of_work() as s:
        report = retention.run(s, today=aged)
        assert [len(r.erased) for r in report.runs if r.policy.record_type == "readmission_case"] == [0]
        still_open = s.scalars(select(ReadmissionCase).where(ReadmissionCase.closed_on.is_(None), ReadmissionCase.surname.is_not(None))).all()
        assert still_open


def test_nothing_is_erased_before_the_retention_period_ends(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        closed_on = min(c.closed_on for c in s.scalars(select(ReadmissionCase).where(ReadmissionCase.closed_on.is_not(None))))
        version = service.case_version(s, s.scalars(select(ReadmissionCase).where(ReadmissionCase.closed_on == closed_on)).first())
        due = safeguards.erasure_due_on(version, closed_on)
        report = retention.run(s, today=due - dt.timedelta(days=1), dry_run=True)
        [run] = [r for r in report.runs if r.policy.record_type == "readmission_case"]
        assert all(s.get(ReadmissionCase, i).closed_on != closed_on for i in run.expired)
        report = retention.run(s, today=due, dry_run=True)
        [run] = [r for r in report.runs if r.policy.record_type == "readmission_case"]
        assert any(s.get(ReadmissionCase, i).closed_on == closed_on for i in run.expired)
