"""Per-module translations through the real app: a page, a label and an API error get the Chinese of the module
they come from (`core/i18n.py`: the module's catalogue first, then the merged one), on both stores."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from passage.core import i18n
from passage.web import templating
from tests.conftest import api_headers
from tests.consular.conftest import SQUARE, TODAY, web_sign_in, with_districts

HTML = {"accept": "text/html"}


def test_a_template_string_belongs_to_the_file_it_is_written_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A consular page extends web's base.html: base.html's 'From' is web's (a date filter), the page's block is
    consular's (a place of departure), on the same rendered page."""
    (tmp_path / "web" / "templates").mkdir(parents=True)
    (tmp_path / "consular" / "templates" / "consular").mkdir(parents=True)
    (tmp_path / "web" / "templates" / "base.html").write_text('<p>{{ _("From") }}</p>{% block body %}{% endblock %}', encoding="utf-8")
    (tmp_path / "consular" / "templates" / "consular" / "page.html").write_text(
        '{% extends "base.html" %}{% block body %}<th>{% trans %}From{% endtrans %}</th>{% endblock %}', encoding="utf-8")
    monkeypatch.setattr(i18n, "_PACKAGE_ROOT", tmp_path.resolve())
    i18n.module_of_file.cache_clear()
    environment = jinja2.Environment(loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(tmp_path / "web" / "templates"),
                                                                 jinja2.FileSystemLoader(tmp_path / "consular" / "templates")]),
                                     extensions=["jinja2.ext.i18n"], autoescape=True)
    environment.install_gettext_callables(templating._gettext, templating._ngettext, newstyle=True)  # type: ignore[attr-defined]
    token = i18n.set_locale("zh_Hans")
    try:
        assert environment.get_template("consular/page.html").render() == "<p>起始日期</p><th>出发地</th>"
    finally:
        i18n._current_locale.reset(token)
        monkeypatch.undo()
        i18n.module_of_file.cache_clear()


def test_the_sign_in_code_reads_as_a_verification_code(app_client: Any) -> None:
    app_client.cookies.set("passage_lang", "zh_Hans")
    page = app_client.get("/login", headers=HTML)
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = app_client.post("/login", data={"username": "fj.officer", "password": "passage-demo-2026", "login_csrf": token},
                               headers=HTML, follow_redirects=False)
    assert response.headers["location"].startswith("/login/second-factor")
    second = app_client.get(response.headers["location"], headers=HTML)
    assert '<label for="code">验证码</label>' in second.text  # not consular's 代码 (the code of an assembly point)


def test_a_consular_page_and_the_audit_filter_each_read_from_their_own_catalogue(app_client: Any) -> None:
    with_districts()
    csrf = web_sign_in(app_client, "denpasar.officer")
    created = app_client.post("/consular/crises", data={"csrf_token": csrf, "name_en": "Quake", "name_zh": "地震", "crisis_type": "earthquake",
                                                          "country": "ID", "starts_on": TODAY.isoformat(), "area": __import__("json").dumps(SQUARE)},
                              follow_redirects=False)
    assert created.status_code == 303
    app_client.cookies.set("passage_lang", "zh_Hans")
    crisis = app_client.get(created.headers["location"], headers=HTML).text
    assert '<th scope="col">出发地</th>' in crisis  # a transport leg's place of departure
    assert '<label for="l-origin">出发地</label>' in crisis and '<label for="l-code">代码</label>' in crisis
    assert "起始日期" not in crisis and "验证码" not in crisis
    assert ">退出登录</button>" in crisis  # base.html's own words come from the web catalogue on a consular page

    admin = app_client
    admin.cookies.clear()
    web_sign_in(admin, "admin")
    admin.cookies.set("passage_lang", "zh_Hans")
    audit = admin.get("/admin/audit", headers=HTML).text
    assert '<label for="f-since">起始日期</label>' in audit  # the web date filter


@contextlib.contextmanager
def catalogue_entry(module: str, msgid: str, msgstr: str) -> Iterator[None]:
    """`module`'s Chinese catalogue with one entry set to `msgstr` (compiled in memory; the files are untouched)."""
    real = i18n._compiled_catalogues
    compiled = dict(real("zh_Hans"))
    with i18n.module_catalogues("zh_Hans")[module].open("rb") as handle:
        catalogue = read_po(handle, locale="zh_Hans_CN")
    catalogue.add(msgid, msgstr)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    compiled[module] = buffer.getvalue()
    i18n._compiled_catalogues = lambda locale: compiled if locale == "zh_Hans" else real(locale)  # type: ignore[assignment]
    i18n.translations_for.cache_clear()
    try:
        yield
    finally:
        i18n._compiled_catalogues = real
        i18n.translations_for.cache_clear()


def test_an_api_error_of_a_module_gets_that_modules_translation(app_client: Any) -> None:
    """The same English error in two catalogues with different Chinese: the consular API answers with consular's,
    although the merged catalogue (web merges last) holds web's."""
    with_districts()
    centre = api_headers(app_client, "consular.centre")
    unclosed = {"type": "Polygon", "coordinates": [SQUARE["coordinates"][0][:-1]]}
    crisis = {"name_en": "Quake", "name_zh": "地震", "crisis_type": "earthquake", "country": "ID", "starts_on": TODAY.isoformat(), "area": unclosed}
    english = "the last position must repeat the first one (RFC 7946 §3.1.6)"
    consular_chinese = i18n.translations_for("zh_Hans", "consular").ugettext(english)
    assert consular_chinese != english
    with catalogue_entry("web", english, "（通用）首尾位置必须相同"):
        assert i18n.translations_for("zh_Hans").ugettext(english) == "（通用）首尾位置必须相同"
        refused = app_client.post("/api/v1/consular/crises", json=crisis, headers={**centre, "Accept-Language": "zh-CN"})
    assert refused.status_code == 422
    problem = refused.json()
    problem = problem.get("error", problem)
    assert problem["detail"] == "多边形没有闭合"
    assert [f["message"] for f in problem["fields"]] == [consular_chinese]
