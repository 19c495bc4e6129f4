"""The CLI contracts end to end through the real `passage` root: geo load, forms load/import, dtm process, aggregate, export-hxl, report, map, api."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import hxl
import pytest
from sqlalchemy import Engine

from passage.core.cli import main
from passage.dtm.vocab import BREAKDOWN_FIELDS
from passage.dtm.xlsforms import DATA_DIR
from passage.security.actors import system_actor

from .conftest import breakdown

SYSTEM = system_actor("dtm.test")


@pytest.fixture
def cli_db(store: Engine) -> Engine:
    """The CLI runs against the migrated store the shared fixture configures as *the* database."""
    return store


def run(args: list[str], capsys: pytest.CaptureFixture[str], *, code: int = 0) -> tuple[str, str]:
    try:
        main(args)
        exit_code = 0
    except SystemExit as exc:  # the root runs Typer in standalone mode, which always exits
        exit_code = int(exc.code or 0)
    assert exit_code == code, capsys.readouterr()
    captured = capsys.readouterr()
    return captured.out, captured.err


def export_row(uuid: str, admin1: str, admin1_name: str, admin2: str, admin2_name: str, households: int, individuals: int, groups: dict[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "assessment_date": "2025-03-10",
        "location/assessment_level": "2",
        "location/admin1_pcode": admin1,
        "location/admin1_name": admin1_name,
        "location/admin2_pcode": admin2,
        "location/admin2_name": admin2_name,
        "idps/idp_present": "yes",
        "idps/idp_households": households,
        "idps/idp_individuals": individuals,
        "idps/avg_household_size": "5",
        "idps/displacement_reasons": "conflict flood",
        "returnees/returnees_present": "no",
        "_uuid": uuid,
        "_submission_time": "2025-03-11T10:00:00",
    }
    row.update({f"idp_demography/{name}": groups[name] for name in BREAKDOWN_FIELDS})
    return row


def write_export(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_full_round_through_the_cli(cli_db: Engine, areas_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = run(["geo", "load", str(areas_file)], capsys)
    assert "loaded 7 areas (admin0: 1, admin1: 2, admin2: 3, admin3: 1); created 7" in out
    out, _ = run(["forms", "load", str(DATA_DIR / "dtm_baseline_assessment.xlsx")], capsys)
    assert "dtm_baseline_assessment" in out
    bad_sum = breakdown(100)
    bad_sum["f_6_17"] += 3
    export = tmp_path / "baseline.csv"
    write_export(export, [
        export_row("u1", "NG008", "Borno", "NG008017", "Maiduguri", 100, 500, breakdown(500)),
        export_row("u2", "NG008", "Borno", "NG008001", "Maiduguri", 20, 100, bad_sum),  # name belongs to NG008017; sum off by 3
        export_row("u3", "NG002", "Adamawa", "NG002021", "Yola North", 30, 150, breakdown(150)),
    ])
    out, _ = run(["forms", "import", "--form", "dtm_baseline_assessment", str(export)], capsys)
    assert "accepted: 3" in out
    run(["dtm", "new-round", "--operation", "Nigeria", "--number", "1", "--reporting-date", "2025-03-31", "--start", "2025-03-01", "--end", "2025-03-31"], capsys)
    out, err = run(["dtm", "process", "--round", "1"], capsys)
    assert "recorded 3" in out
    assert "pcode_name_mismatch: 1" in out and "sex_age_sum: 1" in out
    assert "row 3: pcode_name_mismatch [error] admin2_name" in err
    out, _ = run(["dtm", "process", "--round", "1"], capsys)
    assert "recorded 0; already recorded 3" in out

    table = tmp_path / "admin1.csv"
    run(["dtm", "aggregate", "--round", "1", "--level", "1", "--out", str(table)], capsys)
    with table.open(encoding="utf-8") as handle:
        rows = {r["admin1Pcode"]: r for r in csv.DictReader(handle)}
    assert rows["NG008"]["idpIndividuals"] == "600" and rows["NG002"]["idpIndividuals"] == "150"
    assert rows["NG008"]["rowsWithIssues"] == "1"

    hxl_csv = tmp_path / "admin2_hxl.csv"
    run(["dtm", "export-hxl", "--round", "1", "--level", "2", "--out", str(hxl_csv)], capsys)
    dataset = hxl.data(str(hxl_csv), hxl.input.InputOptions(allow_local=True))
    assert {r.get("#adm2+code"): r.get("#affected+idps+ind") for r in dataset} == {"NG002021": "150", "NG008001": "100", "NG008017": "500"}
    run(["dtm", "export-hxl", "--round", "1", "--level", "2", "--out", str(tmp_path / "admin2.xlsx")], capsys)
    assert (tmp_path / "admin2.xlsx").stat().st_size > 0

    geojson = tmp_path / "map.geojson"
    run(["dtm", "map", "--round", "1", "--level", "1", "--out", str(geojson)], capsys)
    values = {f["properties"]["pcode"]: f["properties"]["value"] for f in json.loads(geojson.read_text(encoding="utf-8"))["features"]}
    assert values == {"NG002": 150, "NG008": 600}

    api = tmp_path / "api.json"
    run(["dtm", "api", "--round", "1", "--level", "1", "--out", str(api)], capsys)
    records = json.loads(api.read_text(encoding="utf-8"))["result"]
    assert {r["admin1Pcode"]: r["numPresentIdpInd"] for r in records} == {"NG002": 150, "NG008": 600}

    report = tmp_path / "round1.html"
    run(["dtm", "report", "--round", "1", "--level", "1", "--out", str(report), "--language", "zh"], capsys)
    assert "博尔诺" in report.read_text(encoding="utf-8")


def test_geo_load_refusal_is_one_line_with_feature_index(cli_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"ADM0_PCODE": "NG", "ADM0_EN": "Nigeria"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}]}), encoding="utf-8")
    _, err = run(["geo", "load", str(bad)], capsys, code=2)
    assert err.startswith("error: boundaries refused: 1 problem(s): features[0].geometry: geometry must be Polygon or MultiPolygon")
    assert err.count("\n") == 1


def test_aggregate_errors(cli_db: Engine, areas_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, err = run(["dtm", "aggregate", "--round", "4", "--level", "1", "--out", str(tmp_path / "x.csv")], capsys, code=2)
    assert err == "error: round 4 not found\n"
    run(["dtm", "new-round", "--operation", "Nigeria", "--number", "4", "--reporting-date", "2025-03-31"], capsys)
    _, err = run(["dtm", "aggregate", "--round", "4", "--level", "5", "--out", str(tmp_path / "x.csv")], capsys, code=2)
    assert "--level must be 0, 1, 2 or 3" in err
    _, err = run(["dtm", "export-hxl", "--round", "4", "--level", "1", "--out", str(tmp_path / "x.json")], capsys, code=2)
    assert ".csv or .xlsx" in err
    assert not (tmp_path / "x.csv").exists()


def test_changes_and_flows_commands(cli_db: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datetime as dt

    from passage.core.db import unit_of_work
    from passage.dtm import service
    from passage.dtm.geography import parse_cod_ab

    from .conftest import baseline_submission, sample_collection
    from .test_service import flow_submission

    with unit_of_work() as session:
        service.load_areas(session, actor=SYSTEM, areas=parse_cod_ab(sample_collection()), source="t")
        r1 = service.create_round(session, actor=SYSTEM, operation="Nigeria", number=1, reporting_date=dt.date(2025, 1, 31))
        r2 = service.create_round(session, actor=SYSTEM, operation="Nigeria", number=2, reporting_date=dt.date(2025, 2, 28))
        service.record_submissions(session, actor=SYSTEM, round_id=r1.id, component="baseline", submissions=[(2, "a", baseline_submission("a", households=80, individuals=400, size=5.0)), (3, "b", baseline_submission("b", admin2="NG002021", admin2_name="Yola North", admin1="NG002", admin1_name="Adamawa"))])
        service.record_submissions(session, actor=SYSTEM, round_id=r2.id, component="baseline", submissions=[(2, "c", baseline_submission("c"))])
        service.record_flow_submissions(session, actor=SYSTEM, submissions=[(2, "f1", flow_submission())])
    out_path = tmp_path / "changes.csv"
    run(["dtm", "changes", "--round", "2", "--level", "1", "--out", str(out_path)], capsys)
    with out_path.open(encoding="utf-8") as handle:
        rows = {r["admin1Pcode"]: r for r in csv.DictReader(handle)}
    assert (rows["NG008"]["previousIdpInd"], rows["NG008"]["currentIdpInd"], rows["NG008"]["change"], rows["NG008"]["changePercent"], rows["NG008"]["status"]) == ("400", "500", "100", "25.0", "increase")
    assert (rows["NG002"]["currentIdpInd"], rows["NG002"]["status"]) == ("", "closed")
    _, err = run(["dtm", "changes", "--round", "1", "--level", "1", "--out", str(out_path)], capsys, code=2)
    assert "no previous round" in err
    flows_path = tmp_path / "flows.csv"
    run(["dtm", "flows", "--by", "nationality", "--out", str(flows_path)], capsys)
    # every count here is 15 or fewer: the groups are listed, their counts withheld (disclosure control)
    assert flows_path.read_text(encoding="utf-8").splitlines() == ["nationality,adult_males,adult_females,boys,girls,total", "CMR,,,,,", "NGA,,,,,"]
    _, err = run(["dtm", "flows", "--by", "colour", "--out", str(flows_path)], capsys, code=2)
    assert "--by accepts" in err
