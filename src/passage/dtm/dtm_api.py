"""DTM API v3 field names for admin 0/1/2 displacement, as pure functions over aggregate rows.

IOM's DTM API v3 (https://dtm.iom.int/data-and-analysis/dtm-api; endpoints ``/v3/displacement/admin0``,
``/admin1``, ``/admin2``) answers ``{"isSuccess": true, "message": ..., "result": [rows]}``, each row
with the fields listed in `DTM_API_V3_FIELDS`, and filters with the query parameters in
`QUERY_PARAMETERS`. Wave 2 exposes these functions as Passage's public read API so that existing DTM
consumers (the ``dtmapi`` Python and R packages, HDX's DTM scraper) can point at Passage.

Mapping from Passage's aggregates (documented in docs/dtm.md):

- ``id``: a number, as in DTM's API: the first 52 bits of the SHA-256 of
  ``"{operation}:{round}:{pcode}:{assessmentType}"`` (stable across runs, exact in JavaScript);
- ``operation``/``operationStatus``: the round's operation and ``"Active"``;
- ``admin0Name``/``admin0Pcode``, ``admin1*``, ``admin2*``: the area and its ancestors from COD-AB;
- ``numPresentIdpInd``: IDP individuals; ``numberMales``/``numberFemales``: null unless every
  contributing location gave a full sex and age breakdown;
- ``reportingDate`` (ISO date), ``yearReportingDate``, ``monthReportingDate``, ``roundNumber``;
- ``displacementReason``: the reason cited by most locations (Passage keeps every reason as a
  multi-select; the API has room for one);
- ``idpOriginAdmin1Name``/``idpOriginAdmin1Pcode``: the origin admin 1 with most IDP individuals;
- ``assessmentType``: ``"BA"`` (baseline assessment) or ``"SA"`` (site assessment).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_
from passage.core.inputs import whole_number
from passage.dtm.aggregate import AggregateRow, ensure_single_level
from passage.dtm.geography import Gazetteer
from passage.dtm.schemas import MAX_ROUND_NUMBER

_COMMON_HEAD = ("id", "operation", "admin0Name", "admin0Pcode")
_COMMON_TAIL = (
    "numPresentIdpInd",
    "reportingDate",
    "yearReportingDate",
    "monthReportingDate",
    "roundNumber",
    "displacementReason",
    "numberMales",
    "numberFemales",
    "idpOriginAdmin1Name",
    "idpOriginAdmin1Pcode",
    "assessmentType",
    "operationStatus",
)
DTM_API_V3_FIELDS: dict[int, tuple[str, ...]] = {
    0: _COMMON_HEAD + _COMMON_TAIL,
    1: _COMMON_HEAD + ("admin1Name", "admin1Pcode") + _COMMON_TAIL,
    2: _COMMON_HEAD + ("admin1Name", "admin1Pcode", "admin2Name", "admin2Pcode") + _COMMON_TAIL,
}
QUERY_PARAMETERS = (
    "Operation",
    "CountryName",
    "Admin0Pcode",
    "Admin1Name",
    "Admin1Pcode",
    "Admin2Name",
    "Admin2Pcode",
    "FromReportingDate",
    "ToReportingDate",
    "FromRoundNumber",
    "ToRoundNumber",
)
QUERY_PARAMETER_DESCRIPTIONS = {
    "Operation": "DTM operation name, e.g. 'Displacement due to conflict'.",
    "CountryName": "Country (admin 0) name, case-insensitive.",
    "Admin0Pcode": "Admin 0 P-code.",
    "Admin1Name": "Admin 1 name.",
    "Admin1Pcode": "Admin 1 P-code.",
    "Admin2Name": "Admin 2 name.",
    "Admin2Pcode": "Admin 2 P-code.",
    "FromReportingDate": "Earliest reporting date, YYYY-MM-DD.",
    "ToReportingDate": "Latest reporting date, YYYY-MM-DD.",
    "FromRoundNumber": "First round number.",
    "ToRoundNumber": "Last round number.",
}
"""As documented for DTM API v3 and its `dtmapi` client: at least one of Operation, CountryName or Admin0Pcode."""
ASSESSMENT_TYPE_CODES = {"baseline": "BA", "site": "SA"}
ENDPOINT_PATHS = {0: "/v3/displacement/admin0", 1: "/v3/displacement/admin1", 2: "/v3/displacement/admin2"}


def record_id(operation: str, round_number: int, pcode: str, assessment_code: str) -> int:
    """DTM's `id` is numeric: a stable 52-bit number from the record's natural key."""
    digest = hashlib.sha256(f"{operation}:{round_number}:{pcode}:{assessment_code}".encode()).hexdigest()
    return int(digest[:13], 16)


def error_envelope(error: InvalidInput) -> dict[str, Any]:
    """A refused query in DTM API v3's envelope (`isSuccess: false`, `errorMessages`, as the `dtmapi`
    client reads it), with Passage's field paths kept in `fields`."""
    messages = [f"{f.path}: {f.message}" for f in error.fields] or [error.message]
    return {"isSuccess": False, "message": error.message, "errorMessages": messages, "result": [],
            "fields": [f.as_dict() for f in error.fields]}


def to_dtm_api_v3(row: AggregateRow, *, gazetteer: Gazetteer | None = None) -> dict[str, Any]:
    """One aggregate row as a DTM API v3 displacement record with exactly the fields of its level."""
    if row.level not in DTM_API_V3_FIELDS:
        raise InvalidInput(T_("the DTM API has admin 0, 1 and 2 displacement endpoints only"))
    origin = row.main_origin_admin1
    origin_area = gazetteer.get(origin) if (gazetteer is not None and origin) else None
    assessment_code = ASSESSMENT_TYPE_CODES.get(row.assessment_type, row.assessment_type)
    values: dict[str, Any] = {
        "id": record_id(row.operation, row.round_number, row.pcode, assessment_code),
        "operation": row.operation,
        "admin0Name": row.lineage.get(0, ("", ""))[1] or None,
        "admin0Pcode": row.lineage.get(0, ("", ""))[0] or None,
        "admin1Name": row.lineage.get(1, (None, None))[1],
        "admin1Pcode": row.lineage.get(1, (None, None))[0],
        "admin2Name": row.lineage.get(2, (None, None))[1],
        "admin2Pcode": row.lineage.get(2, (None, None))[0],
        "numPresentIdpInd": row.idp_individuals,
        "reportingDate": row.reporting_date.isoformat(),
        "yearReportingDate": row.reporting_date.year,
        "monthReportingDate": row.reporting_date.month,
        "roundNumber": row.round_number,
        "displacementReason": row.main_reason,
        "numberMales": row.males,
        "numberFemales": row.females,
        "idpOriginAdmin1Name": origin_area.name_en if origin_area else None,
        "idpOriginAdmin1Pcode": origin,
        "assessmentType": assessment_code,
        "operationStatus": "Active",
    }
    return {name: values[name] for name in DTM_API_V3_FIELDS[row.level]}


def dtm_api_v3_response(rows: Iterable[AggregateRow], *, level: int, gazetteer: Gazetteer | None = None) -> dict[str, Any]:
    """The DTM API v3 envelope for one admin level (rows of another level are refused)."""
    if level not in DTM_API_V3_FIELDS:
        raise InvalidInput(T_("the DTM API has admin 0, 1 and 2 displacement endpoints only"))
    result = [to_dtm_api_v3(row, gazetteer=gazetteer) for row in ensure_single_level(rows, level)]
    return {"isSuccess": True, "message": f"{len(result)} record(s)", "result": result}


def parse_query(params: Mapping[str, str]) -> dict[str, Any]:
    """Check DTM API v3 query parameters: known names, ISO dates, whole round numbers.

    At least one of Operation, CountryName or Admin0Pcode is required, as in the DTM API.
    """
    errors: list[FieldError] = []
    parsed: dict[str, Any] = {}
    for name, raw in params.items():
        if name not in QUERY_PARAMETERS:
            errors.append(FieldError(name, T_("unknown query parameter")))
            continue
        value = raw.strip()
        if not value:
            continue
        if name.endswith("ReportingDate"):
            try:
                parsed[name] = dt.date.fromisoformat(value)
            except ValueError:
                errors.append(FieldError(name, T_("expected a date as YYYY-MM-DD")))
        elif name.endswith("RoundNumber"):
            try:
                parsed[name] = whole_number(value, field=name, minimum=1, maximum=MAX_ROUND_NUMBER)
            except InvalidInput as exc:
                errors.extend(exc.fields)
        else:
            parsed[name] = value
    if not errors and not {"Operation", "CountryName", "Admin0Pcode"} & parsed.keys():
        errors.append(FieldError("Operation", T_("one of Operation, CountryName or Admin0Pcode is required")))
    if errors:
        raise InvalidInput(T_("invalid DTM API query"), fields=errors)
    return parsed


def matches(record: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    """Whether a DTM API v3 record satisfies a parsed query (names compared case-insensitively)."""
    field_of = {"Operation": "operation", "CountryName": "admin0Name", "Admin0Pcode": "admin0Pcode", "Admin1Name": "admin1Name", "Admin1Pcode": "admin1Pcode", "Admin2Name": "admin2Name", "Admin2Pcode": "admin2Pcode"}
    for name, value in query.items():
        if name in field_of:
            actual = record.get(field_of[name])
            if actual is None or str(actual).casefold() != str(value).casefold():
                return False
    reported = dt.date.fromisoformat(record["reportingDate"])
    if "FromReportingDate" in query and reported < query["FromReportingDate"]:
        return False
    if "ToReportingDate" in query and reported > query["ToReportingDate"]:
        return False
    if "FromRoundNumber" in query and record["roundNumber"] < query["FromRoundNumber"]:
        return False
    return not ("ToRoundNumber" in query and record["roundNumber"] > query["ToRoundNumber"])
