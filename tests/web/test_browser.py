"""Browser tests of the web shell in Debian's Chromium: second factor, language switch, keyboard access."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import browser_sign_in

pytestmark = pytest.mark.browser


def test_sign_in_with_second_factor_and_sign_out(page: Any) -> None:
    browser_sign_in(page, "fj.officer")
    assert page.get_by_role("heading", name="Your work").is_visible()
    assert "Lin Hui" in page.content()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url


def test_wrong_code_keeps_the_user_out(page: Any) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill("fj.officer")
    page.get_by_label("Password").fill("passage-demo-2026")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Code").fill("000001")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    page.goto("/")
    assert "/login" in page.url


def test_language_switch_to_chinese_and_back(page: Any) -> None:
    browser_sign_in(page, "admin")
    with page.expect_navigation():
        page.get_by_label("Language").select_option("zh_Hans")
    assert page.get_by_role("heading", name="我的工作").is_visible()
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.get_by_role("link", name="审计日志").is_visible()
    with page.expect_navigation():
        page.get_by_label("语言").select_option("en")
    assert page.get_by_role("heading", name="Your work").is_visible()


def test_skip_link_and_keyboard_navigation(page: Any) -> None:
    browser_sign_in(page, "analyst")
    page.goto("/")
    page.keyboard.press("Tab")
    assert "Skip to main content" in page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Every form control on the sign-in page has a label.
    page.goto("/login")
    unlabeled = page.evaluate(
        "Array.from(document.querySelectorAll('input:not([type=hidden]), select')).filter(e => !e.labels || e.labels.length === 0).length"
    )
    assert unlabeled == 0


def test_admin_pages_in_the_browser(page: Any) -> None:
    browser_sign_in(page, "admin")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_role("link", name="Verify the chain").click()
    assert page.get_by_role("status").filter(has_text="audit chain").inner_text().startswith("The audit chain is intact.")
    page.get_by_role("link", name="Users").click()
    assert page.get_by_role("cell", name="fj.officer").is_visible()
