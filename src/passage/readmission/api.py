"""Readmission API under /api/v1/readmission: cases and every action, evidence, statistics, agreements."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from passage.core import i18n
from passage.core.deps import DbSession
from passage.core.errors import FieldError, InvalidInput, NotFound
from passage.core.files import csv_text
from passage.core.i18n import N_, T_, label
from passage.core.settings import get_settings
from passage.readmission import service, statistics, workflow
from passage.readmission.agreements import parse_agreement, unverified_figures
from passage.readmission.models import ReadmissionCase
from passage.readmission.schemas import (
    AliasIn,
    CandidateDecisionIn,
    CandidatesIn,
    CaseCreateIn,
    CaseEditIn,
    CaseSummaryOut,
    FlagIn,
    HoldIn,
    LiftIn,
    TransitionIn,
    VersionIn,
)
from passage.readmission.store import load_agreement
from passage.security import audit
from passage.security.deps import require, user_has
from passage.security.models import User
from passage.security.operations import allowed_operations
from passage.security.permissions import Permission
from passage.security.schemas import Offset, Page

router = APIRouter(prefix="/readmission", tags=["readmission"])

Reader = Annotated[User, require(Permission.READMISSION_READ)]
Actor = Annotated[User, require(Permission.READMISSION_ACT)]
WITHHELD = "withheld"


def _withhold(value: Any, allowed: bool) -> Any:
    return value if allowed or value is None else WITHHELD


def case_detail(session: Any, case: ReadmissionCase, user: User) -> dict[str, Any]:
    """The case as the user may see it: health and asylum details and the photo need their own permission."""
    health, asylum, biometrics = user_has(user, Permission.HEALTH_READ), user_has(user, Permission.ASYLUM_READ), user_has(user, Permission.BIOMETRICS_READ)
    version = service.case_version(session, case)
    allowed = allowed_operations(user, case)
    agreement = service._catalogue(session)[case.agreement_slug]
    unverified = [path for path in unverified_figures(agreement) if path.startswith(f"versions.{case.agreement_version - 1}.") or path.startswith(f"versions[{case.agreement_version - 1}]")]
    return {
        "id": case.id, "reference": case.reference, "procedure": case.procedure, "state": case.state, "version": case.version,
        "agreement": {"id": case.agreement_slug, "version": case.agreement_version, "name": agreement.name, "requested_state": version.requested_state, "unverified_figures": unverified},
        "accelerated": case.accelerated, "requesting_state": case.requesting_state, "requested_state": case.requested_state,
        "requesting_org_id": case.requesting_org_id, "requested_central_org_id": case.requested_central_org_id,
        "routed_province_org_id": case.routed_province_org_id, "province": case.province_code,
        "application": {
            **{name: getattr(case, service._COLUMN.get(name, name)) for name in service.APPLICATION_FIELDS if name != "special_needs"},
            "special_needs": _withhold(case.special_needs, health),
            "aliases": [{"id": a.id, "alias": a.alias, "kind": a.kind} for a in case.aliases], "aliases_none": case.aliases_confirmed_none,
            "photo": None if case.photo is None else ("present" if biometrics else WITHHELD),
        },
        "missing_application_data": service.missing_data(session, case) if case.state in {"draft", "transit_draft"} else [],
        "dates": {k: getattr(case, k) for k in ("submitted_on", "acknowledged_on", "extension_requested_on", "replied_on", "accepted_on", "travel_document_issued_on", "transferred_on", "closed_on", "erased_on")},
        "refusal_reason": case.refusal_reason,
        "travel_document_number": case.travel_document_number,
        "transfer": {"date": case.transfer_date, "place_kind": case.transfer_place_kind, "place_code": case.transfer_place_code, "flight": case.transfer_flight, "escorts": case.transfer_escorts},
        "deadlines": service.case_deadline_view(session, case),
        "documents": [{"id": d.id, "evidence_type": d.evidence_type, "category": d.category, "media_type": d.media_type, "size": d.size, "sha256": d.sha256, "available": d.content is not None, "uploaded_at": d.created_at} for d in case.documents],
        "holds": [{"id": h.id, "kind": h.kind, "reason": _withhold(h.reason, asylum if h.kind == "pending_asylum_claim" else (health if h.kind == "medical" else True)),
                   "placed_on": h.placed_on, "lifted_on": h.lifted_on, "active": h.lifted_on is None, "evidence_document_ids": h.evidence_document_ids} for h in case.holds],
        "flags": [{"id": f.id, "kind": f.kind, "active": f.active, "note": _withhold(f.note, health or f.kind == "non_refoulement")} for f in case.flags],
        "verifications": [{"id": v.id, "method": v.method, "outcome": v.outcome, "candidates": v.candidates, "recorded_at": v.created_at} for v in case.verifications],
        "timeline": [{"action": e.action, "from": e.from_state, "to": e.to_state, "actor_role": e.actor_role, "at": e.occurred_at, "details": e.details} for e in case.events],
        "share_log": [{"direction": s.direction, "fields": s.fields, "withheld_fields": s.withheld_fields, "sha256": s.payload_sha256, "at": s.occurred_at} for s in case.share_log],
        "notices": [{"id": n.id, "kind": n.kind, "fields": n.fields, "issued_on": n.issued_on, "acknowledged_at": n.acknowledged_at, "counterpart_org_id": n.counterpart_org_id} for n in case.notices],
        "allowed_actions": [t.as_dict() for t in service.allowed_for(user, case) if t.action in allowed],
        "allowed_operations": sorted(allowed),
    }


@router.get("/cases", response_model=Page[CaseSummaryOut])
def list_cases(
    db: DbSession, user: Reader,
    state: Annotated[str | None, Query(max_length=32)] = None,
    procedure: Annotated[str | None, Query(pattern="^(readmission|transit)$")] = None,
    agreement_id: Annotated[str | None, Query(max_length=64)] = None,
    requesting_state: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$")] = None,
    province: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    due: Annotated[str | None, Query(pattern="^(overdue|soon|flagged)$")] = None,
    needs_action: bool = False,
    sort: Annotated[str, Query(pattern="^-?(reference|state|updated|submitted|created|due)$")] = "-updated",
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 25,
) -> Page[CaseSummaryOut]:
    """The inbox: cases in the user's scope, with overdue and soon-due flags (deadline within 3 days)."""
    filters = service.CaseFilter(state=state, procedure=procedure, agreement_id=agreement_id, requesting_state=requesting_state, province=province, q=q, due=due, needs_action=needs_action, sort=sort, offset=offset, limit=limit)
    rows, total, flags = service.list_cases(db, actor=user, filters=filters, with_person=False)
    items = [
        CaseSummaryOut(id=c.id, reference=c.reference, procedure=c.procedure, state=c.state, agreement_id=c.agreement_slug, agreement_version=c.agreement_version,
                       requesting_state=c.requesting_state, province=c.province_code, submitted_on=c.submitted_on, updated_at=c.updated_at,
                       next_due=flags[c.id]["next_due"], next_due_kind=flags[c.id]["next_kind"], overdue=flags[c.id]["overdue"], due_soon=flags[c.id]["soon"], version=c.version)
        for c in rows
    ]
    return Page[CaseSummaryOut](items=items, total=total.value, offset=offset, limit=limit, total_estimated=total.estimated)


@router.post("/cases", status_code=201)
def create_case(body: CaseCreateIn, db: DbSession, user: Annotated[User, require(Permission.READMISSION_CREATE)]) -> dict[str, Any]:
    """Open a draft. A person who may already have an open case in scope is answered 409 `possible_duplicate` with
    `possible_duplicates` (case id, reference, state, the agreeing fields); send again with
    `confirm_not_duplicate: true` to create it anyway (the same check as the web intake form)."""
    case = service.open_case(db, actor=user, agreement_id=body.agreement_id, procedure=body.procedure, accelerated=body.accelerated, application=body.application,
                             aliases_none=body.aliases_none, confirm_not_duplicate=body.confirm_not_duplicate)
    db.flush()
    return case_detail(db, case, user)


@router.get("/cases/{case_id}")
def get_case(case_id: str, db: DbSession, user: Reader) -> dict[str, Any]:
    return case_detail(db, service.read_case(db, actor=user, case_id=case_id), user)


@router.patch("/cases/{case_id}")
def edit_case(case_id: str, body: CaseEditIn, db: DbSession, user: Actor) -> dict[str, Any]:
    case = service.edit_application(db, actor=user, case_id=case_id, expected_version=body.version, changes=body.application, aliases_none=body.aliases_none)
    return case_detail(db, case, user)


@router.post("/cases/{case_id}/transitions")
def take_action(case_id: str, body: TransitionIn, db: DbSession, user: Actor) -> dict[str, Any]:
    """Any state-machine action (see GET /readmission/transitions); 409 lists the allowed transitions."""
    case = service.transition(db, actor=user, case_id=case_id, expected_version=body.version, action=body.action, payload=body.payload)
    db.flush()
    return case_detail(db, case, user)


@router.get("/transitions")
def transitions(user: Reader) -> dict[str, Any]:
    """The state machines as data: action, source states, target, roles, organisation sides, required payload."""
    return workflow.transition_matrix()


@router.post("/cases/{case_id}/aliases", status_code=201)
def add_alias(case_id: str, body: AliasIn, db: DbSession, user: Actor) -> dict[str, Any]:
    row = service.add_alias(db, actor=user, case_id=case_id, expected_version=body.version, alias=body.alias, kind=body.kind)
    return {"id": row.id, "kind": row.kind}


async def _read_upload(file: UploadFile) -> bytes:
    limit = get_settings().max_upload_bytes
    data = await file.read(limit + 1)
    return data


@router.post("/cases/{case_id}/evidence", status_code=201)
async def upload_evidence(case_id: str, db: DbSession, user: Actor, file: Annotated[UploadFile, File()], evidence_type: Annotated[str, Form(max_length=60)], version: Annotated[int, Form()]) -> dict[str, Any]:
    """Upload a PDF, JPEG, PNG or TIFF (checked from the bytes: 415 otherwise; 413 above the size limit)."""
    data = await _read_upload(file)
    document = service.upload_evidence(db, actor=user, case_id=case_id, expected_version=version, evidence_type=evidence_type, data=data, declared_media_type=file.content_type, filename=file.filename)
    return {"id": document.id, "evidence_type": document.evidence_type, "category": document.category, "media_type": document.media_type, "size": document.size, "sha256": document.sha256}


@router.get("/cases/{case_id}/evidence/{document_id}")
def download_evidence(case_id: str, document_id: str, db: DbSession, user: Reader) -> Response:
    document, data = service.read_evidence(db, actor=user, case_id=case_id, document_id=document_id)
    return Response(data, media_type=document.media_type, headers={"content-disposition": f'attachment; filename="{document.id}"', "x-content-sha256": document.sha256, "cache-control": "no-store"})


@router.post("/cases/{case_id}/photo")
async def upload_photo(case_id: str, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT, Permission.BIOMETRICS_ENROL)], file: Annotated[UploadFile, File()], version: Annotated[int, Form()]) -> dict[str, Any]:
    data = await _read_upload(file)
    case = service.set_photo(db, actor=user, case_id=case_id, expected_version=version, data=data, declared_media_type=file.content_type)
    db.flush()
    return {"id": case.id, "version": case.version}


@router.post("/cases/{case_id}/holds", status_code=201)
def place_hold(case_id: str, body: HoldIn, db: DbSession, user: Actor) -> dict[str, Any]:
    row = service.place_hold(db, actor=user, case_id=case_id, expected_version=body.version, kind=body.kind, reason=body.reason, evidence_document_ids=body.evidence_document_ids)
    return {"id": row.id, "kind": row.kind, "placed_on": row.placed_on}


@router.post("/cases/{case_id}/holds/{hold_id}/lift")
def lift_hold(case_id: str, hold_id: str, body: LiftIn, db: DbSession, user: Actor) -> dict[str, Any]:
    row = service.lift_hold(db, actor=user, case_id=case_id, expected_version=body.version, hold_id=hold_id, reason=body.reason)
    return {"id": row.id, "kind": row.kind, "lifted_on": row.lifted_on}


@router.post("/cases/{case_id}/flags")
def set_flag(case_id: str, body: FlagIn, db: DbSession, user: Actor) -> dict[str, Any]:
    row = service.set_flag(db, actor=user, case_id=case_id, expected_version=body.version, kind=body.kind, note=body.note, active=body.active)
    return {"id": row.id, "kind": row.kind, "active": row.active}


@router.post("/cases/{case_id}/share", status_code=201)
def share(case_id: str, body: VersionIn, db: DbSession, user: Actor) -> dict[str, Any]:
    entry = service.share_case(db, actor=user, case_id=case_id, expected_version=body.version)
    return {"id": entry.id, "fields": entry.fields, "withheld_fields": entry.withheld_fields, "sha256": entry.payload_sha256}


@router.post("/cases/{case_id}/notices/{notice_id}/acknowledge")
def acknowledge_notice(case_id: str, notice_id: str, db: DbSession, user: Actor) -> dict[str, Any]:
    notice = service.acknowledge_notice(db, actor=user, case_id=case_id, notice_id=notice_id)
    return {"id": notice.id, "acknowledged_at": notice.acknowledged_at}


@router.post("/cases/{case_id}/candidates", status_code=201)
def record_candidates(case_id: str, body: CandidatesIn, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT, Permission.IDENTITY_DECIDE)]) -> dict[str, Any]:
    """Store a registry search's ranked candidates (with explanations) on the case for the officer to decide."""
    row = service.record_candidates(db, actor=user, case_id=case_id, expected_version=body.version, candidates=body.candidates, source=body.source)
    return {"id": row.id, "outcome": row.outcome, "candidates": row.candidates}


@router.post("/cases/{case_id}/candidates/decision")
def decide_candidate(case_id: str, body: CandidateDecisionIn, db: DbSession, user: Annotated[User, require(Permission.READMISSION_ACT, Permission.IDENTITY_DECIDE)]) -> dict[str, Any]:
    row = service.decide_candidate(db, actor=user, case_id=case_id, expected_version=body.version, verification_id=body.verification_id, registry_id=body.registry_id, decision=body.decision)
    return {"id": row.id, "outcome": row.outcome, "candidates": row.candidates}


def statistics_table(db: Any, user: User, *, group_by: list[str], granularity: str, agreement_id: str | None) -> list[dict[str, Any]]:
    """Rows as dicts: the reader's own cases exactly, every other case through disclosure control."""
    unknown = [g for g in group_by if g not in statistics.GROUP_KEYS]
    if unknown:
        raise InvalidInput(N_("unknown grouping"), fields=[FieldError("group_by", T_("any of {choices}", choices=list(statistics.GROUP_KEYS)))])
    return service.published_statistics(db, actor=user, group_by=group_by, granularity=granularity, agreement_id=agreement_id)


@router.get("/statistics", response_model=None)
def get_statistics(
    db: DbSession, user: Annotated[User, require(Permission.READMISSION_STATS)],
    group_by: Annotated[list[str], Query()] = ["agreement_id", "requesting_state", "province", "period"],  # noqa: B006
    granularity: Annotated[str, Query(pattern="^(month|quarter|year)$")] = "month",
    agreement_id: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",  # noqa: A002
) -> Any:
    """Applications, reply time (median, p90), share within the limit, deemed acceptances, refusals by reason,
    time to travel document, transfers within the window and outcomes, per group. `format=csv` for CSV."""
    rows = statistics_table(db, user, group_by=group_by, granularity=granularity, agreement_id=agreement_id)
    if format == "csv":
        return Response(statistics_csv(rows, group_by), media_type="text/csv; charset=utf-8", headers={"content-disposition": 'attachment; filename="readmission-statistics.csv"'})
    return {"group_by": group_by, "granularity": granularity, "rows": rows}


def statistics_csv(rows: list[dict[str, Any]], group_by: list[str]) -> str:
    """One line per row in the reader's language (the request's `Accept-Language` or cookie): headers, scopes,
    refusal reasons and outcomes in words; withheld values are empty and named in the last column (the shared,
    formula-safe writer). The JSON answer keeps the codes."""
    header = [i18n.gettext(N_("Scope")), *(label("readmission.group", k) for k in group_by), *(label("readmission.statistics_column", c) for c in statistics.CSV_COLUMNS),
              i18n.gettext(N_("Withheld"))]
    lines: list[list[Any]] = [header]
    for row in rows:
        cells = [label("readmission.scope", row["scope"]), *(_group_cell(k, row["group"].get(k)) for k in group_by)]
        for column in statistics.CSV_COLUMNS:
            value = row.get(column)
            if isinstance(value, dict):
                domain = "readmission.refusal" if column == "refusals_by_reason" else "readmission.outcome"
                cells.append(";".join(f"{label(domain, k)}={'' if v is None else v}" for k, v in value.items()))
            else:
                cells.append("" if value is None else str(value))
        lines.append([*cells, ";".join(label("readmission.statistics_column", w) for w in row["withheld"])])
    return csv_text(lines)


def _group_cell(key: str, value: Any) -> str:
    if not value:
        return ""
    if key == "province":
        return label("readmission.province", value)
    if value == statistics.ALL:
        return i18n.gettext(N_("(all)"))
    return str(value)


# --- agreements ----------------------------------------------------------------------------------------


def agreement_summary(agreement: Any) -> dict[str, Any]:
    return {"id": agreement.id, "name": agreement.name, "name_zh": agreement.name_zh, "kind": agreement.kind, "editable": agreement.editable,
            "versions": [v.version for v in agreement.versions], "unverified_figures": len(unverified_figures(agreement))}


@router.get("/agreements")
def list_agreements(db: DbSession, user: Annotated[User, require(Permission.AGREEMENTS_READ)]) -> list[dict[str, Any]]:
    return [agreement_summary(a) for a in service._catalogue(db).values()]


@router.get("/agreements/{agreement_id}")
def show_agreement(agreement_id: str, db: DbSession, user: Annotated[User, require(Permission.AGREEMENTS_READ)]) -> dict[str, Any]:
    agreement = service._catalogue(db).get(agreement_id)
    if agreement is None:
        raise NotFound(T_("agreement {agreement_id} not found", agreement_id=agreement_id))
    return {**agreement.model_dump(mode="json"), "unverified_figures": unverified_figures(agreement)}


@router.post("/agreements", status_code=201)
def create_agreement(body: dict[str, Any], db: DbSession, user: Annotated[User, require(Permission.AGREEMENTS_MANAGE)]) -> dict[str, Any]:
    """Create an agreement or add versions (versions are immutable: a changed one needs a new number, else 409)."""
    agreement = parse_agreement(body, source="request body")
    result = load_agreement(db, agreement=agreement, loaded_by=user.id)
    service.forget_catalogue(db)
    audit.record(db, actor=user, action="readmission.agreement_load", entity_type="readmission_agreement", entity_id=agreement.id, details={"added_versions": result["added_versions"]})
    return result


@router.post("/agreements/{agreement_id}/versions", status_code=201)
def add_agreement_version(agreement_id: str, body: dict[str, Any], db: DbSession, user: Annotated[User, require(Permission.AGREEMENTS_MANAGE)]) -> dict[str, Any]:
    """Add one version (the AgreementVersion JSON) to an editable or administrator-created agreement."""
    current = service._catalogue(db).get(agreement_id)
    if current is None:
        raise NotFound(T_("agreement {agreement_id} not found", agreement_id=agreement_id))
    data = current.model_dump(mode="json")
    data["versions"] = [body]
    return create_agreement(data, db, user)
