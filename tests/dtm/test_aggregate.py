from __future__ import annotations

import datetime as dt

import pytest

from passage.core.errors import InvalidInput
from passage.dtm.aggregate import aggregate, ensure_single_level
from passage.dtm.geography import Gazetteer
from passage.dtm.rules import FigureRow, figure_from_submission

from .conftest import baseline_submission, breakdown

DATE = dt.date(2025, 3, 31)


def figures() -> list[FigureRow]:
    ward = baseline_submission("w", households=10, individuals=40, size=4.0)
    ward["location/assessment_level"] = "3"
    ward["location/admin3_pcode"] = "NG008017001"
    return [
        figure_from_submission(baseline_submission("a", households=100, individuals=500), row=2, component="baseline"),
        figure_from_submission(baseline_submission("b", admin2="NG008001", admin2_name="Abadam", households=20, individuals=100, returnees=None), row=3, component="baseline"),
        figure_from_submission(baseline_submission("c", admin1="NG002", admin1_name="Adamawa", admin2="NG002021", admin2_name="Yola North", households=30, individuals=150), row=4, component="baseline"),
        figure_from_submission(ward, row=5, component="baseline"),
    ]


def run(gazetteer: Gazetteer, level: int, **kwargs: object) -> dict[str, object]:
    result = aggregate(figures(), gazetteer=gazetteer, level=level, operation="Nigeria", round_number=7, reporting_date=DATE, **kwargs)  # type: ignore[arg-type]
    return {"result": result, "rows": {r.pcode: r for r in result.rows}}


def test_admin1_sums_lower_levels(gazetteer: Gazetteer) -> None:
    rows = run(gazetteer, 1)["rows"]
    borno, adamawa = rows["NG008"], rows["NG002"]  # type: ignore[index]
    assert (borno.idp_individuals, borno.idp_households, borno.locations_assessed) == (640, 130, 3)
    assert borno.returnee_individuals == 180 and adamawa.idp_individuals == 150
    assert borno.males == 320 and borno.females == 320
    assert borno.breakdown["m_under1"] == sum(breakdown(n)["m_under1"] for n in (500, 100, 40))
    assert borno.lineage == {0: ("NG", "Nigeria"), 1: ("NG008", "Borno")}
    assert borno.reasons == {"conflict": 3, "flood": 3}
    assert borno.main_origin_admin1 == "NG008"


def test_country_total_and_admin3_table_excludes_admin2_figures(gazetteer: Gazetteer) -> None:
    assert [r.idp_individuals for r in run(gazetteer, 0)["result"].rows] == [790]  # type: ignore[attr-defined]
    level3 = run(gazetteer, 3)["result"]
    assert [(r.pcode, r.idp_individuals) for r in level3.rows] == [("NG008017001", 40)]  # type: ignore[attr-defined]
    assert level3.not_rollable == 3  # type: ignore[attr-defined]


def test_partial_breakdown_gives_unknown_sex_not_an_undercount(gazetteer: Gazetteer) -> None:
    items = figures()
    items[1].breakdown = {}
    result = aggregate(items, gazetteer=gazetteer, level=1, operation="Nigeria", round_number=7, reporting_date=DATE)
    borno = {r.pcode: r for r in result.rows}["NG008"]
    assert borno.males is None and borno.females is None and borno.breakdown == {}


def test_change_from_previous_round_and_issue_rows(gazetteer: Gazetteer) -> None:
    rows = run(gazetteer, 1, previous={"NG008": 600}, issue_rows=["a"])["rows"]
    assert rows["NG008"].idp_change == 40 and rows["NG008"].rows_with_issues == 1  # type: ignore[index]
    assert rows["NG002"].idp_change is None  # type: ignore[index]


def test_unknown_pcodes_are_reported_not_summed(gazetteer: Gazetteer) -> None:
    items = figures()
    items[0].admin_pcode = "NG099001"
    result = aggregate(items, gazetteer=gazetteer, level=0, operation="Nigeria", round_number=7, reporting_date=DATE)
    assert result.unknown_pcodes == ["NG099001"] and result.rows[0].idp_individuals == 290


def test_level_must_be_0_to_3_and_tables_never_mix(gazetteer: Gazetteer) -> None:
    with pytest.raises(InvalidInput):
        aggregate([], gazetteer=gazetteer, level=4, operation="x", round_number=1, reporting_date=DATE)
    rows = run(gazetteer, 1)["result"].rows + run(gazetteer, 0)["result"].rows  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput, match="level"):
        ensure_single_level(rows, 1)
