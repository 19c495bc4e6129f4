"""Mobility pages and demo data through the real app: the demo run is on the map, pages in Chinese, home panel,
form errors, and refusal for roles without MOBILITY_READ."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.mobility import demo, service
from passage.mobility.maps import area_values, classes
from passage.security import audit
from passage.security.demo import DemoContext
from passage.security.models import User
from tests.dtm.test_views import sign_in


@pytest.fixture
def client(app_client: Any) -> Any:
    with unit_of_work() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        demo.load_demo_records(session, context=DemoContext(users={"analyst": users["analyst"]}))
    return app_client


def test_demo_loads_a_dataset_and_a_finished_run_through_the_service(client: Any) -> None:
    with unit_of_work() as session:
        [dataset] = service.list_datasets(session)
        runs, total = service.list_runs(session)
        assert total == 1 and runs[0].status == "succeeded" and runs[0].analysis == "flows_above_normal"
        assert dataset.rows_kept > 100_000 and dataset.levels == [1, 2] and str(dataset.path).endswith("mobility/demo")
        assert audit.verify_chain(session).ok
        data = service.run_result(runs[0])
    values = area_values("flows_above_normal", data["columns"], data["rows"])
    assert min(values["D02"] or 0, values["D05"] or 0, values["D09"] or 0) > 15  # the planted destinations show on the map


def test_pages_in_chinese_with_map_data_and_home_panel(client: Any) -> None:
    sign_in(client, "analyst")
    client.cookies.set("passage_lang", "zh_Hans")
    home = client.get("/")
    assert "人口流动分析" in home.text and "超出正常的流动" in home.text
    index = client.get("/mobility")
    assert index.status_code == 200 and "Synthetic crisis (demo)" in index.text and "已完成" in index.text
    run_id = re.search(r'href="/mobility/runs/([0-9a-f]{32})"', index.text).group(1)  # type: ignore[union-attr]
    page = client.get(f"/mobility/runs/{run_id}")
    assert page.status_code == 200 and "超出正常的迁入" in page.text and "下载 CSV" in page.text
    layer = json.loads(re.search(r'<script type="application/json" id="mobility-layer">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]
    by_pcode = {f["properties"]["pcode"]: f["properties"] for f in layer["features"]}
    assert len(by_pcode) == 9 and by_pcode["D02"]["class"] is not None
    for props in by_pcode.values():
        assert (props["value"] is None) == props["redacted"]
        if props["redacted"]:
            assert f'data-pcode="{props["pcode"]}" class="redacted"' in page.text
    assert "已隐去" in page.text or all(not p["redacted"] for p in by_pcode.values())
    fragment = client.get(f"/mobility/runs/{run_id}/progress")
    assert fragment.headers.get("HX-Redirect") == f"/mobility/runs/{run_id}" and 'value="100"' in fragment.text


def test_form_errors_are_shown_on_the_fields_and_nothing_is_queued(client: Any) -> None:
    csrf = sign_in(client, "analyst")
    with unit_of_work() as session:
        [dataset] = service.list_datasets(session)
    form = {"csrf_token": csrf, "dataset_id": dataset.id, "analysis": "displaced_subscribers", "benchmark_start": "2024-03-14", "benchmark_end": "2024-03-01",
            "focal_start": "", "focal_end": "", "level": "2", "engine": "duckdb", "redaction_threshold": "3", "override_reason": ""}
    response = client.post("/mobility/run", data=form, follow_redirects=False)
    assert response.status_code == 422
    assert 'id="p-benchmark-error">reversed window' in response.text and 'id="p-focal-error">empty window' in response.text
    with unit_of_work() as session:
        assert service.list_runs(session)[1] == 1  # only the demo run
    fields = client.get("/mobility/run/fields?analysis=active_subscribers")
    assert 'name="window_start"' in fields.text and 'name="min_active_days"' in fields.text and "benchmark" not in fields.text


def test_roles_without_mobility_read_are_refused(client: Any) -> None:
    sign_in(client, "iom.caseworker")
    assert client.get("/mobility", headers={"accept": "text/html"}).status_code == 403
    assert "/mobility" not in re.findall(r'<nav.*?</nav>', client.get("/").text, re.S)[0]


def test_map_values_and_classes() -> None:
    columns = ["origin_pcode", "destination_pcode", "subscribers_benchmark_comparison", "subscribers_benchmark_focal", "above_normal"]
    rows = [["A", "A", 500, 300, -200], ["A", "B", 20, 120, 100], ["C", "B", None, 30, 30], ["A", "C", 40, None, -40]]
    assert area_values("flows_above_normal", columns, rows) == {"B": 130, "C": -40}  # A has no arrivals published: redacted
    assert classes([130, -40])[0][0] == -40 and classes([130, -40])[-1][1] == 130
    assert area_values("displaced_subscribers", ["pcode", "residents", "displaced"], [["A", 100, None], ["B", 50, 20]]) == {"A": None, "B": 20}
