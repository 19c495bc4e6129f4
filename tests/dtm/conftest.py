"""Fixtures for DTM tests: a small synthetic COD-AB layer (Nigeria P-codes, rectangles) and a migrated store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from passage.core.db import unit_of_work
from passage.dtm.geography import Gazetteer, parse_cod_ab
from passage.dtm.vocab import BREAKDOWN_FIELDS


def box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def feature(level: int, pcode: str, name: str, parent: str | None, geometry: dict[str, Any], **extra: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {f"ADM{level}_PCODE": pcode, f"ADM{level}_EN": name, **extra}
    if parent:
        properties[f"ADM{level - 1}_PCODE"] = parent
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def sample_collection() -> dict[str, Any]:
    """Admin 0-3: NG; Borno NG008 and Adamawa NG002; three LGAs; one ward. Geometry is synthetic."""
    return {
        "type": "FeatureCollection",
        "features": [
            feature(0, "NG", "Nigeria", None, box(0, 0, 10, 10), ADM0_ZH="尼日利亚"),
            feature(1, "NG008", "Borno", "NG", box(5, 5, 10, 10), ADM1ALT1EN="Bornu", ADM1_ZH="博尔诺"),
            feature(1, "NG002", "Adamawa", "NG", box(0, 0, 5, 5)),
            feature(2, "NG008017", "Maiduguri", "NG008", box(5, 5, 7, 7), ADM2ALT1EN="Maidugiri"),
            feature(2, "NG008001", "Abadam", "NG008", box(7, 7, 10, 10)),
            feature(2, "NG002021", "Yola North", "NG002", box(0, 0, 2, 2)),
            feature(3, "NG008017001", "Bolori I", "NG008017", box(5, 5, 6, 6)),
        ],
    }


@pytest.fixture
def collection() -> dict[str, Any]:
    return sample_collection()


@pytest.fixture
def areas_file(tmp_path: Path) -> Path:
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps(sample_collection()), encoding="utf-8")
    return path


@pytest.fixture
def gazetteer() -> Gazetteer:
    return Gazetteer(parse_cod_ab(sample_collection()))


def breakdown(total: int) -> dict[str, int]:
    """A sex and age breakdown of `total` spread over the ten groups, summing exactly to `total`."""
    base, rest = divmod(total, len(BREAKDOWN_FIELDS))
    return {name: base + (1 if i < rest else 0) for i, name in enumerate(BREAKDOWN_FIELDS)}


def baseline_submission(uuid: str, *, admin2: str = "NG008017", admin2_name: str = "Maiduguri", admin1: str = "NG008", admin1_name: str = "Borno", households: int = 100, individuals: int = 500, size: float = 5.0, groups: dict[str, int] | None = None, returnees: tuple[int, int] | None = (20, 90)) -> dict[str, Any]:
    values: dict[str, Any] = {
        "_uuid": uuid,
        "assessment_date": "2025-03-01",
        "location/assessment_level": "2",
        "location/admin1_pcode": admin1,
        "location/admin1_name": admin1_name,
        "location/admin2_pcode": admin2,
        "location/admin2_name": admin2_name,
        "idps/idp_present": "yes",
        "idps/idp_households": households,
        "idps/idp_individuals": individuals,
        "idps/avg_household_size": size,
        "idps/displacement_reasons": "conflict flood",
        "idps/shelter_types": "host_family camp",
        "idps/origin_admin2_pcode": "NG008001",
        "returnees/returnees_present": "yes" if returnees else "no",
    }
    for name, count in (groups if groups is not None else breakdown(individuals)).items():
        values[f"idp_demography/{name}"] = count
    if returnees:
        values["returnees/returnee_households"], values["returnees/returnee_individuals"] = returnees
    return values


@pytest.fixture
def session(any_store: Engine) -> Iterator[Session]:
    """A session on a migrated store, SQLite and PostgreSQL (the shared `any_store` fixture)."""
    with unit_of_work() as s:
        yield s
