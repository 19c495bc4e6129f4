"""Statistical disclosure control: the one rule every published aggregate goes through.

Every count Passage publishes to a reader outside the records' own scope (readmission and AVRR
statistics, DTM tables, mobility outputs; as JSON, CSV, HXL, PDF, pages and maps) is built as a
`Table` and passed through `protect`. Nothing else decides what is withheld.

Primary suppression, one setting and one comparison
    A count ``c`` is withheld when ``c <= threshold`` (`is_small`), where the threshold is the setting
    ``PASSAGE_REDACTION_THRESHOLD`` (default 15). This is FlowKit's redaction rule ("counts of 15 or fewer
    are dropped", flowmachine `RedactedSpatialAggregate`) and the threshold rule for frequency tables
    (Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, ch. 5). A zero inside a published row
    is "15 or fewer" too and is withheld: otherwise "normal flow 0, crisis flow 67" tells the reader that
    all 67 moved because of the crisis. (A group with no record at all has no row; that absence is public
    and every check below treats it as a published zero.)

Secondary (complementary) suppression
    Withholding the small cells is not enough when totals, differences or neighbouring columns are published
    beside them (Hundepool et al. 2012, ch. 4, "secondary cell suppression"; the tau-ARGUS approach). A
    `Table` therefore carries the linear relations a reader knows: a total equals the sum of its parts
    (`total`), a difference equals one cell minus another (`difference`), a count is at most another
    (`at_most`). Values that are not linear in the counts (a share, a median) are declared with
    `depends`: they are withheld whenever any count they are computed from is withheld.

    Protection criterion (the "protection interval" of ch. 4): for every primary-suppressed cell, the
    interval of values consistent with everything published - each relation, every published value, counts
    non-negative - must be at least ``threshold + 1`` wide after rounding to whole numbers. The reader can
    then learn no more about a withheld cell than "somewhere in a range as wide as 0..threshold".

    The method is the greedy heuristic with an audit that tau-ARGUS's "modular" and "hypercube" methods
    refine: (1) every relation in which exactly one cell is withheld, or in which the withheld cells add up
    to less than the required width, gets one more cell withheld - the smallest published one that closes
    the gap, the cost function "cell value" of tau-ARGUS, so the least information is lost; (2) when no
    relation asks for more, the audit solves two linear programmes per withheld cell (minimum and
    maximum, scipy's HiGHS) over the connected group of withheld cells, exactly what an attacker would do;
    a cell found too narrow gets the smallest published cell of its relations withheld and the loop
    resumes. Withholding everything always satisfies the criterion (a count is then unbounded above), so
    the loop ends. Cells are chosen in a fixed order, so the same data always give the same publication:
    a reader cannot average away the choice by asking twice.

The module is pure (no database, no HTTP) and imports no Passage module except the settings.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from passage.core.settings import get_settings

CellKey = Hashable

MAX_AUDIT_VARIABLES = 400
"""Groups of linked withheld cells up to this size are audited cell by cell (see `audit`)."""
TIGHT_FACTOR = 4
"""In larger groups, cells of relations with less than this many times the required width are audited."""


def threshold_setting() -> int:
    """The one threshold: counts at or below it are withheld (`PASSAGE_REDACTION_THRESHOLD`)."""
    return int(get_settings().redaction_threshold)


def is_small(count: int | float | None, threshold: int) -> bool:
    """The one comparison: a count is withheld when it is at most the threshold (None counts as withheld)."""
    return count is None or count <= threshold


def required_width(threshold: int) -> int:
    """Width of the interval a withheld cell must keep, for a reader who sees everything published."""
    return threshold + 1


@dataclass(frozen=True)
class Relation:
    """A linear relation a reader knows: ``sum(coefficient * value) == 0`` (eq) or ``<= 0`` (le)."""

    terms: tuple[tuple[CellKey, int], ...]
    kind: Literal["eq", "le"] = "eq"
    parts: tuple[CellKey, ...] = ()
    """For `total` relations: the parts (the cells whose sum is the total), in their order."""

    @property
    def cells(self) -> tuple[CellKey, ...]:
        return tuple(key for key, _ in self.terms)


@dataclass
class Table:
    """Cells (counts, or differences that may be negative) and the relations between them."""

    values: dict[CellKey, int] = field(default_factory=dict)
    signed: set[CellKey] = field(default_factory=set)
    """Cells that are differences: no lower bound, and never primary-suppressed themselves."""
    relations: list[Relation] = field(default_factory=list)
    dependants: dict[CellKey, tuple[CellKey, ...]] = field(default_factory=dict)
    """Non-linear values (shares, medians) -> the counts they are computed from."""
    keep: set[CellKey] = field(default_factory=set)
    """Cells to withhold last (the headline figure of a table, e.g. flows above normal): tau-ARGUS's cost weights."""

    contributors: dict[CellKey, int] = field(default_factory=dict)
    """Cells whose sensitivity is judged by how many records contribute, not by their value."""

    def count(self, key: CellKey, value: int, *, contributors: int | None = None) -> CellKey:
        """Add a count (non-negative). It is withheld when small - or, when `contributors` is given (a sum
        such as returnees over households), when the number of contributing records is small (the
        threshold rule for magnitude tables, Hundepool et al. 2012, ch. 4)."""
        if key in self.values:
            raise ValueError(f"cell {key!r} added twice")
        if value < 0:
            raise ValueError(f"count {key!r} is negative")
        self.values[key] = int(value)
        if contributors is not None:
            self.contributors[key] = int(contributors)
        return key

    def difference(self, key: CellKey, plus: CellKey, minus: CellKey) -> CellKey:
        """Add ``key = plus - minus`` (e.g. flows above normal = crisis flow - normal flow)."""
        self.values[key] = self.values[plus] - self.values[minus]
        self.signed.add(key)
        self.relations.append(Relation(terms=((key, 1), (plus, -1), (minus, 1))))
        return key

    def total(self, key: CellKey, parts: Iterable[CellKey]) -> None:
        """Declare ``key = sum(parts)``; the values must already agree (a wrong relation is a bug)."""
        part_keys = tuple(dict.fromkeys(parts))
        if key in part_keys:
            raise ValueError(f"cell {key!r} cannot be a part of itself")
        if sum(self.values[p] for p in part_keys) != self.values[key]:
            raise ValueError(f"total {key!r} is not the sum of its parts")
        self.relations.append(Relation(terms=((key, -1), *((p, 1) for p in part_keys)), parts=part_keys))

    def at_most(self, small: CellKey, large: CellKey) -> None:
        """Declare ``small <= large`` (e.g. replies within the limit <= replies)."""
        if self.values[small] > self.values[large]:
            raise ValueError(f"{small!r} exceeds {large!r}")
        self.relations.append(Relation(terms=((small, 1), (large, -1)), kind="le"))

    def depends(self, key: CellKey, sources: Iterable[CellKey]) -> None:
        """A published non-linear value (a share, a median) computed from these counts."""
        self.dependants[key] = tuple(sources)


@dataclass(frozen=True)
class Protection:
    """What may be published of a table: `primary` (small counts) and `secondary` (protecting them)."""

    threshold: int
    primary: frozenset[CellKey]
    secondary: frozenset[CellKey]
    withheld_dependants: frozenset[CellKey] = frozenset()

    @property
    def withheld(self) -> frozenset[CellKey]:
        return self.primary | self.secondary

    def hidden(self, key: CellKey) -> bool:
        return key in self.primary or key in self.secondary or key in self.withheld_dependants

    def value(self, table: Table, key: CellKey) -> int | None:
        """The published value of a cell, or None when withheld."""
        return None if key in self.primary or key in self.secondary else table.values[key]

    def summary(self) -> dict[str, int]:
        """Counts for a page footer and the audit log (never values)."""
        return {"threshold": self.threshold, "primary": len(self.primary), "secondary": len(self.secondary)}


def protect(table: Table, *, threshold: int | None = None) -> Protection:
    """Primary and secondary suppression of `table` (see the module docstring for the method)."""
    limit = threshold_setting() if threshold is None else int(threshold)
    if limit < 0:
        raise ValueError("threshold must not be negative")
    width = required_width(limit)
    primary = {k for k, v in table.values.items() if k not in table.signed and is_small(table.contributors.get(k, v), limit)}
    withheld = set(primary)
    by_cell = _relations_by_cell(table)
    order = {key: i for i, key in enumerate(table.values)}

    while True:
        added = _local_pass(table, withheld, width, order)
        if added:
            continue
        weak = audit(table, withheld=withheld, primary=primary, threshold=limit)
        if not weak:
            break
        grew = False
        for key in weak:
            candidate = _cheapest_neighbour(table, key, withheld, by_cell, order)
            if candidate is not None:
                withheld.add(candidate)
                grew = True
        if not grew:
            if withheld >= set(table.values) - set(table.signed):
                break  # every count is withheld: nothing is published, so nothing can be recovered (e.g. an empty programme)
            raise RuntimeError("secondary suppression could not protect the table")
    dependants = frozenset(k for k, sources in table.dependants.items() if any(s in withheld for s in sources))
    return Protection(threshold=limit, primary=frozenset(primary), secondary=frozenset(withheld - primary),
                      withheld_dependants=dependants)


def _local_pass(table: Table, withheld: set[CellKey], width: int, order: Mapping[CellKey, int]) -> bool:
    """One sweep of the local rules over every equality relation; True when a cell was added."""
    added = False
    for relation in table.relations:
        if relation.kind != "eq":
            continue
        hidden = [k for k in relation.cells if k in withheld]
        if not hidden:
            continue
        published = [k for k in relation.cells if k not in withheld]
        if not published:
            continue
        need: float = 0
        if len(hidden) > 1:
            capacity = _capacity(table, relation, hidden)
            if capacity >= width:
                continue
            need = width - capacity
        choice = _choose(table, relation, published, need, order)
        withheld.add(choice)
        added = True
    return added


def _capacity(table: Table, relation: Relation, hidden: Sequence[CellKey]) -> float:
    """How far the withheld cells of a relation can move: their known sum when they all have one sign."""
    signs = {c for k, c in relation.terms if k in hidden}
    if len(signs) > 1 or any(k in table.signed for k in hidden):
        return math.inf
    return float(sum(abs(table.values[k]) for k in hidden))


def _choose(table: Table, relation: Relation, published: Sequence[CellKey], need: float, order: Mapping[CellKey, int]) -> CellKey:
    """The cell to withhold next: not one the table asks to keep if another will do; a derived difference
    before a raw count; parts before the total; then the smallest value that covers `need` (or the largest
    when none does)."""
    parts = [k for k in published if k in relation.parts] or list(published)
    best = min((k in table.keep, k not in table.signed) for k in parts)
    parts = [k for k in parts if (k in table.keep, k not in table.signed) == best]
    covering = [k for k in parts if abs(table.values[k]) >= need]
    pool = covering or parts
    if covering:
        return min(pool, key=lambda k: (abs(table.values[k]), order[k]))
    return max(pool, key=lambda k: (abs(table.values[k]), -order[k]))


def _cheapest_neighbour(table: Table, key: CellKey, withheld: set[CellKey], by_cell: Mapping[CellKey, list[int]],
                        order: Mapping[CellKey, int]) -> CellKey | None:
    """Smallest published cell sharing a relation with `key` or with a withheld cell linked to it."""
    seen = {key}
    frontier = [key]
    best: CellKey | None = None
    while frontier:
        current = frontier.pop()
        for index in by_cell.get(current, ()):
            for other in table.relations[index].cells:
                if other in seen:
                    continue
                seen.add(other)
                if other in withheld:
                    frontier.append(other)
                elif best is None or (abs(table.values[other]), order[other]) < (abs(table.values[best]), order[best]):
                    best = other
    return best


def components(table: Table, withheld: set[CellKey] | frozenset[CellKey]) -> list[list[CellKey]]:
    """Groups of withheld cells linked through relations (each group is solved on its own)."""
    parent: dict[CellKey, CellKey] = {k: k for k in withheld}

    def find(k: CellKey) -> CellKey:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for relation in table.relations:
        hidden = [k for k in relation.cells if k in withheld]
        for other in hidden[1:]:
            a, b = find(hidden[0]), find(other)
            if a != b:
                parent[a] = b
    groups: dict[CellKey, list[CellKey]] = defaultdict(list)
    for key in withheld:
        groups[find(key)].append(key)
    return list(groups.values())


def _relations_by_cell(table: Table) -> dict[CellKey, list[int]]:
    by_cell: dict[CellKey, list[int]] = defaultdict(list)
    for index, relation in enumerate(table.relations):
        for key in relation.cells:
            by_cell[key].append(index)
    return by_cell


def feasible_ranges(table: Table, withheld: set[CellKey] | frozenset[CellKey], targets: Iterable[CellKey]) -> dict[CellKey, tuple[float, float]]:
    """The attacker's view: min and max of each target over every table consistent with the publication.

    Solves the linear programmes of the audit step (Hundepool et al. 2012, ch. 4): variables are the
    withheld cells of the target's group, published cells are constants, counts are non-negative.
    """
    from scipy.optimize import linprog

    wanted = set(targets)
    by_cell = _relations_by_cell(table)
    out: dict[CellKey, tuple[float, float]] = {}
    for group in components(table, withheld):
        if not wanted.intersection(group):
            continue
        members = sorted(group, key=repr)
        index = {k: i for i, k in enumerate(members)}
        a_eq: list[list[float]] = []
        b_eq: list[float] = []
        a_ub: list[list[float]] = []
        b_ub: list[float] = []
        for number in sorted({i for k in members for i in by_cell.get(k, ())}):
            relation = table.relations[number]
            row = [0.0] * len(members)
            constant = 0.0
            for key, coefficient in relation.terms:
                if key in index:
                    row[index[key]] += coefficient
                else:
                    constant += coefficient * table.values[key]
            (a_eq if relation.kind == "eq" else a_ub).append(row)
            (b_eq if relation.kind == "eq" else b_ub).append(-constant)
        bounds: list[tuple[float | None, float | None]] = [(None, None) if k in table.signed else (0, None) for k in members]
        for key in members:
            if key not in wanted:
                continue
            if not a_eq and not a_ub:
                out[key] = (-math.inf if key in table.signed else 0.0, math.inf)
                continue
            if len(a_eq) == 1 and not a_ub:  # one equation (e.g. a row's derived difference): closed form, no solver
                out[key] = one_equation_range(a_eq[0], b_eq[0], bounds, index[key])
                continue
            objective = [0.0] * len(members)
            objective[index[key]] = 1.0
            low = _solve(linprog, objective, a_eq, b_eq, a_ub, b_ub, bounds)
            objective[index[key]] = -1.0
            high = _solve(linprog, objective, a_eq, b_eq, a_ub, b_ub, bounds)
            out[key] = (low, -high if math.isfinite(high) else math.inf)
    return out


def one_equation_range(row: Sequence[float], rhs: float, bounds: Sequence[tuple[float | None, float | None]], target: int) -> tuple[float, float]:
    """min and max of x[target] subject to row . x = rhs and the bounds: the audit's linear programme when a
    group has a single equation, in closed form. The other terms together range over [rest_low, rest_high], so
    row[target] * x[target] ranges over [rhs - rest_high, rhs - rest_low], cut to the target's own bounds. Equal
    to the solver's answer (tests/security/test_disclosure.py) at a fraction of its cost: a flows table has one
    such group per withheld row."""
    def span(j: int) -> tuple[float, float]:
        low, high = bounds[j]
        return (-math.inf if low is None else low), (math.inf if high is None else high)

    rest_low = rest_high = 0.0
    for j, coefficient in enumerate(row):
        if j == target or coefficient == 0:
            continue
        low, high = span(j)
        ends = (coefficient * low, coefficient * high)
        rest_low += min(ends)
        rest_high += max(ends)
    own_low, own_high = span(target)
    coefficient = row[target]
    if coefficient == 0:
        if not rest_low - 1e-9 <= rhs <= rest_high + 1e-9:
            raise RuntimeError("disclosure audit: linear programme failed (infeasible)")
        return own_low, own_high
    ends = ((rhs - rest_high) / coefficient, (rhs - rest_low) / coefficient)
    low, high = max(min(ends), own_low), min(max(ends), own_high)
    if low > high + 1e-9:
        raise RuntimeError("disclosure audit: linear programme failed (infeasible)")
    return low, high


def _solve(linprog: Any, objective: list[float], a_eq: list[list[float]], b_eq: list[float], a_ub: list[list[float]],
           b_ub: list[float], bounds: list[tuple[float | None, float | None]]) -> float:
    result = linprog(objective, A_eq=a_eq or None, b_eq=b_eq or None, A_ub=a_ub or None, b_ub=b_ub or None,
                     bounds=bounds, method="highs")
    if result.status == 3:  # unbounded
        return -math.inf
    if result.status != 0:
        raise RuntimeError(f"disclosure audit: linear programme failed ({result.message})")
    return float(result.fun)


def interval_width(low: float, high: float) -> float:
    """Width of the integer interval [ceil(low), floor(high)] (counts are whole numbers)."""
    if not math.isfinite(high) or not math.isfinite(low):
        return math.inf
    return math.floor(high + 1e-6) - math.ceil(low - 1e-6)


def _tight_cells(table: Table, withheld: set[CellKey] | frozenset[CellKey], width: int) -> set[CellKey]:
    """Withheld cells in some equality relation whose withheld cells move within less than
    `TIGHT_FACTOR` x the required width: the only ones other relations can narrow below it."""
    tight: set[CellKey] = set()
    for relation in table.relations:
        if relation.kind != "eq":
            continue
        hidden = [k for k in relation.cells if k in withheld]
        if hidden and len(hidden) < len(relation.cells) and _capacity(table, relation, hidden) < TIGHT_FACTOR * width:
            tight.update(hidden)
    return tight


def audit(table: Table, *, withheld: set[CellKey] | frozenset[CellKey], primary: Iterable[CellKey], threshold: int) -> list[CellKey]:
    """Primary cells a reader could narrow below the required width (empty when the table is safe).

    In groups of linked withheld cells up to `MAX_AUDIT_VARIABLES` every primary cell is solved for. In
    larger groups (a detailed table withheld almost everywhere, such as the readmission cube at province
    and month) only the primary cells of "tight" relations are (`_tight_cells`): a cell whose every
    relation leaves its withheld cells many times the required width to move in is not narrowed to less
    than the width by the other relations in practice; the property tests check whole publications
    with an attacker that solves for every withheld cell.
    """
    width = required_width(threshold)
    primary_set = set(primary)
    order = {key: i for i, key in enumerate(table.values)}
    tight: set[CellKey] | None = None
    targets: list[CellKey] = []
    for group in components(table, withheld):
        if len(group) <= MAX_AUDIT_VARIABLES:
            targets.extend(k for k in group if k in primary_set)
        else:
            if tight is None:
                tight = _tight_cells(table, withheld, width)
            targets.extend(k for k in group if k in primary_set and k in tight)
    weak = [key for key, (low, high) in feasible_ranges(table, withheld, targets).items() if interval_width(low, high) < width]
    return sorted(weak, key=lambda k: order[k])


def withheld_mask(protection: Protection, keys: Sequence[CellKey]) -> list[bool]:
    """Convenience for renderers: which of `keys` are withheld."""
    return [protection.hidden(k) for k in keys]


def describe(protection: Protection) -> dict[str, Any]:
    """Metadata for files and API answers: the rule, the threshold and how many cells were withheld."""
    return {
        "rule": "counts <= threshold withheld; further cells withheld so none can be recovered from totals or differences",
        "threshold": protection.threshold,
        "cells_withheld_small": len(protection.primary),
        "cells_withheld_to_protect": len(protection.secondary),
    }
