"""Scheme files: shipped files load; malformed, gapped, overlapping or incomplete schemes are refused with paths."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from passage.avrr.schemes import SCHEMES_DIR, SchemeRegistry, default_registry, load_scheme_file, parse_scheme
from passage.core.errors import InvalidInput, NotFound


def shipped(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMES_DIR / name).read_text(encoding="utf-8"))
    return data


def paths(exc: InvalidInput) -> set[str]:
    return {f.path for f in exc.fields}


def test_shipped_schemes_load_with_published_figures() -> None:
    registry = default_registry()
    assert registry.scheme_ids() == ["reag_garp", "starthilfeplus"]
    assert "china_avrr_pilot" in registry.scheme_ids(include_templates=True)
    reag = registry.in_force("reag_garp", dt.date(2024, 1, 1))
    rules = {r.rule_id: r for r in reag.rules}
    assert rules["travel_assistance"].amounts_by_band == {"minor": 100, "adult": 200}
    assert rules["medical_support"].amount == 2000 and rules["medical_support"].coverage_months == 3
    assert rules["start_up"].amounts_by_band == {"minor": 500, "adult": 1000} and rules["start_up"].family_cap == 4000
    shp = registry.in_force("starthilfeplus", dt.date(2017, 2, 1))
    shp_rules = {r.rule_id: r for r in shp.rules}
    assert shp_rules["stage_1"].amounts_by_band == {"child_under_12": 600, "from_12": 1200}
    assert shp_rules["stage_2"].amounts_by_band == {"child_under_12": 400, "from_12": 800}
    assert shp_rules["family_supplement"].amount == 500
    assert "CHN" in (shp.eligibility.nationalities or [])


def test_missing_amount_is_refused_with_field_path() -> None:
    data = shipped("reag_garp_2019.json")
    del data["rules"][1]["amounts_by_band"]["adult"]
    with pytest.raises(InvalidInput) as info:
        parse_scheme(data)
    assert "rules.1.amounts_by_band.adult" in paths(info.value)
    data = shipped("starthilfeplus_2017.json")
    del data["rules"][2]["amount"]
    with pytest.raises(InvalidInput) as info:
        parse_scheme(data)
    assert "rules.2.amount" in paths(info.value)


def test_age_band_gap_and_overlap_are_refused() -> None:
    data = shipped("starthilfeplus_2017.json")
    gap = copy.deepcopy(data)
    gap["age_bands"][1]["min_age"] = 13
    with pytest.raises(InvalidInput) as info:
        parse_scheme(gap)
    assert "age_bands.1.min_age" in paths(info.value)
    overlap = copy.deepcopy(data)
    overlap["age_bands"][1]["min_age"] = 10
    with pytest.raises(InvalidInput, match="invalid incentive scheme") as info:
        parse_scheme(overlap)
    assert any("overlap" in f.message for f in info.value.fields)
    capped = copy.deepcopy(data)
    capped["age_bands"][1]["max_age"] = 99
    with pytest.raises(InvalidInput) as info:
        parse_scheme(capped)
    assert any("from 100" in f.message for f in info.value.fields)


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["rules"][0]["instalments"][1].update(share="0.4"), "rules.0.instalments"),
        (lambda d: d["rules"][0].update(citation="nowhere"), "rules.0.citation"),
        (lambda d: d["rules"][1].update(rule_id="stage_1"), "rules.1.rule_id"),
        (lambda d: d.update(effective_to="2016-01-01"), "effective_to"),
        (lambda d: d["rules"][0].update(unknown_key=1), "rules.0.unknown_key"),
        (lambda d: d["rules"][0]["amounts_by_band"].update(teen="5"), "rules.0.amounts_by_band.teen"),
        (lambda d: d.update(currency="euro"), "currency"),
        (lambda d: d["eligibility"]["nationalities"].append("ABC"), "eligibility.nationalities.39"),
    ],
)
def test_each_defect_names_its_path(mutate: Any, path: str) -> None:
    data = shipped("starthilfeplus_2017.json")
    mutate(data)
    with pytest.raises(InvalidInput) as info:
        parse_scheme(data)
    assert path in paths(info.value)


def _write(directory: Path, name: str, data: dict[str, Any]) -> None:
    (directory / name).write_text(json.dumps(data), encoding="utf-8")


def test_overlapping_validity_is_refused(tmp_path: Path) -> None:
    first = shipped("starthilfeplus_2017.json")
    first["effective_to"] = "2017-12-31"
    second = copy.deepcopy(first)
    second["version"] = "2018"
    second["effective_from"] = "2017-12-01"
    second["effective_to"] = None
    _write(tmp_path, "a.json", first)
    _write(tmp_path, "b.json", second)
    with pytest.raises(InvalidInput, match="overlaps version 2017"):
        SchemeRegistry.from_directory(tmp_path)
    second["effective_from"] = "2018-01-01"
    _write(tmp_path, "b.json", second)
    registry = SchemeRegistry.from_directory(tmp_path)
    assert registry.in_force("starthilfeplus", dt.date(2017, 12, 31)).version == "2017"
    assert registry.in_force("starthilfeplus", dt.date(2018, 1, 1)).version == "2018"
    with pytest.raises(NotFound):
        registry.in_force("starthilfeplus", dt.date(2017, 1, 1))
    with pytest.raises(NotFound):
        registry.versions("nope")


def test_open_ended_versions_overlap(tmp_path: Path) -> None:
    first = shipped("reag_garp_2019.json")
    first["effective_to"] = None  # an open-ended version overlaps any later one
    second = copy.deepcopy(first)
    second["version"] = "2030"
    second["effective_from"] = "2030-01-01"
    _write(tmp_path, "a.json", first)
    _write(tmp_path, "b.json", second)
    with pytest.raises(InvalidInput, match="overlaps"):
        SchemeRegistry.from_directory(tmp_path)


def test_bad_json_reports_line(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"scheme_id": \n oops}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 2"):
        load_scheme_file(tmp_path / "x.json")
