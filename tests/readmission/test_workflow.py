import pytest

from passage.core.errors import Conflict, Forbidden, InvalidInput
from passage.readmission.workflow import (
    FLOWS,
    READMISSION_TRANSITIONS,
    Role,
    Side,
    State,
    actor_side,
    allowed_actions,
    decide,
    transition_matrix,
)

PAYLOADS = {
    "route": {"province_org_id": "fj"},
    "verify_identity": {"method": "registry_match"},
    "record_not_verified": {"method": "interview", "reason": "no registry match"},
    "request_extension": {"reason": "family contact pending"},
    "refuse": {"reason": "not a national"},
    "issue_travel_document": {"document_number": "T1"},
    "reissue_travel_document": {"document_number": "T2"},
    "schedule_transfer": {"transfer_date": "2025-01-10", "place_kind": "airport", "place_code": "PVG", "flight": "MU552"},
    "reschedule_transfer": {"transfer_date": "2025-01-12", "place_kind": "border_crossing_point", "place_code": "X"},
    "suspend_transfer": {"reason": "appeal lodged"},
    "withdraw": {"reason": "left voluntarily"},
    "consent_transit": {"border_crossing_point": "PEK"},
    "refuse_transit": {"reason": "r"},
    "revoke_transit": {"reason": "r"},
    "withdraw_transit": {"reason": "r"},
}

ALL_CASES = [(proc, t, src) for proc, ts in FLOWS.items() for t in ts for src in sorted(t.sources)]


@pytest.mark.parametrize(("procedure", "transition", "source"), ALL_CASES, ids=[f"{p}:{t.action}:{s.value}" for p, t, s in ALL_CASES])
def test_every_allowed_transition_succeeds_for_each_declared_role_and_side(procedure, transition, source):
    for role in transition.roles:
        for side in transition.sides:
            decision = decide(procedure, source, transition.action, role=role, side=side, payload=PAYLOADS.get(transition.action, {}))
            assert decision.to_state == (transition.target or source)


@pytest.mark.parametrize(("procedure", "transition", "source"), ALL_CASES[:: max(1, len(ALL_CASES) // 25)])
def test_other_roles_and_sides_are_forbidden(procedure, transition, source):
    payload = PAYLOADS.get(transition.action, {})
    for role in Role:
        if role in transition.roles:
            continue
        with pytest.raises(Forbidden) as err:
            decide(procedure, source, transition.action, role=role, side=next(iter(transition.sides)), payload=payload)
        assert err.value.extra["allowed_roles"]
    with pytest.raises(Forbidden):
        decide(procedure, source, transition.action, role=next(iter(transition.roles)), side=Side.other, payload=payload)


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (State.draft, "accept"),
        (State.submitted, "route"),
        (State.routed, "issue_travel_document"),
        (State.accepted, "schedule_transfer"),
        (State.transferred, "withdraw"),
        (State.refused, "accept"),
        (State.deemed_accepted, "deem_accepted"),
        (State.travel_document_issued, "confirm_transfer"),
        (State.identity_not_verified, "accept"),
    ],
)
def test_illegal_transitions_conflict_with_allowed_list(state, action):
    with pytest.raises(Conflict) as err:
        decide("readmission", state, action, role=Role.central_officer, side=Side.requested_central, payload={"reason": "x"})
    assert err.value.extra["state"] == state.value
    assert err.value.extra["allowed_transitions"] == allowed_actions("readmission", state)
    assert err.value.status == 409


def test_transit_actions_not_available_in_readmission_flow():
    with pytest.raises(Conflict):
        decide("readmission", State.draft, "submit_transit", role=Role.requesting_officer, side=Side.requesting)


def test_refusal_requires_reason():
    with pytest.raises(InvalidInput) as err:
        decide("readmission", State.routed, "refuse", role=Role.central_officer, side=Side.requested_central, payload={"reason": ""})
    assert [f.path for f in err.value.fields] == ["reason"]


def test_holds_block_scheduling_and_confirmation():
    with pytest.raises(Conflict) as err:
        decide("readmission", State.travel_document_issued, "schedule_transfer", role=Role.requesting_officer, side=Side.requesting, payload=PAYLOADS["schedule_transfer"], active_hold_kinds=["medical", "pending_appeal"])
    assert err.value.extra["active_holds"] == ["medical", "pending_appeal"]
    with pytest.raises(Conflict):
        decide("readmission", State.transfer_scheduled, "confirm_transfer", role=Role.requesting_officer, side=Side.requesting, active_hold_kinds=["legal_stay"])


def test_transfer_details_checked():
    bad_place = dict(PAYLOADS["schedule_transfer"], place_kind="harbour")
    with pytest.raises(InvalidInput):
        decide("readmission", State.travel_document_issued, "schedule_transfer", role=Role.requesting_officer, side=Side.requesting, payload=bad_place)
    no_flight = {k: v for k, v in PAYLOADS["schedule_transfer"].items() if k != "flight"}
    with pytest.raises(InvalidInput) as err:
        decide("readmission", State.travel_document_issued, "schedule_transfer", role=Role.requesting_officer, side=Side.requesting, payload=no_flight)
    assert err.value.fields[0].path == "flight"


def test_submit_refused_while_incomplete_and_extension_only_once():
    with pytest.raises(InvalidInput) as err:
        decide("readmission", State.draft, "submit", role=Role.requesting_officer, side=Side.requesting, missing_application_data=["photo", "date_of_birth"])
    assert [f.path for f in err.value.fields] == ["photo", "date_of_birth"]
    with pytest.raises(Conflict):
        decide("readmission", State.routed, "request_extension", role=Role.central_officer, side=Side.requested_central, payload=PAYLOADS["request_extension"], extension_already_requested=True)
    ok = decide("readmission", State.routed, "request_extension", role=Role.central_officer, side=Side.requested_central, payload=PAYLOADS["request_extension"])
    assert ok.to_state is State.routed and "reply_deadline_extended" in ok.effects


def test_effects():
    assert "transfer_window_opened" in decide("readmission", State.routed, "deem_accepted", role=Role.system, side=Side.system).effects
    assert "transfer_schedule_dropped" in decide("readmission", State.transfer_scheduled, "reissue_travel_document", role=Role.central_officer, side=Side.requested_central, payload={"document_number": "T9"}).effects
    assert "case_closed" in decide("readmission", State.transfer_scheduled, "confirm_transfer", role=Role.central_officer, side=Side.requested_central).effects


def test_happy_path_draft_to_transferred():
    path = [
        ("submit", Role.requesting_officer, Side.requesting),
        ("acknowledge", Role.central_officer, Side.requested_central),
        ("route", Role.central_officer, Side.requested_central),
        ("verify_identity", Role.provincial_officer, Side.routed_province),
        ("accept", Role.central_officer, Side.requested_central),
        ("issue_travel_document", Role.central_officer, Side.requested_central),
        ("schedule_transfer", Role.requesting_officer, Side.requesting),
        ("confirm_transfer", Role.requesting_officer, Side.requesting),
    ]
    state = State.draft
    for action, role, side in path:
        state = decide("readmission", state, action, role=role, side=side, payload=PAYLOADS.get(action, {})).to_state
    assert state is State.transferred


def test_actor_side_deny_by_default():
    kwargs = dict(requesting_org_id="nl", requested_central_org_id="mps", routed_province_org_id="fj")
    assert actor_side(actor_org_id="nl", **kwargs) is Side.requesting
    assert actor_side(actor_org_id="mps", **kwargs) is Side.requested_central
    assert actor_side(actor_org_id="fj", **kwargs) is Side.routed_province
    assert actor_side(actor_org_id="zj", **kwargs) is Side.other
    assert actor_side(actor_org_id="fj", requesting_org_id="nl", requested_central_org_id="mps", routed_province_org_id=None) is Side.other
    assert actor_side(actor_org_id=None, **kwargs) is Side.other


def test_every_non_terminal_state_reachable_and_matrix_exported():
    reachable = {State.draft}
    frontier = [State.draft]
    while frontier:
        state = frontier.pop()
        for t in READMISSION_TRANSITIONS:
            if state in t.sources and (t.target or state) not in reachable:
                reachable.add(t.target or state)
                frontier.append(t.target or state)
    assert {s for s in State if not s.value.startswith("transit_")} == reachable
    matrix = transition_matrix()
    assert {row["action"] for row in matrix["transit"]} >= {"submit_transit", "consent_transit", "complete_transit"}
