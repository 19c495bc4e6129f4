"""Browser test as the analyst: start a flows-above-normal run, watch the progress bar reach 100%, see the
map with coloured (and hatched, redacted) areas, the legend and the table."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import browser_sign_in

from .test_api import register

pytestmark = pytest.mark.browser


def test_analyst_runs_flows_above_normal_and_sees_the_map(page: Any, small_dataset: tuple[Path, dict[str, Any]]) -> None:
    path, truth = small_dataset
    register(path, name="Small crisis")
    browser_sign_in(page, "analyst")
    page.get_by_role("link", name="Mobility", exact=True).first.click()
    page.get_by_role("link", name="Run an analysis").first.click()
    assert page.get_by_label("Analysis").input_value() == "flows_above_normal"
    for name in ("benchmark", "comparison", "focal"):
        start, end = truth["windows"][name].split("..")
        page.locator(f"#p-{name}-start").fill(start)
        page.locator(f"#p-{name}-end").fill(end)
    page.get_by_label("Spatial unit").select_option("2")

    # First a mistake: overlapping windows come back with the field marked, nothing queued.
    page.locator("#p-focal-start").fill(truth["windows"]["comparison"].split("..")[1])
    page.get_by_role("button", name="Start the analysis").click()
    assert "overlaps focal" in page.locator("#p-comparison-error").inner_text()
    assert page.locator("#p-benchmark-start").input_value() == truth["windows"]["benchmark"].split("..")[0]  # the form kept what was typed
    page.locator("#p-focal-start").fill(truth["windows"]["focal"].split("..")[0])
    page.get_by_role("button", name="Start the analysis").click()
    page.wait_for_url(re.compile(r".*/mobility/runs/[0-9a-f]{32}$"))

    seen: set[str] = set()
    for _ in range(600):
        seen.add(page.locator("#run-progress-text").inner_text())
        if page.locator("#mobility-map[data-ready='true']").count():
            break
        page.wait_for_timeout(100)
    assert page.locator("#run-progress-text").inner_text() == "100%"
    assert page.locator("#run-status").inner_text() == "finished"

    coloured = page.locator("#mobility-map path.mobility-area:not(.mobility-redacted)")
    assert coloured.count() >= 2
    fills = {coloured.nth(i).get_attribute("fill") for i in range(coloured.count())}
    assert len(fills - {"#ffffff", None}) >= 2  # at least two classes of the palette in use
    for i in range(page.locator("#mobility-map path.mobility-redacted").count()):
        assert page.locator("#mobility-map path.mobility-redacted").nth(i).get_attribute("fill") == "url(#mobility-hatch)"
    assert page.locator("#mobility-legend li").count() >= 2
    d02 = page.locator('#mobility-area-table tr[data-pcode="D02"] td').nth(1).inner_text()
    assert int(d02.replace(",", "")) > 15
    table = page.locator("#mobility-result-table").inner_text()
    assert "D01" in table and "D02" in table
    for cell in page.locator("#mobility-area-table tr.redacted td:nth-child(2)").all_inner_texts():
        assert cell == "withheld"
    # no small *count* in the flows table: every published subscriber count is above the threshold (the
    # area table maps flows above normal, differences that may be small without revealing a count)
    for row in page.locator("#mobility-result-table tbody tr").all():
        counts = [c.replace(",", "") for c in row.locator("td").all_inner_texts()[2:4]]
        assert all(c == "withheld" or int(c) > 15 for c in counts), counts
    assert page.locator("#download-csv").get_attribute("href", timeout=1000).endswith("/result.csv")
    assert page.locator("#download-hxl").get_attribute("href").endswith("/result.hxl.csv")
