"""Spatial units for aggregation: an admin level, a regular equal-area grid, or H3 hexagons.

- `admin:N` (or just `N`): the areas of level N from the ingested boundaries (point in polygon).
- `grid:1km` (any `grid:<n>km` or `grid:<n>m`): square cells of a Lambert cylindrical equal-area
  projection with standard parallel 30 degrees on the authalic sphere (the projection of EASE-Grid
  2.0 / EPSG:6933, Brodzik et al. 2012, ISPRS Int. J. Geo-Inf. 1(1):32-45), so a 1 km cell has an
  area of exactly 1 km^2 at every latitude.
- `h3:R`: Uber's H3 hexagons at resolution R (h3-py v4, `latlng_to_cell`).
Only the small cells table is mapped to units; events join it by `cell_idx` inside the engine.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import h3
import pyarrow as pa
import pyarrow.compute as pc

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_
from passage.mobility.ingest import read_dataset_table
from passage.mobility.metrics import UNIT_BITS

AUTHALIC_RADIUS_M = 6371007.181
STANDARD_PARALLEL = math.radians(30.0)
_GRID = re.compile(r"^grid:(\d+(?:\.\d+)?)(km|m)$")


@dataclass(frozen=True)
class SpatialUnit:
    kind: str  # admin | grid | h3
    value: float

    def __str__(self) -> str:
        if self.kind == "admin":
            return f"admin:{int(self.value)}"
        if self.kind == "grid":
            return f"grid:{int(self.value)}m"
        return f"h3:{int(self.value)}"


def parse_unit(text: str | int) -> SpatialUnit:
    """`2`, `admin:2`, `grid:1km`, `grid:500m` or `h3:7`."""
    raw = str(text).strip().lower()
    if raw.isdigit():
        return SpatialUnit("admin", int(raw))
    if raw.startswith("admin:") and raw[6:].isdigit():
        return SpatialUnit("admin", int(raw[6:]))
    match = _GRID.match(raw)
    if match:
        metres = float(match.group(1)) * (1000 if match.group(2) == "km" else 1)
        if metres < 100:
            raise InvalidInput(T_("grid cells must be at least 100 m"), fields=[FieldError("level", T_("grid too fine"))])
        return SpatialUnit("grid", metres)
    if raw.startswith("h3:") and raw[3:].isdigit() and 0 <= int(raw[3:]) <= 15:
        return SpatialUnit("h3", int(raw[3:]))
    raise InvalidInput(T_("level: use an admin level (2 or admin:2), grid:1km, or h3:0..15"), fields=[FieldError("level", T_("unknown spatial unit"))])


def grid_code(lon: float, lat: float, size_m: float) -> str:
    """The equal-area grid cell containing (lon, lat), as `G<size>E<col>N<row>`."""
    x = AUTHALIC_RADIUS_M * math.radians(lon) * math.cos(STANDARD_PARALLEL)
    y = AUTHALIC_RADIUS_M * math.sin(math.radians(lat)) / math.cos(STANDARD_PARALLEL)
    return f"G{int(size_m)}E{math.floor(x / size_m)}N{math.floor(y / size_m)}"


def cell_units(dataset: str | Path, unit: SpatialUnit) -> pa.Table:
    """`(cell_idx, unit, pcode)` for every cell that falls in a unit; the table every metric joins.

    `unit` numbers the distinct codes 0, 1, ... in code order, so that metrics compare and pack integers
    (`metrics.UNIT_BITS`) and break ties exactly as by the code."""
    return _numbered(_cell_codes(dataset, unit))


def unit_names(units: pa.Table) -> pa.Table:
    """`(unit, pcode)`, one row per unit of a `cell_units` table: metrics join it onto their final aggregate."""
    names = units.select(["unit", "pcode"]).group_by(["unit", "pcode"]).aggregate([])
    return names.sort_by("unit")


def _numbered(table: pa.Table) -> pa.Table:
    codes = pc.unique(table["pcode"]).to_pylist()
    ordered = sorted(c for c in codes if c is not None)
    if len(ordered) >= 1 << UNIT_BITS:
        raise InvalidInput("too many spatial units for one analysis", fields=[FieldError("level", "too many units")])
    index = pc.index_in(table["pcode"], value_set=pa.array(ordered, pa.string()))
    return pa.table({"cell_idx": table["cell_idx"].cast(pa.int32()), "unit": index.cast(pa.int32()), "pcode": table["pcode"].cast(pa.string())})


def _cell_codes(dataset: str | Path, unit: SpatialUnit) -> pa.Table:
    if unit.kind == "admin":
        table = read_dataset_table(dataset, "cell_areas")
        levels = set(pc.unique(table["level"]).to_pylist())
        if int(unit.value) not in levels:
            raise InvalidInput(T_("level {unit} is not in the boundaries (levels: {levels})", unit=int(unit.value), levels=sorted(levels)), fields=[FieldError("level", T_("unknown level"))])
        chosen = table.filter(pc.equal(table["level"], int(unit.value)))
        return chosen.select(["cell_idx", "pcode"])
    cells = read_dataset_table(dataset, "cells", columns=["cell_idx", "lon", "lat"]).to_pydict()
    if unit.kind == "grid":
        codes = [grid_code(lon, lat, unit.value) for lon, lat in zip(cells["lon"], cells["lat"], strict=True)]
    else:
        codes = [h3.latlng_to_cell(lat, lon, int(unit.value)) for lon, lat in zip(cells["lon"], cells["lat"], strict=True)]
    return pa.table({"cell_idx": pa.array(cells["cell_idx"], pa.int32()), "pcode": pa.array(codes, pa.string())})
