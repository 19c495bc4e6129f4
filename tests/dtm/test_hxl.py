from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import hxl
import pytest
from openpyxl import load_workbook

from passage.core.errors import InvalidInput
from passage.dtm.aggregate import aggregate
from passage.dtm.geography import Gazetteer
from passage.dtm.hxl import columns_for_level, write_hxl_csv, write_hxl_xlsx
from passage.dtm.rules import figure_from_submission

from .conftest import baseline_submission


def rows(gazetteer: Gazetteer, level: int):  # type: ignore[no-untyped-def]
    figures = [
        figure_from_submission(baseline_submission("a"), row=2, component="baseline"),
        figure_from_submission(baseline_submission("c", admin1="NG002", admin1_name="Adamawa", admin2="NG002021", admin2_name="Yola North", households=30, individuals=150), row=3, component="baseline"),
    ]
    return aggregate(figures, gazetteer=gazetteer, level=level, operation="Nigeria", round_number=7, reporting_date=dt.date(2025, 3, 31)).rows


def test_csv_parses_with_libhxl_and_has_the_required_hashtags(gazetteer: Gazetteer, tmp_path: Path) -> None:
    path = tmp_path / "admin1.csv"
    assert write_hxl_csv(rows(gazetteer, 1), 1, path) == 2
    dataset = hxl.data(str(path), hxl.input.InputOptions(allow_local=True))
    tags = [column.display_tag for column in dataset.columns]
    for required in ("#affected+idps+ind", "#adm1+code", "#adm1+name", "#date+reported", "#country+code", "#affected+idps+hh", "#affected+returnees+ind"):
        assert required in tags
    assert "#adm2+code" not in tags
    values = {row.get("#adm1+code"): row for row in dataset}
    assert values["NG008"].get("#affected+idps+ind") == "500"
    assert values["NG002"].get("#affected+idps+ind") == "150"
    assert values["NG008"].get("#date+reported") == "2025-03-31"
    # libhxl patterns match attributes in any order and return the first matching column, so the total
    # must come before the +m/+f/age columns that also carry +idps+ind
    pattern = hxl.model.TagPattern.parse("#affected+ind+idps")
    assert [c.header for c in dataset.columns if pattern.match(c)][0] == "idpIndividuals"


def test_sex_age_columns_use_hxl_attributes(gazetteer: Gazetteer, tmp_path: Path) -> None:
    path = tmp_path / "admin2.csv"
    write_hxl_csv(rows(gazetteer, 2), 2, path)
    dataset = hxl.data(str(path), hxl.input.InputOptions(allow_local=True))
    tags = {c.display_tag for c in dataset.columns}
    assert {"#affected+idps+ind+f+infants", "#affected+idps+ind+m+elderly", "#affected+idps+ind+f+age18_59", "#adm2+code"} <= tags
    first = next(iter(dataset))
    assert int(first.get("#affected+idps+ind+f")) + int(first.get("#affected+idps+ind+m")) == int(first.get("#affected+idps+ind"))


def test_every_hashtag_is_valid_hxl_syntax() -> None:
    for level in range(4):
        for column in columns_for_level(level):
            parsed = hxl.model.Column.parse(column.hashtag)
            assert parsed is not None and parsed.display_tag == column.hashtag


def test_xlsx_has_header_then_hashtag_row(gazetteer: Gazetteer, tmp_path: Path) -> None:
    path = tmp_path / "admin1.xlsx"
    write_hxl_xlsx(rows(gazetteer, 1), 1, path)
    sheet = load_workbook(path, read_only=True)["admin1"]
    header, hashtags, first = list(sheet.iter_rows(values_only=True))[:3]
    assert header[hashtags.index("#adm1+code")] == "admin1Pcode"
    assert first[hashtags.index("#affected+idps+ind")] in (150, 500)
    dataset = hxl.data(str(path), hxl.input.InputOptions(allow_local=True))
    assert "#affected+idps+ind" in [c.display_tag for c in dataset.columns]


def test_mixed_levels_refused_and_no_partial_file(gazetteer: Gazetteer, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    with pytest.raises(InvalidInput, match="one admin level"):
        write_hxl_csv(rows(gazetteer, 1) + rows(gazetteer, 0), 1, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_header_is_plain_csv_with_hashtag_second_row(gazetteer: Gazetteer, tmp_path: Path) -> None:
    path = tmp_path / "admin0.csv"
    write_hxl_csv(rows(gazetteer, 0), 0, path)
    with path.open(encoding="utf-8") as handle:
        header, hashtags, data = list(csv.reader(handle))
    assert header[:3] == ["operation", "admin0Pcode", "admin0Name"]
    assert hashtags[:3] == ["#operation+name", "#country+code", "#country+name"]
    assert data[1:3] == ["NG", "Nigeria"]


def test_human_headers_follow_the_reader_and_hashtags_stay_codes() -> None:
    """Issue 16: the header row is in the reader's language; the HXL hashtag row is unchanged (codes)."""
    from passage.dtm.hxl import columns_for_level, human_header

    columns = columns_for_level(2)
    chinese = [human_header(c.header, locale="zh_Hans") for c in columns]
    english = [human_header(c.header, locale="en") for c in columns]
    assert "国内流离失所者人数" in chinese and "IDP individuals" in english
    assert "2级行政区 P编码" in chinese and "Admin 2 P-code" in english
    assert "国内流离失所者：女，60岁及以上" in chinese and "IDPs: female, 60 and over" in english
    assert not any(h == c.header for h, c in zip(chinese, columns, strict=True))  # no code left untranslated
    assert [c.hashtag for c in columns][0] == "#operation+name"


def test_places_in_the_readers_language() -> None:
    from passage.dtm.messages import place

    assert str(place("Borno", "博尔诺", locale="zh_Hans")) == "博尔诺"
    assert str(place("Nigeria (demo)", None, locale="zh_Hans")) == "尼日利亚（演示）"
    assert str(place("Maiduguri", None, locale="zh_Hans")) == '<span translate="no" lang="en">Maiduguri</span>'
    assert str(place("Maiduguri", None, locale="en")) == "Maiduguri"
