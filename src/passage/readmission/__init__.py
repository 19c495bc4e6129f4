"""Readmission: a case from application to transfer, under the exact rules of each agreement.

Public pure functions other modules may call (see docs/readmission.md):
- `passage.readmission.agreements`: `preset_agreements()`, `get_preset(id)`, `parse_agreement(data)`,
  `load_agreement_file(path)`, `unverified_figures(agreement)`;
- `passage.readmission.rules`: `reply_deadline`, `extended_reply_deadline`, `effective_reply_deadline`,
  `transfer_deadline`, `travel_document_expiry`, `travel_document_issue_due`, `travel_document_reissue_due`,
  `transit_reply_deadline`, `transit_deadline`, `deadlines_on_receipt`, `case_deadlines`;
- `passage.readmission.calendars.WorkingCalendar` (requested state's working days, incl. China's 调休);
- `passage.readmission.workflow`: `decide`, `allowed_actions`, `actor_side`, `transition_matrix`;
- `passage.readmission.safeguards`: holds, `missing_application_data`, `share_payload`, retention/erasure;
- `passage.readmission.evidence`: `check_upload`, `classify`;
- `passage.readmission.jobs.due_now` (the idempotent deadline job);
- `passage.readmission.statistics.compute`;
- `passage.readmission.demo.demo_dataset`.
"""

PUBLIC_MODULES: tuple[str, ...] = ("agreements", "rules", "calendars", "workflow", "safeguards", "evidence", "jobs", "statistics", "demo")
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
