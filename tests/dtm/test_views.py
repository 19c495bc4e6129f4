"""DTM pages through the real app: rounds list, round page with issues and changes, map, Chinese, validation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from passage.core.db import unit_of_work
from passage.dtm.demo import OPERATION
from tests.conftest import demo_secret, totp_now

from .test_demo import load_demo


def sign_in(client: Any, username: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert token is not None
    response = client.post("/login", data={"username": username, "password": "passage-demo-2026", "login_csrf": token.group(1), "next": "/"}, follow_redirects=False)
    assert response.status_code == 303
    if "second-factor" in response.headers["location"]:
        form = client.get(response.headers["location"])
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        client.post("/login/second-factor", data={"code": totp_now(demo_secret(username)), "csrf_token": csrf.group(1), "next": "/"}, follow_redirects=False)
    home = client.get("/")
    csrf_token = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert csrf_token is not None
    return csrf_token.group(1)


@pytest.fixture
def client(app_client: Any) -> Any:
    with unit_of_work() as session:
        load_demo(session)
    return app_client


def test_pages_for_the_analyst(client: Any) -> None:
    csrf = sign_in(client, "analyst")
    home = client.get("/")
    assert "Displacement tracking" in home.text and f"{OPERATION} · Round 3" in home.text
    listing = client.get("/dtm", params={"sort": "number", "direction": "asc"})
    assert listing.status_code == 200
    numbers = re.findall(r">Round (\d)</a>", listing.text)
    assert numbers == ["1", "2", "3"]
    round3 = re.findall(r'href="/dtm/rounds/([0-9a-f]+)">Round 3', listing.text)[0]
    page = client.get(f"/dtm/rounds/{round3}", params={"level": 2, "issues_only": "true"})
    assert page.status_code == 200
    assert "Name does not match the P-code" in page.text and "Large change since the last round" in page.text
    assert "Compared with round 2" in page.text
    assert f"/api/v1/dtm/rounds/{round3}/hxl.csv?level=2" in page.text and "report.pdf" in page.text
    # the Abadam jump shows as a change with its percentage
    shown = re.sub(r"<[^>]+>", "", page.text)  # numbers and names sit in nowrap spans and code elements
    assert re.search(r"NG008001Abadam\s*2,400\s*954\s*\+1,446 \(\+151\.6%\)", shown)
    map_page = client.get("/dtm/map", params={"round_id": round3, "level": 2})
    assert map_page.status_code == 200
    layer = json.loads(re.search(r'<script type="application/json" id="dtm-layer">(.*?)</script>', map_page.text, re.S).group(1))  # type: ignore[union-attr]
    assert len(layer["features"]) == 16
    chart = json.loads(re.search(r'<script type="application/json" id="dtm-chart">(.*?)</script>', map_page.text, re.S).group(1))  # type: ignore[union-attr]
    assert chart["labels"] == ["Round 1", "Round 2", "Round 3"] and chart["total"][2] > chart["total"][0]
    assert "/static/vendor/leaflet/leaflet.js" in map_page.text and "/static/js/dtm.js" in map_page.text
    assert "<script>" not in map_page.text  # no inline script (CSP)
    # creating a round: inline validation, then success
    bad = client.post("/dtm/rounds", data={"csrf_token": csrf, "operation": "", "number": "0", "reporting_date": "31/01/2025"})
    assert bad.status_code == 422
    assert 'id="round-operation-error"' in bad.text and 'id="round-number-error"' in bad.text and "Enter the date as YYYY-MM-DD." in bad.text
    duplicate = client.post("/dtm/rounds", data={"csrf_token": csrf, "operation": OPERATION, "number": "3", "reporting_date": "2025-03-31"})
    assert duplicate.status_code == 422 and "This round number already exists" in duplicate.text
    superscript = client.post("/dtm/rounds", data={"csrf_token": csrf, "operation": OPERATION, "number": "²", "reporting_date": "2025-03-31"})
    assert superscript.status_code == 422 and 'id="round-number-error"' in superscript.text  # '²'.isdigit() is true; int('²') fails
    # the shared whole-number parser (core.inputs) gives the reason as a field error, never a 500
    for raw, reason in (("-4", "must not be negative"), ("1000000", "too large: at most 999,999"), ("4.0", "not a whole number")):
        refused = client.post("/dtm/rounds", data={"csrf_token": csrf, "operation": OPERATION, "number": raw, "reporting_date": "2025-03-31"})
        assert refused.status_code == 422 and 'id="round-number-error"' in refused.text and reason in refused.text, raw
    created = client.post("/dtm/rounds", data={"csrf_token": csrf, "operation": OPERATION, "number": "4", "reporting_date": "2025-04-30"}, follow_redirects=False)
    assert created.status_code == 303
    processed = client.post(created.headers["location"] + "/process", data={"csrf_token": csrf, "component": "site", "household_size": "abc"})
    assert processed.status_code == 422 and "Enter an average household size" in processed.text


def test_chinese_pages_and_refusals(client: Any) -> None:
    sign_in(client, "iom.caseworker")
    client.post("/language", data={"lang": "zh_Hans", "next": "/dtm"})
    listing = client.get("/dtm")
    assert "评估轮次" in listing.text and "新轮次" not in listing.text  # caseworkers read, analysts manage
    map_page = client.get("/dtm/map", params={"level": 1})
    assert "图例：国内流离失所者人数" in map_page.text and "博尔诺州" in map_page.text
    round_id = re.findall(r'href="/dtm/rounds/([0-9a-f]+)"', listing.text)[0]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', listing.text).group(1)  # type: ignore[union-attr]
    assert client.post(f"/dtm/rounds/{round_id}/process", data={"csrf_token": csrf, "component": "site"}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    sign_in(client, "nl.officer")
    assert client.get("/dtm").status_code == 403
