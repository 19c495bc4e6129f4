"""`core.db.count_rows`: exact up to the limit; above it the planner's estimate, reused for a while, on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import Engine, event, insert, select

from passage.core import db
from passage.core.db import count_rows, unit_of_work
from passage.security.models import Organisation


def _add_organisations(count: int, country: str) -> None:
    now = dt.datetime.now(dt.UTC)
    with unit_of_work() as session:
        session.execute(insert(Organisation), [{"id": secrets.token_hex(16), "name": f"Count {country} {n}", "country": country, "level": "national",
                                                "version": 1, "created_at": now, "updated_at": now} for n in range(count)])


def _explains(engine: Engine) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("EXPLAIN"):
            seen.append(statement)

    return seen


def test_exact_up_to_the_limit_then_an_estimate_reused_for_the_same_statement_and_parameters(any_store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    _add_organisations(30, "XA")
    _add_organisations(3, "XB")
    explains = _explains(any_store)
    many = select(Organisation.id).where(Organisation.country == "XA")
    with unit_of_work() as session:
        few = count_rows(session, select(Organisation.id).where(Organisation.country == "XB"), exact_up_to=10)
        first = count_rows(session, many, exact_up_to=10)
        again = count_rows(session, select(Organisation.id).where(Organisation.country == "XA"), exact_up_to=10)
        other = count_rows(session, select(Organisation.id).where(Organisation.country.in_(["XA", "XB"])), exact_up_to=10)
    assert (few.value, few.estimated) == (3, False)
    if any_store.dialect.name == "sqlite":
        assert (first.value, first.estimated) == (30, False) and other.value == 33 and explains == []
        return
    assert first.estimated and first.value >= 11 and again == first
    # the second call of the same statement reused the estimate; another statement asked the planner again
    assert len(explains) == 2
    monkeypatch.setattr(db, "ESTIMATE_SECONDS", 0.0)
    with unit_of_work() as session:
        count_rows(session, many, exact_up_to=10)
    assert len(explains) == 3
