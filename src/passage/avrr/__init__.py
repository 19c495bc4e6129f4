"""Assisted voluntary return and reintegration (AVRR): incentive schemes, the case, sustainability, statistics.

Documented pure public functions other modules may call (see `docs/avrr.md`):
- `passage.avrr.schemes.default_registry()`, `SchemeRegistry.in_force(scheme_id, on)`;
- `passage.avrr.rules.parse_household(data)`, `calculate_incentives(scheme, household, on=...)`;
- `passage.avrr.stages.check_transition`, `check_withdrawal`, `require_link_consent`, `monitoring_schedule`,
  `plan_due_on`, `check_disbursement`;
- `passage.avrr.sustainability.load_scoring_config`, `score_survey`, `cohort_reports`;
- `passage.avrr.statistics.returns_per_country_month`, `application_to_departure`,
  `assistance_planned_vs_delivered`, `cost_per_returnee`.
"""

PUBLIC_MODULES: tuple[str, ...] = ("schemes", "rules", "stages", "sustainability", "statistics")
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
