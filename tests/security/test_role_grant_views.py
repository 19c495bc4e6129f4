"""Issue 17: the four-eyes role grant is decided in the browser, by a second administrator only."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.security import service
from passage.security.actors import system_actor
from passage.security.models import Organisation, Role, RoleGrantRequest, RoleGrantStatus, User
from tests.security.test_role_grants import SECOND_ADMIN_SECRET
from tests.security.test_views import sign_in

HTML = {"accept": "text/html"}


def _pending_request_by_admin() -> str:
    """`admin` creates an officer whose personal-data role waits for a second administrator."""
    with unit_of_work() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
        secretariat = session.scalars(select(Organisation).where(Organisation.name == "Passage Secretariat")).one()
        service.create_user(session, actor=system_actor("test.setup"), username="admin2", display_name="Second Administrator",
                            organisation_id=secretariat.id, roles=[Role.ADMIN], password="passage-demo-2026", totp_secret=SECOND_ADMIN_SECRET)
        ministry = session.scalars(select(Organisation).where(Organisation.name.startswith("Repatriation"))).one()
        created = service.create_user(session, actor=admin, username="new.officer", display_name="New Officer", organisation_id=ministry.id,
                                      roles=[Role.REQUESTING_OFFICER], password="a long enough password")
        return session.scalars(select(RoleGrantRequest.id).where(RoleGrantRequest.user_id == created.id)).one()


def _csrf(text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert match
    return match.group(1)


def test_the_asking_administrator_sees_the_request_without_buttons_and_cannot_post(app_client: Any) -> None:
    request_id = _pending_request_by_admin()
    sign_in(app_client, "admin")
    page = app_client.get("/admin/role-grants", headers=HTML)
    assert page.status_code == 200
    assert "new.officer" in page.text and "Waiting for another administrator" in page.text
    assert f"/admin/role-grants/{request_id}/approve" not in page.text
    refused = app_client.post(f"/admin/role-grants/{request_id}/approve", data={"csrf_token": _csrf(page.text)}, headers=HTML)
    assert refused.status_code == 403
    with unit_of_work() as session:
        assert session.get(RoleGrantRequest, request_id).status == RoleGrantStatus.PENDING  # type: ignore[union-attr]


def test_a_second_administrator_approves_in_the_browser(app_client: Any) -> None:
    import pyotp

    request_id = _pending_request_by_admin()
    sign_in(app_client, "admin2", code=pyotp.TOTP(SECOND_ADMIN_SECRET).now())
    page = app_client.get("/admin/role-grants", headers=HTML)
    assert f"/admin/role-grants/{request_id}/approve" in page.text
    done = app_client.post(f"/admin/role-grants/{request_id}/approve", data={"csrf_token": _csrf(page.text)}, headers=HTML, follow_redirects=False)
    assert done.status_code == 303
    with unit_of_work() as session:
        assert session.get(RoleGrantRequest, request_id).status == RoleGrantStatus.APPROVED  # type: ignore[union-attr]
        officer = session.scalars(select(User).where(User.username == "new.officer")).one()
        assert officer.role_set == frozenset({Role.REQUESTING_OFFICER})
    after = app_client.get("/admin/role-grants", headers=HTML)
    assert "No role grant is waiting for a decision." in after.text


def test_a_form_without_its_csrf_token_decides_nothing(app_client: Any) -> None:
    import pyotp

    request_id = _pending_request_by_admin()
    sign_in(app_client, "admin2", code=pyotp.TOTP(SECOND_ADMIN_SECRET).now())
    refused = app_client.post(f"/admin/role-grants/{request_id}/reject", data={}, headers=HTML)
    assert refused.status_code == 403
    with unit_of_work() as session:
        assert session.get(RoleGrantRequest, request_id).status == RoleGrantStatus.PENDING  # type: ignore[union-attr]
