"""Aggregates of DTM figures per admin level and round: one table per level, never mixed.

DTM publishes its Mobility Tracking figures per admin level (IOM DTM, *Mobility Tracking methodological
framework*: location-level baselines summed up to admin 2, admin 1 and the country). A figure assessed
at admin 3 rolls up into its admin 2, 1 and 0 ancestors; a figure assessed at admin 2 cannot be split
down into admin 3 and is left out of an admin 3 table (and counted in `AggregateResult.not_rollable`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from passage.core.errors import InvalidInput
from passage.core.i18n import T_
from passage.dtm import vocab
from passage.dtm.geography import Gazetteer
from passage.dtm.rules import FigureRow

COUNT_FIELDS = ("idp_households", "idp_individuals", "returnee_households", "returnee_individuals", "males", "females")


@dataclass
class AggregateRow:
    """The figures of one admin area at one level in one round."""

    level: int
    pcode: str
    name_en: str
    name_zh: str | None
    lineage: dict[int, tuple[str, str]]  # level -> (pcode, English name), from 0 to `level`
    operation: str
    round_number: int
    reporting_date: dt.date
    assessment_type: str  # baseline | site
    idp_households: int | None = 0
    idp_individuals: int | None = 0
    returnee_households: int | None = 0
    returnee_individuals: int | None = 0
    males: int | None = 0
    females: int | None = 0
    breakdown: dict[str, int | None] = field(default_factory=dict)
    locations_assessed: int = 0
    rows_with_issues: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # reason -> locations citing it
    origin_admin1: dict[str, int] = field(default_factory=dict)  # origin admin 1 P-code -> IDP individuals
    previous_idp_individuals: int | None = None
    withheld: frozenset[str] = frozenset()
    """Counts withheld by disclosure control (`passage.dtm.publication`); their values are None. Empty in a raw
    aggregate, which only the publication step reads."""

    @property
    def main_reason(self) -> str | None:
        """The reason cited by most locations (ties: the order of `vocab.DISPLACEMENT_REASONS`)."""
        if not self.reasons:
            return None
        order = [c.name for c in vocab.DISPLACEMENT_REASONS]
        return sorted(self.reasons, key=lambda r: (-self.reasons[r], order.index(r) if r in order else len(order)))[0]

    @property
    def main_origin_admin1(self) -> str | None:
        if not self.origin_admin1:
            return None
        return sorted(self.origin_admin1, key=lambda p: (-self.origin_admin1[p], p))[0]

    @property
    def idp_change(self) -> int | None:
        if self.previous_idp_individuals is None or self.idp_individuals is None:
            return None
        return self.idp_individuals - self.previous_idp_individuals


@dataclass
class AggregateResult:
    level: int
    rows: list[AggregateRow]
    not_rollable: int = 0
    unknown_pcodes: list[str] = field(default_factory=list)


def aggregate(
    figures: Iterable[FigureRow],
    *,
    gazetteer: Gazetteer,
    level: int,
    operation: str,
    round_number: int,
    reporting_date: dt.date,
    assessment_type: str = "baseline",
    issue_rows: Iterable[str] = (),
    previous: Mapping[str, int] | None = None,
) -> AggregateResult:
    """Sum figures up to admin `level` (0-3) for one round.

    Sex and age breakdowns are summed only where every contributing figure has one: an area whose
    breakdown is partly unknown gets `males`/`females` None and an empty breakdown rather than an
    undercount. `issue_rows` holds the uuids of figures that failed a check; `previous` maps P-code to
    the previous round's IDP individuals at the same level, for the change column.
    """
    if level not in (0, 1, 2, 3):
        raise InvalidInput(T_("admin level must be 0, 1, 2 or 3"), extra={"level": level})
    flagged = set(issue_rows)
    rows: dict[str, AggregateRow] = {}
    complete_breakdown: dict[str, bool] = {}
    not_rollable = 0
    unknown: set[str] = set()
    for figure in figures:
        if figure.admin_pcode not in gazetteer:
            unknown.add(figure.admin_pcode)
            continue
        area = gazetteer.ancestor_at(figure.admin_pcode, level)
        if area is None:
            not_rollable += 1
            continue
        row = rows.get(area.pcode)
        if row is None:
            lineage = {a.level: (a.pcode, a.name_en) for a in gazetteer.lineage(area.pcode)}
            row = rows[area.pcode] = AggregateRow(
                level=level,
                pcode=area.pcode,
                name_en=area.name_en,
                name_zh=area.name_zh,
                lineage=lineage,
                operation=operation,
                round_number=round_number,
                reporting_date=reporting_date,
                assessment_type=assessment_type,
            )
            complete_breakdown[area.pcode] = True
        row.locations_assessed += 1
        row.idp_households = (row.idp_households or 0) + (figure.idp_households or 0)
        row.idp_individuals = (row.idp_individuals or 0) + (figure.idp_individuals or 0)
        row.returnee_households = (row.returnee_households or 0) + (figure.returnee_households or 0)
        row.returnee_individuals = (row.returnee_individuals or 0) + (figure.returnee_individuals or 0)
        if figure.uuid in flagged:
            row.rows_with_issues += 1
        has_breakdown = not figure.idp_individuals or len(figure.breakdown) == len(vocab.BREAKDOWN_FIELDS)
        if has_breakdown and complete_breakdown[area.pcode]:
            row.males = (row.males or 0) + (figure.males or 0)
            row.females = (row.females or 0) + (figure.females or 0)
            for name, count in figure.breakdown.items():
                row.breakdown[name] = (row.breakdown.get(name) or 0) + count
        else:
            complete_breakdown[area.pcode] = False
            row.males = row.females = None
            row.breakdown = {}
        for reason in dict.fromkeys(figure.reasons):
            row.reasons[reason] = row.reasons.get(reason, 0) + 1
        if figure.origin_pcode and figure.idp_individuals:
            origin = gazetteer.ancestor_at(figure.origin_pcode, 1)
            if origin is not None:
                row.origin_admin1[origin.pcode] = row.origin_admin1.get(origin.pcode, 0) + figure.idp_individuals
    for pcode, row in rows.items():
        if previous is not None:
            row.previous_idp_individuals = previous.get(pcode)
    ordered = [rows[p] for p in sorted(rows)]
    return AggregateResult(level=level, rows=ordered, not_rollable=not_rollable, unknown_pcodes=sorted(unknown))


def reason_totals(rows: Iterable[AggregateRow]) -> Counter[str]:
    """Locations citing each displacement reason, over a set of aggregate rows."""
    totals: Counter[str] = Counter()
    for row in rows:
        totals.update(row.reasons)
    return totals


def ensure_single_level(rows: Iterable[AggregateRow], level: int) -> list[AggregateRow]:
    """Refuse a table that mixes admin levels (the DTM users' complaint: national totals among subnational rows)."""
    materialised = list(rows)
    mixed = sorted({row.level for row in materialised} - {level})
    if mixed:
        raise InvalidInput(T_("a table holds one admin level; found rows at level(s) {mixed} in a level {level} table", mixed=', '.join(map(str, mixed)), level=level))
    return materialised
