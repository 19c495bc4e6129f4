"""The registry search page and the index page: who may use them, what they show, no CLI or API text for users."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passage.identity import service as identity_service
from passage.readmission.demo import SHOWCASE_PEOPLE
from tests.security.test_views import HTML, sign_in


def _csrf(text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert match
    return match.group(1)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Path]:
    saved = {k: os.environ.get(k) for k in ("PASSAGE_IDENTITY_REGISTRY", "PASSAGE_IDENTITY_INDEX")}
    os.environ["PASSAGE_IDENTITY_REGISTRY"] = str(tmp_path / "registry.csv")
    os.environ["PASSAGE_IDENTITY_INDEX"] = str(tmp_path / "registry.index")
    identity_service.clear_cache()
    yield tmp_path
    identity_service.clear_cache()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_without_an_index_the_page_says_what_to_do_in_words(app_client: Any, registry: Path) -> None:
    sign_in(app_client, "fj.officer")
    page = app_client.get("/identity", headers=HTML)
    assert page.status_code == 200
    assert "An administrator can build it on the Registry index page." in page.text
    assert "passage identify" not in page.text and "/api/v1" not in page.text
    answer = app_client.post("/identity", data={"csrf_token": _csrf(page.text), "name": "YEH Ming-ming"}, headers=HTML)
    assert answer.status_code == 422 and "Registry index page" in answer.text


def test_a_wade_giles_name_finds_the_person_in_characters_with_evidence_in_words(app_client: Any, registry: Path) -> None:
    identity_service.ensure_demo_registry(planted=list(SHOWCASE_PEOPLE), size=1500)
    sign_in(app_client, "mps.central")
    page = app_client.get("/identity", headers=HTML)
    answer = app_client.post("/identity", data={"csrf_token": _csrf(page.text), "name": "YEH Ming-ming", "birth_date": "15.07.1988", "birth_place": "Wenchow", "sex": "F"}, headers=HTML)
    assert answer.status_code == 200
    first = answer.text.index("Candidate 1")
    assert "叶明明" in answer.text[first:first + 3000]
    assert "lunar 1988-06-02" in answer.text  # 1988-07-15 is the 2nd day of the 6th lunar month
    assert "same date" in answer.text and "strong evidence for" in answer.text and '<span translate="no">YEH Ming-ming</span> <small>(Wade-Giles)</small>' in answer.text
    assert "surname_exact" not in answer.text and "None (+0.0)" not in answer.text
    bad = app_client.post("/identity", data={"csrf_token": _csrf(page.text), "name": "", "birth_date": "31.02.1988"}, headers=HTML)
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text


def test_registry_search_is_for_the_requested_state_only(app_client: Any, registry: Path) -> None:
    sign_in(app_client, "nl.officer")
    assert app_client.get("/identity", headers=HTML).status_code == 403


def test_an_administrator_rebuilds_the_index_from_the_web_with_progress(app_client: Any, registry: Path) -> None:
    from passage.identity import synthetic

    synthetic.write_registry(registry / "registry.csv", size=800, planted=list(SHOWCASE_PEOPLE))
    sign_in(app_client, "fj.officer")
    assert app_client.get("/identity/index", headers=HTML).status_code == 403
    sign_in(app_client, "admin")
    page = app_client.get("/identity/index", headers=HTML)
    assert page.status_code == 200 and "not built yet" in page.text
    started = app_client.post("/identity/index", data={"csrf_token": _csrf(page.text), "mode": "rebuild"}, headers=HTML, follow_redirects=False)
    assert started.status_code == 303
    for _ in range(600):
        fragment = app_client.get("/identity/index/progress", headers=HTML).text
        if "up to date" in fragment or "could not be updated" in fragment:
            break
        assert "<progress" in fragment
        time.sleep(0.2)
    assert 'The index is up to date: <span class="nowrap">800</span> people' in fragment  # numbers never break across lines
    assert identity_service.index_status().records == 800


def test_the_page_says_how_many_namesakes_are_tied_beyond_the_list(app_client: Any, registry: Path) -> None:
    from passage.identity.index import build_or_update

    lines = ["person_id,family_name,given_name,sex,birth_date,birth_place,id_number"]
    lines += [f"T{i:02d},李,明,M,1985-02-03,福清," for i in range(13)] + ["OTHER,王,芳,F,1990-01-01,长乐,"]
    (registry / "registry.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    build_or_update(registry / "registry.csv", registry / "registry.index", workers=1)
    identity_service.clear_cache()
    sign_in(app_client, "mps.central")
    page = app_client.get("/identity", headers=HTML)
    answer = app_client.post("/identity", data={"csrf_token": _csrf(page.text), "name": "LI Ming", "sex": "M"}, headers=HTML)
    assert answer.status_code == 200
    assert "3 more candidates have exactly the same score as the last one listed" in answer.text
    dated = app_client.post("/identity", data={"csrf_token": _csrf(page.text), "name": "LI Ming", "sex": "M", "birth_date": "1985-02-03",
                                               "id_number": ""}, headers=HTML)
    assert dated.status_code == 200 and "3 more candidates" in dated.text  # the date does not separate identical namesakes
