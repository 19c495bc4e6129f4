"""The deadline job as a pure function: "what is due now" for a set of case snapshots.

Deemed acceptance (e.g. EU–Serbia Art. 10(2)-(3), Russia-style Art. 12(3)): when the (extended)
reply limit has expired without a reply and the agreement says silence means acceptance, the case
moves to `deemed_accepted` on the day after the last day. The job is idempotent: it looks only at
the state and dates, so a case it already moved is no longer awaiting a reply and yields nothing the
second time; running it twice, or late, gives the same result as running it once on time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from passage.readmission import rules
from passage.readmission.schemas import AgreementVersion
from passage.readmission.workflow import AWAITING_REPLY, TERMINAL_STATES, State


@dataclass(frozen=True)
class CaseSnapshot:
    case_id: str
    agreement_id: str
    agreement_version: int
    state: State
    dates: rules.CaseDates = field(default_factory=rules.CaseDates)


@dataclass(frozen=True)
class DueAction:
    case_id: str
    action: str
    """`deem_accepted` (a transition) or `flag_overdue` / `flag_due_soon` (inbox flags only)."""
    deadline_kind: str
    due: dt.date
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "action": self.action, "deadline": self.deadline_kind, "due": self.due.isoformat(), "rule": self.rule}


VersionLookup = Callable[[str, int], AgreementVersion]


def due_now(cases: Iterable[CaseSnapshot], *, today: dt.date, version_of: VersionLookup) -> list[DueAction]:
    """Every action the deadline job should take today, sorted by case id then deadline kind."""
    actions: list[DueAction] = []
    for case in cases:
        if case.state in TERMINAL_STATES:
            continue
        version = version_of(case.agreement_id, case.agreement_version)
        for deadline in rules.case_deadlines(version, case.dates):
            if deadline.kind == "extended_reply_due" and case.dates.extension_requested_on is None:
                continue  # only a possibility until the extension is requested
            is_reply = deadline.kind in {"reply_due", "extended_reply_due"} and case.dates.procedure == "readmission"
            if is_reply and case.state in AWAITING_REPLY and today > deadline.due:
                if rules.silence_means_acceptance(version, accelerated=case.dates.accelerated):
                    actions.append(DueAction(case.case_id, "deem_accepted", deadline.kind, deadline.due, deadline.rule))
                    continue
            status = deadline.status(today)
            if status == "overdue":
                actions.append(DueAction(case.case_id, "flag_overdue", deadline.kind, deadline.due, deadline.rule))
            elif status == "due_soon":
                actions.append(DueAction(case.case_id, "flag_due_soon", deadline.kind, deadline.due, deadline.rule))
    return sorted(actions, key=lambda a: (a.case_id, a.deadline_kind, a.action))


def apply_deemed_acceptances(cases: Iterable[CaseSnapshot], actions: Iterable[DueAction]) -> list[CaseSnapshot]:
    """Apply the `deem_accepted` actions to snapshots (what the service does in one transaction per case).

    Acceptance is dated the day after the last day of the limit, which is the day the transfer window opens.
    """
    to_accept = {a.case_id: a for a in actions if a.action == "deem_accepted"}
    result = []
    for case in cases:
        action = to_accept.get(case.case_id)
        if action is not None and case.state in AWAITING_REPLY:
            accepted_on = action.due + dt.timedelta(days=1)
            case = replace(case, state=State.deemed_accepted, dates=replace(case.dates, accepted_on=accepted_on, replied_on=None))
        result.append(case)
    return result
