"""XLSForm workbooks and export files built in code, shared by the forms tests."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl


def write_xlsform(path: Path, survey: Sequence[Sequence[Any]], choices: Sequence[Sequence[Any]] | None = None, settings: Sequence[Sequence[Any]] | None = None) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "survey"
    for row in survey:
        sheet.append(list(row))
    if choices:
        choice_sheet = workbook.create_sheet("choices")
        for row in choices:
            choice_sheet.append(list(row))
    if settings:
        settings_sheet = workbook.create_sheet("settings")
        for row in settings:
            settings_sheet.append(list(row))
    workbook.save(path)
    return path


HEADER = ["type", "name", "label::English (en)", "label::Chinese (zh)", "required", "constraint", "constraint_message::English (en)", "relevant", "calculation", "choice_filter", "hint::English (en)"]

SURVEY = [
    HEADER,
    ["text", "site_name", "Site name", "站点名称", "yes", "string-length(.) <= 40", "At most 40 characters", "", "", "", "Official name"],
    ["select_one admin1", "admin1", "Province", "省", "yes", "", "", "", "", "", ""],
    ["select_one admin2", "admin2", "District", "区", "yes", "", "", "", "", "admin1=${admin1}", ""],
    ["date", "visit_date", "Date of visit", "访问日期", "yes", ". <= today()", "Not in the future", "", "", "", ""],
    ["geopoint", "location", "Location", "位置", "", "", "", "", "", "", ""],
    ["begin_group", "pop", "Population", "人口", "", "", "", "", "", "", ""],
    ["integer", "households", "Households", "户数", "yes", ". >= 0", "", "", "", "", ""],
    ["integer", "individuals", "Individuals", "人数", "yes", ". >= ${households}", "At least one person per household", "", "", "", ""],
    ["decimal", "avg_size", "Average size", "平均规模", "", ". > 0 and . < 30", "", "${households} > 0", "", "", ""],
    ["end_group", "", "", "", "", "", "", "", "", "", ""],
    ["select_multiple reasons", "reasons", "Reasons", "原因", "yes", "not(selected(., 'none') and count-selected(.) > 1)", "'none' excludes others", "", "", "", ""],
    ["text", "reasons_other", "Other reason", "其他原因", "yes", "", "", "selected(${reasons}, 'other')", "", "", ""],
    ["begin_repeat", "members", "Members", "成员", "", "", "", "", "", "", ""],
    ["integer", "member_age", "Age", "年龄", "yes", ". >= 0 and . <= 120", "", "", "", "", ""],
    ["select_one sex", "member_sex", "Sex", "性别", "yes", "", "", "", "", "", ""],
    ["end_repeat", "", "", "", "", "", "", "", "", "", ""],
    ["calculate", "member_count", "", "", "", "", "", "", "count(${members})", "", ""],
    ["calculate", "per_household", "", "", "", "", "", "", "if(${households} > 0, ${individuals} div ${households}, 0)", "", ""],
    ["note", "thanks", "Thank you", "谢谢", "", "", "", "", "", "", ""],
]

CHOICES = [
    ["list_name", "name", "label::English (en)", "label::Chinese (zh)", "admin1"],
    ["admin1", "north", "North", "北", ""],
    ["admin1", "south", "South", "南", ""],
    ["admin2", "n1", "North One", "北一", "north"],
    ["admin2", "n2", "North Two", "北二", "north"],
    ["admin2", "s1", "South One", "南一", "south"],
    ["reasons", "conflict", "Conflict", "冲突", ""],
    ["reasons", "flood", "Flood", "洪水", ""],
    ["reasons", "other", "Other", "其他", ""],
    ["reasons", "none", "None", "无", ""],
    ["sex", "f", "Female", "女", ""],
    ["sex", "m", "Male", "男", ""],
]

SETTINGS = [["form_title", "form_id", "version", "default_language"], ["Site check", "site_check", "2024.1", "English (en)"]]


def valid_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "site_name": "Camp A",
        "admin1": "north",
        "admin2": "n2",
        "visit_date": "2024-03-01",
        "location": "12.5 44.1 0 5",
        "pop/households": "10",
        "pop/individuals": "42",
        "pop/avg_size": "4.2",
        "reasons": "conflict flood",
        "members": [{"members/member_age": "30", "members/member_sex": "f"}],
    }
    row.update(overrides)
    return {key: value for key, value in row.items() if value is not None}


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
