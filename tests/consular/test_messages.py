"""Published names per language (issue 16): an assembly point's or leg's name in the reader's language, a fallback
visibly marked, and what people wrote about themselves kept as written."""

from __future__ import annotations

from types import SimpleNamespace

from passage.consular.messages import as_written, published, translations_from_form
from passage.core.i18n import _current_locale, label, set_locale


def in_locale(locale: str, fn, *args):  # type: ignore[no-untyped-def]
    token = set_locale(locale)
    try:
        return str(fn(*args))
    finally:
        _current_locale.reset(token)


def test_published_name_in_the_readers_language_and_fallback_marked() -> None:
    point = SimpleNamespace(name="Mataram sports hall", translations={"name": {"zh_Hans": "马塔兰体育馆"}})
    assert in_locale("zh_Hans", published, point, "name") == "马塔兰体育馆"
    assert in_locale("en", published, point, "name") == "Mataram sports hall"
    untranslated = SimpleNamespace(name="Senggigi school <b>", translations={})
    shown = in_locale("zh_Hans", published, untranslated, "name")
    assert 'class="fallback"' in shown and 'lang="en"' in shown and "&lt;b&gt;" in shown  # marked, and escaped


def test_form_fields_and_codes() -> None:
    assert translations_from_form({"name_zh": " 伦巴尔港 "}, "name") == {"name": {"zh_Hans": "伦巴尔港"}}
    assert translations_from_form({"name_zh": ""}, "name") == {}
    assert str(as_written("Mataram")) == '<span translate="no">Mataram</span>'
    assert label("consular.code", "charter_flight", locale="zh_Hans") not in ("charter_flight", "Charter flight")
