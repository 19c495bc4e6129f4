# ruff: noqa: S608 - SQL is assembled only from this file's fixed fragments and window names checked by
# _name(); every user value (days, thresholds) is a bound $parameter.
"""Mobility metrics, one definition each, named after FlowKit's flowmachine features.

Each metric is one SQL statement in DuckDB's dialect over three relations that every engine provides:
`events(subscriber, ts, cell_idx, event_type, date)` (the ingested, pseudonymised events, `subscriber` an
integer id), `cell_units(cell_idx, unit, pcode)` (cells mapped to the chosen spatial unit, `unit` the
unit's number in P-code order) and `unit_names(unit, pcode)`. Subscribers and places are grouped as
integers, and tie-broken maxima are packed in one BIGINT, so every large aggregate has a small fixed-size
state that spills to disk under a memory limit; P-codes are joined back onto the small final aggregate. The same text runs on
Spark after sqlglot transpilation (see `engines`). Every statement returns aggregates only: counts
per area, day or origin-destination pair - never a row per subscriber.

Shared building blocks (CTEs):
- daily location (flowmachine `daily_location`): per subscriber and day, the area of the last
  event (method `last`, ties broken by the larger P-code) or the area with most events (`most-common`,
  ties broken by the later last event, then the larger P-code);
- modal location (flowmachine `ModalLocation`, the "home"): the daily location seen on most days of a
  window, ties broken by the most recent day, then the larger P-code. The homes of all windows a metric
  needs come from one grouped pass (`_homes`: one row per subscriber, a `<window>_home` column each).
Sources: Flowminder FlowKit documentation (flowmachine.features); Wilson et al. 2016, "Rapid and
near real-time assessments of population displacement using mobile phone data following
disasters: the 2015 Nepal earthquake", PLoS Currents Disasters,
doi:10.1371/currents.dis.d073fbece328e4c39087bc086d694b5c (daily location = last tower of the day;
home = modal daily location over a window; flows above normal = benchmark->focal minus
benchmark->comparison).
"""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_
from passage.mobility.windows import Window, check_disjoint

DAILY_METHODS = ("last", "most-common")


def _name(name: str) -> str:
    """Window names become CTE and parameter prefixes; only short lowercase identifiers are allowed."""
    if not (name.isascii() and name.isidentifier() and name.islower() and len(name) <= 8):
        raise ValueError(T_("invalid window name {name}", name=name))
    return name


UNIT_BITS = 24
"""Spatial units are numbered 0..2^24-1 in P-code order (`units.cell_units`), so that a larger number is a larger P-code."""
_UNIT_SPAN = 1 << UNIT_BITS
_DAY_SPAN = 1 << (UNIT_BITS + 16)  # days since 1970 fit in 16 bits until 2149


def _located(windows: dict[str, Window]) -> str:
    """Events joined to spatial units, restricted to the days of the given windows.

    `unit` is the unit's number, `pcode` its code (`cell_units(cell_idx, unit, pcode)`)."""
    for name in windows:
        _name(name)
    ranges = " OR ".join(f"e.date BETWEEN CAST(${name}_start AS DATE) AND CAST(${name}_end AS DATE)" for name in windows)
    return (
        "located AS (SELECT e.subscriber, e.date, e.ts, u.unit, u.pcode FROM events e "
        f"JOIN cell_units u ON e.cell_idx = u.cell_idx WHERE {ranges})"
    )


def _daily(method: str) -> str:
    """CTE `daily(subscriber, date, unit)`.

    `last`: the largest (microsecond of the day, unit) packed in one BIGINT - the last event, ties to the
    larger P-code - so the aggregate state is one fixed-size integer, which DuckDB spills cheaply (a
    struct-keyed ARG_MAX ran out of memory at 50M events under 1 GB)."""
    if method == "last":
        return (
            "daily AS (SELECT subscriber, date, "
            f"CAST(MAX((EPOCH_US(ts) - EPOCH_US(CAST(date AS TIMESTAMP))) * {_UNIT_SPAN} + unit) % {_UNIT_SPAN} AS INTEGER) AS unit "
            "FROM located GROUP BY subscriber, date)"
        )
    if method == "most-common":
        return (
            "daily_counts AS (SELECT subscriber, date, unit, COUNT(*) AS n, MAX(ts) AS last_ts "
            "FROM located GROUP BY subscriber, date, unit), "
            "daily AS (SELECT subscriber, date, ARG_MAX(unit, {'n': n, 't': last_ts, 'p': unit}) AS unit "
            "FROM daily_counts GROUP BY subscriber, date)"
        )
    raise InvalidInput(T_("method must be one of {DAILY_METHODS}", DAILY_METHODS=', '.join(DAILY_METHODS)), fields=[FieldError("method", T_("unknown"))])


def _homes(names: tuple[str, ...]) -> str:
    """Modal daily location in each window of `names`, all in one grouped pass, pivoted once.

    Returns CTE `homes(subscriber, <name>_home, ...)` with unit numbers: one row per subscriber with a
    daily location in any of the windows; `<name>_home` is NULL when the subscriber has none in that
    window. Each daily location is labelled with the (index of the) window holding its day - windows are
    disjoint, checked by the metrics that take several - then days and last day are counted per
    (subscriber, window, unit) and one MAX per (subscriber, window) of (days, last day, unit) packed in a
    BIGINT picks the home: most days, then most recent day, then larger P-code. Building the homes window
    by window (one aggregation and one join each) made DuckDB spill at 50M events (bench/results/mobility.md).
    """
    for name in names:
        _name(name)
    label = " ".join(
        f"WHEN date BETWEEN CAST(${name}_start AS DATE) AND CAST(${name}_end AS DATE) THEN {i}" for i, name in enumerate(names)
    )
    pivot = ", ".join(f"MAX(CASE WHEN win = {i} THEN unit END) AS {name}_home" for i, name in enumerate(names))
    return (
        f"labelled AS (SELECT subscriber, unit, date, CASE {label} END AS win FROM daily), "
        "win_days AS (SELECT subscriber, win, unit, COUNT(*) AS days, MAX(date) AS last_day FROM labelled "
        "WHERE win IS NOT NULL GROUP BY subscriber, win, unit), "
        "win_home AS (SELECT subscriber, win, "
        f"CAST(MAX(days * {_DAY_SPAN} + DATEDIFF('day', DATE '1970-01-01', last_day) * {_UNIT_SPAN} + unit) % {_UNIT_SPAN} AS INTEGER) AS unit "
        "FROM win_days GROUP BY subscriber, win), "
        f"homes AS (SELECT subscriber, {pivot} FROM win_home GROUP BY subscriber)"
    )


def _named(column: str, alias: str = "n") -> str:
    """Join a unit-number column to its P-code (`unit_names(unit, pcode)`, one row per unit)."""
    return f"JOIN unit_names {alias} ON {alias}.unit = {column}"


def _window_params(windows: dict[str, Window]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, window in windows.items():
        params[f"{name}_start"] = window.start.isoformat()
        params[f"{name}_end"] = window.end.isoformat()
    return params


@dataclass(frozen=True)
class Metric(abc.ABC):
    """A named aggregate: `sql()` and `params()` run on any engine; `counts` are redacted on output."""

    name: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]
    counts: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def windows(self) -> dict[str, Window]:
        """The named windows whose days the metric reads (names become SQL parameter prefixes)."""

    @abc.abstractmethod
    def sql(self) -> str:
        """The one definition, in DuckDB's dialect with `$name` parameters."""

    def params(self) -> dict[str, Any]:
        return _window_params(self.windows())

    @property
    def columns(self) -> tuple[str, ...]:
        return self.keys + self.counts

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.name}
        for key, value in self.__dict__.items():
            out[key] = str(value) if isinstance(value, Window | dt.date) else value
        return out


@dataclass(frozen=True)
class SingleWindowMetric(Metric, abc.ABC):
    """A metric that reads one window of days, named `w` in its SQL."""

    window: Window

    def windows(self) -> dict[str, Window]:
        return {"w": self.window}


@dataclass(frozen=True)
class DailyLocation(SingleWindowMetric):
    """Subscribers per area and day by their daily location (flowmachine `daily_location` + `SpatialAggregate`)."""

    name: ClassVar[str] = "daily_location"
    keys: ClassVar[tuple[str, ...]] = ("date", "pcode")
    counts: ClassVar[tuple[str, ...]] = ("subscribers",)
    method: str = "last"

    def sql(self) -> str:
        return (
            f"WITH {_located(self.windows())}, {_daily(self.method)}, "
            "agg AS (SELECT date, unit, COUNT(*) AS subscribers FROM daily GROUP BY date, unit) "
            f"SELECT agg.date AS date, n.pcode AS pcode, agg.subscribers AS subscribers FROM agg {_named('agg.unit')}"
        )


@dataclass(frozen=True)
class ModalLocation(SingleWindowMetric):
    """Subscribers per home area: modal daily location over the window (flowmachine `ModalLocation`)."""

    name: ClassVar[str] = "home_locations"
    keys: ClassVar[tuple[str, ...]] = ("pcode",)
    counts: ClassVar[tuple[str, ...]] = ("subscribers",)
    method: str = "last"

    def sql(self) -> str:
        return (
            f"WITH {_located(self.windows())}, {_daily(self.method)}, {_homes(('w',))}, "
            "agg AS (SELECT w_home, COUNT(*) AS subscribers FROM homes GROUP BY w_home) "
            f"SELECT n.pcode AS pcode, agg.subscribers AS subscribers FROM agg {_named('agg.w_home')}"
        )


@dataclass(frozen=True)
class UniqueSubscriberCounts(SingleWindowMetric):
    """Distinct subscribers seen in each area on each day (flowmachine `UniqueSubscriberCounts`)."""

    name: ClassVar[str] = "unique_subscriber_counts"
    keys: ClassVar[tuple[str, ...]] = ("date", "pcode")
    counts: ClassVar[tuple[str, ...]] = ("subscribers",)

    def sql(self) -> str:
        return (
            f"WITH {_located(self.windows())} "
            "SELECT date, pcode, COUNT(DISTINCT subscriber) AS subscribers FROM located GROUP BY date, pcode"
        )


@dataclass(frozen=True)
class LocationEventCounts(SingleWindowMetric):
    """Events in each area on each day (flowmachine `LocationEventCounts`, interval `day`)."""

    name: ClassVar[str] = "location_event_counts"
    keys: ClassVar[tuple[str, ...]] = ("date", "pcode")
    counts: ClassVar[tuple[str, ...]] = ("events",)

    def sql(self) -> str:
        return f"WITH {_located(self.windows())} SELECT date, pcode, COUNT(*) AS events FROM located GROUP BY date, pcode"


@dataclass(frozen=True)
class ActiveSubscribers(SingleWindowMetric):
    """Subscribers active in an area on at least `min_active_days` days of the window (flowmachine `ActiveSubscribers`)."""

    name: ClassVar[str] = "active_subscribers"
    keys: ClassVar[tuple[str, ...]] = ("pcode",)
    counts: ClassVar[tuple[str, ...]] = ("subscribers",)
    min_active_days: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.min_active_days <= self.window.days:
            raise InvalidInput(T_("min_active_days must be between 1 and the window length"), fields=[FieldError("min_active_days", T_("out of range"))])

    def params(self) -> dict[str, Any]:
        return super().params() | {"min_active_days": self.min_active_days}

    def sql(self) -> str:
        return (
            f"WITH {_located(self.windows())}, "
            "active AS (SELECT subscriber, pcode, COUNT(DISTINCT date) AS days FROM located GROUP BY subscriber, pcode) "
            "SELECT pcode, COUNT(*) AS subscribers FROM active WHERE days >= $min_active_days GROUP BY pcode"
        )


@dataclass(frozen=True)
class Flows(Metric):
    """Subscribers by (home in window `from_window`, home in window `to_window`) (flowmachine `Flows`)."""

    name: ClassVar[str] = "flows"
    keys: ClassVar[tuple[str, ...]] = ("origin_pcode", "destination_pcode")
    counts: ClassVar[tuple[str, ...]] = ("subscribers",)
    from_window: Window
    to_window: Window
    method: str = "last"

    def windows(self) -> dict[str, Window]:
        named = {"a": self.from_window, "b": self.to_window}
        check_disjoint({"from_window": self.from_window, "to_window": self.to_window})
        return named

    def sql(self) -> str:
        return (
            f"WITH {_located(self.windows())}, {_daily(self.method)}, {_homes(('a', 'b'))}, "
            "agg AS (SELECT a_home, b_home, COUNT(*) AS subscribers "
            "FROM homes WHERE a_home IS NOT NULL AND b_home IS NOT NULL GROUP BY a_home, b_home) "
            "SELECT o.pcode AS origin_pcode, d.pcode AS destination_pcode, agg.subscribers AS subscribers "
            f"FROM agg {_named('agg.a_home', 'o')} {_named('agg.b_home', 'd')}"
        )


@dataclass(frozen=True)
class FlowsAboveNormal(Metric):
    """Flowminder's Nepal 2015 method: flows benchmark->focal minus flows benchmark->comparison.

    Homes are modal daily locations in three disjoint windows. The comparison flow estimates normal
    movement (background migration and home-estimation noise) over a same-length gap before the
    crisis; what the focal flow has beyond it is attributed to the crisis (Wilson et al. 2016, PLoS
    Currents Disasters, doi:10.1371/currents.dis.d073fbece328e4c39087bc086d694b5c). Only subscribers
    with a home in both windows of a flow are counted. `above_normal` here is the unredacted
    difference; outputs withhold it with the counts it would reveal (`privacy.protect_rows`).
    """

    name: ClassVar[str] = "flows_above_normal"
    keys: ClassVar[tuple[str, ...]] = ("origin_pcode", "destination_pcode")
    counts: ClassVar[tuple[str, ...]] = ("subscribers_benchmark_comparison", "subscribers_benchmark_focal")
    benchmark: Window
    comparison: Window
    focal: Window
    method: str = "last"

    def windows(self) -> dict[str, Window]:
        check_disjoint({"benchmark": self.benchmark, "comparison": self.comparison, "focal": self.focal})
        return {"bm": self.benchmark, "cmp": self.comparison, "foc": self.focal}

    def sql(self) -> str:
        return (
            f"WITH {_located(self.windows())}, {_daily(self.method)}, {_homes(('bm', 'cmp', 'foc'))}, "
            # One pass over the subscriber-level homes into (benchmark, comparison, focal) home triples
            # (at most areas^3 rows), then both flows are read off that small table.
            "triples AS (SELECT bm_home, cmp_home, foc_home, COUNT(*) AS n FROM homes "
            "WHERE bm_home IS NOT NULL GROUP BY bm_home, cmp_home, foc_home), "
            "pairs AS (SELECT bm_home AS o, cmp_home AS d, n AS nc, 0 AS nf FROM triples WHERE cmp_home IS NOT NULL "
            "UNION ALL SELECT bm_home AS o, foc_home AS d, 0 AS nc, n AS nf FROM triples WHERE foc_home IS NOT NULL), "
            "agg AS (SELECT o, d, CAST(SUM(nc) AS BIGINT) AS nc, CAST(SUM(nf) AS BIGINT) AS nf FROM pairs GROUP BY o, d) "
            "SELECT uo.pcode AS origin_pcode, ud.pcode AS destination_pcode, agg.nc AS subscribers_benchmark_comparison, "
            f"agg.nf AS subscribers_benchmark_focal FROM agg {_named('agg.o', 'uo')} {_named('agg.d', 'ud')}"
        )


@dataclass(frozen=True)
class DisplacedSubscribers(Metric):
    """Per benchmark home area: residents with a focal-window home, and those whose focal home is elsewhere.

    Displacement as in Flowminder's post-disaster reports: a subscriber is displaced when the modal
    location in the focal window differs from the home in the benchmark window (Wilson et al. 2016).
    """

    name: ClassVar[str] = "displaced_subscribers"
    keys: ClassVar[tuple[str, ...]] = ("pcode",)
    counts: ClassVar[tuple[str, ...]] = ("residents", "displaced")
    benchmark: Window
    focal: Window
    method: str = "last"

    def windows(self) -> dict[str, Window]:
        check_disjoint({"benchmark": self.benchmark, "focal": self.focal})
        return {"bm": self.benchmark, "foc": self.focal}

    def sql(self) -> str:
        return (
            f"WITH {_located(self.windows())}, {_daily(self.method)}, {_homes(('bm', 'foc'))}, "
            "agg AS (SELECT bm_home, COUNT(*) AS residents, "
            "SUM(CASE WHEN foc_home <> bm_home THEN 1 ELSE 0 END) AS displaced "
            "FROM homes WHERE bm_home IS NOT NULL AND foc_home IS NOT NULL GROUP BY bm_home) "
            f"SELECT n.pcode AS pcode, agg.residents AS residents, agg.displaced AS displaced FROM agg {_named('agg.bm_home')}"
        )


@dataclass(frozen=True)
class ResidentsPresentAbsent(Metric):
    """Per focal day and benchmark home area: residents seen at home (present) and seen elsewhere (absent)."""

    name: ClassVar[str] = "residents_present_absent"
    keys: ClassVar[tuple[str, ...]] = ("date", "pcode")
    counts: ClassVar[tuple[str, ...]] = ("present", "absent")
    benchmark: Window
    focal: Window
    method: str = "last"

    def windows(self) -> dict[str, Window]:
        check_disjoint({"benchmark": self.benchmark, "focal": self.focal})
        return {"bm": self.benchmark, "foc": self.focal}

    def sql(self) -> str:
        return (
            f"WITH {_located(self.windows())}, {_daily(self.method)}, {_homes(('bm',))}, "
            "agg AS (SELECT d.date AS date, b.bm_home AS bm_home, "
            "SUM(CASE WHEN d.unit = b.bm_home THEN 1 ELSE 0 END) AS present, "
            "SUM(CASE WHEN d.unit <> b.bm_home THEN 1 ELSE 0 END) AS absent "
            "FROM homes b JOIN daily d ON b.subscriber = d.subscriber "
            "WHERE d.date BETWEEN CAST($foc_start AS DATE) AND CAST($foc_end AS DATE) GROUP BY d.date, b.bm_home) "
            f"SELECT agg.date AS date, n.pcode AS pcode, agg.present AS present, agg.absent AS absent FROM agg {_named('agg.bm_home')}"
        )


METRICS: dict[str, type[Metric]] = {
    cls.name: cls
    for cls in (
        DailyLocation,
        ModalLocation,
        UniqueSubscriberCounts,
        LocationEventCounts,
        ActiveSubscribers,
        Flows,
        FlowsAboveNormal,
        DisplacedSubscribers,
        ResidentsPresentAbsent,
    )
}
"""Every named analysis, by FlowKit-style name."""


@dataclass
class MetricResult:
    """Unredacted aggregate rows of one metric run (kept inside the service; see `service.run_analysis`)."""

    metric: Metric
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
