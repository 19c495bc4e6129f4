"""Every DTM output goes through disclosure control: a small area and the differencing attack on it.

Borno holds Maiduguri (500 IDPs) and Abadam (10 IDPs, below the threshold of 15); Adamawa holds Yola North.
Withholding Abadam alone is not enough: Borno's published 510 minus Maiduguri's 500 gives it back. The tests
read each output format (HXL CSV at every level, the report, the choropleth, the DTM API v3 records) as a
reader would, give the attacker of `tests.disclosure_attack` every relation a reader knows, and check that
no withheld small count can be narrowed below the threshold's width.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from passage.dtm import vocab
from passage.dtm.aggregate import aggregate
from passage.dtm.choropleth import choropleth
from passage.dtm.dtm_api import to_dtm_api_v3
from passage.dtm.geography import Gazetteer
from passage.dtm.hxl import write_hxl_csv
from passage.dtm.publication import LEVELS, SiteFigure, publish
from passage.dtm.report import build_report, render_html, write_pdf
from passage.dtm.rules import figure_from_submission
from tests.disclosure_attack import Publication, recovered

from .conftest import baseline_submission

THRESHOLD = 15
DATE = dt.date(2025, 3, 31)
COUNT_COLUMNS = ["idpHouseholds", "idpIndividuals", "idpMales", "idpFemales", *[f"idp_{name}" for name in vocab.BREAKDOWN_FIELDS],
                 "returneeHouseholds", "returneeIndividuals"]


def figures() -> list[Any]:
    return [
        figure_from_submission(baseline_submission("a", households=100, individuals=500, returnees=(40, 200)), row=2, component="baseline"),
        figure_from_submission(baseline_submission("b", admin2="NG008001", admin2_name="Abadam", households=3, individuals=10, size=3.3, returnees=(30, 120)), row=3, component="baseline"),
        figure_from_submission(baseline_submission("c", admin1="NG002", admin1_name="Adamawa", admin2="NG002021", admin2_name="Yola North", households=30, individuals=150), row=4, component="baseline"),
    ]


def results(gazetteer: Gazetteer) -> dict[int, Any]:
    rows = figures()
    return {level: aggregate(rows, gazetteer=gazetteer, level=level, operation="Nigeria", round_number=7, reporting_date=DATE) for level in LEVELS}


def read_hxl(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    header, data = lines[0], lines[2:]
    return [dict(zip(header, line, strict=True)) for line in data]


def attacker_view(tables: dict[int, list[dict[str, str]]]) -> Publication:
    """What a reader of the HXL files at every level has, and the relations DTM's definitions make public."""
    seen = Publication()
    for level, rows in tables.items():
        for row in rows:
            pcode = row[f"admin{level}Pcode"]
            for column in COUNT_COLUMNS:
                seen.values[(level, pcode, column)] = int(row[column]) if row[column] != "" else None
            key = lambda column, level=level, pcode=pcode: (level, pcode, column)  # noqa: E731
            seen.total(key("idpIndividuals"), [key("idpMales"), key("idpFemales")])
            for sex, total in (("m", "idpMales"), ("f", "idpFemales")):
                seen.total(key(total), [key(f"idp_{sex}_{age.name}") for age in vocab.AGE_GROUPS])
            seen.at_most(key("idpHouseholds"), key("idpIndividuals"))
            seen.at_most(key("returneeHouseholds"), key("returneeIndividuals"))
        if level == 0:
            continue
        for parent in tables[level - 1]:
            parent_code = parent[f"admin{level - 1}Pcode"]
            children = [r[f"admin{level}Pcode"] for r in rows if r[f"admin{level - 1}Pcode"] == parent_code]
            for column in COUNT_COLUMNS:
                seen.total((level - 1, parent_code, column), [(level, child, column) for child in children])
    return seen


def small_cells(seen: Publication, raw: dict[int, Any]) -> list[Any]:
    """Every cell whose true value is at or below the threshold."""
    cells = []
    for level, result in raw.items():
        for row in result.rows:
            truth = {"idpHouseholds": row.idp_households, "idpIndividuals": row.idp_individuals, "idpMales": row.males, "idpFemales": row.females,
                     "returneeHouseholds": row.returnee_households, "returneeIndividuals": row.returnee_individuals,
                     **{f"idp_{name}": row.breakdown.get(name) for name in vocab.BREAKDOWN_FIELDS}}
            cells.extend((level, row.pcode, column) for column, value in truth.items() if value is not None and value <= THRESHOLD and (level, row.pcode, column) in seen.values)
    return cells


def test_the_attack_harness_recovers_the_small_area_when_only_it_is_withheld(gazetteer: Gazetteer, tmp_path: Path) -> None:
    raw = results(gazetteer)
    tables = {}
    for level in (0, 1, 2):
        write_hxl_csv(raw[level].rows, level, tmp_path / f"raw{level}.csv")
        tables[level] = read_hxl(tmp_path / f"raw{level}.csv")
    seen = attacker_view(tables)
    small = small_cells(seen, raw)
    for key in small:  # primary suppression alone
        seen.values[key] = None
    assert (2, "NG008001", "idpIndividuals") in recovered(seen, small, THRESHOLD)  # Borno 510 - Maiduguri 500


def test_hxl_at_every_level_withholds_the_small_area_and_resists_differencing(gazetteer: Gazetteer, tmp_path: Path) -> None:
    raw = results(gazetteer)
    shown = publish(raw, threshold=THRESHOLD)
    tables = {}
    for level in (0, 1, 2):
        write_hxl_csv(shown.level(level).rows, level, tmp_path / f"admin{level}.csv")
        tables[level] = read_hxl(tmp_path / f"admin{level}.csv")
    abadam = next(r for r in tables[2] if r["admin2Pcode"] == "NG008001")
    assert abadam["idpIndividuals"] == "" and abadam["idpHouseholds"] == "" and abadam["idp_m_under1"] == ""
    seen = attacker_view(tables)
    small = small_cells(seen, raw)
    assert (2, "NG008001", "idpIndividuals") in small
    assert recovered(seen, small, THRESHOLD) == {}
    # the useful figures survive: the country and Yola North are published
    assert next(r for r in tables[2] if r["admin2Pcode"] == "NG002021")["idpIndividuals"] == "150"
    assert tables[0][0]["idpIndividuals"] == "660"


def test_report_withholds_in_rows_totals_and_sex_age(gazetteer: Gazetteer, tmp_path: Path) -> None:
    shown = publish(results(gazetteer), threshold=THRESHOLD)
    built = build_report(shown.level(2).rows, level=2, operation="Nigeria", round_number=7, reporting_date=DATE, totals=shown.totals[2], threshold=THRESHOLD)
    assert built.total_idps == 660  # the total is large and stays
    abadam = next(r for r in built.rows if r.pcode == "NG008001")
    assert abadam.idp_individuals is None and "idp_individuals" in abadam.withheld
    html = render_html(built)
    row_html = next(line for line in html.splitlines() if "NG008001" in line)
    assert "withheld" in row_html and ">10<" not in row_html
    assert "Counts of 15 or fewer" in html
    for language in ("en", "zh"):
        assert write_pdf(build_report(shown.level(2).rows, level=2, operation="Nigeria", round_number=7, reporting_date=DATE, totals=shown.totals[2], threshold=THRESHOLD, language=language),
                         tmp_path / f"r.{language}.pdf", language=language) >= 1


def test_choropleth_and_dtm_api_records_carry_no_withheld_count(gazetteer: Gazetteer) -> None:
    shown = publish(results(gazetteer), threshold=THRESHOLD)
    layer = choropleth(shown.level(2).rows, gazetteer.areas(2), level=2)
    abadam = next(f["properties"] for f in layer["features"] if f["properties"]["pcode"] == "NG008001")
    assert abadam["value"] is None and abadam["withheld"] is True and abadam["class"] is None
    assert all(bound > THRESHOLD for bound in layer["legend"]["breaks"])
    records = {r["admin2Pcode"]: r for r in (to_dtm_api_v3(row) for row in shown.level(2).rows)}
    assert records["NG008001"]["numPresentIdpInd"] is None and records["NG008001"]["numberMales"] is None
    assert records["NG002021"]["numPresentIdpInd"] == 150


def test_change_is_published_only_when_both_rounds_publish_the_figure(gazetteer: Gazetteer) -> None:
    before = publish(results(gazetteer), threshold=THRESHOLD)
    rows = figures()
    now = {level: aggregate(rows, gazetteer=gazetteer, level=level, operation="Nigeria", round_number=8, reporting_date=DATE,
                            previous={r.pcode: r.idp_individuals or 0 for r in results(gazetteer)[level].rows}) for level in LEVELS}
    after = publish(now, previous=before, threshold=THRESHOLD)
    by_pcode = {r.pcode: r for r in after.level(2).rows}
    assert by_pcode["NG008001"].idp_change is None  # withheld now and before: 10 - 10 would say nothing new, but is not printed
    assert by_pcode["NG002021"].idp_change == 0


def test_site_points_are_part_of_the_protected_table(gazetteer: Gazetteer) -> None:
    # two sites in Maiduguri: the area's site-component figure is their sum, so the small site is withheld
    # and so is one more cell of that sum (else 500 - 490 gives it back)
    rows = [figure_from_submission(baseline_submission(u, households=h, individuals=i), row=n, component="baseline")
            for n, (u, h, i) in enumerate((("s1", 98, 490), ("s2", 2, 10)), start=2)]
    merged = {level: aggregate(rows[:1], gazetteer=gazetteer, level=level, operation="Nigeria", round_number=1, reporting_date=DATE) for level in LEVELS}
    for level in LEVELS:
        for row in merged[level].rows:
            row.idp_individuals, row.idp_households = 500, 100
            row.males = row.females = None
            row.breakdown = {}
    areas = frozenset({"NG", "NG008", "NG008017"})
    sites = [SiteFigure("S1", areas, 490, 98), SiteFigure("S2", areas, 10, 2)]
    shown = publish(merged, sites=sites, threshold=THRESHOLD)
    assert shown.sites["S2"]["idp_individuals"] is None
    assert shown.sites["S1"]["idp_individuals"] is None or shown.level(2).rows[0].idp_individuals is None


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_the_same_data_give_the_same_publication_whatever_level_is_asked(gazetteer: Gazetteer, level: int) -> None:
    first, second = publish(results(gazetteer), threshold=THRESHOLD), publish(results(gazetteer), threshold=THRESHOLD)
    assert [r.withheld for r in first.level(level).rows] == [r.withheld for r in second.level(level).rows]


def test_flow_groups_withhold_small_counts_and_what_gives_them_away() -> None:
    from passage.dtm.publication import published_flows

    rows = [{"nationality": "CMR", "adult_males": 300, "adult_females": 250, "boys": 9, "girls": 120, "total": 679},
            {"nationality": "NGA", "adult_males": 400, "adult_females": 380, "boys": 200, "girls": 190, "total": 1170}]
    shown = published_flows(rows, threshold=THRESHOLD)
    cmr = shown[0]
    assert cmr["boys"] is None
    assert sum(1 for name in ("adult_males", "adult_females", "girls", "total") if cmr[name] is None) >= 1  # else total - the rest = 9
    assert shown[1] == rows[1]
