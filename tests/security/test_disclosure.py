"""The one disclosure-control function: primary + secondary suppression, checked by an attacker.

The attacker (`tests/disclosure_attack.py`) is separate code: it sees only the published values and the
relations the publication makes public, and bounds every withheld cell by linear programming.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from passage.core.settings import reset_settings_cache
from passage.security.disclosure import Table, is_small, protect, threshold_setting
from tests.disclosure_attack import Publication, published_from, recovered


def _grid(values: list[list[int]], *, with_difference: bool) -> tuple[Table, Publication]:
    """Rows x columns with row totals, column totals, a grand total and (optionally) a difference column."""
    table, public = Table(), Publication()
    n_rows, n_cols = len(values), len(values[0])
    for r in range(n_rows):
        for c in range(n_cols):
            table.count((r, c), values[r][c])
        table.count((r, "T"), sum(values[r]))
        table.total((r, "T"), [(r, c) for c in range(n_cols)])
        public.total((r, "T"), [(r, c) for c in range(n_cols)])
        if with_difference and n_cols >= 2:
            table.difference((r, "D"), (r, 1), (r, 0))
            public.difference((r, "D"), (r, 1), (r, 0))
        table.at_most((r, 0), (r, "T"))
        public.at_most((r, 0), (r, "T"))
    for c in [*range(n_cols), "T"]:
        table.count(("T", c), sum(table.values[(r, c)] for r in range(n_rows)))
        table.total(("T", c), [(r, c) for r in range(n_rows)])
        public.total(("T", c), [(r, c) for r in range(n_rows)])
    return table, public


tables = st.integers(min_value=1, max_value=4).flatmap(
    lambda rows: st.integers(min_value=1, max_value=4).flatmap(
        lambda cols: st.lists(st.lists(st.one_of(st.integers(0, 20), st.integers(0, 200)), min_size=cols, max_size=cols),
                              min_size=rows, max_size=rows)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=tables, threshold=st.sampled_from([0, 3, 15]), with_difference=st.booleans())
def test_no_withheld_cell_can_be_recovered_from_totals_and_differences(values: list[list[int]], threshold: int, with_difference: bool) -> None:
    table, public = _grid(values, with_difference=with_difference)
    protection = protect(table, threshold=threshold)
    small = [k for k, v in table.values.items() if k not in table.signed and v <= threshold]
    assert set(small) == set(protection.primary)
    public.values = published_from(table.values, protection.withheld)
    assert recovered(public, small, threshold) == {}
    for key, value in public.values.items():
        assert value is None or value == table.values[key]


def test_the_mobility_differencing_case_is_closed() -> None:
    """Normal flow 0 (withheld) beside crisis 67 and above-normal 67 gave the 0 away; now the difference goes too."""
    table = Table()
    table.count("normal", 0)
    table.count("crisis", 67)
    table.difference("above_normal", "crisis", "normal")
    protection = protect(table, threshold=15)
    assert protection.primary == {"normal"} and protection.secondary == {"above_normal"}
    assert protection.value(table, "crisis") == 67
    table.keep.add("above_normal")  # a table can ask to keep its headline: the raw count goes instead
    protection = protect(table, threshold=15)
    assert protection.secondary == {"crisis"} and protection.value(table, "above_normal") == 67


def test_small_totals_are_themselves_withheld_and_large_totals_stay_useful() -> None:
    table, public = _grid([[3, 40, 41], [30, 2, 50], [60, 70, 80]], with_difference=False)
    protection = protect(table, threshold=15)
    # the grand total and the row without a small cell are published: the analyst still sees useful totals
    assert protection.value(table, ("T", "T")) == 376
    assert protection.value(table, (2, "T")) == 210
    public.values = published_from(table.values, protection.withheld)
    assert recovered(public, protection.primary, 15) == {}


def test_the_comparison_is_at_most_and_reads_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_small(15, 15) and not is_small(16, 15) and is_small(0, 15) and is_small(None, 15)
    monkeypatch.setenv("PASSAGE_REDACTION_THRESHOLD", "20")
    reset_settings_cache()
    try:
        assert threshold_setting() == 20
        table = Table()
        table.count("a", 20)
        table.count("b", 21)
        assert protect(table).primary == {"a"}
    finally:
        monkeypatch.delenv("PASSAGE_REDACTION_THRESHOLD")
        reset_settings_cache()


def test_dependants_follow_their_sources() -> None:
    table = Table()
    table.count("replies", 4)
    table.count("applications", 40)
    table.depends("reply_days_median", ["replies"])
    table.depends("share", ["replies", "applications"])
    protection = protect(table, threshold=15)
    assert protection.hidden("reply_days_median") and protection.hidden("share")


def test_relations_that_do_not_hold_are_refused() -> None:
    table = Table()
    table.count("a", 1)
    table.count("b", 2)
    table.count("t", 4)
    with pytest.raises(ValueError, match="not the sum"):
        table.total("t", ["a", "b"])
    with pytest.raises(ValueError, match="negative"):
        table.count("c", -1)


def test_same_data_same_publication() -> None:
    def build() -> Any:
        table, _ = _grid([[5, 5, 30, 30], [30, 30, 5, 5]], with_difference=True)
        return protect(table, threshold=15)
    assert build() == build()


def test_a_large_table_is_audited_whole_and_nothing_can_be_recovered() -> None:
    """A detailed table (30 x 24 with totals) withheld in hundreds of linked cells: the size at which the audit used
    to look only at "tight" relations. Every withheld small cell must now be proven safe, which the attacker
    (all withheld cells at once, no grouping) confirms."""
    import random

    from passage.security.disclosure import components

    rng = random.Random(13)
    values = [[rng.choice([rng.randint(0, 15), rng.randint(0, 15), rng.randint(16, 120)]) for _ in range(24)] for _ in range(30)]
    table, public = _grid(values, with_difference=False)
    protection = protect(table, threshold=15)
    assert max(len(group) for group in components(table, protection.withheld)) > 400
    small = [k for k, v in table.values.items() if v <= 15]
    public.values = published_from(table.values, protection.withheld)
    assert recovered(public, small, 15) == {}
    assert protection.value(table, ("T", "T")) == table.values[("T", "T")]  # the grand total stays useful


@settings(max_examples=200, deadline=None)
@given(
    coefficients=st.lists(st.sampled_from([-2.0, -1.0, 0.0, 1.0, 3.0]), min_size=1, max_size=4),
    free=st.lists(st.booleans(), min_size=4, max_size=4),
    values=st.lists(st.integers(0, 50), min_size=4, max_size=4),
    target=st.integers(0, 3),
)
def test_the_closed_form_of_one_equation_equals_the_solver(coefficients: list[float], free: list[bool], values: list[int], target: int) -> None:
    """The audit's shortcut for a group with one equation gives the solver's min and max (rhs from a feasible point)."""
    import math

    from scipy.optimize import linprog

    from passage.security.disclosure import _solve, one_equation_range

    n = len(coefficients)
    target %= n
    bounds: list[tuple[float | None, float | None]] = [(None, None) if free[j] else (0, None) for j in range(n)]
    rhs = sum(c * v for c, v in zip(coefficients, values, strict=False))
    objective = [0.0] * n
    objective[target] = 1.0
    low = _solve(linprog, objective, [coefficients], [rhs], None, None, bounds)
    objective[target] = -1.0
    high = _solve(linprog, objective, [coefficients], [rhs], None, None, bounds)
    expected = (low, -high if math.isfinite(high) else math.inf)
    got = one_equation_range(coefficients, rhs, bounds, target)
    for a, b in zip(got, expected, strict=True):
        assert (a == b) if math.isinf(a) or math.isinf(b) else abs(a - b) < 1e-6
