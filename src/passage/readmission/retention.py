"""The readmission module's retention policy, contributed to `passage retention run`
(`passage.security.retention`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from passage.security.actors import Actor
from passage.security.retention import RetentionPolicy


def _expired(session: Session, today: dt.date) -> list[str]:
    from passage.readmission import service

    return service.expired_case_ids(session, today=today)


def _erase(session: Session, case_id: str, actor: Actor, today: dt.date) -> None:
    from passage.readmission import service

    service.erase_case(session, case_id=case_id, actor=actor, today=today)


policies = [
    RetentionPolicy(
        record_type="readmission_case", module="readmission",
        period="closed cases, after the agreement's retention_after_closure (data-protection article; e.g. 730 days)",
        erased="names, dates and places of birth, parents, languages, addresses, description, photo, needs, "
               "security measures, travel document number, flight and escorts, aliases, evidence files, officers' notes",
        kept="agreement, states, province, dates, outcome, refusal reason, sex, nationality (for statistics)",
        find_expired=_expired, erase=_erase,
    ),
]
