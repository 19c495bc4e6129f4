"""The estimate recovers the planted flows above normal (issue 5: within 5%)."""

from pathlib import Path
from typing import Any

from passage.mobility.engines import DuckDBEngine
from passage.mobility.service import build_metric, compute_metric, run_analysis
from passage.mobility.units import parse_unit


def test_planted_flows_above_normal_are_recovered_within_5_percent(dataset: Path, truth: dict[str, Any]) -> None:
    metric = build_metric("flows_above_normal", truth["windows"])
    _, rows = compute_metric(dataset=dataset, metric=metric, unit=parse_unit(2), engine=DuckDBEngine())
    estimate = {(o, d): f - c for o, d, c, f in rows}
    big = [r for r in truth["flows_above_normal"] if abs(r["above_normal"]) >= 50]
    # The planted crisis: the affected district loses people to its three destinations.
    assert {(r["origin_pcode"], r["destination_pcode"]) for r in big} >= {("D01", "D01"), ("D01", "D02"), ("D01", "D05"), ("D01", "D09")}
    for r in big:
        got = estimate[(r["origin_pcode"], r["destination_pcode"])]
        assert abs(got - r["above_normal"]) <= 0.05 * abs(r["above_normal"]), (r, got)


def test_published_output_keeps_large_planted_flows(dataset: Path, truth: dict[str, Any]) -> None:
    result = run_analysis(dataset=dataset, analysis="flows_above_normal", params=truth["windows"], level=2)
    published = {(r[0], r[1]): r for r in result.rows}
    for r in truth["flows_above_normal"]:
        if r["origin_pcode"] == "D01" and r["destination_pcode"] in ("D02", "D05", "D09"):
            row = published[(r["origin_pcode"], r["destination_pcode"])]
            assert row[4] is not None and abs(row[4] - r["above_normal"]) <= max(15, 0.05 * r["above_normal"])
    # Nothing at or below the threshold is published.
    assert all(v is None or v > 15 for row in result.rows for v in row[2:4])
