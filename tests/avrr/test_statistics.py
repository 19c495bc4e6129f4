"""Programme statistics against hand-computed figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from passage.avrr.statistics import (
    AssistanceRecord,
    CaseRecord,
    ForcedReturnCost,
    application_to_departure,
    assistance_planned_vs_delivered,
    cost_per_returnee,
    distribution,
    quantile,
    returns_per_country_month,
)

D = dt.date


def case(cid: str, country: str, applied: dt.date | None, departed: dt.date | None, *, cost: str | None = None,
         returnees: int = 1, currency: str = "EUR") -> CaseRecord:
    return CaseRecord(case_id=cid, country_of_return=country, programme_id="p", applied_on=applied, departed_on=departed,
                      cost=Decimal(cost) if cost else None, returnees=returnees, currency=currency)


def test_quantile_type_7() -> None:
    assert quantile([4, 1, 3, 2], 0.5) == 2.5
    assert quantile([1, 2, 3, 4], 0.9) == pytest.approx(3.7)
    assert quantile([5], 0.9) == 5
    with pytest.raises(ValueError):
        quantile([], 0.5)
    assert distribution([]).n == 0


def test_returns_per_country_and_month_count_people() -> None:
    cases = [case("a", "NGA", None, D(2024, 1, 5), returnees=3), case("b", "NGA", None, D(2024, 1, 30)),
             case("c", "NGA", None, D(2024, 2, 1)), case("d", "IRQ", None, D(2024, 1, 9)), case("e", "IRQ", None, None)]
    assert returns_per_country_month(cases) == {("IRQ", "2024-01"): 1, ("NGA", "2024-01"): 4, ("NGA", "2024-02"): 1}


def test_application_to_departure_median_and_p90() -> None:
    start = D(2024, 1, 1)
    cases = [case(str(d), "NGA", start, start + dt.timedelta(days=d)) for d in (10, 20, 30, 40, 100)]
    cases.append(case("no-departure", "NGA", start, None))
    result = application_to_departure(cases)
    # sorted 10 20 30 40 100; p90 position 0.9 * 4 = 3.6 -> 40 + 0.6 * 60 = 76
    assert (result.n, result.median_days, result.p90_days) == (5, 30.0, 76.0)
    assert application_to_departure([]).median_days is None


def test_assistance_planned_vs_delivered() -> None:
    rows = [AssistanceRecord(kind="cash", budget=Decimal("1000"), disbursed=Decimal("1000")),
            AssistanceRecord(kind="cash", budget=Decimal("500"), disbursed=Decimal("0")),
            AssistanceRecord(kind="housing", budget=Decimal("800"), disbursed=Decimal("200"))]
    out = {r.kind: r for r in assistance_planned_vs_delivered(rows)}
    assert (out["cash"].items, out["cash"].planned, out["cash"].delivered, out["cash"].delivery_rate) == (
        2, Decimal("1500"), Decimal("1000"), 0.6667)
    assert out["housing"].delivery_rate == 0.25


def test_cost_per_returnee_against_forced_return() -> None:
    cases = [case("a", "NGA", None, D(2024, 1, 5), cost="3000", returnees=3), case("b", "NGA", None, D(2024, 2, 5), cost="1000"),
             case("c", "NGA", None, None, cost="900"), case("d", "NGA", None, D(2024, 2, 5)),
             case("e", "NGA", None, D(2024, 2, 5), cost="50000", currency="CNY")]
    forced = [ForcedReturnCost(cost=Decimal("8000")), ForcedReturnCost(cost=Decimal("12000"), returnees=2)]
    result = cost_per_returnee(cases, forced)
    # AVRR: (3000 + 1000) / 4 people = 1000; forced: 20000 / 3 = 6666.67; ratio 0.15
    assert result.avrr_cost_per_returnee == Decimal("1000.00")
    assert result.forced_cost_per_returnee == Decimal("6666.67")
    assert result.avrr_to_forced_ratio == 0.15
    none = cost_per_returnee(cases, [])
    assert none.forced_cost_per_returnee is None and none.avrr_to_forced_ratio is None
