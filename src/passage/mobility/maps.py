"""Map layers of a run's redacted result: one value per area, classes for the choropleth, and the legend.

The value mapped per analysis: displaced subscribers (`displaced_subscribers`), arrivals above normal
(`flows_above_normal`: the sum of published `above_normal` over flows into the area from other areas,
Wilson et al. 2016's "flows above normal" read by destination), arrivals (`flows`), subscribers
(`home_locations`, `active_subscribers`), and for the daily analyses the last day of the result. An
area with no published value is *redacted* (a count of the threshold or fewer, possibly zero): it is
drawn hatched and labelled "fewer than N+1", never as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from passage.core.i18n import N_
from passage.mobility.units import parse_unit

# ColorBrewer "YlOrRd" 5-class sequential scheme (Brewer, colorbrewer2.org), light to dark.
PALETTE = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]

VALUE_LABELS = {
    "displaced_subscribers": N_("Displaced subscribers"),
    "flows_above_normal": N_("Arrivals above normal"),
    "flows": N_("Arrivals from other areas"),
    "home_locations": N_("Subscribers by home area"),
    "active_subscribers": N_("Active subscribers"),
    "daily_location": N_("Subscribers on the last day"),
    "unique_subscriber_counts": N_("Subscribers seen on the last day"),
    "location_event_counts": N_("Events on the last day"),
    "residents_present_absent": N_("Residents absent on the last day"),
}
_DAILY_COLUMN = {"daily_location": "subscribers", "unique_subscriber_counts": "subscribers", "location_event_counts": "events", "residents_present_absent": "absent"}


def area_values(analysis: str, columns: list[str], rows: list[list[Any]]) -> dict[str, int | None]:
    """P-code -> the mapped value from published (redacted) rows; None where a listed area's value is redacted."""
    index = {c: i for i, c in enumerate(columns)}
    values: dict[str, int | None] = {}
    if analysis in ("flows_above_normal", "flows"):
        column = "above_normal" if analysis == "flows_above_normal" else "subscribers"
        for row in rows:
            origin, destination, value = row[index["origin_pcode"]], row[index["destination_pcode"]], row[index[column]]
            if origin == destination or value is None:
                continue
            values[destination] = (values.get(destination) or 0) + int(value)
        return values
    if analysis in _DAILY_COLUMN:
        column = _DAILY_COLUMN[analysis]
        days = [row[index["date"]] for row in rows]
        if not days:
            return {}
        last = max(days)
        return {row[index["pcode"]]: row[index[column]] for row in rows if row[index["date"]] == last}
    column = "displaced" if analysis == "displaced_subscribers" else "subscribers"
    return {row[index["pcode"]]: row[index[column]] for row in rows}


def classes(values: list[int]) -> list[tuple[int, int]]:
    """Five equal-interval classes from the smallest (or 0) to the largest published value."""
    if not values:
        return []
    low, high = min(0, min(values)), max(values)
    if high <= low:
        return [(low, high)]
    step = max(1, math.ceil((high - low + 1) / len(PALETTE)))
    return [(low + i * step, min(high, low + (i + 1) * step - 1)) for i in range(len(PALETTE)) if low + i * step <= high]


def class_of(value: int, bounds: list[tuple[int, int]]) -> int:
    for i, (_low, high) in enumerate(bounds):
        if value <= high:
            return i
    return len(bounds) - 1


def area_layer(*, run: Any, columns: list[str], rows: list[list[Any]], geometries: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """GeoJSON FeatureCollection of the run's admin level with `value`, `redacted` and `class` per area, plus `legend`.

    `geometries(level)` gives the level's areas (`service.area_geometries` on the run's dataset): this file reads
    nothing itself."""
    unit = parse_unit(run.level)
    values = area_values(run.analysis, columns, rows)
    published = [v for v in values.values() if v is not None]
    bounds = classes(published)
    legend = [{"from": low, "to": high, "color": PALETTE[i]} for i, (low, high) in enumerate(bounds)]
    if unit.kind != "admin":
        return {"type": "FeatureCollection", "features": [], "legend": legend, "threshold": run.threshold, "mapped": False}
    layer = geometries(int(unit.value))
    for feature in layer["features"]:
        value = values.get(feature["properties"]["pcode"])
        feature["properties"]["value"] = value
        feature["properties"]["redacted"] = value is None
        feature["properties"]["class"] = None if value is None else class_of(value, bounds)
    layer["legend"] = legend
    layer["threshold"] = run.threshold
    layer["mapped"] = True
    return layer
