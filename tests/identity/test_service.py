"""Identity service and API: audited 1:N search on the shared migrated store, cached index, permissions."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.core.errors import NotFound
from passage.identity import compare, dates, service
from passage.identity.index import build_or_update
from passage.security.models import AuditEntry, User
from tests.conftest import api_headers

ROWS = [
    ["P1", "张", "伟明", "M", "1980-03-05", "福建省福州市长乐区", "350182198003050011"],
    ["P2", "张", "伟明", "M", "1980-03-05", "浙江省温州市", ""],  # a namesake sharing the date
    ["P3", "林", "秀英", "F", "1975-11-20", "福建省福清市", ""],
    ["P4", "陈", "建国", "M", "1969-01-02", "广东省台山市", ""],
]


@pytest.fixture
def index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    registry = tmp_path / "registry.csv"
    with registry.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["person_id", "family_name", "given_name", "sex", "birth_date", "birth_place", "id_number"])
        w.writerows(ROWS)
    target = tmp_path / "registry.index"
    build_or_update(registry, target)
    monkeypatch.setenv("PASSAGE_IDENTITY_INDEX", str(target))
    service.clear_cache()
    yield target
    service.clear_cache()


def test_search_person_audits_ids_only(demo_people: dict[str, str], index_dir: Path) -> None:
    query = compare.Query(family_name="LIM", given_name="Siu Ying", birth_date=dates.parse_partial("1975", where="b"))
    with unit_of_work() as session:
        actor = session.get(User, demo_people["fj.officer"])
        assert actor is not None
        result = service.search_person(session, actor=actor, query=query, case_id="case-1")
    assert result.candidates and result.candidates[0].person_id == "P3"
    with unit_of_work() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "search")).one()
    assert entry.entity_id == "case-1" and entry.actor_user_id == demo_people["fj.officer"]
    assert entry.details["fields"] == ["family_name", "given_name", "birth_date"]
    assert entry.details["candidates"][0] == "P3"
    text = repr(entry.details).lower()
    assert "lim" not in text and "1975" not in text and "秀英" not in text


def test_index_is_cached_and_reopened_after_update(index_dir: Path, tmp_path: Path) -> None:
    first = service.load_index()
    assert service.load_index() is first
    registry = tmp_path / "registry.csv"
    with registry.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow(["P5", "王", "芳", "F", "1990-07-07", "", ""])
    build_or_update(registry, index_dir)
    again = service.load_index()
    assert again is not first and again.size == 5
    assert service.index_status().records == 5


def test_missing_index_is_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSAGE_IDENTITY_INDEX", str(tmp_path / "none"))
    service.clear_cache()
    with pytest.raises(NotFound):
        service.load_index()
    assert service.index_status().built is False


def test_api_search_namesakes_are_not_a_match(app_client: object, index_dir: Path) -> None:
    headers = api_headers(app_client, "fj.officer")
    body = {"family_name": "CHANG", "given_name": "Wei-ming", "birth_date": "1980-03-05", "top": 5}
    response = app_client.post("/api/v1/identity/search", json=body, headers=headers)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    data = response.json()
    ids = [c["person_id"] for c in data["candidates"][:2]]
    assert sorted(ids) == ["P1", "P2"]
    assert data["decision"] != "match"  # two namesakes share name and date: neither may be a confident match
    assert all(c["evidence"] for c in data["candidates"])
    assert data["tied_beyond"] == 0
    # A list of one is cut through the tie of the two namesakes, and says so.
    one = app_client.post("/api/v1/identity/search", json={**body, "top": 1}, headers=headers).json()  # type: ignore[attr-defined]
    assert len(one["candidates"]) == 1 and one["tied_beyond"] == 1
    # The ID number separates them.
    body["id_number"] = "350182198003050011"
    data = app_client.post("/api/v1/identity/search", json=body, headers=headers).json()  # type: ignore[attr-defined]
    assert data["candidates"][0]["person_id"] == "P1" and data["decision"] == "match"


def test_api_rejects_bad_date_without_echoing_it(app_client: object, index_dir: Path) -> None:
    headers = api_headers(app_client, "fj.officer")
    response = app_client.post("/api/v1/identity/search", json={"family_name": "Zhang", "birth_date": "1980-13-45"},  # type: ignore[attr-defined]
                               headers=headers)
    assert response.status_code == 422
    assert "1980-13-45" not in response.text


def test_api_permission_and_status(app_client: object, index_dir: Path) -> None:
    analyst = api_headers(app_client, "analyst")
    assert app_client.post("/api/v1/identity/search", json={"family_name": "Zhang"}, headers=analyst).status_code == 403  # type: ignore[attr-defined]
    assert app_client.get("/api/v1/identity/index", headers=analyst).status_code == 403  # type: ignore[attr-defined]
    officer = api_headers(app_client, "mps.central")
    status = app_client.get("/api/v1/identity/index", headers=officer).json()  # type: ignore[attr-defined]
    assert status == {"built": True, "records": 4, "segments": 1, "prior_in_registry": 0.5}
