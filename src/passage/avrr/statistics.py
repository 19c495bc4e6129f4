"""Programme statistics as pure functions over plain records.

- returns per country of return and month of departure;
- time from application to departure: median and 90th percentile (linear interpolation between order
  statistics, Hyndman & Fan 1996 definition 7, the default of R and NumPy);
- assistance planned (budget) against delivered (disbursed), per kind;
- cost per returnee under AVRR against forced return, where costs are recorded. The seed (004, German
  Federal Ministry of the Interior) says AVRR is "cheaper (compared to forced return)"; this computes the
  ratio from recorded costs instead of assuming it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal

from pydantic import BaseModel


def quantile(values: Sequence[float], q: float) -> float:
    """Quantile by linear interpolation (Hyndman & Fan type 7); `values` must not be empty."""
    if not values:
        raise ValueError("quantile of an empty sequence")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class Distribution(BaseModel):
    n: int
    mean: float | None
    min: float | None
    q1: float | None
    median: float | None
    q3: float | None
    max: float | None


def distribution(values: Sequence[float]) -> Distribution:
    if not values:
        return Distribution(n=0, mean=None, min=None, q1=None, median=None, q3=None, max=None)
    return Distribution(
        n=len(values), mean=round(sum(values) / len(values), 4), min=min(values), q1=round(quantile(values, 0.25), 4),
        median=round(quantile(values, 0.5), 4), q3=round(quantile(values, 0.75), 4), max=max(values),
    )


class CaseRecord(BaseModel):
    """The fields of a case that programme statistics need."""

    case_id: str
    country_of_return: str
    programme_id: str
    applied_on: dt.date | None = None
    departed_on: dt.date | None = None
    cost: Decimal | None = None
    """Total recorded cost of the case (tickets, allowances, assistance, escorts), in `currency`."""
    currency: str = "EUR"
    returnees: int = 1
    """People who returned under the case (household size at departure)."""


def returns_per_country_month(cases: Iterable[CaseRecord]) -> dict[tuple[str, str], int]:
    """Returnees per (country of return, YYYY-MM of departure); cases not departed are not counted."""
    out: dict[tuple[str, str], int] = {}
    for case in cases:
        if case.departed_on is not None:
            key = (case.country_of_return, case.departed_on.strftime("%Y-%m"))
            out[key] = out.get(key, 0) + case.returnees
    return dict(sorted(out.items()))


class Duration(BaseModel):
    n: int
    median_days: float | None
    p90_days: float | None


def application_to_departure(cases: Iterable[CaseRecord]) -> Duration:
    days = [float((c.departed_on - c.applied_on).days) for c in cases if c.applied_on and c.departed_on]
    if not days:
        return Duration(n=0, median_days=None, p90_days=None)
    return Duration(n=len(days), median_days=quantile(days, 0.5), p90_days=round(quantile(days, 0.9), 2))


class AssistanceRecord(BaseModel):
    kind: str
    budget: Decimal
    disbursed: Decimal
    currency: str = "EUR"


class PlannedDelivered(BaseModel):
    kind: str
    currency: str
    items: int
    planned: Decimal
    delivered: Decimal
    delivery_rate: float | None


def assistance_planned_vs_delivered(items: Iterable[AssistanceRecord]) -> list[PlannedDelivered]:
    """Per kind and currency: budgets, disbursements and their ratio."""
    acc: dict[tuple[str, str], list[Decimal]] = {}
    for item in items:
        slot = acc.setdefault((item.kind, item.currency), [Decimal(0), Decimal(0), Decimal(0)])
        slot[0] += 1
        slot[1] += item.budget
        slot[2] += item.disbursed
    return [
        PlannedDelivered(kind=kind, currency=cur, items=int(n), planned=planned, delivered=delivered,
                         delivery_rate=round(float(delivered / planned), 4) if planned else None)
        for (kind, cur), (n, planned, delivered) in sorted(acc.items())
    ]


class ForcedReturnCost(BaseModel):
    """A recorded forced-return cost (escorts, charter share, detention days), from the readmission service."""

    returnees: int = 1
    cost: Decimal
    currency: str = "EUR"


class CostComparison(BaseModel):
    currency: str
    avrr_returnees_costed: int
    avrr_cost_per_returnee: Decimal | None
    forced_returnees_costed: int
    forced_cost_per_returnee: Decimal | None
    avrr_to_forced_ratio: float | None
    """Below 1 means AVRR cost less per returnee than forced return in the recorded data."""


def cost_per_returnee(cases: Iterable[CaseRecord], forced: Iterable[ForcedReturnCost], *, currency: str = "EUR") -> CostComparison:
    """Cost per returnee, using only departed cases with a recorded cost in `currency`."""
    avrr = [c for c in cases if c.departed_on is not None and c.cost is not None and c.currency == currency]
    forced_rows = [f for f in forced if f.currency == currency]
    avrr_people = sum(c.returnees for c in avrr)
    forced_people = sum(f.returnees for f in forced_rows)
    avrr_per = (sum((c.cost for c in avrr if c.cost is not None), Decimal(0)) / avrr_people).quantize(Decimal("0.01")) if avrr_people else None
    forced_per = (sum((f.cost for f in forced_rows), Decimal(0)) / forced_people).quantize(Decimal("0.01")) if forced_people else None
    ratio = round(float(avrr_per / forced_per), 4) if avrr_per is not None and forced_per else None
    return CostComparison(currency=currency, avrr_returnees_costed=avrr_people, avrr_cost_per_returnee=avrr_per,
                          forced_returnees_costed=forced_people, forced_cost_per_returnee=forced_per,
                          avrr_to_forced_ratio=ratio)
