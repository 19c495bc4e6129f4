from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from passage.core.errors import InvalidInput
from passage.core.settings import reset_settings_cache
from passage.mobility.privacy import (
    AT_MOST,
    DERIVED_DIFFERENCES,
    PrivacyPolicy,
    ThresholdOverride,
    protect_rows,
)
from tests.disclosure_attack import Publication, recovered


def test_counts_at_or_below_threshold_are_redacted() -> None:
    policy = PrivacyPolicy()
    assert policy.redact(15) is None
    assert policy.redact(16) == 16
    assert policy.redact(0) is None
    assert PrivacyPolicy(threshold=30).redact(30) is None


def test_threshold_below_15_needs_a_recorded_override() -> None:
    with pytest.raises(InvalidInput, match="override"):
        PrivacyPolicy(threshold=10)
    with pytest.raises(InvalidInput, match="override"):
        PrivacyPolicy.build(threshold=5)
    policy = PrivacyPolicy.build(threshold=5, override_reason="validation against census", actor="analyst-7")
    assert policy.redact(6) == 6
    record = policy.metadata()["override"]
    assert record["threshold"] == 5 and record["actor"] == "analyst-7" and record["reason"] == "validation against census"
    assert record["action"] == "mobility.redaction_threshold_override"
    with pytest.raises(InvalidInput):
        PrivacyPolicy(threshold=5, override=ThresholdOverride(threshold=10, reason="x", actor="a"))


COLUMNS = ["origin_pcode", "destination_pcode", "subscribers_benchmark_comparison", "subscribers_benchmark_focal"]
COUNTS = ("subscribers_benchmark_comparison", "subscribers_benchmark_focal")


def test_the_normal_flow_is_not_given_away_by_the_crisis_flow_and_the_difference() -> None:
    """Issue 13: normal flow "fewer than 16" beside crisis 67 and above-normal 67 gave the 0 away."""
    columns, rows, withheld = protect_rows("flows_above_normal", COUNTS, COLUMNS, [("A", "B", 0, 67), ("A", "C", 40, 90)], PrivacyPolicy())
    assert columns[-1] == "above_normal"
    # the crisis count goes with the normal one, so the headline (above normal) stays: normal >= 0 is all one learns
    assert rows == [("A", "B", None, None, 67), ("A", "C", 40, 90, 50)]
    assert withheld == 2


def _publication(analysis: str, counts: tuple[str, ...], columns: list[str], published: list[tuple[Any, ...]], source: list[tuple[Any, ...]]) -> tuple[Publication, list[Any]]:
    """What a reader of the CSV has: each published row's values and the documented relations between them."""
    public = Publication()
    small: list[Any] = []
    by_key = {tuple(row[:2]): row for row in source}
    for number, row in enumerate(published):
        for column in counts:
            public.values[(number, column)] = row[columns.index(column)]
            if by_key[tuple(row[:2])][columns.index(column)] <= 15:
                small.append((number, column))
        if analysis in DERIVED_DIFFERENCES:
            derived, plus, minus = DERIVED_DIFFERENCES[analysis]
            public.values[(number, derived)] = row[columns.index(derived)]
            public.difference((number, derived), (number, plus), (number, minus))
        for low, high in AT_MOST.get(analysis, ()):
            public.at_most((number, low), (number, high))
    return public, small


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 80), st.integers(0, 80)), min_size=1, max_size=6))
def test_no_withheld_flow_can_be_recovered_from_the_published_file(pairs: list[tuple[int, int]]) -> None:
    reset_settings_cache()
    source = [("O", f"D{i}", normal, crisis) for i, (normal, crisis) in enumerate(pairs)]
    columns, rows, _ = protect_rows("flows_above_normal", COUNTS, COLUMNS, source, PrivacyPolicy())
    public, small = _publication("flows_above_normal", COUNTS, columns, rows, source)
    assert recovered(public, small, 15) == {}
    for row in rows:  # what is published is true
        truth = next(s for s in source if s[1] == row[1])
        assert all(v is None or v == truth[i] for i, v in enumerate(row[:4]))
        if row[4] is not None:
            assert row[4] == truth[3] - truth[2]


@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=1, max_size=6))
def test_displaced_at_most_residents_reveals_nothing(pairs: list[tuple[int, int]]) -> None:
    columns = ["pcode", "x", "residents", "displaced"]
    source = [(f"P{i}", "", a + b, b) for i, (a, b) in enumerate(pairs)]
    out_columns, rows, _ = protect_rows("displaced_subscribers", ("residents", "displaced"), columns, source, PrivacyPolicy())
    public, small = _publication("displaced_subscribers", ("residents", "displaced"), out_columns, rows, [(s[0], s[1], s[2], s[3]) for s in source])
    assert recovered(public, small, 15) == {}


def test_the_minimum_is_the_platform_setting(monkeypatch: Any) -> None:
    monkeypatch.setenv("PASSAGE_REDACTION_THRESHOLD", "25")
    reset_settings_cache()
    try:
        assert PrivacyPolicy().threshold == 25
        with pytest.raises(InvalidInput, match="below 25"):
            PrivacyPolicy.build(threshold=20)
    finally:
        monkeypatch.delenv("PASSAGE_REDACTION_THRESHOLD")
        reset_settings_cache()
