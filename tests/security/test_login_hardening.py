"""Issue 17 items 1 and 3: the second factor cannot be brute-forced or replayed, and a stranger cannot lock
the owner out or learn which usernames exist."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.core.settings import reset_settings_cache
from passage.security import service
from passage.security.models import User, UserNotification
from tests.conftest import demo_secret, totp_now

HTML = {"accept": "text/html"}
PASSWORD = "passage-demo-2026"


def _wrong_code(username: str) -> str:
    secret = pyotp.TOTP(demo_secret(username))
    import time

    valid = {secret.at(time.time() + drift) for drift in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def _half_sign_in(client: Any, username: str) -> str:
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": username, "password": PASSWORD, "login_csrf": token}, headers=HTML, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login/second-factor")
    second = client.get(response.headers["location"], headers=HTML)
    return re.search(r'name="csrf_token" value="([^"]+)"', second.text).group(1)  # type: ignore[union-attr]


def test_a_code_is_accepted_once_only(app_client: Any) -> None:
    code = totp_now(demo_secret("fj.officer"))
    body = {"username": "fj.officer", "password": PASSWORD, "totp_code": code}
    assert app_client.post("/api/v1/auth/token", json=body).status_code == 200
    replay = app_client.post("/api/v1/auth/token", json=body)
    assert replay.status_code == 401
    with unit_of_work() as session:
        user = service.find_user(session, username="fj.officer")
        assert user is not None and user.totp_last_step is not None


def test_a_code_used_on_the_api_is_refused_on_the_page(app_client: Any) -> None:
    code = totp_now(demo_secret("zj.officer"))
    assert app_client.post("/api/v1/auth/token", json={"username": "zj.officer", "password": PASSWORD, "totp_code": code}).status_code == 200
    csrf = _half_sign_in(app_client, "zj.officer")
    refused = app_client.post("/login/second-factor", data={"code": code, "csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert refused.status_code == 401


def test_a_half_signed_in_session_ends_after_five_wrong_codes(app_client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PASSAGE_LOGIN_BACKOFF_AFTER", "100")  # this session's own limit, without the address back-off
    reset_settings_cache()
    csrf = _half_sign_in(app_client, "gd.officer")
    wrong = _wrong_code("gd.officer")
    statuses = [
        app_client.post("/login/second-factor", data={"code": wrong, "csrf_token": csrf}, headers=HTML, follow_redirects=False).status_code
        for _ in range(5)
    ]
    assert statuses[:4] == [401] * 4
    assert statuses[4] == 303  # the session is gone: back to the password
    # Even the right code no longer completes this session.
    after = app_client.post("/login/second-factor", data={"code": totp_now(demo_secret("gd.officer")), "csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert after.status_code in (303, 401) and after.headers.get("location", "/login").startswith("/login")
    assert app_client.get("/", headers=HTML, follow_redirects=False).headers["location"].startswith("/login")
    reset_settings_cache()


def test_the_address_backs_off_at_the_second_step_too(app_client: Any) -> None:
    csrf = _half_sign_in(app_client, "gd.officer")
    wrong = _wrong_code("gd.officer")
    statuses = [
        app_client.post("/login/second-factor", data={"code": wrong, "csrf_token": csrf}, headers=HTML, follow_redirects=False)
        for _ in range(5)
    ]
    assert [r.status_code for r in statuses] == [401, 401, 401, 401, 429]
    assert int(statuses[-1].headers["retry-after"]) >= 1


def test_guessing_codes_locks_the_second_factor_at_every_step(app_client: Any, monkeypatch: Any) -> None:
    # Guesses spread over many sessions and addresses still add up per account.
    monkeypatch.setenv("PASSAGE_LOGIN_BACKOFF_AFTER", "100")
    reset_settings_cache()
    wrong = _wrong_code("mps.central")
    for _ in range(10):
        response = app_client.post("/api/v1/auth/token", json={"username": "mps.central", "password": PASSWORD, "totp_code": wrong})
        assert response.status_code == 401
    with unit_of_work() as session:
        user = service.find_user(session, username="mps.central")
        assert user is not None and user.locked_until is not None
        notices = session.scalars(select(UserNotification.kind).where(UserNotification.user_id == user.id)).all()
        assert "second_factor_locked" in notices
    # The right password and the right code are refused now, on the API and on the page.
    right = {"username": "mps.central", "password": PASSWORD, "totp_code": totp_now(demo_secret("mps.central"))}
    refused = app_client.post("/api/v1/auth/token", json=right)
    assert refused.status_code == 401 and "paused" in refused.text
    page = app_client.get("/login", headers=HTML)
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    login = app_client.post("/login", data={"username": "mps.central", "password": PASSWORD, "login_csrf": token}, headers=HTML, follow_redirects=False)
    assert login.status_code == 401 and "paused" in login.text
    reset_settings_cache()


def test_the_lock_is_honoured_at_the_second_step(app_client: Any) -> None:
    csrf = _half_sign_in(app_client, "nl.officer")
    with unit_of_work() as session:
        user = service.find_user(session, username="nl.officer")
        assert user is not None
        import datetime as dt

        from passage.core.models import utcnow

        user.locked_until = utcnow() + dt.timedelta(minutes=5)
    refused = app_client.post("/login/second-factor", data={"code": totp_now(demo_secret("nl.officer")), "csrf_token": csrf}, headers=HTML, follow_redirects=False)
    assert refused.status_code == 401
    assert app_client.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_unknown_and_known_usernames_get_identical_answers(app_client: Any) -> None:
    known = [app_client.post("/api/v1/auth/token", json={"username": "fr.officer", "password": "wrong password"}) for _ in range(5)]
    unknown = [app_client.post("/api/v1/auth/token", json={"username": "no.such.user", "password": "wrong password"}) for _ in range(5)]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401, 401, 401, 401, 429]
    assert [r.json() for r in known] == [r.json() for r in unknown]
    assert known[-1].headers["retry-after"] == unknown[-1].headers["retry-after"]


def test_a_stranger_cannot_lock_the_owner_out(app_client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PASSAGE_LOGIN_MAX_FAILURES", "3")  # notify early: only 4 of the 8 attempts get checked
    reset_settings_cache()
    for _ in range(8):
        app_client.post("/api/v1/auth/token", json={"username": "analyst", "password": "wrong password"}, headers={"x-forwarded-for": "203.0.113.9"})
    # TestClient's own address is the attacker's here, so the owner signs in from another one through the service.
    with unit_of_work() as session:
        check = service.check_password(session, username="analyst", password=PASSWORD, client="192.0.2.44")
        assert check.user.username == "analyst"
        user = session.scalars(select(User).where(User.username == "analyst")).one()
        assert user.locked_until is None
        notices = session.scalars(select(UserNotification.kind).where(UserNotification.user_id == user.id)).all()
    assert notices == ["failed_sign_ins"]
    reset_settings_cache()


def test_the_owner_sees_the_notification(app_client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("PASSAGE_LOGIN_MAX_FAILURES", "3")
    reset_settings_cache()
    for _ in range(5):
        app_client.post("/api/v1/auth/token", json={"username": "analyst", "password": "wrong password"})
    service.rate_limiter.clear()
    with unit_of_work() as session:
        from sqlalchemy import delete

        from passage.security.models import LoginThrottle

        session.execute(delete(LoginThrottle))
    token = app_client.post("/api/v1/auth/token", json={"username": "analyst", "password": PASSWORD}).json()["access_token"]
    notices = app_client.get("/api/v1/me/notifications", headers={"Authorization": f"Bearer {token}"}).json()
    assert [n["kind"] for n in notices["items"]] == ["failed_sign_ins"]
    assert notices["items"][0]["created_at"].endswith(("+00:00", "Z"))
    reset_settings_cache()


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(monkeypatch: Any) -> None:
    from passage.core.cli import uvicorn_options
    from passage.core.settings import get_settings

    monkeypatch.delenv("PASSAGE_TRUSTED_PROXIES", raising=False)
    reset_settings_cache()
    assert uvicorn_options(get_settings())["proxy_headers"] is False
    monkeypatch.setenv("PASSAGE_TRUSTED_PROXIES", '["10.0.0.5"]')
    reset_settings_cache()
    options = uvicorn_options(get_settings())
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == "10.0.0.5"
    assert options["access_log"] is False
    reset_settings_cache()
