"""Displacement tracking in the way of IOM's Displacement Tracking Matrix (DTM), and the geography it needs.

Public pure functions other modules (and wave 2's web and API layers) may call:

- `passage.dtm.geography`: `parse_cod_ab`, `load_cod_ab_file`, `pcode_problem`, `normalise_name`,
  `Gazetteer` (`check_name`, `ancestor_at`, `lineage`), `read_name_variants`;
- `passage.dtm.rules`: `figure_from_submission`, `run_checks` and each `check_*`, `round_changes`,
  `flow_lines`, `summarise_flows`;
- `passage.dtm.aggregate`: `aggregate`, `ensure_single_level`;
- `passage.dtm.hxl`: `columns_for_level`, `write_hxl_csv`, `write_hxl_xlsx`;
- `passage.dtm.dtm_api`: `DTM_API_V3_FIELDS`, `to_dtm_api_v3`, `dtm_api_v3_response`, `parse_query`, `matches`;
- `passage.dtm.choropleth`: `choropleth`, `site_points`;
- `passage.dtm.report`: `build_report`, `render_html`, `write_pdf`;
- `passage.dtm.publication`: `publish`, `build_table` (what of a round may be published: disclosure control);
- `passage.dtm.xlsforms`: the shipped XLSForms (`python -m passage.dtm.xlsforms` regenerates them).

Database operations are in `passage.dtm.service`. See docs/dtm.md.
"""

PUBLIC_MODULES: tuple[str, ...] = ("geography", "rules", "aggregate", "hxl", "dtm_api", "choropleth", "report", "publication", "xlsforms")
"""What other modules may import besides `service` (checked by the `public_interface` import contract)."""
