"""Read a case's facts from its ORM record, for the pure stage rules (`stages.check_transition`).

The service loads the case (scoped), calls `facts_from_case`, applies the requested change to the facts,
checks the transition, and only then writes the record, the stage event and the audit entry together.
"""

from __future__ import annotations

from typing import Any

from passage.avrr.models import AvrrCase
from passage.avrr.stages import CaseFacts, Counselling, EligibilityDecision


def facts_from_case(case: AvrrCase) -> CaseFacts:
    """The `CaseFacts` a case record holds (relationships are read: assistance items and monitoring rounds)."""
    counselling = None
    if case.counselled_on is not None and case.counsellor_id is not None:
        counselling = Counselling(
            held_on=case.counselled_on, counsellor_id=case.counsellor_id, informed=bool(case.decision_informed),
            voluntary=bool(case.decision_voluntary), decision=case.decision or "undecided",  # type: ignore[arg-type]
            decided_on=case.decided_on,
        )
    eligibility = None
    if case.eligibility_decided_on is not None and case.eligible is not None:
        eligibility = EligibilityDecision(decided_on=case.eligibility_decided_on, eligible=case.eligible,
                                          decided_by=case.eligibility_decided_by or "unknown", scheme_id=case.scheme_id, reason=case.eligibility_reason)
    values: dict[str, Any] = {
        "counselling": counselling, "applied_on": case.applied_on, "eligibility": eligibility,
        "travel_document": case.travel_document, "medical_fitness": case.medical_fitness,
        "vulnerability_screened": bool(case.vulnerability_screened), "vulnerable": bool(case.vulnerable),
        "referral_made": bool(case.referral_made), "itinerary_ref": case.itinerary_ref,
        "escort_required": bool(case.escort_required), "escort_assigned": bool(case.escort_assigned),
        "departed_on": case.departed_on, "arrived_on": case.arrived_on, "received_by": case.received_by,
        "plan_agreed_on": case.plan_agreed_on, "assistance_items": len(case.assistance),
        "monitoring_rounds_completed": sum(1 for r in case.monitoring if r.completed_on is not None),
        "monitoring_rounds_due": len(case.monitoring), "closure_reason": case.closure_reason,
    }
    return CaseFacts.model_validate(values)
