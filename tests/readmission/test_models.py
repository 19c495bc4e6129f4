import datetime as dt

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm.exc import StaleDataError

from passage.core.db import session_factory
from passage.readmission.models import (
    PERSONAL_COLUMNS,
    CaseAlias,
    CaseDeadline,
    EvidenceDocument,
    ReadmissionCase,
    TimelineEvent,
    TransferHold,
    VerificationRecord,
)


def make_case(orgs, **overrides):
    values = dict(
        reference="NL-2024-0001", procedure="readmission", state="draft", agreement_slug="eu-china-draft", agreement_version=1,
        requesting_state="NL", requested_state="CN", requesting_org_id=orgs["nl"], requested_central_org_id=orgs["mps"], surname="CHEN", sex="M", nationality="CHN",
    )
    values.update(overrides)
    return ReadmissionCase(**values)


def test_case_with_children_round_trip(session, orgs, demo_people):
    case = make_case(orgs, )
    case.aliases.append(CaseAlias(alias="TAN"))
    case.documents.append(EvidenceDocument(evidence_type="passport", category="proof_of_nationality", media_type="application/pdf", size=3, sha256="0" * 64, content=b"%PD", uploaded_by=demo_people["nl.officer"]))
    case.holds.append(TransferHold(kind="medical", reason="r", placed_on=dt.date(2024, 1, 1), placed_by=demo_people["nl.officer"]))
    case.verifications.append(VerificationRecord(method="registry_match", outcome="verified", recorded_by=demo_people["fj.officer"], candidates=[{"registry_id": "r1", "score": 0.93, "rank": 1}]))
    case.events.append(TimelineEvent(action="submit", from_state="draft", to_state="submitted", actor_id=demo_people["nl.officer"], actor_role="requesting_officer", occurred_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)))
    case.deadlines.append(CaseDeadline(kind="reply_due", due=dt.date(2024, 2, 1), rule="r", verified=False))
    session.add(case)
    session.commit()
    loaded = session.scalars(select(ReadmissionCase).where(ReadmissionCase.reference == "NL-2024-0001")).one()
    assert loaded.version == 1 and loaded.aliases[0].alias == "TAN"
    assert loaded.verifications[0].candidates[0]["score"] == 0.93
    assert loaded.documents[0].content == b"%PD"


def test_duplicate_deadline_kind_refused(session, orgs):
    case = make_case(orgs, reference="R2")
    case.deadlines += [CaseDeadline(kind="reply_due", due=dt.date(2024, 2, 1), rule="r", verified=True), CaseDeadline(kind="reply_due", due=dt.date(2024, 2, 2), rule="r", verified=True)]
    session.add(case)
    with pytest.raises(Exception, match="(?i)unique"):
        session.commit()


def test_concurrent_update_loses_nothing(engine, orgs):
    with session_factory(engine)() as s:
        s.add(make_case(orgs, reference="R3"))
        s.commit()
    first, second = session_factory(engine)(), session_factory(engine)()
    try:
        a = first.scalars(select(ReadmissionCase).where(ReadmissionCase.reference == "R3")).one()
        first.commit()  # end the read transaction; the object keeps version 1 (expire_on_commit=False)
        b = second.scalars(select(ReadmissionCase).where(ReadmissionCase.reference == "R3")).one()
        second.commit()
        a.state = "submitted"
        first.commit()
        b.state = "cancelled"
        with pytest.raises(StaleDataError):
            second.commit()
        second.rollback()
    finally:
        first.close()
        second.close()
    with session_factory(engine)() as check:
        final = check.scalars(select(ReadmissionCase).where(ReadmissionCase.reference == "R3")).one()
        assert (final.state, final.version) == ("submitted", 2)


def test_personal_columns_list_matches_tables(engine):
    inspector = inspect(engine)
    for table, columns in PERSONAL_COLUMNS.items():
        existing = {c["name"] for c in inspector.get_columns(table)}
        assert set(columns) <= existing, table
    assert "sex" not in PERSONAL_COLUMNS["readmission_case"]


def test_personal_columns_are_ciphertext_at_rest(session, orgs, demo_people):
    """The raw row holds no readable surname, alias or file bytes (AES-GCM with the column as context)."""
    from sqlalchemy import text

    case = make_case(orgs, reference="ENC-1", surname="ZHENGXIAOLING")
    case.aliases.append(CaseAlias(alias="TANXIAOLING"))
    case.documents.append(EvidenceDocument(evidence_type="passport", category="proof_of_nationality", media_type="application/pdf", size=14, sha256="0" * 64, content=b"%PDF-SECRETPDF", uploaded_by=demo_people["nl.officer"]))
    session.add(case)
    session.commit()
    raw = session.execute(text("SELECT surname FROM readmission_case WHERE reference = 'ENC-1'")).scalar_one()
    alias = session.execute(text("SELECT alias FROM readmission_case_alias")).scalar_one()
    content = session.execute(text("SELECT content FROM readmission_evidence_document")).scalar_one()
    assert b"ZHENGXIAOLING" not in bytes(raw) and b"TANXIAOLING" not in bytes(alias) and b"SECRETPDF" not in bytes(content)
    assert session.scalars(select(ReadmissionCase).where(ReadmissionCase.reference == "ENC-1")).one().surname == "ZHENGXIAOLING"
