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
    relation asks for more, the audit proves each primary cell's protection by linear programming (scipy's
    HiGHS, sparse): first over a small neighbourhood of linked withheld cells with the others fixed at their
    true values - a subset of what an attacker must consider, so a wide enough interval there is a proof -
    and, for a cell not proven so, over ever larger neighbourhoods up to its whole group of linked withheld
    cells, which is exactly what an attacker would solve (`certified_ranges`); a cell found too narrow gets the
    smallest published cell of its relations withheld and the loop resumes. A cell once proven stays proven as
    more cells are withheld, so each is solved to completion once. Withholding everything always satisfies the
    criterion (a count is then unbounded above), so the loop ends. Cells are chosen in a fixed order, so the
    same data always give the same publication:
    a reader cannot average away the choice by asking twice.

    Guarantee, for tables of any size (no group is too large to audit): when `protect` returns, every
    primary-suppressed cell's interval of values consistent with the publication (relations, published
    values, counts non-negative; the linear relaxation, as in tau-ARGUS's audit) is at least
    ``threshold + 1`` whole numbers wide. What it does not cover: relations the `Table` was not told about,
    and exact integer reasoning beyond rounding the interval's ends (the same limit as tau-ARGUS's audit).

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

LOCAL_AUDIT_SIZE = 40
"""Withheld cells in the first neighbourhood a cell's protection is proven over (see `certified_ranges`)."""
LOCAL_AUDIT_GROWTH = 4
"""How much larger each next neighbourhood is, up to the whole group of linked withheld cells."""


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
    certified: set[CellKey] = set()

    while True:
        added = _local_pass(table, withheld, width, order)
        if added:
            continue
        weak = audit(table, withheld=withheld, primary=primary, threshold=limit, certified=certified)
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
    # the shortest relations first: a cell withheld for a small sum (an area and its sub-areas) usually protects the
    # larger sums it belongs to as well (a level's grand total), where the larger sum's own choice would not
    for relation in sorted(table.relations, key=lambda r: len(r.terms)):
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


def _range_problem(table: Table, members: Sequence[CellKey], by_cell: Mapping[CellKey, list[int]]) -> tuple[Any, ...]:
    """The attacker's constraints with `members` as the unknowns and every other cell a constant at its true
    value (sparse matrices: the big groups of a detailed table have thousands of unknowns)."""
    from scipy.sparse import coo_matrix

    index = {k: i for i, k in enumerate(members)}
    rows: dict[str, tuple[list[int], list[int], list[float], list[float]]] = {"eq": ([], [], [], []), "le": ([], [], [], [])}
    for number in sorted({i for k in members for i in by_cell.get(k, ())}):
        relation = table.relations[number]
        row_i, col_i, data, rhs = rows[relation.kind]
        line = len(rhs)
        constant = 0.0
        for key, coefficient in relation.terms:
            if key in index:
                row_i.append(line)
                col_i.append(index[key])
                data.append(float(coefficient))
            else:
                constant += coefficient * table.values[key]
        rhs.append(-constant)

    def matrix(kind: str) -> tuple[Any, Any]:
        row_i, col_i, data, rhs = rows[kind]
        if not rhs:
            return None, None
        return coo_matrix((data, (row_i, col_i)), shape=(len(rhs), len(members))).tocsr(), rhs

    a_eq, b_eq = matrix("eq")
    a_ub, b_ub = matrix("le")
    bounds: list[tuple[float | None, float | None]] = [(None, None) if k in table.signed else (0, None) for k in members]
    return index, a_eq, b_eq, a_ub, b_ub, bounds


def _range_of(table: Table, key: CellKey, problem: tuple[Any, ...]) -> tuple[float, float]:
    """Min and max of `key` over the problem's feasible set (two linear programmes, scipy's HiGHS)."""
    from scipy.optimize import linprog

    index, a_eq, b_eq, a_ub, b_ub, bounds = problem
    if a_eq is None and a_ub is None:
        return (-math.inf if key in table.signed else 0.0, math.inf)
    if a_ub is None and a_eq.shape[0] == 1:  # one equation (e.g. a row's derived difference): closed form, no solver
        return one_equation_range(a_eq.toarray()[0].tolist(), b_eq[0], bounds, index[key])
    objective = [0.0] * len(index)
    objective[index[key]] = 1.0
    low = _solve(linprog, objective, a_eq, b_eq, a_ub, b_ub, bounds)
    objective[index[key]] = -1.0
    high = _solve(linprog, objective, a_eq, b_eq, a_ub, b_ub, bounds)
    return low, (-high if math.isfinite(high) else math.inf)


def unbounded_cells(table: Table, members: Sequence[CellKey], by_cell: Mapping[CellKey, list[int]]) -> set[CellKey]:
    """Cells of a group that a reader cannot bound from above, proven with one linear programme for the group.

    The publication's feasible set P = {y : relations hold with the published values, counts >= 0} contains the
    true table, so a direction d with A_eq d = 0, A_le d <= 0 and d >= 0 on counts (P's recession cone) keeps
    every y + t*d in P for all t >= 0: a cell with d_i > 0 can be as large as one likes, its interval is
    unbounded and it is protected. The programme maximises sum(s_i) with s_i <= d_i and 0 <= s_i <= 1; any
    feasible answer with s_i > 0 is such a direction, so every cell it marks is proven (a cone closed under
    addition has one direction positive on every cell that can be positive: one solve finds them all).
    Typical case: a column of zeros - say no returnees anywhere - withheld together with all its totals."""
    from scipy.optimize import linprog
    from scipy.sparse import bmat, csr_matrix, identity

    index, a_eq, _b_eq, a_ub, _b_ub, bounds = _range_problem(table, members, by_cell)
    n = len(index)
    if n == 0:
        return set()
    # variables: d (n) then s (n); s - d <= 0
    link = bmat([[-identity(n, format="csr"), identity(n, format="csr")]], format="csr")
    rows_ub = [link] if a_ub is None else [bmat([[a_ub, csr_matrix((a_ub.shape[0], n))]], format="csr"), link]
    a_ub_full = bmat([[r] for r in rows_ub], format="csr")
    b_ub_full = [0.0] * a_ub_full.shape[0]
    a_eq_full = None if a_eq is None else bmat([[a_eq, csr_matrix((a_eq.shape[0], n))]], format="csr")
    b_eq_full = None if a_eq is None else [0.0] * a_eq.shape[0]
    result = linprog([0.0] * n + [-1.0] * n, A_eq=a_eq_full, b_eq=b_eq_full, A_ub=a_ub_full, b_ub=b_ub_full,
                     bounds=[*bounds, *([(0.0, 1.0)] * n)], method="highs")
    if result.status != 0:
        return set()
    members_by_index = {i: k for k, i in index.items()}
    return {members_by_index[i] for i in range(n) if result.x[n + i] >= 0.5 and members_by_index[i] not in table.signed}


def feasible_ranges(table: Table, withheld: set[CellKey] | frozenset[CellKey], targets: Iterable[CellKey]) -> dict[CellKey, tuple[float, float]]:
    """The attacker's view: min and max of each target over every table consistent with the publication.

    Solves the linear programmes of the audit step (Hundepool et al. 2012, ch. 4): variables are the
    withheld cells of the target's group, published cells are constants, counts are non-negative.
    """
    wanted = set(targets)
    by_cell = _relations_by_cell(table)
    out: dict[CellKey, tuple[float, float]] = {}
    for group in components(table, withheld):
        if not wanted.intersection(group):
            continue
        problem = _range_problem(table, sorted(group, key=repr), by_cell)
        for key in group:
            if key in wanted:
                out[key] = _range_of(table, key, problem)
    return out


def _neighbourhood(table: Table, key: CellKey, withheld: set[CellKey] | frozenset[CellKey], by_cell: Mapping[CellKey, list[int]],
                   size: int, order: Mapping[CellKey, int]) -> list[CellKey]:
    """Up to `size` withheld cells nearest to `key` through shared relations (breadth first, a fixed order)."""
    seen = {key}
    found = [key]
    frontier = [key]
    while frontier and len(found) < size:
        following: list[CellKey] = []
        for current in frontier:
            for number in by_cell.get(current, ()):
                for other in table.relations[number].cells:
                    if other in withheld and other not in seen:
                        seen.add(other)
                        following.append(other)
        following.sort(key=lambda k: order[k])
        room = size - len(found)
        found.extend(following[:room])
        frontier = following[:room]
    return found


def certified_ranges(table: Table, withheld: set[CellKey] | frozenset[CellKey], targets: Iterable[CellKey], *, width: float,
                     certified: set[CellKey] | None = None) -> dict[CellKey, tuple[float, float]]:
    """Ranges that prove each target at least `width` wide, or else its exact attacker range.

    Cells no reader can bound from above are found first, one programme per group (`unbounded_cells`). For each
    other target the linear programmes are first solved over a small neighbourhood of withheld cells
    (`LOCAL_AUDIT_SIZE` nearest through shared relations), every other withheld cell fixed at its true value.
    Fixing unknowns only removes tables from the set the attacker must consider, so the range found is
    *inside* the attacker's range: when it is at least `width` wide, so is the attacker's (a proof, not an
    estimate). A target not proven so is solved again over a neighbourhood `LOCAL_AUDIT_GROWTH` times larger, up
    to its whole group of linked withheld cells, which is exactly the attacker's problem. A target proven safe
    stays safe when more cells are withheld (every table consistent with the smaller withholding is consistent
    with the larger one), so `certified` carries the proven targets from one audit round to the next.
    """
    by_cell = _relations_by_cell(table)
    order = {key: i for i, key in enumerate(table.values)}
    group_of: dict[CellKey, int] = {}
    groups = components(table, withheld)
    for number, group in enumerate(groups):
        for key in group:
            group_of[key] = number
    out: dict[CellKey, tuple[float, float]] = {}
    targets = list(targets)
    # first, one programme per group for the cells no reader can bound from above (`unbounded_cells`)
    proven: set[CellKey] = set()
    for number in sorted({group_of[key] for key in targets if certified is None or key not in certified}):
        proven |= unbounded_cells(table, groups[number], by_cell)
    for key in targets:
        if certified is not None and key in certified:
            continue
        if key in proven:
            out[key] = (0.0 if key not in table.signed else -math.inf, math.inf)
            if certified is not None:
                certified.add(key)
            continue
        whole = len(groups[group_of[key]])
        size = LOCAL_AUDIT_SIZE
        while True:
            members = groups[group_of[key]] if size >= whole else _neighbourhood(table, key, withheld, by_cell, size, order)
            low, high = _range_of(table, key, _range_problem(table, members, by_cell))
            if interval_width(low, high) >= width or len(members) >= whole:
                break
            size *= LOCAL_AUDIT_GROWTH
        out[key] = (low, high)
        if certified is not None and interval_width(low, high) >= width:
            certified.add(key)
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


def _solve(linprog: Any, objective: list[float], a_eq: Any, b_eq: Any, a_ub: Any, b_ub: Any,
           bounds: list[tuple[float | None, float | None]]) -> float:
    result = linprog(objective, A_eq=a_eq, b_eq=b_eq, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
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


def audit(table: Table, *, withheld: set[CellKey] | frozenset[CellKey], primary: Iterable[CellKey], threshold: int,
          certified: set[CellKey] | None = None) -> list[CellKey]:
    """Primary cells a reader could narrow below the required width (empty when the table is safe).

    Every primary cell is audited, in groups of linked withheld cells of any size (`certified_ranges`): a cell
    is passed only when linear programming proves that a reader who sees everything published - every
    relation, every published value, counts non-negative - cannot bound it to fewer than ``threshold + 1``
    whole numbers; a cell is reported only when the exact problem over its whole group says so.
    """
    width = required_width(threshold)
    order = {key: i for i, key in enumerate(table.values)}
    primary_set = set(primary)
    targets = sorted((k for k in withheld if k in primary_set), key=lambda k: order[k])
    found = certified_ranges(table, withheld, targets, width=width, certified=certified)
    weak = [key for key, (low, high) in found.items() if interval_width(low, high) < width]
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
