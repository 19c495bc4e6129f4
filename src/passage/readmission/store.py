"""Agreement catalogue persistence and case snapshots (database side, no permissions yet).

Wave 2's `service.py` wraps these with the actor's permission check and the audit entry in the same
transaction; the CLI uses them directly for administrators' `agreements load` and the read-only `tick`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, selectinload

from passage.core.db import cached_from_tables
from passage.core.errors import Conflict, PassageError
from passage.core.i18n import N_, T_
from passage.readmission.agreements import (
    agreement_checksum,
    parse_agreement,
    preset_agreements,
    without_translations,
)
from passage.readmission.jobs import CaseSnapshot
from passage.readmission.models import (
    AgreementRecord,
    AgreementVersionRecord,
    CalendarNoticeRecord,
    ReadmissionCase,
)
from passage.readmission.notices import notice_checksum, parse_notice, shipped_notices, with_notices
from passage.readmission.rules import CaseDates
from passage.readmission.schemas import Agreement, AgreementVersion, CalendarNotice
from passage.readmission.statistics import CaseRecord
from passage.readmission.workflow import State


class DatabaseNotReady(PassageError):
    status = 503
    code = "database_not_ready"


def _guard(exc: Exception) -> DatabaseNotReady:
    return DatabaseNotReady(N_("the database has no readmission tables yet; run the migrations first"))


def _version_checksum(version: AgreementVersion) -> str:
    import hashlib
    import json

    canonical = json.dumps(without_translations(version.model_dump(mode="json")), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_agreement(session: Session, *, agreement: Agreement, loaded_by: str | None = None) -> dict[str, Any]:
    """Store an agreement's versions; versions are immutable, so a changed version needs a new number.

    A shipped preset may only be extended when it is `editable` (the EU–China draft); the others are
    published texts and cannot be overridden from a file.
    """
    preset = preset_agreements().get(agreement.id)
    if preset is not None and not preset.editable:
        raise Conflict(T_("{id} is a shipped preset of a published text and cannot be overridden", id=agreement.id), extra={"editable_presets": sorted(a.id for a in preset_agreements().values() if a.editable)})
    try:
        record = session.scalars(select(AgreementRecord).where(AgreementRecord.slug == agreement.id).options(selectinload(AgreementRecord.versions))).one_or_none()
    except (OperationalError, ProgrammingError) as exc:
        raise _guard(exc) from None
    if record is None:
        record = AgreementRecord(slug=agreement.id, name=agreement.name, name_zh=agreement.name_zh, kind=agreement.kind, editable=agreement.editable)
        session.add(record)
    existing = {v.number: v for v in record.versions}
    added, unchanged = [], []
    for version in agreement.versions:
        checksum = _version_checksum(version)
        if version.version in existing:
            if existing[version.version].checksum != checksum:
                raise Conflict(T_("version {version} of {id} is already loaded with different content; give the change a new version number", version=version.version, id=agreement.id), extra={"version": version.version})
            unchanged.append(version.version)
            continue
        record.versions.append(AgreementVersionRecord(number=version.version, effective_from=version.effective_from, effective_to=version.effective_to, document=version.model_dump(mode="json"), checksum=checksum, loaded_by=loaded_by))
        added.append(version.version)
    record.name, record.name_zh = agreement.name, agreement.name_zh
    session.flush()
    merged = stored_agreements(session)[agreement.id]  # revalidates the union of versions (no overlaps)
    return {"id": agreement.id, "added_versions": added, "unchanged_versions": unchanged, "checksum": agreement_checksum(merged)}


def stored_agreements(session: Session) -> dict[str, Agreement]:
    """Agreements loaded into the database, as validated `Agreement`s (an editable preset's shipped
    versions come first, then the loaded ones)."""
    try:
        records = session.scalars(select(AgreementRecord).options(selectinload(AgreementRecord.versions)).order_by(AgreementRecord.slug)).all()
    except (OperationalError, ProgrammingError) as exc:
        raise _guard(exc) from None
    result = {}
    for record in records:
        preset = preset_agreements().get(record.slug)
        versions: list[Any] = [v.model_dump(mode="json") for v in preset.versions] if preset else []
        shipped = {v["version"] for v in versions}
        versions += [dict(v.document) for v in record.versions if v.number not in shipped]
        versions.sort(key=lambda v: v["version"])
        for earlier, later in zip(versions, versions[1:], strict=False):
            # a new version supersedes an open-ended predecessor from its own effective date
            if earlier.get("effective_to") is None:
                earlier["effective_to"] = (dt.date.fromisoformat(later["effective_from"]) - dt.timedelta(days=1)).isoformat()
        result[record.slug] = parse_agreement(
            {"id": record.slug, "name": record.name, "name_zh": record.name_zh, "kind": record.kind, "editable": record.editable, "versions": versions,
             **({"description": preset.description, "translations": preset.translations} if preset else {})},
            source=f"database agreement {record.slug}",
        )
    return result


def _catalogue_fingerprint() -> Select[Any]:
    parts = [
        select(func.count()).select_from(AgreementRecord), select(func.coalesce(func.sum(AgreementRecord.version), 0)), select(func.max(AgreementRecord.updated_at)),
        select(func.count()).select_from(AgreementVersionRecord), select(func.max(AgreementVersionRecord.created_at)),
        select(func.count()).select_from(CalendarNoticeRecord), select(func.max(CalendarNoticeRecord.created_at)),
    ]
    return select(*(part.scalar_subquery() for part in parts))


CATALOGUE_FINGERPRINT = _catalogue_fingerprint()
"""One row that changes whenever the stored agreements or holiday notices do: row counts, the newest creation and
update times and the sum of the agreements' row versions (versions and notices are immutable rows; an agreement's
name changes bump its row version). Built once: it runs on every case read and transition."""


def catalogue(session: Session) -> dict[str, Agreement]:
    """`all_agreements(session)`, kept per process and rebuilt only when `CATALOGUE_FINGERPRINT` changes
    (`core.db.cached_from_tables`): a case read or transition no longer reads and validates every agreement
    document and notice. The result is shared: do not change it."""
    try:
        return cached_from_tables(session, name="readmission.catalogue", fingerprint=CATALOGUE_FINGERPRINT, build=lambda: all_agreements(session))
    except (OperationalError, ProgrammingError) as exc:
        raise _guard(exc) from None


def all_agreements(session: Session | None) -> dict[str, Agreement]:
    """Shipped presets overlaid with what the database holds (if a session is given), each version's
    calendar carrying the official holiday notices of its country (shipped and loaded)."""
    result = dict(preset_agreements())
    notices = list(shipped_notices())
    if session is not None:
        result.update(stored_agreements(session))
        notices += stored_notices(session)
    return {slug: with_notices(agreement, notices) for slug, agreement in result.items()}


def stored_notices(session: Session) -> list[CalendarNotice]:
    """Notices loaded into the database (every version; the calendar uses the highest of each year)."""
    try:
        records = session.scalars(select(CalendarNoticeRecord).order_by(CalendarNoticeRecord.country, CalendarNoticeRecord.year, CalendarNoticeRecord.version)).all()
    except (OperationalError, ProgrammingError) as exc:
        raise _guard(exc) from None
    return [parse_notice(record.document, source=f"database notice {record.country}-{record.year} v{record.version}") for record in records]


def all_notices(session: Session | None) -> list[CalendarNotice]:
    notices = list(shipped_notices())
    if session is not None:
        notices += stored_notices(session)
    return sorted(notices, key=lambda n: (n.country, n.year, n.version))


def store_notice(session: Session, *, notice: CalendarNotice, loaded_by: str | None = None) -> bool:
    """Store a notice; False when the same version is already there with the same content.

    A version is immutable: the same country, year and version with other content is a `Conflict`
    (give the correction the next version number). A shipped notice's version cannot be reused either."""
    checksum = notice_checksum(notice)
    for shipped in shipped_notices():
        if shipped.key == notice.key:
            if notice_checksum(shipped) == checksum:
                return False
            raise Conflict(T_("{key} ships with Passage with other content; give the correction version {value}", key=notice.key, value=notice.version + 1), extra={"notice": notice.key})
    try:
        existing = session.scalars(select(CalendarNoticeRecord).where(CalendarNoticeRecord.country == notice.country, CalendarNoticeRecord.year == notice.year, CalendarNoticeRecord.version == notice.version)).one_or_none()
    except (OperationalError, ProgrammingError) as exc:
        raise _guard(exc) from None
    if existing is not None:
        if existing.checksum == checksum:
            return False
        raise Conflict(T_("{key} is already loaded with other content; give the correction the next version number", key=notice.key), extra={"notice": notice.key})
    session.add(CalendarNoticeRecord(country=notice.country, year=notice.year, version=notice.version, document=notice.model_dump(mode="json"), checksum=checksum, loaded_by=loaded_by))
    session.flush()
    return True


def case_snapshots(session: Session) -> list[CaseSnapshot]:
    """Open cases as snapshots for the deadline job."""
    try:
        rows = session.scalars(select(ReadmissionCase).where(ReadmissionCase.closed_on.is_(None))).all()
    except (OperationalError, ProgrammingError) as exc:
        raise _guard(exc) from None
    return [snapshot_of(row) for row in rows]


def snapshot_of(case: ReadmissionCase) -> CaseSnapshot:
    dates = CaseDates(
        procedure=case.procedure,
        accelerated=case.accelerated,
        submitted_on=case.submitted_on,
        acknowledged_on=case.acknowledged_on,
        extension_requested_on=case.extension_requested_on,
        replied_on=case.replied_on,
        accepted_on=case.accepted_on,
        travel_document_issued_on=case.travel_document_issued_on,
        travel_document_reissue_requested_on=case.travel_document_reissue_requested_on,
        transferred_on=case.transferred_on,
    )
    return CaseSnapshot(case_id=case.id, agreement_id=case.agreement_slug, agreement_version=case.agreement_version, state=State(case.state), dates=dates)


def snapshot_from_dict(data: dict[str, Any], *, index: int) -> CaseSnapshot:
    """A snapshot from JSON (`tick --input`); errors name the item index and field."""
    from passage.core.errors import FieldError, InvalidInput

    try:
        raw_dates = dict(data.get("dates", {}))
        parsed: dict[str, Any] = {k: (dt.date.fromisoformat(v) if k not in {"procedure", "accelerated"} and v else v) for k, v in raw_dates.items()}
        dates = CaseDates(**parsed)
        return CaseSnapshot(case_id=str(data["case_id"]), agreement_id=str(data["agreement_id"]), agreement_version=int(data.get("agreement_version", 1)), state=State(data["state"]), dates=dates)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(N_("invalid case snapshot"), fields=[FieldError(f"{index}", type(exc).__name__ + ": check case_id, agreement_id, state and ISO dates")]) from None


def statistics_record(case: ReadmissionCase, version: AgreementVersion) -> CaseRecord:
    """A case as a `statistics.CaseRecord` (no personal data), with its reply and transfer limits."""
    from passage.readmission import rules

    procedure = version.readmission
    start = rules.clock_start_date(procedure, submitted_on=case.submitted_on, acknowledged_on=case.acknowledged_on) if procedure else None
    reply_due = None
    if procedure is not None and start is not None and (procedure.reply_limit is not None or case.accelerated):
        reply_due = rules.effective_reply_deadline(version, start, accelerated=case.accelerated, extension_requested=case.extension_requested_on is not None).due
    transfer_due = None
    if procedure is not None and procedure.transfer_limit is not None and case.accepted_on is not None:
        transfer_due = rules.transfer_deadline(version, case.accepted_on).due
    outcome = {"refused": "refused", "withdrawn": "withdrawn", "cancelled": "cancelled"}.get(case.state)
    if outcome is None and case.accepted_on is not None:
        outcome = "deemed_accepted" if case.replied_on is None else "accepted"
    return CaseRecord(
        agreement_id=case.agreement_slug,
        requesting_state=case.requesting_state,
        province=case.province_code,
        state=case.state,
        submitted_on=case.submitted_on,
        reply_due=reply_due,
        replied_on=case.replied_on,
        reply_started_on=start,
        outcome=outcome,
        refusal_reason=case.refusal_reason,
        accepted_on=case.accepted_on,
        travel_document_issued_on=case.travel_document_issued_on,
        transfer_due=transfer_due,
        transferred_on=case.transferred_on,
    )


# --- personal data, where it is stored (for erasure) ----------------------------------------------------

PERSONAL_STORAGE: dict[str, str] = {
    "surname": "surname", "given_names": "given_names", "date_of_birth": "date_of_birth", "place_of_birth": "place_of_birth",
    "name_in_characters": "name_in_characters", "passport_number": "passport_number", "id_number": "id_number",
    "search_tokens": "(rows) search tokens: the blind-index tokens of the names, dates and document numbers",
    "father_name": "father_name", "mother_name": "mother_name", "languages": "languages", "civil_status": "civil_status",
    "last_addresses_in_requested_state": "last_addresses", "physical_description": "physical_description", "photo": "photo",
    "special_needs": "special_needs", "security_measures": "security_measures", "travel_document_number": "travel_document_number",
    "flight": "transfer_flight", "escorts": "transfer_escorts",
    "aliases": "(rows) aliases", "evidence": "(rows) documents: content and original file name",
    "case_notes": "(rows) holds: reasons; flags: notes; verifications: notes and candidates",
    "health_information": "(not stored on the case: shared from documents only)",
    "criminal_record": "(not stored on the case: shared from documents only)",
    "vulnerability_notes": "(not stored on the case: shared from documents only)",
}
"""`safeguards.PERSONAL_FIELDS` name -> the case column, or the child rows, that hold it."""

PERSONAL_CHILD_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "aliases": {"CaseAlias": ("alias",)},
    "search_tokens": {"CaseSearchToken": ("token",)},
    "evidence": {"EvidenceDocument": ("original_filename", "content")},
    "case_notes": {"TransferHold": ("reason", "lift_reason"), "CaseFlag": ("note",), "VerificationRecord": ("notes", "candidates")},
}
"""The child rows' personal columns that `write_personal_record` erases for each field."""


def personal_record(case: ReadmissionCase) -> dict[str, Any]:
    """The case's personal data under the names of `safeguards.PERSONAL_FIELDS` (child rows as lists)."""
    record: dict[str, Any] = {name: getattr(case, column) for name, column in PERSONAL_STORAGE.items() if not column.startswith("(")}
    record["aliases"] = [alias.id for alias in case.aliases] or None
    record["search_tokens"] = [token.id for token in case.search_tokens] or None
    record["evidence"] = [d.id for d in case.documents if d.content is not None or d.original_filename is not None] or None
    notes = [h.reason for h in case.holds if h.reason] + [h.lift_reason for h in case.holds if h.lift_reason]
    notes += [f.note for f in case.flags if f.note] + [v.notes for v in case.verifications if v.notes]
    record["case_notes"] = notes + [v.id for v in case.verifications if v.candidates] or None
    return record


def write_personal_record(case: ReadmissionCase, record: dict[str, Any]) -> None:
    """Store `record` back: a personal field that is None there is erased from the column or the child rows."""
    for name, column in PERSONAL_STORAGE.items():
        if name not in record or record[name] is not None:
            continue
        if not column.startswith("("):
            setattr(case, column, None)
        elif name == "aliases":
            case.aliases.clear()
        elif name == "search_tokens":
            case.search_tokens.clear()
        elif name == "evidence":
            for document in case.documents:
                document.content = None
                document.original_filename = None
        elif name == "case_notes":
            for hold in case.holds:
                hold.reason, hold.lift_reason = "", None
            for flag in case.flags:
                flag.note = None
            for verification in case.verifications:
                verification.notes, verification.candidates = None, None
