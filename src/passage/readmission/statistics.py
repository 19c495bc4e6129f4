"""Readmission statistics as pure functions over case records - the figures nobody publishes today.

Per agreement, requesting state, province and period (month, quarter or year of submission):
applications; reply time in days (median and 90th percentile, nearest-rank method: the smallest
value with at least p% of observations at or below it, Hyndman & Fan 1996 definition 1); share
answered within the limit; deemed acceptances; refusals by reason; time to travel document;
transfers within the window; outcomes. A reply is "within the limit" when replied_on <= reply_due
(the agreement's time-limits article, e.g. EU–Serbia Art. 10(2)); a deemed acceptance is by
definition not a reply within the limit.

Readers outside the cases' own scope (analysts; an officer reading another state's cases) get the figures
through `published`, which runs them through the platform's disclosure control
(`passage.security.disclosure`). What they can ask for is every grouping by *one* key - agreement,
requesting state, province, or period by month, quarter or year - and the overall total; all of these
form one linked table (each grouping sums to the total, months to quarters to years) whose relations are
declared, so no withheld count can be recovered by asking for another grouping and subtracting.
Cross-classified groupings (state x province x month) of other parties' cases are not published: at the
sizes of readmission caseloads nearly every cell would be withheld, and linking all of them would make
the protection of the rest unverifiable on a request.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from passage.security import disclosure

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
    travel_documents: int = 0
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
    row.travel_documents = len(td_days)
    transferred = [r for r in records if r.transferred_on is not None]
    row.transfers = len(transferred)
    row.transfers_within_window = sum(1 for r in transferred if r.transfer_due is not None and r.transferred_on is not None and r.transferred_on <= r.transfer_due)
    row.transfers_within_window_share = round(row.transfers_within_window / row.transfers, 4) if row.transfers else None
    row.outcomes = dict(sorted(Counter(r.outcome or "pending" for r in records).items()))
    return row


CSV_COLUMNS = (
    "applications", "replies", "reply_days_median", "reply_days_p90", "answered_within_limit", "answered_within_limit_share",
    "deemed_acceptances", "refusals_by_reason", "travel_document_days_median", "travel_documents", "transfers", "transfers_within_window",
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


# --- disclosure control for readers outside the cases' scope ------------------------------------------

ALL = "(all)"
"""A key's value in a cube node that is summed over that key."""

COUNT_COLUMNS = ("applications", "replies", "answered_within_limit", "deemed_acceptances", "travel_documents", "transfers", "transfers_within_window")
DEPENDANT_COLUMNS: dict[str, tuple[str, ...]] = {
    "reply_days_median": ("replies",),
    "reply_days_p90": ("replies",),
    "answered_within_limit_share": ("answered_within_limit", "replies", "deemed_acceptances"),
    "travel_document_days_median": ("travel_documents",),
    "transfers_within_window_share": ("transfers_within_window", "transfers"),
}
"""Values that are not counts, and the counts they are computed from (withheld with any of them)."""
AT_MOST = (("replies", "applications"), ("answered_within_limit", "replies"), ("travel_documents", "applications"),
           ("transfers", "applications"), ("transfers_within_window", "transfers"))
"""Pairs (smaller, larger) that hold by definition in every row; a reader knows them too."""

NodeKey = tuple[str | None, str | None, str | None, str | None]


def period_level(label: str) -> str:
    if label == ALL:
        return "all"
    if "-Q" in label:
        return "quarter"
    return "month" if "-" in label else "year"


def parent_period(label: str) -> str:
    """month -> its quarter -> its year -> ALL."""
    level = period_level(label)
    if level == "month":
        year, month = label.split("-")
        return f"{year}-Q{(int(month) - 1) // 3 + 1}"
    if level == "quarter":
        return label.split("-")[0]
    return ALL


def node_key(group: dict[str, str | None]) -> NodeKey:
    values = [group[k] if k in group else ALL for k in GROUP_KEYS]
    return (values[0], values[1], values[2], values[3])


@dataclass(frozen=True)
class PublishedCube:
    """Every grouping's rows over a set of cases, and what disclosure control lets out of them."""

    nodes: dict[NodeKey, StatsRow]
    outcomes: tuple[str, ...]
    reasons: tuple[str, ...]
    table: disclosure.Table
    protection: disclosure.Protection

    def rows(self, group_by: Sequence[str], granularity: str) -> list[dict[str, Any]]:
        """The published rows of one grouping (by at most one key): withheld values None, `withheld` naming
        them, in `compute` order. Groupings by two or more keys give no rows (see the module docstring)."""
        if not supported(group_by):
            return []
        wanted_level = granularity if "period" in group_by else "all"
        out = []
        for key, row in self.nodes.items():
            if any((key[i] != ALL) != (k in group_by) for i, k in enumerate(GROUP_KEYS[:3])):
                continue
            if period_level(key[3] or ALL) != wanted_level:
                continue
            out.append((tuple("" if v is None else v for v in (row.group.get(k) for k in group_by)), self.publish(key, row, group_by)))
        return [data for _, data in sorted(out, key=lambda pair: pair[0])]

    def publish(self, key: NodeKey, row: StatsRow, group_by: Sequence[str]) -> dict[str, Any]:
        data = row.as_dict()
        data["group"] = {k: row.group.get(k) for k in group_by}
        withheld = []
        for column in COUNT_COLUMNS:
            if self.protection.hidden((key, column)):
                data[column] = None
                withheld.append(column)
        for column in DEPENDANT_COLUMNS:
            if self.protection.hidden((key, column)):
                data[column] = None
                withheld.append(column)
        data["outcomes"] = {o: self.protection.value(self.table, (key, f"outcome:{o}")) for o in self.outcomes}
        data["refusals_by_reason"] = {r: self.protection.value(self.table, (key, f"refusal:{r}")) for r in self.reasons}
        withheld += [f"outcomes.{o}" for o, v in data["outcomes"].items() if v is None]
        withheld += [f"refusals_by_reason.{r}" for r, v in data["refusals_by_reason"].items() if v is None]
        data["withheld"] = withheld
        data["redacted"] = bool(withheld)
        return data


def supported(group_by: Sequence[str]) -> bool:
    """Groupings published for readers outside the cases' scope: the total, or by one key."""
    return len(set(group_by)) <= 1


def _cube_nodes(records: Sequence[CaseRecord]) -> dict[NodeKey, StatsRow]:
    """The total, each one-key grouping, and the period at every granularity."""
    nodes: dict[NodeKey, StatsRow] = {}
    queries: list[tuple[list[str], str]] = [([], "month"), *(([k], "month") for k in GROUP_KEYS[:3])]
    queries += [(["period"], granularity) for granularity in ("month", "quarter", "year")]
    for group_by, granularity in queries:
        for row in compute(records, group_by=group_by, granularity=granularity):
            nodes[node_key(dict(row.group))] = row
    return nodes


@functools.lru_cache(maxsize=16)
def _cube(records: tuple[CaseRecord, ...], threshold: int) -> PublishedCube:
    nodes = _cube_nodes(records)
    submitted = [r for r in records if r.submitted_on is not None]
    outcomes = tuple(sorted({r.outcome or "pending" for r in submitted}))
    reasons = tuple(sorted({r.refusal_reason or "unspecified" for r in submitted if r.outcome == "refused"}))
    table = disclosure.Table()
    for key, row in nodes.items():
        for column in COUNT_COLUMNS:
            table.count((key, column), getattr(row, column))
        for o in outcomes:
            table.count((key, f"outcome:{o}"), row.outcomes.get(o, 0))
        for r in reasons:
            table.count((key, f"refusal:{r}"), row.refusals_by_reason.get(r, 0))
        table.total((key, "applications"), [(key, f"outcome:{o}") for o in outcomes])
        if "refused" in outcomes:
            table.total((key, "outcome:refused"), [(key, f"refusal:{r}") for r in reasons])
        if "deemed_accepted" in outcomes:
            table.total((key, "deemed_acceptances"), [(key, "outcome:deemed_accepted")])
        for small, large in AT_MOST:
            table.at_most((key, small), (key, large))
        for column, sources in DEPENDANT_COLUMNS.items():
            table.depends((key, column), [(key, s) for s in sources])
    measures = [*COUNT_COLUMNS, *(f"outcome:{o}" for o in outcomes), *(f"refusal:{r}" for r in reasons)]
    for position in range(4):
        children: dict[NodeKey, list[NodeKey]] = defaultdict(list)
        for key in nodes:
            if key[position] == ALL:
                continue
            parent = list(key)
            parent[position] = ALL if position < 3 else parent_period(key[position] or ALL)
            children[(parent[0], parent[1], parent[2], parent[3])].append(key)
        for parent_key, child_keys in children.items():
            for measure in measures:
                table.total((parent_key, measure), [(c, measure) for c in child_keys])
    return PublishedCube(nodes=nodes, outcomes=outcomes, reasons=reasons, table=table,
                         protection=disclosure.protect(table, threshold=threshold))


def published(records: Iterable[CaseRecord], *, threshold: int | None = None) -> PublishedCube:
    """The disclosure-controlled cube over `records` (drafts ignored); cached for the same records."""
    limit = disclosure.threshold_setting() if threshold is None else threshold
    return _cube(tuple(r for r in records if r.submitted_on is not None), limit)
