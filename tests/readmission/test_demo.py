import datetime as dt

from passage.readmission import rules
from passage.readmission.agreements import get_preset
from passage.readmission.demo import demo_dataset
from passage.readmission.safeguards import missing_application_data
from passage.readmission.workflow import Role, Side, State, decide

TODAY = dt.date(2025, 3, 3)
SIDE_OF = {"requesting_officer": Side.requesting, "central_officer": Side.requested_central, "provincial_officer": Side.routed_province, "system": Side.system}


def test_every_state_two_requesting_states_three_provinces():
    data = demo_dataset(today=TODAY)
    assert 28 <= len(data.cases) <= 32
    assert {c["state"] for c in data.cases} == {s.value for s in State}
    assert {c["requesting_state"] for c in data.cases} == {"NL", "FR"}
    assert {c["province"] for c in data.cases} == {"fujian", "zhejiang", "guangdong"}
    assert {u["role"] for u in data.users} == {r.value for r in Role if r is not Role.system}
    assert len({c["reference"] for c in data.cases}) == len(data.cases)
    assert demo_dataset(today=TODAY) == data  # deterministic


def test_timelines_replay_legally_with_ordered_dates():
    china = get_preset("eu-china-draft").latest()
    for case in demo_dataset(today=TODAY).cases:
        state = State("transit_draft" if case["procedure"] == "transit" else "draft")
        previous = None
        for step in case["timeline"]:
            role = Role(step["actor"]["role"])
            state = decide(case["procedure"], state, step["action"], role=role, side=SIDE_OF[role.value], payload=step["payload"]).to_state
            day = dt.date.fromisoformat(step["on"])
            assert day <= TODAY and (previous is None or day >= previous)
            previous = day
            if step["action"] == "deem_accepted":
                ack = next(dt.date.fromisoformat(s["on"]) for s in case["timeline"] if s["action"] == "acknowledge")
                assert day > rules.reply_deadline(china, ack, accelerated=case["accelerated"]).due
        assert state.value == case["state"]


def test_applications_complete_and_holds_only_where_meaningful():
    china = get_preset("eu-china-draft").latest()
    cases = demo_dataset(today=TODAY).cases
    for case in cases:
        if case["procedure"] == "readmission":
            assert missing_application_data(china, case["application"]) == []
    active_holds = [c for c in cases if any(h["lifted_on"] is None for h in c["holds"])]
    assert active_holds and all(c["state"] == "travel_document_issued" for c in active_holds)
