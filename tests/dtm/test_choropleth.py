from __future__ import annotations

import datetime as dt

from passage.dtm.aggregate import aggregate
from passage.dtm.choropleth import choropleth, class_of, quantile_breaks, site_points
from passage.dtm.geography import Gazetteer, parse_cod_ab
from passage.dtm.rules import figure_from_submission

from .conftest import baseline_submission, sample_collection


def test_quantile_breaks_and_classes() -> None:
    assert quantile_breaks([0, 10, 20, 30, 40, 50], classes=5) == [10, 20, 30, 40, 50]
    assert quantile_breaks([5, 5, 5]) == [5]
    assert quantile_breaks([0, 0]) == []
    breaks = [10, 20, 50]
    assert [class_of(v, breaks) for v in (None, 0, 10, 11, 50, 99)] == [None, 0, 0, 1, 2, 2]


def test_every_area_of_the_level_with_value_or_null() -> None:
    areas = parse_cod_ab(sample_collection())
    gazetteer = Gazetteer(areas)
    figures = [figure_from_submission(baseline_submission("a"), row=2, component="baseline")]
    rows = aggregate(figures, gazetteer=gazetteer, level=2, operation="Nigeria", round_number=3, reporting_date=dt.date(2025, 3, 31)).rows
    collection = choropleth(rows, areas, level=2, simplify_tolerance=0.01)
    properties = {f["properties"]["pcode"]: f["properties"] for f in collection["features"]}
    assert set(properties) == {"NG008017", "NG008001", "NG002021"}
    assert properties["NG008017"]["value"] == 500 and properties["NG008017"]["class"] == 0
    assert properties["NG008001"]["value"] is None and properties["NG008001"]["class"] is None
    assert collection["legend"] == {"field": "idp_individuals", "breaks": [500.0], "method": "quantile"}
    assert collection["round"] == 3
    assert collection["features"][0]["geometry"]["type"] == "Polygon"


def test_site_points_are_lon_lat_and_skip_missing() -> None:
    points = site_points([{"site_id": "S1", "latitude": 11.8, "longitude": 13.1}, {"site_id": "S2", "latitude": None, "longitude": None}])
    assert points["features"][0]["geometry"]["coordinates"] == [13.1, 11.8]
    assert points["features"][0]["properties"] == {"site_id": "S1"}
    assert points["skipped"] == 1
