"""The CLI contracts of issue 5 and its bad-input rules (clear error, non-zero exit, no output file)."""

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hxl
import pytest

from passage.core.cli import main

from .conftest import write_tiny


def passage(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `passage` entry point in a subprocess (slow to start: every module is imported)."""
    return subprocess.run([str(Path(sys.executable).parent / "passage"), *args], capture_output=True, text=True, timeout=300, check=False)


@dataclass
class Done:
    returncode: int
    stderr: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Done]:
    """`passage.core.cli.main` in-process: same error handling and exit codes, without the start-up cost."""

    def call(*args: str) -> Done:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return Done(code, capsys.readouterr().err)

    return call


def test_flows_above_normal_contract(synth_dir: Path, truth: dict[str, Any], tmp_path: Path, store: object) -> None:
    w = truth["windows"]
    out = tmp_path / "flows.csv"
    done = passage("mobility", "flows-above-normal", "--events", str(synth_dir / "events"), "--cells", str(synth_dir / "cells.csv"), "--areas", str(synth_dir / "areas.geojson"), "--level", "2", "--benchmark", w["benchmark"], "--comparison", w["comparison"], "--focal", w["focal"], "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["origin_pcode", "destination_pcode", "subscribers_benchmark_comparison", "subscribers_benchmark_focal", "above_normal"]
    assert any(r[2] == "" for r in rows[1:])  # redacted comparison counts are empty
    d01_d02 = next(r for r in rows if r[0] == "D01" and r[1] == "D02")
    # the planted crisis flow: its normal flow is small, so the crisis count is withheld with it and the flow above normal stays
    assert d01_d02[2] == "" and d01_d02[3] == "" and int(d01_d02[4]) > 100
    meta = json.loads(Path(str(out) + ".meta.json").read_text())
    assert meta["privacy"]["threshold"] == 15 and meta["privacy"]["override"] is None


def test_home_locations_contract_with_hxl_and_override(synth_dir: Path, truth: dict[str, Any], tmp_path: Path, run_cli: Callable[..., Done], store: object) -> None:
    out = tmp_path / "counts.csv"
    done = run_cli("mobility", "home-locations", "--events", str(synth_dir / "events"), "--cells", str(synth_dir / "cells.csv"), "--areas", str(synth_dir / "areas.geojson"), "--level", "1", "--window", truth["windows"]["benchmark"], "--out", str(out), "--hxl", "--redaction-threshold", "5", "--override-reason", "demo")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["pcode", "subscribers"] and rows[1] == ["#adm1+code", "#population+subscribers+num"]
    assert sum(int(r[1]) for r in rows[2:]) > 11_000
    parsed = hxl.data(str(out), hxl.InputOptions(allow_local=True))
    assert [c.display_tag for c in parsed.columns] == ["#adm1+code", "#population+subscribers+num"]
    meta = json.loads(Path(str(out) + ".meta.json").read_text())
    assert meta["privacy"]["override"]["threshold"] == 5 and meta["privacy"]["override"]["reason"] == "demo"
    # recorded and audited like an API run: a run record, its creation, the threshold override and the completion
    from sqlalchemy import select

    from passage.core.db import unit_of_work
    from passage.mobility.models import MobilityRun
    from passage.security.models import AuditEntry

    with unit_of_work() as session:
        (run,) = session.scalars(select(MobilityRun)).all()
        assert (run.status, run.threshold, run.override_reason, run.created_by_id) == ("succeeded", 5, "demo", None)
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity_id == run.id).order_by(AuditEntry.sequence)).all()
    assert [e.actor_user_id for e in entries] == ["system"] * len(entries)
    assert {e.details["system_job"] for e in entries} >= {"mobility.cli"}
    actions = [e.action for e in entries]
    assert actions[0] == "create" and "complete" in actions
    overrides = [e for e in entries if e.details.get("reason") == "demo"]
    assert overrides and overrides[0].details["threshold"] == 5 and overrides[0].details["system_job"] == "mobility.cli"


def test_home_locations_with_flowkit_names_equals_the_inclusive_window(synth_dir: Path, truth: dict[str, Any], tmp_path: Path, run_cli: Callable[..., Done]) -> None:
    """FlowKit: `--start-date A --end-date B` covers A..B-1 (end exclusive), `--aggregation-unit admin1`, column `value`."""
    import datetime as dt

    window = truth["windows"]["benchmark"]
    first, last = window.split("..")
    after = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()
    common = ["--events", str(synth_dir / "events"), "--cells", str(synth_dir / "cells.csv"), "--areas", str(synth_dir / "areas.geojson")]
    ours, theirs = tmp_path / "ours.csv", tmp_path / "flowkit.csv"
    assert run_cli("mobility", "home-locations", *common, "--level", "1", "--window", window, "--out", str(ours)).returncode == 0
    done = run_cli("mobility", "home-locations", *common, "--aggregation-unit", "admin1", "--start-date", first, "--end-date", after, "--columns", "flowkit", "--out", str(theirs))
    assert done.returncode == 0, done.stderr
    mine, flowkit = list(csv.reader(ours.open())), list(csv.reader(theirs.open()))
    assert flowkit[0] == ["pcod", "value"] and mine[1:] == flowkit[1:]
    off_by_one = run_cli("mobility", "home-locations", *common, "--aggregation-unit", "admin1", "--start-date", first, "--end-date", last, "--out", str(tmp_path / "short.csv"))
    assert off_by_one.returncode == 0
    def parameters(path: Path) -> Any:
        return json.loads(Path(str(path) + ".meta.json").read_text())["parameters"]

    assert parameters(theirs) == parameters(ours)
    assert parameters(tmp_path / "short.csv") != parameters(ours)  # end_date is exclusive: one day fewer


@pytest.mark.parametrize(
    ("mutate", "args", "message"),
    [
        (None, ["--window", "2024-01-02..2024-01-01"], "reversed"),
        (None, ["--window", "..2024-01-01"], "empty"),
        ("events.csv", ["--window", "2024-01-01..2024-01-02"], "missing column"),
        ("unknown_cell", ["--window", "2024-01-01..2024-01-02"], "unknown_cell"),
        ("bad_time", ["--window", "2024-01-01..2024-01-02"], "unparseable_time"),
        ("no_pcode", ["--window", "2024-01-01..2024-01-02"], "missing P-code"),
        ("point", ["--window", "2024-01-01..2024-01-02"], "Polygon or MultiPolygon"),
        (None, ["--window", "2024-01-01..2024-01-02", "--redaction-threshold", "3"], "override"),
    ],
)
def test_bad_input_fails_cleanly(tmp_path: Path, mutate: str | None, args: list[str], message: str, run_cli: Callable[..., Done], store: object) -> None:
    events = [("u1", "2024-01-01 08:00:00", "c1"), ("u2", "2024-01-01 09:00:00", "c3")]
    if mutate == "unknown_cell":
        events.append(("u1", "2024-01-01 10:00:00", "c404"))
    if mutate == "bad_time":
        events.append(("u1", "01/02/2024 25:00", "c1"))
    ev, cells, areas = write_tiny(tmp_path, events)
    if mutate == "events.csv":
        ev.write_text("subscriber,time,cell_id\nu1,2024-01-01 08:00:00,c1\n")
    if mutate in ("no_pcode", "point"):
        doc = json.loads(areas.read_text())
        if mutate == "no_pcode":
            del doc["features"][1]["properties"]["pcode"]
        else:
            doc["features"][1]["geometry"] = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
        areas.write_text(json.dumps(doc))
    out = tmp_path / "counts.csv"
    done = run_cli("mobility", "home-locations", "--events", str(ev), "--cells", str(cells), "--areas", str(areas), "--level", "2", "--out", str(out), *args)
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and message in done.stderr
    assert not out.exists() and not Path(str(out) + ".meta.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_overlapping_windows_fail(tmp_path: Path, run_cli: Callable[..., Done], store: object) -> None:
    ev, cells, areas = write_tiny(tmp_path, [("u1", "2024-01-01 08:00:00", "c1")])
    done = run_cli("mobility", "flows-above-normal", "--events", str(ev), "--cells", str(cells), "--areas", str(areas), "--level", "2", "--benchmark", "2024-01-01..2024-01-05", "--comparison", "2024-01-05..2024-01-09", "--focal", "2024-01-10..2024-01-12", "--out", str(tmp_path / "f.csv"))
    assert done.returncode == 2 and "overlap" in done.stderr and not (tmp_path / "f.csv").exists()


def test_a_saved_dataset_gives_the_same_answer_without_a_second_ingest(synth_dir: Path, truth: dict[str, Any], tmp_path: Path, run_cli: Callable[..., Done], store: object) -> None:
    """`--save-dataset` keeps the pseudonymised dataset of a run from raw events; `--dataset` runs on it: same rows."""
    w = truth["windows"]
    windows = ["--level", "2", "--benchmark", w["benchmark"], "--comparison", w["comparison"], "--focal", w["focal"]]
    raw = ["--events", str(synth_dir / "events"), "--cells", str(synth_dir / "cells.csv"), "--areas", str(synth_dir / "areas.geojson")]
    first = run_cli("mobility", "flows-above-normal", *raw, *windows, "--save-dataset", str(tmp_path / "ds"), "--out", str(tmp_path / "a.csv"))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "ds" / "manifest.json").exists() and (tmp_path / "ds" / "subscribers.parquet").exists()
    again = run_cli("mobility", "flows-above-normal", "--dataset", str(tmp_path / "ds"), *windows, "--out", str(tmp_path / "b.csv"))
    assert again.returncode == 0, again.stderr
    assert "ingest:" not in again.stderr  # nothing ingested the second time
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    both = run_cli("mobility", "flows-above-normal", "--dataset", str(tmp_path / "ds"), *raw, *windows, "--out", str(tmp_path / "c.csv"))
    assert both.returncode == 2 and "not both" in both.stderr and not (tmp_path / "c.csv").exists()
    neither = run_cli("mobility", "flows-above-normal", *windows, "--out", str(tmp_path / "d.csv"))
    assert neither.returncode == 2 and "--dataset" in neither.stderr and not (tmp_path / "d.csv").exists()


@pytest.mark.spark
@pytest.mark.slow
def test_cli_runs_on_spark(synth_dir: Path, truth: dict[str, Any], tmp_path: Path, run_cli: Callable[..., Done], spark: Any, store: object) -> None:
    out = tmp_path / "counts.csv"
    common = ["--events", str(synth_dir / "events"), "--cells", str(synth_dir / "cells.csv"), "--areas", str(synth_dir / "areas.geojson"), "--level", "2", "--window", truth["windows"]["focal"]]
    on_spark = run_cli("mobility", "home-locations", *common, "--out", str(out), "--engine", "spark", "--master", "local[2]")
    assert on_spark.returncode == 0, on_spark.stderr[-2000:]
    on_duckdb = run_cli("mobility", "home-locations", *common, "--out", str(tmp_path / "d.csv"))
    assert on_duckdb.returncode == 0
    assert out.read_text() == (tmp_path / "d.csv").read_text()
