"""16 parallel writers on one record, on SQLite and PostgreSQL: every acknowledged update survives."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import httpx
import pytest

from passage.core.db import unit_of_work
from passage.security import audit
from passage.security.service import rate_limiter
from tests.conftest import LiveServer, demo_secret, totp_now

WRITERS = 16


def _token(base: str, username: str) -> dict[str, str]:
    body = {"username": username, "password": "passage-demo-2026", "totp_code": totp_now(demo_secret(username))}
    response = httpx.post(f"{base}/api/v1/auth/token", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.mark.slow
def test_parallel_writers_lose_no_update(any_store_people: dict[str, str]) -> None:
    rate_limiter.clear()
    target = any_store_people["analyst"]
    with LiveServer() as server:
        headers = _token(server.url, "admin")
        start_version = httpx.get(f"{server.url}/api/v1/users/{target}", headers=headers, timeout=30).json()["version"]

        def writer(index: int) -> tuple[int, int]:
            conflicts = 0
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
                for _attempt in range(200):
                    current = client.get(f"/api/v1/users/{target}").json()
                    response = client.patch(f"/api/v1/users/{target}", json={"version": current["version"], "display_name": f"writer {index}"})
                    if response.status_code == 200:
                        return response.json()["version"], conflicts
                    assert response.status_code == 409, response.text
                    conflicts += 1
            raise AssertionError("a writer never got through")

        with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
            results = list(pool.map(writer, range(WRITERS)))

        final = httpx.get(f"{server.url}/api/v1/users/{target}", headers=headers, timeout=30).json()
    acknowledged_versions = sorted(version for version, _ in results)
    # Each acknowledged write produced its own version: none was overwritten by another writer's stale copy.
    assert acknowledged_versions == list(range(start_version + 1, start_version + WRITERS + 1))
    assert final["version"] == start_version + WRITERS
    total_conflicts = sum(c for _, c in results)
    assert total_conflicts >= 0
    with unit_of_work() as session:
        from sqlalchemy import select

        from passage.security.models import AuditEntry

        updates = session.scalars(select(AuditEntry).where(AuditEntry.action == "update", AuditEntry.entity_id == target)).all()
        assert len(updates) == WRITERS
        assert audit.verify_chain(session).ok


def test_conflicting_writes_report_the_versions(demo_people: dict[str, str], app_client: Any) -> None:
    from tests.conftest import api_headers

    headers = api_headers(app_client, "admin")
    target = demo_people["fj.officer"]
    version = app_client.get(f"/api/v1/users/{target}", headers=headers).json()["version"]
    assert app_client.patch(f"/api/v1/users/{target}", json={"version": version, "display_name": "x"}, headers=headers).status_code == 200
    stale = app_client.patch(f"/api/v1/users/{target}", json={"version": version, "display_name": "y"}, headers=headers)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == version + 1
