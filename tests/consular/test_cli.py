"""`passage consular ...` end to end: the evacuation plan file (atomic, no partial file), manifests, imports,
outbox files, retention; errors are one line and exit code 2."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from passage.consular import service
from passage.consular.schemas import AssemblyPointIn, CrisisIn, LegIn
from passage.core.cli import main
from passage.core.db import unit_of_work
from tests.consular.conftest import SQUARE, TODAY, registration, user_named


def run(args: list[str], capsys: pytest.CaptureFixture[str], *, code: int = 0) -> tuple[str, str]:
    try:
        main(args)
        exit_code = 0
    except SystemExit as exc:
        exit_code = int(exc.code or 0)
    captured = capsys.readouterr()
    assert exit_code == code, captured
    return captured.out, captured.err


@pytest.fixture
def crisis(engine: Engine) -> str:
    with unit_of_work() as s:
        officer = user_named(s, "denpasar.officer")
        for i in range(5):
            service.create_registration(s, actor=officer, data=registration("王", str(i), vulnerabilities=["child"] if i == 4 else []))
        created = service.create_crisis(s, actor=officer, data=CrisisIn(name_en="Q", name_zh="震", crisis_type="earthquake", country="ID", starts_on=TODAY, area=SQUARE))
        service.add_assembly_point(s, actor=officer, crisis_id=created.id, data=AssemblyPointIn(code="A", name="Hall", latitude=-8.58, longitude=116.11, capacity=50))
        start = dt.datetime.combine(TODAY + dt.timedelta(days=1), dt.time(8), tzinfo=dt.UTC)
        service.add_leg(s, actor=officer, crisis_id=created.id, data=LegIn(code="BUS1", mode="bus", origin_point="A", destination_name="Port",
                                                                           departs_at=start, arrives_at=start + dt.timedelta(hours=2), seats=3))
        return created.reference


def test_plan_writes_the_file_atomically_and_books_only_with_apply(crisis: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path = tmp_path / "out"
    out = tmp_path / "plan.json"
    _out, err = run(["consular", "evacuation", "plan", "--crisis", crisis, "--out", str(out), "--as", "denpasar.officer"], capsys)
    plan = json.loads(out.read_text())
    assert plan["summary"]["placed"] == 3 and plan["summary"]["unplaced"] == 2 and "3 of 5 people placed" in err
    assert any(a["tier"] == 1 for a in plan["assignments"]), "the child is placed"
    assert "王" not in out.read_text(), "the plan file holds ids, not names"
    assert list(tmp_path.iterdir()) == [out]
    run(["consular", "evacuation", "plan", "--crisis", crisis, "--out", str(out), "--as", "denpasar.officer", "--apply"], capsys)
    again = tmp_path / "again.json"
    run(["consular", "evacuation", "plan", "--crisis", crisis, "--out", str(again), "--as", "denpasar.officer"], capsys)
    assert json.loads(again.read_text())["already_seated"] == 3
    manifest = tmp_path / "bus.csv"
    run(["consular", "evacuation", "manifest", "--crisis", crisis, "--leg", "BUS1", "--out", str(manifest), "--as", "denpasar.officer"], capsys)
    assert manifest.read_text(encoding="utf-8").count("王") == 3


def test_errors_are_one_line_and_leave_no_file(crisis: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    out = tmp_path / "plan.json"
    _out, err = run(["consular", "evacuation", "plan", "--crisis", "CRI-NOPE", "--out", str(out), "--as", "denpasar.officer"], capsys, code=2)
    assert err.strip() == "error: --crisis: crisis CRI-NOPE not found" and not out.exists()
    _out, err = run(["consular", "evacuation", "plan", "--crisis", crisis, "--out", str(out), "--as", "jakarta.officer"], capsys, code=2)
    assert "not found" in err and not out.exists(), "another mission's crisis is not even named"
    out.write_text("previous plan")
    run(["consular", "evacuation", "plan", "--crisis", crisis, "--out", str(out), "--as", "denpasar.officer", "--nearest-points", "0"], capsys, code=2)
    assert out.read_text() == "previous plan" and list(tmp_path.iterdir()) == [out]


def test_import_retention_and_outbox_export(crisis: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_file = tmp_path / "m.csv"
    csv_file.write_text(f"family_name,destination_country,arrival_on,phone,latitude,longitude\n林,ID,{TODAY.isoformat()},+86 1,-8.6,116.1\n林,ID,not-a-date,+86 1,-8.6,116.1\n", encoding="utf-8")
    _out, err = run(["consular", "registrations", "import", str(csv_file), "--as", "denpasar.officer"], capsys, code=2)
    assert "line 3, column arrival_on" in err and "nothing was imported" in err
    with unit_of_work() as s:
        centre = user_named(s, "consular.centre")
        crisis_id = next(c.id for c in service.list_crises(s, actor=centre) if c.reference == crisis)
        batch = service.generate_messages(s, actor=centre, crisis_id=crisis_id)["batch_id"]
    out = tmp_path / "outbox.jsonl"
    run(["consular", "outbox", "export", "--batch", batch, "--out", str(out), "--as", "consular.centre"], capsys)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 5 and all(line["language"] == "zh" and "12308" in line["body"] for line in lines)
    stdout, _err = run(["consular", "retention"], capsys)
    assert "location history entries erased" in stdout
