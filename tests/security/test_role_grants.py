"""Issue 17 item 2: no one changes their own roles, roles fit the organisation, personal-data roles need four eyes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.security import service
from passage.security.actors import system_actor
from passage.security.models import AuditEntry, Organisation, Role, User, UserNotification
from tests.conftest import api_headers


def _org(name: str) -> str:
    with unit_of_work() as session:
        return session.scalars(select(Organisation.id).where(Organisation.name.startswith(name))).one()


SECOND_ADMIN_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _second_admin_headers(client: Any) -> dict[str, str]:
    import pyotp

    body = {"username": "admin2", "password": "passage-demo-2026", "totp_code": pyotp.TOTP(SECOND_ADMIN_SECRET).now()}
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _second_admin() -> None:
    with unit_of_work() as session:
        secretariat = session.scalars(select(Organisation).where(Organisation.name == "Passage Secretariat")).one()
        service.create_user(session, actor=system_actor("test.setup"), username="admin2", display_name="Second Administrator", organisation_id=secretariat.id,
                            roles=[Role.ADMIN], password="passage-demo-2026", totp_secret=SECOND_ADMIN_SECRET)


def test_no_one_changes_their_own_roles(app_client: Any, demo_people: dict[str, str]) -> None:
    headers = api_headers(app_client, "admin")
    me = app_client.get("/api/v1/me", headers=headers).json()
    response = app_client.patch(f"/api/v1/users/{me['id']}", json={"version": me["version"], "roles": ["admin", "requesting_officer"]}, headers=headers)
    assert response.status_code == 403
    assert app_client.get("/api/v1/me", headers=headers).json()["roles"] == ["admin"]
    # And it still reads no case.
    assert app_client.get("/api/v1/readmission/cases", headers=headers).status_code == 403


def test_roles_must_fit_the_organisation(app_client: Any) -> None:
    headers = api_headers(app_client, "admin")
    for organisation, role in (("Passage Secretariat", "central_officer"), ("Passage Secretariat", "provincial_officer"),
                               ("Passage Secretariat", "iom_caseworker"), ("Ministry of Public Security", "provincial_officer"),
                               ("Fujian", "requesting_officer"), ("IOM China", "central_officer")):
        body = {"username": f"new.{role}", "display_name": "New", "organisation_id": _org(organisation), "roles": [role], "password": "a long enough password"}
        response = app_client.post("/api/v1/users", json=body, headers=headers)
        assert response.status_code == 422, (organisation, role, response.text)
        assert response.json()["fields"][0]["path"] == "roles"


def test_a_personal_data_role_waits_for_a_second_administrator(app_client: Any) -> None:
    _second_admin()
    headers = api_headers(app_client, "admin")
    body = {"username": "new.officer", "display_name": "New Officer", "organisation_id": _org("Repatriation"), "roles": ["requesting_officer"], "password": "a long enough password"}
    created = app_client.post("/api/v1/users", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == [] and created.json()["pending_roles"] == ["requesting_officer"]
    grants = app_client.get("/api/v1/role-grants", headers=headers).json()["items"]
    assert len(grants) == 1 and grants[0]["user_id"] == created.json()["id"]
    # The administrator who asked cannot approve.
    assert app_client.post(f"/api/v1/role-grants/{grants[0]['id']}/approve", headers=headers).status_code == 403
    second = _second_admin_headers(app_client)
    approved = app_client.post(f"/api/v1/role-grants/{grants[0]['id']}/approve", headers=second)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    user = app_client.get(f"/api/v1/users/{created.json()['id']}", headers=second).json()
    assert user["roles"] == ["requesting_officer"] and user["pending_roles"] is None
    with unit_of_work() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == created.json()["id"])).all()
        assert {"create", "request_role_grant", "approve_role_grant"} <= set(actions)
        assert session.scalars(select(UserNotification.kind).where(UserNotification.user_id == created.json()["id"])).all() == ["roles_granted"]


def test_adding_a_personal_data_role_to_an_existing_user_waits(app_client: Any, demo_people: dict[str, str]) -> None:
    _second_admin()
    headers = api_headers(app_client, "admin")
    analyst = app_client.get(f"/api/v1/users/{demo_people['analyst']}", headers=headers).json()
    # The analyst is in IOM China: the caseworker role fits, but needs a second administrator.
    response = app_client.patch(f"/api/v1/users/{analyst['id']}", json={"version": analyst["version"], "roles": ["analyst", "iom_caseworker"]}, headers=headers)
    assert response.status_code == 200
    assert response.json()["roles"] == ["analyst"] and response.json()["pending_roles"] == ["analyst", "iom_caseworker"]
    with unit_of_work() as session:
        user = session.get(User, analyst["id"])
        assert user is not None and user.role_set == {Role.ANALYST}
    grant = app_client.get("/api/v1/role-grants", headers=headers).json()["items"][0]
    rejected = app_client.post(f"/api/v1/role-grants/{grant['id']}/reject", headers=_second_admin_headers(app_client))
    assert rejected.json()["status"] == "rejected"
    assert app_client.get(f"/api/v1/users/{analyst['id']}", headers=headers).json()["roles"] == ["analyst"]
    # Removing roles needs no second approval.
    current = app_client.get(f"/api/v1/users/{demo_people['iom.caseworker']}", headers=headers).json()
    removed = app_client.patch(f"/api/v1/users/{current['id']}", json={"version": current["version"], "roles": ["analyst"]}, headers=headers)
    assert removed.json()["roles"] == ["analyst"]
