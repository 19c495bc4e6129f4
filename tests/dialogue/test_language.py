"""Every Dialogue page and export reads in the reader's language, for both seed events (the site-wide walk in
tests/web/test_language_everywhere.py visits one page per link pattern, so it sees only one event)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from passage.core.db import unit_of_work
from passage.dialogue import models as m
from tests.dialogue.test_demo import load_demo
from tests.security.test_views import HTML, sign_in
from tests.web.test_language_everywhere import VisibleText, code_like, demo_proper_names, latin_runs, pdf_text


def _pages(event_ids: list[str], lang: str) -> list[str]:
    pages = ["/dialogue", "/dialogue/calendar?month=2015-11", "/dialogue/calendar?month=2018-02", "/dialogue/tracker", "/dialogue/directory",
             "/dialogue/events/new", "/"]
    for event_id in event_ids:
        pages += [f"/dialogue/events/{event_id}", f"/dialogue/events/{event_id}/report?lang={lang}",
                  f"/dialogue/events/{event_id}/report?lang={lang}&format=pdf"]
    return pages


@pytest.mark.slow
@pytest.mark.parametrize("locale", ["zh_Hans", "en"])
def test_dialogue_pages_and_reports_read_in_the_chosen_language(app_client: Any, locale: str) -> None:
    load_demo()
    sign_in(app_client, "iom.caseworker")
    app_client.cookies.set("passage_lang", locale)
    with unit_of_work() as session:
        event_ids = list(session.scalars(select(m.Event.id).order_by(m.Event.start_date)))
    assert len(event_ids) == 2
    names = demo_proper_names()
    problems: dict[str, list[str]] = {}
    for page in _pages(event_ids, "zh" if locale == "zh_Hans" else "en"):
        response = app_client.get(page, headers=HTML)
        assert response.status_code == 200, page
        if response.headers["content-type"].startswith("application/pdf"):
            text = pdf_text(response.content)
        else:
            parser = VisibleText()
            parser.feed(response.text)
            text = parser.text
        # the page layout names the user's organisation (the web module's part); only Dialogue content is checked here
        text = text.replace("IOM China", "")
        found = latin_runs(text, names) if locale == "zh_Hans" else code_like(text)
        if found:
            problems[page] = sorted(set(found))
    assert problems == {}
