"""HXL-tagged exports of DTM aggregates: CSV and XLSX, one admin level per table.

The Humanitarian Exchange Language (HXL 1.1, https://hxlstandard.org/standard/1-1final/) adds a row of
hashtags under the header. Hashtags and attributes used here come from the HXL dictionary
(https://hxlstandard.org/standard/dictionary/): ``#country``, ``#adm1``..``#adm3`` with ``+code`` and
``+name``; ``#affected`` with ``+idps``/``+returnees``, ``+hh`` (households) and ``+ind`` (individuals),
``+m``/``+f`` and the age attributes ``+infants``, ``+elderly`` and ``+ageN_M``; ``#date+reported``.
For the columns the dictionary does not cover, the tags follow what IOM DTM publishes on HDX from its
API (``#operation+name``, ``#round+code``, ``#assessment+type``). ``#cause+main`` (main displacement
reason), ``#affected+idps+ind+change`` and the ``#meta+...+num`` quality columns are Passage's own
choices within HXL's syntax (a hashtag plus free attributes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from passage.core import i18n
from passage.core.errors import InvalidInput
from passage.core.files import Sheet, write_csv, write_xlsx
from passage.core.i18n import N_, T_
from passage.dtm import vocab
from passage.dtm.aggregate import AggregateRow, ensure_single_level

AGE_ATTRIBUTE = {"under1": "infants", "1_5": "age1_5", "6_17": "age6_17", "18_59": "age18_59", "60plus": "elderly"}


@dataclass(frozen=True)
class Column:
    header: str
    hashtag: str
    value: Callable[[AggregateRow], Any]


def _lineage_part(level: int, part: int, row: AggregateRow) -> str:
    return row.lineage.get(level, ("", ""))[part]


def _breakdown_part(key: str, row: AggregateRow) -> int | None:
    return row.breakdown.get(key) if row.breakdown else None


def _admin_columns(level: int) -> list[Column]:
    columns = [
        Column("admin0Pcode", "#country+code", lambda r: r.lineage.get(0, ("", ""))[0]),
        Column("admin0Name", "#country+name", lambda r: r.lineage.get(0, ("", ""))[1]),
    ]
    for lvl in range(1, level + 1):
        columns.append(Column(f"admin{lvl}Pcode", f"#adm{lvl}+code", partial(_lineage_part, lvl, 0)))
        columns.append(Column(f"admin{lvl}Name", f"#adm{lvl}+name", partial(_lineage_part, lvl, 1)))
    return columns


def columns_for_level(level: int) -> list[Column]:
    """The export columns for one admin level, with their HXL hashtags."""
    if level not in (0, 1, 2, 3):
        raise InvalidInput(T_("admin level must be 0, 1, 2 or 3"))
    columns = [Column("operation", "#operation+name", lambda r: r.operation)]
    columns += _admin_columns(level)
    columns += [
        Column("roundNumber", "#round+code", lambda r: r.round_number),
        Column("reportingDate", "#date+reported", lambda r: r.reporting_date.isoformat()),
        Column("assessmentType", "#assessment+type", lambda r: r.assessment_type),
        Column("idpHouseholds", "#affected+idps+hh", lambda r: r.idp_households),
        Column("idpIndividuals", "#affected+idps+ind", lambda r: r.idp_individuals),
        Column("idpMales", "#affected+idps+ind+m", lambda r: r.males),
        Column("idpFemales", "#affected+idps+ind+f", lambda r: r.females),
    ]
    for sex in vocab.SEXES:
        for age in vocab.AGE_GROUPS:
            key = f"{sex.name}_{age.name}"
            columns.append(Column(f"idp_{key}", f"#affected+idps+ind+{sex.name}+{AGE_ATTRIBUTE[age.name]}", partial(_breakdown_part, key)))
    columns += [
        Column("returneeHouseholds", "#affected+returnees+hh", lambda r: r.returnee_households),
        Column("returneeIndividuals", "#affected+returnees+ind", lambda r: r.returnee_individuals),
        Column("idpChangeSincePreviousRound", "#affected+idps+ind+change", lambda r: r.idp_change),
        Column("mainDisplacementReason", "#cause+main", lambda r: r.main_reason),
        Column("locationsAssessed", "#meta+locations+num", lambda r: r.locations_assessed),
        Column("rowsWithIssues", "#meta+issues+num", lambda r: r.rows_with_issues),
    ]
    return columns


HEADERS: dict[str, str] = {
    "operation": N_("Operation"), "roundNumber": N_("Round"), "reportingDate": N_("Reporting date"),
    "assessmentType": N_("Assessment type"), "idpHouseholds": N_("IDP households"), "idpIndividuals": N_("IDP individuals"),
    "idpMales": N_("IDP males"), "idpFemales": N_("IDP females"), "returneeHouseholds": N_("Returnee households"),
    "returneeIndividuals": N_("Returnee individuals"), "idpChangeSincePreviousRound": N_("Change in IDPs since the previous round"),
    "mainDisplacementReason": N_("Main reason for displacement"), "locationsAssessed": N_("Locations assessed"),
    "rowsWithIssues": N_("Rows with issues"), "admin0Pcode": N_("Country code"), "admin0Name": N_("Country"),
}
"""Human headers (in the reader's language) for the DTM API's field names; admin levels and the sex and age
columns are built in `human_header`."""


def human_header(header: str, *, locale: str) -> str:
    """A column's header in the reader's language (the HXL hashtag row below it stays as it is: hashtags are codes)."""
    def word(english: str, **params: Any) -> str:
        return i18n.Text(english, **params).render(locale)

    if header in HEADERS:
        return word(HEADERS[header])
    if header.startswith("admin") and header.endswith("Pcode"):
        return word(N_("Admin {level} P-code"), level=header[5:-5])
    if header.startswith("admin") and header.endswith("Name"):
        return word(N_("Admin {level} name"), level=header[5:-4])
    if header.startswith("idp_"):
        sex, age = header[4:].split("_", 1)
        sexes = {s.name: s for s in vocab.SEXES}
        ages = {a.name: a for a in vocab.AGE_GROUPS}
        if sex in sexes and age in ages:
            chinese = locale == "zh_Hans"
            return word(N_("IDPs: {sex}, {age}"), sex=sexes[sex].zh if chinese else sexes[sex].en.lower(),
                        age=ages[age].zh if chinese else ages[age].en.lower())
    return header


def table(rows: Iterable[AggregateRow], level: int, *, locale: str | None = None) -> tuple[list[str], list[str], list[list[Any]]]:
    """Header, hashtag row and data rows of one level's table; refuses rows of another level. Without `locale` the
    header row holds the DTM API's field names (machine-readable); with it, human headers in that language."""
    checked = ensure_single_level(rows, level)
    columns = columns_for_level(level)
    data = [[column.value(row) for column in columns] for row in checked]
    headers = [c.header if locale is None else human_header(c.header, locale=locale) for c in columns]
    return headers, [c.hashtag for c in columns], data


def _cell(value: Any) -> Any:
    return "" if value is None else value


def write_hxl_csv(rows: Iterable[AggregateRow], level: int, path: str | Path, *, locale: str | None = None) -> int:
    """Write an HXL-tagged CSV (header, hashtags, data) atomically; returns the number of data rows."""
    header, hashtags, data = table(rows, level, locale=locale)
    write_csv(path, [header, hashtags, *([_cell(v) for v in values] for values in data)])
    return len(data)


def write_hxl_xlsx(rows: Iterable[AggregateRow], level: int, path: str | Path, *, locale: str | None = None) -> int:
    """Write an HXL-tagged XLSX (one sheet named after the level) atomically; returns the number of data rows."""
    header, hashtags, data = table(rows, level, locale=locale)
    write_xlsx(path, [Sheet(f"admin{level}", [header, hashtags, *([_cell(v) for v in values] for values in data)], bold_rows=0)])
    return len(data)


def write_plain_csv(rows: Iterable[AggregateRow], level: int, path: str | Path) -> int:
    """The aggregate table without the hashtag row (``passage dtm aggregate``)."""
    header, _hashtags, data = table(rows, level)
    write_csv(path, [header, *([_cell(v) for v in values] for values in data)])
    return len(data)
