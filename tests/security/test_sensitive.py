"""Sensitive field groups need their own permission; redaction fails closed."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from passage.security.models import Role
from passage.security.sensitive import audit_details, readable_groups, redact


@dataclass
class FakeViewer:
    roles: frozenset[Role]

    @property
    def role_set(self) -> frozenset[Role]:
        return self.roles


FIELDS = {"medical_notes": "health", "asylum_claim": "asylum", "fingerprints": "biometrics"}
RECORD = {"name": "x", "medical_notes": "diabetic", "asylum_claim": "pending", "fingerprints": "template-id"}


def test_provincial_officer_reads_biometrics_but_not_health_or_asylum() -> None:
    viewer = FakeViewer(frozenset({Role.PROVINCIAL_OFFICER}))
    assert readable_groups(viewer) == {"biometrics"}
    shown = redact(RECORD, user=viewer, field_groups=FIELDS)
    assert shown["medical_notes"] is None and shown["asylum_claim"] is None
    assert shown["fingerprints"] == "template-id"
    assert shown["withheld_fields"] == ["asylum_claim", "medical_notes"]
    assert audit_details(user=viewer, field_groups=FIELDS, present=RECORD) == {"sensitive_groups_read": ["biometrics"]}


def test_requesting_officer_reads_all_three_groups() -> None:
    viewer = FakeViewer(frozenset({Role.REQUESTING_OFFICER}))
    assert redact(RECORD, user=viewer, field_groups=FIELDS)["withheld_fields"] == []


def test_analyst_reads_no_sensitive_group() -> None:
    viewer = FakeViewer(frozenset({Role.ANALYST}))
    shown = redact(RECORD, user=viewer, field_groups=FIELDS)
    assert shown["withheld_fields"] == ["asylum_claim", "fingerprints", "medical_notes"]
    assert audit_details(user=viewer, field_groups=FIELDS, present=RECORD) == {"sensitive_groups_read": []}


def test_unknown_group_fails_closed() -> None:
    with pytest.raises(KeyError):
        redact(RECORD, user=FakeViewer(frozenset({Role.ADMIN})), field_groups={"name": "religion"})
