from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from passage.core.errors import InvalidInput
from passage.dtm.geography import (
    Gazetteer,
    NameVariant,
    load_cod_ab_file,
    normalise_name,
    parse_cod_ab,
    pcode_problem,
    read_name_variants,
)

from .conftest import box, feature


def refused(collection: dict[str, Any], **kwargs: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse_cod_ab(collection, **kwargs)
    return info.value


def test_parses_levels_parents_names_and_alternates(collection: dict[str, Any]) -> None:
    areas = {a.pcode: a for a in parse_cod_ab(collection)}
    assert [areas[p].level for p in ("NG", "NG008", "NG008017", "NG008017001")] == [0, 1, 2, 3]
    assert areas["NG008017001"].parent_pcode == "NG008017"
    assert areas["NG008"].name_zh == "博尔诺"
    assert areas["NG008"].alternate_names == ("Bornu",)
    assert areas["NG"].parent_pcode is None


def test_refuses_feature_without_pcode_with_its_index(collection: dict[str, Any]) -> None:
    collection["features"][3]["properties"] = {"ADM2_EN": "Maiduguri"}
    error = refused(collection)
    assert error.fields[0].path == "features[3].properties"
    assert "P-code" in error.fields[0].message


def test_refuses_point_geometry(collection: dict[str, Any]) -> None:
    collection["features"][2]["geometry"] = {"type": "Point", "coordinates": [1, 1]}
    error = refused(collection)
    assert error.fields[0].path == "features[2].geometry"
    assert "Point" in error.fields[0].message


def test_refuses_self_intersecting_polygon(collection: dict[str, Any]) -> None:
    collection["features"][2]["geometry"] = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    error = refused(collection)
    assert error.fields[0].path == "features[2].geometry"
    assert "invalid polygon" in error.fields[0].message


def test_refuses_unknown_parent_and_names_the_feature(collection: dict[str, Any]) -> None:
    collection["features"].append(feature(2, "NG036001", "Bade", "NG036", box(1, 1, 2, 2)))
    error = refused(collection)
    assert [f.path for f in error.fields] == ["features[7].properties.ADM1_PCODE"]
    assert "unknown parent P-code NG036" in error.fields[0].message


def test_parent_may_come_from_areas_already_loaded(collection: dict[str, Any]) -> None:
    only_lga = {"type": "FeatureCollection", "features": [collection["features"][3]]}
    refused(only_lga)
    areas = parse_cod_ab(only_lga, known_parents={"NG008": 1})
    assert areas[0].pcode == "NG008017"


def test_refuses_parent_at_wrong_level(collection: dict[str, Any]) -> None:
    collection["features"].append(feature(3, "NG008999", "X", "NG008", box(1, 1, 2, 2)))
    error = refused(collection, require_hierarchical_pcodes=True)
    assert "expected 2" in error.fields[0].message


def test_refuses_non_hierarchical_pcode_unless_allowed(collection: dict[str, Any]) -> None:
    collection["features"][5]["properties"]["ADM2_PCODE"] = "NG999021"
    error = refused(collection)
    assert "does not extend" in error.fields[0].message
    assert len(parse_cod_ab(copy.deepcopy(collection), require_hierarchical_pcodes=False)) == 7


def test_refuses_duplicate_pcode(collection: dict[str, Any]) -> None:
    collection["features"].append(copy.deepcopy(collection["features"][4]))
    error = refused(collection)
    assert "duplicate P-code NG008001 (first at features[4])" in error.fields[0].message


def test_refuses_level_four(collection: dict[str, Any]) -> None:
    collection["features"].append(feature(4, "NG008017001A", "Block", "NG008017001", box(1, 1, 2, 2)))
    assert "admin level" in refused(collection).fields[0].message


def test_refuses_not_a_feature_collection() -> None:
    with pytest.raises(InvalidInput, match="FeatureCollection"):
        parse_cod_ab({"type": "Feature"})


def test_load_file_reports_json_position(tmp_path: Path, areas_file: Path) -> None:
    assert len(load_cod_ab_file(areas_file)) == 7
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection",\n "features": [}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="line 2"):
        load_cod_ab_file(broken)


@pytest.mark.parametrize(
    ("pcode", "ok"),
    [("NG008017", True), ("AFG01", True), ("CN11", True), ("ng008", False), ("XX01", False), ("NG-008", False), ("", False), ("12345", False)],
)
def test_pcode_format(pcode: str, ok: bool) -> None:
    assert (pcode_problem(pcode) is None) is ok


def test_normalise_name_folds_accents_case_and_punctuation() -> None:
    assert normalise_name("Maïduguri") == normalise_name("MAIDUGURI") == normalise_name("Mai-duguri")
    assert normalise_name("博尔诺") == "博尔诺"


def test_check_name_match_variant_mismatch_unknown(gazetteer: Gazetteer) -> None:
    assert gazetteer.check_name("NG008017", "maiduguri").status == "match"
    assert gazetteer.check_name("NG008017", "Maidugiri").status == "variant"
    assert gazetteer.check_name("NG008", "博尔诺").status == "match"
    mismatch = gazetteer.check_name("NG008017", "Abadam")
    assert mismatch.status == "mismatch"
    assert mismatch.suggested_pcodes == ("NG008001",)
    assert mismatch.expected_name == "Maiduguri"
    assert gazetteer.check_name("NG008099", "Maiduguri").status == "unknown_pcode"
    assert gazetteer.check_name("ZZ1", "x").status == "invalid_pcode"


def test_variants_table_is_accepted(collection: dict[str, Any]) -> None:
    areas = parse_cod_ab(collection)
    assert Gazetteer(areas).check_name("NG002021", "Yola-Nord").status == "mismatch"
    with_variants = Gazetteer(areas, [NameVariant("NG002021", "Yola Nord", "fr")])
    assert with_variants.check_name("NG002021", "Yola-Nord").status == "variant"


def test_read_name_variants_checks_pcodes(tmp_path: Path) -> None:
    good = tmp_path / "variants.csv"
    good.write_text("pcode,name,language\nng002021,Yola Nord,fr\n", encoding="utf-8")
    assert read_name_variants(good) == [NameVariant("NG002021", "Yola Nord", "fr")]
    bad = tmp_path / "bad.csv"
    bad.write_text("pcode,name\n12,Foo\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        read_name_variants(bad)
    assert info.value.fields[0].path == "line 2, column pcode"


def test_gazetteer_rollup_and_lineage(gazetteer: Gazetteer) -> None:
    assert gazetteer.ancestor_at("NG008017001", 1).pcode == "NG008"  # type: ignore[union-attr]
    assert gazetteer.ancestor_at("NG008017", 2).pcode == "NG008017"  # type: ignore[union-attr]
    assert gazetteer.ancestor_at("NG008", 2) is None
    assert [a.pcode for a in gazetteer.lineage("NG008017001")] == ["NG", "NG008", "NG008017", "NG008017001"]


def test_error_messages_do_not_echo_names(collection: dict[str, Any]) -> None:
    collection["features"][3]["geometry"] = None
    error = refused(collection)
    assert "Maiduguri" not in json.dumps(error.as_dict())
