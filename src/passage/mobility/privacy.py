"""Redaction of aggregates before they leave the engine.

FlowKit (Flowminder) drops every count of 15 or fewer subscribers from its outputs
(`flowmachine.core.mixins.redaction`/`RedactedSpatialAggregate`); Passage does the same and leaves
redacted values empty. The threshold can be raised freely; lowering it below 15 needs an explicit,
named override whose record is written into the run's metadata and handed to the audit log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from passage.core.errors import FieldError, InvalidInput

MINIMUM_THRESHOLD = 15
"""Counts <= this are redacted unless an override is recorded (FlowKit's default)."""


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
            "minimum": MINIMUM_THRESHOLD,
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at,
        }


@dataclass(frozen=True)
class PrivacyPolicy:
    """`threshold`: counts <= threshold are redacted. Below 15 only with `override`."""

    threshold: int = MINIMUM_THRESHOLD
    override: ThresholdOverride | None = None

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise InvalidInput("redaction threshold must not be negative", fields=[FieldError("threshold", "negative")])
        if self.threshold < MINIMUM_THRESHOLD:
            if self.override is None:
                raise InvalidInput(
                    f"redaction threshold below {MINIMUM_THRESHOLD} needs an explicit override with a reason",
                    fields=[FieldError("threshold", f"below {MINIMUM_THRESHOLD} without override")],
                )
            if self.override.threshold != self.threshold or not self.override.reason.strip() or not self.override.actor.strip():
                raise InvalidInput(
                    "the threshold override must name the same threshold, a reason and an actor",
                    fields=[FieldError("override", "incomplete")],
                )

    @classmethod
    def build(cls, *, threshold: int | None = None, override_reason: str | None = None, actor: str = "cli") -> PrivacyPolicy:
        """A policy from user options; an override is created only when a reason is given and needed."""
        value = MINIMUM_THRESHOLD if threshold is None else threshold
        if value < MINIMUM_THRESHOLD and override_reason:
            return cls(threshold=value, override=ThresholdOverride(threshold=value, reason=override_reason, actor=actor))
        return cls(threshold=value)

    def redact(self, count: int | None) -> int | None:
        """The count if it may be published, else None."""
        if count is None or count <= self.threshold:
            return None
        return int(count)

    def metadata(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "minimum": MINIMUM_THRESHOLD,
            "override": self.override.as_record() if self.override else None,
        }


def above_normal_from_published(focal: int | None, comparison: int | None) -> int | None:
    """Flows above normal from *published* counts only, so a redacted count can never be recovered.

    A redacted count counts as 0 (its true value is 0..threshold, which the reader already knows);
    the result is empty only when both counts are redacted.
    """
    if focal is None and comparison is None:
        return None
    return (focal or 0) - (comparison or 0)
