"""Crisis areas and the grid index: pure geometry, no I/O.

A crisis area is a GeoJSON Polygon or MultiPolygon (RFC 7946) in WGS 84 longitude/latitude. Rings must be
closed (RFC 7946 §3.1.6: "the first and last positions are equivalent"), have at least four positions, and not
cross themselves; a bad area is refused with the ring and position that is wrong.

Point in polygon: the even-odd crossing rule (W. R. Franklin, PNPOLY; Shimrat 1962, ACM Algorithm 112), holes
included.

The grid index (no PostGIS here, and it must work on SQLite and PostgreSQL alike): every located registration
stores `grid_cell = row * GRID_COLUMNS + column` of a regular 0.01° grid (about 1.1 km at the equator). For
an area, `grid_cover` computes, row by row, the cells an edge passes through (*boundary* cells, where each
point is tested exactly) and the runs of cells between them that lie wholly inside (*interior* cells, accepted
without looking at the point). Both come back as ranges of consecutive cell ids, so the database answers with
B-tree range scans and only boundary candidates need their (encrypted) coordinates decrypted. This is the
classic uniform-grid spatial index (Akman, Franklin et al., "Geometric computing and uniform grid technique",
Computer-Aided Design 21(7), 1989) with an interior/boundary split as in raster approximations of polygons
(Zimbrao & de Souza, "A raster approximation for processing of spatial joins", VLDB 1998).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_

GRID_DEGREES = 0.01
GRID_COLUMNS = 36_000
GRID_ROWS = 18_000
MAX_VERTICES = 20_000
_EPSILON = 1e-9

Ring = list[tuple[float, float]]
"""(longitude, latitude) positions; closed (first == last)."""


@dataclass(frozen=True)
class Area:
    """Polygons, each an outer ring followed by its holes."""

    polygons: tuple[tuple[Ring, ...], ...]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        lons = [p[0] for polygon in self.polygons for p in polygon[0]]
        lats = [p[1] for polygon in self.polygons for p in polygon[0]]
        return min(lons), min(lats), max(lons), max(lats)

    def as_geojson(self) -> dict[str, Any]:
        if len(self.polygons) == 1:
            return {"type": "Polygon", "coordinates": [[list(p) for p in ring] for ring in self.polygons[0]]}
        return {"type": "MultiPolygon", "coordinates": [[[list(p) for p in ring] for ring in polygon] for polygon in self.polygons]}

    def centroid(self) -> tuple[float, float]:
        """Mean of the outer rings' vertices (for centring a map, not for analysis)."""
        points = [p for polygon in self.polygons for p in polygon[0][:-1]]
        return sum(p[1] for p in points) / len(points), sum(p[0] for p in points) / len(points)


def _position(value: Any, path: str) -> tuple[float, float]:
    if not isinstance(value, list | tuple) or len(value) < 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value[:2]):
        raise InvalidInput(T_("the area is not valid GeoJSON"), fields=[FieldError(path, T_("a position must be [longitude, latitude]"))])
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat)) or not -180 <= lon <= 180 or not -90 <= lat <= 90:
        raise InvalidInput(T_("the area is not valid GeoJSON"), fields=[FieldError(path, T_("longitude must be within -180..180 and latitude within -90..90"))])
    return lon, lat


def _segments_cross(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]) -> bool:
    """Proper intersection of segments ab and cd (touching at an end point does not count)."""

    def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
    return ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4))


def _check_ring(raw: Any, path: str, *, check_crossing: bool) -> Ring:
    if not isinstance(raw, list):
        raise InvalidInput(T_("the area is not valid GeoJSON"), fields=[FieldError(path, T_("a ring must be a list of positions"))])
    ring = [_position(p, f"{path}.{i}") for i, p in enumerate(raw)]
    if len(ring) < 4:
        raise InvalidInput(T_("the polygon has too few points"), fields=[FieldError(path, T_("a ring needs at least 4 positions (3 corners and the first repeated)"))])
    if ring[0] != ring[-1]:
        raise InvalidInput(
            T_("the polygon does not close"),
            fields=[FieldError(f"{path}.{len(ring) - 1}", T_("the last position must repeat the first one (RFC 7946 §3.1.6)"))],
        )
    if len({p for p in ring[:-1]}) < 3:
        raise InvalidInput(T_("the polygon has no area"), fields=[FieldError(path, T_("a ring needs at least 3 distinct corners"))])
    if check_crossing and len(ring) <= 1000:
        edges = list(zip(ring, ring[1:], strict=False))
        for i in range(len(edges)):
            for j in range(i + 2, len(edges)):
                if i == 0 and j == len(edges) - 1:
                    continue
                if _segments_cross(*edges[i], *edges[j]):
                    raise InvalidInput(T_("the polygon crosses itself"), fields=[FieldError(f"{path}.{i}", T_("edge {i} crosses edge {j}", i=i, j=j))])
    return ring


def parse_area(geometry: Mapping[str, Any] | Any, *, path: str = "area", check_crossing: bool = True) -> Area:
    """Validate a GeoJSON Polygon or MultiPolygon (or a Feature holding one) into an `Area`."""
    if not isinstance(geometry, Mapping):
        raise InvalidInput(T_("the area is not valid GeoJSON"), fields=[FieldError(path, T_("expected a GeoJSON object"))])
    if geometry.get("type") == "Feature":
        return parse_area(geometry.get("geometry"), path=f"{path}.geometry", check_crossing=check_crossing)
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "Polygon":
        raw_polygons = [coordinates]
        paths = [f"{path}.coordinates"]
    elif kind == "MultiPolygon" and isinstance(coordinates, list):
        raw_polygons = coordinates
        paths = [f"{path}.coordinates.{i}" for i in range(len(coordinates))]
    else:
        raise InvalidInput(T_("the area is not valid GeoJSON"), fields=[FieldError(f"{path}.type", T_("must be Polygon or MultiPolygon"))])
    polygons = []
    vertices = 0
    for raw, polygon_path in zip(raw_polygons, paths, strict=True):
        if not isinstance(raw, list) or not raw:
            raise InvalidInput(T_("the area is not valid GeoJSON"), fields=[FieldError(polygon_path, T_("a polygon needs at least its outer ring"))])
        rings = tuple(_check_ring(r, f"{polygon_path}.{i}", check_crossing=check_crossing) for i, r in enumerate(raw))
        vertices += sum(len(r) for r in rings)
        polygons.append(rings)
    if not polygons:
        raise InvalidInput(T_("the area is empty"), fields=[FieldError(f"{path}.coordinates", T_("no polygon"))])
    if vertices > MAX_VERTICES:
        raise InvalidInput(T_("the area is too detailed"), fields=[FieldError(path, T_("at most {MAX_VERTICES} positions; simplify the outline", MAX_VERTICES=MAX_VERTICES))])
    return Area(tuple(polygons))


def merge_areas(areas: Iterable[Area]) -> Area:
    """The polygons of several areas as one (admin areas chosen together)."""
    return Area(tuple(p for area in areas for p in area.polygons))


def _in_ring(lon: float, lat: float, ring: Ring) -> bool:
    inside = False
    j = len(ring) - 2
    for i in range(len(ring) - 1):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def point_in_area(lat: float, lon: float, area: Area) -> bool:
    """Even-odd rule over each polygon's outer ring minus its holes."""
    for polygon in area.polygons:
        if _in_ring(lon, lat, polygon[0]) and not any(_in_ring(lon, lat, hole) for hole in polygon[1:]):
            return True
    return False


def cell_of(lat: float, lon: float) -> int:
    """The grid cell id of a position."""
    row = min(GRID_ROWS - 1, max(0, math.floor((lat + 90.0) / GRID_DEGREES)))
    column = min(GRID_COLUMNS - 1, max(0, math.floor((lon + 180.0) / GRID_DEGREES)))
    return row * GRID_COLUMNS + column


def _column(lon: float) -> int:
    return min(GRID_COLUMNS - 1, max(0, math.floor((lon + 180.0) / GRID_DEGREES)))


@dataclass(frozen=True)
class GridCover:
    """Ranges of consecutive cell ids: wholly inside (`interior`) or touched by an edge (`boundary`)."""

    interior: list[tuple[int, int]]
    boundary: list[tuple[int, int]]

    @property
    def cells(self) -> int:
        return sum(b - a + 1 for a, b in self.interior) + sum(b - a + 1 for a, b in self.boundary)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def grid_cover(area: Area) -> GridCover:
    """Interior and boundary cell ranges of `area` (see the module docstring)."""
    edges = [(a, b) for polygon in area.polygons for ring in polygon for a, b in zip(ring, ring[1:], strict=False)]
    min_lon, min_lat, max_lon, max_lat = area.bbox
    row0 = max(0, math.floor((min_lat + 90.0) / GRID_DEGREES))
    row1 = min(GRID_ROWS - 1, math.floor((max_lat + 90.0) / GRID_DEGREES))
    col0, col1 = _column(min_lon), _column(max_lon)
    # Edges sorted by their lowest latitude, so each row looks only at the edges that reach it.
    edges.sort(key=lambda e: min(e[0][1], e[1][1]))
    interior: list[tuple[int, int]] = []
    boundary: list[tuple[int, int]] = []
    active: list[tuple[tuple[float, float], tuple[float, float]]] = []
    next_edge = 0
    for row in range(row0, row1 + 1):
        y0 = row * GRID_DEGREES - 90.0 - _EPSILON
        y1 = (row + 1) * GRID_DEGREES - 90.0 + _EPSILON
        while next_edge < len(edges) and min(edges[next_edge][0][1], edges[next_edge][1][1]) <= y1:
            active.append(edges[next_edge])
            next_edge += 1
        active = [e for e in active if max(e[0][1], e[1][1]) >= y0]
        touched: list[tuple[int, int]] = []
        for (ax, ay), (bx, by) in active:
            if ay == by:
                xs = (ax, bx)
            else:
                t0 = min(max((y0 - ay) / (by - ay), 0.0), 1.0)
                t1 = min(max((y1 - ay) / (by - ay), 0.0), 1.0)
                xs = (ax + t0 * (bx - ax), ax + t1 * (bx - ax))
            touched.append((_column(min(xs) - _EPSILON), _column(max(xs) + _EPSILON)))
        touched = _merge(touched)
        base = row * GRID_COLUMNS
        boundary.extend((base + a, base + b) for a, b in touched)
        # Runs between boundary cells are wholly inside or wholly outside; one centre test decides each run.
        mid_lat = (row + 0.5) * GRID_DEGREES - 90.0
        cursor = col0
        for a, b in [*touched, (col1 + 1, col1 + 1)]:
            if cursor < a:
                centre_lon = (cursor + 0.5) * GRID_DEGREES - 180.0
                if point_in_area(mid_lat, centre_lon, area):
                    interior.append((base + cursor, base + a - 1))
            cursor = max(cursor, b + 1)
    return GridCover(interior=interior, boundary=boundary)


def chunks(ranges: Sequence[tuple[int, int]], size: int = 200) -> list[Sequence[tuple[int, int]]]:
    """Ranges in batches (one SQL statement each), so a big area does not build one enormous statement."""
    return [ranges[i : i + size] for i in range(0, len(ranges), size)]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a sphere of radius 6,371 km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))
