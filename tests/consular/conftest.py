"""Consular fixtures: the demo people, consular districts for Indonesia, and helpers to build inputs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from passage.consular.schemas import ContactIn, IdentityIn, LocationIn, RegistrationIn
from passage.core.db import get_engine, session_factory, unit_of_work
from passage.security.demo import DEMO_ORGANISATIONS, DemoContext
from passage.security.models import Organisation, User
from tests.conftest import demo_secret, totp_now

TODAY = dt.date.today()
SQUARE = {"type": "Polygon", "coordinates": [[[115.9, -8.7], [116.3, -8.7], [116.3, -8.4], [115.9, -8.4], [115.9, -8.7]]]}
"""Around Mataram, Lombok (inside the Denpasar district)."""


def demo_context(session: Session) -> DemoContext:
    context = DemoContext()
    by_name = {str(spec["name"]): str(spec["key"]) for spec in DEMO_ORGANISATIONS}
    for organisation in session.scalars(select(Organisation)):
        context.organisations[by_name[organisation.name]] = organisation
    from passage.security.demo import DEMO_USERS

    keys = {str(spec["username"]): str(spec["key"]) for spec in DEMO_USERS}
    for user in session.scalars(select(User)):
        context.users[keys[user.username]] = user
    return context


def with_districts() -> None:
    from passage.consular.demo import setup_districts

    with unit_of_work() as s:
        setup_districts(s, demo_context(s))


@pytest.fixture
def engine(demo_people: dict[str, str]) -> Engine:
    with_districts()
    return get_engine()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_factory(engine)() as s:
        yield s


def user_named(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def registration(family: str = "王", given: str = "芳", *, lat: float | None = -8.58, lon: float | None = 116.11, city: str = "Mataram",
                 birth: dt.date | None = dt.date(1990, 5, 17), passport: str = "", vulnerabilities: list[str] | None = None,
                 household: str | None = None, phone: str = "+86 13900000000", language: str = "zh", country: str = "ID") -> RegistrationIn:
    return RegistrationIn(identity=IdentityIn(family_name=family, given_name=given, sex="F", birth_date=birth, passport_number=passport),
                          contact=ContactIn(phone=phone), language=language, destination_country=country, arrival_on=TODAY - dt.timedelta(days=2),
                          departure_on=TODAY + dt.timedelta(days=10), location=LocationIn(latitude=lat, longitude=lon, city=city),
                          vulnerabilities=vulnerabilities or [], household=household)


def web_sign_in(client: Any, username: str) -> str:
    """Sign in through the pages; returns the CSRF token of the session."""
    page = client.get("/login")
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": "passage-demo-2026", "login_csrf": login_csrf, "next": "/"}, follow_redirects=True)
    if "second-factor" in str(response.url):
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)  # type: ignore[union-attr]
        response = client.post("/login/second-factor", data={"code": totp_now(demo_secret(username)), "csrf_token": csrf, "next": "/"}, follow_redirects=True)
    assert response.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)  # type: ignore[union-attr]
