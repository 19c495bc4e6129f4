"""An attacker for published aggregates, written apart from `passage.security.disclosure`.

It sees only what a reader sees - the published values (None where withheld) and the relations the
publication itself makes public (totals, differences, "at most") - and bounds every withheld cell by
linear programming over *all* withheld cells at once (no grouping, no limit), with counts non-negative.
A withheld small count whose bounds, rounded to whole numbers, are narrower than threshold + 1 has been
(partly) recovered; `recovered` lists them. Tests of every published aggregate call it.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog


@dataclass
class Publication:
    """What a reader has: values (None = withheld) and the relations between them."""

    values: dict[Hashable, float | None] = field(default_factory=dict)
    equalities: list[dict[Hashable, float]] = field(default_factory=list)
    """Each: sum(coefficient * cell) == 0."""
    inequalities: list[dict[Hashable, float]] = field(default_factory=list)
    """Each: sum(coefficient * cell) <= 0."""
    signed: set[Hashable] = field(default_factory=set)

    def total(self, key: Hashable, parts: Iterable[Hashable]) -> None:
        terms: dict[Hashable, float] = {key: -1.0}
        for part in parts:
            terms[part] = terms.get(part, 0.0) + 1.0
        self.equalities.append(terms)

    def difference(self, key: Hashable, plus: Hashable, minus: Hashable) -> None:
        self.signed.add(key)
        self.equalities.append({key: 1.0, plus: -1.0, minus: 1.0})

    def at_most(self, small: Hashable, large: Hashable) -> None:
        self.inequalities.append({small: 1.0, large: -1.0})


def bounds(publication: Publication) -> dict[Hashable, tuple[float, float]]:
    """(min, max) of every withheld cell over all tables consistent with the publication."""
    hidden = [k for k, v in publication.values.items() if v is None]
    if not hidden:
        return {}
    column = {k: i for i, k in enumerate(hidden)}

    def rows(relations: list[dict[Hashable, float]]) -> tuple[np.ndarray | None, np.ndarray | None]:
        a, b = [], []
        for terms in relations:
            row = np.zeros(len(hidden))
            constant = 0.0
            for key, coefficient in terms.items():
                if key in column:
                    row[column[key]] += coefficient
                else:
                    value = publication.values[key]
                    assert value is not None
                    constant += coefficient * value
            if row.any():
                a.append(row)
                b.append(-constant)
            else:
                assert abs(constant) < 1e-9 if relations is publication.equalities else constant <= 1e-9, "published values break a relation"
        return (np.array(a), np.array(b)) if a else (None, None)

    a_eq, b_eq = rows(publication.equalities)
    a_ub, b_ub = rows(publication.inequalities)
    limits = [(None, None) if k in publication.signed else (0, None) for k in hidden]
    out: dict[Hashable, tuple[float, float]] = {}
    for key in hidden:
        c = np.zeros(len(hidden))
        ends = []
        for sign in (1.0, -1.0):
            c[column[key]] = sign
            result = linprog(c, A_eq=a_eq, b_eq=b_eq, A_ub=a_ub, b_ub=b_ub, bounds=limits, method="highs")
            assert result.status in (0, 3), result.message
            ends.append(sign * result.fun if result.status == 0 else sign * -math.inf)
        out[key] = (ends[0], ends[1])
    return out


def recovered(publication: Publication, small_cells: Iterable[Hashable], threshold: int) -> dict[Hashable, tuple[float, float]]:
    """Withheld small cells whose feasible whole-number interval is narrower than threshold + 1."""
    found = bounds(publication)
    weak = {}
    for key in small_cells:
        assert publication.values[key] is None, f"small count {key!r} was published"
        low, high = found[key]
        if math.isfinite(low) and math.isfinite(high) and math.floor(high + 1e-6) - math.ceil(low - 1e-6) < threshold + 1:
            weak[key] = (low, high)
    return weak


def published_from(values: Mapping[Hashable, float], withheld: Iterable[Hashable]) -> dict[Hashable, float | None]:
    hidden = set(withheld)
    return {k: (None if k in hidden else v) for k, v in values.items()}
