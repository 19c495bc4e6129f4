import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from passage.readmission.agreements import get_preset
from passage.readmission.jobs import CaseSnapshot, apply_deemed_acceptances, due_now
from passage.readmission.rules import CaseDates
from passage.readmission.workflow import State

D = dt.date


def version_of(agreement_id, number):
    return next(v for v in get_preset(agreement_id).versions if v.version == number)


def snap(case_id, state, agreement="russia-style", **dates):
    return CaseSnapshot(case_id, agreement, 1, state, CaseDates(**dates))


def test_deemed_acceptance_after_last_day_only():
    case = snap("c1", State.routed, acknowledged_on=D(2024, 3, 1))  # due 26 Mar
    assert [a.action for a in due_now([case], today=D(2024, 3, 26), version_of=version_of)] == ["flag_due_soon"]
    actions = due_now([case], today=D(2024, 3, 27), version_of=version_of)
    assert [(a.action, a.deadline_kind) for a in actions] == [("deem_accepted", "reply_due")]


def test_extension_moves_the_date():
    case = snap("c1", State.identity_verified, acknowledged_on=D(2024, 3, 1), extension_requested_on=D(2024, 3, 20))
    assert due_now([case], today=D(2024, 3, 27), version_of=version_of) == []
    assert due_now([case], today=D(2024, 5, 1), version_of=version_of)[0].action == "deem_accepted"


def test_no_deemed_acceptance_where_silence_is_not_acceptance():
    # the China draft's accelerated procedure does not deem acceptance: only an overdue flag
    case = snap("c2", State.routed, agreement="eu-china-draft", accelerated=True, acknowledged_on=D(2024, 9, 30))
    actions = due_now([case], today=D(2024, 10, 11), version_of=version_of)
    assert [a.action for a in actions] == ["flag_overdue"]


def test_idempotent_and_terminal_cases_ignored():
    cases = [
        snap("a", State.routed, acknowledged_on=D(2024, 1, 1)),
        snap("b", State.refused, acknowledged_on=D(2024, 1, 1)),
        snap("c", State.submitted, submitted_on=D(2024, 1, 1)),  # clock not started
    ]
    first = due_now(cases, today=D(2024, 3, 1), version_of=version_of)
    assert [a.case_id for a in first if a.action == "deem_accepted"] == ["a"]
    after = apply_deemed_acceptances(cases, first)
    assert after[0].state is State.deemed_accepted and after[0].dates.accepted_on == D(2024, 1, 27)
    again = apply_deemed_acceptances(after, due_now(after, today=D(2024, 3, 1), version_of=version_of))
    assert again == after
    assert not [a for a in due_now(after, today=D(2024, 3, 1), version_of=version_of) if a.action == "deem_accepted"]


@settings(max_examples=60, deadline=None)
@given(ack=st.dates(min_value=D(2023, 1, 1), max_value=D(2025, 6, 1)), run1=st.integers(0, 120), run2=st.integers(0, 120))
def test_two_runs_equal_one_run(ack, run1, run2):
    cases = [snap("x", State.routed, agreement="eu-china-draft", acknowledged_on=ack)]
    day1, day2 = sorted([ack + dt.timedelta(days=run1), ack + dt.timedelta(days=run2)])
    twice = apply_deemed_acceptances(cases, due_now(cases, today=day1, version_of=version_of))
    twice = apply_deemed_acceptances(twice, due_now(twice, today=day2, version_of=version_of))
    once = apply_deemed_acceptances(cases, due_now(cases, today=day2, version_of=version_of))
    assert twice == once
