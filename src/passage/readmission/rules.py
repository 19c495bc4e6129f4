"""Deadline arithmetic for readmission and transit, driven by the agreement version's figures.

Counting convention (the EU readmission agreements' "time limits" article, e.g. EU–Serbia Art. 10(2):
"These time limits begin to run with the date of receipt of the readmission application"): the day of
the starting event is day 0 and the limit expires at the end of day N.
- calendar days: N days later, whatever day that is (the agreements do not roll a calendar-day limit
  over a holiday; Regulation 1182/71 does for EU acts, but it does not bind the other party);
- working days: the N-th working day of the requested state's calendar after the event, so a
  working-day deadline never falls on a weekend, a public holiday or a 调休 day off;
- months: the same day N months later, or the month's last day if it has no such day.

Every computed date is a `Deadline` that names the rule and the citation that produced it.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from dataclasses import dataclass
from typing import Any

from passage.core.errors import Conflict
from passage.core.i18n import T_, Label, Text
from passage.readmission import messages as _messages  # noqa: F401 - defines the label domains used below
from passage.readmission.calendars import WorkingCalendar
from passage.readmission.schemas import (
    AgreementVersion,
    Citation,
    ClockStart,
    DayUnit,
    ExtensionMode,
    Figure,
    ReadmissionProcedure,
    TransitProcedure,
    TravelDocument,
)

DUE_SOON_DAYS = 3
"""A deadline within this many calendar days is flagged as soon due in every inbox."""


@dataclass(frozen=True)
class Deadline:
    kind: str
    due: dt.date
    start: dt.date
    figure: Figure
    rule: Text
    """The rule in words, as a message (`Text`): stored with `as_stored()`, shown with `i18n.localise`."""
    provisional_years: tuple[int, ...] = ()
    """Years the count crossed whose working days no official notice fixes yet (see `calendars`)."""

    @property
    def citation(self) -> Citation:
        return self.figure.citation

    @property
    def provisional(self) -> bool:
        return bool(self.provisional_years)

    @property
    def warning(self) -> Text | None:
        """The visible "provisional calendar" warning, or None when every year counted is official."""
        if not self.provisional_years:
            return None
        years = ", ".join(str(y) for y in self.provisional_years)
        return T_("provisional calendar: no official holiday notice loaded for {years}; the date may move when it is loaded", years=years)

    def days_left(self, today: dt.date) -> int:
        return (self.due - today).days

    def status(self, today: dt.date) -> str:
        left = self.days_left(today)
        if left < 0:
            return "overdue"
        if left <= DUE_SOON_DAYS:
            return "due_soon"
        return "ok"

    def as_dict(self, today: dt.date | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": self.kind,
            "due": self.due.isoformat(),
            "start": self.start.isoformat(),
            "limit": self.figure.describe(),
            "rule": self.rule,
            "rule_message": self.rule.as_stored(),
            "citation": {
                "source": self.citation.source,
                "article": self.citation.article,
                "verified": self.citation.verified,
            },
            "provisional_calendar": self.provisional,
        }
        if self.warning:
            body["warning"] = self.warning
        if today is not None:
            body["days_left"] = self.days_left(today)
            body["status"] = self.status(today)
        return body


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    last = _calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


def add_span(cal: WorkingCalendar, start: dt.date, figure: Figure) -> dt.date:
    if figure.unit is DayUnit.calendar_days:
        return start + dt.timedelta(days=figure.value)
    if figure.unit is DayUnit.working_days:
        return cal.add_working_days(start, figure.value)
    return add_months(start, figure.value)


def _make(cal: WorkingCalendar, kind: str, start: dt.date, figure: Figure, what: Text, event: Text | Label) -> Deadline:
    """The deadline and its rule as a message (code and parameters, rendered in the reader's language; the
    citation's source and article are the agreement's published text, in Chinese where the agreement gives it)."""
    due = add_span(cal, start, figure)
    rule = T_("{what}: {limit} from {event} on {start} ({source}, {article})", what=what, limit=figure.describe(), event=event, start=start,
              source=figure.citation.published("source"), article=figure.citation.published("article"))
    provisional: tuple[int, ...] = ()
    if figure.unit is DayUnit.working_days:
        calendar_name: Text | str = cal.table.country or T_("agreement table")
        notices = sorted({n.key for y in range(start.year, due.year + 1) if (n := cal.notice_for(y)) is not None})
        if notices:
            detail = T_("working days of the requested state's calendar ({calendar}) per official notice {notices}", calendar=calendar_name, notices=", ".join(notices))
        else:
            detail = T_("working days of the requested state's calendar ({calendar})", calendar=calendar_name)
        rule = T_("{rule}; {detail}", rule=rule, detail=detail)
        provisional = tuple(cal.provisional_years(start, due))
    deadline = Deadline(kind=kind, due=due, start=start, figure=figure, rule=rule, provisional_years=provisional)
    if deadline.warning:
        return Deadline(kind=kind, due=due, start=start, figure=figure, rule=T_("{rule}; {detail}", rule=rule, detail=deadline.warning), provisional_years=provisional)
    return deadline


def calendar_for(version: AgreementVersion) -> WorkingCalendar:
    return WorkingCalendar(version.calendar)


def _readmission(version: AgreementVersion) -> ReadmissionProcedure:
    if version.readmission is None:
        raise Conflict(T_("agreement version {version} has no readmission procedure", version=str(version.version)))
    return version.readmission


def _transit(version: AgreementVersion) -> TransitProcedure:
    if version.transit is None:
        raise Conflict(T_("agreement version {version} has no transit procedure", version=str(version.version)))
    return version.transit


def _travel(version: AgreementVersion) -> TravelDocument:
    if version.travel_document is None:
        raise Conflict(T_("agreement version {version} has no travel-document rules", version=str(version.version)))
    return version.travel_document


def clock_start_date(procedure: ReadmissionProcedure, *, submitted_on: dt.date | None, acknowledged_on: dt.date | None) -> dt.date | None:
    """The date the reply clock starts, or None while the starting event has not happened.

    EU–Russia-style agreements start it at the *confirmed* receipt (our `acknowledge` transition);
    EU–Serbia Art. 10(2) at receipt, which the platform delivers at submission.
    """
    if procedure.clock_start is ClockStart.confirmed_receipt:
        return acknowledged_on
    return submitted_on


def reply_deadline(version: AgreementVersion, start: dt.date, *, accelerated: bool = False) -> Deadline:
    """The ordinary (or accelerated) reply limit from the clock start."""
    procedure = _readmission(version)
    cal = calendar_for(version)
    if accelerated:
        if procedure.accelerated is None:
            raise Conflict(T_("this agreement version has no accelerated procedure"))
        return _make(cal, "reply_due", start, procedure.accelerated.reply_limit, T_("Reply due (accelerated procedure)"), T_("receipt"))
    if procedure.reply_limit is None:
        raise Conflict(T_("agreement version {version} fixes no (verified) reply limit", version=str(version.version)))
    event = Label("readmission.clock_event", procedure.clock_start.value)
    return _make(cal, "reply_due", start, procedure.reply_limit, T_("Reply due"), event)


def extended_reply_deadline(version: AgreementVersion, start: dt.date, *, accelerated: bool = False) -> Deadline | None:
    """The latest reply date if the requested state asks for the extension, or None if there is none.

    `total` (EU–Russia style): the limit counts from the clock start; `additional` (EU–Serbia Art. 10(3)):
    it is added to the ordinary due date, in its own unit. There is no extension of the accelerated limit.
    """
    procedure = _readmission(version)
    if procedure.extension is None or accelerated or procedure.reply_limit is None:
        return None
    cal = calendar_for(version)
    figure = procedure.extension.limit
    if procedure.extension.mode is ExtensionMode.total:
        return _make(cal, "extended_reply_due", start, figure, T_("Extended reply due (limit extended up to)"), Label("readmission.clock_event", procedure.clock_start.value))
    ordinary = reply_deadline(version, start)
    return _make(cal, "extended_reply_due", ordinary.due, figure, T_("Extended reply due (limit extended by)"), T_("the ordinary due date"))


def effective_reply_deadline(version: AgreementVersion, start: dt.date, *, accelerated: bool = False, extension_requested: bool = False) -> Deadline:
    """The reply date that applies: the extended one once an extension was requested, else the ordinary one."""
    if extension_requested:
        extended = extended_reply_deadline(version, start, accelerated=accelerated)
        if extended is None:
            raise Conflict(T_("this agreement version allows no extension for this procedure"))
        return extended
    return reply_deadline(version, start, accelerated=accelerated)


def silence_means_acceptance(version: AgreementVersion, *, accelerated: bool = False) -> bool:
    procedure = _readmission(version)
    if accelerated and procedure.accelerated is not None and procedure.accelerated.silence_means_acceptance is not None:
        return procedure.accelerated.silence_means_acceptance.value
    return procedure.silence_means_acceptance.value


def transfer_deadline(version: AgreementVersion, accepted_on: dt.date) -> Deadline:
    """The last day of the transfer window after acceptance (or deemed acceptance)."""
    procedure = _readmission(version)
    if procedure.transfer_limit is None:
        raise Conflict(T_("agreement version {version} fixes no (verified) transfer limit", version=str(version.version)))
    return _make(calendar_for(version), "transfer_due", accepted_on, procedure.transfer_limit, T_("Transfer due"), T_("acceptance"))


def travel_document_expiry(version: AgreementVersion, issued_on: dt.date) -> Deadline | None:
    """Travel-document validity, e.g. at least 6 months (EU–Sri Lanka, EU–Pakistan) or 30 days (Russia-style)."""
    travel = _travel(version)
    if travel.validity is None:
        return None
    return _make(calendar_for(version), "travel_document_expiry", issued_on, travel.validity, T_("Travel document valid until"), T_("issue"))


def travel_document_issue_due(version: AgreementVersion, accepted_on: dt.date) -> Deadline | None:
    """Issue limit of the first travel document, when the agreement gives a number ("without delay" gives none)."""
    travel = _travel(version)
    if travel.issue_limit is None:
        return None
    return _make(calendar_for(version), "travel_document_issue_due", accepted_on, travel.issue_limit, T_("Travel document issue due"), T_("acceptance"))


def standard_travel_document_deemed_accepted(version: AgreementVersion, requested_on: dt.date) -> Deadline | None:
    """The day after which, without an acknowledgement of the travel-document request, the requested state
    is deemed to accept the EU standard travel document (EU–Sri Lanka: 30 calendar days, European
    Parliament procedure 2003/0043(CNS): "If Sri Lanka has not acknowledged receipt of the Member State's
    request within 30 calendar days, it will be deemed to accept the use of the common provisional travel
    document for return purposes")."""
    travel = _travel(version)
    if travel.standard_document_deemed_accepted is None:
        return None
    return _make(calendar_for(version), "standard_document_deemed_accepted", requested_on, travel.standard_document_deemed_accepted,
                 T_("EU standard travel document deemed accepted if the travel-document request is not acknowledged by"), T_("the request (made on acceptance)"))


def travel_document_reissue_due(version: AgreementVersion, requested_on: dt.date) -> list[Deadline]:
    """Reissue limits: normally within 14 and at most 30 calendar days (EU–Sri Lanka)."""
    travel = _travel(version)
    cal = calendar_for(version)
    result = []
    if travel.reissue_normal_limit is not None:
        result.append(_make(cal, "travel_document_reissue_normal_due", requested_on, travel.reissue_normal_limit, T_("Reissued travel document normally due"), T_("reissue request")))
    if travel.reissue_max_limit is not None:
        result.append(_make(cal, "travel_document_reissue_max_due", requested_on, travel.reissue_max_limit, T_("Reissued travel document due at the latest"), T_("reissue request")))
    return result


def transit_reply_deadline(version: AgreementVersion, received_on: dt.date) -> Deadline:
    return _make(calendar_for(version), "transit_reply_due", received_on, _transit(version).reply_limit, T_("Transit reply due"), T_("receipt"))


def transit_deadline(version: AgreementVersion, consent_on: dt.date) -> Deadline:
    return _make(calendar_for(version), "transit_due", consent_on, _transit(version).transit_limit, T_("Transit to be carried out by"), T_("consent"))


def deadlines_on_receipt(version: AgreementVersion, received: dt.date, *, accelerated: bool = False, extension_requested: bool = False) -> dict[str, Any]:
    """The CLI's `readmission deadlines` answer: reply due, latest extended due, transfer if accepted on the last day."""
    reply = reply_deadline(version, received, accelerated=accelerated)
    extended = extended_reply_deadline(version, received, accelerated=accelerated)
    if extension_requested and extended is None:
        raise Conflict(T_("this agreement version allows no extension for this procedure"))
    last_day = extended if (extension_requested and extended is not None) else reply
    transfer = transfer_deadline(version, last_day.due)
    travel = travel_document_expiry(version, last_day.due)
    return {
        "agreement_version": version.version,
        "received": received.isoformat(),
        "accelerated": accelerated,
        "extension_requested": extension_requested,
        "silence_means_acceptance": silence_means_acceptance(version, accelerated=accelerated),
        "reply_due": reply.as_dict(),
        "latest_extended_due": extended.as_dict() if extended else None,
        "transfer_deadline_if_accepted_on_last_day": transfer.as_dict(),
        "travel_document_valid_until_if_issued_on_last_day": travel.as_dict() if travel else None,
    }


@dataclass(frozen=True)
class CaseDates:
    """The dates of a case that deadlines depend on (a plain snapshot; the service fills it from the ORM)."""

    procedure: str = "readmission"
    accelerated: bool = False
    submitted_on: dt.date | None = None
    acknowledged_on: dt.date | None = None
    extension_requested_on: dt.date | None = None
    replied_on: dt.date | None = None
    accepted_on: dt.date | None = None
    travel_document_issued_on: dt.date | None = None
    travel_document_reissue_requested_on: dt.date | None = None
    transferred_on: dt.date | None = None


def case_deadlines(version: AgreementVersion, dates: CaseDates) -> list[Deadline]:
    """Every deadline that currently applies to a case; recomputed after each transition."""
    if dates.procedure == "transit":
        result = []
        if dates.submitted_on and dates.replied_on is None:
            result.append(transit_reply_deadline(version, dates.submitted_on))
        if dates.accepted_on and dates.transferred_on is None:
            result.append(transit_deadline(version, dates.accepted_on))
        return result
    procedure = _readmission(version)
    result = []
    start = clock_start_date(procedure, submitted_on=dates.submitted_on, acknowledged_on=dates.acknowledged_on)
    if start is not None and dates.replied_on is None and dates.accepted_on is None and (procedure.reply_limit is not None or dates.accelerated):
        result.append(effective_reply_deadline(version, start, accelerated=dates.accelerated, extension_requested=dates.extension_requested_on is not None))
        if dates.extension_requested_on is None:
            extended = extended_reply_deadline(version, start, accelerated=dates.accelerated)
            if extended is not None:
                result.append(extended)
    if dates.accepted_on and dates.transferred_on is None and procedure.transfer_limit is not None:
        result.append(transfer_deadline(version, dates.accepted_on))
    if dates.accepted_on and dates.transferred_on is None and dates.travel_document_issued_on is None:
        # "without delay" (EU–Pakistan) gives no date; only a numeric issue limit does
        issue = travel_document_issue_due(version, dates.accepted_on)
        if issue:
            result.append(issue)
        deemed = standard_travel_document_deemed_accepted(version, dates.accepted_on)
        if deemed:
            result.append(deemed)
    if dates.travel_document_issued_on and dates.transferred_on is None:
        expiry = travel_document_expiry(version, dates.travel_document_issued_on)
        if expiry:
            result.append(expiry)
    if dates.travel_document_reissue_requested_on and dates.transferred_on is None:
        result.extend(travel_document_reissue_due(version, dates.travel_document_reissue_requested_on))
    return result


def check_transfer_date(version: AgreementVersion, dates: CaseDates, transfer_date: dt.date, *, today: dt.date) -> list[Deadline]:
    """Refuse a transfer date in the past, after the travel document's expiry (reissue it first) or
    after the transfer window (which the agreement lets the requesting state extend only on a reasoned
    request, e.g. EU–Serbia Art. 10(5)). Returns the deadlines the date was checked against."""
    checked: list[Deadline] = []
    if transfer_date < today:
        raise Conflict(T_("the transfer date is in the past"), extra={"transfer_date": transfer_date.isoformat()})
    if dates.travel_document_issued_on is not None:
        expiry = travel_document_expiry(version, dates.travel_document_issued_on)
        if expiry is not None:
            checked.append(expiry)
            if transfer_date > expiry.due:
                raise Conflict(T_("the travel document expires before the transfer date; reissue it first"), extra={"travel_document_expiry": expiry.due.isoformat(), "rule": expiry.rule})
    if dates.accepted_on is not None and version.readmission is not None and version.readmission.transfer_limit is not None:
        window = transfer_deadline(version, dates.accepted_on)
        checked.append(window)
        if transfer_date > window.due:
            raise Conflict(T_("the transfer date is after the transfer window"), extra={"transfer_due": window.due.isoformat(), "rule": window.rule})
    return checked
