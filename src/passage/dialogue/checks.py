"""Consistency checks over one event: contradictions are reported, never silently corrected.

Each check compares what the record states with what it otherwise contains (issue 9, "Consistency
checks"): a stated total against the sum of its listed parts, a stated number of people against
the people of that role it names, a speaker or chair who has no session, an evaluation dated
outside the event, a stated sample size against the questionnaires returned, and a registered
headcount against the sum of institutional headcounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from passage.core.i18n import P_, T_, Label, Text
from passage.dialogue import messages as _messages  # noqa: F401 - registers the label domains the messages use
from passage.dialogue.schemas import ParticipantRole

if TYPE_CHECKING:  # the ORM types only annotate: a pure rule file imports no ORM at run time
    from passage.dialogue import models as m


@dataclass(frozen=True)
class ConsistencyFlag:
    code: str
    """`stated_total_vs_parts`, `stated_count_vs_named`, `speaker_without_session`, `chair_without_session`,
    `evaluation_outside_event`, `sample_size_vs_responses`, `headcount_vs_institutions`."""
    message: Text
    """Rendered in the reader's language where shown (`i18n.localise`); a quoted statement is in the language of
    the request that ran the check."""
    path: str
    stated: int | str | None = None
    found: int | str | None = None


def check_event(event: m.Event) -> list[ConsistencyFlag]:
    """All contradictions found in one event, in a stable order."""
    flags: list[ConsistencyFlag] = []
    for index, statement in enumerate(event.statements):
        path = f"statements.{index}"
        counted = [p.get("count") for p in statement.parts]
        if statement.parts:
            if all(isinstance(c, int) for c in counted):
                total = sum(int(c) for c in counted if isinstance(c, int))
                by_items = False
            else:
                # a breakdown that only names items ("from Germany, Spain, ...") counts each item once
                total = len(statement.parts)
                by_items = True
            if total != statement.stated_total:
                quoted = statement.in_language("text").text
                message = (
                    T_("“{statement}” states {stated}, but the number of listed items is {found}", statement=quoted, stated=statement.stated_total, found=total)
                    if by_items else
                    T_("“{statement}” states {stated}, but the sum of the listed parts is {found}", statement=quoted, stated=statement.stated_total, found=total)
                )
                flags.append(
                    ConsistencyFlag(
                        code="stated_total_vs_parts",
                        message=message,
                        path=path,
                        stated=statement.stated_total,
                        found=total,
                    )
                )
        if statement.named_role:
            named = sum(1 for p in event.participations if p.role == statement.named_role)
            if named != statement.stated_total:
                flags.append(
                    ConsistencyFlag(
                        code="stated_count_vs_named",
                        message=T_("“{statement}” states {stated}, but {found} people with the role {role} are named",
                                   statement=statement.in_language("text").text, stated=statement.stated_total, found=named,
                                   role=Label("dialogue.role", statement.named_role)),
                        path=path,
                        stated=statement.stated_total,
                        found=named,
                    )
                )
    speaking = {sp.participant_id for session in event.sessions for sp in session.speakers}
    speaking |= {r.speaker_id for r in event.opening_remarks if r.speaker_id}
    chairing = {session.chair_id for session in event.sessions if session.chair_id}
    for index, participation in enumerate(event.participations):
        path = f"participations.{index}"
        if participation.role == ParticipantRole.speaker and participation.participant_id not in speaking:
            flags.append(ConsistencyFlag(code="speaker_without_session", message=T_("a participant registered as speaker has no session or opening remark"), path=path))
        if participation.role == ParticipantRole.chair and participation.participant_id not in chairing:
            flags.append(ConsistencyFlag(code="chair_without_session", message=T_("a participant registered as chair chairs no session"), path=path))
    for index, evaluation in enumerate(event.evaluations):
        path = f"evaluations.{index}"
        if evaluation.dated is not None and not event.start_date <= evaluation.dated <= event.end_date:
            flags.append(
                ConsistencyFlag(
                    code="evaluation_outside_event",
                    message=T_("the evaluation is dated {date}, outside the event ({start} to {end})", date=evaluation.dated, start=event.start_date, end=event.end_date),
                    path=path,
                    stated=evaluation.dated.isoformat(),
                    found=f"{event.start_date.isoformat()}/{event.end_date.isoformat()}",
                )
            )
        returned = len(evaluation.responses)
        if evaluation.stated_sample_size is not None and evaluation.stated_sample_size != returned:
            flags.append(
                ConsistencyFlag(
                    code="sample_size_vs_responses",
                    message=P_("the stated sample size is {stated}, but {n} questionnaire is recorded",
                               "the stated sample size is {stated}, but {n} questionnaires are recorded", returned, stated=evaluation.stated_sample_size),
                    path=path,
                    stated=evaluation.stated_sample_size,
                    found=returned,
                )
            )
    headcounts = [row.headcount for row in event.institutions]
    if event.headcount is not None and headcounts and all(h is not None for h in headcounts):
        total = sum(h for h in headcounts if h is not None)
        if total != event.headcount:
            flags.append(
                ConsistencyFlag(
                    code="headcount_vs_institutions",
                    message=T_("the event's headcount is {stated}, but the institutions' headcounts sum to {found}", stated=event.headcount, found=total),
                    path="headcount",
                    stated=event.headcount,
                    found=total,
                )
            )
    return flags
