import datetime as dt

import pytest

from passage.core.errors import Conflict
from passage.readmission.agreements import get_preset, parse_agreement
from passage.readmission.jobs import due_now
from passage.readmission.models import ReadmissionCase
from passage.readmission.store import all_agreements, case_snapshots, load_agreement, stored_agreements


def test_new_agreement_loaded_and_extended(session):
    data = get_preset("eu-pakistan").model_dump(mode="json")
    data["id"] = "nl-bilateral"
    agreement = parse_agreement(data)
    result = load_agreement(session, agreement=agreement, loaded_by=None)
    assert result["added_versions"] == [1]
    v2 = dict(data["versions"][0], version=2, effective_from="2024-01-01")
    data["versions"] = [v2]
    load_agreement(session, agreement=parse_agreement(data))
    stored = stored_agreements(session)["nl-bilateral"]
    assert [v.version for v in stored.versions] == [1, 2]
    assert stored.versions[0].effective_to == dt.date(2023, 12, 31)  # superseded
    assert "russia-style" in all_agreements(session) and "nl-bilateral" in all_agreements(session)
    with pytest.raises(Conflict):
        load_agreement(session, agreement=get_preset("eu-sri-lanka"))


def test_case_snapshots_feed_the_job(session, orgs):
    session.add(ReadmissionCase(reference="R1", procedure="readmission", state="routed", agreement_slug="russia-style", agreement_version=1, requesting_state="NL", requested_state="CN", requesting_org_id=orgs["nl"], requested_central_org_id=orgs["mps"], acknowledged_on=dt.date(2024, 3, 1)))
    session.add(ReadmissionCase(reference="R2", procedure="readmission", state="refused", agreement_slug="russia-style", agreement_version=1, requesting_state="NL", requested_state="CN", requesting_org_id=orgs["nl"], requested_central_org_id=orgs["mps"], closed_on=dt.date(2024, 3, 5)))
    session.commit()
    snapshots = case_snapshots(session)
    assert [s.state.value for s in snapshots] == ["routed"]
    actions = due_now(snapshots, today=dt.date(2024, 3, 27), version_of=lambda a, n: get_preset(a).versions[n - 1])
    assert [a.action for a in actions] == ["deem_accepted"]


def test_statistics_record_from_orm(session, orgs):
    from passage.readmission.statistics import compute
    from passage.readmission.store import statistics_record

    version = get_preset("russia-style").latest()
    common = dict(procedure="readmission", agreement_slug="russia-style", agreement_version=1, requesting_state="FR", requested_state="CN", requesting_org_id=orgs["fr"], requested_central_org_id=orgs["mps"], province_code="zhejiang", submitted_on=dt.date(2024, 3, 1), acknowledged_on=dt.date(2024, 3, 2))
    cases = [
        ReadmissionCase(reference="A", state="transferred", replied_on=dt.date(2024, 3, 12), accepted_on=dt.date(2024, 3, 12), travel_document_issued_on=dt.date(2024, 3, 14), transferred_on=dt.date(2024, 4, 1), **common),
        ReadmissionCase(reference="B", state="deemed_accepted", accepted_on=dt.date(2024, 3, 28), **common),
        ReadmissionCase(reference="C", state="refused", replied_on=dt.date(2024, 4, 10), refusal_reason="not_a_national", **common),
    ]
    records = [statistics_record(c, version) for c in cases]
    assert [r.outcome for r in records] == ["accepted", "deemed_accepted", "refused"]
    assert records[0].reply_due == dt.date(2024, 3, 27) and records[0].transfer_due == dt.date(2024, 6, 10)
    [row] = compute(records, group_by=("province",))
    assert row.answered_within_limit == 1 and row.deemed_acceptances == 1 and row.refusals_by_reason == {"not_a_national": 1}
    assert row.transfers_within_window == 1
