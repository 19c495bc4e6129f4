from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from pyxform.xls2xform import convert

from passage.dtm import vocab, xlsforms
from passage.dtm.xlsforms import ALL_FORMS, EN, ZH, Form, shipped_path

FORMS = [make() for make in ALL_FORMS]


def sheet_rows(path: Path, sheet: str) -> list[list[str]]:
    workbook = load_workbook(path, read_only=True)
    rows = [["" if v is None else str(v) for v in row] for row in workbook[sheet].iter_rows(values_only=True)]
    workbook.close()
    return rows


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.form_id)
def test_shipped_form_loads_with_pyxform(form: Form) -> None:
    result = convert(xlsform=str(shipped_path(form)))
    assert f'id="{form.form_id}"' in result.xform
    assert 'lang="Chinese (zh)"' in result.xform
    assert result.warnings == []


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.form_id)
def test_shipped_file_is_what_the_script_generates(form: Form, tmp_path: Path) -> None:
    fresh = xlsforms.write_all(tmp_path, [form])[0]
    for sheet in ("survey", "choices", "settings"):
        assert sheet_rows(shipped_path(form), sheet) == sheet_rows(fresh, sheet), f"{sheet}: run python -m passage.dtm.xlsforms"


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.form_id)
def test_every_label_in_english_and_chinese_and_names_unique(form: Form) -> None:
    for row in form.survey:
        if row["type"].startswith("end_"):
            continue
        assert row[f"label::{EN}"] and row[f"label::{ZH}"], row["name"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in row[f"label::{ZH}"]), row["name"]
    for values in form.choices.values():
        for code in values:
            assert code.en and code.zh
    names = form.field_names() + [row["name"] for row in form.survey if row["type"].startswith("begin_")]
    assert len(names) == len(set(names))


def types_by_name(form: Form) -> dict[str, str]:
    return {row["name"]: row["type"] for row in form.survey if "name" in row}


def test_baseline_records_idps_returnees_arrivals_origin_reasons_shelter() -> None:
    types = types_by_name(xlsforms.baseline_form())
    assert types["displacement_reasons"] == "select_multiple reasons"
    for name in ("idp_households", "idp_individuals", "returnee_households", "returnee_individuals"):
        assert types[name] == "integer"
    for name in ("idp_arrival_first", "idp_arrival_last", "returnee_arrival_first"):
        assert types[name] == "date"
    assert "origin_admin2_pcode" in types and types["shelter_types"] == "select_multiple shelter"
    assert set(vocab.BREAKDOWN_FIELDS) <= set(types)


def test_site_form_has_the_fifteen_mcof_sectors_for_needs_and_services() -> None:
    form = xlsforms.site_form()
    types = types_by_name(form)
    assert len(vocab.MCOF_SECTORS) == 15
    assert [c.name for c in form.choices["sector"]] == [c.name for c in vocab.MCOF_SECTORS]
    assert vocab.MCOF_SECTORS[0].en == "Camp management and displacement tracking"
    assert vocab.MCOF_SECTORS[-1].en == "Humanitarian communications"
    assert all(types[f"service_{s.name}"] == "select_one service_level" for s in vocab.MCOF_SECTORS)
    assert types["priority_needs"] == "select_multiple sector"
    for name in ("site_type", "management_agency", "site_access", "access_constraints", "gps"):
        assert name in types


def test_flow_monitoring_counts_in_a_repeat() -> None:
    types = types_by_name(xlsforms.flow_monitoring_form())
    assert types["flows"] == "begin_repeat"
    for name in ("direction", "nationality", "transport_mode", "adult_males", "adult_females", "boys", "girls", "flow_total"):
        assert name in types
    survey = types_by_name(xlsforms.flow_survey_form())
    assert survey["consent"] == "select_one yes_no" and survey["movement_reasons"].startswith("select_multiple")
