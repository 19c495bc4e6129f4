"""What of a round's DTM figures may be published: every table, file, page and map layer goes through here.

A round is published at four admin levels (tables, HXL, the PDF report, the choropleth map, the DTM API v3)
and, for the site component, site by site on the map. A reader who sees all of them knows that an area's
figure is the sum of its sub-areas' (or of its sites'), that males + females are the IDP individuals, that
the sex and age groups add up to the males and the females, that a level's total is the sum of its rows
and that households are at most individuals. So the round is protected as *one* table of the platform's
disclosure control (`passage.security.disclosure`, threshold rule and secondary suppression after
Hundepool et al., *Statistical Disclosure Control*, 2012, ch. 4): every level, every site and every total
at once, with those relations declared. The same data always give the same publication, so the level a
reader asks for does not change what is withheld in another.

The change since the previous round (a difference of this round's and the previous round's figure) is
published only when both figures are published in their own rounds, so it says nothing that the two
publications do not already say. Counts of assessed locations, of rows with issues and of locations citing a
reason count key-informant assessments, not people, and are published as they are. The stored figures
themselves (the per-submission list of the round page) are the DTM team's working data, not a publication.

Pure: no database, no HTTP.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from passage.dtm import vocab
from passage.dtm.aggregate import AggregateResult, AggregateRow
from passage.security import disclosure

COUNTS: tuple[str, ...] = ("idp_households", "idp_individuals", "returnee_households", "returnee_individuals", "males", "females")
"""The person counts of an aggregate row that disclosure control protects (with each sex and age group)."""
SITE_COUNTS: tuple[str, ...] = ("idp_individuals", "idp_households")
"""The counts a site point carries on the map."""
LEVELS: tuple[int, ...] = (0, 1, 2, 3)


@dataclass(frozen=True)
class SiteFigure:
    """One site's figure in a round, with the P-codes of every area that contains it (its own and its ancestors)."""

    code: str
    areas: frozenset[str]
    idp_individuals: int | None
    idp_households: int | None


def _row_key(level: int, pcode: str, name: str) -> tuple[str, int, str, str]:
    return ("row", level, pcode, name)


def _total_key(level: int, name: str) -> tuple[str, int, str]:
    return ("total", level, name)


def _site_key(code: str, name: str) -> tuple[str, str, str]:
    return ("site", code, name)


def _row_values(row: AggregateRow) -> dict[str, int]:
    """The protected counts of a row that are known (sex figures and groups only with a full breakdown)."""
    values: dict[str, int] = {}
    for name in COUNTS:
        value = getattr(row, name)
        if value is not None:
            values[name] = int(value)
    for name in vocab.BREAKDOWN_FIELDS:
        count = row.breakdown.get(name)
        if count is not None:
            values[name] = int(count)
    return values


def build_table(results: Mapping[int, AggregateResult], *, sites: Sequence[SiteFigure] = ()) -> disclosure.Table:
    """The round as one disclosure `Table`: cells per (level, area, count), per level total and per site."""
    table = disclosure.Table()
    values: dict[tuple[int, str], dict[str, int]] = {}
    for level in LEVELS:
        result = results.get(level)
        if result is None:
            continue
        for row in result.rows:
            row_values = values[(level, row.pcode)] = _row_values(row)
            for name, value in row_values.items():
                table.count(_row_key(level, row.pcode, name), value)
            _row_relations(table, level, row.pcode, row_values)
        # the level's total, as the report and the series publish it
        names = {name for row in result.rows for name in values[(level, row.pcode)]}
        for name in sorted(names):
            if result.rows and all(name in values[(level, row.pcode)] for row in result.rows):
                total = table.count(_total_key(level, name), sum(values[(level, row.pcode)][name] for row in result.rows))
                table.keep.add(total)
                table.total(total, [_row_key(level, row.pcode, name) for row in result.rows])
    # an area is the sum of its sub-areas one level down, where every figure of it rolls down
    for level in LEVELS[1:]:
        parents, children = results.get(level - 1), results.get(level)
        if parents is None or children is None:
            continue
        by_parent: dict[str, list[AggregateRow]] = {}
        for row in children.rows:
            parent = row.lineage.get(level - 1)
            if parent is not None:
                by_parent.setdefault(parent[0], []).append(row)
        for parent_row in parents.rows:
            kids = by_parent.get(parent_row.pcode, [])
            for name, parent_value in values[(level - 1, parent_row.pcode)].items():
                if kids and all(name in values[(level, k.pcode)] for k in kids) and sum(values[(level, k.pcode)][name] for k in kids) == parent_value:
                    table.total(_row_key(level - 1, parent_row.pcode, name), [_row_key(level, k.pcode, name) for k in kids])
    # sites: every area's site-component figure is the sum of its sites' figures
    if sites:
        for site in sites:
            for name in SITE_COUNTS:
                value = getattr(site, name)
                if value is not None:
                    table.count(_site_key(site.code, name), int(value))
        for level in LEVELS:
            result = results.get(level)
            if result is None:
                continue
            for row in result.rows:
                inside = [s for s in sites if row.pcode in s.areas]
                for name in SITE_COUNTS:
                    area_value = values[(level, row.pcode)].get(name)
                    if area_value is not None and inside and all(getattr(s, name) is not None for s in inside) and sum(int(getattr(s, name)) for s in inside) == area_value:
                        table.total(_row_key(level, row.pcode, name), [_site_key(s.code, name) for s in inside])
    return table


def _row_relations(table: disclosure.Table, level: int, pcode: str, values: Mapping[str, int]) -> None:
    """The relations inside one row that hold for its figures (a relation that does not hold is not public)."""

    def key(name: str) -> Any:
        return _row_key(level, pcode, name)

    if {"males", "females", "idp_individuals"} <= values.keys() and values["males"] + values["females"] == values["idp_individuals"]:
        table.total(key("idp_individuals"), [key("males"), key("females")])
    for sex, total_name in (("m", "males"), ("f", "females")):
        groups = [f"{sex}_{age.name}" for age in vocab.AGE_GROUPS]
        if total_name in values and all(g in values for g in groups) and sum(values[g] for g in groups) == values[total_name]:
            table.total(key(total_name), [key(g) for g in groups])
    for small, large in (("idp_households", "idp_individuals"), ("returnee_households", "returnee_individuals")):
        if small in values and large in values and values[small] <= values[large]:
            table.at_most(key(small), key(large))


@dataclass
class Publication:
    """The published round: rows per level with withheld counts set to None, totals, sites, and the protection."""

    results: dict[int, AggregateResult]
    totals: dict[int, dict[str, int | None]]
    sites: dict[str, dict[str, int | None]]
    protection: disclosure.Protection
    withheld_cells: frozenset[Any] = field(default_factory=frozenset)

    def level(self, level: int) -> AggregateResult:
        return self.results[level]

    def value(self, level: int, pcode: str) -> int | None:
        """The published IDP individuals of an area (None when withheld or not assessed)."""
        for row in self.results[level].rows:
            if row.pcode == pcode:
                return row.idp_individuals
        return None

    def summary(self) -> dict[str, Any]:
        return disclosure.describe(self.protection)


def publish(results: Mapping[int, AggregateResult], *, sites: Sequence[SiteFigure] = (), previous: Publication | None = None,
            threshold: int | None = None) -> Publication:
    """Protect a round's aggregates at every level (and its sites) together; return what may be published."""
    table = build_table(results, sites=sites)
    protection = _protect(table, threshold=disclosure.threshold_setting() if threshold is None else threshold)
    withheld = protection.withheld

    def shown(key: Any) -> int | None:
        return None if key in withheld else table.values.get(key)

    published: dict[int, AggregateResult] = {}
    totals: dict[int, dict[str, int | None]] = {}
    for level, result in results.items():
        rows = []
        for row in result.rows:
            hidden = frozenset(name for name in (*COUNTS, *vocab.BREAKDOWN_FIELDS) if _row_key(level, row.pcode, name) in withheld)
            changes: dict[str, Any] = {name: None for name in COUNTS if name in hidden}
            if row.breakdown:
                changes["breakdown"] = {name: (None if name in hidden else value) for name, value in row.breakdown.items()}
            changes["withheld"] = hidden
            current_shown = "idp_individuals" not in hidden
            before = previous.value(level, row.pcode) if previous is not None and level in previous.results else None
            changes["previous_idp_individuals"] = before if (current_shown and row.previous_idp_individuals is not None) else None
            rows.append(dataclasses.replace(row, **changes))
        published[level] = dataclasses.replace(result, rows=rows)
        totals[level] = {name: shown(_total_key(level, name)) for name in (*COUNTS, *vocab.BREAKDOWN_FIELDS) if _total_key(level, name) in table.values}
    site_values = {site.code: {name: shown(_site_key(site.code, name)) for name in SITE_COUNTS} for site in sites}
    return Publication(results=published, totals=totals, sites=site_values, protection=protection, withheld_cells=frozenset(withheld))


_PROTECTED: OrderedDict[str, disclosure.Protection] = OrderedDict()
_PROTECTED_SIZE = 64


def _protect(table: disclosure.Table, *, threshold: int) -> disclosure.Protection:
    """`disclosure.protect`, remembered for the same table and threshold: the same data always give the same
    publication, and a page or a map asked again does not solve the linear programmes again."""
    fingerprint = hashlib.sha256(repr((threshold, sorted(table.values.items(), key=repr), [(r.terms, r.kind) for r in table.relations],
                                       sorted(table.keep, key=repr))).encode()).hexdigest()
    found = _PROTECTED.get(fingerprint)
    if found is None:
        found = _PROTECTED[fingerprint] = disclosure.protect(table, threshold=threshold)
        while len(_PROTECTED) > _PROTECTED_SIZE:
            _PROTECTED.popitem(last=False)
    else:
        _PROTECTED.move_to_end(fingerprint)
    return found


FLOW_PARTS: tuple[str, ...] = ("adult_males", "adult_females", "boys", "girls")


def published_flows(rows: Sequence[Mapping[str, Any]], *, threshold: int | None = None) -> list[dict[str, Any]]:
    """Flow monitoring counts by group (`rules.summarise_flows`) with disclosure control: each group's men, women,
    boys, girls and total, the total declared the sum of the four where it is (a count line's reported total may
    differ). Withheld counts are None."""
    table = disclosure.Table()
    for number, row in enumerate(rows):
        for name in (*FLOW_PARTS, "total"):
            table.count((number, name), int(row[name]))
        if sum(int(row[name]) for name in FLOW_PARTS) == int(row["total"]):
            table.total((number, "total"), [(number, name) for name in FLOW_PARTS])
    protection = _protect(table, threshold=disclosure.threshold_setting() if threshold is None else threshold)
    return [{**row, **{name: protection.value(table, (number, name)) for name in (*FLOW_PARTS, "total")}} for number, row in enumerate(rows)]


def sites_of(features: Iterable[Mapping[str, Any]], ancestors: Mapping[str, Iterable[str]]) -> list[SiteFigure]:
    """`SiteFigure`s from the site features of a round (`service.site_features`), with their areas' P-codes."""
    return [
        SiteFigure(code=str(f["site_id"]), areas=frozenset(ancestors.get(str(f["pcode"]), (str(f["pcode"]),))),
                   idp_individuals=f.get("idp_individuals"), idp_households=f.get("idp_households"))
        for f in features
    ]
