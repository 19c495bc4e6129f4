import datetime as dt

import pytest

from passage.core.errors import InvalidInput
from passage.readmission.agreements import get_preset
from passage.readmission.safeguards import (
    PERSONAL_FIELDS,
    active_hold_kinds,
    check_complete,
    correction_notice,
    erase_personal_data,
    erasure_due_on,
    erasure_notice,
    is_erasure_due,
    lift_hold,
    missing_application_data,
    new_hold,
    share_payload,
)

D = dt.date
SL = get_preset("eu-sri-lanka").latest()
CN = get_preset("eu-china-draft").latest()

COMPLETE = {
    "surname": "X", "given_names": "Y", "aliases": [], "date_of_birth": "1990-01-01", "place_of_birth": "P",
    "sex": "F", "physical_description": "d", "father_name": "f", "mother_name": "m", "nationality": "LK",
    "languages": ["si"], "civil_status": "single", "evidence": [{"evidence_type": "passport"}],
}


def test_holds_lifecycle():
    hold = new_hold("pending_appeal", reason="appeal lodged", placed_on=D(2024, 5, 1))
    assert active_hold_kinds([hold]) == ["pending_appeal"]
    lifted = lift_hold(hold, lifted_on=D(2024, 6, 1), reason="appeal dismissed")
    assert active_hold_kinds([lifted]) == []
    assert lifted.is_active(D(2024, 5, 15)) and not lifted.is_active(D(2024, 6, 1))
    with pytest.raises(InvalidInput):
        lift_hold(lifted, lifted_on=D(2024, 6, 2), reason="again")
    with pytest.raises(InvalidInput):
        lift_hold(hold, lifted_on=D(2024, 4, 1), reason="before")
    with pytest.raises(InvalidInput) as err:
        new_hold("holiday", reason="", placed_on=D(2024, 5, 1))
    assert {f.path for f in err.value.fields} == {"kind", "reason"}


def test_completeness_lists_missing_in_agreement_order():
    assert missing_application_data(SL, COMPLETE) == []
    partial = dict(COMPLETE, date_of_birth="", languages=[], evidence=[{"evidence_type": "tax_return"}])
    partial.pop("aliases")
    assert missing_application_data(SL, partial) == ["aliases", "date_of_birth", "languages", "evidence"]
    with pytest.raises(InvalidInput) as err:
        check_complete(SL, partial)
    assert err.value.extra["missing"] == ["aliases", "date_of_birth", "languages", "evidence"]
    # the China draft also wants a photo, addresses and special needs
    assert set(missing_application_data(CN, dict(COMPLETE, evidence=[{"evidence_type": "passport"}]))) == {"last_addresses_in_requested_state", "photo", "special_needs"}


def test_share_whitelist_withholds_everything_else():
    payload = dict(COMPLETE, health_information="sensitive", criminal_record="x", internal_note="n", case_reference="R1")
    package = share_payload(SL, payload)
    assert "health_information" not in package.shared and "internal_note" not in package.shared
    assert package.withheld == ("criminal_record", "health_information", "internal_note")
    assert package.shared["case_reference"] == "R1"
    transit = share_payload(get_preset("transit-template").latest(), payload)
    assert "father_name" in transit.withheld and "surname" in transit.shared


def test_retention_and_erasure():
    assert erasure_due_on(SL, D(2024, 1, 1)) == D(2025, 12, 31)  # 730 days
    assert not is_erasure_due(SL, D(2024, 1, 1), D(2025, 12, 30))
    assert is_erasure_due(SL, D(2024, 1, 1), D(2025, 12, 31))
    assert not is_erasure_due(SL, None, D(2030, 1, 1))
    record = dict(COMPLETE, outcome="accepted", province="fujian", submitted_on="2024-01-01")
    erased = erase_personal_data(record)
    assert erased["outcome"] == "accepted" and erased["province"] == "fujian" and erased["sex"] == "F"
    assert all(erased[f] is None for f in PERSONAL_FIELDS if f in record)
    assert erase_personal_data(erased) == erased


def test_correction_and_erasure_notices_name_fields_only():
    notice = correction_notice(SL, case_reference="R1", changed_fields=["date_of_birth", "internal_note"], issued_on=D(2024, 1, 2), previously_shared=["date_of_birth", "surname"])
    assert notice.fields == ("date_of_birth",)
    assert correction_notice(SL, case_reference="R1", changed_fields=["internal_note"], issued_on=D(2024, 1, 2), previously_shared=["surname"]) is None
    erasure = erasure_notice(case_reference="R1", previously_shared=["surname", "case_reference"], issued_on=D(2024, 1, 2))
    assert erasure.fields == ("surname",)
