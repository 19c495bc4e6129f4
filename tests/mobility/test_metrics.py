"""Exact answers on a hand-made dataset, and identical answers on DuckDB and Spark."""

from pathlib import Path
from typing import Any

import pytest

from passage.mobility.engines import DuckDBEngine, SparkEngine
from passage.mobility.metrics import METRICS
from passage.mobility.pseudonymise import PseudonymKey
from passage.mobility.service import build_metric, compute_metric, ingest_dataset
from passage.mobility.units import parse_unit

from .conftest import write_tiny

EVENTS = [
    ("u1", "2024-01-01 08:00:00", "c1"), ("u1", "2024-01-01 09:00:00", "c2"), ("u1", "2024-01-01 20:00:00", "c3"),
    ("u1", "2024-01-02 10:00:00", "c1"),
    ("u2", "2024-01-01 10:00:00", "c3"),
    ("u2", "2024-01-02 11:00:00", "c3"), ("u2", "2024-01-02 12:00:00", "c1"),
]
W = "2024-01-01..2024-01-02"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("tiny")
    ev, cells, areas = write_tiny(tmp, EVENTS)
    ingest_dataset(events=ev, cells=cells, areas=areas, out_dir=tmp / "ds", key=PseudonymKey(b"k" * 32))
    return tmp / "ds"


def run(dataset: Path, analysis: str, params: dict[str, Any], level: str = "2", engine: Any = None) -> list[tuple[Any, ...]]:
    return compute_metric(dataset=dataset, metric=build_metric(analysis, params), unit=parse_unit(level), engine=engine or DuckDBEngine())[1]


def test_daily_location_last_and_most_common(tiny: Path) -> None:
    assert run(tiny, "daily_location", {"window": W}) == [("2024-01-01", "A2", 2), ("2024-01-02", "A1", 2)]
    assert run(tiny, "daily_location", {"window": W, "method": "most-common"}) == [
        ("2024-01-01", "A1", 1), ("2024-01-01", "A2", 1), ("2024-01-02", "A1", 2)]


def test_modal_location_breaks_ties_by_most_recent_day(tiny: Path) -> None:
    assert run(tiny, "home_locations", {"window": W}) == [("A1", 2)]
    assert run(tiny, "home_locations", {"window": "2024-01-01..2024-01-01"}) == [("A2", 2)]
    assert run(tiny, "home_locations", {"window": W}, level="1") == [("R", 2)]


def test_counts_per_area_and_day(tiny: Path) -> None:
    assert run(tiny, "unique_subscriber_counts", {"window": W}) == [
        ("2024-01-01", "A1", 1), ("2024-01-01", "A2", 2), ("2024-01-02", "A1", 2), ("2024-01-02", "A2", 1)]
    assert run(tiny, "location_event_counts", {"window": W}) == [
        ("2024-01-01", "A1", 2), ("2024-01-01", "A2", 2), ("2024-01-02", "A1", 2), ("2024-01-02", "A2", 1)]
    assert run(tiny, "active_subscribers", {"window": W, "min_active_days": "2"}) == [("A1", 1), ("A2", 1)]
    assert run(tiny, "active_subscribers", {"window": W}) == [("A1", 2), ("A2", 2)]


def test_flows_displacement_and_presence(tiny: Path) -> None:
    a, b = "2024-01-01..2024-01-01", "2024-01-02..2024-01-02"
    assert run(tiny, "flows", {"from_window": a, "to_window": b}) == [("A2", "A1", 2)]
    assert run(tiny, "displaced_subscribers", {"benchmark": a, "focal": b}) == [("A2", 2, 2)]
    assert run(tiny, "residents_present_absent", {"benchmark": a, "focal": b}) == [("2024-01-02", "A2", 0, 2)]


def test_grid_and_h3_units(tiny: Path) -> None:
    grid = run(tiny, "location_event_counts", {"window": W}, level="grid:1km")
    assert sum(r[2] for r in grid) == 7 and len({r[1] for r in grid}) == 3  # the three cells are km apart
    h3cells = run(tiny, "location_event_counts", {"window": W}, level="h3:3")
    assert sum(r[2] for r in h3cells) == 7


def _params(name: str, windows: dict[str, str]) -> dict[str, Any]:
    b, c, f = windows["benchmark"], windows["comparison"], windows["focal"]
    return {
        "daily_location": {"window": f, "method": "most-common"},
        "home_locations": {"window": b},
        "unique_subscriber_counts": {"window": f},
        "location_event_counts": {"window": f},
        "active_subscribers": {"window": f, "min_active_days": 3},
        "flows": {"from_window": b, "to_window": f},
        "flows_above_normal": {"benchmark": b, "comparison": c, "focal": f},
        "displaced_subscribers": {"benchmark": b, "focal": f},
        "residents_present_absent": {"benchmark": b, "focal": f},
    }[name]


@pytest.mark.spark
@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_is_identical_on_duckdb_and_spark(name: str, small_dataset: tuple[Path, dict[str, Any]], spark: Any) -> None:
    dataset, truth = small_dataset
    params = _params(name, truth["windows"])
    level = "h3:5" if name == "location_event_counts" else "2"
    on_duckdb = run(dataset, name, params, level=level)
    engine = SparkEngine(spark)
    try:
        on_spark = run(dataset, name, params, level=level, engine=engine)
    finally:
        engine.close()
    assert on_duckdb and on_spark == on_duckdb


# Three disjoint windows: benchmark 1-3 Jan, comparison 4-5 Jan, focal 6-7 Jan (c1, c2 in A1; c3 in A2).
WINDOWED = [
    # s1: benchmark A1 (2 days of 3), comparison A2, focal A2
    ("s1", "2024-01-01 12:00:00", "c1"), ("s1", "2024-01-02 12:00:00", "c3"), ("s1", "2024-01-03 12:00:00", "c2"),
    ("s1", "2024-01-04 12:00:00", "c3"), ("s1", "2024-01-06 12:00:00", "c3"), ("s1", "2024-01-07 12:00:00", "c3"),
    # s2: benchmark tie A1/A2 -> most recent day A2; no comparison day; focal A1
    ("s2", "2024-01-01 12:00:00", "c1"), ("s2", "2024-01-02 12:00:00", "c3"), ("s2", "2024-01-06 12:00:00", "c1"),
    # s3: no benchmark day: counted nowhere; its day outside every window is ignored
    ("s3", "2024-01-04 12:00:00", "c1"), ("s3", "2024-01-06 12:00:00", "c1"), ("s3", "2024-01-08 12:00:00", "c3"),
    # s4: benchmark A2; comparison tie A1 (4 Jan) / A2 (5 Jan) -> A2; no focal day
    ("s4", "2024-01-03 12:00:00", "c3"), ("s4", "2024-01-04 12:00:00", "c2"), ("s4", "2024-01-05 12:00:00", "c3"),
]


@pytest.fixture(scope="module")
def windowed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("windowed")
    ev, cells, areas = write_tiny(tmp, WINDOWED)
    ingest_dataset(events=ev, cells=cells, areas=areas, out_dir=tmp / "ds", key=PseudonymKey(b"k" * 32))
    return tmp / "ds"


def test_homes_of_several_windows_are_each_window_own_modal_location(windowed: Path) -> None:
    bm, cmp, foc = "2024-01-01..2024-01-03", "2024-01-04..2024-01-05", "2024-01-06..2024-01-07"
    fan = {r[:4] for r in run(windowed, "flows_above_normal", {"benchmark": bm, "comparison": cmp, "focal": foc})}
    assert fan == {("A1", "A2", 1, 1), ("A2", "A1", 0, 1), ("A2", "A2", 1, 0)}
    assert run(windowed, "flows", {"from_window": bm, "to_window": foc}) == [("A1", "A2", 1), ("A2", "A1", 1)]
    assert run(windowed, "displaced_subscribers", {"benchmark": bm, "focal": foc}) == [("A1", 1, 1), ("A2", 1, 1)]
    assert run(windowed, "home_locations", {"window": cmp}) == [("A1", 1), ("A2", 2)]
