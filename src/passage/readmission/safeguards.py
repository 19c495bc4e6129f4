"""Safeguards RCMS lacks: transfer holds, the completeness check, the data-sharing whitelist and
retention/erasure - all pure.

- Holds: a pending appeal, asylum claim, legal stay or medical reason blocks scheduling (Return
  Directive 2008/115/EC Art. 9 "postponement of removal"; the agreements are "without prejudice" to
  these rights, e.g. EU–Serbia Art. 17).
- Completeness: the agreement's readmission-application article (EU–Sri Lanka Art. 7(1)) lists
  the particulars; submission is refused until each required one is there.
- Data protection: only the fields the agreement allows cross the border (EU–Serbia Art. 17: data
  "adequate, relevant and not excessive"); corrections and erasures are notified to the other side;
  personal data are erased after the retention period, statistics kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import N_, T_
from passage.readmission.rules import add_span, calendar_for
from passage.readmission.schemas import AgreementVersion


class HoldKind(StrEnum):
    pending_appeal = "pending_appeal"
    pending_asylum_claim = "pending_asylum_claim"
    legal_stay = "legal_stay"
    medical = "medical"


@dataclass(frozen=True)
class Hold:
    kind: HoldKind
    reason: str
    placed_on: dt.date
    evidence_document_ids: tuple[str, ...] = ()
    lifted_on: dt.date | None = None
    lift_reason: str = ""

    def is_active(self, on: dt.date | None = None) -> bool:
        if self.lifted_on is None:
            return True
        return on is not None and on < self.lifted_on


def new_hold(kind: str, *, reason: str, placed_on: dt.date, evidence_document_ids: Iterable[str] = ()) -> Hold:
    """Validate and create a hold; the reason is mandatory (it is shown to both sides)."""
    problems = []
    try:
        hold_kind = HoldKind(kind)
    except ValueError:
        problems.append(FieldError("kind", T_("must be one of {value}", value=[k.value for k in HoldKind])))
    if not reason.strip():
        problems.append(FieldError("reason", N_("required")))
    if problems:
        raise InvalidInput(N_("invalid hold"), fields=problems)
    return Hold(kind=hold_kind, reason=reason.strip(), placed_on=placed_on, evidence_document_ids=tuple(evidence_document_ids))


def lift_hold(hold: Hold, *, lifted_on: dt.date, reason: str) -> Hold:
    if hold.lifted_on is not None:
        raise InvalidInput(N_("the hold is already lifted"), fields=[FieldError("lifted_on", N_("already set"))])
    if not reason.strip():
        raise InvalidInput(N_("lifting a hold needs a reason"), fields=[FieldError("reason", N_("required"))])
    if lifted_on < hold.placed_on:
        raise InvalidInput(N_("a hold cannot be lifted before it was placed"), fields=[FieldError("lifted_on", N_("before placed_on"))])
    return Hold(hold.kind, hold.reason, hold.placed_on, hold.evidence_document_ids, lifted_on, reason.strip())


def active_hold_kinds(holds: Iterable[Hold]) -> list[str]:
    return sorted({h.kind.value for h in holds if h.is_active()})


def _present(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, tuple, dict, set)):
        return len(value) > 0
    return True


def missing_application_data(version: AgreementVersion, application: Mapping[str, Any]) -> list[str]:
    """Field codes the agreement requires that the application lacks, in the agreement's order.

    `evidence` counts as present when at least one document is classified into one of the
    agreement's evidence types; `aliases` when at least one alias or an explicit "none" list is given.
    """
    missing = []
    evidence_codes = {e.code for e in version.evidence_types}
    for field_name in version.required_application_data:
        value = application.get(field_name)
        if field_name == "evidence":
            documents = value or []
            if not any(isinstance(d, Mapping) and d.get("evidence_type") in evidence_codes for d in documents):
                missing.append(field_name)
        elif field_name == "aliases":
            if value is None:
                missing.append(field_name)
        elif not _present(value):
            missing.append(field_name)
    return missing


def check_complete(version: AgreementVersion, application: Mapping[str, Any]) -> None:
    missing = missing_application_data(version, application)
    if missing:
        raise InvalidInput(N_("the application is incomplete"), fields=[FieldError(f, N_("required by the agreement")) for f in missing], extra={"missing": missing})


@dataclass(frozen=True)
class SharePackage:
    shared: dict[str, Any]
    withheld: tuple[str, ...]


def share_payload(version: AgreementVersion, payload: Mapping[str, Any]) -> SharePackage:
    """Split a case payload into what the agreement lets cross the border and the field names withheld.

    Deny by default: a field not on the whitelist is withheld, including any added to the model later.
    """
    allowed = set(version.data_protection.shared_fields)
    shared = {key: value for key, value in payload.items() if key in allowed}
    withheld = tuple(sorted(key for key in payload if key not in allowed))
    return SharePackage(shared=shared, withheld=withheld)


def erasure_due_on(version: AgreementVersion, closed_on: dt.date) -> dt.date:
    """The day personal data of a closed case must be erased (retention after closure)."""
    return add_span(calendar_for(version), closed_on, version.data_protection.retention_after_closure)


def is_erasure_due(version: AgreementVersion, closed_on: dt.date | None, today: dt.date) -> bool:
    return closed_on is not None and today >= erasure_due_on(version, closed_on)


PERSONAL_FIELDS: tuple[str, ...] = (
    "surname",
    "given_names",
    "name_in_characters",
    "passport_number",
    "id_number",
    "search_tokens",
    "aliases",
    "date_of_birth",
    "place_of_birth",
    "father_name",
    "mother_name",
    "languages",
    "civil_status",
    "last_addresses_in_requested_state",
    "physical_description",
    "photo",
    "special_needs",
    "security_measures",
    "travel_document_number",
    "health_information",
    "criminal_record",
    "vulnerability_notes",
    "evidence",
    "flight",
    "escorts",
    "case_notes",
)
"""Erased at the end of retention. Kept for statistics: agreement, states, province, dates, outcome,
refusal reason, sex and nationality (coarse, needed for the published figures). `case_notes` is the free
text officers wrote about the person (hold reasons, flag notes, identity-verification notes and candidates).
`store.PERSONAL_STORAGE` says where each is stored; production erasure (`service.erase_case_data`) goes
through `erase_personal_data` and writes its result back, so this list is the one that is enforced."""


def erase_personal_data(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `record` with every personal field set to None and `erased` true; idempotent."""
    erased = {key: (None if key in PERSONAL_FIELDS else value) for key, value in record.items()}
    erased["erased"] = True
    return erased


class NoticeKind(StrEnum):
    correction = "correction"
    erasure = "erasure"


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    case_reference: str
    fields: tuple[str, ...]
    issued_on: dt.date


def correction_notice(version: AgreementVersion, *, case_reference: str, changed_fields: Iterable[str], issued_on: dt.date, previously_shared: Iterable[str]) -> Notice | None:
    """The notice owed to the other side when data already shared was corrected; None if nothing shared changed.

    It names fields, never values; the corrected values travel in the next share, through the whitelist.
    """
    if not version.data_protection.notify_corrections:
        return None
    relevant = sorted(set(changed_fields) & set(previously_shared))
    if not relevant:
        return None
    return Notice(NoticeKind.correction, case_reference, tuple(relevant), issued_on)


def erasure_notice(*, case_reference: str, previously_shared: Iterable[str], issued_on: dt.date) -> Notice | None:
    shared = sorted(set(previously_shared) & set(PERSONAL_FIELDS))
    if not shared:
        return None
    return Notice(NoticeKind.erasure, case_reference, tuple(shared), issued_on)
