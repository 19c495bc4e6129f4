"""Deny-by-default record scope: own organisation, routed province, addressed country; nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from passage.core.db import unit_of_work
from passage.core.errors import NotFound
from passage.core.models import new_id
from passage.security.models import Organisation, User
from passage.security.scope import RecordScope, can_see, get_visible, scoped_select


class _TestBase(DeclarativeBase):
    pass


class Dossier(_TestBase):
    """A stand-in for any module's scoped record (kept off the application's metadata)."""

    __tablename__ = "test_scope_dossiers"
    __scope__ = RecordScope(owner_organisation="owner_id", routed_organisation="routed_to_id", addressed_country="addressed_country")

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner_id: Mapped[str] = mapped_column(String(32))
    routed_to_id: Mapped[str | None] = mapped_column(String(32))
    addressed_country: Mapped[str] = mapped_column(String(2))


class Unscoped(_TestBase):
    __tablename__ = "test_scope_unscoped"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)


@pytest.fixture
def dossiers(demo_people: dict[str, str]) -> dict[str, str]:
    from passage.core.db import get_engine

    _TestBase.metadata.create_all(get_engine(), tables=[Dossier.__table__, Unscoped.__table__])  # type: ignore[list-item]
    with unit_of_work() as session:
        orgs = {o.name.split()[0]: o.id for o in session.scalars(select(Organisation))}
        nl, fr, fujian, zhejiang = orgs["Repatriation"], orgs["Directorate"], orgs["Fujian"], orgs["Zhejiang"]
        records = {
            "nl_to_fujian": Dossier(owner_id=nl, routed_to_id=fujian, addressed_country="CN"),
            "fr_to_zhejiang": Dossier(owner_id=fr, routed_to_id=zhejiang, addressed_country="CN"),
            "nl_unrouted": Dossier(owner_id=nl, routed_to_id=None, addressed_country="CN"),
            "nl_to_other_state": Dossier(owner_id=nl, routed_to_id=None, addressed_country="PK"),
        }
        session.add_all(records.values())
        session.add(Unscoped())
        session.flush()
        return {key: record.id for key, record in records.items()}


EXPECTED = {
    "nl.officer": {"nl_to_fujian", "nl_unrouted", "nl_to_other_state"},
    "fr.officer": {"fr_to_zhejiang"},
    "mps.central": {"nl_to_fujian", "fr_to_zhejiang", "nl_unrouted"},
    "fj.officer": {"nl_to_fujian"},
    "zj.officer": {"fr_to_zhejiang"},
    "gd.officer": set(),
    "iom.caseworker": set(),
    "analyst": set(),
    "admin": set(),
}


@pytest.mark.parametrize("username", sorted(EXPECTED))
def test_each_role_sees_exactly_its_scope(username: str, dossiers: dict[str, str], demo_people: dict[str, str]) -> None:
    by_id = {v: k for k, v in dossiers.items()}
    with unit_of_work() as session:
        user = session.get(User, demo_people[username])
        assert user is not None
        listed = {by_id[d.id] for d in session.scalars(scoped_select(Dossier, user))}
        assert listed == EXPECTED[username]
        for key, record_id in dossiers.items():
            record = session.get(Dossier, record_id)
            assert can_see(record, user) == (key in EXPECTED[username])
            if key not in EXPECTED[username]:
                with pytest.raises(NotFound):
                    get_visible(session, Dossier, record_id, user)
            else:
                assert get_visible(session, Dossier, record_id, user).id == record_id


def test_a_model_without_scope_is_visible_to_nobody(dossiers: dict[str, str], demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        user = session.get(User, demo_people["admin"])
        assert user is not None
        assert session.scalars(scoped_select(Unscoped, user)).all() == []


def test_a_disabled_user_sees_nothing(dossiers: dict[str, str], demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        user = session.get(User, demo_people["nl.officer"])
        assert user is not None
        user.is_active = False
        assert session.scalars(scoped_select(Dossier, user)).all() == []
