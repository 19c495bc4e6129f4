"""Consular rules without I/O: vocabularies, help-request states, service-level timers, priority tiers, messages.

Help requests follow the case handling of the 12308 Global Call Centre as the seminar report describes it (seed
004: calls for help in distress, assistance by the competent mission) and MICIC guideline 11 (2016, "provide
assistance ... communicate with migrants"): a request is *received*, *triaged* (urgency confirmed), *assigned* to
a mission, worked on (*in progress*, with follow-ups), then *resolved* with an outcome and *closed*.

Service-level targets per urgency are Passage's defaults (configurable per deployment): first contact within 1
hour for a critical request, 4 hours for high, 24 hours for medium, 72 hours for low; resolution within 24 h,
72 h, 7 days and 14 days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from passage.core.errors import Conflict
from passage.core.i18n import N_, T_

CHANNELS = ("hotline", "app", "walk_in", "partner", "email")
CATEGORIES = (
    "accident", "detention", "kidnapping", "natural_disaster", "political_unrest", "lost_documents",
    "illness", "crime_victim", "missing_person", "death", "labour_dispute", "other",
)
URGENCIES = ("critical", "high", "medium", "low")
STATUSES = ("received", "triaged", "assigned", "in_progress", "resolved", "closed")
OUTCOMES = ("assisted", "referred", "repatriated", "evacuated", "no_contact", "declined", "unfounded", "deceased")
VULNERABILITIES = ("child", "unaccompanied_minor", "older_person", "pregnant", "disability", "medical", "other")
CONTACT_STATUSES = ("not_contacted", "reached", "safe", "needs_help", "missing")
CRISIS_TYPES = ("earthquake", "tsunami", "volcano", "flood", "storm", "epidemic", "armed_conflict", "political_unrest", "terrorism", "other")
LANGUAGES = ("zh", "en")

LABELS: dict[str, str] = {
    "hotline": N_("Hotline (12308)"), "app": N_("App"), "walk_in": N_("Walk-in"), "partner": N_("Partner"), "email": N_("Email"), "web": N_("Web form"), "api": N_("API"), "csv": N_("CSV import"),
    "accident": N_("Accident"), "detention": N_("Detention"), "kidnapping": N_("Kidnapping"), "natural_disaster": N_("Natural disaster"),
    "political_unrest": N_("Political unrest"), "lost_documents": N_("Lost documents"), "illness": N_("Illness"),
    "crime_victim": N_("Victim of crime"), "missing_person": N_("Missing person"), "death": N_("Death abroad"),
    "labour_dispute": N_("Labour dispute"), "other": N_("Other"),
    "critical": N_("Critical"), "high": N_("High"), "medium": N_("Medium"), "low": N_("Low"),
    "received": N_("Received"), "triaged": N_("Triaged"), "assigned": N_("Assigned"), "in_progress": N_("In progress"),
    "resolved": N_("Resolved"), "closed": N_("Closed"),
    "assisted": N_("Assisted"), "referred": N_("Referred"), "repatriated": N_("Repatriated"), "evacuated": N_("Evacuated"),
    "no_contact": N_("No contact"), "declined": N_("Assistance declined"), "unfounded": N_("Unfounded"), "deceased": N_("Deceased"),
    "child": N_("Child"), "unaccompanied_minor": N_("Unaccompanied minor"), "older_person": N_("Older person"), "pregnant": N_("Pregnant"),
    "disability": N_("Disability"), "medical": N_("Medical needs"),
    "not_contacted": N_("Not contacted"), "reached": N_("Reached"), "safe": N_("Safe"), "needs_help": N_("Needs help"), "missing": N_("Missing"),
    "earthquake": N_("Earthquake"), "tsunami": N_("Tsunami"), "volcano": N_("Volcanic eruption"), "flood": N_("Flood"), "storm": N_("Storm"),
    "epidemic": N_("Epidemic"), "armed_conflict": N_("Armed conflict"), "terrorism": N_("Terrorism"),
    "bus": N_("Bus"), "charter_flight": N_("Charter flight"), "ship": N_("Ship"), "scheduled_flight": N_("Scheduled flight"), "train": N_("Train"),
    "planned": N_("Planned"), "checked_in": N_("Checked in"), "departed": N_("Departed"), "arrived": N_("Arrived"), "no_show": N_("No show"),
    "on_track": N_("On track"), "due_soon": N_("Due soon"), "breached": N_("Breached"), "met": N_("Met"), "met_late": N_("Met late"),
}
"""English labels of every vocabulary value (translated where shown)."""

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("triaged", "assigned", "closed"),
    "triaged": ("assigned", "closed"),
    "assigned": ("in_progress", "assigned", "resolved"),
    "in_progress": ("assigned", "resolved"),
    "resolved": ("closed", "in_progress"),
    "closed": (),
}


def check_request_transition(current: str, target: str) -> None:
    """Refuse a status change the workflow does not allow, naming the allowed ones."""
    if target not in TRANSITIONS.get(current, ()):
        raise Conflict(T_("a help request cannot go from {current} to {target}", current=current, target=target), extra={"allowed": list(TRANSITIONS.get(current, ()))})


@dataclass(frozen=True)
class ServiceLevel:
    first_contact: dt.timedelta
    resolution: dt.timedelta


SERVICE_LEVELS: dict[str, ServiceLevel] = {
    "critical": ServiceLevel(dt.timedelta(hours=1), dt.timedelta(hours=24)),
    "high": ServiceLevel(dt.timedelta(hours=4), dt.timedelta(hours=72)),
    "medium": ServiceLevel(dt.timedelta(hours=24), dt.timedelta(days=7)),
    "low": ServiceLevel(dt.timedelta(hours=72), dt.timedelta(days=14)),
}
DUE_SOON_SHARE = 0.25
"""A timer is "due soon" in the last quarter of its allowance."""

TimerState = Literal["on_track", "due_soon", "breached", "met", "met_late"]


@dataclass(frozen=True)
class Timer:
    name: str
    due_at: dt.datetime
    state: TimerState
    remaining_seconds: int | None
    """Seconds left (negative when breached); None once met."""


def _timer(name: str, started: dt.datetime, allowance: dt.timedelta, done: dt.datetime | None, now: dt.datetime) -> Timer:
    due = started + allowance
    if done is not None:
        return Timer(name, due, "met" if done <= due else "met_late", None)
    remaining = due - now
    if remaining.total_seconds() < 0:
        state: TimerState = "breached"
    elif remaining <= allowance * DUE_SOON_SHARE:
        state = "due_soon"
    else:
        state = "on_track"
    return Timer(name, due, state, int(remaining.total_seconds()))


def sla_state(*, urgency: str, received_at: dt.datetime, first_contact_at: dt.datetime | None, resolved_at: dt.datetime | None,
              now: dt.datetime) -> list[Timer]:
    """The first-contact and resolution timers of a request at `now`."""
    level = SERVICE_LEVELS[urgency]
    return [
        _timer("first_contact", received_at, level.first_contact, first_contact_at, now),
        _timer("resolution", received_at, level.resolution, resolved_at, now),
    ]


def priority_tier(vulnerabilities: Iterable[str], contact_status: str | None = None) -> int:
    """0: needs help now or medical needs; 1: any other vulnerability; 2: everyone else (MICIC guideline 10)."""
    found = set(vulnerabilities)
    if contact_status == "needs_help" or "medical" in found:
        return 0
    return 1 if found else 2


MESSAGE_TEMPLATES: dict[str, dict[str, str]] = {
    "zh": {
        "alert": "【中国领事保护】{crisis_zh}：{advice_zh} 如需帮助，请拨打12308或回复本短信说明您是否安全。",
        "evacuation": "【中国领事保护】{crisis_zh}撤离安排：请于{report_at}前到达集合点“{point}”。请携带护照。如需帮助请拨打12308。",
    },
    "en": {
        "alert": "[Consular protection] {crisis_en}: {advice_en} For help call +86-10-12308, or reply to tell us whether you are safe.",
        "evacuation": "[Consular protection] {crisis_en} evacuation: report to assembly point \"{point}\" before {report_at}. Bring your passport. For help call +86-10-12308.",
    },
}
"""Mass-message texts per language. No names or personal values go into a template except the person's own
assembly point and time."""


def render_message(kind: str, language: str, **values: str) -> str:
    """A mass message in `language` (`zh` or `en`, English otherwise)."""
    templates = MESSAGE_TEMPLATES.get(language, MESSAGE_TEMPLATES["en"])
    return templates[kind].format(**values)
