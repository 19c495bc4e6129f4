"""Every visible string has a Simplified Chinese translation, and the catalogues merge per module."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from passage.core import i18n

SRC = Path(__file__).resolve().parents[2] / "src" / "passage"
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "lazy_gettext": None, "T_": None, "P_": (1, 2)}


def visible_messages() -> dict[str, str]:
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(SRC, METHOD_MAP, OPTIONS, KEYWORDS):
        if isinstance(message, tuple):
            continue  # plural messages (P_, ngettext): checked by `plural_messages`, keyed by their singular
        if message:
            found.setdefault(message, f"{filename}:{lineno}")
    return found


def plural_messages() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(SRC, METHOD_MAP, OPTIONS, KEYWORDS):
        if isinstance(message, tuple) and message[0]:
            found.setdefault((message[0], message[1]), f"{filename}:{lineno}")
    return found


def test_every_visible_string_is_translated_into_chinese() -> None:
    i18n.reload_catalogues()
    chinese = i18n.translations_for("zh_Hans")
    messages = visible_messages()
    assert len(messages) > 50
    untranslated = [f"{where}: {text!r}" for text, where in sorted(messages.items()) if chinese.ugettext(text) == text and not text.isdigit()]
    # a plural message is one catalogue entry (its singular); its plural is never looked up on its own
    untranslated += [f"{where}: {pair[1]!r}" for pair, where in sorted(plural_messages().items())
                     if chinese.ungettext(pair[0], pair[1], 2) == pair[1]]
    assert untranslated == []


def test_locale_switch_is_per_context() -> None:
    token = i18n.set_locale("zh_Hans")
    try:
        assert i18n.gettext("Sign in") == "登录"
    finally:
        i18n._current_locale.reset(token)
    assert i18n.gettext("Sign in") == "Sign in"


def test_unknown_locale_falls_back_to_english() -> None:
    token = i18n.set_locale("xx")
    try:
        assert i18n.get_locale() == "en"
    finally:
        i18n._current_locale.reset(token)


def test_accept_language_negotiation() -> None:
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh_Hans"
    assert i18n.negotiate("en-GB,en;q=0.9") == "en"
    assert i18n.negotiate("fr-FR") == "en"
    assert i18n.negotiate(None) == "en"
