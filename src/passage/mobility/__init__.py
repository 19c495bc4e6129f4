"""Mobility analytics from de-identified mobile-operator data, in the way of Flowminder/FlowKit.

Public API (call these, not the internals):
- `passage.mobility.service.ingest_dataset(...)` -> `IngestReport`: pseudonymise (HMAC-SHA256),
  validate and store events as Parquet partitioned by date.
- `passage.mobility.service.run_analysis(dataset=..., analysis=..., params=..., level=..., engine=...,
  policy=..., progress=...)` -> `AnalysisResult` (redacted aggregates + metadata + `audit_records()`).
- `passage.mobility.service.write_csv(result, path, hxl=False)`, `list_analyses()`, `area_geometries()`.
- `passage.mobility.privacy.PrivacyPolicy.build(threshold=..., override_reason=..., actor=...)`.
"""

PUBLIC_MODULES: tuple[str, ...] = ("privacy",)
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
