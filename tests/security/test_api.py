"""The API edge: bearer tokens with a second factor, 4xx with field paths, 403 audited, 413, no personal data in errors."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from passage.core.app import create_app
from passage.core.db import unit_of_work
from passage.core.deps import DbSession
from passage.security import audit
from passage.security.deps import require
from passage.security.models import AuditEntry, User
from passage.security.permissions import Permission
from tests.conftest import api_headers, demo_secret, totp_now


def test_token_requires_second_factor_for_personal_data_roles(app_client: Any) -> None:
    response = app_client.post("/api/v1/auth/token", json={"username": "nl.officer", "password": "passage-demo-2026"})
    assert response.status_code == 401
    assert "second-factor" in response.json()["detail"]
    ok = app_client.post("/api/v1/auth/token", json={"username": "nl.officer", "password": "passage-demo-2026", "totp_code": totp_now(demo_secret("nl.officer"))})
    assert ok.status_code == 200


def test_analyst_signs_in_without_second_factor(app_client: Any) -> None:
    headers = api_headers(app_client, "analyst")
    me = app_client.get("/api/v1/me", headers=headers).json()
    assert me["roles"] == ["analyst"]


def test_validation_errors_name_the_field_and_never_echo_the_value(app_client: Any) -> None:
    headers = api_headers(app_client, "admin")
    orgs = app_client.get("/api/v1/organisations", headers=headers).json()
    body = {"username": "X Bad Name", "display_name": "Zhang Wei 张伟", "organisation_id": orgs[0]["id"], "roles": ["nobody"], "password": "short"}
    response = app_client.post("/api/v1/users", json=body, headers=headers)
    assert response.status_code == 422
    paths = {f["path"] for f in response.json()["fields"]}
    assert {"username", "roles.0", "password"} <= paths
    assert "张伟" not in response.text and "short" not in response.text.replace("at least", "")


def test_malformed_json_is_a_4xx_not_a_500(app_client: Any) -> None:
    headers = api_headers(app_client, "admin") | {"content-type": "application/json"}
    response = app_client.post("/api/v1/users", content=b"{not json", headers=headers)
    assert response.status_code == 422


def test_unknown_fields_are_refused(app_client: Any) -> None:
    response = app_client.post("/api/v1/auth/token", json={"username": "a", "password": "b", "is_admin": True})
    assert response.status_code == 422
    assert response.json()["fields"][0]["path"] == "is_admin"


def test_oversized_request_gets_413_and_changes_nothing(app_client: Any) -> None:
    headers = api_headers(app_client, "admin")
    with unit_of_work() as session:
        before = len(session.scalars(select(AuditEntry.id)).all())
    huge = b"x" * (26 * 1024 * 1024)
    response = app_client.post("/api/v1/users", content=huge, headers=headers | {"content-type": "application/json"})
    assert response.status_code == 413
    with unit_of_work() as session:
        assert len(session.scalars(select(AuditEntry.id)).all()) == before


def test_wrong_role_gets_403_and_the_refusal_is_audited(app_client: Any) -> None:
    headers = api_headers(app_client, "fj.officer")
    response = app_client.get("/api/v1/audit", headers=headers)
    assert response.status_code == 403
    with unit_of_work() as session:
        refusal = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused")).all()
    assert len(refusal) == 1
    assert refusal[0].entity_id == "/api/v1/audit"
    assert refusal[0].details["missing"] == ["audit:read"]


def test_no_credentials_gets_401(app_client: Any) -> None:
    assert app_client.get("/api/v1/me").status_code == 401
    assert app_client.get("/api/v1/me", headers={"Authorization": "Bearer pst_forged"}).status_code == 401


def test_revoked_token_stops_working_immediately(app_client: Any) -> None:
    headers = api_headers(app_client, "analyst")
    assert app_client.get("/api/v1/me", headers=headers).status_code == 200
    assert app_client.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert app_client.get("/api/v1/me", headers=headers).status_code == 401


def test_disabling_a_user_ends_their_tokens(app_client: Any) -> None:
    admin = api_headers(app_client, "admin")
    victim = api_headers(app_client, "fr.officer")
    me = app_client.get("/api/v1/me", headers=victim).json()
    assert app_client.post(f"/api/v1/users/{me['id']}/disable", headers=admin).status_code == 200
    assert app_client.get("/api/v1/me", headers=victim).status_code == 401


def test_stale_update_gets_409(app_client: Any) -> None:
    admin = api_headers(app_client, "admin")
    target = app_client.get("/api/v1/users", params={"q": "analyst"}, headers=admin).json()["items"][0]
    first = app_client.patch(f"/api/v1/users/{target['id']}", json={"version": target["version"], "display_name": "A"}, headers=admin)
    assert first.status_code == 200
    second = app_client.patch(f"/api/v1/users/{target['id']}", json={"version": target["version"], "display_name": "B"}, headers=admin)
    assert second.status_code == 409
    assert app_client.get(f"/api/v1/users/{target['id']}", headers=admin).json()["display_name"] == "A"


def test_login_success_and_failure_are_audited(app_client: Any) -> None:
    app_client.post("/api/v1/auth/token", json={"username": "analyst", "password": "nope"})
    api_headers(app_client, "analyst")
    with unit_of_work() as session:
        logins = session.scalars(select(AuditEntry).where(AuditEntry.action == "login").order_by(AuditEntry.sequence)).all()
    assert [e.outcome for e in logins] == ["failed", "ok"]


def test_openapi_document_lists_the_api(app_client: Any) -> None:
    document = app_client.get("/api/v1/openapi.json").json()
    assert "/api/v1/auth/token" in document["paths"]
    assert "/api/v1/users/{user_id}" in document["paths"]


def test_health_endpoint(app_client: Any, store_kind: str) -> None:
    assert app_client.get("/healthz").json() == {"status": "ok", "database": store_kind}


def test_a_crash_mid_request_leaves_neither_change_nor_audit_entry(demo_people: dict[str, str]) -> None:
    app = create_app()

    @app.post("/api/v1/test-crash")
    def crash(db: DbSession, user: Annotated[User, require(Permission.USERS_MANAGE)]) -> None:
        user.display_name = "changed before the crash"
        audit.record(db, actor=user, action="update", entity_type="user", entity_id=user.id)
        db.flush()
        raise RuntimeError("simulated crash after the change was flushed")

    with TestClient(app, raise_server_exceptions=False) as client:
        headers = api_headers(client, "admin")
        with unit_of_work() as session:
            before = len(session.scalars(select(AuditEntry.id)).all())
        response = client.post("/api/v1/test-crash", headers=headers)
        assert response.status_code == 500
        assert "simulated" not in response.text
        assert client.get("/api/v1/me", headers=headers).json()["display_name"] == "Platform Administrator"
    with unit_of_work() as session:
        assert len(session.scalars(select(AuditEntry.id)).all()) == before
