"""Choropleth-ready GeoJSON for the DTM map: admin polygons with a value and a class, and site points.

Leaflet's ``L.geoJSON`` draws these directly: every polygon carries ``pcode``, ``name``, ``name_zh``,
``value`` and ``class`` (0 .. n-1, or null when the area has no figure or its figure is withheld, which
``withheld`` says), and the collection carries a ``legend`` with the class breaks. The rows are a
publication's (`passage.dtm.publication`): withheld counts are None and never reach the map or its breaks. Breaks are quantiles of the non-zero values (Jenks would need a
library; quantiles are what DTM dashboards commonly use for skewed displacement counts). Geometry may be
simplified with shapely (Douglas-Peucker, topology preserved) to keep the map light.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from shapely.geometry import mapping, shape

from passage.core.errors import InvalidInput
from passage.core.i18n import T_
from passage.dtm.aggregate import AggregateRow, ensure_single_level
from passage.dtm.geography import AdminArea

VALUE_FIELDS = ("idp_individuals", "idp_households", "returnee_individuals", "returnee_households")


def quantile_breaks(values: Sequence[float], classes: int = 5) -> list[float]:
    """Upper bounds of `classes` quantile classes over the positive values (fewer when values repeat)."""
    positive = sorted(v for v in values if v > 0)
    if not positive:
        return []
    breaks: list[float] = []
    for k in range(1, classes + 1):
        index = min(len(positive) - 1, max(0, round(k * len(positive) / classes) - 1))
        bound = positive[index]
        if not breaks or bound > breaks[-1]:
            breaks.append(bound)
    return breaks


def class_of(value: float | None, breaks: Sequence[float]) -> int | None:
    if value is None or not breaks:
        return None
    if value <= 0:
        return 0
    for index, bound in enumerate(breaks):
        if value <= bound:
            return index
    return len(breaks) - 1


def choropleth(
    rows: Iterable[AggregateRow],
    areas: Iterable[AdminArea],
    *,
    level: int,
    value_field: str = "idp_individuals",
    classes: int = 5,
    simplify_tolerance: float = 0.0,
) -> dict[str, Any]:
    """A FeatureCollection of every area at `level` with its aggregate value (null where not assessed)."""
    if value_field not in VALUE_FIELDS:
        raise InvalidInput(T_("value must be one of {VALUE_FIELDS}", VALUE_FIELDS=', '.join(VALUE_FIELDS)))
    by_pcode = {row.pcode: row for row in ensure_single_level(rows, level)}
    values = {pcode: float(getattr(row, value_field)) for pcode, row in by_pcode.items() if getattr(row, value_field) is not None}
    breaks = quantile_breaks(list(values.values()), classes)
    features = []
    for area in sorted((a for a in areas if a.level == level), key=lambda a: a.pcode):
        if area.geometry is None:
            continue
        geometry = area.geometry
        if simplify_tolerance > 0:
            geometry = dict(mapping(shape(geometry).simplify(simplify_tolerance, preserve_topology=True)))
        row = by_pcode.get(area.pcode)
        value = getattr(row, value_field) if row is not None else None
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "pcode": area.pcode,
                    "name": area.name_en,
                    "name_zh": area.name_zh,
                    "level": level,
                    "value": value,
                    "class": class_of(value, breaks),
                    "change": row.idp_change if row is not None else None,
                    "withheld": row is not None and value is None,
                },
            }
        )
    sample = next(iter(by_pcode.values()), None)
    return {
        "type": "FeatureCollection",
        "features": features,
        "legend": {"field": value_field, "breaks": breaks, "method": "quantile"},
        "round": sample.round_number if sample else None,
        "reportingDate": sample.reporting_date.isoformat() if sample else None,
    }


def site_points(sites: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sites as GeoJSON points; each dict needs ``latitude``/``longitude`` and may carry any properties.

    Sites without coordinates are left out (the count is in ``skipped``); GeoJSON order is lon, lat.
    """
    features = []
    skipped = 0
    for site in sites:
        lat, lon = site.get("latitude"), site.get("longitude")
        if lat is None or lon is None:
            skipped += 1
            continue
        properties = {k: v for k, v in site.items() if k not in ("latitude", "longitude")}
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": properties})
    return {"type": "FeatureCollection", "features": features, "skipped": skipped}
