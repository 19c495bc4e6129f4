"""AVRR programme statistics for readers without case access go through the platform's disclosure control:
an attacker who reads the total and the cases by stage cannot recover a withheld stage count."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from passage.avrr.service import _protected_counts
from tests.disclosure_attack import Publication, recovered


@settings(max_examples=60, deadline=None)
@given(stages=st.dictionaries(st.sampled_from(["counselling", "application", "departure", "arrival", "monitoring", "closed"]),
                              st.integers(0, 40), min_size=1),
       returns=st.dictionaries(st.tuples(st.sampled_from(["NGA", "IRQ"]), st.sampled_from(["2025-01", "2025-02"])),
                               st.tuples(st.integers(1, 30), st.integers(1, 4)), max_size=4))
def test_stage_counts_and_returns_cannot_be_recovered(stages: dict[str, int], returns: dict[tuple[str, str], tuple[int, int]]) -> None:
    table, protection = _protected_counts(by_stage=stages, returns={k: cases * size for k, (cases, size) in returns.items()},
                                          departed_cases={k: cases for k, (cases, _) in returns.items()}, duration_n=7, threshold=15)
    public = Publication()
    public.values["cases"] = protection.value(table, "cases")
    for stage in stages:
        public.values[("stage", stage)] = protection.value(table, ("stage", stage))
    public.total("cases", [("stage", stage) for stage in stages])
    small = [("stage", s) for s, n in stages.items() if n <= 15] + (["cases"] if sum(stages.values()) <= 15 else [])
    assert recovered(public, small, 15) == {}
    for key, (cases, _) in returns.items():  # returnees are withheld by the households behind them
        assert protection.hidden(("returns", *key)) == (cases <= 15)
    assert protection.hidden("duration")  # 7 departures: no median of so few
