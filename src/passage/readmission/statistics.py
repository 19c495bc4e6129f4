"""Readmission statistics as pure functions over case records - the figures nobody publishes today.

Per agreement, requesting state, province and period (month, quarter or year of submission):
applications; reply time in days (median and 90th percentile, nearest-rank method: the smallest
value with at least p% of observations at or below it, Hyndman & Fan 1996 definition 1); share
answered within the limit; deemed acceptances; refusals by reason; time to travel document;
transfers within the window; outcomes. A reply is "within the limit" when replied_on <= reply_due
(the agreement's time-limits article, e.g. EU–Serbia Art. 10(2)); a deemed acceptance is by
definition not a reply within the limit.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

GROUP_KEYS = ("agreement_id", "requesting_state", "province", "period")


@dataclass(frozen=True)
class CaseRecord:
    """What statistics need of a case; no personal data (it survives erasure)."""

    agreement_id: str
    requesting_state: str
    province: str | None
    state: str
    submitted_on: dt.date | None
    reply_due: dt.date | None = None
    replied_on: dt.date | None = None
    reply_started_on: dt.date | None = None
    outcome: str | None = None
    """accepted, refused, deemed_accepted, withdrawn, cancelled or None while pending."""
    refusal_reason: str | None = None
    accepted_on: dt.date | None = None
    travel_document_issued_on: dt.date | None = None
    transfer_due: dt.date | None = None
    transferred_on: dt.date | None = None


@dataclass
class StatsRow:
    group: dict[str, str | None]
    applications: int = 0
    replies: int = 0
    reply_days_median: float | None = None
    reply_days_p90: float | None = None
    answered_within_limit: int = 0
    answered_within_limit_share: float | None = None
    deemed_acceptances: int = 0
    refusals_by_reason: dict[str, int] = field(default_factory=dict)
    travel_document_days_median: float | None = None
    transfers: int = 0
    transfers_within_window: int = 0
    transfers_within_window_share: float | None = None
    outcomes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (0 < p <= 100); None for no values."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return float(ordered[max(rank, 1) - 1])


def period_of(day: dt.date | None, granularity: str) -> str | None:
    if day is None:
        return None
    if granularity == "month":
        return f"{day.year}-{day.month:02d}"
    if granularity == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if granularity == "year":
        return str(day.year)
    raise ValueError("granularity must be month, quarter or year")


def _key(record: CaseRecord, group_by: Sequence[str], granularity: str) -> tuple[str | None, ...]:
    values = {
        "agreement_id": record.agreement_id,
        "requesting_state": record.requesting_state,
        "province": record.province,
        "period": period_of(record.submitted_on, granularity),
    }
    return tuple(values[k] for k in group_by)


def compute(records: Iterable[CaseRecord], *, group_by: Sequence[str] = GROUP_KEYS, granularity: str = "month") -> list[StatsRow]:
    """One row per group, sorted by group values; drafts (never submitted) are not applications."""
    unknown = [k for k in group_by if k not in GROUP_KEYS]
    if unknown:
        raise ValueError(f"unknown group keys {unknown}")
    groups: dict[tuple[str | None, ...], list[CaseRecord]] = defaultdict(list)
    for record in records:
        if record.submitted_on is None:
            continue
        groups[_key(record, group_by, granularity)].append(record)
    rows = []
    for key in sorted(groups, key=lambda k: tuple("" if v is None else v for v in k)):
        rows.append(_row(dict(zip(group_by, key, strict=True)), groups[key]))
    return rows


def _row(group: dict[str, str | None], records: list[CaseRecord]) -> StatsRow:
    row = StatsRow(group=group, applications=len(records))
    reply_days = []
    for r in records:
        if r.replied_on is not None and r.outcome in {"accepted", "refused"}:
            start = r.reply_started_on or r.submitted_on
            if start is not None:
                reply_days.append(float((r.replied_on - start).days))
            if r.reply_due is not None and r.replied_on <= r.reply_due:
                row.answered_within_limit += 1
    row.replies = len(reply_days)
    row.reply_days_median = percentile(reply_days, 50)
    row.reply_days_p90 = percentile(reply_days, 90)
    decided = row.replies + sum(1 for r in records if r.outcome == "deemed_accepted")
    row.answered_within_limit_share = round(row.answered_within_limit / decided, 4) if decided else None
    row.deemed_acceptances = sum(1 for r in records if r.outcome == "deemed_accepted")
    row.refusals_by_reason = dict(sorted(Counter(r.refusal_reason or "unspecified" for r in records if r.outcome == "refused").items()))
    td_days = [float((r.travel_document_issued_on - r.accepted_on).days) for r in records if r.accepted_on and r.travel_document_issued_on]
    row.travel_document_days_median = percentile(td_days, 50)
    transferred = [r for r in records if r.transferred_on is not None]
    row.transfers = len(transferred)
    row.transfers_within_window = sum(1 for r in transferred if r.transfer_due is not None and r.transferred_on is not None and r.transferred_on <= r.transfer_due)
    row.transfers_within_window_share = round(row.transfers_within_window / row.transfers, 4) if row.transfers else None
    row.outcomes = dict(sorted(Counter(r.outcome or "pending" for r in records).items()))
    return row


CSV_COLUMNS = (
    "applications", "replies", "reply_days_median", "reply_days_p90", "answered_within_limit", "answered_within_limit_share",
    "deemed_acceptances", "refusals_by_reason", "travel_document_days_median", "transfers", "transfers_within_window",
    "transfers_within_window_share", "outcomes",
)


def to_csv_rows(rows: Iterable[StatsRow], group_by: Sequence[str] = GROUP_KEYS) -> list[list[str]]:
    """Header plus one line per row; dict columns as `key=count;key=count`."""

    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, dict):
            return ";".join(f"{k}={v}" for k, v in value.items())
        return str(value)

    out = [list(group_by) + list(CSV_COLUMNS)]
    for row in rows:
        data = row.as_dict()
        out.append([cell(row.group.get(k)) for k in group_by] + [cell(data[c]) for c in CSV_COLUMNS])
    return out
