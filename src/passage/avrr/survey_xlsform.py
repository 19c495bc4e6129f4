"""Generate the reintegration sustainability survey XLSForm from the scoring configuration.

Run `python -m passage.avrr.survey_xlsform` (or `passage avrr build-survey`) after changing
`data/sustainability/<config>.json`; the result is committed as `data/reintegration_survey.xlsx`.
The survey follows the XLSForm standard (https://xlsform.org): sheets `survey`, `choices` and `settings`,
labels in English and Simplified Chinese. Questions and answer choices come from the same file the
scorer reads, so every choice a device can record has a defined score (or a defined exclusion).
"""

from __future__ import annotations

import sys
from pathlib import Path

from openpyxl import Workbook

from passage.avrr.sustainability import DIMENSIONS, ScoringConfig, load_scoring_config
from passage.core.files import atomic_path

SURVEY_PATH = Path(__file__).parent / "data" / "reintegration_survey.xlsx"
EN = "label::English (en)"
ZH = "label::Chinese (zh)"

DIMENSION_LABELS = {
    "economic": ("Economic dimension", "经济层面"),
    "social": ("Social dimension", "社会层面"),
    "psychosocial": ("Psychosocial dimension", "心理社会层面"),
}


def survey_rows(config: ScoringConfig) -> tuple[list[list[object]], list[list[object]], list[list[object]]]:
    """The three sheets as rows (header first): survey, choices, settings."""
    survey: list[list[object]] = [["type", "name", EN, ZH, "required", "relevant", "constraint", "hint::English (en)", "hint::Chinese (zh)"]]
    survey += [
        ["start", "start", "", "", "", "", "", "", ""],
        ["end", "end", "", "", "", "", "", "", ""],
        ["text", "case_reference", "AVRR case reference", "AVRR案件编号", "yes", "", "", "", ""],
        ["integer", "round_number", "Monitoring round", "监测轮次", "yes", "", ". >= 1 and . <= 12", "", ""],
        ["date", "interview_date", "Date of interview", "访谈日期", "yes", "", "", "", ""],
        ["select_one interview_mode", "interview_mode", "How is the interview held?", "访谈方式", "yes", "", "", "", ""],
        ["select_one consent", "consent", "Do you agree to answer questions about your situation since your return? You may stop at any time.",
         "您是否同意回答有关您返回后情况的问题？您可以随时停止。", "yes", "", "", "", ""],
    ]
    for dim in DIMENSIONS:
        en, zh = DIMENSION_LABELS[dim]
        survey.append(["begin_group", dim, en, zh, "", "${consent} = 'yes'", "", "", ""])
        for item in (i for i in config.items if i.dimension == dim):
            survey.append([f"select_one {item.scale}", item.name, item.en, item.zh, "yes", "", "", "", ""])
        survey.append(["end_group", "", "", "", "", "", "", "", ""])
    choices: list[list[object]] = [["list_name", "name", EN, ZH]]
    choices += [["consent", "yes", "Yes", "是"], ["consent", "no", "No", "否"],
                ["interview_mode", "in_person", "In person", "面对面"], ["interview_mode", "phone", "By phone", "电话"]]
    for scale, options in config.scales.items():
        choices += [[scale, c.name, c.en, c.zh] for c in options]
    settings: list[list[object]] = [
        ["form_title", "passage_title::Chinese (zh)", "form_id", "version", "default_language"],
        ["Reintegration sustainability survey", "重返社会可持续性调查", "avrr_reintegration_survey",
         f"{config.config_id}", "English (en)"],
    ]
    return survey, choices, settings


def build_workbook(config: ScoringConfig) -> Workbook:
    workbook = Workbook()
    sheets = zip(("survey", "choices", "settings"), survey_rows(config), strict=True)
    for index, (title, rows) in enumerate(sheets):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        assert sheet is not None
        sheet.title = title
        for row in rows:
            sheet.append(row)
    return workbook


def write_survey(path: Path = SURVEY_PATH, config_id: str = "measure_2017_equal_v1") -> Path:
    workbook = build_workbook(load_scoring_config(config_id))
    with atomic_path(path) as tmp:
        workbook.save(tmp)
    return path


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SURVEY_PATH
    print(write_survey(target))  # noqa: T201 - a build script's one line of output


if __name__ == "__main__":
    main()
