"""The readmission and transit case state machines, as pure rules.

Readmission follows the procedure section of the EU readmission agreements (e.g. EU–Serbia
Art. 8-11): the requesting state submits an application; the requested state confirms receipt, its
central authority routes the case to a provincial bureau that verifies identity, and replies
(acceptance, refusal with reasons - EU–Serbia Art. 10(4) - or, at the deadline, deemed acceptance
where silence means acceptance, Art. 10(2)); a travel document is issued (Art. 2(2)) and the transfer
scheduled and carried out (Art. 11). Transit follows the transit articles (e.g. EU–Serbia Art. 14-15).

Each transition names the roles that may take it and the organisation side the actor must be on. A
transition from the wrong state raises `Conflict` with the allowed actions in `extra`; a wrong role
or side raises `Forbidden` (the service audits it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from passage.core.errors import Conflict, FieldError, Forbidden, InvalidInput
from passage.core.i18n import N_, T_


class Role(StrEnum):
    requesting_officer = "requesting_officer"
    central_officer = "central_officer"
    provincial_officer = "provincial_officer"
    iom_caseworker = "iom_caseworker"
    analyst = "analyst"
    admin = "admin"
    system = "system"
    """The deadline job; never a user's role."""


class Side(StrEnum):
    requesting = "requesting"
    requested_central = "requested_central"
    routed_province = "routed_province"
    system = "system"
    other = "other"


class State(StrEnum):
    draft = "draft"
    submitted = "submitted"
    acknowledged = "acknowledged"
    routed = "routed"
    identity_verified = "identity_verified"
    identity_not_verified = "identity_not_verified"
    accepted = "accepted"
    refused = "refused"
    deemed_accepted = "deemed_accepted"
    travel_document_issued = "travel_document_issued"
    transfer_scheduled = "transfer_scheduled"
    transferred = "transferred"
    withdrawn = "withdrawn"
    cancelled = "cancelled"
    # transit flow
    transit_draft = "transit_draft"
    transit_submitted = "transit_submitted"
    transit_consented = "transit_consented"
    transit_refused = "transit_refused"
    transit_completed = "transit_completed"


TERMINAL_STATES = frozenset(
    {State.refused, State.transferred, State.withdrawn, State.cancelled, State.transit_refused, State.transit_completed}
)
AWAITING_REPLY = frozenset({State.acknowledged, State.routed, State.identity_verified, State.identity_not_verified})
"""States in which the reply clock runs (it starts at the clock-start event and stops at the reply)."""
ACCEPTED_STATES = frozenset({State.accepted, State.deemed_accepted, State.travel_document_issued, State.transfer_scheduled, State.transferred})


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[State]
    target: State | None
    """None: the state stays (an event such as an extension request)."""
    roles: frozenset[Role]
    sides: frozenset[Side]
    required: tuple[str, ...] = ()
    """Payload keys that must be present and non-empty."""
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.target.value if self.target else None,
            "roles": sorted(r.value for r in self.roles),
            "sides": sorted(s.value for s in self.sides),
            "required": list(self.required),
        }


def _t(action: str, sources: Iterable[State], target: State | None, roles: Iterable[Role], sides: Iterable[Side], required: tuple[str, ...] = (), description: str = "") -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), frozenset(sides), required, description)


_R, _C, _P, _ADMIN, _SYS = Role.requesting_officer, Role.central_officer, Role.provincial_officer, Role.admin, Role.system
_REQ, _CEN, _PROV = Side.requesting, Side.requested_central, Side.routed_province
_BEFORE_TRANSFER = [s for s in State if not s.value.startswith("transit_") and s not in TERMINAL_STATES and s is not State.draft]

READMISSION_TRANSITIONS: tuple[Transition, ...] = (
    _t("submit", [State.draft], State.submitted, [_R], [_REQ], description="Send the application (completeness checked first)."),
    _t("acknowledge", [State.submitted], State.acknowledged, [_C], [_CEN], description="Confirm receipt; starts the reply clock where the agreement says so."),
    _t("route", [State.acknowledged, State.routed, State.identity_not_verified], State.routed, [_C], [_CEN], ("province_org_id",), "Route to a provincial bureau (or re-route)."),
    _t("verify_identity", [State.routed], State.identity_verified, [_P], [_PROV], ("method",), "Record a positive verification (interview, family contact, registry match)."),
    _t("record_not_verified", [State.routed], State.identity_not_verified, [_P], [_PROV], ("method", "reason"), "Record that identity could not be verified."),
    _t("request_extension", AWAITING_REPLY, None, [_C], [_CEN], ("reason",), "Ask for the reply-limit extension on legal or factual grounds."),
    _t("accept", [State.identity_verified], State.accepted, [_C], [_CEN], description="Agree to readmission."),
    _t("refuse", AWAITING_REPLY, State.refused, [_C], [_CEN], ("reason",), "Refuse, with the reasons the agreement requires."),
    _t("deem_accepted", AWAITING_REPLY, State.deemed_accepted, [_SYS], [Side.system], description="Applied by the deadline job when silence means acceptance."),
    _t("issue_travel_document", [State.accepted, State.deemed_accepted], State.travel_document_issued, [_C], [_CEN], ("document_number",), "Issue the travel document."),
    _t("reissue_travel_document", [State.travel_document_issued, State.transfer_scheduled], State.travel_document_issued, [_C], [_CEN], ("document_number",), "Issue a new travel document (validity ran out); any schedule is dropped."),
    _t("schedule_transfer", [State.travel_document_issued], State.transfer_scheduled, [_R], [_REQ], ("transfer_date", "place_kind", "place_code"), "Schedule the transfer (no active hold allowed)."),
    _t("reschedule_transfer", [State.transfer_scheduled], State.transfer_scheduled, [_R], [_REQ], ("transfer_date", "place_kind", "place_code"), "Change the schedule (no active hold allowed)."),
    _t("suspend_transfer", [State.transfer_scheduled], State.travel_document_issued, [_R, _C], [_REQ, _CEN], ("reason",), "Drop the schedule, e.g. after a hold was placed."),
    _t("confirm_transfer", [State.transfer_scheduled], State.transferred, [_R, _C], [_REQ, _CEN], description="The person was handed over."),
    _t("withdraw", _BEFORE_TRANSFER, State.withdrawn, [_R], [_REQ], ("reason",), "The requesting state withdraws the application."),
    _t("cancel", [State.draft], State.cancelled, [_R, _ADMIN], [_REQ], description="Discard a draft."),
)

TRANSIT_TRANSITIONS: tuple[Transition, ...] = (
    _t("submit_transit", [State.transit_draft], State.transit_submitted, [_R], [_REQ], description="Send the transit application."),
    _t("consent_transit", [State.transit_submitted], State.transit_consented, [_C], [_CEN], ("border_crossing_point",), "Consent, confirming the point of entry and time."),
    _t("refuse_transit", [State.transit_submitted], State.transit_refused, [_C], [_CEN], ("reason",), "Refuse, with reasons."),
    _t("revoke_transit", [State.transit_consented], State.transit_refused, [_C], [_CEN], ("reason",), "Revoke consent when later circumstances impede transit."),
    _t("complete_transit", [State.transit_consented], State.transit_completed, [_R, _C], [_REQ, _CEN], description="Transit carried out."),
    _t("withdraw_transit", [State.transit_submitted, State.transit_consented], State.withdrawn, [_R], [_REQ], ("reason",), "Withdraw the transit application."),
    _t("cancel_transit", [State.transit_draft], State.cancelled, [_R, _ADMIN], [_REQ], description="Discard a draft."),
)

FLOWS: Mapping[str, tuple[Transition, ...]] = {"readmission": READMISSION_TRANSITIONS, "transit": TRANSIT_TRANSITIONS}
INITIAL_STATE: Mapping[str, State] = {"readmission": State.draft, "transit": State.transit_draft}

TRANSFER_PLACE_KINDS = frozenset({"airport", "border_crossing_point"})


def _flow(procedure: str) -> tuple[Transition, ...]:
    try:
        return FLOWS[procedure]
    except KeyError:
        raise InvalidInput(T_("unknown procedure {procedure}", procedure=procedure), fields=[FieldError("procedure", N_("must be readmission or transit"))]) from None


def transitions_from(procedure: str, state: State) -> list[Transition]:
    return [t for t in _flow(procedure) if state in t.sources]


def allowed_actions(procedure: str, state: State, *, role: Role | None = None, side: Side | None = None) -> list[str]:
    """Actions possible from `state`; narrowed to what `role` on `side` may take when given."""
    return [
        t.action
        for t in transitions_from(procedure, state)
        if (role is None or role in t.roles) and (side is None or side in t.sides)
    ]


def actor_side(*, actor_org_id: str | None, requesting_org_id: str, requested_central_org_id: str, routed_province_org_id: str | None, is_system: bool = False) -> Side:
    """Which side of a case an actor's organisation is on (deny by default: anything else is `other`)."""
    if is_system:
        return Side.system
    if actor_org_id is None:
        return Side.other
    if actor_org_id == requesting_org_id:
        return Side.requesting
    if actor_org_id == requested_central_org_id:
        return Side.requested_central
    if routed_province_org_id is not None and actor_org_id == routed_province_org_id:
        return Side.routed_province
    return Side.other


@dataclass(frozen=True)
class Decision:
    transition: Transition
    from_state: State
    to_state: State
    effects: tuple[str, ...] = field(default_factory=tuple)


def decide(procedure: str, state: State, action: str, *, role: Role, side: Side, payload: Mapping[str, Any] | None = None, active_hold_kinds: Iterable[str] = (), missing_application_data: Iterable[str] = (), extension_already_requested: bool = False) -> Decision:
    """Check one transition and return what it does, or raise.

    Order: unknown/illegal action for the state -> `Conflict` (409) listing allowed actions; wrong role
    or side -> `Forbidden` (403); missing payload -> `InvalidInput` (422); a safeguard (hold, missing
    data, second extension) -> `Conflict`/`InvalidInput` naming what blocks.
    """
    payload = payload or {}
    candidates = [t for t in _flow(procedure) if t.action == action and state in t.sources]
    if not candidates:
        raise Conflict(
            T_("action {action} is not allowed in state {value}", action=action, value=state.value),
            extra={"state": state.value, "allowed_transitions": allowed_actions(procedure, state)},
        )
    transition = candidates[0]
    if role not in transition.roles:
        raise Forbidden(T_("role {value} may not {action}", value=role.value, action=action), extra={"allowed_roles": sorted(r.value for r in transition.roles)})
    if side not in transition.sides:
        raise Forbidden(T_("your organisation may not {action} on this case", action=action), extra={"allowed_sides": sorted(s.value for s in transition.sides)})
    missing = [key for key in transition.required if payload.get(key) in (None, "", [], {})]
    if missing:
        raise InvalidInput(T_("{action} needs more information", action=action), fields=[FieldError(key, N_("required")) for key in missing])
    effects: list[str] = []
    holds = sorted(set(active_hold_kinds))
    if action in {"schedule_transfer", "reschedule_transfer", "confirm_transfer"} and holds:
        raise Conflict(N_("transfer is blocked by active holds; lift them first"), extra={"active_holds": holds})
    if action in {"schedule_transfer", "reschedule_transfer"} and payload.get("place_kind") not in TRANSFER_PLACE_KINDS:
        raise InvalidInput(N_("unknown transfer place"), fields=[FieldError("place_kind", T_("must be one of {choices}", choices=sorted(TRANSFER_PLACE_KINDS)))])
    if action in {"schedule_transfer", "reschedule_transfer"} and payload.get("place_kind") == "airport" and not payload.get("flight"):
        raise InvalidInput(N_("a transfer by air needs the flight"), fields=[FieldError("flight", N_("required for an airport transfer"))])
    if action == "submit":
        gaps = list(missing_application_data)
        if gaps:
            raise InvalidInput(N_("the application is incomplete"), fields=[FieldError(path, N_("required by the agreement")) for path in gaps])
    if action == "request_extension" and extension_already_requested:
        raise Conflict(N_("the extension was already requested; the agreement allows one"), extra={"state": state.value})
    target = transition.target or state
    if action == "request_extension":
        effects.append("reply_deadline_extended")
    if target is State.deemed_accepted or target is State.accepted:
        effects.append("transfer_window_opened")
    if action == "reissue_travel_document" and state is State.transfer_scheduled:
        effects.append("transfer_schedule_dropped")
    if action == "suspend_transfer":
        effects.append("transfer_schedule_dropped")
    if target in TERMINAL_STATES:
        effects.append("case_closed")
    return Decision(transition=transition, from_state=state, to_state=target, effects=tuple(effects))


def transition_matrix() -> dict[str, list[dict[str, Any]]]:
    """The full matrix as plain data, for the docs, the permission tests and the API's OpenAPI description."""
    return {
        procedure: [dict(t.as_dict(), sources=sorted(s.value for s in t.sources)) for t in transitions]
        for procedure, transitions in FLOWS.items()
    }
