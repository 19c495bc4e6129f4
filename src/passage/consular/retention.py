"""The consular module's retention policy, contributed to `passage retention run` (`passage.security.retention`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from passage.security.actors import Actor
from passage.security.retention import RetentionPolicy


def _expired(session: Session, today: dt.date) -> list[str]:
    from passage.consular import service

    return service.registrations_with_expired_history(session, today=today)


def _erase(session: Session, registration_id: str, actor: Actor, today: dt.date) -> None:
    from passage.consular import service

    service.erase_registration_history(session, actor=actor, registration_id=registration_id, today=today)


def _period() -> str:
    from passage.consular import service

    return str(service.RETENTION_POLICY["description"])


policies = [
    RetentionPolicy(
        record_type="consular_location_history", module="consular", period=_period(),
        erased="past positions (location history); the current position once the trip has ended",
        kept="the registration, its contact status in crises and evacuation records (for statistics and follow-up)",
        find_expired=_expired, erase=_erase,
    ),
]
