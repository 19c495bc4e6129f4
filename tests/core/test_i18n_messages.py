"""Messages generated at run time: rendered in the reader's language at the edge, stored language-neutral."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from collections.abc import Iterator
from decimal import Decimal

import pytest

from passage.core import i18n
from passage.core.errors import FieldError, InvalidInput


@pytest.fixture
def chinese() -> Iterator[None]:
    token = i18n.set_locale("zh_Hans")
    yield
    i18n._current_locale.reset(token)


def test_a_message_is_english_text_and_renders_again_in_chinese(chinese: None) -> None:
    message = i18n.T_("the request is not valid")
    assert message == "the request is not valid"  # its English rendering, as a str
    assert message.render() == "请求无效"
    assert i18n.localise(message) == "请求无效"


def test_parameters_are_formatted_for_the_locale(chinese: None) -> None:
    message = i18n.T_("must be at least {ge}", ge=12500)
    assert message == "must be at least 12,500"
    assert message.render() == "不得小于 12,500"
    assert i18n.format_date(dt.date(2026, 12, 7)) == "2026年12月7日"
    assert i18n.format_date(dt.date(2026, 12, 7), locale="en") == "7 Dec 2026"


def test_plurals_follow_the_count() -> None:
    assert i18n.P_("(and {n} more)", "(and {n} more)", 1) == "(and 1 more)"
    assert i18n.P_("{n} day overdue", "{n} days overdue", 1) == "1 day overdue"
    assert i18n.P_("{n} day overdue", "{n} days overdue", 2) == "2 days overdue"
    assert i18n.P_("(and {n} more)", "(and {n} more)", 3).render("zh_Hans") == "（另有 3 项）"


def test_stored_form_is_language_neutral_and_round_trips() -> None:
    message = i18n.T_("must be at least {ge}", ge=Decimal("2.5"))
    stored = json.loads(json.dumps(message.as_stored()))
    assert stored == {"message": "must be at least {ge}", "params": {"ge": {"$decimal": "2.5"}}}
    again = i18n.Text.from_stored(stored)
    assert again.render("zh_Hans") == "不得小于 2.5"
    assert pickle.loads(pickle.dumps(message)).render("zh_Hans") == "不得小于 2.5"


def test_labels_translate_stored_codes_and_show_unknown_codes_as_they_are(chinese: None) -> None:
    i18n.define_labels("test.state", {"not_found": i18n.N_("Not found")})
    assert i18n.label("test.state", "not_found") == "未找到"
    assert i18n.label("test.state", "unheard_of") == "unheard_of"
    assert i18n.localise(i18n.Label("test.state", "not_found")) == "未找到"


def test_a_broken_translation_placeholder_falls_back_to_english(chinese: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n, "_translate", lambda template, plural, count, locale, module=None: "{wrong}")
    assert i18n.T_("must be at least {ge}", ge=3).render() == "must be at least 3"


def test_errors_render_in_the_readers_language(chinese: None) -> None:
    error = InvalidInput(i18n.T_("the request is not valid"), fields=[FieldError("age", i18n.T_("must be at least {ge}", ge=0))])
    problem = error.problem()
    assert problem["detail"] == "请求无效"
    assert problem["title"] == "输入无效"
    assert problem["fields"] == [{"path": "age", "message": "不得小于 0"}]
    assert error.one_line() == "请求无效: age: 不得小于 0"


def test_cli_language_comes_from_the_environment() -> None:
    assert i18n.locale_from_environment({"LANG": "zh_CN.UTF-8"}) == "zh_Hans"
    assert i18n.locale_from_environment({"LANG": "zh_CN.UTF-8", "PASSAGE_LANG": "en"}) == "en"
    assert i18n.locale_from_environment({"LC_ALL": "C.UTF-8"}) == "en"
    assert i18n.locale_from_environment({}) == "en"


def test_published_text_is_picked_per_language_and_fallbacks_are_flagged() -> None:
    translations = {"title": {"zh_Hans": "第九次对话"}}
    assert i18n.in_language("Ninth dialogue", translations, "title", locale="zh_Hans") == i18n.LocalisedValue("第九次对话", "zh_Hans", False)
    assert i18n.in_language("Ninth dialogue", translations, "title", locale="en").text == "Ninth dialogue"
    summary = i18n.in_language("A summary", translations, "summary", locale="zh_Hans")
    assert summary.fallback and summary.language == "en" and summary.text == "A summary"
    assert i18n.missing_translations({"title": "Ninth dialogue", "summary": "A summary", "notes": ""}, translations, locale="zh_Hans") == ["summary"]


def test_money_parameter_is_formatted_per_locale_and_survives_storage() -> None:
    """An amount in a message (AVRR's calculator explanations) is shown with format_money and stored language-neutral."""
    from decimal import Decimal

    from passage.core.i18n import T_, Money, Text

    message = T_("family cap of {cap} applied to a subtotal of {subtotal}", cap=Money(Decimal("4000"), "EUR"),
                 subtotal=Money(Decimal("4500.5"), "EUR"))
    assert str(message) == "family cap of €4,000.00 applied to a subtotal of €4,500.50"
    stored = message.as_stored()
    assert stored["params"]["cap"] == {"$money": ["4000", "EUR"]}
    assert Text.from_stored(stored) == message and "€4,500.50" in Text.from_stored(stored).render("zh_Hans")


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
def test_kept_number_and_date_formats_equal_babels_own_and_equal_values_of_other_types_are_not_confused(locale: str) -> None:
    import babel.dates
    import babel.numbers

    code = i18n.babel_locale(locale)
    for value in (0, 7, 1332, 49242, -15, 10**9):
        assert i18n.format_number(value, locale=locale) == i18n.format_number(value, locale=locale) == babel.numbers.format_decimal(value, locale=code)
    # 1 and True, 2 and 2.5 - 0.5: equal keys to a cache, different things to show
    assert i18n.format_number(1, locale=locale) == "1" and i18n.format_number(2.5, locale=locale) == babel.numbers.format_decimal(2.5, locale=code)
    assert i18n.format_number(Decimal("1234.50"), locale=locale) == babel.numbers.format_decimal(Decimal("1234.50"), locale=code)
    for day in (dt.date(2026, 12, 7), dt.date(1988, 2, 29)):
        shown = i18n.format_date(day, locale=locale)
        assert shown == i18n.format_date(dt.datetime.combine(day, dt.time(23, 59)), locale=locale) == i18n.format_date(day.isoformat(), locale=locale)
        assert shown == babel.dates.format_date(day, format="long" if locale == "zh_Hans" else "d MMM y", locale=code)
