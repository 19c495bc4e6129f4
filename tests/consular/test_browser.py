"""A consular officer in the browser, in English and Chinese: draw a crisis area on the map, see who is inside."""

from __future__ import annotations

from typing import Any

from passage.consular import service
from passage.core.db import unit_of_work
from tests.conftest import browser_sign_in
from tests.consular.conftest import registration, user_named, with_districts


def test_officer_draws_a_crisis_on_the_map_and_sees_who_is_inside(page: Any) -> None:
    with_districts()
    with unit_of_work() as s:
        officer = user_named(s, "denpasar.officer")
        for i in range(4):
            service.create_registration(s, actor=officer, data=registration("王", str(i), lat=-8.58 + i * 0.01, lon=116.11))
        service.create_registration(s, actor=officer, data=registration("李", "外", lat=-8.72, lon=115.17))
    browser_sign_in(page, "denpasar.officer")
    page.goto("/consular/crises?country=ID")
    page.wait_for_selector("#consular-draw-map[data-ready='true']")
    assert page.locator("path.consular-density").count() >= 2
    page.locator("#consular-draw-map").scroll_into_view_if_needed()
    box = page.locator("#consular-draw-map").bounding_box()
    # The map fits the density circles: Kuta (Bali) to the west, Mataram (Lombok) to the east; draw around Mataram.
    circles = [page.locator("path.consular-density").nth(i).bounding_box() for i in range(page.locator("path.consular-density").count())]
    mataram = max(circles, key=lambda b: b["x"])  # type: ignore[index]
    cx, cy = mataram["x"] + mataram["width"] / 2, mataram["y"] + mataram["height"] / 2
    for dx, dy in ((-150, -90), (12, -90), (12, 90), (-150, 90)):  # people sit west of the square centre
        page.mouse.click(cx + dx, cy + dy)
    assert page.locator("#consular-draw-status").text_content() == "4 corners"
    page.get_by_role("button", name="Close the area").click()
    assert '"Polygon"' in page.locator("#f-area").input_value()
    page.get_by_label("Name in English").fill("Aftershock")
    page.get_by_label("Name in Chinese").fill("余震")
    page.get_by_label("Starts on").fill("2026-12-01")
    page.get_by_role("button", name="Declare the crisis").click()
    page.wait_for_selector("#consular-crisis-map[data-ready='true']")
    rows = page.locator("table").nth(0).locator("tbody tr")
    assert box is not None
    text = page.content()
    assert "Aftershock" in text
    assert page.locator("main a[href^='/consular/registrations/']").count() == 4  # the four around Mataram; Kuta is far outside
    assert "李" not in text
    page.get_by_label("Language").select_option("zh_Hans")
    page.wait_for_selector("text=撤离动态看板")
    assert "余震" in page.content() and rows.count() >= 1
