"""The browser flow through the server: sign in with CSRF and a second factor, enrolment, sign out, admin pages."""

from __future__ import annotations

import re
from typing import Any

import pyotp

from tests.conftest import demo_secret, totp_now

HTML = {"accept": "text/html"}


def _login_form(client: Any) -> str:
    page = client.get("/login", headers=HTML)
    assert page.status_code == 200
    match = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _csrf(page_text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page_text)
    assert match
    return match.group(1)


def sign_in(client: Any, username: str, *, code: str | None = None) -> None:
    token = _login_form(client)
    response = client.post("/login", data={"username": username, "password": "passage-demo-2026", "login_csrf": token, "next": "/"}, headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    if response.headers["location"].startswith("/login/second-factor"):
        page = client.get(response.headers["location"], headers=HTML)
        done = client.post("/login/second-factor", data={"code": code or totp_now(demo_secret(username)), "csrf_token": _csrf(page.text), "next": "/"}, headers=HTML, follow_redirects=False)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/"


def test_protected_page_redirects_to_login(app_client: Any) -> None:
    response = app_client.get("/", headers=HTML, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_sign_in_with_second_factor_reaches_home(app_client: Any) -> None:
    sign_in(app_client, "fj.officer")
    home = app_client.get("/", headers=HTML)
    assert home.status_code == 200
    assert "Lin Hui" in home.text


def test_password_alone_does_not_open_protected_pages(app_client: Any) -> None:
    token = _login_form(app_client)
    app_client.post("/login", data={"username": "fj.officer", "password": "passage-demo-2026", "login_csrf": token}, headers=HTML, follow_redirects=False)
    response = app_client.get("/", headers=HTML, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_wrong_second_factor_is_refused(app_client: Any) -> None:
    token = _login_form(app_client)
    response = app_client.post("/login", data={"username": "fj.officer", "password": "passage-demo-2026", "login_csrf": token}, headers=HTML, follow_redirects=False)
    page = app_client.get(response.headers["location"], headers=HTML)
    right = totp_now(demo_secret("fj.officer"))
    wrong = "000000" if right != "000000" else "111111"
    refused = app_client.post("/login/second-factor", data={"code": wrong, "csrf_token": _csrf(page.text)}, headers=HTML, follow_redirects=False)
    assert refused.status_code == 401


def test_login_without_the_form_token_is_refused(app_client: Any) -> None:
    response = app_client.post("/login", data={"username": "analyst", "password": "passage-demo-2026", "login_csrf": "forged"}, headers=HTML)
    assert response.status_code == 400


def test_unsafe_request_without_csrf_token_is_refused(app_client: Any) -> None:
    sign_in(app_client, "admin")
    page = app_client.get("/admin/users", headers=HTML)
    target = re.search(r'action="/admin/users/([0-9a-f]{32})/disable"', page.text)
    assert target
    forged = app_client.post(f"/admin/users/{target.group(1)}/disable", data={}, headers=HTML, follow_redirects=False)
    assert forged.status_code == 403
    genuine = app_client.post(f"/admin/users/{target.group(1)}/disable", data={"csrf_token": _csrf(page.text)}, headers=HTML, follow_redirects=False)
    assert genuine.status_code == 303


def test_first_sign_in_enrols_a_second_factor(app_client: Any) -> None:
    from passage.core.db import unit_of_work
    from passage.security import service

    with unit_of_work() as session:
        user = service.find_user(session, username="zj.officer")
        assert user is not None
        user.totp_secret = None
    token = _login_form(app_client)
    response = app_client.post("/login", data={"username": "zj.officer", "password": "passage-demo-2026", "login_csrf": token}, headers=HTML, follow_redirects=False)
    assert response.headers["location"].startswith("/login/enrol")
    page = app_client.get(response.headers["location"], headers=HTML)
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", page.text)
    assert secret and "<svg" in page.text
    done = app_client.post("/login/enrol", data={"code": pyotp.TOTP(secret.group(1)).now(), "csrf_token": _csrf(page.text)}, headers=HTML, follow_redirects=False)
    assert done.status_code == 303
    assert app_client.get("/", headers=HTML).status_code == 200


def test_language_switch_translates_the_page(app_client: Any) -> None:
    page = app_client.get("/login", headers=HTML)
    assert "Sign in" in page.text
    app_client.post("/language", data={"lang": "zh_Hans", "next": "/login"}, follow_redirects=False)
    page = app_client.get("/login", headers=HTML)
    assert "登录" in page.text and 'lang="zh-Hans"' in page.text


def test_sign_out_ends_the_session(app_client: Any) -> None:
    sign_in(app_client, "analyst")
    home = app_client.get("/", headers=HTML)
    app_client.post("/logout", data={"csrf_token": _csrf(home.text)}, follow_redirects=False)
    assert app_client.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_audit_viewer_verifies_the_chain(app_client: Any) -> None:
    sign_in(app_client, "admin")
    page = app_client.get("/admin/audit?verify=true", headers=HTML)
    assert page.status_code == 200
    assert "The audit chain is intact." in page.text


def test_provincial_officer_cannot_open_admin_pages(app_client: Any) -> None:
    sign_in(app_client, "gd.officer")
    assert app_client.get("/admin/users", headers=HTML).status_code == 403
