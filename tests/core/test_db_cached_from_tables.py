"""`core.db.cached_from_tables`: a value built from tables is kept until their fingerprint changes, on both stores."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import Engine, func, insert, select

from passage.core.db import cached_from_tables, unit_of_work
from passage.security.models import Organisation

FINGERPRINT = select(select(func.count()).select_from(Organisation).scalar_subquery(), select(func.max(Organisation.created_at)).scalar_subquery())


class Abandoned(Exception):
    """Raised to roll a unit of work back."""


def _add_organisation(session: object, name: str) -> None:
    now = dt.datetime.now(dt.UTC)
    session.execute(insert(Organisation).values(id=secrets.token_hex(16), name=name, country="NL", level="national", version=1, created_at=now, updated_at=now))  # type: ignore[attr-defined]


def _names(session: object, builds: list[int]) -> frozenset[str]:
    def build() -> frozenset[str]:
        builds.append(1)
        return frozenset(session.scalars(select(Organisation.name)))  # type: ignore[attr-defined]

    return cached_from_tables(session, name=f"test.names.{id(builds)}", fingerprint=FINGERPRINT, build=build)  # type: ignore[arg-type]


def test_kept_while_the_tables_are_unchanged_and_rebuilt_after_a_change(any_store: Engine) -> None:
    builds: list[int] = []
    with unit_of_work() as session:
        first = _names(session, builds)
    with unit_of_work() as session:
        assert _names(session, builds) is first
    assert len(builds) == 1
    with unit_of_work() as session:
        _add_organisation(session, "Cached-from-tables A")
    with unit_of_work() as session:
        after = _names(session, builds)
    assert len(builds) == 2
    assert "Cached-from-tables A" in after and "Cached-from-tables A" not in first


def test_a_transaction_sees_its_own_change_and_a_rolled_back_one_is_not_kept(any_store: Engine) -> None:
    builds: list[int] = []
    with unit_of_work() as session:
        before = _names(session, builds)
    with pytest.raises(Abandoned), unit_of_work() as session:
        _add_organisation(session, "Cached-from-tables B")
        # the fingerprint is read in the caller's transaction: its own insert counts
        assert "Cached-from-tables B" in _names(session, builds)
        raise Abandoned
    with unit_of_work() as session:
        # the value built inside the rolled-back transaction has another fingerprint than the committed tables
        assert "Cached-from-tables B" not in _names(session, builds)
    assert "Cached-from-tables B" not in before
    assert len(builds) == 3
