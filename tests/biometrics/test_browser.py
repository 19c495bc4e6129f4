"""The fingerprint pages in Chromium: the Fujian officer opens the gallery, searches with a demo probe and sees the pairs drawn."""

from __future__ import annotations

from typing import Any

import pytest

from tests.biometrics.test_views import _load_demo
from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


def test_officer_compares_a_demo_person_and_sees_minutiae_pairs(page: Any, demo_people: dict[str, str]) -> None:
    ids = _load_demo()
    browser_sign_in(page, "fj.officer")
    page.get_by_role("link", name="Fingerprints").first.click()
    page.wait_for_url("**/biometrics")
    assert page.get_by_text("demo-p1-1").first.is_visible()
    page.goto("/biometrics/compare")
    page.get_by_label("Probe template id").fill(ids["demo-p1-2"])
    page.get_by_role("button", name="Compare").click()
    candidates = page.get_by_role("table")
    assert candidates.get_by_text("demo-person-1", exact=True).is_visible()
    candidates.get_by_role("row").filter(has_text="demo-person-1").get_by_role("link", name="Compare").first.click()
    page.wait_for_url(f"**candidate={ids['demo-p1-1']}")
    drawing = page.locator("svg#comparison")
    assert drawing.is_visible()
    assert drawing.locator("circle").count() > 40
    pairs = drawing.locator("g.pairs line")
    assert pairs.count() >= 12
    assert pairs.first.is_visible()
