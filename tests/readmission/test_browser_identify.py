"""The caseworker's day in Chromium, in English and in Chinese: intake with a duplicate warning -> submit ->
route (the suggested province) -> identify by a Wade-Giles name against the registry -> decide -> verified.

The registry is the demo's synthetic one (its planted people include 叶明明, born 1988-07-15 in 温州), kept
small here. The flow's wall time is printed (`-s`) for bench/results/readmission.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passage.readmission.demo import _DEMO_PDF, _DEMO_PNG, SHOWCASE_PEOPLE
from tests.conftest import demo_secret, totp_now

pytestmark = pytest.mark.browser

TEXT = {
    "en": {"duplicate": "This person may already have an open case.", "missing": "Still missing", "suggested": "suggested", "state_verified": "Identity verified",
           "closed": "closed: another candidate was confirmed", "state_routed": "Routed to province", "state_submitted": "Submitted",
           "missing_fields": ("Photo", "Evidence documents")},
    "zh": {"duplicate": "此人可能已有未结案件。", "missing": "提交申请前仍缺少", "suggested": "建议", "state_verified": "身份已核实",
           "closed": "已关闭：已确认另一名候选人", "state_routed": "已转交省级", "state_submitted": "已提交",
           "missing_fields": ("照片", "证据文件")},
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small synthetic registry with the showcase people planted, indexed once for the module."""
    from passage.identity import service as identity_service

    directory = tmp_path_factory.mktemp("registry")
    saved = {k: os.environ.get(k) for k in ("PASSAGE_IDENTITY_REGISTRY", "PASSAGE_IDENTITY_INDEX")}
    os.environ["PASSAGE_IDENTITY_REGISTRY"] = str(directory / "registry.csv")
    os.environ["PASSAGE_IDENTITY_INDEX"] = str(directory / "registry.index")
    identity_service.ensure_demo_registry(planted=list(SHOWCASE_PEOPLE), size=3000)
    yield directory
    identity_service.clear_cache()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def sign_in(chromium: Any, live_server: Any, username: str, language: str) -> Any:
    context = chromium.new_context(base_url=live_server.url, locale="zh-CN" if language == "zh" else "en-GB")
    page = context.new_page()
    page.set_default_timeout(30000)
    page.goto("/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill("passage-demo-2026")
    page.locator("input[name=password]").press("Enter")
    page.locator("input[name=code]").fill(totp_now(demo_secret(username)))
    page.locator("input[name=code]").press("Enter")
    page.wait_for_url("**/")
    return page


def open_action(page: Any, action: str) -> Any:
    """The form of one action on the case page (by its value, so it works in every language)."""
    form = page.locator(f"form:has(input[name=action][value={action}])")
    form.locator("xpath=ancestor::details").locator("summary").click()
    return form


def fill_intake(page: Any, surname: str, given: str) -> None:
    page.goto("/readmission/new")
    page.locator("#n-surname").fill(surname)
    page.locator("#n-given_names").fill(given)
    page.locator("#n-date_of_birth").fill("1988-07-15")
    page.locator("#n-place_of_birth").fill("Wenchow")
    page.locator("#n-sex").select_option("F")
    page.locator("#n-nationality").select_option("CHN")
    for name, value in {"father_name": "Ye Guoqiang", "mother_name": "Lin Fang", "languages": "wuu\nzh", "civil_status": "single",
                        "last_addresses_in_requested_state": "Wenzhou, Zhejiang", "physical_description": "height 1.60 m", "special_needs": "none"}.items():
        page.locator(f"#n-{name}").fill(value)
    page.locator("input[name=aliases_none]").check()
    page.locator("#new-case button[type=submit]").click()
    page.wait_for_load_state()


@pytest.mark.parametrize("language", ["en", "zh"])
def test_intake_duplicate_submit_route_identify_decide_verify(chromium: Any, live_server: Any, registry: Path, tmp_path: Path, language: str) -> None:
    words = TEXT[language]
    started = time.monotonic()
    officer = sign_in(chromium, live_server, "nl.officer", language)

    # intake: an empty draft is refused and creates nothing
    officer.goto("/readmission/new")
    officer.locator("#new-case button[type=submit]").click()
    officer.wait_for_load_state()
    assert "/readmission/new" in officer.url and officer.locator("[role=alert]").count() >= 1

    fill_intake(officer, "YEH", "Ming-ming")
    officer.wait_for_url("**/readmission/cases/*")
    case_url = officer.url

    # the same person again, in pinyin: a clear warning names the open case, and nothing is created
    fill_intake(officer, "YE", "Mingming")
    warning = officer.locator("#duplicate-warning")
    assert words["duplicate"] in warning.inner_text()
    assert warning.locator(f"a[href='{case_url.removeprefix(live_server.url)}']").count() == 1

    # submit names every field still missing; after the photo and a document it goes through
    officer.goto(case_url)
    assert words["missing"] in officer.content()
    open_action(officer, "submit").locator("button[type=submit]").click()
    officer.wait_for_load_state()
    problems = officer.locator("[role=alert]").inner_text()
    assert all(word in problems for word in words["missing_fields"]), problems
    pdf, png = tmp_path / "passport.pdf", tmp_path / "photo.png"
    pdf.write_bytes(_DEMO_PDF)
    png.write_bytes(_DEMO_PNG)
    for kind, path in (("evidence", pdf), ("photo", png)):
        officer.locator("#u-kind").locator("xpath=ancestor::details").locator("summary").click()
        officer.locator("#u-kind").select_option(kind)
        officer.locator("#u-file").set_input_files(str(path))
        officer.locator("#u-file").locator("xpath=ancestor::form").locator("button[type=submit]").click()
        officer.wait_for_url(case_url)
    open_action(officer, "submit").locator("button[type=submit]").click()
    officer.wait_for_load_state()
    assert officer.locator("#case-state").inner_text() == words["state_submitted"]
    officer.context.close()

    # the central authority confirms receipt and routes: Zhejiang is suggested from "Wenchow", never Fujian by default
    central = sign_in(chromium, live_server, "mps.central", language)
    central.goto(case_url)
    open_action(central, "acknowledge").locator("button[type=submit]").click()
    central.wait_for_load_state()
    route = open_action(central, "route")
    chosen = route.locator("select[name=province_org_id] option:checked")
    assert words["suggested"] in chosen.inner_text() and ("Zhejiang" in chosen.inner_text() or "浙江" in chosen.inner_text())
    route.locator("button[type=submit]").click()
    central.wait_for_load_state()
    assert central.locator("#case-state").inner_text() == words["state_routed"]
    central.context.close()

    # the Zhejiang bureau searches the registry with the Wade-Giles name and decides on the decision screen
    province = sign_in(chromium, live_server, "zj.officer", language)
    province.goto(case_url)
    province.locator("#identify form[action$='/identify'] button[type=submit]").click()
    province.wait_for_load_state()
    table = province.locator("table.decision").first
    header = table.locator("thead th").nth(2)
    first_column = table.locator("tbody tr").first.locator("td").nth(1)
    assert "叶明明" in first_column.inner_text(), header.inner_text()
    assert "1988-07-15" in table.inner_text() and "温州" in table.inner_text()
    table.locator("form:has(input[name=decision][value=confirmed])").first.locator("button").click()
    province.wait_for_load_state()
    table = province.locator("table.decision").first
    assert words["closed"] in table.inner_text()
    assert table.locator("form:has(input[name=decision][value=confirmed])").count() == 0

    # the verification method is chosen, never defaulted
    verify = open_action(province, "verify_identity")
    assert verify.locator("select[name=method]").input_value() == ""
    verify.locator("select[name=method]").select_option("registry_match")
    verify.locator("button[type=submit]").click()
    province.wait_for_load_state()
    assert province.locator("#case-state").inner_text() == words["state_verified"]
    province.context.close()
    print(f"\nintake-to-verified flow ({language}): {time.monotonic() - started:.1f} s")
