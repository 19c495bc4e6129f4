"""Mobility's message codes and label domains: analyses, parameters, methods, run statuses and result columns, in
the reader's language (docs/mobility.md, "Languages"). Codes stay in runs, result files and the API; the words are
chosen where a person reads them (pages, the CSV download's header row).
"""

from __future__ import annotations

from markupsafe import Markup

from passage.core.i18n import N_, define_labels

ANALYSIS_LABELS = define_labels("mobility.analysis", {
    "daily_location": N_("Daily location"),
    "home_locations": N_("Home locations"),
    "unique_subscriber_counts": N_("Unique subscriber counts"),
    "location_event_counts": N_("Location event counts"),
    "active_subscribers": N_("Active subscribers"),
    "flows": N_("Flows between home locations"),
    "flows_above_normal": N_("Flows above normal"),
    "displaced_subscribers": N_("Displaced subscribers"),
    "residents_present_absent": N_("Residents present or absent"),
})
PARAMETER_LABELS = define_labels("mobility.parameter", {
    "window": N_("Window"),
    "from_window": N_("From window"),
    "to_window": N_("To window"),
    "benchmark": N_("Benchmark window (before the crisis)"),
    "comparison": N_("Comparison window (before the crisis, normal movement)"),
    "focal": N_("Focal window (after the crisis)"),
    "method": N_("Daily location method"),
    "min_active_days": N_("Minimum active days"),
})
METHOD_LABELS = define_labels("mobility.method", {"last": N_("Last event of the day"), "most-common": N_("Most events of the day")})
STATUS_LABELS = define_labels("mobility.status", {"queued": N_("queued"), "running": N_("running"), "succeeded": N_("finished"), "failed": N_("failed")})
COLUMN_LABELS = define_labels("mobility.column", {
    "pcode": N_("Area"), "origin_pcode": N_("Origin"), "destination_pcode": N_("Destination"), "date": N_("Day"),
    "subscribers": N_("Subscribers"), "events": N_("Events"), "residents": N_("Residents"), "displaced": N_("Displaced"),
    "present": N_("Present"), "absent": N_("Absent"), "subscribers_benchmark_comparison": N_("Normal flow (benchmark to comparison)"),
    "subscribers_benchmark_focal": N_("Crisis flow (benchmark to focal)"), "above_normal": N_("Above normal"),
})


def as_named(name: str | None) -> Markup:
    """A name given by the data's owner (a dataset, an area in the boundaries file), shown as written: a proper name,
    marked `translate="no"` (boundaries carry one name per area)."""
    if not name:
        return Markup("–")
    return Markup('<span translate="no">{}</span>').format(name)
