"""Dialogue API under `/api/v1/dialogue`: events, attendance, sessions, outcomes, follow-up, directory, evaluations, reports."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from passage.core.deps import DbSession
from passage.core.i18n import get_locale
from passage.dialogue import schemas as s
from passage.dialogue import service
from passage.security.deps import require, user_has
from passage.security.models import User
from passage.security.permissions import Permission
from passage.security.schemas import Offset, Page

router = APIRouter(prefix="/dialogue", tags=["dialogue"])

Reader = Annotated[User, require(Permission.DIALOGUE_READ)]
Manager = Annotated[User, require(Permission.DIALOGUE_MANAGE)]


# ---- institutions ---------------------------------------------------------------------------------


@router.get("/institutions", response_model=Page[s.InstitutionOut])
def list_institutions(
    db: DbSession, user: Reader, q: Annotated[str | None, Query(max_length=100)] = None,
    offset: Offset = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Page[s.InstitutionOut]:
    rows, total = service.list_institutions(db, q=q, offset=offset, limit=limit)
    return Page[s.InstitutionOut](items=[s.InstitutionOut.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


@router.post("/institutions", response_model=s.InstitutionOut, status_code=201)
def create_institution(body: s.InstitutionIn, db: DbSession, user: Manager) -> s.InstitutionOut:
    return s.InstitutionOut.model_validate(service.create_institution(db, actor=user, data=body))


@router.put("/institutions/{institution_id}/organisation", response_model=s.InstitutionOut)
def link_institution(institution_id: str, body: s.InstitutionLinkIn, db: DbSession, user: Manager) -> s.InstitutionOut:
    """Say which platform organisation acts for the institution (its users then count as organisers)."""
    return s.InstitutionOut.model_validate(service.link_institution(db, actor=user, institution_id=institution_id, organisation_id=body.organisation_id))


# ---- events ---------------------------------------------------------------------------------------


@router.get("/events", response_model=Page[s.EventSummaryOut])
def list_events(
    db: DbSession,
    user: Reader,
    start: Annotated[dt.date | None, Query(description="events ending on or after this day (calendar window)")] = None,
    end: Annotated[dt.date | None, Query(description="events starting on or before this day")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    event_type: Annotated[s.EventType | None, Query()] = None,
    sort: Annotated[Literal["start", "-start", "title"], Query()] = "start",
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[s.EventSummaryOut]:
    rows, total = service.search_events(db, q=q, event_type=event_type.value if event_type else None, start=start, end=end, sort=sort, offset=offset, limit=limit)
    return Page[s.EventSummaryOut](items=[s.EventSummaryOut.model_validate(e) for e in rows], total=total, offset=offset, limit=limit)


@router.post("/events", response_model=s.EventOut, status_code=201)
def create_event(body: s.EventIn, db: DbSession, user: Manager) -> s.EventOut:
    return service.event_out(service.create_event(db, actor=user, data=body))


@router.get("/events/{event_id}", response_model=s.EventDetailOut)
def get_event(event_id: str, db: DbSession, user: Reader) -> s.EventDetailOut:
    return service.event_detail(db, event_id=event_id)


@router.put("/events/{event_id}", response_model=s.EventOut)
def update_event(event_id: str, body: s.EventUpdateIn, db: DbSession, user: Manager) -> s.EventOut:
    """Replace the event's fields; `version` must be the one read (409 otherwise)."""
    data = body.model_dump(exclude={"version"})
    return service.event_out(service.update_event(db, actor=user, event_id=event_id, expected_version=body.version, data=data))


@router.get("/events/{event_id}/checks", response_model=list[s.ConsistencyFlagOut])
def event_checks(event_id: str, db: DbSession, user: Reader) -> list[s.ConsistencyFlagOut]:
    """Contradictions in the event's record (stated totals vs parts, speakers without sessions, ...)."""
    return service.flags_out(service.get_event(db, event_ref=event_id))


@router.get("/events/{event_id}/report", response_model=None)
def event_report(
    event_id: str, db: DbSession, user: Reader,
    lang: Annotated[Literal["en", "zh"] | None, Query(description="en or zh; default: the request's language (Accept-Language)")] = None,
    format: Annotated[Literal["pdf", "html"], Query()] = "pdf",  # noqa: A002 - the issue's parameter name
) -> Response:
    """The summary report with its annexes, in English or Chinese, as PDF or HTML."""
    from passage.dialogue.report import render_report_html, render_report_pdf

    lang = lang or _request_lang()
    event = service.get_event(db, event_ref=event_id)
    name = f"dialogue-report-{event.key or event.id}-{lang}"
    if format == "html":
        return HTMLResponse(render_report_html(event, lang=lang))
    return Response(
        render_report_pdf(event, lang=lang), media_type="application/pdf",
        headers={"content-disposition": f'attachment; filename="{name}.pdf"'},
    )


# ---- attendance -----------------------------------------------------------------------------------


@router.get("/events/{event_id}/participants", response_model=list[s.ParticipantOut])
def list_participants(event_id: str, db: DbSession, user: Reader) -> list[s.ParticipantOut]:
    """Named participants; contact data only for the event's organisers (with DIALOGUE_CONTACTS_READ) and only with consent."""
    return service.participants_for(
        db, actor=user, event_id=event_id, viewer_organisation_id=user.organisation_id,
        contacts_permitted=user_has(user, Permission.DIALOGUE_CONTACTS_READ),
    )


@router.post("/events/{event_id}/participants", response_model=s.ParticipantOut, status_code=201)
def register_participant(event_id: str, body: s.RegistrationIn, db: DbSession, user: Manager) -> s.ParticipantOut:
    data = body.model_dump(exclude={"role"})
    person = service.register_participant(db, actor=user, event_id=event_id, data=data, role=body.role)
    return s.ParticipantOut(
        id=person.id, name=person.name, name_zh=person.name_zh, honorific=person.honorific, position_en=person.position_en,
        institution=s.InstitutionOut.model_validate(person.institution), role=body.role,
    )


@router.post("/events/{event_id}/attendance", status_code=201)
def record_institution_attendance(event_id: str, body: s.InstitutionAttendanceIn, db: DbSession, user: Manager) -> dict[str, str | int | None]:
    row = service.record_institution_attendance(db, actor=user, event_id=event_id, data=body)
    return {"id": row.id, "institution_id": row.institution_id, "headcount": row.headcount}


@router.post("/events/{event_id}/statements", status_code=201)
def add_statement(event_id: str, body: s.AttendanceStatementIn, db: DbSession, user: Manager) -> dict[str, str]:
    """A count as a document states it ("26 Chinese officials"), with its breakdown, for the consistency checks."""
    return {"id": service.add_statement(db, actor=user, event_id=event_id, data=body).id}


# ---- programme and outcomes -----------------------------------------------------------------------


@router.post("/events/{event_id}/sessions", response_model=s.SessionOut, status_code=201)
def record_session(event_id: str, body: s.SessionIn, db: DbSession, user: Manager) -> s.SessionOut:
    return service.session_out(service.record_session(db, actor=user, event_id=event_id, data=body))


@router.post("/events/{event_id}/opening-remarks", response_model=s.OpeningRemarkOut, status_code=201)
def add_opening_remark(event_id: str, body: s.OpeningRemarkIn, db: DbSession, user: Manager) -> s.OpeningRemarkOut:
    return s.OpeningRemarkOut.model_validate(service.add_opening_remark(db, actor=user, event_id=event_id, data=body))


@router.post("/events/{event_id}/outcomes", response_model=s.OutcomeOut, status_code=201)
def add_outcome(event_id: str, body: s.OutcomeIn, db: DbSession, user: Manager) -> s.OutcomeOut:
    """A final recommendation or a challenge."""
    return s.OutcomeOut.model_validate(service.add_outcome(db, actor=user, event_id=event_id, data=body))


@router.post("/outcomes/{outcome_id}/follow-ups", response_model=s.FollowUpOut, status_code=201)
def add_follow_up(outcome_id: str, body: s.FollowUpIn, db: DbSession, user: Manager) -> s.FollowUpOut:
    """A follow-up action: an owner institution and a due date on or after the event's start are required."""
    return s.FollowUpOut.model_validate(service.add_follow_up(db, actor=user, outcome_id=outcome_id, data=body))


@router.put("/follow-ups/{follow_up_id}", response_model=s.FollowUpOut)
def update_follow_up(follow_up_id: str, body: s.FollowUpUpdateIn, db: DbSession, user: Manager) -> s.FollowUpOut:
    data = body.model_dump(exclude={"version"})
    return s.FollowUpOut.model_validate(service.update_follow_up(db, actor=user, follow_up_id=follow_up_id, expected_version=body.version, data=data))


@router.get("/tracker", response_model=list[s.RecommendationGroupOut])
def tracker(db: DbSession, user: Reader, as_of: Annotated[dt.date | None, Query()] = None) -> list[s.RecommendationGroupOut]:
    """Recommendations across events grouped by meaning: recurring, acted on, overdue, with links to other modules' records."""
    return service.tracker_out(db, as_of=as_of or dt.date.today())


# ---- directory ------------------------------------------------------------------------------------


@router.get("/focal-points", response_model=list[s.FocalPointOut])
def focal_points(db: DbSession, user: Reader, institution_id: Annotated[str | None, Query(max_length=64)] = None) -> list[s.FocalPointOut]:
    """The liaison-officer and focal-point directory: consenting entries only (the read is audited)."""
    return [s.FocalPointOut.model_validate(f) for f in service.directory(db, actor=user, institution_id=institution_id)]


@router.post("/focal-points", response_model=s.FocalPointOut, status_code=201)
def add_focal_point(body: s.FocalPointIn, db: DbSession, user: Manager) -> s.FocalPointOut:
    return s.FocalPointOut.model_validate(service.add_focal_point(db, actor=user, data=body))


# ---- evaluations ----------------------------------------------------------------------------------


@router.post("/events/{event_id}/evaluations", response_model=s.EvaluationOut, status_code=201)
def record_evaluation(event_id: str, body: s.EvaluationIn, db: DbSession, user: Manager) -> s.EvaluationOut:
    """Store an evaluation questionnaire with its raw responses; answers with its Annex I tables."""
    return service.evaluation_out(service.record_evaluation(db, actor=user, event_id=event_id, data=body))


@router.get("/evaluations/{evaluation_id}", response_model=s.EvaluationOut)
def get_evaluation(evaluation_id: str, db: DbSession, user: Reader, lang: Annotated[Literal["en", "zh"] | None, Query()] = None) -> s.EvaluationOut:
    """The Annex I tables; the questions in `lang` (default: the request's language)."""
    return service.evaluation_out(service.get_evaluation(db, evaluation_id=evaluation_id), lang=lang or _request_lang())


def _request_lang() -> Literal["en", "zh"]:
    return "zh" if get_locale() == "zh_Hans" else "en"
