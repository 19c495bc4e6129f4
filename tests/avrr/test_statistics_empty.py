"""Programme statistics of an empty programme: every count is withheld and nothing fails (was a 500)."""

from typing import Any

from sqlalchemy import select

from passage.avrr import service
from passage.core.db import unit_of_work
from passage.security.models import User


def test_statistics_of_a_programme_without_cases_withhold_everything_and_answer(app_client: Any) -> None:
    with unit_of_work() as session:
        analyst = session.scalars(select(User).where(User.username == "analyst")).one()
        stats = service.programme_statistics(session, actor=analyst, programme_id=None, country=None)
    assert stats.returns_per_country_month == []
