"""The service on the real migrations: every allowed transition, a sample of forbidden ones, the deadline
job, retention and erasure, identification candidates, and correction notices."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from passage.core.db import unit_of_work
from passage.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from passage.readmission import service, workflow
from passage.readmission.models import CorrectionNotice, ReadmissionCase
from passage.security.actors import Actor
from passage.security.demo import DemoContext
from passage.security.models import AuditEntry, Organisation, User
from tests.readmission.conftest import demo_context

TODAY = service.today_utc()


def context(session: Session) -> DemoContext:
    return demo_context(session)  # type: ignore[no-any-return]


def user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def actor_for(session: Session, case: ReadmissionCase, side: workflow.Side, role: workflow.Role) -> Actor:
    if side is workflow.Side.system:
        return service.DEADLINE_JOB
    if side is workflow.Side.requesting:
        return user(session, "nl.officer" if case.requesting_state == "NL" else "fr.officer")
    if side is workflow.Side.requested_central:
        return user(session, "mps.central")
    province = {"CN-FJ": "fj.officer", "CN-ZJ": "zj.officer", "CN-GD": "gd.officer"}[case.province_code or ""]
    return user(session, province)


def payload_for(session: Session, action: str, day: dt.date = TODAY) -> dict[str, Any]:
    fujian = session.scalars(select(Organisation).where(Organisation.province == "CN-FJ")).one()
    soon = (day + dt.timedelta(days=3)).isoformat()
    return {
        "route": {"province_org_id": fujian.id}, "verify_identity": {"method": "interview"}, "record_not_verified": {"method": "interview", "reason": "no match"},
        "request_extension": {"reason": "registry office closed"}, "refuse": {"reason": "not_a_national"}, "issue_travel_document": {"document_number": "LXZ000111"},
        "reissue_travel_document": {"document_number": "LXZ000222"}, "schedule_transfer": {"transfer_date": soon, "place_kind": "border_crossing_point", "place_code": "ZHUHAI"},
        "reschedule_transfer": {"transfer_date": soon, "place_kind": "airport", "place_code": "CAN", "flight": "CZ346"}, "suspend_transfer": {"reason": "medical"},
        "withdraw": {"reason": "left voluntarily"}, "consent_transit": {"border_crossing_point": "PEK"}, "refuse_transit": {"reason": "r"}, "revoke_transit": {"reason": "r"},
        "withdraw_transit": {"reason": "r"},
    }.get(action, {})


def test_every_allowed_transition_from_every_source_state(demo: dict[str, str]) -> None:
    """Each (action, source state) of both state machines succeeds for the right role and side, and lands in its target."""
    taken = []
    with unit_of_work() as s:
        cases = list(s.scalars(select(ReadmissionCase)))
        for procedure, transitions in workflow.FLOWS.items():
            for t in transitions:
                for source in sorted(t.sources):
                    candidates = [c for c in cases if c.procedure == procedure and c.state == source.value and not any(h.lifted_on is None for h in c.holds)]
                    assert candidates, (t.action, source)
                    case = candidates[0]
                    side = next(iter(sorted(t.sides)))
                    role = next(iter(sorted(t.roles)))
                    day = max(e.occurred_at for e in case.events).date()  # act on the case's own clock
                    savepoint = s.begin_nested()
                    result = service.transition(s, actor=actor_for(s, case, side, role), case_id=case.id, expected_version=case.version, action=t.action, payload=payload_for(s, t.action, day), today=day)
                    assert result.state == (t.target or source).value
                    assert result.events[-1].action == t.action
                    if result.state in {x.value for x in workflow.TERMINAL_STATES}:
                        assert result.deadlines == [] and result.closed_on == day
                    savepoint.rollback()
                    s.expire_all()
                    taken.append((t.action, source))
    assert len(taken) == sum(len(t.sources) for flow in workflow.FLOWS.values() for t in flow)


FORBIDDEN_SAMPLE = [
    ("nl.officer", "submitted", "acknowledge"),
    ("mps.central", "routed", "verify_identity"),
    ("province", "identity_verified", "accept"),
    ("mps.central", "travel_document_issued", "schedule_transfer"),
    ("mps.central", "acknowledged", "withdraw"),
    ("requesting", "accepted", "issue_travel_document"),
]


def test_forbidden_transitions_are_403_and_audited(demo: dict[str, str]) -> None:
    for username, state, action in FORBIDDEN_SAMPLE:
        with unit_of_work() as s:
            if username in {"province", "requesting"}:
                case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.state == state)).first()
                assert case is not None
                side = workflow.Side.routed_province if username == "province" else workflow.Side.requesting
                actor = actor_for(s, case, side, workflow.Role.provincial_officer)
                assert actor is not None
            else:
                actor = user(s, username)
                visible, _, _ = service.list_cases(s, actor=actor, filters=service.CaseFilter(state=state, limit=50), audit_list=False)
                case = next(c for c in visible if c.procedure == "readmission")
            case_id, version = case.id, case.version
            with pytest.raises(Forbidden):
                service.transition(s, actor=actor, case_id=case_id, expected_version=version, action=action, payload=payload_for(s, action))
        with unit_of_work() as s:
            refused = s.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused", AuditEntry.entity_id == case_id)).all()
            assert [r.details["operation"] for r in refused][-1] == action
            assert s.get(ReadmissionCase, case_id).state == state  # nothing changed


def test_other_state_and_other_province_get_not_found(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        nl_case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.requesting_state == "NL")).first()
        fj_case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.province_code == "CN-FJ")).first()
        assert nl_case is not None and fj_case is not None
        with pytest.raises(NotFound):
            service.read_case(s, actor=user(s, "fr.officer"), case_id=nl_case.id)
        with pytest.raises(NotFound):
            service.read_case(s, actor=user(s, "zj.officer"), case_id=fj_case.id)
        for name in ("iom.caseworker", "analyst", "admin"):
            # no readmission:read: the service itself refuses (as the route would), not just an empty scope
            with pytest.raises(Forbidden):
                service.list_cases(s, actor=user(s, name), filters=service.CaseFilter(), audit_list=False)
        drafts = service.list_cases(s, actor=user(s, "mps.central"), filters=service.CaseFilter(state="draft"), audit_list=False)
        assert drafts[1].value == 0  # drafts never reach the requested state


def test_illegal_transition_lists_allowed(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.state == "transferred")).first()
        assert case is not None
        with pytest.raises(Conflict) as caught:
            service.transition(s, actor=user(s, "mps.central"), case_id=case.id, expected_version=case.version, action="accept")
        assert caught.value.extra["allowed_transitions"] == []


def test_deadline_job_deems_acceptance_once(demo: dict[str, str]) -> None:
    later = TODAY + dt.timedelta(days=120)
    with unit_of_work() as s:
        waiting = s.scalar(select(func.count()).select_from(ReadmissionCase).where(ReadmissionCase.state.in_(["acknowledged", "routed", "identity_verified", "identity_not_verified"]))) or 0
        first = [a for a in service.run_deadline_job(s, today=later, apply=True) if a.action == "deem_accepted"]
    assert 0 < len(first) <= waiting  # accelerated cases: the draft gives no deemed acceptance there
    with unit_of_work() as s:
        second = [a for a in service.run_deadline_job(s, today=later, apply=True) if a.action == "deem_accepted"]
        assert second == []
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "readmission.deem_accepted", AuditEntry.actor_user_id == "system")).all()
        assert {e.details["system_job"] for e in entries} == {"readmission.deadlines"}  # the job's named system actor
        accepted = {e.entity_id for e in entries}
        assert {a.case_id for a in first} <= accepted
        case = s.get(ReadmissionCase, first[0].case_id)
        assert case.state == "deemed_accepted" and case.accepted_on == first[0].due + dt.timedelta(days=1)
        assert {d.kind for d in case.deadlines} >= {"transfer_due"}


def test_tick_cli_applies_through_the_service(demo: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from passage.core.cli import main

    later = (TODAY + dt.timedelta(days=120)).isoformat()
    for expected_nonzero in (True, False):
        with pytest.raises(SystemExit) as exit_info:
            main(["readmission", "tick", "--today", later, "--apply"])
        assert exit_info.value.code in (0, None)
        body = json.loads(capsys.readouterr().out)
        assert bool(body["applied"]) is expected_nonzero


def test_retention_erases_personal_data_keeps_statistics_and_notifies(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        closed = s.scalars(select(ReadmissionCase).where(ReadmissionCase.state == "transferred")).first()
        assert closed is not None and closed.closed_on is not None
        case_id, closed_on = closed.id, closed.closed_on
        assert case_id not in service.erase_expired(s, today=closed_on + dt.timedelta(days=729))
    with unit_of_work() as s:
        erased = service.erase_expired(s, today=closed_on + dt.timedelta(days=730))
        assert case_id in erased
    with unit_of_work() as s:
        case = s.get(ReadmissionCase, case_id)
        assert case.erased_on is not None and case.surname is None and case.photo is None and case.aliases == []
        assert all(d.content is None for d in case.documents) and case.travel_document_number is None
        assert (case.sex, case.nationality, case.state, case.transferred_on) != (None, None, None, None)
        raw = s.execute(text("SELECT surname, given_names FROM readmission_case WHERE id = :id"), {"id": case_id}).one()
        assert raw == (None, None)
        notice = s.scalars(select(CorrectionNotice).where(CorrectionNotice.case_id == case_id, CorrectionNotice.kind == "erasure")).one()
        assert "surname" in notice.fields and notice.counterpart_org_id == case.requested_central_org_id
        rows = service.statistics_rows(s, actor=user(s, "analyst"), group_by=["agreement_id"], granularity="year")
        assert sum(r.transfers for r in rows) >= 3  # the erased case still counts
        assert case_id not in service.erase_expired(s, today=closed_on + dt.timedelta(days=800))  # idempotent
        mps = user(s, "mps.central")
        service.acknowledge_notice(s, actor=mps, case_id=case_id, notice_id=notice.id)
        assert notice.acknowledged_at is not None


def test_correction_after_sharing_is_notified(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.state == "routed", ReadmissionCase.requesting_state == "NL")).first()
        if case is None:
            case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.state == "routed")).one()
        officer = user(s, "nl.officer" if case.requesting_state == "NL" else "fr.officer")
        service.edit_application(s, actor=officer, case_id=case.id, expected_version=case.version, changes={"place_of_birth": "Changle", "physical_description": "height 1.61 m"})
        notice = case.notices[-1]
        assert notice.kind == "correction" and notice.fields == ["physical_description", "place_of_birth"]
        with pytest.raises(InvalidInput) as caught:
            service.edit_application(s, actor=officer, case_id=case.id, expected_version=case.version, changes={"date_of_birth": "1990-02-30", "colour": "x"})
        assert {f.path for f in caught.value.fields} == {"application.date_of_birth", "application.colour"}
        assert "1990-02-30" not in str(caught.value.as_dict())


def test_identification_candidates_confirm_and_reject(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.state == "routed")).first()
        assert case is not None
        officer = actor_for(s, case, workflow.Side.routed_province, workflow.Role.provincial_officer)
        assert officer is not None
        other = user(s, next(u for u in ("fj.officer", "zj.officer", "gd.officer") if u != officer.username))
        candidates = [{"registry_id": "350181199004020021", "score": 11.2, "rank": 1, "explanation": {"surname": "agree"}}, {"registry_id": "350181199004020045", "score": 3.1, "rank": 2}]
        with pytest.raises(NotFound):
            service.record_candidates(s, actor=other, case_id=case.id, expected_version=None, candidates=candidates, source="test")
        record = service.record_candidates(s, actor=officer, case_id=case.id, expected_version=case.version, candidates=candidates, source="hukou registry")
        service.decide_candidate(s, actor=officer, case_id=case.id, expected_version=case.version, verification_id=record.id, registry_id="350181199004020045", decision="rejected")
        service.decide_candidate(s, actor=officer, case_id=case.id, expected_version=case.version, verification_id=record.id, registry_id="350181199004020021", decision="confirmed")
        assert record.outcome == "match_confirmed" and [c["decision"] for c in record.candidates or []] == ["confirmed", "rejected"]
        with pytest.raises(Conflict):
            service.decide_candidate(s, actor=officer, case_id=case.id, expected_version=case.version - 1, verification_id=record.id, registry_id="350181199004020045", decision="confirmed")
        actions = [e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.entity_id == case.id))]
        assert {"readmission.record_candidates", "readmission.candidate_confirmed", "readmission.candidate_rejected"} <= set(actions)


def test_registry_search_without_an_index_says_so_and_stores_nothing(demo: dict[str, str]) -> None:
    with unit_of_work() as s:
        case = s.scalars(select(ReadmissionCase).where(ReadmissionCase.state == "routed")).first()
        assert case is not None
        officer = actor_for(s, case, workflow.Side.routed_province, workflow.Role.provincial_officer)
        assert officer is not None
        before = len(case.verifications)
        with pytest.raises(NotFound, match="identity index is not built"):
            service.search_registry(s, actor=officer, case_id=case.id, expected_version=case.version)
        assert len(case.verifications) == before
        with pytest.raises(Forbidden):
            service.search_registry(s, actor=user(s, "nl.officer"), case_id=case.id, expected_version=None)


def _stored_matches_rows(session: Session, case: ReadmissionCase) -> None:
    """The case row's denormalised next deadline is the earliest of its `CaseDeadline` rows, read back from SQL."""
    session.flush()
    from passage.readmission.models import CaseDeadline

    rows = session.execute(select(CaseDeadline.due, CaseDeadline.kind).where(CaseDeadline.case_id == case.id).order_by(CaseDeadline.due, CaseDeadline.kind)).all()
    stored = session.execute(select(ReadmissionCase.next_due_on, ReadmissionCase.next_due_kind).where(ReadmissionCase.id == case.id)).one()
    assert tuple(stored) == (tuple(rows[0]) if rows else (None, None)), (case.state, rows, stored)


def test_stored_next_due_equals_the_deadline_rows_after_every_transition(demo: dict[str, str]) -> None:
    """After each allowed transition from each source state (and for every demo case as loaded), `next_due_on`
    and `next_due_kind` equal the earliest deadline row: the inbox never sorts or flags on a stale date."""
    checked = 0
    with unit_of_work() as s:
        cases = list(s.scalars(select(ReadmissionCase)))
        for case in cases:
            _stored_matches_rows(s, case)
        assert any(c.next_due_on is not None for c in cases) and any(c.next_due_on is None for c in cases)
        for procedure, transitions in workflow.FLOWS.items():
            for t in transitions:
                for source in sorted(t.sources):
                    case = next(c for c in cases if c.procedure == procedure and c.state == source.value and not any(h.lifted_on is None for h in c.holds))
                    day = max(e.occurred_at for e in case.events).date()
                    savepoint = s.begin_nested()
                    result = service.transition(s, actor=actor_for(s, case, next(iter(sorted(t.sides))), next(iter(sorted(t.roles)))), case_id=case.id,
                                                expected_version=case.version, action=t.action, payload=payload_for(s, t.action, day), today=day)
                    _stored_matches_rows(s, result)
                    savepoint.rollback()
                    s.expire_all()
                    checked += 1
    assert checked == sum(len(t.sources) for flow in workflow.FLOWS.values() for t in flow)


@pytest.mark.parametrize("shift", [-40, -10, -3, 0, 2, 5, 20, 90])
def test_inbox_flags_and_due_filters_match_the_deadline_rows(demo: dict[str, str], shift: int) -> None:
    """The overdue / soon / flagged filters, the row flags and the next-deadline sort, computed from the denormalised
    column, agree with a direct reading of every deadline row, on days that make some cases overdue with a later
    deadline still due soon."""
    from passage.readmission.models import CaseDeadline

    with unit_of_work() as s:
        actor = user(s, "mps.central")
        day = TODAY + dt.timedelta(days=shift)
        everything = service.CaseFilter(limit=1000)
        rows, total, flags = service.list_cases(s, actor=actor, filters=everything, today=day)
        assert total.value == len(rows) > 0 and not total.estimated
        dues: dict[str, list[tuple[dt.date, str]]] = {r.id: [] for r in rows}
        for d in s.scalars(select(CaseDeadline).where(CaseDeadline.case_id.in_(list(dues)))):
            dues[d.case_id].append((d.due, d.kind))
        horizon = day + dt.timedelta(days=service.SOON_DAYS)
        expected = {
            cid: {"overdue": any(d < day for d, _ in ds), "soon": any(day <= d <= horizon for d, _ in ds),
                  "next_due": min(ds)[0] if ds else None, "next_kind": min(ds)[1] if ds else None}
            for cid, ds in dues.items()
        }
        assert flags == expected
        for due, wanted in (("overdue", lambda f: f["overdue"]), ("soon", lambda f: f["soon"]), ("flagged", lambda f: f["overdue"] or f["soon"])):
            found, count, _ = service.list_cases(s, actor=actor, filters=service.CaseFilter(due=due, limit=1000), today=day)
            assert {r.id for r in found} == {cid for cid, f in expected.items() if wanted(f)} and count.value == len(found), due
        ordered, _, _ = service.list_cases(s, actor=actor, filters=service.CaseFilter(sort="due", limit=1000), today=day)
        keys = [(expected[r.id]["next_due"] is None, expected[r.id]["next_due"] or dt.date.min, r.id) for r in ordered]
        assert keys == sorted(keys)
        paged = [r.id for offset in range(0, total.value, 7) for r in service.list_cases(s, actor=actor, filters=service.CaseFilter(sort="due", offset=offset, limit=7), today=day)[0]]
        assert paged == [r.id for r in ordered]


def test_soon_flag_sees_a_later_deadline_when_the_earliest_is_past(demo: dict[str, str]) -> None:
    """A case whose earliest deadline is past and whose next one falls within 3 days is both overdue and soon,
    and is found by `due=soon` (the one path where the inbox reads deadline rows besides `next_due_on`)."""
    from passage.readmission.models import CaseDeadline

    with unit_of_work() as s:
        actor = user(s, "mps.central")
        rows, _, _ = service.list_cases(s, actor=actor, filters=service.CaseFilter(limit=1000))
        dues: dict[str, list[dt.date]] = {}
        for d in s.scalars(select(CaseDeadline).where(CaseDeadline.case_id.in_([r.id for r in rows]))):
            dues.setdefault(d.case_id, []).append(d.due)
        case_id, dates = next((cid, sorted(ds)) for cid, ds in sorted(dues.items()) if len(set(ds)) > 1 and (sorted(set(ds))[1] - min(ds)).days >= 2)
        day = sorted(set(dates))[1] - dt.timedelta(days=1)
        found, _, flags = service.list_cases(s, actor=actor, filters=service.CaseFilter(due="soon", limit=1000), today=day)
        assert case_id in {r.id for r in found}
        assert flags[case_id]["overdue"] and flags[case_id]["soon"] and flags[case_id]["next_due"] == dates[0]
