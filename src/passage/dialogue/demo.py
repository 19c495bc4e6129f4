"""Demo records for `make run`: the two seed events, loaded through the service so the audit log is real."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from passage.core.i18n import P_, localise
from passage.dialogue import models as m
from passage.dialogue import service

#: Seed institutions acted for by a demo organisation (their users are the events' organisers).
ORGANISATION_LINKS = {"iom-china": "iom", "mps-beea": "mps"}

#: Directory entries for the demo. Fictional people with example.org addresses, never real officers.
DEMO_FOCAL_POINTS: list[dict[str, Any]] = [
    {"institution": "iom-china", "name": "Demo Focal Point (IOM China)", "function": "focal_point", "topic": "AVRR and reintegration",
     "translations": {"topic": {"zh_Hans": "协助自愿返回和重返社会"}},
     "email": "focal.point@example.org", "phone": "+86 10 0000 0000", "consent_to_list": True, "consent_date": dt.date(2026, 1, 15)},
    {"institution": "mps-beea", "name": "Demo Liaison Officer (MPS)", "function": "immigration_liaison_officer", "topic": "Readmission and identification",
     "translations": {"topic": {"zh_Hans": "重新接纳与身份识别"}},
     "email": "liaison.officer@example.org", "consent_to_list": True, "consent_date": dt.date(2026, 1, 15)},
    {"institution": "mps-beea", "name": "Demo Officer without consent", "function": "focal_point", "topic": None,
     "email": "unlisted@example.org", "consent_to_list": False},
]


def load_demo_records(session: Session, *, context: Any) -> list[str]:
    """Load the 2015 workshop and the 2018 seminar (with the 21 evaluation responses), link their organisers, add a directory."""
    actor = context.users["iom_caseworker"]
    loaded = service.load_seed_events(session, actor=actor)
    institutions = {i.key: i for i in session.scalars(select(m.Institution).where(m.Institution.key.is_not(None)))}
    for key, organisation in ORGANISATION_LINKS.items():
        if key in institutions and organisation in context.organisations:
            service.link_institution(session, actor=actor, institution_id=institutions[key].id, organisation_id=context.organisations[organisation].id)
    if session.scalars(select(m.FocalPoint).limit(1)).first() is None:
        for entry in DEMO_FOCAL_POINTS:
            data = {k: v for k, v in entry.items() if k != "institution"}
            service.add_focal_point(session, actor=actor, data={**data, "institution_id": institutions[entry["institution"]].id})
    lines = [localise(P_("dialogue: loaded {n} seed event", "dialogue: loaded {n} seed events", len(loaded)))]
    for key in loaded:
        flags = service.flags_out(service.get_event(session, event_ref=key))
        lines.append(localise(P_("dialogue: {key}: {n} consistency flag", "dialogue: {key}: {n} consistency flags", len(flags), key=key)))
    return lines
