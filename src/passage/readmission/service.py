"""Readmission case operations: scope, role and state checks, deadlines, timeline and audit in one transaction.

Every operation is `op(session, *, actor, case_id, expected_version, ...)`, written on the foundation's
operation protocol (`passage.security.operations`):
1. load the case through `passage.security.scope.get_visible` (another state's case is 404; a case not yet
   submitted is visible only to the requesting organisation, so drafts never leak to the requested state);
2. the permission and the case rules: `allowed_operations(actor, case)` (registered below from `CASE_OPERATIONS`
   and `workflow`) is what pages offer and what `require_operation` enforces (wrong role, organisation side or
   permission: 403, audited in a transaction of its own; a closed case: 409); a transition goes through
   `workflow.decide` (illegal for the state: 409 listing the allowed transitions; missing data: 422);
3. `check_version` (stale read: 409);
4. apply the change (a transition's effects are the handlers of `EFFECTS`), add a timeline event, recompute the
   `CaseDeadline` rows with `rules.case_deadlines` (and the case's denormalised `next_due_on`/`next_due_kind`,
   which the inbox filters and sorts on);
5. the audit entry in the same transaction (details hold ids and field names, never values).

Reads of a case and of an evidence file are audited too. The deadline job (`run_deadline_job`) applies
deemed acceptance (EU–Serbia Art. 10(2)-(3)) as the system actor `DEADLINE_JOB`; it is idempotent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, exists, func, intersect, or_, select, union, union_all
from sqlalchemy.orm import Session, load_only, object_session

from passage.core import i18n
from passage.core.db import RowCount, check_version, count_rows, skip_empty_collections
from passage.core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from passage.core.i18n import N_, T_
from passage.core.inputs import whole_number
from passage.core.memo import ByIdentity
from passage.core.models import utcnow
from passage.core.settings import get_settings
from passage.readmission import evidence as evidence_rules
from passage.readmission import jobs, person_search, rules, safeguards, workflow
from passage.readmission.models import (
    CaseAlias,
    CaseDeadline,
    CaseFlag,
    CaseRouting,
    CaseSearchToken,
    CorrectionNotice,
    EvidenceDocument,
    ReadmissionCase,
    ShareLogEntry,
    TimelineEvent,
    TransferHold,
    VerificationRecord,
)
from passage.readmission.schemas import Agreement, AgreementVersion, CalendarNotice
from passage.readmission.store import catalogue, snapshot_of
from passage.security import audit, blind_index
from passage.security.actors import SYSTEM_ACTOR_ID, Actor, is_system, may, system_actor
from passage.security.models import Organisation, OrganisationLevel, User
from passage.security.models import Role as UserRole
from passage.security.operations import (
    OperationRules,
    operation,
    operation_rules,
    refuse,
    require_operation,
    require_permission,
)
from passage.security.permissions import Permission
from passage.security.scope import get_visible, scoped_select

ENTITY = "readmission_case"
DEADLINE_JOB = system_actor("readmission.deadlines")
"""The system actor of the deadline job (deemed acceptance)."""
RETENTION_JOB = system_actor("readmission.retention")
"""The system actor of the retention job (erasure of expired personal data)."""
CALENDAR_JOB = system_actor("readmission.calendars")
"""Loads an official holiday notice (`passage calendars load`) and recomputes the deadlines it moves."""
MAX_ESCORTS = 20
"""The most escorts one transfer may list as a count (the case form's input has the same `max`)."""
SOON_DAYS = 3
"""A deadline within this many days is "soon due" (the deadline job's `flag_due_soon`)."""
DENSE_SEARCH = 1000
"""A search whose text matches at least this many cases (before scope and filters) is dense: its page is read by
walking the inbox in its sort order and testing each row (the walk stops once the page is full), not by sorting
every match. Below it, the matching ids are looked up in the narrow indexes and sorted whole, with an exact total."""

REFUSAL_REASONS = ("not_a_national", "identity_not_established", "insufficient_evidence", "not_covered_by_agreement", "time_limit_for_application_passed", "other")
VERIFICATION_METHODS = ("interview", "family_contact", "registry_match", "fingerprint", "document_check")
FLAG_KINDS = ("unaccompanied_minor", "medical", "trafficking_victim", "disability", "pregnancy", "elderly", "non_refoulement")
ALIAS_KINDS = ("alias", "maiden_name", "earlier_name", "nickname")
PHOTO_MEDIA_TYPES = ("image/jpeg", "image/png")

TEXT_FIELDS = ("surname", "given_names", "name_in_characters", "passport_number", "id_number", "date_of_birth", "place_of_birth", "father_name", "mother_name", "civil_status", "physical_description", "special_needs", "security_measures")
LIST_FIELDS = ("languages", "last_addresses_in_requested_state")
APPLICATION_FIELDS = (*TEXT_FIELDS, "sex", "nationality", *LIST_FIELDS)
IDENTIFYING_FIELDS = ("surname", "given_names", "name_in_characters", "date_of_birth", "passport_number", "id_number")
"""A draft needs one of these, so that it can be found and finished."""
IDENTIFY_STATES = frozenset({"acknowledged", "routed", "identity_verified", "identity_not_verified"})
REROUTE_STATES = frozenset({"routed", "identity_not_verified"})
"""States in which a registry search makes sense: from receipt (the central authority may identify before routing)
until the reply."""
"""Fields an application edit may set (photo, aliases and evidence have their own operations)."""
_COLUMN = {"last_addresses_in_requested_state": "last_addresses"}

_ROLE_ORDER = (UserRole.REQUESTING_OFFICER, UserRole.CENTRAL_OFFICER, UserRole.PROVINCIAL_OFFICER, UserRole.ADMIN, UserRole.IOM_CASEWORKER, UserRole.ANALYST)
_DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_HAN_RE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


# --- helpers ---------------------------------------------------------------------------------------------


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _at(day: dt.date | None) -> dt.datetime:
    """The timestamp of an event: now, or noon UTC of a given day (demo replay and back-dated tests)."""
    now = utcnow()
    if day is None or day == now.date():
        return now
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC)


def workflow_role(user: Actor) -> workflow.Role:
    """The user's readmission role (a user holds one operational role; the first in a fixed order wins)."""
    if is_system(user):
        return workflow.Role.system
    roles = user.role_set
    for role in _ROLE_ORDER:
        if role in roles:
            return workflow.Role(role.value)
    return workflow.Role.analyst


def side_of(user: Actor, case: ReadmissionCase) -> workflow.Side:
    return workflow.actor_side(
        actor_org_id=user.organisation_id, requesting_org_id=case.requesting_org_id,
        requested_central_org_id=case.requested_central_org_id, routed_province_org_id=case.routed_province_org_id,
        is_system=is_system(user),
    )


def _catalogue(session: Session) -> dict[str, Agreement]:
    cached = session.info.get("readmission_catalogue")
    if cached is None:
        cached = catalogue(session)
        session.info["readmission_catalogue"] = cached
    return cached  # type: ignore[no-any-return]


def forget_catalogue(session: Session) -> None:
    session.info.pop("readmission_catalogue", None)


def agreement_version(session: Session, slug: str, number: int) -> AgreementVersion:
    agreement = _catalogue(session).get(slug)
    if agreement is None:
        raise NotFound(T_("agreement {slug} not found", slug=slug))
    for version in agreement.versions:
        if version.version == number:
            return version
    raise NotFound(T_("agreement {slug} has no version {number}", slug=slug, number=number))


def case_version(session: Session, case: ReadmissionCase) -> AgreementVersion:
    return agreement_version(session, case.agreement_slug, case.agreement_version)


def _refuse(session: Session, *, actor: Actor, case_id: str | None, action: str, error: Forbidden) -> Forbidden:
    """The foundation's refusal path with this error's message and its `allowed_*` lists."""
    return refuse(session, actor=actor, entity_type=ENTITY, entity_id=case_id, operation=action, reason=str(error.extra.get("reason", "rule")),
                  message=error.message, details={k: v for k, v in error.extra.items() if k.startswith("allowed")}, extra=error.extra)


def _visible_filter(statement: Select[Any], actor: Actor) -> Select[Any]:
    """Narrow the foundation scope further: a case not yet submitted is the requesting organisation's alone."""
    return statement.where(or_(ReadmissionCase.requesting_org_id == actor.organisation_id, ReadmissionCase.submitted_on.is_not(None)))


CASE_NOT_FOUND = N_("This case does not exist, or it is not shared with your organisation. Check the reference in the case list.")


def load_case(session: Session, *, actor: Actor, case_id: str) -> ReadmissionCase:
    """The case if the actor may see it, else NotFound (no audit: callers audit what they do with it).

    The message is the same whether the case does not exist or is outside the actor's scope (ASVS 4.0.3 V4.2.1)."""
    try:
        case = get_visible(session, ReadmissionCase, case_id, actor)
    except NotFound:
        raise NotFound(CASE_NOT_FOUND) from None
    if case.submitted_on is None and case.requesting_org_id != actor.organisation_id and not is_system(actor):
        raise NotFound(CASE_NOT_FOUND)
    return case


def case_exists(session: Session, *, case_id: str) -> bool:
    """Whether a readmission case with this id exists, whoever may see it (other modules check a reference
    before storing it; the id is random, so the answer reveals nothing else)."""
    return session.scalar(select(ReadmissionCase.id).where(ReadmissionCase.id == case_id)) is not None


def demo_case_ids(session: Session, *, limit: int) -> list[str]:
    """Ids of the oldest cases, with no scope: for demonstration data only (the AVRR demo links to them)."""
    return list(session.scalars(select(ReadmissionCase.id).order_by(ReadmissionCase.created_at, ReadmissionCase.id).limit(limit)))


def _touch(case: ReadmissionCase) -> None:
    # Child-only changes still bump the case version, so a concurrent edit from a stale read is refused.
    case.updated_at = utcnow()


def _event(case: ReadmissionCase, *, actor: Actor, action: str, from_state: str | None, to_state: str | None, day: dt.date | None, details: dict[str, Any] | None = None) -> None:
    """The case's domain event (its timeline), written in the operation's transaction."""
    case.events.append(
        TimelineEvent(
            action=action, from_state=from_state, to_state=to_state, actor_id=actor.id or SYSTEM_ACTOR_ID,
            actor_role=workflow_role(actor).value, occurred_at=_at(day), details=details or {},
        )
    )


# --- the case's operations and who may take them ---------------------------------------------------------


@dataclass(frozen=True)
class CaseOperation:
    """Who may take a non-transition operation on a case, and in which states."""

    sides: frozenset[workflow.Side]
    roles: frozenset[workflow.Role]
    permissions: tuple[Permission, ...] = (Permission.READMISSION_ACT,)
    when: str = "open"
    """`open` (not closed, not erased), `submitted` (open and sent to the requested state), `routed` (awaiting the
    province's verification), `identify` (`IDENTIFY_STATES`: from receipt until the reply), `reroute` (routed, or
    identity not verified) or `any`."""


_S, _R = workflow.Side, workflow.Role
CASE_OPERATIONS: dict[str, CaseOperation] = {
    "edit": CaseOperation(frozenset({_S.requesting}), frozenset({_R.requesting_officer})),
    "add_alias": CaseOperation(frozenset({_S.requesting}), frozenset({_R.requesting_officer})),
    "set_photo": CaseOperation(frozenset({_S.requesting}), frozenset({_R.requesting_officer})),
    "share": CaseOperation(frozenset({_S.requesting}), frozenset({_R.requesting_officer}), when="submitted"),
    "upload_evidence": CaseOperation(frozenset({_S.requesting, _S.routed_province}), frozenset({_R.requesting_officer, _R.provincial_officer})),
    "place_hold": CaseOperation(frozenset({_S.requesting, _S.requested_central}), frozenset({_R.requesting_officer, _R.central_officer})),
    "lift_hold": CaseOperation(frozenset({_S.requesting, _S.requested_central}), frozenset({_R.requesting_officer, _R.central_officer}), when="any"),
    "set_flag": CaseOperation(frozenset({_S.requesting, _S.requested_central, _S.routed_province}),
                              frozenset({_R.requesting_officer, _R.central_officer, _R.provincial_officer})),
    "record_candidates": CaseOperation(frozenset({_S.routed_province, _S.requested_central}), frozenset({_R.provincial_officer, _R.central_officer}),
                                       (Permission.READMISSION_ACT, Permission.IDENTITY_SEARCH), when="identify"),
    "decide_candidate": CaseOperation(frozenset({_S.routed_province}), frozenset({_R.provincial_officer}),
                                      (Permission.READMISSION_ACT, Permission.IDENTITY_DECIDE), when="any"),
    "search_registry": CaseOperation(frozenset({_S.routed_province, _S.requested_central}), frozenset({_R.provincial_officer, _R.central_officer}),
                                     (Permission.READMISSION_ACT, Permission.IDENTITY_SEARCH), when="identify"),
    "reroute": CaseOperation(frozenset({_S.requested_central}), frozenset({_R.central_officer}), when="reroute"),
}
"""Operations other than state transitions (those are `workflow.FLOWS`, each with its roles and sides)."""


def _state_allows(rule: CaseOperation, case: ReadmissionCase) -> bool:
    if rule.when == "open":
        return case.state not in workflow.TERMINAL_STATES and case.erased_on is None
    if rule.when == "submitted":
        return case.state not in workflow.TERMINAL_STATES and case.erased_on is None and case.submitted_on is not None
    if rule.when == "routed":
        return case.state == workflow.State.routed.value
    if rule.when == "identify":
        return case.state in IDENTIFY_STATES and case.erased_on is None
    if rule.when == "reroute":
        return case.state in REROUTE_STATES
    return True


def _who_may(rule: CaseOperation, actor: Actor, case: ReadmissionCase) -> bool:
    return all(may(actor, p) for p in rule.permissions) and workflow_role(actor) in rule.roles and side_of(actor, case) in rule.sides


def _allowed_case_operations(actor: Actor, case: ReadmissionCase) -> frozenset[str]:
    """Every operation `actor` may take on `case` now: the transitions of its state that the actor's role and side
    may take (with the act permission), and the other operations of `CASE_OPERATIONS`."""
    allowed = {name for name, rule in CASE_OPERATIONS.items() if _who_may(rule, actor, case) and _state_allows(rule, case)}
    if may(actor, Permission.READMISSION_ACT):
        allowed |= {t.action for t in allowed_for(actor, case)}
    return frozenset(allowed)


def _case_denial(actor: Actor, case: ReadmissionCase, name: str) -> Forbidden | Conflict:
    rule = CASE_OPERATIONS.get(name)
    if rule is None:  # a transition: workflow.decide gives the precise answer (state first, then role and side)
        if not may(actor, Permission.READMISSION_ACT):
            return Forbidden(N_("your role does not allow this"), extra={"reason": "permission"})
        try:
            workflow.decide(case.procedure, workflow.State(case.state), name, role=workflow_role(actor), side=side_of(actor, case), payload=None)
        except (Conflict, Forbidden) as error:
            return error
        return Forbidden(T_("your role or organisation may not {name} on this case", name=name))
    if not all(may(actor, p) for p in rule.permissions):
        return Forbidden(N_("your role does not allow this"), extra={"reason": "permission"})
    if workflow_role(actor) not in rule.roles or side_of(actor, case) not in rule.sides:
        return Forbidden(T_("your role or organisation may not {name} on this case", name=name), extra={
            "reason": "side", "allowed_roles": sorted(r.value for r in rule.roles), "allowed_sides": sorted(s.value for s in rule.sides)})
    # the state does not allow it now: 409 naming the state (`reason` tells pages and tests it is the case's rule)
    if rule.when == "routed":
        return Conflict(N_("candidates are recorded while the case is routed for verification"), extra={"state": case.state, "reason": "state"})
    if rule.when == "identify":
        return Conflict(N_("identification is possible from receipt of the request until the reply"), extra={"state": case.state, "reason": "state"})
    if rule.when == "reroute":
        return Conflict(N_("only a case routed to a province and not yet verified can be re-routed"), extra={"state": case.state, "reason": "state"})
    if rule.when == "submitted" and case.submitted_on is None and case.state not in workflow.TERMINAL_STATES and case.erased_on is None:
        return Conflict(N_("submit the case first"), extra={"state": case.state, "reason": "state",
                                                        "allowed_transitions": workflow.allowed_actions(case.procedure, workflow.State(case.state))})
    return Conflict(N_("the case is closed"), extra={"state": case.state, "reason": "state"})


operation_rules(ReadmissionCase, OperationRules(allowed=_allowed_case_operations, denial=_case_denial))


def _case_operation(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, name: str) -> Any:
    """The foundation's operation on one case: load in scope → `require_operation(name)` → version → work → audit
    (`readmission.<name>`; the body adds details with `op.note`)."""
    case = load_case(session, actor=actor, case_id=case_id)
    return operation(session, actor=actor, action=f"readmission.{name}", entity_type=ENTITY, record=case,
                     expected_version=expected_version, rule=name)


def _stored_rule(deadline: rules.Deadline) -> str:
    """The rule as stored on `CaseDeadline`: the language-neutral message (JSON), never rendered English."""
    return json.dumps(deadline.rule.as_stored(), ensure_ascii=False, sort_keys=True)


_DEADLINES: ByIdentity[dict[rules.CaseDates, tuple[rules.Deadline, ...]]] = ByIdentity()


def deadlines_of(version: AgreementVersion, dates: rules.CaseDates) -> list[rules.Deadline]:
    """`rules.case_deadlines(version, dates)`, remembered: the deadlines are a function of the agreement version
    (with its calendar and notices) and the case's dates alone, and the catalogue keeps one object per version
    until the stored agreements or notices change (`store.catalogue`), so a case page or transition does not walk
    the working-day calendar again for dates already seen (`core.memo.ByIdentity`; bounded)."""
    known = _DEADLINES.get(version, dict)
    found = known.get(dates)
    if found is None:
        found = tuple(rules.case_deadlines(version, dates))
        if len(known) >= 20_000:
            known.clear()
        known[dates] = found
    return list(found)


def recompute_deadlines(session: Session, case: ReadmissionCase, version: AgreementVersion) -> None:
    """Replace the case's `CaseDeadline` rows by what the rules give now (none once the case is closed)."""
    wanted: dict[str, rules.Deadline] = {}
    if case.state not in workflow.TERMINAL_STATES:
        try:
            computed = deadlines_of(version, snapshot_of(case).dates)
        except Conflict:
            computed = []  # a figure the agreement does not give: no date rather than a guess
        for deadline in computed:
            if deadline.kind == "extended_reply_due" and case.extension_requested_on is None:
                continue  # only a possibility until the extension is requested; shown on the case page, never flagged
            wanted[deadline.kind] = deadline
    existing = {row.kind: row for row in case.deadlines}
    for kind, row in existing.items():
        if kind not in wanted:
            case.deadlines.remove(row)
    for kind, deadline in wanted.items():
        current = existing.get(kind)
        if current is None:
            case.deadlines.append(CaseDeadline(kind=kind, due=deadline.due, rule=_stored_rule(deadline), verified=deadline.figure.citation.verified))
        else:
            current.due, current.rule, current.verified = deadline.due, _stored_rule(deadline), deadline.figure.citation.verified
    # The inbox filters and sorts on these columns instead of per-row sub-queries over the deadline rows;
    # this function is their only writer, so they change in the same transaction as the rows they summarise.
    earliest = min(wanted.values(), key=lambda d: (d.due, d.kind), default=None)
    case.next_due_on = earliest.due if earliest is not None else None
    case.next_due_kind = earliest.kind if earliest is not None else None


def application_of(case: ReadmissionCase) -> dict[str, Any]:
    """The case as the agreement's application particulars (for the completeness check and sharing)."""
    data: dict[str, Any] = {name: getattr(case, _COLUMN.get(name, name)) for name in APPLICATION_FIELDS}
    data["aliases"] = [a.alias for a in case.aliases] if (case.aliases or case.aliases_confirmed_none) else None
    data["photo"] = case.photo
    data["evidence"] = [{"evidence_type": d.evidence_type} for d in case.documents]
    return data


def missing_data(session: Session, case: ReadmissionCase) -> list[str]:
    return safeguards.missing_application_data(case_version(session, case), application_of(case))


def _clean_application(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate application fields; errors name the field, never the value."""
    problems: list[FieldError] = []
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if name not in APPLICATION_FIELDS:
            problems.append(FieldError(f"application.{name}", N_("unknown field")))
            continue
        if value is None or value == "":
            cleaned[name] = None
            continue
        if name in LIST_FIELDS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) and 0 < len(v.strip()) <= 300 for v in items) or len(items) > 20:
                problems.append(FieldError(f"application.{name}", N_("a list of up to 20 texts of 1-300 characters")))
                continue
            cleaned[name] = [v.strip() for v in items]
        elif not isinstance(value, str):
            problems.append(FieldError(f"application.{name}", N_("must be text")))
        elif name == "sex":
            if value not in {"F", "M", "X"}:
                problems.append(FieldError("application.sex", N_("must be F, M or X")))
            else:
                cleaned[name] = value
        elif name == "nationality":
            if not re.fullmatch(r"[A-Z]{3}", value):
                problems.append(FieldError("application.nationality", N_("ISO 3166-1 alpha-3 code")))
            else:
                cleaned[name] = value
        elif name == "name_in_characters":
            if not _HAN_RE.search(value) or len(value.strip()) > 40:
                problems.append(FieldError("application.name_in_characters", N_("the name in Chinese characters, surname first (at most 40)")))
            else:
                cleaned[name] = "".join(value.split())
        elif name == "passport_number":
            number = re.sub(r"[\s-]", "", value).upper()
            if not re.fullmatch(r"[A-Z0-9]{5,20}", number):
                problems.append(FieldError("application.passport_number", N_("5 to 20 letters and digits")))
            else:
                cleaned[name] = number
        elif name == "id_number":
            from passage.identity.service import resident_id_region

            number = re.sub(r"[\s-]", "", value).upper()
            if not re.fullmatch(r"\d{17}[\dX]", number):
                problems.append(FieldError("application.id_number", N_("18 characters: 17 digits and a digit or X")))
            elif resident_id_region(number) is None:
                problems.append(FieldError("application.id_number", N_("the check digit does not match; please check the number")))
            else:
                cleaned[name] = number
        elif name == "date_of_birth":
            if not _DATE_RE.fullmatch(value.strip()):
                problems.append(FieldError("application.date_of_birth", N_("YYYY, YYYY-MM or YYYY-MM-DD")))
                continue
            try:
                parts = [int(p) for p in value.strip().split("-")]
                dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
            except ValueError:
                problems.append(FieldError("application.date_of_birth", N_("not a calendar date")))
                continue
            cleaned[name] = value.strip()
        else:
            if len(value) > 2000:
                problems.append(FieldError(f"application.{name}", N_("at most 2000 characters")))
            else:
                cleaned[name] = value.strip()
    if problems:
        raise InvalidInput(N_("the application has invalid fields"), fields=problems)
    return cleaned


def _shared_fields(case: ReadmissionCase) -> set[str]:
    return {f for entry in case.share_log if entry.direction == "sent" for f in entry.fields}


# --- blind index of the person (search by name, date of birth, document number) ----------------------------

TOKEN_CONTEXT = "readmission.case.person"  # noqa: S105 - an HMAC context label, not a secret
"""Bound into every token with its kind, so tokens of another module or kind never match these."""


def index_person(case: ReadmissionCase) -> None:
    """Replace the case's blind-index tokens by those of its current person data (in the caller's transaction)."""
    session = object_session(case)
    if session is not None:
        # loading the aliases and tokens must not flush the pending edit early (it would bump the version twice)
        with session.no_autoflush:
            _index_person(case)
    else:
        _index_person(case)


def _index_person(case: ReadmissionCase) -> None:
    keys = person_search.person_keys(
        surname=case.surname, given_names=case.given_names, name_in_characters=case.name_in_characters,
        aliases=[a.alias for a in case.aliases], date_of_birth=case.date_of_birth,
        documents=[case.passport_number, case.id_number, case.travel_document_number],
    )
    wanted: set[tuple[str, str, str]] = set()
    for kind, values in keys.items():
        for value in values:
            key_id, token = blind_index.token(value, context=f"{TOKEN_CONTEXT}.{kind}")
            wanted.add((kind, key_id, token))
    existing = {(t.kind, t.key_id, t.token): t for t in case.search_tokens}
    for key, row in existing.items():
        if key not in wanted:
            case.search_tokens.remove(row)
    for kind, key_id, token in sorted(wanted - existing.keys()):
        case.search_tokens.append(CaseSearchToken(kind=kind, key_id=key_id, token=token))


def rebuild_blind_index(session: Session) -> int:
    """Re-compute every case's tokens under the active key (after a key rotation); returns the cases done."""
    done = 0
    for case in session.scalars(select(ReadmissionCase).where(ReadmissionCase.erased_on.is_(None)).execution_options(yield_per=500)):
        index_person(case)
        done += 1
    session.flush()
    audit.record(session, actor=None, action="readmission.rebuild_blind_index", entity_type=ENTITY, details={"cases": done})
    return done


def _tokens_for(values: Iterable[str], kind: str) -> list[str]:
    return blind_index.search_tokens(values, context=f"{TOKEN_CONTEXT}.{kind}")


def person_match(query: person_search.PersonQuery) -> Any:
    """A select of the case ids whose person matches every part of the query (name AND date AND numbers)."""
    parts: list[Any] = []
    token = CaseSearchToken.token
    if query.name_readings:
        readings: list[Any] = []
        for family, given in query.name_readings:
            # one surname reading AND one given-name reading: an INTERSECT of two index-only look-ups (a GROUP BY
            # over both token sets is several times slower on common names)
            sides = [select(CaseSearchToken.case_id).where(token.in_(_tokens_for(keys, kind))) for kind, keys in (("surname", family), ("given", given)) if keys]
            readings.append(sides[0] if len(sides) == 1 else intersect(*sides))
        if len(readings) == 1:
            parts.append(readings[0])
        else:
            # SQLite cannot nest a compound select directly inside another: each reading becomes a sub-query
            parts.append(union(*[select(sub.c.case_id) for sub in (r.subquery() for r in readings)]))
    if query.birth:
        parts.append(select(CaseSearchToken.case_id).where(token.in_(_tokens_for([query.birth], "birth"))))
    for number in query.documents:
        parts.append(select(CaseSearchToken.case_id).where(token.in_(_tokens_for([number], "document"))))
    if not parts:
        return select(CaseSearchToken.case_id).where(CaseSearchToken.id.is_(None))  # an empty query matches nothing
    if len(parts) == 1:
        return parts[0]
    # SQLite cannot nest a compound select directly inside another: each part becomes a sub-query
    wrapped = [select(sub.c.case_id) for sub in (part.subquery() for part in parts)]
    return intersect(*wrapped)


# --- creation and the application ----------------------------------------------------------------------


def create_draft(
    session: Session, *, actor: Actor, agreement_id: str, procedure: str = "readmission", accelerated: bool = False,
    application: Mapping[str, Any] | None = None, aliases_none: bool = False, today: dt.date | None = None,
) -> ReadmissionCase:
    """Open a draft for the actor's organisation, pinned to the agreement version in force today."""
    day = today or today_utc()
    require_permission(session, actor=actor, permission=Permission.READMISSION_CREATE, entity_type=ENTITY, operation="create")
    if not isinstance(actor, User) or workflow_role(actor) is not workflow.Role.requesting_officer or actor.organisation.level != OrganisationLevel.NATIONAL:
        raise refuse(session, actor=actor, entity_type=ENTITY, entity_id=None, operation="create", reason="role",
                     message=N_("only a requesting state's officer may open a case"), details={"allowed_roles": ["requesting_officer"]},
                     extra={"allowed_roles": ["requesting_officer"]})
    if procedure not in workflow.FLOWS:
        raise InvalidInput(N_("unknown procedure"), fields=[FieldError("procedure", N_("readmission or transit"))])
    agreement = _catalogue(session).get(agreement_id)
    if agreement is None:
        raise InvalidInput(N_("unknown agreement"), fields=[FieldError("agreement_id", N_("not in the catalogue"))])
    version = agreement.version_on(day) or agreement.latest()
    if procedure == "transit" and version.transit is None:
        raise InvalidInput(N_("this agreement has no transit procedure"), fields=[FieldError("procedure", N_("no transit procedure in the agreement"))])
    if procedure == "readmission" and version.readmission is None:
        raise InvalidInput(N_("this agreement has no readmission procedure"), fields=[FieldError("procedure", N_("no readmission procedure in the agreement"))])
    if accelerated and (procedure != "readmission" or version.readmission is None or version.readmission.accelerated is None):
        raise InvalidInput(N_("this agreement has no accelerated procedure"), fields=[FieldError("accelerated", N_("not provided by the agreement"))])
    central = session.scalars(
        select(Organisation).where(Organisation.country == version.requested_state, Organisation.level == OrganisationLevel.NATIONAL).order_by(Organisation.created_at)
    ).first()
    if central is None:
        raise InvalidInput(N_("the requested state has no central authority on the platform"), fields=[FieldError("agreement_id", N_("no central authority for the requested state"))])
    cleaned = _clean_application(application or {})
    if not any(cleaned.get(name) for name in IDENTIFYING_FIELDS):
        # an empty "Save draft" would leave a case nobody can find or finish
        raise InvalidInput(N_("enter at least the person's name or date of birth before saving"), fields=[
            FieldError("application.surname", N_("the surname, the name in characters or the date of birth is needed to save a draft")),
        ])
    country = actor.organisation.country
    case = ReadmissionCase(
        reference=f"{country}-{day.year}-{uuid.uuid4().hex[:6].upper()}",
        procedure=procedure, state=workflow.INITIAL_STATE[procedure].value, agreement_slug=agreement.id, agreement_version=version.version,
        accelerated=accelerated, requesting_state=country, requested_state=version.requested_state, requesting_org_id=actor.organisation_id,
        requested_central_org_id=central.id, created_by=actor.id, aliases_confirmed_none=aliases_none,
    )
    for name, value in cleaned.items():
        setattr(case, _COLUMN.get(name, name), value)
    index_person(case)
    session.add(case)
    _event(case, actor=actor, action="create", from_state=None, to_state=case.state, day=today, details={"fields": sorted(cleaned)})
    session.flush()
    audit.record(session, actor=actor, action="readmission.create", entity_type=ENTITY, entity_id=case.id,
                 details={"fields": sorted(cleaned), "agreement": agreement.id, "version": version.version})
    return case


def edit_application(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, changes: Mapping[str, Any], aliases_none: bool | None = None, today: dt.date | None = None) -> ReadmissionCase:
    """Change application fields; after submission, a change to data already shared is notified (correction notice)."""
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="edit") as op:
        case = op.record
        cleaned = _clean_application(changes)
        changed = sorted(name for name, value in cleaned.items() if getattr(case, _COLUMN.get(name, name)) != value)
        for name in changed:
            setattr(case, _COLUMN.get(name, name), cleaned[name])
        if aliases_none is not None and aliases_none != case.aliases_confirmed_none:
            case.aliases_confirmed_none = aliases_none
            changed.append("aliases")
        notice = _correction_notice(session, case, changed, today)
        index_person(case)
        _touch(case)
        _event(case, actor=actor, action="edit", from_state=case.state, to_state=case.state, day=today, details={"fields": changed, "notice": bool(notice)})
        op.note(fields=changed, correction_notice=notice.id if notice else None)
    return case  # type: ignore[no-any-return]


def _correction_notice(session: Session, case: ReadmissionCase, changed: Sequence[str], today: dt.date | None) -> CorrectionNotice | None:
    if case.submitted_on is None or not changed:
        return None
    notice = safeguards.correction_notice(case_version(session, case), case_reference=case.reference, changed_fields=changed, issued_on=today or today_utc(), previously_shared=_shared_fields(case))
    if notice is None:
        return None
    row = CorrectionNotice(kind=notice.kind.value, fields=list(notice.fields), counterpart_org_id=case.requested_central_org_id, issued_on=notice.issued_on)
    case.notices.append(row)
    session.flush()
    return row


def add_alias(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, alias: str, kind: str = "alias", today: dt.date | None = None) -> CaseAlias:
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="add_alias") as op:
        case = op.record
        problems = []
        if not alias.strip() or len(alias) > 300:
            problems.append(FieldError("alias", N_("1-300 characters")))
        if kind not in ALIAS_KINDS:
            problems.append(FieldError("kind", T_("one of {choices}", choices=list(ALIAS_KINDS))))
        if problems:
            raise InvalidInput(N_("invalid alias"), fields=problems)
        row = CaseAlias(alias=alias.strip(), kind=kind)
        case.aliases.append(row)
        index_person(case)
        _correction_notice(session, case, ["aliases"], today)
        _touch(case)
        _event(case, actor=actor, action="add_alias", from_state=case.state, to_state=case.state, day=today, details={"kind": kind})
        session.flush()
        op.note(alias_id=row.id, kind=kind)
    return row


def set_photo(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, data: bytes, declared_media_type: str | None, today: dt.date | None = None) -> ReadmissionCase:
    """The person's photo (JPEG or PNG, checked from the bytes, encrypted at rest)."""
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="set_photo") as op:
        case = op.record
        checked = evidence_rules.check_upload(data, declared_media_type=declared_media_type, max_bytes=get_settings().max_upload_bytes)
        if checked.media_type not in PHOTO_MEDIA_TYPES:
            from passage.core.errors import UnsupportedMediaType

            raise UnsupportedMediaType(N_("a photo must be JPEG or PNG"), extra={"allowed": list(PHOTO_MEDIA_TYPES)})
        case.photo = data
        _correction_notice(session, case, ["photo"], today)
        _touch(case)
        _event(case, actor=actor, action="set_photo", from_state=case.state, to_state=case.state, day=today, details={"sha256": checked.sha256})
        op.note(size=checked.size, sha256=checked.sha256)
    return case  # type: ignore[no-any-return]


def upload_evidence(
    session: Session, *, actor: Actor, case_id: str, expected_version: int | None, evidence_type: str, data: bytes,
    declared_media_type: str | None = None, filename: str | None = None, today: dt.date | None = None,
) -> EvidenceDocument:
    """Store a document classified into the agreement's evidence types: type from the bytes (415), size (413),
    SHA-256 recorded, content encrypted at rest. The requesting state or the routed province may add evidence."""
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="upload_evidence") as op:
        case = op.record
        checked = evidence_rules.check_upload(data, declared_media_type=declared_media_type, max_bytes=get_settings().max_upload_bytes)
        kind = evidence_rules.classify(case_version(session, case), evidence_type)
        document = EvidenceDocument(
            evidence_type=kind.code, category=kind.category.value, media_type=checked.media_type, size=checked.size, sha256=checked.sha256,
            original_filename=(filename or "")[:255] or None, content=data, uploaded_by=actor.id,
        )
        case.documents.append(document)
        _touch(case)
        session.flush()
        _event(case, actor=actor, action="upload_evidence", from_state=case.state, to_state=case.state, day=today, details={"document_id": document.id, "evidence_type": kind.code})
        op.note(document_id=document.id, evidence_type=kind.code, size=checked.size, sha256=checked.sha256)
    return document


def read_evidence(session: Session, *, actor: Actor, case_id: str, document_id: str) -> tuple[EvidenceDocument, bytes]:
    """The decrypted file, re-checked against its SHA-256; audited as a read."""
    case = load_case(session, actor=actor, case_id=case_id)
    require_permission(session, actor=actor, permission=Permission.READMISSION_READ, entity_type=ENTITY, entity_id=case.id, operation="read_evidence")
    document = next((d for d in case.documents if d.id == document_id), None)
    if document is None or document.content is None:
        raise NotFound(T_("document {document_id} not found", document_id=document_id))
    if not evidence_rules.verify_checksum(document.content, document.sha256):
        raise Conflict(N_("the stored file does not match its checksum"), extra={"document_id": document_id})
    audit.record(session, actor=actor, action="read", entity_type="readmission_evidence_document", entity_id=document.id, details={"case_id": case.id})
    return document, document.content


# --- transitions ----------------------------------------------------------------------------------------


def transition(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, action: str, payload: Mapping[str, Any] | None = None, today: dt.date | None = None) -> ReadmissionCase:
    """Take one state-machine action on a case (the deadline job acts as `DEADLINE_JOB`).

    `workflow.decide` is the rule behind `allowed_operations` for transitions; its `Forbidden` takes the
    foundation's refusal path. The effect of the action is the handler registered for it in `EFFECTS`."""
    payload = dict(payload or {})
    day = today or today_utc()
    case = load_case(session, actor=actor, case_id=case_id)
    require_permission(session, actor=actor, permission=Permission.READMISSION_ACT, entity_type=ENTITY, entity_id=case.id, operation=action)
    role, side = workflow_role(actor), side_of(actor, case)
    check_version(case, expected_version)
    skip_empty_collections(session, case, (*CASE_PAGE_COLLECTIONS, "deadlines"))
    version = case_version(session, case)
    try:
        decision = workflow.decide(
            case.procedure, workflow.State(case.state), action, role=role, side=side, payload=payload,
            active_hold_kinds=[h.kind for h in case.holds if h.lifted_on is None],
            missing_application_data=missing_data(session, case) if action == "submit" else (),
            extension_already_requested=case.extension_requested_on is not None,
        )
    except Forbidden as error:
        raise _refuse(session, actor=actor, case_id=case_id, action=action, error=error) from None
    with operation(session, actor=actor, action=f"readmission.{action}", entity_type=ENTITY, record=case) as op:
        handler = EFFECTS.get(decision.transition.action)
        fields = handler(Effect(session, case, version, decision, payload, actor, day)) if handler is not None else []
        if "travel_document_number" in fields:
            index_person(case)
        case.state = decision.to_state.value
        if "case_closed" in decision.effects:
            case.closed_on = day
        recompute_deadlines(session, case, version)
        _touch(case)
        _event(case, actor=actor, action=action, from_state=decision.from_state.value, to_state=decision.to_state.value, day=today, details={"fields": sorted(fields)})
        op.note(action=action, **{"from": decision.from_state.value, "to": decision.to_state.value}, fields=sorted(fields), effects=list(decision.effects))
    return case


def _as_date(value: Any, path: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(N_("not a date"), fields=[FieldError(path, N_("YYYY-MM-DD"))]) from None


# --- the effects of transitions: one handler per action ---------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """What a transition's handler works on; it changes the case and returns the names of the fields it set."""

    session: Session
    case: ReadmissionCase
    version: AgreementVersion
    decision: workflow.Decision
    payload: dict[str, Any]
    actor: Actor
    day: dt.date


EffectHandler = Callable[[Effect], list[str]]
EFFECTS: dict[str, EffectHandler] = {}
"""The handler of each transition action; an action without one only moves the state."""


def _effect(*actions: str) -> Callable[[EffectHandler], EffectHandler]:
    def register(handler: EffectHandler) -> EffectHandler:
        for action in actions:
            if action in EFFECTS:
                raise ValueError(f"two effect handlers for {action}")
            EFFECTS[action] = handler
        return handler

    return register


@_effect("submit", "submit_transit")
def _submitted(e: Effect) -> list[str]:
    e.case.submitted_on = e.day
    if e.decision.transition.action == "submit_transit":
        e.case.acknowledged_on = e.day
    _log_share(e.session, e.case, e.version, actor=e.actor, direction="sent", day=e.day)
    return ["submitted_on"]


@_effect("acknowledge")
def _acknowledged(e: Effect) -> list[str]:
    e.case.acknowledged_on = e.day
    _log_share(e.session, e.case, e.version, actor=e.actor, direction="received", day=e.day)
    return ["acknowledged_on"]


@_effect("route")
def _routed(e: Effect) -> list[str]:
    province = e.session.get(Organisation, str(e.payload["province_org_id"]))
    central = e.session.get(Organisation, e.case.requested_central_org_id)
    if province is None or province.level != OrganisationLevel.PROVINCIAL or central is None or province.country != central.country:
        raise InvalidInput(N_("not a provincial bureau of the requested state"), fields=[FieldError("province_org_id", N_("a provincial organisation of the requested state"))])
    e.case.routed_province_org_id = province.id
    e.case.province_code = province.province
    e.case.routings.append(CaseRouting(province_org_id=province.id, province_code=province.province or "", routed_by=e.actor.id, routed_at=_at(e.day)))
    return ["routed_province_org_id"]


@_effect("verify_identity", "record_not_verified")
def _verification_recorded(e: Effect) -> list[str]:
    method = str(e.payload["method"])
    if method not in VERIFICATION_METHODS:
        raise InvalidInput(N_("unknown verification method"), fields=[FieldError("method", T_("one of {choices}", choices=list(VERIFICATION_METHODS)))])
    notes = str(e.payload.get("notes") or e.payload.get("reason") or "")[:2000] or None
    outcome = "verified" if e.decision.transition.action == "verify_identity" else "not_verified"
    e.case.verifications.append(VerificationRecord(method=method, outcome=outcome, notes=notes, recorded_by=e.actor.id))
    return ["verification"]


@_effect("request_extension")
def _extension_requested(e: Effect) -> list[str]:
    e.case.extension_requested_on = e.day
    return ["extension_requested_on"]


@_effect("accept")
def _accepted(e: Effect) -> list[str]:
    e.case.replied_on = e.case.accepted_on = e.day
    return ["replied_on", "accepted_on"]


@_effect("refuse", "refuse_transit", "revoke_transit")
def _refused(e: Effect) -> list[str]:
    reason = str(e.payload["reason"])
    if e.decision.transition.action == "refuse" and reason not in REFUSAL_REASONS:
        raise InvalidInput(N_("unknown refusal reason"), fields=[FieldError("reason", T_("one of {choices}", choices=list(REFUSAL_REASONS)))])
    e.case.refusal_reason = reason[:80]
    e.case.replied_on = e.case.replied_on or e.day
    return ["refusal_reason", "replied_on"]


@_effect("deem_accepted")
def _deemed_accepted(e: Effect) -> list[str]:
    e.case.accepted_on = _as_date(e.payload["accepted_on"], "accepted_on") if e.payload.get("accepted_on") else e.day
    return ["accepted_on"]


@_effect("issue_travel_document", "reissue_travel_document")
def _travel_document_issued(e: Effect) -> list[str]:
    number = str(e.payload["document_number"]).strip()
    if not re.fullmatch(r"[A-Za-z0-9-]{4,30}", number):
        raise InvalidInput(N_("invalid document number"), fields=[FieldError("document_number", N_("4-30 letters, digits or hyphens"))])
    e.case.travel_document_number = number
    e.case.travel_document_issued_on = _as_date(e.payload["issued_on"], "issued_on") if e.payload.get("issued_on") else e.day
    e.case.travel_document_reissue_requested_on = None
    fields = ["travel_document_number", "travel_document_issued_on"]
    if "transfer_schedule_dropped" in e.decision.effects:
        _drop_schedule(e.case)
        fields.append("transfer_date")
    return fields


@_effect("schedule_transfer", "reschedule_transfer")
def _transfer_scheduled(e: Effect) -> list[str]:
    transfer_date = _as_date(e.payload["transfer_date"], "transfer_date")
    rules.check_transfer_date(e.version, snapshot_of(e.case).dates, transfer_date, today=e.day)
    code = str(e.payload["place_code"]).strip().upper()
    if not re.fullmatch(r"[A-Z0-9-]{3,20}", code):
        raise InvalidInput(N_("invalid place code"), fields=[FieldError("place_code", N_("IATA airport code or crossing-point code"))])
    escorts = e.payload.get("escorts")
    if escorts is not None and not isinstance(escorts, list):
        # a count, typed in the form or sent by the API: one rule for both (before, an API value that was not an int
        # was dropped without a word)
        escorts = [{"count": whole_number("" if isinstance(escorts, bool) else str(escorts), field="escorts", maximum=MAX_ESCORTS)}]
    case = e.case
    case.transfer_date, case.transfer_place_kind, case.transfer_place_code = transfer_date, str(e.payload["place_kind"]), code
    case.transfer_flight = str(e.payload.get("flight") or "")[:40] or None
    case.transfer_escorts = escorts if isinstance(escorts, list) else None
    return ["transfer_date", "transfer_place", "flight", "escorts"]


@_effect("suspend_transfer")
def _transfer_suspended(e: Effect) -> list[str]:
    _drop_schedule(e.case)
    return ["transfer_date"]


@_effect("confirm_transfer", "complete_transit")
def _transferred(e: Effect) -> list[str]:
    e.case.transferred_on = e.day
    return ["transferred_on"]


@_effect("consent_transit")
def _transit_consented(e: Effect) -> list[str]:
    e.case.replied_on = e.case.accepted_on = e.day
    e.case.transfer_place_kind, e.case.transfer_place_code = "border_crossing_point", str(e.payload["border_crossing_point"]).strip().upper()[:40]
    return ["accepted_on", "transfer_place"]


def _drop_schedule(case: ReadmissionCase) -> None:
    case.transfer_date = None
    case.transfer_place_kind = case.transfer_place_code = case.transfer_flight = None
    case.transfer_escorts = None


def _log_share(session: Session, case: ReadmissionCase, version: AgreementVersion, *, actor: Actor, direction: str, day: dt.date) -> ShareLogEntry:
    """Log what crosses the border: the whitelisted field names and the digest of the package (never values)."""
    payload = {"case_reference": case.reference, "agreement_id": case.agreement_slug, "procedure": case.procedure, "accelerated": case.accelerated,
               "submitted_on": case.submitted_on, **application_of(case), "vulnerability_flags": [f.kind for f in case.flags if f.active]}
    package = safeguards.share_payload(version, {k: v for k, v in payload.items() if v not in (None, "", [])})
    digest = hashlib.sha256(json.dumps(package.shared, sort_keys=True, default=lambda v: v.hex() if isinstance(v, bytes) else str(v)).encode()).hexdigest()
    counterpart = case.requested_central_org_id if direction == "sent" else case.requesting_org_id
    entry = ShareLogEntry(direction=direction, counterpart_org_id=counterpart, fields=sorted(package.shared), withheld_fields=list(package.withheld), payload_sha256=digest, actor_id=(case.created_by or "") if is_system(actor) else actor.id, occurred_at=_at(day))
    case.share_log.append(entry)
    return entry


def share_case(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, today: dt.date | None = None) -> ShareLogEntry:
    """Send the current application again (e.g. after a correction), through the agreement's whitelist."""
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="share") as op:
        case = op.record
        if case.submitted_on is None:
            raise Conflict(N_("submit the case first"), extra={"state": case.state, "allowed_transitions": workflow.allowed_actions(case.procedure, workflow.State(case.state))})
        entry = _log_share(session, case, case_version(session, case), actor=actor, direction="sent", day=today or today_utc())
        _touch(case)
        session.flush()
        op.note(share_id=entry.id, fields=entry.fields, withheld=entry.withheld_fields)
    return entry


def acknowledge_notice(session: Session, *, actor: Actor, case_id: str, notice_id: str) -> CorrectionNotice:
    """The other side confirms it applied a correction or erasure notice."""
    case = load_case(session, actor=actor, case_id=case_id)
    notice = next((n for n in case.notices if n.id == notice_id), None)
    if notice is None:
        raise NotFound(T_("notice {notice_id} not found", notice_id=notice_id))
    if notice.counterpart_org_id != actor.organisation_id:
        raise refuse(session, actor=actor, entity_type=ENTITY, entity_id=case_id, operation="acknowledge_notice", reason="organisation",
                     message=N_("only the notified organisation may acknowledge a notice"))
    if notice.acknowledged_at is None:
        notice.acknowledged_at = utcnow()
        audit.record(session, actor=actor, action="readmission.acknowledge_notice", entity_type=ENTITY, entity_id=case.id,
                     details={"notice_id": notice.id, "kind": notice.kind})
    return notice


# --- safeguards -----------------------------------------------------------------------------------------


def place_hold(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, kind: str, reason: str, evidence_document_ids: Sequence[str] = (), today: dt.date | None = None) -> TransferHold:
    """A pending appeal, asylum claim, legal stay or medical reason: blocks scheduling until lifted."""
    day = today or today_utc()
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="place_hold") as op:
        case = op.record
        hold = safeguards.new_hold(kind, reason=reason[:2000], placed_on=day, evidence_document_ids=evidence_document_ids)
        known = {d.id for d in case.documents}
        unknown = [i for i, doc in enumerate(hold.evidence_document_ids) if doc not in known]
        if unknown:
            raise InvalidInput(N_("unknown evidence documents"), fields=[FieldError(f"evidence_document_ids.{i}", N_("not a document of this case")) for i in unknown])
        row = TransferHold(kind=hold.kind.value, reason=hold.reason, evidence_document_ids=list(hold.evidence_document_ids), placed_on=day, placed_by=actor.id)
        case.holds.append(row)
        _touch(case)
        session.flush()
        _event(case, actor=actor, action="place_hold", from_state=case.state, to_state=case.state, day=today, details={"hold_id": row.id, "kind": row.kind})
        op.note(hold_id=row.id, kind=row.kind)
    return row


def lift_hold(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, hold_id: str, reason: str, today: dt.date | None = None) -> TransferHold:
    day = today or today_utc()
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="lift_hold") as op:
        case = op.record
        row = next((h for h in case.holds if h.id == hold_id), None)
        if row is None:
            raise NotFound(T_("hold {hold_id} not found", hold_id=hold_id))
        lifted = safeguards.lift_hold(safeguards.Hold(safeguards.HoldKind(row.kind), row.reason, row.placed_on), lifted_on=day, reason=reason[:2000]) if row.lifted_on is None else None
        if lifted is None:
            raise Conflict(N_("the hold is already lifted"), extra={"hold_id": hold_id})
        row.lifted_on, row.lifted_by, row.lift_reason = day, actor.id, lifted.lift_reason
        _touch(case)
        _event(case, actor=actor, action="lift_hold", from_state=case.state, to_state=case.state, day=today, details={"hold_id": row.id, "kind": row.kind})
        op.note(hold_id=row.id, kind=row.kind)
    return row


def set_flag(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, kind: str, note: str | None = None, active: bool = True, today: dt.date | None = None) -> CaseFlag:
    """Raise (or clear) a vulnerability or non-refoulement flag; any officer on the case may, everyone on it sees it."""
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="set_flag") as op:
        case = op.record
        if kind not in FLAG_KINDS:
            raise InvalidInput(N_("unknown flag"), fields=[FieldError("kind", T_("one of {choices}", choices=list(FLAG_KINDS)))])
        row = next((f for f in case.flags if f.kind == kind), None)
        if row is None:
            if not active:
                raise NotFound(T_("flag {kind} is not set", kind=kind))
            row = CaseFlag(kind=kind, note=(note or "")[:2000] or None, raised_by=actor.id, active=True)
            case.flags.append(row)
        else:
            row.active = active
            if note:
                row.note = note[:2000]
        _touch(case)
        name = "set_flag" if active else "clear_flag"
        _event(case, actor=actor, action=name, from_state=case.state, to_state=case.state, day=today, details={"kind": kind})
        op.action = f"readmission.{name}"
        op.note(kind=kind)
    return row


# --- identification (the province's registry step) -----------------------------------------------------


CANDIDATE_DETAIL_KEYS = ("family_name", "given_name", "romanisations", "sex", "birth_date", "lunar_birth_date", "birth_place", "birth_provinces",
                         "id_number", "evidence", "match_probability", "decision_hint", "log2_bf")
"""What the decision screen shows of a candidate's registry record (stored encrypted with the candidate list)."""


def record_candidates(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, candidates: Sequence[Mapping[str, Any]], source: str, today: dt.date | None = None) -> VerificationRecord:
    """Store a ranked candidate list from a registry search (each: registry_id, rank, score, explanation).

    The list is stored encrypted as an `inconclusive` registry-match verification until the officer
    confirms or rejects candidates (`decide_candidate`)."""
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="record_candidates") as op:
        case = op.record
        cleaned = []
        for i, item in enumerate(candidates):
            registry_id, score = item.get("registry_id"), item.get("score")
            if not isinstance(registry_id, str) or not registry_id or not isinstance(score, (int, float)):
                raise InvalidInput(N_("invalid candidate"), fields=[FieldError(f"candidates.{i}", N_("registry_id (text) and score (number) are required"))])
            details = {k: item[k] for k in CANDIDATE_DETAIL_KEYS if k in item}
            cleaned.append({**details, "registry_id": registry_id[:64], "rank": int(item.get("rank", i + 1)), "score": float(score),
                            "explanation": item.get("explanation", {}), "decision": None, "decided_by": None})
        row = VerificationRecord(method="registry_match", outcome="inconclusive", notes=source[:200], candidates=cleaned, recorded_by=actor.id)
        case.verifications.append(row)
        _touch(case)
        session.flush()
        _event(case, actor=actor, action="record_candidates", from_state=case.state, to_state=case.state, day=today, details={"verification_id": row.id, "count": len(cleaned)})
        op.note(verification_id=row.id, count=len(cleaned))
    return row


def decide_candidate(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, verification_id: str, registry_id: str, decision: str, today: dt.date | None = None) -> VerificationRecord:
    """Confirm or reject one candidate; confirming one marks the record `match_confirmed` (the officer then verifies)."""
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="decide_candidate") as op:
        case = op.record
        if decision not in {"confirmed", "rejected"}:
            raise InvalidInput(N_("invalid decision"), fields=[FieldError("decision", N_("confirmed or rejected"))])
        row = next((v for v in case.verifications if v.id == verification_id and v.candidates is not None), None)
        if row is None:
            raise NotFound(T_("verification {verification_id} not found", verification_id=verification_id))
        candidates = [dict(c) for c in row.candidates or []]
        target = next((c for c in candidates if c["registry_id"] == registry_id), None)
        if target is None:
            raise NotFound(N_("candidate not found"))
        if target.get("decision"):
            raise Conflict(N_("this candidate is already decided"), extra={"verification_id": verification_id, "decision": target["decision"]})
        if decision == "confirmed" and any(c.get("decision") == "confirmed" and c is not target for c in candidates):
            raise Conflict(N_("another candidate is already confirmed; reject it first"), extra={"verification_id": verification_id})
        target["decision"], target["decided_by"] = decision, actor.id
        closed = 0
        if decision == "confirmed":
            # one person is one registry record: confirming one closes the others still open
            for other in candidates:
                if other is not target and not other.get("decision"):
                    other["decision"], other["decided_by"] = "closed", actor.id
                    closed += 1
        row.candidates = candidates
        row.outcome = "match_confirmed" if any(c.get("decision") == "confirmed" for c in candidates) else "inconclusive"
        _touch(case)
        _event(case, actor=actor, action=f"candidate_{decision}", from_state=case.state, to_state=case.state, day=today, details={"verification_id": row.id})
        op.action = f"readmission.candidate_{decision}"
        op.note(verification_id=row.id, rank=target["rank"], closed_others=closed)
    return row


# --- reads and lists ------------------------------------------------------------------------------------


CASE_PAGE_COLLECTIONS = ("aliases", "documents", "holds", "flags", "verifications", "events", "share_log", "notices")
"""The related records a case's page and its API answer show."""


def read_case(session: Session, *, actor: Actor, case_id: str) -> ReadmissionCase:
    """Load a case for display; the read of personal data is audited."""
    case = load_case(session, actor=actor, case_id=case_id)
    require_permission(session, actor=actor, permission=Permission.READMISSION_READ, entity_type=ENTITY, entity_id=case.id, operation="read")
    audit.record(session, actor=actor, action="read", entity_type=ENTITY, entity_id=case.id)
    skip_empty_collections(session, case, CASE_PAGE_COLLECTIONS)
    return case


@dataclass(frozen=True)
class CaseFilter:
    state: str | None = None
    procedure: str | None = None
    agreement_id: str | None = None
    requesting_state: str | None = None
    province: str | None = None
    q: str | None = None
    """Searches the reference, and the person through the blind index: any romanisation or the characters of a
    name, a date of birth, a passport, ID or travel document number (`person_search.parse_query`)."""
    due: str | None = None
    """`overdue`, `soon` or `flagged` (either)."""
    needs_action: bool = False
    sort: str = "-updated"
    offset: int = 0
    limit: int = 25


EXACT_COUNT_UP_TO = 1000
"""The inbox counts exactly up to this many cases; above it PostgreSQL's estimate is shown as "about N"."""

SORTS = {
    "reference": ReadmissionCase.reference, "state": ReadmissionCase.state, "updated": ReadmissionCase.updated_at,
    "submitted": ReadmissionCase.submitted_on, "created": ReadmissionCase.created_at,
}


def _due_soon(today: dt.date) -> Any:
    """A deadline falls within the next `SOON_DAYS` days (today included).

    Exact from `next_due_on` unless the earliest deadline is already past: only then can a later deadline
    be the soon one, and only those (few) rows look at their deadline rows."""
    horizon = today + dt.timedelta(days=SOON_DAYS)
    later = exists().where(CaseDeadline.case_id == ReadmissionCase.id, CaseDeadline.due >= today, CaseDeadline.due <= horizon)
    return or_(ReadmissionCase.next_due_on.between(today, horizon), and_(ReadmissionCase.next_due_on < today, later))


def actionable_states(user: Actor) -> dict[str, list[str]]:
    """States in which the user's role can take a transition, per procedure (side checked per case)."""
    role = workflow_role(user)
    result: dict[str, list[str]] = {}
    for procedure, transitions in workflow.FLOWS.items():
        result[procedure] = sorted({s.value for t in transitions if role in t.roles and t.action not in {"withdraw", "cancel", "cancel_transit", "withdraw_transit"} for s in t.sources})
    return result


SUMMARY_COLUMNS = (
    ReadmissionCase.id, ReadmissionCase.reference, ReadmissionCase.procedure, ReadmissionCase.state, ReadmissionCase.agreement_slug,
    ReadmissionCase.agreement_version, ReadmissionCase.requesting_state, ReadmissionCase.province_code, ReadmissionCase.submitted_on,
    ReadmissionCase.updated_at, ReadmissionCase.next_due_on, ReadmissionCase.next_due_kind, ReadmissionCase.version,
)
"""What an inbox row shows without the person (`list_cases(with_person=False)`, the API's `CaseSummaryOut`): no
encrypted column is read or decrypted, and touching one raises instead of loading it row by row."""


def list_cases(session: Session, *, actor: Actor, filters: CaseFilter, today: dt.date | None = None, audit_list: bool = True,
               with_person: bool = True) -> tuple[list[ReadmissionCase], RowCount, dict[str, dict[str, Any]]]:
    """Cases in scope with filters, sorting and paging; returns (rows, total, {case_id: {overdue, soon, next_due}}).

    `with_person=False` reads only `SUMMARY_COLUMNS` of each row (the personal columns stay encrypted on disk and
    are never decrypted for a list that does not show them).

    The total is exact up to `EXACT_COUNT_UP_TO` cases and the planner's estimate above it on PostgreSQL
    (`core.db.count_rows`): deep pages and wide scopes do not read every case in scope to count them."""
    day = today or today_utc()
    require_permission(session, actor=actor, permission=Permission.READMISSION_READ, entity_type=ENTITY, operation="list")
    statement = _visible_filter(scoped_select(ReadmissionCase, actor), actor)
    if filters.state:
        statement = statement.where(ReadmissionCase.state == filters.state)
    if filters.procedure:
        statement = statement.where(ReadmissionCase.procedure == filters.procedure)
    if filters.agreement_id:
        statement = statement.where(ReadmissionCase.agreement_slug == filters.agreement_id)
    if filters.requesting_state:
        statement = statement.where(ReadmissionCase.requesting_state == filters.requesting_state.upper())
    if filters.province:
        statement = statement.where(ReadmissionCase.province_code == filters.province)
    searched: list[str] = []
    matched = False
    if filters.q:
        person = person_search.parse_query(filters.q)
        needle = filters.q.strip().upper()[:40]
        # the references that contain the text, read from the narrow unique index on `reference` (a LIKE on the
        # case table itself makes SQLite read every wide, encrypted row: 150 ms at 100,000 cases)
        contains_text = ReadmissionCase.reference.contains(needle, autoescape=True)
        by_reference = ReadmissionCase.reference.in_(select(ReadmissionCase.reference).where(contains_text))
        # a reference has no spaces: a text with one (a name, a name and a date) is not looked for in references
        in_references = " " not in needle
        if person.empty:
            statement = statement.where(by_reference)
            searched = ["reference"]
        else:
            # ids from the narrow reference index and from the token index, never an OR over the wide case rows
            # (that would scan every encrypted row: seconds at 100,000 cases)
            by_person = select(person_match(person).subquery().c.case_id)
            # UNION ALL streams under the LIMIT below (a repeated id does not change an IN)
            sources = union_all(select(ReadmissionCase.id).where(by_reference), by_person) if in_references else by_person
            # how many cases the text matches, counted in the narrow indexes up to DENSE_SEARCH
            dense = (session.scalar(select(func.count()).select_from(sources.limit(DENSE_SEARCH).subquery())) or 0) >= DENSE_SEARCH
            if dense:
                # many matches: each row of the inbox order is tested (the reference on the row itself, the person
                # through the token index) and the walk stops at the page's end, so the page holds the first
                # matches in the sort order; sorting every match would read them all (20 ms at 5,000 on PostgreSQL)
                row_matches = ReadmissionCase.id.in_(by_person)
                statement = statement.where(or_(contains_text, row_matches) if in_references else row_matches)
            else:
                # few matches: their ids (index-only look-ups), then the rows in scope among them, sorted whole with
                # their exact count (below); walking the whole case table in scope order hoping to fill a page would
                # read every row for a rare name (seconds at 100,000 cases)
                matches = sources.limit(DENSE_SEARCH).subquery()
                statement = statement.where(ReadmissionCase.id.in_(select(matches.c[0])))
                matched = True
            searched = ["reference", *person.kinds] if in_references else person.kinds
    if filters.due == "overdue":
        statement = statement.where(ReadmissionCase.next_due_on < day)
    elif filters.due == "soon":
        statement = statement.where(_due_soon(day))
    elif filters.due == "flagged":
        # overdue or soon: some deadline on or before the horizon, i.e. the earliest one is
        statement = statement.where(ReadmissionCase.next_due_on <= day + dt.timedelta(days=SOON_DAYS))
    if filters.needs_action:
        states = actionable_states(actor)
        role = workflow_role(actor)
        sides = []
        if role is workflow.Role.requesting_officer:
            sides.append(ReadmissionCase.requesting_org_id == actor.organisation_id)
        elif role is workflow.Role.provincial_officer:
            sides.append(ReadmissionCase.routed_province_org_id == actor.organisation_id)
        elif role is workflow.Role.central_officer:
            sides.append(ReadmissionCase.requested_central_org_id == actor.organisation_id)
        statement = statement.where(or_(*[and_(ReadmissionCase.procedure == p, ReadmissionCase.state.in_(s)) for p, s in states.items() if s]), *sides)
        if role is workflow.Role.requesting_officer:
            # the requesting state acts in drafts and after the document is issued, not while the other side works
            statement = statement.where(ReadmissionCase.state.in_(["draft", "transit_draft", "travel_document_issued", "transfer_scheduled"]))
    ids_statement = statement.with_only_columns(ReadmissionCase.id)
    key = filters.sort.lstrip("-")
    descending = filters.sort.startswith("-")
    order: list[Any]
    if key == "due":
        order = [ReadmissionCase.next_due_on.is_(None), ReadmissionCase.next_due_on.desc() if descending else ReadmissionCase.next_due_on.asc()]
    else:
        column = SORTS.get(key, ReadmissionCase.updated_at)
        order = [column.desc() if descending else column.asc()]
    # ties by id in the sort's direction, so that an index on (column, id) delivers the page in order
    tie = ReadmissionCase.id.desc() if descending and key != "due" else ReadmissionCase.id.asc()
    # Without the person, the page's rows are read with the page itself (13 narrow columns); with it, the page is
    # sorted as ids only (never the wide encrypted rows) and those rows read after.
    paged: Select[Any] = statement.options(load_only(*SUMMARY_COLUMNS, raiseload=True)) if not with_person else ids_statement
    if matched:
        # a search with fewer than DENSE_SEARCH matches: the page and the exact total in ONE statement
        # (`count(*) OVER ()` over the matches in scope); a count, an estimate and a page were three scans of the
        # same rows, two thirds of a broad search's time on PostgreSQL
        page = session.execute(paged.add_columns(func.count().over()).order_by(*order, tie).offset(filters.offset).limit(filters.limit)).all()
        found = [row[0] for row in page]
        # a page past the end has no row to carry the total: count it then (rare; the pager never links there)
        total = RowCount(page[0][1]) if page else count_rows(session, ids_statement, exact_up_to=DENSE_SEARCH)
    else:
        total = count_rows(session, ids_statement, exact_up_to=EXACT_COUNT_UP_TO)
        found = list(session.scalars(paged.order_by(*order, tie).offset(filters.offset).limit(filters.limit)))
    rows: list[ReadmissionCase]
    if with_person:
        loaded = {row.id: row for row in session.scalars(select(ReadmissionCase).where(ReadmissionCase.id.in_(found)))} if found else {}
        rows = [loaded[case_id] for case_id in found]
    else:
        rows = found
    horizon = day + dt.timedelta(days=SOON_DAYS)
    flags: dict[str, dict[str, Any]] = {}
    for row in rows:
        due = row.next_due_on
        flags[row.id] = {"overdue": due is not None and due < day, "soon": due is not None and day <= due <= horizon, "next_due": due, "next_kind": row.next_due_kind}
    past = [row.id for row in rows if flags[row.id]["overdue"]]
    if past:
        # a case whose earliest deadline is past may still have a later one due soon
        soon_later = select(CaseDeadline.case_id).where(CaseDeadline.case_id.in_(past), CaseDeadline.due >= day, CaseDeadline.due <= horizon)
        for case_id in set(session.scalars(soon_later)):
            flags[case_id]["soon"] = True
    if audit_list:
        # a person search is a look-up of personal data: the entry names what was searched for and the cases
        # shown, never the words typed (personal data stays out of the audit log)
        details: dict[str, Any] = {"count": len(rows), "offset": filters.offset}
        if searched:
            details |= {"search": searched, "cases": [row.id for row in rows]}
        audit.record(session, actor=actor, action="search" if searched else "list", entity_type=ENTITY, details=details)
    return rows, total, flags


def case_deadline_view(session: Session, case: ReadmissionCase, *, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every deadline for the case page and the API: due date, days left, rule (in the reader's language, and as the
    stored message `rule_message`) and whether its figure was verified.

    Includes the extension's latest date while it is only a possibility, marked `possible`."""
    day = today or today_utc()
    if case.state in workflow.TERMINAL_STATES:
        return []
    try:
        computed = deadlines_of(case_version(session, case), snapshot_of(case).dates)
    except Conflict:
        computed = []
    return [
        {"kind": d.kind, "due": d.due, "days_left": (d.due - day).days, "rule": i18n.localise(d.rule), "rule_message": d.rule.as_stored(),
         "verified": d.figure.citation.verified,
         "possible": d.kind == "extended_reply_due" and case.extension_requested_on is None, "status": d.status(day),
         "provisional": d.provisional, "provisional_years": list(d.provisional_years)}
        for d in sorted(computed, key=lambda d: d.due)
    ]


def allowed_for(user: Actor, case: ReadmissionCase) -> list[workflow.Transition]:
    """The transitions this user's role and side may take on this case in its state (part of `allowed_operations`)."""
    role, side = workflow_role(user), side_of(user, case)
    return [t for t in workflow.transitions_from(case.procedure, workflow.State(case.state)) if role in t.roles and side in t.sides]


# --- deadline job and retention -------------------------------------------------------------------------


def run_deadline_job(session: Session, *, today: dt.date | None = None, apply: bool = False) -> list[jobs.DueAction]:
    """What is due today; with `apply`, deemed acceptances are taken as the system actor (idempotent:
    a case already moved is no longer awaiting a reply, so a second run finds nothing to apply)."""
    day = today or today_utc()
    open_cases = list(session.scalars(select(ReadmissionCase).where(ReadmissionCase.closed_on.is_(None), ReadmissionCase.state.in_([s.value for s in workflow.AWAITING_REPLY] + [s.value for s in workflow.ACCEPTED_STATES]))))
    snapshots = [snapshot_of(case) for case in open_cases]
    actions = jobs.due_now(snapshots, today=day, version_of=lambda slug, number: agreement_version(session, slug, number))
    if apply:
        # The pure rule dates each deemed acceptance; the service takes it as an audited transition.
        after = {snapshot.case_id: snapshot for snapshot in jobs.apply_deemed_acceptances(snapshots, actions)}
        for action in actions:
            accepted_on = after[action.case_id].dates.accepted_on if action.action == "deem_accepted" else None
            if accepted_on is not None:
                transition(session, actor=DEADLINE_JOB, case_id=action.case_id, expected_version=None, action="deem_accepted", payload={"accepted_on": accepted_on.isoformat()}, today=day)
    return actions


def erase_expired(session: Session, *, actor: Actor = RETENTION_JOB, today: dt.date | None = None) -> list[str]:
    """Erase personal data of closed cases whose retention period has ended; statistics fields are kept.

    The other side is sent an erasure notice naming the fields it received (never values)."""
    day = today or today_utc()
    erased = expired_case_ids(session, today=day)
    for case_id in erased:
        erase_case(session, case_id=case_id, actor=actor, today=day)
    return erased


def expired_case_ids(session: Session, *, today: dt.date) -> list[str]:
    """Closed, not yet erased cases whose agreement's retention after closure has ended (`safeguards.is_erasure_due`)."""
    statement = select(ReadmissionCase).where(ReadmissionCase.closed_on.is_not(None), ReadmissionCase.erased_on.is_(None))
    return sorted(case.id for case in session.scalars(statement) if safeguards.is_erasure_due(case_version(session, case), case.closed_on, today))


def erase_case(session: Session, *, case_id: str, actor: Actor | None, today: dt.date) -> None:
    """Erase one case found by `expired_case_ids` (the retention job's entry point)."""
    case = session.get(ReadmissionCase, case_id)
    if case is None or case.erased_on is not None:
        return
    erase_case_data(session, case, actor=actor if actor is not None else RETENTION_JOB, day=today)


def erase_case_data(session: Session, case: ReadmissionCase, *, actor: Actor, day: dt.date) -> None:
    """Erase the case's personal data through `safeguards.erase_personal_data` (the tested rule), write the
    result back (`store.write_personal_record`), notify the other side of what it had received, and audit."""
    from passage.readmission.store import personal_record, write_personal_record

    shared = _shared_fields(case)
    write_personal_record(case, safeguards.erase_personal_data(personal_record(case)))
    notice = safeguards.erasure_notice(case_reference=case.reference, previously_shared=shared | ({"evidence"} if "evidence" in shared else set()), issued_on=day)
    if notice is not None:
        case.notices.append(CorrectionNotice(kind=notice.kind.value, fields=list(notice.fields), counterpart_org_id=case.requested_central_org_id, issued_on=day))
    case.erased_on = day
    _touch(case)
    _event(case, actor=actor, action="erase", from_state=case.state, to_state=case.state, day=day, details={"notice": notice is not None})
    session.flush()
    audit.record(session, actor=actor, action="readmission.erase", entity_type=ENTITY, entity_id=case.id, details={"reason": "retention_ended", "notice": notice is not None})


def statistics_rows(session: Session, *, actor: Actor, group_by: Sequence[str], granularity: str, agreement_id: str | None = None) -> list[Any]:
    """Statistics over every case (no personal data); small counts are redacted by the caller's setting."""
    from passage.readmission import statistics
    from passage.readmission.store import statistics_record

    require_permission(session, actor=actor, permission=Permission.READMISSION_STATS, entity_type="readmission_statistics", operation="statistics")
    statement = select(ReadmissionCase).where(ReadmissionCase.submitted_on.is_not(None))
    if agreement_id:
        statement = statement.where(ReadmissionCase.agreement_slug == agreement_id)
    records = [statistics_record(case, case_version(session, case)) for case in session.scalars(statement)]
    rows = statistics.compute(records, group_by=group_by, granularity=granularity)
    audit.record(session, actor=actor, action="statistics", entity_type="readmission_statistics", details={"group_by": list(group_by), "rows": len(rows)})
    return rows


def published_statistics(session: Session, *, actor: Actor, group_by: Sequence[str], granularity: str,
                         agreement_id: str | None = None) -> list[dict[str, Any]]:
    """Statistics rows as a reader may see them: `scope` "own" rows over the cases the reader may open
    (exact, they can read each case anyway) and `scope` "others" rows over every other submitted case,
    through the platform's disclosure control (`statistics.published`, `passage.security.disclosure`).

    Keeping the two apart means a reader's knowledge of their own cases cannot be subtracted from a
    published total to reveal another state's small counts (issue 17, item 13).
    """
    from passage.readmission import statistics
    from passage.readmission.store import statistics_record

    require_permission(session, actor=actor, permission=Permission.READMISSION_STATS, entity_type="readmission_statistics", operation="statistics")
    statement = select(ReadmissionCase).where(ReadmissionCase.submitted_on.is_not(None))
    if agreement_id:
        statement = statement.where(ReadmissionCase.agreement_slug == agreement_id)
    own_ids: set[str] = set()
    if not is_system(actor) and may(actor, Permission.READMISSION_READ):
        own_ids = set(session.scalars(_visible_filter(scoped_select(ReadmissionCase, actor), actor).with_only_columns(ReadmissionCase.id)))
    own: list[statistics.CaseRecord] = []
    others: list[statistics.CaseRecord] = []
    for case in session.scalars(statement):
        (own if case.id in own_ids else others).append(statistics_record(case, case_version(session, case)))
    rows: list[dict[str, Any]] = []
    everything = {k: statistics.ALL for k in group_by}
    if own:
        for row in statistics.compute(own, group_by=group_by, granularity=granularity):
            rows.append(row.as_dict() | {"scope": "own", "withheld": [], "redacted": False, "total": False})
        if group_by:
            [own_total] = statistics.compute(own, group_by=[], granularity=granularity)
            rows.append(own_total.as_dict() | {"group": everything, "scope": "own", "withheld": [], "redacted": False, "total": True})
    summary: dict[str, int] = {}
    if others:
        cube = statistics.published(others)
        rows += [data | {"scope": "others", "total": False} for data in cube.rows(group_by, granularity)]
        if group_by:  # the overall total, part of the same protected table, is what an analyst can always use
            [others_total] = cube.rows([], granularity)
            rows.append(others_total | {"group": everything, "scope": "others", "total": True})
        summary = cube.protection.summary()
    audit.record(session, actor=actor, action="statistics", entity_type="readmission_statistics",
                 details={"group_by": list(group_by), "rows": len(rows), "own_cases": len(own), "disclosure": summary})
    return rows


def identity_query(case: ReadmissionCase) -> Any:
    """The case's person as an identification query (the Latin name, or else the name in characters, and the rest)."""
    from passage.identity import service as identity_service

    latin = bool(case.surname or case.given_names)
    return identity_service.person_query(
        query_id=case.id, family_name=case.surname or "", given_name=case.given_names or "", full_name="" if latin else (case.name_in_characters or ""),
        sex=case.sex or "", birth_date=case.date_of_birth, birth_place=case.place_of_birth or "", id_number=case.id_number or "",
        nationality=case.nationality or "", where="date_of_birth",
    )


def search_registry(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, top: int = 10,
                    fingerprint_probe: object | None = None, today: dt.date | None = None) -> VerificationRecord:
    """Run the identity engine's audited 1:N registry search (`passage.identity.service.identify`) for the case
    and store its ranked candidates with each one's registry record and per-field evidence, for the decision
    screen. The central authority (before or after routing) and the routed province may search while the
    case is between receipt and reply; 404 when no registry index is built on this server."""
    from passage.identity import service as identity_service

    case = load_case(session, actor=actor, case_id=case_id)
    require_operation(session, actor=actor, record=case, operation="search_registry", entity_type=ENTITY)
    check_version(case, expected_version)
    query = identity_query(case)
    if not query.usable():
        raise InvalidInput(N_("the case has no name, date of birth or ID number to search with"), fields=[FieldError("surname", N_("required for a registry search"))])
    result, details = identity_service.identify(session, actor=actor, query=query, top=top, case_id=case.id, fingerprint_probe=fingerprint_probe)
    candidates = [{**detail.as_dict(), "decision_hint": detail.decision, "registry_id": detail.person_id, "score": detail.match_probability} for detail in details]
    return record_candidates(session, actor=actor, case_id=case.id, expected_version=case.version, candidates=candidates,
                            source="fingerprint" if fingerprint_probe is not None else "registry", today=today)


# --- routing suggestion and re-routing -------------------------------------------------------------------

GB2260_PROVINCES = {
    "11": "CN-BJ", "12": "CN-TJ", "13": "CN-HE", "14": "CN-SX", "15": "CN-NM", "21": "CN-LN", "22": "CN-JL", "23": "CN-HL", "31": "CN-SH",
    "32": "CN-JS", "33": "CN-ZJ", "34": "CN-AH", "35": "CN-FJ", "36": "CN-JX", "37": "CN-SD", "41": "CN-HA", "42": "CN-HB", "43": "CN-HN",
    "44": "CN-GD", "45": "CN-GX", "46": "CN-HI", "50": "CN-CQ", "51": "CN-SC", "52": "CN-GZ", "53": "CN-YN", "54": "CN-XZ", "61": "CN-SN",
    "62": "CN-GS", "63": "CN-QH", "64": "CN-NX", "65": "CN-XJ", "71": "CN-TW", "81": "CN-HK", "82": "CN-MO",
}
"""GB/T 2260 province codes (the first two digits of a division code) -> ISO 3166-2:CN subdivision codes."""


@dataclass(frozen=True)
class RoutingSuggestion:
    organisation: Organisation
    basis: str
    """`id_number` (the region code of the resident ID number, GB 11643-1999 §5.1) or `place_of_birth`."""


def suggest_province(session: Session, case: ReadmissionCase) -> RoutingSuggestion | None:
    """The provincial bureau the person most likely belongs to: from the resident ID number's region code (its
    first six digits, GB/T 2260) when valid, else from the place of birth when it names exactly one province.
    None when neither says (the officer then chooses; there is no default)."""
    from passage.identity import service as identity_service

    candidates: list[tuple[str, str]] = []
    region = identity_service.resident_id_region(case.id_number) if case.id_number else None
    if region:
        candidates.append((region[:2], "id_number"))
    if case.place_of_birth:
        provinces = identity_service.place_provinces(case.place_of_birth)
        if len(provinces) == 1:
            candidates.append((provinces[0], "place_of_birth"))
    for gb_code, basis in candidates:
        iso = GB2260_PROVINCES.get(gb_code)
        if iso is None:
            continue
        organisation = session.scalars(select(Organisation).where(
            Organisation.level == OrganisationLevel.PROVINCIAL, Organisation.province == iso,
            Organisation.country == case.requested_state)).first()
        if organisation is not None:
            return RoutingSuggestion(organisation, basis)
    return None


def reroute(session: Session, *, actor: Actor, case_id: str, expected_version: int | None, province_org_id: str, reason: str,
            today: dt.date | None = None) -> ReadmissionCase:
    """The central authority sends a routed case to another provincial bureau (the first one was wrong).

    The state stays `routed`; the old province loses sight of the case, the new one gains it. A new routing
    row, a timeline event and an audit entry (old and new organisation ids, never the reason's words) record it."""
    with _case_operation(session, actor=actor, case_id=case_id, expected_version=expected_version, name="reroute") as op:
        case = op.record
        problems = []
        province = session.get(Organisation, province_org_id) if province_org_id else None
        if province is None or province.level != OrganisationLevel.PROVINCIAL or province.country != case.requested_state:
            problems.append(FieldError("province_org_id", N_("choose a provincial bureau of the requested state")))
        elif province.id == case.routed_province_org_id:
            problems.append(FieldError("province_org_id", N_("the case is already with this bureau")))
        if not reason.strip() or len(reason) > 2000:
            problems.append(FieldError("reason", N_("say why the case goes to another bureau (1-2000 characters)")))
        if problems:
            raise InvalidInput(N_("the case cannot be re-routed like this"), fields=problems)
        assert province is not None
        previous = case.routed_province_org_id
        case.routed_province_org_id = province.id
        case.province_code = province.province
        case.routings.append(CaseRouting(province_org_id=province.id, province_code=province.province or "", routed_by=actor.id, routed_at=_at(today)))
        _touch(case)
        details = {"from_province": previous, "to_province": province.id}
        _event(case, actor=actor, action="reroute", from_state=case.state, to_state=case.state, day=today, details=details)
        op.note(**details)
    return case  # type: ignore[no-any-return]


# --- duplicate check at intake --------------------------------------------------------------------------

DUPLICATE_LOG2_BF = 12.0
"""A pair whose names agree and whose fields together give at least 2^12 (about 4,000) times more support to "same
person" is shown as a likely duplicate (Fellegi & Sunter 1969: the log-likelihood ratio of the agreement pattern,
as the identity engine scores it); a shared passport or ID number always is."""


@dataclass(frozen=True)
class PossibleDuplicate:
    case: ReadmissionCase
    log2_bf: float
    agreeing: list[str]
    """The fields that agree (names only, for the warning)."""


class PossibleDuplicates(Conflict):
    """The person may already have an open case: the answer lists them (`possible_duplicates`); the caller creates
    the case anyway only by confirming that this is a different person."""

    code = "possible_duplicate"

    def __init__(self, duplicates: Sequence[PossibleDuplicate]) -> None:
        self.duplicates = list(duplicates)
        super().__init__(
            "this person may already have an open case; open it, or confirm that this is a different person (confirm_not_duplicate)",
            extra={"possible_duplicates": [
                {"case_id": d.case.id, "reference": d.case.reference, "state": d.case.state, "agreeing": list(d.agreeing), "log2_bayes_factor": round(d.log2_bf, 1)}
                for d in self.duplicates
            ]},
        )


def open_case(session: Session, *, actor: Actor, agreement_id: str, procedure: str = "readmission", accelerated: bool = False,
              application: Mapping[str, Any] | None = None, aliases_none: bool = False, confirm_not_duplicate: bool = False) -> ReadmissionCase:
    """Intake, for the web form and the API alike: the duplicate check against the open cases in scope, then the draft.

    Unless `confirm_not_duplicate`, a person who may already have an open case (`find_duplicates`) is not created:
    `PossibleDuplicates` (409) lists those cases, and the check is audited in its own committed transaction (the
    request's own rolls back), naming the cases shown. With the confirmation the draft is created and its audit
    entry says the officer confirmed a different person."""
    require_permission(session, actor=actor, permission=Permission.READMISSION_CREATE, entity_type=ENTITY, operation="create")
    values = dict(application or {})
    if not confirm_not_duplicate and isinstance(actor, User):
        duplicates = find_duplicates(session, actor=actor, application=values, record=False)
        if duplicates:
            audit.record_refusal(session, actor=actor, entity_type=ENTITY, entity_id=None,
                                 details={"operation": "create", "reason": "possible_duplicate", "cases": [d.case.id for d in duplicates]})
            raise PossibleDuplicates(duplicates)
    case = create_draft(session, actor=actor, agreement_id=agreement_id, procedure=procedure, accelerated=accelerated, application=values, aliases_none=aliases_none)
    if confirm_not_duplicate:
        audit.record(session, actor=actor, action="readmission.duplicate_overridden", entity_type=ENTITY, entity_id=case.id, details={"confirmed_not_duplicate": True})
    return case


def find_duplicates(session: Session, *, actor: User, application: Mapping[str, Any], aliases: Sequence[str] = (), exclude_case_id: str | None = None,
                    limit: int = 5, record: bool = True) -> list[PossibleDuplicate]:
    """Open cases in the actor's scope that may be the same person as `application`.

    Candidates come from the blind index (any shared name reading, the date of birth or a document number);
    each is then compared field by field with the identification engine (`identity.service.compare_people`)."""
    from passage.identity import service as identity_service

    cleaned = _clean_application({k: v for k, v in application.items() if k in APPLICATION_FIELDS})
    keys = person_search.person_keys(surname=cleaned.get("surname"), given_names=cleaned.get("given_names"), name_in_characters=cleaned.get("name_in_characters"),
                                     aliases=aliases, date_of_birth=cleaned.get("date_of_birth"), documents=[cleaned.get("passport_number"), cleaned.get("id_number")])
    # candidates: a shared reading of the surname AND of the given name, or a shared document number (the date
    # alone, or one name part alone, is too common to narrow anything at national scale)
    sources: list[Any] = []
    if keys["surname"] and keys["given"]:
        by_name = person_match(person_search.PersonQuery(name_readings=[(frozenset(keys["surname"]), frozenset(keys["given"]))])).subquery()
        sources.append(select(by_name.c.case_id))
    if keys["document"]:
        sources.append(select(CaseSearchToken.case_id).where(CaseSearchToken.token.in_(_tokens_for(keys["document"], "document"))))
    if not sources:
        return []
    ids: Any = union(*sources) if len(sources) > 1 else sources[0]
    statement = _visible_filter(scoped_select(ReadmissionCase, actor), actor).where(
        ReadmissionCase.id.in_(ids), ReadmissionCase.closed_on.is_(None), ReadmissionCase.erased_on.is_(None)).limit(200)
    if exclude_case_id:
        statement = statement.where(ReadmissionCase.id != exclude_case_id)
    mine = _person_record(cleaned)
    found = []
    for other in session.scalars(statement):
        log2_bf, agreeing = identity_service.compare_people(mine, _person_record(application_of(other) | {"name_in_characters": other.name_in_characters, "passport_number": other.passport_number, "id_number": other.id_number}))
        if ("name" in agreeing and log2_bf >= DUPLICATE_LOG2_BF) or "document" in agreeing:
            found.append(PossibleDuplicate(other, log2_bf, agreeing))
    found.sort(key=lambda d: -d.log2_bf)
    if found and record:
        audit.record(session, actor=actor, action="duplicate_check", entity_type=ENTITY, details={"cases": [d.case.id for d in found[:limit]]})
    return found[:limit]


def _person_record(values: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(values.get(k) or "") for k in ("surname", "given_names", "name_in_characters", "date_of_birth", "place_of_birth", "sex", "passport_number", "id_number")}


# --- official calendar notices ----------------------------------------------------------------------------


def load_calendar_notice(session: Session, *, actor: Actor = CALENDAR_JOB, notice: CalendarNotice, today: dt.date | None = None) -> dict[str, Any]:
    """Add one year's official holiday notice (`passage calendars load`) and recompute the deadlines it moves.

    The notice is stored immutably (see `store.store_notice`); then every open case whose agreement
    calendar is the notice's country gets its `CaseDeadline` rows recomputed, and each deadline whose
    date or warning changed is recorded on the case's timeline and in the audit chain (kind, old and new
    date; no personal data), in this same transaction. Loading the same notice twice changes nothing.
    """
    from passage.readmission.store import store_notice

    added = store_notice(session, notice=notice, loaded_by=None if is_system(actor) else actor.id)
    audit.record(session, actor=actor, action="readmission.calendar_notice_load", entity_type="readmission_calendar_notice",
                 entity_id=notice.key, details={"country": notice.country, "year": notice.year, "version": notice.version, "added": added})
    changes: list[dict[str, Any]] = []
    if not added:
        return {"notice": notice.key, "added": False, "cases_checked": 0, "changes": changes}
    forget_catalogue(session)
    day = today or today_utc()
    checked = 0
    open_cases = session.scalars(select(ReadmissionCase).where(ReadmissionCase.closed_on.is_(None)).order_by(ReadmissionCase.id))
    for case in open_cases:
        version = case_version(session, case)
        if version.calendar.country != notice.country or case.state in workflow.TERMINAL_STATES:
            continue
        checked += 1
        before = {row.kind: (row.due, row.rule) for row in case.deadlines}
        recompute_deadlines(session, case, version)
        after = {row.kind: (row.due, row.rule) for row in case.deadlines}
        moved = [
            {"kind": kind, "old_due": before[kind][0].isoformat() if kind in before else None, "new_due": after[kind][0].isoformat() if kind in after else None,
             "was_provisional": kind in before and "provisional calendar" in before[kind][1], "is_provisional": kind in after and "provisional calendar" in after[kind][1]}
            for kind in sorted(set(before) | set(after))
            if before.get(kind) != after.get(kind)
        ]
        if not moved:
            continue
        _event(case, actor=actor, action="recompute_deadlines", from_state=case.state, to_state=case.state, day=day, details={"notice": notice.key, "deadlines": moved})
        audit.record(session, actor=actor, action="readmission.deadlines_recomputed", entity_type=ENTITY, entity_id=case.id,
                     details={"notice": notice.key, "deadlines": moved})
        changes.append({"case_id": case.id, "deadlines": moved})
    session.flush()
    return {"notice": notice.key, "added": True, "cases_checked": checked, "changes": changes}
