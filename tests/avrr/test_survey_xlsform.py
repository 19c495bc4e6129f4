"""The committed survey XLSForm is the one the generator makes, converts with pyxform, and matches the scorer."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from passage.avrr.survey_xlsform import SURVEY_PATH, survey_rows, write_survey
from passage.avrr.sustainability import load_scoring_config
from passage.forms.definition import load_xlsform


def sheet_values(path: Path) -> dict[str, list[list[object]]]:
    workbook = load_workbook(path)
    return {ws.title: [[c if c is not None else "" for c in r] for r in ws.iter_rows(values_only=True)] for ws in workbook}


def test_committed_survey_is_up_to_date(tmp_path: Path) -> None:
    fresh = write_survey(tmp_path / "survey.xlsx")
    assert sheet_values(fresh) == sheet_values(SURVEY_PATH)


def test_survey_converts_and_has_both_languages_and_every_scored_choice() -> None:
    form = load_xlsform(SURVEY_PATH)
    assert form.form_id == "avrr_reintegration_survey"
    assert form.languages == ["English (en)", "Chinese (zh)"]
    config = load_scoring_config()
    for item in config.items:
        assert [c.name for c in form.choices[item.scale]] == [c.name for c in config.scales[item.scale]]
    survey, _, _ = survey_rows(config)
    names = {r[1] for r in survey[1:]}
    assert {i.name for i in config.items} <= names
    assert all(r[3] for r in survey[1:] if r[0] not in ("start", "end", "end_group"))  # every label has Chinese
