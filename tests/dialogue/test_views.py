"""The Dialogue pages through the real app: lists, calendar, event page with flags, forms with inline errors, tracker, directory, report."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.dialogue import models as m
from tests.dialogue.test_demo import load_demo
from tests.security.test_views import HTML, _csrf, sign_in


@pytest.fixture()
def caseworker(app_client: Any) -> Any:
    load_demo()
    sign_in(app_client, "iom.caseworker")
    return app_client


def _event_id(key: str) -> str:
    with unit_of_work() as session:
        return session.scalars(select(m.Event.id).where(m.Event.key == key)).one()


def test_list_search_filter_and_calendar(caseworker: Any) -> None:
    page = caseworker.get("/dialogue", headers=HTML)
    assert page.status_code == 200
    assert "Workshop on Practical Cooperation on Return and Reintegration" in page.text and "Global Approach to Mixed Migration" in page.text
    assert 'href="/dialogue/events/new"' in page.text
    seminars = caseworker.get("/dialogue", params={"event_type": "seminar"}, headers=HTML).text
    rows = seminars.split("<tbody>")[1]
    assert "Mixed Migration" in rows and "Return and Reintegration" not in rows
    assert "No events match." in caseworker.get("/dialogue", params={"q": "no such title"}, headers=HTML).text
    # the Chinese title is searched too (it is stored as JSON text, where Chinese is escaped)
    found = caseworker.get("/dialogue", params={"q": "混合移民"}, headers=HTML).text.split("<tbody>")[1]
    assert "Mixed Migration" in found and "Return and Reintegration" not in found
    month = caseworker.get("/dialogue/calendar", params={"month": "2018-02"}, headers=HTML)
    assert month.status_code == 200 and f'/dialogue/events/{_event_id("2018-02-mixed-migration-seminar")}' in month.text
    assert caseworker.get("/dialogue/calendar", params={"month": "2018-13"}, headers=HTML).status_code == 422


def test_event_page_shows_flags_counts_observations_and_contacts_note(caseworker: Any) -> None:
    seminar = caseworker.get(f"/dialogue/events/{_event_id('2018-02-mixed-migration-seminar')}", headers=HTML).text
    assert re.search(r"Consistency flags \(<span class=\"nowrap\">3</span>\)", seminar)
    assert "A stated total differs from the sum of its parts" in seminar and "The evaluation is dated outside the event" in seminar
    workshop = caseworker.get(f"/dialogue/events/{_event_id('2015-11-return-readmission-workshop')}", headers=HTML).text
    assert re.search(r"Consistency flags \(<span class=\"nowrap\">0</span>\)", workshop) and "No contradictions found." in workshop
    assert workshop.count("<li>⇒ ") == 46
    assert 'Participants: <span class="nowrap">55</span>' in workshop and 'Provinces: <span class="nowrap">14</span>' in workshop
    assert 'Embassies: <span class="nowrap">7</span>' in workshop
    assert "your organisation organises this event" in workshop


def test_event_form_shows_inline_errors_and_creates(caseworker: Any) -> None:
    form = caseworker.get("/dialogue/events/new", headers=HTML)
    token = _csrf(form.text)
    bad = caseworker.post("/dialogue/events", data={"csrf_token": token, "title_en": "Visit", "event_type": "study_visit", "start_date": "2026-06-10",
                                                    "end_date": "2026-06-01", "venue_en": "Paris", "project_en": "P"}, headers=HTML)
    assert bad.status_code == 422
    assert 'id="end_date-error"' in bad.text and 'aria-invalid="true" aria-describedby="end_date-error"' in bad.text
    assert 'value="Visit"' in bad.text  # what was typed is kept
    good = caseworker.post("/dialogue/events", data={"csrf_token": token, "title_en": "Visit", "event_type": "study_visit", "start_date": "2026-06-01",
                                                     "end_date": "2026-06-03", "venue_en": "Paris", "project_en": "P"}, headers=HTML, follow_redirects=False)
    assert good.status_code == 303
    event_url = good.headers["location"]
    no_owner = caseworker.post(f"{event_url}/outcomes", data={"csrf_token": token, "kind": "recommendation", "text_en": "Exchange more often"}, headers=HTML, follow_redirects=False)
    assert no_owner.status_code == 303
    page = caseworker.get(event_url, headers=HTML).text
    outcome_id = re.search(r'<option value="([0-9a-f]{32})">Exchange more often</option>', page)
    assert outcome_id
    refused = caseworker.post(f"{event_url}/follow-ups", data={"csrf_token": token, "outcome_id": outcome_id.group(1), "title": "Exchange", "due_date": "2026-05-01"}, headers=HTML)
    assert refused.status_code == 422
    # both refusals at once, each beside its own field: no owner, and due before the event starts
    assert 'id="owner_institution_id-error"' in refused.text and 'id="due_date-error"' in refused.text


def test_readers_cannot_post_and_chinese_pages(app_client: Any) -> None:
    load_demo()
    sign_in(app_client, "mps.central")
    page = app_client.get("/dialogue", headers=HTML)
    assert page.status_code == 200 and 'href="/dialogue/events/new"' not in page.text
    assert app_client.get("/dialogue/events/new", headers=HTML).status_code == 403
    event_page = app_client.get(f"/dialogue/events/{_event_id('2015-11-return-readmission-workshop')}", headers=HTML).text
    assert "Register a participant" not in event_page
    app_client.cookies.set("passage_lang", "zh_Hans")
    zh = app_client.get("/dialogue/tracker", headers=HTML)
    assert "建议跟踪" in zh.text and "已落实" in zh.text
    directory = app_client.get("/dialogue/directory", headers=HTML).text
    assert "Demo Liaison Officer (MPS)" in directory and "Demo Officer without consent" not in directory


def test_report_preview_in_both_languages(caseworker: Any) -> None:
    event_id = _event_id("2015-11-return-readmission-workshop")
    english = caseworker.get(f"/dialogue/events/{event_id}/report", params={"lang": "en"}, headers=HTML)
    assert english.status_code == 200 and "attended by 55 participants" in english.text and 'class="report-preview"' in english.text
    chinese = caseworker.get(f"/dialogue/events/{event_id}/report", params={"lang": "zh"}, headers=HTML)
    assert "共有55名与会者" in chinese.text


def test_home_panel_lists_follow_ups_due(caseworker: Any) -> None:
    token = _csrf(caseworker.get("/dialogue/events/new", headers=HTML).text)
    event_id = _event_id("2015-11-return-readmission-workshop")
    with unit_of_work() as session:
        outcome = session.scalars(select(m.Outcome.id).where(m.Outcome.event_id == event_id, m.Outcome.kind == "recommendation")).first()
        owner = session.scalars(select(m.Institution.id).where(m.Institution.key == "iom-china")).one()
    assert outcome is not None
    saved = caseworker.post(f"/dialogue/events/{event_id}/follow-ups", data={
        "csrf_token": token, "outcome_id": outcome, "title": "Convene the ILO network", "owner_institution_id": owner,
        "due_date": "2019-01-31", "status": "planned"}, headers=HTML, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    home = caseworker.get("/", headers=HTML).text
    assert "Dialogue follow-ups due" in home and "Convene the ILO network" in home and "overdue since 31 Jan 2019" in home


def test_forms_take_both_languages_and_chinese_pages_show_them(caseworker: Any) -> None:
    token = _csrf(caseworker.get("/dialogue/events/new", headers=HTML).text)
    created = caseworker.post("/dialogue/events", data={
        "csrf_token": token, "title_en": "Visit", "zh.title": "考察访问", "event_type": "study_visit", "start_date": "2026-06-01",
        "end_date": "2026-06-03", "venue_en": "Paris", "zh.venue": "", "project_en": "P", "zh.project": "项目"}, headers=HTML, follow_redirects=False)
    assert created.status_code == 303, created.text
    event_url = created.headers["location"]
    session = caseworker.post(f"{event_url}/sessions", data={
        "csrf_token": token, "number": "1", "title_en": "Procedures", "zh.title": "程序", "kind": "presentation",
        "observations_en": "Identification takes long\nLiaison officers help", "observations_zh": "身份识别耗时较长"}, headers=HTML)
    assert session.status_code == 422 and 'id="observations_zh-error"' in session.text  # one Chinese line for two English ones
    assert 'value="程序"' in session.text  # what was typed is kept
    with unit_of_work() as db:
        event = db.scalars(select(m.Event).where(m.Event.title_en == "Visit")).one()
        assert event.translations == {"title": {"zh_Hans": "考察访问"}, "project": {"zh_Hans": "项目"}}
    caseworker.cookies.set("passage_lang", "zh_Hans")
    page = caseworker.get(event_url, headers=HTML).text
    assert "<h1>考察访问</h1>" in page
    # the venue has no Chinese yet: the English is shown, marked
    assert re.search(r'<span class="fallback" lang="en"><span class="fallback-marker"[^>]*>［尚未翻译］</span>Paris</span>', page)
    preview = caseworker.get(f"{event_url}/report", headers=HTML).text  # the reader's language by default
    assert "翻译状态" in preview and "<li>活动：地点</li>" in preview  # title, venue and project: the venue is missing
    assert re.search(r"中文</strong>：共<span class=\"nowrap\">3</span>段文字，已翻译<span class=\"nowrap\">2</span>段", preview)


def test_the_translator_page_sets_the_chinese_text_and_the_report_follows(caseworker: Any) -> None:
    event_id = _event_id("2018-02-mixed-migration-seminar")
    page = caseworker.get(f"/dialogue/events/{event_id}/translations", headers=HTML)
    assert page.status_code == 200
    token = _csrf(page.text)
    version = re.search(r'name="version" value="(\d+)"', page.text)
    key = re.search(r'name="(session\.[0-9a-f]+\.abstract)"', page.text)
    assert version and key
    # clear one Chinese text: the Chinese report then prints the English, marked, and lists it at the end
    saved = caseworker.post(f"/dialogue/events/{event_id}/translations",
                            data={"csrf_token": token, "version": version.group(1), key.group(1): ""}, headers=HTML, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    caseworker.cookies.set("passage_lang", "zh_Hans")
    preview = caseworker.get(saved.headers["location"], headers=HTML).text
    assert "<li>第1场：摘要</li>" in preview and "［尚未翻译］" in preview
    # a stale version is refused: someone saved since the page was read
    stale = caseworker.post(f"/dialogue/events/{event_id}/translations",
                            data={"csrf_token": token, "version": version.group(1), key.group(1): "新的摘要"}, headers=HTML, follow_redirects=False)
    assert stale.status_code == 409
    # a key that is not a text of this event is refused beside nothing it could change
    fresh = caseworker.get(f"/dialogue/events/{event_id}/translations", headers=HTML).text
    current = re.search(r'name="version" value="(\d+)"', fresh)
    assert current
    wrong = caseworker.post(f"/dialogue/events/{event_id}/translations",
                            data={"csrf_token": token, "version": current.group(1), "event.nothing.title": "x"}, headers=HTML)
    assert wrong.status_code == 422
    with unit_of_work() as db:
        session = db.scalars(select(m.EventSession).where(m.EventSession.event_id == event_id, m.EventSession.number == 1)).one()
        assert session.translation("abstract", "zh_Hans") is None and session.translation("title", "zh_Hans")
