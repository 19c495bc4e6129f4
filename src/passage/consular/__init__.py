"""Consular protection in crises: nationals abroad, help requests, crises, evacuation planning and tracking.

Built after the 2018 EU-China seminar report (seed 004): China's Centre for Consular Assistance and Protection,
the 12308 hotline and app (trip registration, safety information, calls for help), the Yemen (2015) and Bali
(2017) evacuations; and IOM's MICIC guidelines (2016) and MEND guide (2017) for the preparedness, emergency and
recovery phases.

Documented pure public functions other modules may call (see `docs/consular.md`):
- `passage.consular.geo.parse_area`, `point_in_area`, `grid_cover`, `cell_of`;
- `passage.consular.evacuation.plan_evacuation`, `greedy_baseline`, `verify_plan`;
- `passage.consular.rules.sla_state`, `check_request_transition`.
"""

PUBLIC_MODULES: tuple[str, ...] = ("geo", "evacuation", "rules")
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
