"""Crisis areas: validation with clear errors, point in polygon, and the grid cover (no cell misclassified)."""

from __future__ import annotations

import random

import pytest

from passage.consular import geo
from passage.core.errors import InvalidInput

TRIANGLE = {"type": "Polygon", "coordinates": [[[115.0, -8.0], [116.3, -8.2], [115.2, -9.1], [115.0, -8.0]]]}
WITH_HOLE = {"type": "Polygon", "coordinates": [
    [[10.0, 10.0], [11.0, 10.0], [11.0, 11.0], [10.0, 11.0], [10.0, 10.0]],
    [[10.4, 10.4], [10.6, 10.4], [10.6, 10.6], [10.4, 10.6], [10.4, 10.4]],
]}


def test_unclosed_polygon_is_refused_naming_the_last_position() -> None:
    with pytest.raises(InvalidInput) as caught:
        geo.parse_area({"type": "Polygon", "coordinates": [[[115.0, -8.0], [116.0, -8.0], [116.0, -9.0], [115.0, -9.0]]]})
    assert caught.value.message == "the polygon does not close"
    assert caught.value.fields[0].path == "area.coordinates.0.3"


@pytest.mark.parametrize(("geometry", "message"), [
    ({"type": "Point", "coordinates": [1, 2]}, "the area is not valid GeoJSON"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}, "the polygon has too few points"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [200, 1], [1, 0], [0, 0]]]}, "the area is not valid GeoJSON"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "the polygon crosses itself"),
    ({"type": "Polygon", "coordinates": [[[0, 0], ["a", 1], [1, 0], [0, 0]]]}, "the area is not valid GeoJSON"),
])
def test_bad_areas_get_a_clear_error(geometry: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        geo.parse_area(geometry)
    assert caught.value.message == message
    assert caught.value.fields


def test_point_in_polygon_respects_holes_and_multipolygons() -> None:
    area = geo.parse_area(WITH_HOLE)
    assert geo.point_in_area(10.2, 10.2, area)
    assert not geo.point_in_area(10.5, 10.5, area)
    assert not geo.point_in_area(12.0, 10.5, area)
    multi = geo.parse_area({"type": "MultiPolygon", "coordinates": [WITH_HOLE["coordinates"], TRIANGLE["coordinates"]]})
    assert geo.point_in_area(-8.3, 115.2, multi) and geo.point_in_area(10.2, 10.2, multi)


@pytest.mark.parametrize("geometry", [TRIANGLE, WITH_HOLE])
def test_grid_cover_never_misclassifies_a_point(geometry: dict) -> None:
    """Every point inside lies in an interior or boundary cell, and no point in an interior cell is outside."""
    area = geo.parse_area(geometry)
    cover = geo.grid_cover(area)
    interior = {c for a, b in cover.interior for c in range(a, b + 1)}
    boundary = {c for a, b in cover.boundary for c in range(a, b + 1)}
    assert interior and boundary and not interior & boundary
    min_lon, min_lat, max_lon, max_lat = area.bbox
    rng = random.Random(7)
    for _ in range(40_000):
        lat, lon = rng.uniform(min_lat - 0.1, max_lat + 0.1), rng.uniform(min_lon - 0.1, max_lon + 0.1)
        cell = geo.cell_of(lat, lon)
        inside = geo.point_in_area(lat, lon, area)
        if inside:
            assert cell in interior or cell in boundary
        if cell in interior:
            assert inside


def test_cell_ids_are_row_major_and_clamped() -> None:
    assert geo.cell_of(-90, -180) == 0
    assert geo.cell_of(90, 180) == geo.GRID_ROWS * geo.GRID_COLUMNS - 1
    assert geo.cell_of(0.005, 0.005) - geo.cell_of(0.005, -0.005) == 1
