"""Service and API through the foundation: permissions, audit, encryption at rest, scope, revocation, bad inputs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text

from passage.biometrics import service
from passage.biometrics.models import BiometricTemplate
from passage.core.db import unit_of_work
from passage.core.errors import Conflict, Forbidden, InvalidInput
from passage.security.models import AuditEntry, User
from tests.biometrics.conftest import DATA, FIXTURES
from tests.conftest import api_headers


def _user(session: Any, user_id: str) -> User:
    user = session.get(User, user_id)
    assert user is not None
    return user


def _enrol(session: Any, actor: Any, ref: str, person: str, name: str, **kwargs: Any) -> BiometricTemplate:
    upload = service.parse_upload((DATA / f"{name}.png").read_bytes())
    return service.enrol(session, actor=actor, items=[service.EnrolmentRequest(ref, person, upload, **kwargs)])[0]


def _count(session: Any, model: Any = BiometricTemplate) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_template_is_encrypted_at_rest_and_reads_are_audited(demo_people: dict[str, str]) -> None:
    service.reset_indexes()
    with unit_of_work() as session:
        officer = _user(session, demo_people["nl.officer"])
        row = _enrol(session, officer, "r1", "person-1", "p1_1")
        row_id = row.id
        stored = row.template
    with unit_of_work() as session:
        raw = session.execute(text("SELECT template, image FROM biometric_templates WHERE id = :id"), {"id": row_id}).one()
        assert raw.template is not None and bytes(raw.template) != stored and b"FMR" not in bytes(raw.template)
        assert raw.image is None  # dropped after extraction by default
        officer = _user(session, demo_people["nl.officer"])
        got, record = service.get_template(session, actor=officer, template_id=row_id)
        assert record.minutiae_count() == got.minutiae_count > 0
        data = service.download_template(session, actor=officer, template_id=row_id, target="ansi2007")
        assert data[4:8] == b"030\x00"
    with unit_of_work() as session:
        actions = [(e.action, e.entity_id) for e in session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "biometric_template"))]
        assert ("enrol", row_id) in actions and ("read", row_id) in actions and ("download", row_id) in actions
        details = [e.details for e in session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "biometric_template"))]
        assert all("template" not in d and "minutiae" not in str(d) for d in details)


def test_search_without_biometric_permission_is_refused_and_audited(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        analyst = _user(session, demo_people["analyst"])
        probe = service.parse_upload((DATA / "p1_1.png").read_bytes()).record
        with pytest.raises(Forbidden):
            service.search(session, actor=analyst, probe=probe)
    with unit_of_work() as session:
        refused = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused")).all()
        assert any(e.actor_user_id == demo_people["analyst"] and e.details["operation"] == "search" for e in refused)


def test_search_finds_mate_within_scope_and_revocation_removes_it(demo_people: dict[str, str]) -> None:
    service.reset_indexes()
    with unit_of_work() as session:
        nl = _user(session, demo_people["nl.officer"])
        fujian_org = _user(session, demo_people["fj.officer"]).organisation_id
        _enrol(session, nl, "r1", "person-1", "p1_2", addressed_country="CN", routed_organisation_id=fujian_org)
        _enrol(session, nl, "r2", "person-2", "p2_1", addressed_country="CN", routed_organisation_id=fujian_org)
    probe = service.parse_upload((DATA / "p1_1.png").read_bytes()).record
    with unit_of_work() as session:
        fj = _user(session, demo_people["fj.officer"])
        hits = service.search(session, actor=fj, probe=probe)
        assert hits[0].person_id == "person-1" and hits[0].log2_lr > 0
        # Zhejiang is neither owner nor routed: it sees nothing.
        zj = _user(session, demo_people["zj.officer"])
        assert service.search(session, actor=zj, probe=probe) == []
        evidence = service.fingerprint_evidence(session, actor=fj, probe=probe, person_ids=["person-1", "person-2", "nobody"])
        assert evidence["person-1"].log2_lr > 0 and evidence["person-1"].usable
        assert evidence["person-2"].log2_lr < evidence["person-1"].log2_lr
        assert not evidence["nobody"].usable and evidence["nobody"].log2_lr == 0
    with unit_of_work() as session:
        nl = _user(session, demo_people["nl.officer"])
        revoked = service.revoke_person(session, actor=nl, person_id="person-1")
        assert len(revoked) == 1
    with unit_of_work() as session:
        row = session.get(BiometricTemplate, revoked[0])
        assert row is not None and row.template is None and row.revoked_at is not None
        fj = _user(session, demo_people["fj.officer"])
        assert all(h.person_id != "person-1" for h in service.search(session, actor=fj, probe=probe))
    # A fresh process (empty index) rebuilt from the database does not bring it back either.
    service.reset_indexes()
    with unit_of_work() as session:
        fj = _user(session, demo_people["fj.officer"])
        assert all(h.person_id != "person-1" for h in service.search(session, actor=fj, probe=probe))


def test_bad_inputs_change_nothing(demo_people: dict[str, str]) -> None:
    with unit_of_work() as session:
        nl = _user(session, demo_people["nl.officer"])
        _enrol(session, nl, "r1", "person-1", "p1_2")
    wrong_version = bytearray((FIXTURES / "fmr.iso2005").read_bytes())
    wrong_version[4:8] = b" 30\x00"
    for data, expected in [(b"not an image", "unreadable"), (b"", "empty"), (bytes(wrong_version), "version"),
                           ((FIXTURES / "fmr.iso2005").read_bytes()[:24], "byte")]:
        with pytest.raises(InvalidInput, match=expected):
            service.parse_upload(data)
    with unit_of_work() as session:
        nl = _user(session, demo_people["nl.officer"])
        good = service.parse_upload((DATA / "p2_1.png").read_bytes())
        with pytest.raises(Conflict):
            service.enrol(session, actor=nl, items=[service.EnrolmentRequest("r2", "p", good), service.EnrolmentRequest("r1", "p", good)])
    with unit_of_work() as session:
        nl = _user(session, demo_people["nl.officer"])
        with pytest.raises(InvalidInput) as caught:
            service.enrol(session, actor=nl, items=[service.EnrolmentRequest("r3", "p", good), service.EnrolmentRequest("r3", "q", good)])
        assert any(f.path == "items.1.record_ref" for f in caught.value.fields)
    with unit_of_work() as session:
        assert _count(session) == 1


HTML = {"accept": "text/html"}


def test_api_enrol_search_revoke_and_refusals(app_client: Any) -> None:
    service.reset_indexes()
    nl = api_headers(app_client, "nl.officer")
    files = {"file": ("p1_2.png", (DATA / "p1_2.png").read_bytes(), "image/png")}
    created = app_client.post("/api/v1/biometrics/templates", headers=nl, files=files, data={"record_ref": "r1", "person_id": "person-1"})
    assert created.status_code == 201, created.text
    assert created.json()["image_kept"] is False and created.json()["minutiae_count"] > 12
    again = app_client.post("/api/v1/biometrics/templates", headers=nl, files=files, data={"record_ref": "r1", "person_id": "person-1"})
    assert again.status_code == 409
    wsq = app_client.post("/api/v1/biometrics/templates", headers=nl, files={"file": ("a.wsq", b"\xff\xa0\xff\xa8" + b"\x00" * 100)},
                          data={"record_ref": "r9", "person_id": "p"})
    assert wsq.status_code == 422 and "unreadable" in wsq.json()["detail"]  # WSQ is read now; this stream is broken
    small = app_client.post("/api/v1/biometrics/templates", headers=nl, files={"file": ("s.png", _tiny_png())}, data={"record_ref": "r8", "person_id": "p"})
    assert small.status_code == 422 and "pixels" in small.json()["detail"]
    probe = {"probe": ("p1_1.png", (DATA / "p1_1.png").read_bytes(), "image/png")}
    found = app_client.post("/api/v1/biometrics/search", headers=nl, files=probe, data={"top": "5"})
    assert found.status_code == 200, found.text
    assert found.json()[0]["person_id"] == "person-1" and found.json()[0]["log2_lr"] > 0 and "Bozorth3" in found.json()[0]["explanation"]
    template_id = created.json()["id"]
    download = app_client.get(f"/api/v1/biometrics/templates/{template_id}/record", headers=nl)
    assert download.status_code == 200 and download.content[:4] == b"FMR\x00"
    one = app_client.post("/api/v1/biometrics/match", headers=nl, files=probe, data={"reference_template_id": template_id})
    assert one.status_code == 200 and one.json()["usable"] and one.json()["best_score"] >= 40
    analyst = api_headers(app_client, "analyst")
    assert app_client.post("/api/v1/biometrics/search", headers=analyst, files=probe).status_code == 403
    fj = api_headers(app_client, "fj.officer")
    assert app_client.post("/api/v1/biometrics/persons/person-1/revoke", headers=fj).status_code == 403
    revoked = app_client.post("/api/v1/biometrics/persons/person-1/revoke", headers=nl)
    assert revoked.status_code == 200 and revoked.json()["revoked_template_ids"] == [template_id]
    after = app_client.post("/api/v1/biometrics/search", headers=nl, files=probe)
    assert after.status_code == 200 and after.json() == []
    assert app_client.get(f"/api/v1/biometrics/templates/{template_id}/record", headers=nl).status_code == 404


def _tiny_png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (50, 50), 128).save(buffer, format="PNG")
    return buffer.getvalue()


def test_index_snapshot_is_encrypted_reloaded_and_purged_on_revocation(demo_people: dict[str, str]) -> None:
    from passage.biometrics.gallery import SearchIndex
    from passage.security.crypto import decrypt_bytes

    service.reset_indexes()
    with unit_of_work() as session:
        nl = _user(session, demo_people["nl.officer"])
        kept = _enrol(session, nl, "r1", "person-1", "p1_2").id
        gone = _enrol(session, nl, "r2", "person-2", "p2_1").id
        probe = service.parse_upload((DATA / "p1_1.png").read_bytes()).record
        service.search(session, actor=nl, probe=probe)
        path = service.index_snapshot_path(service._index_key(session))
    blob = path.read_bytes()
    assert b"FMR" not in blob and SearchIndex.from_bytes(decrypt_bytes(blob, context=service.INDEX_CONTEXT)).ids() == {kept, gone}
    # A new process starts from the snapshot rather than from an empty index.
    service.reset_indexes()
    with unit_of_work() as session:
        assert service._index_for(session).ids() == {kept, gone}
        nl = _user(session, demo_people["nl.officer"])
        service.revoke_person(session, actor=nl, person_id="person-2")
    assert SearchIndex.from_bytes(decrypt_bytes(path.read_bytes(), context=service.INDEX_CONTEXT)).ids() == {kept}
    # A snapshot that does not decrypt is ignored, and the index is rebuilt from the database.
    path.write_bytes(b"garbage")
    service.reset_indexes()
    with unit_of_work() as session:
        nl = _user(session, demo_people["nl.officer"])
        hits = service.search(session, actor=nl, probe=probe)
        assert hits[0].person_id == "person-1" and all(h.person_id != "person-2" for h in hits)
