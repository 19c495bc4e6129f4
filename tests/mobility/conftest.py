"""Shared fixtures: one synthetic dataset with a planted crisis, ingested once; one SparkSession."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passage.mobility import service
from passage.mobility.pseudonymise import PseudonymKey
from passage.mobility.synth import SynthConfig, generate

KEY = PseudonymKey(bytes(range(32)))
SYNTH = SynthConfig(subscribers=12_000, days=42, areas=12, regions=3, displaced_share=0.4, background_migration=0.05, seed=11)


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(SYNTH, out)
    return out


@pytest.fixture(scope="session")
def truth(synth_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((synth_dir / "truth.json").read_text())
    return data


@pytest.fixture(scope="session")
def dataset(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ingested") / "ds"
    service.ingest_dataset(events=synth_dir / "events", cells=synth_dir / "cells.csv", areas=synth_dir / "areas.geojson", out_dir=out, key=KEY)
    return out


@pytest.fixture(scope="session")
def small_raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A smaller crisis (1,500 subscribers) for the engine-parity tests, which Spark runs slowly on 2 cores: raw files and truth."""
    raw = tmp_path_factory.mktemp("synth_small")
    truth = generate(SynthConfig(subscribers=1_500, days=42, areas=6, regions=2, destinations={"D02": 0.6, "D05": 0.4}, seed=3), raw)
    return raw, truth


@pytest.fixture(scope="session")
def small_dataset(small_raw: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """`small_raw` ingested on DuckDB."""
    raw, truth = small_raw
    out = tmp_path_factory.mktemp("ingested_small") / "ds"
    service.ingest_dataset(events=raw / "events", cells=raw / "cells.csv", areas=raw / "areas.geojson", out_dir=out, key=KEY)
    return out, truth


@pytest.fixture
def spark() -> Iterator[Any]:
    """A live local Spark session. `getOrCreate` hands back the process's session; jobs stop only a session they
    started (`core.spark.job_session`), and asked for per test the session is created again only if a test
    stopped it (the JVM start is paid once otherwise)."""
    from passage.mobility.engines import spark_session

    yield spark_session("local[2]", app_name="passage-mobility-tests", shuffle_partitions=2)


def write_tiny(tmp: Path, events: list[tuple[str, str, str]], *, cells: str | None = None) -> tuple[Path, Path, Path]:
    """Two districts side by side (A1 west, A2 east) in one region R; cells c1/c2 in A1, c3 in A2."""
    areas = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"pcode": "R", "name": "Region", "level": 1, "parent_pcode": None},
             "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 1], [0, 1], [0, 0]]]}},
            {"type": "Feature", "properties": {"pcode": "A1", "name": "West", "level": 2, "parent_pcode": "R"},
             "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}},
            {"type": "Feature", "properties": {"pcode": "A2", "name": "East", "level": 2, "parent_pcode": "R"},
             "geometry": {"type": "Polygon", "coordinates": [[[1, 0], [2, 0], [2, 1], [1, 1], [1, 0]]]}},
        ],
    }
    (tmp / "areas.geojson").write_text(json.dumps(areas))
    (tmp / "cells.csv").write_text(cells or "cell_id,lon,lat\nc1,0.2,0.5\nc2,0.7,0.5\nc3,1.5,0.5\n")
    lines = ["subscriber,timestamp,cell_id"] + [",".join(e) for e in events]
    (tmp / "events.csv").write_text("\n".join(lines) + "\n")
    return tmp / "events.csv", tmp / "cells.csv", tmp / "areas.geojson"
