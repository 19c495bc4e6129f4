from __future__ import annotations

import datetime as dt

import pytest

from passage.core.errors import InvalidInput
from passage.dtm.aggregate import AggregateRow, aggregate
from passage.dtm.dtm_api import DTM_API_V3_FIELDS, dtm_api_v3_response, matches, parse_query, to_dtm_api_v3
from passage.dtm.geography import Gazetteer
from passage.dtm.rules import figure_from_submission

from .conftest import baseline_submission


def table(gazetteer: Gazetteer, level: int) -> list[AggregateRow]:
    figures = [figure_from_submission(baseline_submission("a"), row=2, component="baseline")]
    return aggregate(figures, gazetteer=gazetteer, level=level, operation="Nigeria", round_number=45, reporting_date=dt.date(2025, 3, 31)).rows


def test_field_names_per_endpoint() -> None:
    assert DTM_API_V3_FIELDS[0] == (
        "id", "operation", "admin0Name", "admin0Pcode", "numPresentIdpInd", "reportingDate", "yearReportingDate",
        "monthReportingDate", "roundNumber", "displacementReason", "numberMales", "numberFemales",
        "idpOriginAdmin1Name", "idpOriginAdmin1Pcode", "assessmentType", "operationStatus",
    )
    assert DTM_API_V3_FIELDS[1][4:6] == ("admin1Name", "admin1Pcode")
    assert DTM_API_V3_FIELDS[2][4:8] == ("admin1Name", "admin1Pcode", "admin2Name", "admin2Pcode")


def test_admin1_record(gazetteer: Gazetteer) -> None:
    record = to_dtm_api_v3(table(gazetteer, 1)[0], gazetteer=gazetteer)
    assert tuple(record) == DTM_API_V3_FIELDS[1]
    assert record["admin0Pcode"] == "NG" and record["admin0Name"] == "Nigeria"
    assert record["admin1Pcode"] == "NG008" and record["admin1Name"] == "Borno"
    assert record["numPresentIdpInd"] == 500
    assert record["roundNumber"] == 45 and record["assessmentType"] == "BA" and record["operation"] == "Nigeria"
    assert (record["reportingDate"], record["yearReportingDate"], record["monthReportingDate"]) == ("2025-03-31", 2025, 3)
    assert record["numberMales"] == 250 and record["numberFemales"] == 250
    assert record["displacementReason"] == "conflict"
    assert (record["idpOriginAdmin1Pcode"], record["idpOriginAdmin1Name"]) == ("NG008", "Borno")


def test_admin2_and_admin0_records(gazetteer: Gazetteer) -> None:
    admin2 = to_dtm_api_v3(table(gazetteer, 2)[0])
    assert admin2["admin2Pcode"] == "NG008017" and admin2["admin1Pcode"] == "NG008"
    admin0 = to_dtm_api_v3(table(gazetteer, 0)[0])
    assert "admin1Pcode" not in admin0 and admin0["admin0Pcode"] == "NG"


def test_envelope_and_level_three_refused(gazetteer: Gazetteer) -> None:
    body = dtm_api_v3_response(table(gazetteer, 1), level=1)
    assert body["isSuccess"] is True and len(body["result"]) == 1
    with pytest.raises(InvalidInput):
        dtm_api_v3_response(table(gazetteer, 3), level=3)
    with pytest.raises(InvalidInput):
        dtm_api_v3_response(table(gazetteer, 2), level=1)


def test_query_parameters(gazetteer: Gazetteer) -> None:
    record = to_dtm_api_v3(table(gazetteer, 1)[0])
    assert matches(record, parse_query({"Admin0Pcode": "NG", "FromRoundNumber": "40", "ToReportingDate": "2025-12-31"}))
    assert not matches(record, parse_query({"CountryName": "nigeria", "FromRoundNumber": "46"}))
    assert matches(record, parse_query({"Operation": "Nigeria", "Admin1Name": "borno"}))
    with pytest.raises(InvalidInput) as info:
        parse_query({"Admin0Pcode": "NG", "FromReportingDate": "31/03/2025", "Colour": "x"})
    assert {f.path for f in info.value.fields} == {"FromReportingDate", "Colour"}
    with pytest.raises(InvalidInput, match="invalid"):
        parse_query({"Admin1Pcode": "NG008"})
    # found by the deep fuzz run: '¹'.isdigit() is true but int('¹') fails; a 5,000-digit number exceeds int()'s limit
    for raw in ("¹", "٣", "9" * 5000, "-1", "1.0"):
        with pytest.raises(InvalidInput) as info:
            parse_query({"Admin0Pcode": "NG", "ToRoundNumber": raw})
        assert [f.path for f in info.value.fields] == ["ToRoundNumber"]
