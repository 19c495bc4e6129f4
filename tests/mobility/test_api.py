"""Mobility API through the real app: permissions (audited 403), 422 field paths, a run end to end with
redacted CSV/HXL, an audited threshold override, and recovery of runs orphaned by a restart."""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.mobility import service
from passage.mobility.models import MobilityRun
from passage.security import audit
from passage.security.models import AuditEntry, User
from tests.conftest import api_headers

COUNT_COLUMNS = {"subscribers_benchmark_comparison", "subscribers_benchmark_focal", "subscribers", "displaced", "residents"}


def register(path: Path, name: str = "small crisis") -> str:
    with unit_of_work() as session:
        analyst = session.scalars(select(User).where(User.username == "analyst")).one()
        return service.register_dataset(session, actor=analyst, name=name, path=path).id


@pytest.fixture
def api(app_client: Any, small_dataset: tuple[Path, dict[str, Any]]) -> tuple[Any, dict[str, str], str, dict[str, Any]]:
    path, truth = small_dataset
    dataset_id = register(path)
    return app_client, api_headers(app_client, "analyst"), dataset_id, truth


def wait_for(client: Any, headers: dict[str, str], run_id: str, seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/v1/mobility/runs/{run_id}", headers=headers).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def audit_entries(entity_id: str) -> list[AuditEntry]:
    with unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.entity_id == entity_id).order_by(AuditEntry.sequence)))


def test_only_analysts_read_and_run_and_refusals_are_audited(api: Any) -> None:
    client, analyst, dataset_id, truth = api
    officer = api_headers(client, "nl.officer")
    caseworker = api_headers(client, "iom.caseworker")
    assert client.get("/api/v1/mobility/datasets", headers=officer).status_code == 403
    assert client.get("/api/v1/mobility/analyses", headers=caseworker).status_code == 403
    body = {"dataset_id": dataset_id, "analysis": "home_locations", "parameters": {"window": truth["windows"]["benchmark"]}, "level": "2"}
    assert client.post("/api/v1/mobility/runs", headers=caseworker, json=body).status_code == 403
    assert client.get("/api/v1/mobility/runs", headers=analyst).json()["total"] == 0  # the refused run was never queued
    with unit_of_work() as session:
        refusals = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "refused", AuditEntry.entity_id.like("/api/v1/mobility/%"))))
        assert {r.entity_id for r in refusals} == {"/api/v1/mobility/datasets", "/api/v1/mobility/analyses", "/api/v1/mobility/runs"}
        assert all(r.outcome == "refused" and r.details["missing"] for r in refusals)
    assert client.get("/api/v1/mobility/datasets", headers=analyst).json()["items"][0]["id"] == dataset_id
    assert client.get("/api/v1/mobility/datasets").status_code == 401
    listed = {a["name"]: a for a in client.get("/api/v1/mobility/analyses", headers=analyst).json()}
    assert listed["flows_above_normal"]["parameters"] == ["benchmark", "comparison", "focal", "method"]  # no class attributes
    assert listed["flows_above_normal"]["required"] == ["benchmark", "comparison", "focal"]
    assert listed["active_subscribers"]["parameters"] == ["window", "min_active_days"]


@pytest.mark.parametrize(
    ("parameters", "extra", "path", "message"),
    [
        ({"benchmark": "2024-03-01..2024-03-14", "comparison": "2024-03-10..2024-03-28", "focal": "2024-03-29..2024-04-11"}, {}, "parameters.benchmark", "overlaps comparison"),
        ({"benchmark": "2024-03-14..2024-03-01", "comparison": "2024-03-15..2024-03-28", "focal": "2024-03-29..2024-04-11"}, {}, "parameters.benchmark", "reversed"),
        ({"benchmark": "..", "comparison": "2024-03-15..2024-03-28", "focal": "2024-03-29..2024-04-11"}, {}, "parameters.benchmark", "empty"),
        ({"benchmark": "2024-03-01..2024-03-14", "comparison": "2024-03-15..2024-03-28"}, {}, "parameters.focal", "required"),
        ({"benchmark": "2024-03-01..2024-03-14", "comparison": "2024-03-15..2024-03-28", "focal": "2024-03-29..2024-05-30"}, {}, "parameters.focal", "outside the dataset"),
        ({"benchmark": "2024-03-01..2024-03-14", "comparison": "2024-03-15..2024-03-28", "focal": "2024-03-29..2024-04-11", "msisdn": "x"}, {}, "parameters.msisdn", "unknown"),
        ({"benchmark": "2024-03-01..2024-03-14", "comparison": "2024-03-15..2024-03-28", "focal": "2024-03-29..2024-04-11"}, {"level": "7"}, "level", "not a level"),
        ({"benchmark": "2024-03-01..2024-03-14", "comparison": "2024-03-15..2024-03-28", "focal": "2024-03-29..2024-04-11"}, {"redaction_threshold": 5}, "redaction_threshold", "override"),
        ({"benchmark": "2024-03-01..2024-03-14", "comparison": "2024-03-15..2024-03-28", "focal": "2024-03-29..2024-04-11"}, {"analysis": "subscriber_dump"}, "analysis", "unknown"),
        ({"benchmark": "2024-03-01..2024-03-14", "comparison": "2024-03-15..2024-03-28", "focal": "2024-03-29..2024-04-11"}, {"engine": "pandas"}, "engine", "duckdb"),
    ],
)
def test_invalid_run_requests_answer_422_with_field_paths(api: Any, parameters: dict[str, str], extra: dict[str, Any], path: str, message: str) -> None:
    client, analyst, dataset_id, _truth = api
    body = {"dataset_id": dataset_id, "analysis": "flows_above_normal", "parameters": parameters, "level": "2"} | extra
    response = client.post("/api/v1/mobility/runs", headers=analyst, json=body)
    assert response.status_code == 422, response.text
    fields = {f["path"]: f["message"] for f in response.json()["fields"]}
    assert path in fields and message in fields[path], fields
    assert client.get("/api/v1/mobility/runs", headers=analyst).json()["total"] == 0


def test_run_end_to_end_publishes_only_redacted_aggregates(api: Any, small_dataset: tuple[Path, dict[str, Any]]) -> None:
    client, analyst, dataset_id, truth = api
    body = {"dataset_id": dataset_id, "analysis": "flows_above_normal", "parameters": truth["windows"], "level": "2"}
    started = client.post("/api/v1/mobility/runs", headers=analyst, json=body)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    run = wait_for(client, analyst, run_id)
    assert run["status"] == "succeeded", run["error"]
    assert run["progress"] == 1.0 and run["run_id"] and run["values_redacted"] > 0

    result = client.get(f"/api/v1/mobility/runs/{run_id}/result", headers=analyst).json()
    assert result["columns"] == ["origin_pcode", "destination_pcode", "subscribers_benchmark_comparison", "subscribers_benchmark_focal", "above_normal"]
    published = {(r["origin_pcode"], r["destination_pcode"]): r for r in result["rows"]}
    for row in result["rows"]:
        counts = [row["subscribers_benchmark_comparison"], row["subscribers_benchmark_focal"]]
        assert all(c is None or c > 15 for c in counts) and any(c is not None for c in [*counts, row["above_normal"]])
        # never a difference beside exactly one of its two counts: that would give the other away
        assert not (row["above_normal"] is not None and (counts[0] is None) != (counts[1] is None))
        assert row["above_normal"] is None or None in counts or row["above_normal"] == counts[1] - counts[0]
    direct = service.run_analysis(dataset=small_dataset[0], analysis="flows_above_normal", params=truth["windows"], level=2)
    assert [tuple(r.values()) for r in result["rows"]] == direct.rows  # the run used exactly the requested windows and level
    planted = {(t["origin_pcode"], t["destination_pcode"]): t["above_normal"] for t in truth["flows_above_normal"]}
    assert abs(published[("D01", "D02")]["above_normal"] - planted[("D01", "D02")]) <= 0.1 * planted[("D01", "D02")]

    raw_ids = {p.stem for p in small_dataset[0].iterdir()}  # nothing to leak from the folder names either
    for suffix, hxl in (("result.csv", False), ("result.hxl.csv", True)):
        response = client.get(f"/api/v1/mobility/runs/{run_id}/{suffix}", headers=analyst)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        text = response.text
        assert "+9779" not in text and not re.search(r"[0-9a-f]{32}", text) and not raw_ids & set(text.split(","))
        rows = list(csv.reader(io.StringIO(text)))
        from passage.core.i18n import label

        assert rows[0] == [label("mobility.column", code, locale="en") for code in result["columns"]]  # human headers
        assert rows[0][0] == "Origin" and rows[0][-1] == "Above normal"
        data = rows[2:] if hxl else rows[1:]
        if hxl:
            assert rows[1] == ["#adm2+code+origin", "#adm2+code+dest", "#population+flow+normal+num", "#population+flow+focal+num", "#population+flow+above_normal+num"]
        assert len(data) == len(result["rows"])
        for line in data:
            assert all(value == "" or int(value) > 15 for value in line[2:4])

    layer = client.get(f"/api/v1/mobility/runs/{run_id}/map", headers=analyst).json()
    props = {f["properties"]["pcode"]: f["properties"] for f in layer["features"]}
    assert props["D02"]["value"] is not None and props["D02"]["value"] > 0 and props["D02"]["class"] is not None
    assert all(p["value"] is None for p in props.values() if p["redacted"])

    actions = [e.action for e in audit_entries(run_id)]
    assert actions[:1] == ["create"] and "complete" in actions and actions.count("export") == 2
    with unit_of_work() as session:
        assert audit.verify_chain(session).ok


def test_threshold_override_is_audited_with_the_run(api: Any) -> None:
    client, analyst, dataset_id, truth = api
    body = {"dataset_id": dataset_id, "analysis": "home_locations", "parameters": {"window": truth["windows"]["focal"]}, "level": "2",
            "redaction_threshold": 5, "override_reason": "quality check agreed with the data owner"}
    started = client.post("/api/v1/mobility/runs", headers=analyst, json=body)
    assert started.status_code == 202, started.text
    run = wait_for(client, analyst, started.json()["id"])
    assert run["status"] == "succeeded" and run["threshold"] == 5
    entries = [e for e in audit_entries(run["id"]) if e.action == "mobility.redaction_threshold_override"]
    assert len(entries) == 2  # when requested (with the run record) and from the result's audit records (with the completion)
    assert all(e.details["threshold"] == 5 and e.details["reason"] == "quality check agreed with the data owner" for e in entries)
    assert entries[1].details["run_id"] == run["run_id"]
    with unit_of_work() as session:
        analyst_id = session.scalars(select(User.id).where(User.username == "analyst")).one()
    assert all(e.actor_user_id == analyst_id for e in entries)


def test_a_run_left_running_by_a_dead_process_is_failed_at_start_up(demo_people: dict[str, str], small_dataset: tuple[Path, dict[str, Any]]) -> None:
    from fastapi.testclient import TestClient

    from passage.core.app import create_app
    from passage.core.models import utcnow
    from passage.mobility import worker

    dataset_id = register(small_dataset[0])
    with unit_of_work() as session:
        dead = MobilityRun(dataset_id=dataset_id, analysis="home_locations", parameters={}, level="admin:2", status="running", worker=f"{worker.HOST}:999999999:oldboot", heartbeat_at=utcnow(), created_by_id=demo_people["analyst"])
        elsewhere = MobilityRun(dataset_id=dataset_id, analysis="home_locations", parameters={}, level="admin:2", status="running", worker="other-host:12:abc", heartbeat_at=utcnow(), created_by_id=demo_people["analyst"])
        session.add_all([dead, elsewhere])
        session.flush()
        dead_id, elsewhere_id = dead.id, elsewhere.id
    with TestClient(create_app()):
        pass
    with unit_of_work() as session:
        recovered, alive = session.get(MobilityRun, dead_id), session.get(MobilityRun, elsewhere_id)
        assert recovered is not None and alive is not None
        assert recovered.status == "failed" and recovered.error and "interrupted" in recovered.error and recovered.finished_at is not None
        assert alive.status == "running"  # another host with a fresh heartbeat may still be working on it
    assert [e.outcome for e in audit_entries(dead_id)] == ["failed"]


def test_result_csv_header_is_in_the_readers_language() -> None:
    """The download's header row is words in the reader's language; the data and HXL rows stay as they are."""
    from passage.mobility.api import localised_header

    content = b"origin_pcode,destination_pcode,above_normal\n#adm2+code+origin,#adm2+code+dest,#population+flow+above_normal+num\nD01,D02,40\n"
    chinese = localised_header(content, locale="zh_Hans").decode("utf-8").splitlines()
    assert chinese[0] == "出发地,目的地,超出正常"
    assert chinese[1:] == ["#adm2+code+origin,#adm2+code+dest,#population+flow+above_normal+num", "D01,D02,40"]
    english = localised_header(content, locale="en").decode("utf-8").splitlines()
    assert english[0] == "Origin,Destination,Above normal"
