from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from passage.core.errors import InvalidInput
from passage.dtm.aggregate import aggregate
from passage.dtm.geography import Gazetteer
from passage.dtm.report import build_report, render_html, write_pdf
from passage.dtm.rules import figure_from_submission

from .conftest import baseline_submission


def report(gazetteer: Gazetteer, language: str = "en"):  # type: ignore[no-untyped-def]
    figures = [
        figure_from_submission(baseline_submission("a"), row=2, component="baseline"),
        figure_from_submission(baseline_submission("c", admin1="NG002", admin1_name="Adamawa", admin2="NG002021", admin2_name="Yola North", households=30, individuals=150), row=3, component="baseline"),
    ]
    rows = aggregate(figures, gazetteer=gazetteer, level=1, operation="Nigeria", round_number=7, reporting_date=dt.date(2025, 3, 31), previous={"NG008": 450, "NG002": 150}).rows
    return build_report(rows, level=1, operation="Nigeria", round_number=7, reporting_date=dt.date(2025, 3, 31), issue_counts={"sex_age_sum": 2}, language=language)


def test_report_totals(gazetteer: Gazetteer) -> None:
    built = report(gazetteer)
    assert (built.total_idps, built.total_idp_households, built.total_returnees, built.total_change) == (650, 130, 180, 50)
    assert built.sex_age[0][0] == "Under 1" and sum(m + f for _, m, f in built.sex_age) == 650
    assert built.reasons == [("Armed conflict", 2), ("Flood", 2)]


def test_html_in_english_and_chinese_names_the_cjk_font(gazetteer: Gazetteer) -> None:
    english = render_html(report(gazetteer), language="en")
    assert "Borno" in english and "650" in english and "+50" in english
    assert "Sex and age groups do not sum to the total" in english and "sex_age_sum" not in english  # the check's name, not its code
    chinese = render_html(report(gazetteer, "zh"), language="zh")
    assert "国内流离失所者人数" in chinese and "博尔诺" in chinese and "武装冲突" in chinese
    assert "尼日利亚" in chinese and "Nigeria" not in chinese  # the operation's country in Chinese (CLDR)
    assert "sex_age_sum" not in chinese and "Baseline" not in chinese and "2025年3月31日" in chinese
    assert '"Noto Sans CJK SC"' in chinese


def test_pdf_is_written(gazetteer: Gazetteer, tmp_path: Path) -> None:
    path = tmp_path / "round7.pdf"
    assert write_pdf(report(gazetteer, "zh"), path, language="zh") >= 1
    assert path.read_bytes().startswith(b"%PDF")


def test_unknown_language_refused(gazetteer: Gazetteer) -> None:
    with pytest.raises(InvalidInput):
        report(gazetteer, "fr")
