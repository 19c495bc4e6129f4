"""English and Simplified Chinese: Babel catalogues per module, merged at start-up, chosen per request.

Each module may ship `locale/zh_Hans/LC_MESSAGES/messages.po`. The source language is English, so the
English "catalogue" is the identity. The current locale lives in a context variable set by the web
middleware (cookie `passage_lang`, then the user's preference, then `Accept-Language`).
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from passage import MODULES

LOCALES: tuple[str, ...] = ("en", "zh_Hans")
LOCALE_NAMES = {"en": "English", "zh_Hans": "简体中文"}
DEFAULT_LOCALE = "en"

_current_locale: contextvars.ContextVar[str] = contextvars.ContextVar("passage_locale", default=DEFAULT_LOCALE)


def module_catalogue_paths(locale: str) -> list[Path]:
    paths = []
    for module in ("core", *MODULES):
        spec = importlib.util.find_spec(f"passage.{module}")
        if spec is None or not spec.submodule_search_locations:
            continue
        po = Path(next(iter(spec.submodule_search_locations))) / "locale" / locale / "LC_MESSAGES" / "messages.po"
        if po.exists():
            paths.append(po)
    return paths


@functools.lru_cache(maxsize=len(LOCALES))
def translations_for(locale: str) -> NullTranslations:
    if locale == "en" or locale not in LOCALES:
        return NullTranslations()
    merged: Translations | None = None
    for po_path in module_catalogue_paths(locale):
        with po_path.open("rb") as handle:
            catalogue = read_po(handle, locale="zh_Hans_CN")
        buffer = io.BytesIO()
        write_mo(buffer, catalogue, use_fuzzy=False)
        buffer.seek(0)
        part = Translations(fp=buffer, domain="messages")
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return merged or NullTranslations()


def reload_catalogues() -> None:
    translations_for.cache_clear()


def set_locale(locale: str) -> contextvars.Token[str]:
    return _current_locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def get_locale() -> str:
    return _current_locale.get()


def gettext(message: str) -> str:
    return translations_for(get_locale()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations_for(get_locale()).ungettext(singular, plural, n)


def lazy_gettext(message: str) -> str:
    """Marks a string for extraction where it is defined; translate it with `gettext` where it is shown."""
    return message


_ = gettext
N_ = lazy_gettext


def negotiate(accept_language: str | None) -> str:
    if not accept_language:
        return DEFAULT_LOCALE
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_Hans"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE
