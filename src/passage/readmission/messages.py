"""The readmission module's message codes and label domains (issue 16).

Stored codes (states, actions, deadline kinds, units, evidence categories, the events that start a clock) are
shown through these labels in the reader's language: `i18n.label("readmission.state", case.state)` or, in a
template, `{{ case.state|label("readmission.state") }}`. Generated text (the deadline rules) is built with `T_`
from `passage.core.i18n` in `rules` and stored language-neutral (`Text.as_stored()`).
"""

from __future__ import annotations

from passage.core.i18n import N_, define_labels

STATE_LABELS = {
    "draft": N_("Draft"), "submitted": N_("Submitted"), "acknowledged": N_("Receipt confirmed"), "routed": N_("Routed to province"),
    "identity_verified": N_("Identity verified"), "identity_not_verified": N_("Identity not verified"), "accepted": N_("Accepted"),
    "refused": N_("Refused"), "deemed_accepted": N_("Deemed accepted (no reply in time)"), "travel_document_issued": N_("Travel document issued"),
    "transfer_scheduled": N_("Transfer scheduled"), "transferred": N_("Transferred"), "withdrawn": N_("Withdrawn"), "cancelled": N_("Cancelled"),
    "transit_draft": N_("Transit draft"), "transit_submitted": N_("Transit requested"), "transit_consented": N_("Transit consented"),
    "transit_refused": N_("Transit refused"), "transit_completed": N_("Transit completed"),
}
ACTION_LABELS = {
    "create": N_("Case opened"), "edit": N_("Application edited"), "add_alias": N_("Alias added"), "set_photo": N_("Photo added"), "upload_evidence": N_("Evidence uploaded"),
    "submit": N_("Submit the application"), "acknowledge": N_("Confirm receipt"), "route": N_("Route to a provincial bureau"),
    "verify_identity": N_("Record identity verified"), "record_not_verified": N_("Record identity not verified"), "request_extension": N_("Request the extension"),
    "accept": N_("Accept readmission"), "refuse": N_("Refuse, with the reason"), "deem_accepted": N_("Deemed accepted by the deadline job"),
    "issue_travel_document": N_("Issue the travel document"), "reissue_travel_document": N_("Reissue the travel document"),
    "schedule_transfer": N_("Schedule the transfer"), "reschedule_transfer": N_("Change the transfer schedule"), "suspend_transfer": N_("Suspend the transfer"),
    "confirm_transfer": N_("Confirm the transfer took place"), "withdraw": N_("Withdraw the application"), "cancel": N_("Discard the draft"),
    "submit_transit": N_("Submit the transit request"), "consent_transit": N_("Consent to transit"), "refuse_transit": N_("Refuse transit"),
    "revoke_transit": N_("Revoke transit consent"), "complete_transit": N_("Confirm transit completed"), "withdraw_transit": N_("Withdraw the transit request"),
    "cancel_transit": N_("Discard the transit draft"), "place_hold": N_("Hold placed"), "lift_hold": N_("Hold lifted"), "set_flag": N_("Flag raised"),
    "clear_flag": N_("Flag cleared"), "record_candidates": N_("Registry candidates recorded"), "candidate_confirmed": N_("Candidate confirmed"),
    "candidate_rejected": N_("Candidate rejected"), "erase": N_("Personal data erased after retention"), "reroute": N_("Re-routed to another provincial bureau"),
    "recompute_deadlines": N_("Deadlines recomputed after an official holiday notice was loaded"),
}
DEADLINE_LABELS = {
    "reply_due": N_("Reply due"), "extended_reply_due": N_("Latest date with the extension"), "transfer_due": N_("Transfer window ends"),
    "travel_document_expiry": N_("Travel document expires"), "travel_document_issue_due": N_("Travel document due"),
    "travel_document_reissue_due": N_("New travel document normally due"), "travel_document_reissue_max": N_("New travel document due at the latest"),
    "transit_reply_due": N_("Transit reply due"), "transit_due": N_("Transit to be carried out by"),
    "travel_document_reissue_normal_due": N_("New travel document normally due"), "travel_document_reissue_max_due": N_("New travel document due at the latest"),
    "standard_document_deemed_accepted": N_("EU standard travel document deemed accepted without an acknowledgement by"),
}
FIELD_LABELS = {
    "surname": N_("Surname"), "given_names": N_("Given names"), "date_of_birth": N_("Date of birth"), "place_of_birth": N_("Place of birth"),
    "sex": N_("Sex"), "nationality": N_("Nationality"), "name_in_characters": N_("Name in Chinese characters"), "passport_number": N_("Passport number"),
    "id_number": N_("Resident ID number"), "father_name": N_("Father's name"), "mother_name": N_("Mother's name"),
    "languages": N_("Languages"), "civil_status": N_("Civil status"), "last_addresses_in_requested_state": N_("Last addresses in the requested state"),
    "physical_description": N_("Physical description"), "special_needs": N_("Special needs"), "security_measures": N_("Security measures"),
    "aliases": N_("Aliases"), "photo": N_("Photo"), "evidence": N_("Evidence documents"),
    "province_org_id": N_("Provincial bureau"), "method": N_("Verification method"), "notes": N_("Notes"), "reason": N_("Reason"),
    "document_number": N_("Travel document number"), "transfer_date": N_("Transfer date"), "place_kind": N_("Place of transfer"),
    "place_code": N_("Airport or crossing-point code"), "flight": N_("Flight"), "escorts": N_("Number of escorts"), "border_crossing_point": N_("Border crossing point"),
    "case_reference": N_("Case reference"), "agreement_id": N_("Agreement"), "procedure": N_("Procedure"), "accelerated": N_("Accelerated procedure"),
    "submitted_on": N_("Date of submission"), "vulnerability_flags": N_("Vulnerability flags"), "transfer_place": N_("Place of transfer"),
    "verification_outcome": N_("Outcome of the identity verification"), "refusal_reason": N_("Reason for refusal"), "health_information": N_("Health information"),
    "criminal_record": N_("Criminal record"), "travel_document_number": N_("Travel document number"),
}
HOLD_LABELS = {"pending_appeal": N_("Pending appeal"), "pending_asylum_claim": N_("Pending asylum claim"), "legal_stay": N_("Legal stay"), "medical": N_("Medical reason")}
FLAG_LABELS = {
    "unaccompanied_minor": N_("Unaccompanied minor"), "medical": N_("Medical needs"), "trafficking_victim": N_("Victim of trafficking"), "disability": N_("Disability"),
    "pregnancy": N_("Pregnancy"), "elderly": N_("Elderly person"), "non_refoulement": N_("Non-refoulement concern"),
}
REFUSAL_LABELS = {
    "not_a_national": N_("Not a national"), "identity_not_established": N_("Identity not established"), "insufficient_evidence": N_("Insufficient evidence"),
    "not_covered_by_agreement": N_("Not covered by the agreement"), "time_limit_for_application_passed": N_("Application made too late"), "other": N_("Other reason"),
}
METHOD_LABELS = {"interview": N_("Interview"), "family_contact": N_("Family contact"), "registry_match": N_("Registry match"), "fingerprint": N_("Fingerprint"), "document_check": N_("Document check")}
PLACE_LABELS = {"airport": N_("Airport"), "border_crossing_point": N_("Border crossing point")}
SORT_LABELS = {"-updated": N_("Recently changed"), "due": N_("Next deadline"), "reference": N_("Reference"), "state": N_("State"), "-submitted": N_("Newest submitted")}
DUE_LABELS = {"overdue": N_("Overdue"), "soon": N_("Due within 3 days"), "flagged": N_("Overdue or due soon")}
CATEGORY_LABELS = {"proof_of_nationality": N_("proof of nationality"), "prima_facie": N_("prima facie evidence"), "starts_identification": N_("starts identification")}
GROUP_LABELS = {"agreement_id": N_("Agreement"), "requesting_state": N_("Requesting state"), "province": N_("Province"), "period": N_("Period")}
UNIT_LABELS = {"working_days": N_("working days"), "calendar_days": N_("calendar days"), "days": N_("days"), "months": N_("months"), "weeks": N_("weeks")}
CLOCK_EVENT_LABELS = {
    "confirmed_receipt": N_("confirmed receipt"), "receipt": N_("receipt"), "submission": N_("submission"), "acceptance": N_("acceptance"),
    "receipt_of_acceptance": N_("receipt of the acceptance"), "issue": N_("issue"), "request": N_("request"), "transit_request": N_("the transit request"),
    "transit_consent": N_("the transit consent"), "travel_document_issue": N_("issue of the travel document"), "closure": N_("closure"),
}
PROVINCE_LABELS = {"CN-FJ": N_("Fujian"), "CN-ZJ": N_("Zhejiang"), "CN-GD": N_("Guangdong")}
CIVIL_STATUS_LABELS = {"single": N_("single"), "married": N_("married"), "divorced": N_("divorced"), "widowed": N_("widowed"), "separated": N_("separated")}
OUTCOME_LABELS = {"accepted": N_("accepted"), "deemed_accepted": N_("deemed accepted"), "refused": N_("refused"), "pending": N_("pending"),
                  "withdrawn": N_("withdrawn"), "transferred": N_("transferred"), "cancelled": N_("cancelled")}
STATISTICS_COLUMN_LABELS = {
    "applications": N_("Applications"), "replies": N_("Replies"), "reply_days_median": N_("Reply days, median"), "reply_days_p90": N_("Reply days, 90th percentile"),
    "answered_within_limit": N_("Answered within the limit"), "answered_within_limit_share": N_("Share answered within the limit"),
    "deemed_acceptances": N_("Deemed acceptances"), "refusals_by_reason": N_("Refusals by reason"), "travel_document_days_median": N_("Days to travel document (median)"),
    "travel_documents": N_("Travel documents"), "transfers": N_("Transfers"), "transfers_within_window": N_("Transfers within the window"),
    "transfers_within_window_share": N_("Share of transfers within the window"), "outcomes": N_("Outcomes"),
}
SCOPE_LABELS = {"own": N_("cases you can open"), "others": N_("other cases (disclosure-controlled)")}
PROCEDURE_LABELS = {"readmission": N_("readmission"), "transit": N_("transit")}
KIND_LABELS = {"agreement": N_("agreement"), "template": N_("template"), "arrangement": N_("arrangement")}

for _domain, _labels in {
    "state": STATE_LABELS, "action": ACTION_LABELS, "deadline": DEADLINE_LABELS, "field": FIELD_LABELS, "hold": HOLD_LABELS, "flag": FLAG_LABELS,
    "refusal": REFUSAL_LABELS, "method": METHOD_LABELS, "category": CATEGORY_LABELS, "place": PLACE_LABELS, "unit": UNIT_LABELS,
    "clock_event": CLOCK_EVENT_LABELS, "province": PROVINCE_LABELS, "civil_status": CIVIL_STATUS_LABELS, "outcome": OUTCOME_LABELS, "statistics_column": STATISTICS_COLUMN_LABELS, "scope": SCOPE_LABELS, "procedure": PROCEDURE_LABELS, "agreement_kind": KIND_LABELS, "group": GROUP_LABELS,
}.items():
    define_labels(f"readmission.{_domain}", _labels)
