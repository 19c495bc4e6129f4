"""Domain operations of the Dialogue: `op(session, *, actor, ...)`, one transaction owned by the caller."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from passage.core import i18n
from passage.core.errors import FieldError, InvalidInput, NotFound
from passage.core.i18n import P_, T_, Label, Text
from passage.core.links import record_href
from passage.core.models import utcnow
from passage.dialogue import models as m
from passage.dialogue import schemas as s
from passage.dialogue.rules import can_see_contact
from passage.forms.evaluation import AnnexReport, build_annex
from passage.security import audit
from passage.security.actors import Actor, may, system_actor
from passage.security.operations import operation, require_permission
from passage.security.permissions import Permission

SYSTEM = system_actor("dialogue.cli")
"""The system actor of the Dialogue's CLI (loading the seed events)."""


def _manage(session: Session, actor: Actor, operation: str, entity_type: str, entity_id: str | None = None) -> None:
    """Every change to the Dialogue's records needs `dialogue:manage`, whoever calls (route, CLI, another module)."""
    require_permission(session, actor=actor, permission=Permission.DIALOGUE_MANAGE, entity_type=entity_type, entity_id=entity_id, operation=operation)


_Model = TypeVar("_Model", bound=BaseModel)


def validate(model: type[_Model], data: Mapping[str, Any] | _Model, *, context: dict[str, Any] | None = None) -> _Model:
    """Validate input with a schema and turn pydantic's errors into `InvalidInput` with field paths."""
    raw = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as exc:
        fields = [
            FieldError(path=".".join(str(p) for p in error["loc"]) or _path_from_message(model, str(error["msg"])), message=_message(error))
            for error in exc.errors()
        ]
        raise InvalidInput(T_("The {record} is not valid", record=Label("dialogue.record", model.__name__)), fields=fields) from None


def _message(error: Any) -> Text:
    """A validation error in the reader's language: our validators raise `ValueError(T_(...))`, pydantic's own checks
    (lengths, types) get the platform's wording for their error type (`core.app.validation_message`)."""
    from passage.core.app import validation_message  # imported here: the app factory imports every module

    return validation_message(error)


def _path_from_message(model: type[BaseModel], message: str) -> str:
    """A whole-record refusal names its field first ("end_date precedes ..."); use that as the path."""
    words = message.removeprefix("Value error, ").split()
    return words[0] if words and words[0] in model.model_fields else "body"


def _get(session: Session, model: type[Any], record_id: str, label: str) -> Any:
    record = session.get(model, record_id)
    if record is None:
        raise NotFound(T_("{record} not found", record=Label("dialogue.record", label)), fields=[FieldError(path=f"{label}_id", message=T_("no such record"))])
    return record


# ---- institutions and events ---------------------------------------------------------------------


def create_institution(session: Session, *, actor: Actor, data: Mapping[str, Any] | s.InstitutionIn) -> m.Institution:
    """Create an institution."""
    _manage(session, actor, "create_institution", "dialogue_institution")
    valid = validate(s.InstitutionIn, data)
    institution = m.Institution(**valid.model_dump())
    session.add(institution)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_institution", entity_id=institution.id, details={"fields": sorted(valid.model_fields_set)})
    return institution


def link_institution(session: Session, *, actor: Actor, institution_id: str, organisation_id: str | None) -> m.Institution:
    """Say which platform organisation acts for an institution (its users then count as that institution)."""
    _manage(session, actor, "link_institution", "dialogue_institution")
    from passage.security.models import Organisation

    institution: m.Institution = _get(session, m.Institution, institution_id, "institution")
    if organisation_id is not None:
        _get(session, Organisation, organisation_id, "organisation")
    institution.organisation_id = organisation_id
    session.flush()
    audit.record(session, actor=actor, action="update", entity_type="dialogue_institution", entity_id=institution.id, details={"fields": ["organisation_id"], "organisation_id": organisation_id})
    return institution


def create_event(session: Session, *, actor: Actor, data: Mapping[str, Any] | s.EventIn) -> m.Event:
    """Create an event with its organisers."""
    _manage(session, actor, "create_event", "dialogue_event")
    valid = validate(s.EventIn, data)
    fields = valid.model_dump(exclude={"organiser_institution_ids", "translations"})
    event = m.Event(**fields)
    event.set_translations(valid.translations)
    for position, institution_id in enumerate(valid.organiser_institution_ids):
        _get(session, m.Institution, institution_id, "institution")
        event.organisers.append(m.EventOrganiser(institution_id=institution_id, position=position))
    session.add(event)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_event", entity_id=event.id, details={"fields": sorted(valid.model_fields_set)})
    return event


def update_event(session: Session, *, actor: Actor, event_id: str, expected_version: int | None, data: Mapping[str, Any] | s.EventIn) -> m.Event:
    """Replace an event's own fields (not its children), refusing a stale version."""
    _manage(session, actor, "update_event", "dialogue_event")
    event = get_event(session, event_ref=event_id)
    with operation(session, actor=actor, action="update", entity_type="dialogue_event", record=event, expected_version=expected_version) as op:
        valid = validate(s.EventIn, data)
        before = [o.institution_id for o in event.organisers]
        changed = [name for name, value in valid.model_dump(exclude={"organiser_institution_ids", "translations"}).items() if getattr(event, name) != value]
        for name in changed:
            setattr(event, name, getattr(valid, name))
        if (event.translations or {}) != valid.translations:
            event.set_translations(valid.translations)
            changed.append("translations")
        if before != valid.organiser_institution_ids:
            for institution_id in valid.organiser_institution_ids:
                _get(session, m.Institution, institution_id, "institution")
            if not changed:
                # the version must move when only the organisers change, so a concurrent edit of them is caught too
                event.updated_at = utcnow()
            changed.append("organiser_institution_ids")
            event.organisers.clear()
            session.flush()
            for position, institution_id in enumerate(valid.organiser_institution_ids):
                event.organisers.append(m.EventOrganiser(institution_id=institution_id, position=position))
        op.note(fields=changed)
    return event


def get_event(session: Session, *, event_ref: str) -> m.Event:
    """An event by id or by its stable key."""
    event = session.scalars(select(m.Event).where(or_(m.Event.id == event_ref, m.Event.key == event_ref))).first()
    if event is None:
        raise NotFound(T_("event not found"), fields=[FieldError(path="event_id", message=T_("no such event"))])
    return event


def list_events(session: Session, *, start: dt.date | None = None, end: dt.date | None = None) -> list[m.Event]:
    """Events overlapping [start, end] (either bound optional), earliest first: the list and the calendar."""
    query = select(m.Event).order_by(m.Event.start_date, m.Event.title_en)
    if start is not None:
        query = query.where(m.Event.end_date >= start)
    if end is not None:
        query = query.where(m.Event.start_date <= end)
    return list(session.scalars(query))


# ---- attendance ----------------------------------------------------------------------------------


def register_participant(
    session: Session, *, actor: Actor, event_id: str, data: Mapping[str, Any] | s.ParticipantIn, role: s.ParticipantRole | str
) -> m.Participant:
    """Create a person and register them at an event with a role."""
    _manage(session, actor, "register_participant", "dialogue_participant")
    event = get_event(session, event_ref=event_id)
    valid = validate(s.ParticipantIn, data)
    role_value = validate(s.ParticipationIn, {"participant_id": "new", "role": role}).role
    _get(session, m.Institution, valid.institution_id, "institution")
    participant = m.Participant(**valid.model_dump(exclude={"contact", "translations"}))
    participant.set_translations(valid.translations)
    if valid.contact is not None:
        participant.contact = m.ParticipantContact(**valid.contact.model_dump())
    session.add(participant)
    session.flush()
    event.participations.append(m.Participation(participant_id=participant.id, role=role_value.value))
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_participant", entity_id=participant.id, details={"event_id": event.id, "role": role_value.value, "contact_fields": sorted(k for k, v in (valid.contact.model_dump() if valid.contact else {}).items() if v is not None and k in {"email", "phone"})})
    return participant


def add_participation(session: Session, *, actor: Actor, event_id: str, data: Mapping[str, Any] | s.ParticipationIn) -> m.Participation:
    """Register an existing person at an event."""
    _manage(session, actor, "add_participation", "dialogue_participation")
    event = get_event(session, event_ref=event_id)
    valid = validate(s.ParticipationIn, data)
    _get(session, m.Participant, valid.participant_id, "participant")
    if any(p.participant_id == valid.participant_id for p in event.participations):
        raise InvalidInput(T_("Already registered"), fields=[FieldError(path="participant_id", message=T_("already registered at this event"))])
    participation = m.Participation(participant_id=valid.participant_id, role=valid.role.value)
    event.participations.append(participation)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_participation", entity_id=participation.id, details={"event_id": event.id, "participant_id": valid.participant_id, "role": valid.role.value})
    return participation


def record_institution_attendance(
    session: Session, *, actor: Actor, event_id: str, data: Mapping[str, Any] | s.InstitutionAttendanceIn
) -> m.InstitutionAttendance:
    """Record that an institution attended, with its headcount if known (replaces an earlier figure)."""
    _manage(session, actor, "record_institution_attendance", "dialogue_institution_attendance")
    event = get_event(session, event_ref=event_id)
    valid = validate(s.InstitutionAttendanceIn, data)
    _get(session, m.Institution, valid.institution_id, "institution")
    for existing in event.institutions:
        if existing.institution_id == valid.institution_id:
            existing.headcount = valid.headcount
            session.flush()
            audit.record(session, actor=actor, action="update", entity_type="dialogue_institution_attendance", entity_id=existing.id, details={"event_id": event.id, "fields": ["headcount"]})
            return existing
    row = m.InstitutionAttendance(institution_id=valid.institution_id, headcount=valid.headcount)
    event.institutions.append(row)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_institution_attendance", entity_id=row.id, details={"event_id": event.id, "institution_id": valid.institution_id})
    return row


def add_statement(session: Session, *, actor: Actor, event_id: str, data: Mapping[str, Any] | s.AttendanceStatementIn) -> m.AttendanceStatement:
    """Record a count as the report states it, with its breakdown."""
    _manage(session, actor, "add_statement", "dialogue_attendance_statement")
    event = get_event(session, event_ref=event_id)
    valid = validate(s.AttendanceStatementIn, data)
    statement = m.AttendanceStatement(
        position=len(event.statements),
        text=valid.text,
        stated_total=valid.stated_total,
        parts=[p.model_dump() for p in valid.parts],
        named_role=valid.named_role.value if valid.named_role else None,
    )
    statement.set_translations(valid.translations)
    event.statements.append(statement)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_attendance_statement", entity_id=statement.id, details={"event_id": event.id})
    return statement


def organiser_organisation_ids(event: m.Event) -> set[str]:
    """Platform organisations acting for the event's organiser institutions."""
    return {o.institution.organisation_id for o in event.organisers if o.institution.organisation_id}


def participants_for(
    session: Session, *, actor: Actor, event_id: str, viewer_organisation_id: str | None, contacts_permitted: bool
) -> list[s.ParticipantOut]:
    """The event's named people; contact data only for the event's organisers and only with consent.

    `contacts_permitted` is the viewer's `DIALOGUE_CONTACTS_READ`; the viewer must also belong to an
    organisation acting for one of the organiser institutions. Every disclosure is audited with the
    ids of the people whose contact data was shown. The service checks both permissions itself.
    """
    require_permission(session, actor=actor, permission=Permission.DIALOGUE_READ, entity_type="dialogue_participant", entity_id=event_id, operation="list")
    contacts_permitted = contacts_permitted and may(actor, Permission.DIALOGUE_CONTACTS_READ)
    event = get_event(session, event_ref=event_id)
    organisers = organiser_organisation_ids(event) if contacts_permitted else set()
    result: list[s.ParticipantOut] = []
    shown: list[str] = []
    for participation in sorted(event.participations, key=lambda p: p.participant.name):
        person = participation.participant
        contact = person.contact
        visible = contact is not None and can_see_contact(
            viewer_organisation_id=viewer_organisation_id, organiser_organisation_ids=organisers, consent_given=contact.consent_given
        )
        if visible:
            shown.append(person.id)
        result.append(
            s.ParticipantOut(
                id=person.id,
                name=person.name,
                name_zh=person.name_zh,
                honorific=person.honorific,
                position_en=person.position_en,
                translations=person.translations or {},
                institution=s.InstitutionOut.model_validate(person.institution),
                role=s.ParticipantRole(participation.role),
                contact=s.ContactOut(email=contact.email, phone=contact.phone) if visible and contact is not None else None,
            )
        )
    if shown:
        audit.record(session, actor=actor, action="read", entity_type="dialogue_participant_contact", entity_id=event.id, details={"participant_ids": shown, "fields": ["email", "phone"]})
    return result


def follow_ups_due(session: Session, *, as_of: dt.date, within_days: int = 60) -> list[m.FollowUpAction]:
    """Open follow-up actions overdue or due within `within_days`, soonest first (the home panel)."""
    horizon = as_of + dt.timedelta(days=within_days)
    query = (
        select(m.FollowUpAction)
        .where(m.FollowUpAction.status.in_(["planned", "in_progress"]), m.FollowUpAction.due_date <= horizon)
        .order_by(m.FollowUpAction.due_date)
    )
    return list(session.scalars(query))


def search_events(
    session: Session, *, q: str | None = None, event_type: str | None = None, start: dt.date | None = None, end: dt.date | None = None,
    sort: str = "start", offset: int = 0, limit: int = 25,
) -> tuple[list[m.Event], int]:
    """A page of events matching a title/venue search, a type and a date window; returns (rows, total)."""
    from sqlalchemy import func

    query = select(m.Event)
    if q:
        pattern = f"%{q.lower()}%"
        # the translations are JSON text, where Chinese is stored as \\u escapes: search for that spelling
        stored = json.dumps(q.lower())[1:-1].replace("!", "!!").replace("%", "!%").replace("_", "!_")
        query = query.where(or_(func.lower(m.Event.title_en).like(pattern), func.lower(m.Event.venue_en).like(pattern),
                                 func.lower(cast(m.Event.translations, String)).like(f"%{stored}%", escape="!")))
    if event_type:
        query = query.where(m.Event.event_type == validate(s.EventTypeFilter, {"event_type": event_type}).event_type.value)
    if start is not None:
        query = query.where(m.Event.end_date >= start)
    if end is not None:
        query = query.where(m.Event.start_date <= end)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    orders = {"start": (m.Event.start_date, m.Event.title_en), "-start": (m.Event.start_date.desc(), m.Event.title_en), "title": (m.Event.title_en, m.Event.start_date)}
    if sort not in orders:
        raise InvalidInput(T_("Unknown sort order"), fields=[FieldError(path="sort", message=T_("must be one of {values}", values=", ".join(orders)))])
    rows = list(session.scalars(query.order_by(*orders[sort]).offset(offset).limit(limit)))
    return rows, total


# ---- sessions, remarks, outcomes -----------------------------------------------------------------


def _ensure_participation(event: m.Event, participant_id: str, role: s.ParticipantRole) -> None:
    if not any(p.participant_id == participant_id for p in event.participations):
        event.participations.append(m.Participation(participant_id=participant_id, role=role.value))


def record_session(session: Session, *, actor: Actor, event_id: str, data: Mapping[str, Any] | s.SessionIn) -> m.EventSession:
    """Record a session with its speakers, chair and key observations.

    A speaker or chair not yet registered at the event is registered with that role, because the
    report's list of participants must contain everyone who spoke.
    """
    _manage(session, actor, "record_session", "dialogue_session")
    event = get_event(session, event_ref=event_id)
    valid = validate(s.SessionIn, data)
    if any(existing.number == valid.number for existing in event.sessions):
        raise InvalidInput(T_("Duplicate session number"), fields=[FieldError(path="number", message=T_("this event already has a session with this number"))])
    length = (event.end_date - event.start_date).days + 1
    if valid.day is not None and valid.day > length:
        raise InvalidInput(T_("Session day outside the event"), fields=[FieldError(path="day", message=P_("the event lasts {n} day", "the event lasts {n} days", length))])
    for speaker_id in valid.speaker_ids:
        _get(session, m.Participant, speaker_id, "participant")
        _ensure_participation(event, speaker_id, s.ParticipantRole.speaker)
    if valid.chair_id is not None:
        _get(session, m.Participant, valid.chair_id, "participant")
        _ensure_participation(event, valid.chair_id, s.ParticipantRole.chair)
    record = m.EventSession(
        number=valid.number,
        day=valid.day,
        title_en=valid.title_en,
        kind=valid.kind.value,
        abstract_en=valid.abstract_en,
        chair_id=valid.chair_id,
    )
    record.set_translations(valid.translations)
    for position, speaker_id in enumerate(valid.speaker_ids):
        record.speakers.append(m.SessionSpeaker(participant_id=speaker_id, position=position))
    zh = valid.observations_zh or [None] * len(valid.observations_en)
    for position, (text_en, text_zh) in enumerate(zip(valid.observations_en, zh, strict=True)):
        observation = m.KeyObservation(position=position, text_en=text_en)
        observation.set_translations({"text": {"zh_Hans": text_zh}} if text_zh else {})
        record.observations.append(observation)
    event.sessions.append(record)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_session", entity_id=record.id, details={"event_id": event.id, "number": valid.number, "speaker_ids": valid.speaker_ids, "chair_id": valid.chair_id})
    return record


def add_opening_remark(session: Session, *, actor: Actor, event_id: str, data: Mapping[str, Any] | s.OpeningRemarkIn) -> m.OpeningRemark:
    """Record an opening remark."""
    _manage(session, actor, "add_opening_remark", "dialogue_opening_remark")
    event = get_event(session, event_ref=event_id)
    valid = validate(s.OpeningRemarkIn, data)
    if valid.speaker_id is not None:
        _get(session, m.Participant, valid.speaker_id, "participant")
        _ensure_participation(event, valid.speaker_id, s.ParticipantRole.speaker)
    remark = m.OpeningRemark(position=len(event.opening_remarks), **valid.model_dump(exclude={"translations"}))
    remark.set_translations(valid.translations)
    event.opening_remarks.append(remark)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_opening_remark", entity_id=remark.id, details={"event_id": event.id, "speaker_id": valid.speaker_id})
    return remark


def add_outcome(session: Session, *, actor: Actor, event_id: str, data: Mapping[str, Any] | s.OutcomeIn) -> m.Outcome:
    """Record a final recommendation or a challenge."""
    _manage(session, actor, "add_outcome", "dialogue_outcome")
    event = get_event(session, event_ref=event_id)
    valid = validate(s.OutcomeIn, data)
    outcome = m.Outcome(kind=valid.kind.value, position=len(event.outcomes), text_en=valid.text_en)
    outcome.set_translations(valid.translations)
    event.outcomes.append(outcome)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_outcome", entity_id=outcome.id, details={"event_id": event.id, "kind": outcome.kind})
    return outcome


def add_follow_up(session: Session, *, actor: Actor, outcome_id: str, data: Mapping[str, Any] | s.FollowUpIn) -> m.FollowUpAction:
    """Turn a recommendation into a follow-up action; refuses one without owner or due before the event."""
    _manage(session, actor, "add_follow_up", "dialogue_follow_up")
    outcome: m.Outcome = _get(session, m.Outcome, outcome_id, "outcome")
    if outcome.kind != s.OutcomeKind.recommendation:
        raise InvalidInput(T_("Only a recommendation can have follow-up"), fields=[FieldError(path="outcome_id", message=T_("is a challenge"))])
    event = _get(session, m.Event, outcome.event_id, "event")
    valid = validate(s.FollowUpIn, data, context={"event_start": event.start_date})
    _get(session, m.Institution, valid.owner_institution_id, "owner_institution")
    action = m.FollowUpAction(**{**valid.model_dump(exclude={"translations"}), "status": valid.status.value})
    action.set_translations(valid.translations)
    outcome.follow_ups.append(action)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_follow_up", entity_id=action.id, details={"outcome_id": outcome.id, "status": action.status, "linked_type": action.linked_type})
    return action


def update_follow_up(
    session: Session, *, actor: Actor, follow_up_id: str, expected_version: int | None, data: Mapping[str, Any] | s.FollowUpIn
) -> m.FollowUpAction:
    """Change a follow-up (status, evidence, link), refusing a stale version."""
    _manage(session, actor, "update_follow_up", "dialogue_follow_up")
    action: m.FollowUpAction = _get(session, m.FollowUpAction, follow_up_id, "follow_up")
    with operation(session, actor=actor, action="update", entity_type="dialogue_follow_up", record=action, expected_version=expected_version) as op:
        outcome: m.Outcome = _get(session, m.Outcome, action.outcome_id, "outcome")
        event: m.Event = _get(session, m.Event, outcome.event_id, "event")
        valid = validate(s.FollowUpIn, data, context={"event_start": event.start_date})
        _get(session, m.Institution, valid.owner_institution_id, "owner_institution")
        changed = []
        for name, value in valid.model_dump(exclude={"translations"}).items():
            new = value.value if name == "status" else value
            if getattr(action, name) != new:
                changed.append(name)
            setattr(action, name, new)
        op.note(fields=changed, status=action.status)
    return action


# ---- translations --------------------------------------------------------------------------------


def translatable_parts(event: m.Event) -> list[tuple[str, m.Translatable, Text]]:
    """Every record of an event with published text: (form key prefix `kind.id`, record, the part's name as a message)."""
    parts: list[tuple[str, m.Translatable, Text]] = [(f"event.{event.id}", event, T_("Event"))]
    parts += [(f"remark.{r.id}", r, T_("Opening remark {position}", position=n)) for n, r in enumerate(event.opening_remarks, start=1)]
    for record in sorted(event.sessions, key=lambda x: x.number):
        parts.append((f"session.{record.id}", record, T_("Session {number}", number=record.number)))
        parts += [(f"observation.{o.id}", o, T_("Session {number}, key observation {position}", number=record.number, position=n))
                  for n, o in enumerate(record.observations, start=1)]
    recommendations = [o for o in event.outcomes if o.kind == "recommendation"]
    for n, outcome in enumerate(recommendations, start=1):
        parts.append((f"outcome.{outcome.id}", outcome, T_("Recommendation {position}", position=n)))
        parts += [(f"follow_up.{a.id}", a, T_("Recommendation {position}, follow-up action {number}", position=n, number=k))
                  for k, a in enumerate(outcome.follow_ups, start=1)]
    parts += [(f"outcome.{o.id}", o, T_("Challenge {position}", position=n))
              for n, o in enumerate((o for o in event.outcomes if o.kind == "challenge"), start=1)]
    parts += [(f"statement.{x.id}", x, T_("Attendance statement {position}", position=n)) for n, x in enumerate(event.statements, start=1)]
    people = sorted(event.participations, key=lambda p: (p.participant.institution.name_en, p.participant.name))
    parts += [(f"participant.{p.participant.id}", p.participant, T_("Participant {position}", position=n)) for n, p in enumerate(people, start=1)]
    for evaluation in event.evaluations:
        parts.append((f"evaluation.{evaluation.id}", evaluation, T_("Evaluation")))
        parts += [(f"question.{q.id}", q, T_("Evaluation question {position}", position=n)) for n, q in enumerate(evaluation.questions, start=1)]
    return parts


def update_translations(session: Session, *, actor: Actor, event_id: str, expected_version: int | None, locale: str,
                        values: Mapping[str, str | None]) -> list[str]:
    """Set the `locale` text of an event's published fields in one go (the translator's page): `values` maps
    `kind.id.field` (see `translatable_parts`) to the text; blank removes it. Returns the keys that changed.

    The event's version guards the whole set (409 when someone saved since it was read)."""
    _manage(session, actor, "update_translations", "dialogue_event")
    if locale not in s.TRANSLATION_LOCALES:
        raise InvalidInput(T_("Unsupported language"), fields=[FieldError(path="locale", message=T_("must be one of {values}", values=", ".join(s.TRANSLATION_LOCALES)))])
    event = get_event(session, event_ref=event_id)
    records = {prefix: record for prefix, record, _part in translatable_parts(event)}
    unknown = [key for key in values if key.rsplit(".", 1)[0] not in records or key.rsplit(".", 1)[-1] not in records[key.rsplit(".", 1)[0]].TRANSLATED]
    if unknown:
        raise InvalidInput(T_("Not a text of this event"), fields=[FieldError(path=key, message=T_("not a published text of this event")) for key in unknown])
    changed: list[str] = []
    with operation(session, actor=actor, action="update", entity_type="dialogue_event", record=event, expected_version=expected_version) as op:
        for key, text in values.items():
            prefix, field = key.rsplit(".", 1)
            record = records[prefix]
            new = (text or "").strip() or None
            if record.translation(field, locale) == new:
                continue
            updated = {name: dict(by_locale) for name, by_locale in (record.translations or {}).items()}
            if new is None:
                updated.get(field, {}).pop(locale, None)
            else:
                updated.setdefault(field, {})[locale] = new
            record.set_translations(updated)
            changed.append(key)
        if changed:
            event.updated_at = utcnow()  # the event's version moves with any of its texts
        op.note(fields=["translations"], locale=locale, changed=changed)
    return changed


# ---- directory -----------------------------------------------------------------------------------


def add_focal_point(session: Session, *, actor: Actor, data: Mapping[str, Any] | s.FocalPointIn) -> m.FocalPoint:
    """Add a liaison officer or focal point to the directory."""
    _manage(session, actor, "add_focal_point", "dialogue_focal_point")
    valid = validate(s.FocalPointIn, data)
    _get(session, m.Institution, valid.institution_id, "institution")
    record = m.FocalPoint(**{**valid.model_dump(exclude={"translations"}), "function": valid.function.value})
    record.set_translations(valid.translations)
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_focal_point", entity_id=record.id, details={"institution_id": valid.institution_id, "consent_to_list": valid.consent_to_list, "contact_fields": [k for k in ("email", "phone") if getattr(valid, k)]})
    return record


def directory(session: Session, *, actor: Actor, institution_id: str | None = None) -> list[m.FocalPoint]:
    """The directory of liaison officers and focal points: only people who consented to be listed.

    Their contact data is personal data even with consent to be listed, so the read is audited
    (the ids of the entries shown, never their values).
    """
    require_permission(session, actor=actor, permission=Permission.DIALOGUE_READ, entity_type="dialogue_focal_point", operation="directory")
    query = select(m.FocalPoint).where(m.FocalPoint.consent_to_list.is_(True)).order_by(m.FocalPoint.name)
    if institution_id is not None:
        query = query.where(m.FocalPoint.institution_id == institution_id)
    entries = list(session.scalars(query))
    if entries:
        audit.record(session, actor=actor, action="read", entity_type="dialogue_focal_point", entity_id=None, details={"focal_point_ids": [e.id for e in entries], "fields": ["email", "phone"]})
    return entries


# ---- evaluation ----------------------------------------------------------------------------------


def record_evaluation(session: Session, *, actor: Actor, event_id: str, data: Mapping[str, Any] | s.EvaluationIn) -> m.Evaluation:
    """Store an evaluation questionnaire and its raw responses."""
    _manage(session, actor, "record_evaluation", "dialogue_evaluation")
    event = get_event(session, event_ref=event_id)
    valid = validate(s.EvaluationIn, data)
    evaluation = m.Evaluation(activity_en=valid.activity_en, dated=valid.dated, stated_sample_size=valid.stated_sample_size)
    evaluation.set_translations(valid.translations)
    for position, question in enumerate(valid.questions):
        row = m.EvaluationQuestion(position=position, **question.model_dump(exclude={"translations"}))
        row.set_translations(question.translations)
        evaluation.questions.append(row)
    for respondent, answers in enumerate(valid.responses, start=1):
        evaluation.responses.append(m.EvaluationResponse(respondent=respondent, answers=dict(answers)))
    event.evaluations.append(evaluation)
    session.flush()
    audit.record(session, actor=actor, action="create", entity_type="dialogue_evaluation", entity_id=evaluation.id, details={"event_id": event.id, "responses": len(valid.responses), "questions": len(valid.questions)})
    return evaluation


def evaluation_annex(evaluation: m.Evaluation, *, lang: str = "en", shown: Any = None) -> AnnexReport:
    """The Annex I report of an evaluation, computed from its raw responses, its texts in `lang` (`en`/`zh`).

    `shown(record, field, text)` may turn each text into what a report prints (marking a fallback); by default the
    reader's text or the English source."""
    locale = "zh_Hans" if lang == "zh" else "en"

    def text(record: Any, field: str) -> str:
        value = record.in_language(field, locale=locale)
        return shown(record, field, value) if shown is not None else value.text

    return build_annex(
        activity=text(evaluation, "activity"),
        questions=[(q.key, text(q, "text")) for q in evaluation.questions],
        responses=[r.answers for r in evaluation.responses],
        dated=evaluation.dated,
    )


# ---- seeds ---------------------------------------------------------------------------------------


def _strip_notes(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def seed_data(path: Path | None = None) -> dict[str, Any]:
    """The shipped demo data (`data/seed_events.json`) or another file of the same shape."""
    if path is not None:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    text = resources.files("passage.dialogue").joinpath("data/seed_events.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


def load_seed_events(session: Session, *, actor: Actor, path: Path | None = None) -> list[str]:
    """Load the seed events (2015 workshop, 2018 seminar); events whose key exists are skipped. Returns keys loaded."""
    _manage(session, actor, "load_seed_events", "dialogue_event")
    data = seed_data(path)
    institutions: dict[str, str] = {}
    for raw in data["institutions"]:
        existing = session.scalars(select(m.Institution).where(m.Institution.key == raw["key"])).first()
        institutions[raw["key"]] = existing.id if existing else create_institution(session, actor=actor, data=_strip_notes(raw)).id
    people_raw = {p["key"]: p for p in data["participants"]}
    people: dict[str, str] = {}

    def person(key: str) -> str:
        if key not in people:
            existing = session.scalars(select(m.Participant).where(m.Participant.key == key)).first()
            if existing is not None:
                people[key] = existing.id
            else:
                raw = _strip_notes(people_raw[key])
                raw["institution_id"] = institutions[raw.pop("institution")]
                participant = m.Participant(**validate(s.ParticipantIn, raw).model_dump(exclude={"contact"}))
                session.add(participant)
                session.flush()
                audit.record(session, actor=actor, action="create", entity_type="dialogue_participant", entity_id=participant.id, details={"source": "seed"})
                people[key] = participant.id
        return people[key]

    loaded: list[str] = []
    pending_links: list[tuple[m.FollowUpAction, str]] = []
    for raw_event in data["events"]:
        if session.scalars(select(m.Event).where(m.Event.key == raw_event["key"])).first() is not None:
            continue
        fields = {k: v for k, v in _strip_notes(raw_event).items() if k in s.EventIn.model_fields}
        fields["organiser_institution_ids"] = [institutions[k] for k in raw_event["organisers"]]
        event = create_event(session, actor=actor, data=fields)
        for row in raw_event["institutions"]:
            record_institution_attendance(session, actor=actor, event_id=event.id, data={"institution_id": institutions[row["institution"]], "headcount": row["headcount"]})
        for row in raw_event["participations"]:
            add_participation(session, actor=actor, event_id=event.id, data={"participant_id": person(row["participant"]), "role": row["role"]})
        for row in raw_event["statements"]:
            add_statement(session, actor=actor, event_id=event.id, data=_strip_notes(row))
        for row in raw_event["opening_remarks"]:
            add_opening_remark(session, actor=actor, event_id=event.id, data={"speaker_id": person(row["speaker"]) if row.get("speaker") else None, "text_en": row["text_en"], "translations": row.get("translations") or {}})
        for row in raw_event["sessions"]:
            payload = {k: v for k, v in _strip_notes(row).items() if k not in {"speakers", "chair"}}
            payload["speaker_ids"] = [person(k) for k in row.get("speakers", [])]
            payload["chair_id"] = person(row["chair"]) if row.get("chair") else None
            record_session(session, actor=actor, event_id=event.id, data=payload)
        outcomes = [add_outcome(session, actor=actor, event_id=event.id, data=_strip_notes(row)) for row in raw_event["outcomes"]]
        for row in raw_event.get("follow_ups", []):
            payload = {k: v for k, v in _strip_notes(row).items() if k not in {"outcome", "owner", "linked_event"}}
            payload["owner_institution_id"] = institutions[row["owner"]]
            payload["linked_id"] = "pending" if row.get("linked_event") else None
            action = add_follow_up(session, actor=actor, outcome_id=outcomes[row["outcome"]].id, data=payload)
            if row.get("linked_event"):
                pending_links.append((action, row["linked_event"]))
        if raw_event.get("evaluation"):
            record_evaluation(session, actor=actor, event_id=event.id, data=_strip_notes(raw_event["evaluation"]))
        loaded.append(raw_event["key"])
    for action, event_key in pending_links:
        action.linked_id = get_event(session, event_ref=event_key).id
        audit.record(session, actor=actor, action="update", entity_type="dialogue_follow_up", entity_id=action.id, details={"fields": ["linked_id"]})
    session.flush()
    return loaded


def recommendation_tracker(session: Session, *, as_of: dt.date, threshold: float = 0.5) -> list[Any]:
    """Recommendations of all events grouped by meaning, with recurrence and follow-up status (see `tracker`)."""
    from passage.dialogue.tracker import track

    return track(list_events(session), as_of=as_of, threshold=threshold)


# ---- read models for the API and the pages -------------------------------------------------------


def event_out(event: m.Event) -> s.EventOut:
    """The event's own fields with its organisers."""
    data = {name: getattr(event, name) for name in s.EventOut.model_fields if name != "organiser_institution_ids"}
    return s.EventOut(**data, organiser_institution_ids=[o.institution_id for o in event.organisers])


def attendance_out(event: m.Event) -> s.AttendanceOut:
    """Attendance counts by institution, type, province, member state and embassy."""
    from passage.dialogue.attendance import summarise_attendance

    summary = summarise_attendance(event)
    return s.AttendanceOut(
        total=summary.total,
        total_is_complete=summary.total_is_complete,
        by_type=dict(summary.by_type),
        by_institution=[
            {"institution_id": c.institution.id, "name_en": c.institution.name_en, "institution_type": c.institution.institution_type,
             "country": c.institution.country, "province": c.institution.province, "headcount": c.headcount, "named": c.named}
            for c in summary.institutions
        ],
        provinces=list(summary.provinces),
        province_headcounts=dict(summary.province_headcounts),
        member_states=list(summary.member_states),
        embassies=list(summary.embassies),
    )


def flags_out(event: m.Event) -> list[s.ConsistencyFlagOut]:
    from passage.dialogue.checks import check_event

    return [s.ConsistencyFlagOut(code=f.code, message=i18n.localise(f.message), path=f.path, stated=f.stated, found=f.found) for f in check_event(event)]


def session_out(record: m.EventSession) -> s.SessionOut:
    return s.SessionOut(
        id=record.id, number=record.number, day=record.day, title_en=record.title_en, kind=s.SessionKind(record.kind),
        abstract_en=record.abstract_en, translations=record.translations or {}, chair_id=record.chair_id,
        speaker_ids=[sp.participant_id for sp in record.speakers],
        observations=[s.ObservationOut.model_validate(o) for o in record.observations],
    )


def event_detail(session: Session, *, event_id: str) -> s.EventDetailOut:
    """Everything the event page and `GET /events/{id}` show, except participants (see `participants_for`)."""
    event = get_event(session, event_ref=event_id)
    return s.EventDetailOut(
        event=event_out(event),
        attendance=attendance_out(event),
        sessions=[session_out(x) for x in event.sessions],
        opening_remarks=[s.OpeningRemarkOut.model_validate(r) for r in event.opening_remarks],
        outcomes=[s.OutcomeOut.model_validate(o) for o in event.outcomes],
        flags=flags_out(event),
        evaluation_ids=[e.id for e in event.evaluations],
    )


def evaluation_out(evaluation: m.Evaluation, *, lang: str = "en") -> s.EvaluationOut:
    from passage.forms.evaluation import annex_as_dict

    return s.EvaluationOut(id=evaluation.id, event_id=evaluation.event_id, annex=annex_as_dict(evaluation_annex(evaluation, lang=lang)))


def get_evaluation(session: Session, *, evaluation_id: str) -> m.Evaluation:
    evaluation: m.Evaluation = _get(session, m.Evaluation, evaluation_id, "evaluation")
    return evaluation


def get_follow_up(session: Session, *, follow_up_id: str) -> m.FollowUpAction:
    action: m.FollowUpAction = _get(session, m.FollowUpAction, follow_up_id, "follow_up")
    return action


def get_outcome(session: Session, *, outcome_id: str) -> m.Outcome:
    outcome: m.Outcome = _get(session, m.Outcome, outcome_id, "outcome")
    return outcome


def list_institutions(session: Session, *, q: str | None = None, offset: int = 0, limit: int = 100) -> tuple[list[m.Institution], int]:
    """Institutions by English name, optionally filtered by a name search."""
    from sqlalchemy import func

    query = select(m.Institution)
    if q:
        query = query.where(or_(func.lower(m.Institution.name_en).like(f"%{q.lower()}%"), m.Institution.name_zh.like(f"%{q}%"), func.lower(m.Institution.acronym).like(f"%{q.lower()}%")))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return list(session.scalars(query.order_by(m.Institution.name_en).offset(offset).limit(limit))), total


def link_href(linked_type: str | None, linked_id: str | None) -> str | None:
    """The page of a record another module owns, for a follow-up's `linked_type` (`module.entity`) and `linked_id`
    (`passage.core.links`: each module's views register their record pages; an unregistered type is unlinked)."""
    return record_href(linked_type, linked_id)


def tracker_out(session: Session, *, as_of: dt.date) -> list[s.RecommendationGroupOut]:
    """The recommendation tracker as data, with the other-module records its follow-ups link to."""
    groups = recommendation_tracker(session, as_of=as_of)
    outcomes = {o.id: o for o in session.scalars(select(m.Outcome).where(m.Outcome.kind == "recommendation"))}
    result = []
    for group in groups:
        links = [
            {"linked_type": a.linked_type, "linked_id": a.linked_id, "follow_up_id": a.id, "href": link_href(a.linked_type, a.linked_id) or ""}
            for member in group.members
            for a in outcomes[member.outcome_id].follow_ups
            if a.linked_type and a.linked_id
        ]
        result.append(
            s.RecommendationGroupOut(
                label=group.label, status=group.status, recurs=group.recurs, events=group.events,
                members=[s.TrackedRecommendationOut(**vars(member)) for member in group.members], links=links,
            )
        )
    return result
