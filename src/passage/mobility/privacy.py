"""Redaction of aggregates before they leave the engine, through the one disclosure-control function.

FlowKit (Flowminder) drops every count of 15 or fewer subscribers from its outputs
(`flowmachine.core.mixins.redaction`/`RedactedSpatialAggregate`). Passage applies the platform's rule
(`passage.security.disclosure`: counts <= the threshold setting withheld, default 15) and its secondary
suppression: beside a withheld normal flow, publishing both the crisis flow and the flow above normal
(crisis - normal) would give the normal flow away, so one of them is withheld too - the crisis count, so
that the headline figure, the flow above normal, stays on the map. The threshold can be raised freely; lowering it below the setting needs an
explicit, named override whose record is written into the run's metadata and handed to the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_
from passage.security import disclosure


def minimum_threshold() -> int:
    """Counts <= this are redacted unless an override is recorded: the platform setting (default 15, FlowKit's)."""
    return disclosure.threshold_setting()


@dataclass(frozen=True)
class ThresholdOverride:
    """Who lowered the redaction threshold below the minimum, when, and why."""

    threshold: int
    reason: str
    actor: str
    at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def as_record(self) -> dict[str, Any]:
        """The audit-ready record: ids and reasons only, never data values."""
        return {
            "action": "mobility.redaction_threshold_override",
            "threshold": self.threshold,
            "minimum": minimum_threshold(),
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at,
        }


@dataclass(frozen=True)
class PrivacyPolicy:
    """`threshold`: counts <= threshold are redacted (default: the setting). Below the setting only with `override`."""

    threshold: int = -1
    override: ThresholdOverride | None = None

    def __post_init__(self) -> None:
        minimum = minimum_threshold()
        if self.threshold == -1:
            object.__setattr__(self, "threshold", minimum)
        if self.threshold < 0:
            raise InvalidInput(T_("redaction threshold must not be negative"), fields=[FieldError("threshold", T_("negative"))])
        if self.threshold < minimum:
            if self.override is None:
                raise InvalidInput(
                    f"redaction threshold below {minimum} needs an explicit override with a reason",
                    fields=[FieldError("threshold", T_("below {minimum} without override", minimum=minimum))],
                )
            if self.override.threshold != self.threshold or not self.override.reason.strip() or not self.override.actor.strip():
                raise InvalidInput(
                    "the threshold override must name the same threshold, a reason and an actor",
                    fields=[FieldError("override", T_("incomplete"))],
                )

    @classmethod
    def build(cls, *, threshold: int | None = None, override_reason: str | None = None, actor: str = "cli") -> PrivacyPolicy:
        """A policy from user options; an override is created only when a reason is given and needed."""
        value = minimum_threshold() if threshold is None else threshold
        if value < minimum_threshold() and override_reason:
            return cls(threshold=value, override=ThresholdOverride(threshold=value, reason=override_reason, actor=actor))
        return cls(threshold=value)

    def redact(self, count: int | None) -> int | None:
        """The count if it passes the primary rule alone, else None (tables go through `protect_rows`)."""
        if count is None or disclosure.is_small(count, self.threshold):
            return None
        return int(count)

    def metadata(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "minimum": minimum_threshold(),
            "override": self.override.as_record() if self.override else None,
        }


DERIVED_DIFFERENCES: dict[str, tuple[str, str, str]] = {
    "flows_above_normal": ("above_normal", "subscribers_benchmark_focal", "subscribers_benchmark_comparison"),
}
"""Analysis -> (derived column, plus, minus): published columns that are a difference of two counts."""

AT_MOST: dict[str, tuple[tuple[str, str], ...]] = {
    "displaced_subscribers": (("displaced", "residents"),),
}
"""Analysis -> (smaller, larger) count pairs a reader knows."""


def disclosure_table(analysis: str, counts: Sequence[str], columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> disclosure.Table:
    """The rows of one analysis as a disclosure `Table`: a cell per (row, count column), the derived
    difference per row, and the "at most" relations between a row's counts."""
    index = {c: i for i, c in enumerate(columns)}
    table = disclosure.Table()
    for number, row in enumerate(rows):
        for column in counts:
            table.count((number, column), int(row[index[column]] or 0))
        if analysis in DERIVED_DIFFERENCES:
            derived, plus, minus = DERIVED_DIFFERENCES[analysis]
            table.difference((number, derived), (number, plus), (number, minus))
            table.keep.add((number, derived))  # the headline: withhold the crisis count rather than it
        for small, large in AT_MOST.get(analysis, ()):
            table.at_most((number, small), (number, large))
    return table


def protect_rows(analysis: str, counts: Sequence[str], columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 policy: PrivacyPolicy) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """Published columns and rows: withheld values None, rows with nothing published dropped (as FlowKit's
    redaction drops them); returns (columns, rows, values withheld)."""
    table = disclosure_table(analysis, counts, columns, rows)
    protection = disclosure.protect(table, threshold=policy.threshold)
    derived = [DERIVED_DIFFERENCES[analysis][0]] if analysis in DERIVED_DIFFERENCES else []
    count_index = {c: list(columns).index(c) for c in counts}
    out: list[tuple[Any, ...]] = []
    for number, row in enumerate(rows):
        values = list(row)
        for column, i in count_index.items():
            values[i] = protection.value(table, (number, column))
        extra = [protection.value(table, (number, column)) for column in derived]
        if all(values[i] is None for i in count_index.values()) and all(v is None for v in extra):
            continue
        out.append(tuple(values + extra))
    return list(columns) + derived, out, len(protection.withheld)
