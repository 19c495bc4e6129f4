"""Issue 17 items 5, 6, 8, 10, 11, 12, 17: errors, logs, limits and schemas of the application itself."""

from __future__ import annotations

import concurrent.futures
import logging
import re
import socket
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError

from passage.core.api_schemas import RequestModel
from passage.core.app import create_app, iter_routes
from tests.conftest import LiveServer, api_headers

HTML = {"accept": "text/html"}


def test_a_huge_offset_is_422_on_every_list_endpoint(app_client: Any) -> None:
    headers = {**api_headers(app_client, "admin"), **api_headers(app_client, "analyst")}
    admin = api_headers(app_client, "admin")
    for path in ("/api/v1/users", "/api/v1/audit", "/api/v1/forms", "/api/v1/dialogue/events"):
        response = app_client.get(path, params={"offset": "9223372036854775808"}, headers=admin)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["fields"][0]["path"] == "offset"
    assert headers


def test_a_chunked_body_over_the_limit_gets_413(app_client: Any, monkeypatch: Any) -> None:
    from passage.core.settings import reset_settings_cache

    monkeypatch.setenv("PASSAGE_MAX_REQUEST_BYTES", "1000")
    reset_settings_cache()
    with TestClient(create_app()) as client:
        def chunks() -> Any:
            for _ in range(10):
                yield b'{"username": "' + b"x" * 200 + b'"}'

        response = client.post("/api/v1/auth/token", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
    reset_settings_cache()


def test_a_lock_timeout_is_503_with_retry_after(demo_people: dict[str, str]) -> None:
    app = create_app()

    @app.get("/api/v1/test-locked", dependencies=[])
    def locked() -> None:
        import sqlite3

        raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))

    with TestClient(app) as client:
        response = client.get("/api/v1/test-locked")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"


def test_an_unexpected_error_logs_one_line_without_traceback_or_values(demo_people: dict[str, str], caplog: Any) -> None:
    app = create_app()

    @app.get("/api/v1/test-crash")
    def crash() -> None:
        raise ValueError("ZHENG Xiaoming 1990-04-02 passport E12345678")

    caplog.set_level(logging.DEBUG)
    with TestClient(app) as client:
        response = client.get("/api/v1/test-crash")
    assert response.status_code == 500
    incident = re.search(r"incident ([0-9a-f]{12})", response.text)
    assert incident
    assert "ZHENG" not in response.text
    logged = "\n".join(r.getMessage() + (str(r.exc_info) if r.exc_info else "") for r in caplog.records)
    assert incident.group(1) in logged and "ValueError" in logged
    assert "ZHENG" not in logged and "E12345678" not in logged and "Traceback" not in logged
    assert not any(r.exc_info for r in caplog.records)


def test_the_access_log_keeps_parameter_names_not_values(app_client: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="passage.access")
    headers = api_headers(app_client, "admin")
    app_client.get("/api/v1/users", params={"q": "ZHENG", "limit": 5}, headers=headers)
    lines = [r.getMessage() for r in caplog.records if r.name == "passage.access"]
    assert any("/api/v1/users?limit&q" in line for line in lines), lines
    assert not any("ZHENG" in line for line in lines)


def test_sign_out_needs_the_csrf_token(app_client: Any) -> None:
    from tests.security.test_views import sign_in

    sign_in(app_client, "analyst")
    forged = app_client.post("/logout", headers=HTML, follow_redirects=False)
    assert forged.status_code == 403
    assert app_client.get("/", headers=HTML).status_code == 200  # still signed in
    page = app_client.get("/", headers=HTML)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    done = app_client.post("/logout", data={"csrf_token": token}, headers=HTML, follow_redirects=False)
    assert done.status_code == 303
    assert app_client.get("/", headers=HTML, follow_redirects=False).status_code == 303


def test_timestamps_carry_their_offset(app_client: Any, demo_people: dict[str, str]) -> None:
    headers = api_headers(app_client, "admin")
    entries = app_client.get("/api/v1/audit", headers=headers).json()["items"]
    assert entries and all(e["occurred_at"].endswith(("+00:00", "Z")) for e in entries)
    token = app_client.post("/api/v1/auth/token", json={"username": "analyst", "password": "passage-demo-2026"}).json()
    assert token["expires_at"].endswith(("+00:00", "Z"))


def _body_models(annotation: Any) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for argument in getattr(annotation, "__args__", ()) or ():
        found.extend(_body_models(argument))
    return found


def _nested_models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        for nested in _body_models(field.annotation):
            _nested_models(nested, seen)


def test_every_request_body_refuses_unknown_fields() -> None:
    """Walk every route's body (and the models nested in it): each derives from RequestModel (extra="forbid")."""
    app = create_app()
    models: set[type[BaseModel]] = set()
    for info in iter_routes(app.routes):
        for parameter in info.route.dependant.body_params:
            for model in _body_models(parameter.field_info.annotation if hasattr(parameter, "field_info") else parameter.type_):
                _nested_models(model, models)
    assert len(models) >= 20
    offenders = sorted(f"{m.__module__}.{m.__qualname__}" for m in models if not issubclass(m, RequestModel) or m.model_config.get("extra") != "forbid")
    assert offenders == []
    named = {"SearchIn", "RevalidateIn", "QuarantineFix", "SubmissionIn", "RoundCreate", "RoundUpdate", "ProcessRequest"}
    assert named <= {m.__name__ for m in models}


@pytest.mark.slow
def test_sixty_four_concurrent_writes_never_get_a_500(demo_people: dict[str, str]) -> None:
    from passage.security.service import rate_limiter

    rate_limiter.clear()
    with LiveServer() as server:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            token = client.post("/api/v1/auth/token", json={"username": "analyst", "password": "passage-demo-2026"}).json()["access_token"]
            admin = api_headers(client, "admin")
        target = demo_people["analyst"]

        def write(index: int) -> tuple[int, str | None]:
            with httpx.Client(base_url=server.url, timeout=120, headers=admin) as client:
                read = client.get(f"/api/v1/users/{target}")
                if read.status_code != 200:
                    return read.status_code, read.headers.get("retry-after")
                current = read.json()
                response = client.patch(f"/api/v1/users/{target}", json={"version": current["version"], "display_name": f"writer {index}"})
                return response.status_code, response.headers.get("retry-after")

        with concurrent.futures.ThreadPoolExecutor(64) as pool:
            results = list(pool.map(write, range(64)))
    assert token
    statuses = [status for status, _ in results]
    # 429 (no turn within the admission wait) and 503 (the database busy) both say when to retry
    assert all(status in (200, 409, 429, 503) for status in statuses), sorted(statuses)
    assert all(retry for status, retry in results if status in (429, 503))
    assert statuses.count(200) >= 1
    assert socket  # imported for LiveServer's port probe
