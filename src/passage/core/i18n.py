"""English and Simplified Chinese: Babel catalogues per module, looked up per module, chosen per request.

Each module may ship `locale/zh_Hans/LC_MESSAGES/messages.po`. The source language is English, so the
English "catalogue" is the identity. The current locale lives in a context variable set by the web
middleware (cookie `passage_lang`, then the user's preference, then `Accept-Language`).

The same English word may mean different things in two modules ('From' is a departure place in `consular` and
a start date in a `web` filter; 'Code' is a sign-in code in `web` and a code in `consular`). So a string is looked
up in the catalogue of the module it comes from first, then in the merged catalogue of all modules (shared words
of `web`/`core` used by every module). The module is known without anyone passing it: `T_`/`P_`/`Text` and
`gettext`/`ngettext`/`localise` take it from the calling code (`passage.consular.service` -> `consular`; a jinja
template from the file it is written in, `passage/consular/templates/...` -> `consular`), `define_labels` from
the module that defines the domain, and a stored message keeps it (`as_stored()["module"]`).
`catalogue_conflicts()` lists the words translated differently in two catalogues; `tests/core/test_i18n_modules.py`
fails on a difference that `docs/glossary.md` ("Words that differ by module") does not list with its reason.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
import importlib.util
import io
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import babel
import babel.dates
import babel.numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

import passage
from passage import MODULES

LOCALES: tuple[str, ...] = ("en", "zh_Hans")
LOCALE_NAMES = {"en": "English", "zh_Hans": "简体中文"}
DEFAULT_LOCALE = "en"

_current_locale: contextvars.ContextVar[str] = contextvars.ContextVar("passage_locale", default=DEFAULT_LOCALE)


CATALOGUE_OWNERS: dict[str, str] = {"core": "web", "security": "web", "home": "web"}
"""Modules whose strings are extracted into another module's catalogue (`scripts/update_catalogue.py web
src/passage/web src/passage/security src/passage/core`)."""


def _module_root(module: str) -> Path | None:
    spec = importlib.util.find_spec(f"passage.{module}")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def module_catalogues(locale: str) -> dict[str, Path]:
    """Each module's own catalogue for `locale`, by module, in merge order (core first, then `MODULES`)."""
    found: dict[str, Path] = {}
    for module in ("core", *MODULES):
        root = _module_root(module)
        if root is None:
            continue
        po = root / "locale" / locale / "LC_MESSAGES" / "messages.po"
        if po.exists():
            found[module] = po
    return found


def module_catalogue_paths(locale: str) -> list[Path]:
    return list(module_catalogues(locale).values())


@functools.lru_cache(maxsize=len(LOCALES))
def _compiled_catalogues(locale: str) -> dict[str, bytes]:
    """Each module's catalogue compiled to MO bytes (untranslated and fuzzy entries left out, so they fall back)."""
    compiled: dict[str, bytes] = {}
    for module, po_path in module_catalogues(locale).items():
        with po_path.open("rb") as handle:
            catalogue = read_po(handle, locale="zh_Hans_CN")
        buffer = io.BytesIO()
        write_mo(buffer, catalogue, use_fuzzy=False)
        compiled[module] = buffer.getvalue()
    return compiled


def catalogue_module(module: str | None) -> str | None:
    """The module whose catalogue holds `module`'s strings (`security` and `core` -> `web`)."""
    if module is None:
        return None
    return CATALOGUE_OWNERS.get(module, module)


@functools.lru_cache(maxsize=64)
def translations_for(locale: str, module: str | None = None) -> NullTranslations:
    """The translations a string of `module` is shown with: the module's own catalogue, falling back to the merged
    catalogue of every module. Without a module (or for a module without a catalogue): the merged catalogue."""
    if locale == "en" or locale not in LOCALES:
        return NullTranslations()
    compiled = _compiled_catalogues(locale)
    owner = catalogue_module(module)
    if owner is not None and owner in compiled:
        own = Translations(fp=io.BytesIO(compiled[owner]), domain="messages")
        own.add_fallback(translations_for(locale))
        return own
    merged: Translations | None = None
    for data in compiled.values():
        part = Translations(fp=io.BytesIO(data), domain="messages")
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    return merged or NullTranslations()


def reload_catalogues() -> None:
    _compiled_catalogues.cache_clear()
    translations_for.cache_clear()


def catalogue_conflicts(locale: str = "zh_Hans") -> dict[str | tuple[str, ...], dict[str, str | tuple[str, ...]]]:
    """The English messages translated differently in two module catalogues: {msgid: {module: translation}}."""
    by_id: dict[str | tuple[str, ...], dict[str, str | tuple[str, ...]]] = {}
    for module, po_path in module_catalogues(locale).items():
        with po_path.open("rb") as handle:
            catalogue = read_po(handle, locale="zh_Hans_CN")
        for message in catalogue:
            if not message.id or not message.string or message.fuzzy:
                continue
            key = message.id if isinstance(message.id, str) else tuple(message.id)
            by_id.setdefault(key, {})[module] = message.string if isinstance(message.string, str) else tuple(message.string)
    return {key: found for key, found in by_id.items() if len(set(found.values())) > 1}


# --- Which module a string comes from --------------------------------------------------------------------------

_PACKAGE_ROOT = Path(next(iter(passage.__path__))).resolve()
_PASS_THROUGH = ("jinja2", "markupsafe")


@functools.lru_cache(maxsize=4096)
def module_of_file(filename: str) -> str | None:
    """The Passage module a source file or template belongs to (`.../passage/consular/templates/x.html` ->
    `consular`); None outside Passage."""
    if not filename or filename.startswith("<"):
        return None
    try:
        parts = Path(filename).resolve().relative_to(_PACKAGE_ROOT).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 else None


def module_of_name(name: str | None) -> str | None:
    """`passage.consular.service` -> `consular`; None outside Passage."""
    if not name or not name.startswith("passage."):
        return None
    return name.split(".", 2)[1]


def calling_module(frame: types.FrameType | None = None) -> str | None:
    """The Passage module of the code that asks for a translation: the first frame, from `frame` (default: the
    caller of the function calling this) outwards, that is not this module nor jinja's machinery. A compiled jinja
    template's frame carries its file name, so a string in `web/templates/base.html` belongs to `web` even while it
    renders a `consular` page. None when the caller is not Passage code (a test, a shell)."""
    current = frame if frame is not None else sys._getframe(1).f_back
    for _ in range(12):
        if current is None:
            return None
        name = current.f_globals.get("__name__")
        if name == __name__ or (isinstance(name, str) and name.split(".", 1)[0] in _PASS_THROUGH):
            current = current.f_back
            continue
        if name is None:  # a compiled template: its code's file name is the template's file
            filename = current.f_code.co_filename
            if filename.startswith("<"):  # a template built from a string: the code that rendered it
                current = current.f_back
                continue
            return module_of_file(filename)
        return module_of_name(name)
    return None


def set_locale(locale: str) -> contextvars.Token[str]:
    return _current_locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def get_locale() -> str:
    return _current_locale.get()


def gettext(message: str) -> str:
    """`message` in the reader's language, looked up in the calling module's catalogue first."""
    if isinstance(message, Text):
        return message.render()
    return translate(message, module=calling_module()) if message else message


def ngettext(singular: str, plural: str, n: int) -> str:
    return translate_plural(singular, plural, n, module=calling_module())


def translate(message: str, *, module: str | None, locale: str | None = None) -> str:
    """`message` in `locale` (default: the reader's), from `module`'s catalogue, then the merged one."""
    if isinstance(message, Text):
        return message.render(locale)
    return translations_for(locale or get_locale(), module).ugettext(message) if message else message


def translate_plural(singular: str, plural: str, n: int, *, module: str | None, locale: str | None = None) -> str:
    return translations_for(locale or get_locale(), module).ungettext(singular, plural, n)


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


# --- Messages generated at run time ------------------------------------------------------------------------
#
# A rule, an explanation, a state, a check, an error or an audit action is not stored or passed around as
# English text: it is a *message* (an English template, which is also its code in the catalogues, plus
# parameters) and it becomes text in the reader's language only at the edge (page, PDF, CSV header, API
# problem details with `Accept-Language`, CLI with `--lang`). `Text` is a `str` (its English rendering), so code
# that compares or logs it keeps working, and it remembers its template and parameters so that `localise`
# can render it again in Chinese. `Text.as_stored()` / `Text.from_stored()` keep it language-neutral in JSON.

BABEL_LOCALES = {"en": "en_GB", "zh_Hans": "zh_Hans_CN"}
"""The Babel locale used for numbers, dates and currency in each interface language."""


class Text(str):
    """A message: English text that can be rendered again in any interface language.

    Build one with `T_("Reply due in {days} working days", days=20)` (extracted into the catalogues like `_`), or
    `P_("{n} day overdue", "{n} days overdue", n)` for a count. Parameters may be numbers and dates (formatted per
    locale), other `Text` values (rendered in the same locale), labels (`label(domain, value)`), or plain values
    shown as they are (references, codes).
    """

    template: str
    plural_template: str | None
    quantity: int | None
    params: dict[str, Any]
    module: str | None
    """The Passage module the message comes from: its catalogue is looked up first (see the module docstring)."""

    def __new__(cls, template: str, plural: str | None = None, quantity: int | None = None, /, **params: Any) -> Text:
        rendered = _render(template, plural, quantity, params, "en", None)
        self = super().__new__(cls, rendered)
        self.template = template
        self.plural_template = plural
        self.quantity = quantity
        self.params = params
        self.module = calling_module(sys._getframe(1))
        return self

    def render(self, locale: str | None = None) -> str:
        return _render(self.template, self.plural_template, self.quantity, self.params, locale or get_locale(), self.module)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_text, (self.as_stored(),))

    def as_stored(self) -> dict[str, Any]:
        """The language-neutral form: the template (the message code), the plural, the count and the parameters."""
        stored: dict[str, Any] = {"message": self.template, "params": {k: _store_param(v) for k, v in self.params.items()}}
        if self.plural_template is not None:
            stored["plural"] = self.plural_template
            stored["count"] = self.quantity
        if self.module is not None:
            stored["module"] = self.module
        return stored

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | str | None, *, module: str | None = None) -> Text:
        """A stored message again. Its module is the stored one; a value stored before messages kept their module
        (or a bare string) belongs to `module`, else to the module that reads it back."""
        owner = (module if module is not None else calling_module(sys._getframe(1))) or None
        if stored is None:
            return _with_module(cls(""), owner)
        if isinstance(stored, str):
            return _with_module(cls(stored), owner)
        owner = stored.get("module") or owner
        params = {k: _load_param(v, owner) for k, v in dict(stored.get("params") or {}).items()}
        return _with_module(cls(str(stored["message"]), stored.get("plural"), stored.get("count"), **params), owner)


def _with_module(text: Text, module: str | None) -> Text:
    text.module = module
    return text


def _rebuild_text(stored: dict[str, Any]) -> Text:
    return Text.from_stored(stored, module=stored.get("module") or "")


def _store_param(value: Any) -> Any:
    if isinstance(value, Text):
        return {"$text": value.as_stored()}
    if isinstance(value, Label):
        return {"$label": [value.domain, value.value]}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, Money):
        return {"$money": [str(value.amount), value.currency]}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, Published):
        return {"$published": [value.source, value.field, value.translations]}
    return value


def _load_param(value: Any, module: str | None) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "$text":
            return Text.from_stored(inner, module=module or "")
        if key == "$label":
            return Label(str(inner[0]), str(inner[1]))
        if key == "$datetime":
            return dt.datetime.fromisoformat(inner)
        if key == "$date":
            return dt.date.fromisoformat(inner)
        if key == "$decimal":
            return Decimal(inner)
        if key == "$published":
            return Published(str(inner[0]), str(inner[1]), dict(inner[2] or {}))
        if key == "$money":
            return Money(Decimal(inner[0]), str(inner[1]))
    return value


def T_(template: str, /, **params: Any) -> Text:  # noqa: N802 - the gettext convention, an extraction keyword
    """A message with parameters (`{name}` placeholders), rendered in the reader's language where it is shown."""
    return Text(template, **params)


def P_(singular: str, plural: str, count: int, /, **params: Any) -> Text:  # noqa: N802 - the gettext convention, an extraction keyword
    """A message about a count: "{n} day overdue" / "{n} days overdue". `n` is set to the count unless given."""
    params.setdefault("n", count)
    return Text(singular, plural, count, **params)


def _translate(template: str, plural: str | None, count: int | None, locale: str, module: str | None = None) -> str:
    translations = translations_for(locale, module)
    if plural is not None:
        return translations.ungettext(template, plural, int(count or 0))
    return translations.ugettext(template) if template else template


def _render(template: str, plural: str | None, count: int | None, params: Mapping[str, Any], locale: str,
            module: str | None) -> str:
    pattern = _translate(template, plural, count, locale, module)
    if not params:
        return pattern
    shown = {name: localise(value, locale=locale, module=module) for name, value in params.items()}
    try:
        return pattern.format(**shown)
    except (KeyError, IndexError, ValueError):
        # a translation with a broken placeholder must not hide the message: fall back to English
        english = plural if plural is not None and count != 1 else template
        return english.format(**shown)


# --- Labels: the words for stored codes (states, units, check names, audit actions, roles) --------------------

_LABELS: dict[str, dict[str, str]] = {}
_LABEL_MODULES: dict[str, dict[str, str | None]] = {}
"""The module that defined each label (`define_labels`' caller): its catalogue is looked up first."""


@dataclass(frozen=True)
class Label:
    """A stored code shown to a person: `Label("readmission.state", "deemed_accepted")` reads "deemed accepted"."""

    domain: str
    value: str

    def render(self, locale: str | None = None) -> str:
        return label(self.domain, self.value, locale=locale)

    def __str__(self) -> str:
        return self.render("en")


def define_labels(domain: str, labels: Mapping[str, str]) -> Mapping[str, str]:
    """Register the English words (marked with `N_`) for the codes of one domain; returns them for local use.

    Defining the same domain twice merges the entries (a module may extend another's domain, e.g. audit actions);
    each entry remembers the module that defined it.
    """
    module = calling_module()
    _LABELS.setdefault(domain, {}).update(labels)
    _LABEL_MODULES.setdefault(domain, {}).update({key: (english.module if isinstance(english, Text) else module)
                                                  for key, english in labels.items()})
    return _LABELS[domain]


def label(domain: str, value: Any, *, locale: str | None = None) -> str:
    """The word for `value` in `domain`, in the reader's language. An unknown code is shown as it is (and the
    Chinese walk test reports it)."""
    if value is None:
        return ""
    key = getattr(value, "value", value)  # enums
    english = _LABELS.get(domain, {}).get(str(key))
    if english is None:
        return str(key)
    return translate(english, module=_LABEL_MODULES.get(domain, {}).get(str(key)), locale=locale)


def label_domains() -> dict[str, dict[str, str]]:
    """Every registered domain (for tests that check each label has a Chinese word)."""
    return {domain: dict(entries) for domain, entries in _LABELS.items()}


# --- Locale formats -------------------------------------------------------------------------------------------


def babel_locale(locale: str | None = None) -> str:
    return BABEL_LOCALES.get(locale or get_locale(), "en_GB")


def format_number(value: float | int | Decimal, *, locale: str | None = None, decimals: int | None = None) -> str:
    """49,242 and 1,332 in both languages (Babel's CLDR patterns); `decimals` fixes the fraction digits."""
    if decimals is not None:
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return babel.numbers.format_decimal(value, format=pattern, locale=babel_locale(locale))
    if type(value) is int:
        return _whole_number(value, babel_locale(locale))
    return babel.numbers.format_decimal(value, locale=babel_locale(locale))


@functools.lru_cache(maxsize=4096)
def _whole_number(value: int, babel_code: str) -> str:
    # Babel builds the CLDR pattern on every call (30 us); a page or an API answer shows the same few counts and
    # day numbers over and over. Only exact ints are kept: 1, 1.0, True and Decimal("1.00") are equal keys.
    return babel.numbers.format_decimal(value, locale=babel_code)


def format_percent(value: float, *, locale: str | None = None, decimals: int = 0) -> str:
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + "%"
    return babel.numbers.format_percent(value, format=pattern, locale=babel_locale(locale))


@dataclass(frozen=True)
class Money:
    """An amount in a currency, as a message parameter: shown with `format_money` in the reader's language."""

    amount: Decimal
    currency: str

    def render(self, locale: str | None = None) -> str:
        return format_money(self.amount, self.currency, locale=locale)

    def __str__(self) -> str:
        return self.render("en")


def format_money(amount: float | int | Decimal, currency: str, *, locale: str | None = None) -> str:
    """€3,500.00 / €3,500.00 with the currency sign placed by CLDR for the locale."""
    return babel.numbers.format_currency(amount, currency, locale=babel_locale(locale))


def format_date(value: dt.date | dt.datetime | str | None, *, locale: str | None = None) -> str:
    """A date where a person reads it: 7 Dec 2026 in English, 2026年12月7日 in Chinese."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    return _calendar_date(value, locale or get_locale())


@functools.lru_cache(maxsize=4096)
def _calendar_date(value: dt.date, chosen: str) -> str:
    # the same few dates (today, deadlines, submission days) are shown on every page: Babel's pattern work once each
    if chosen == "zh_Hans":
        return babel.dates.format_date(value, format="long", locale=babel_locale(chosen))
    return babel.dates.format_date(value, format="d MMM y", locale=babel_locale(chosen))


def format_datetime(value: dt.datetime | str | None, *, locale: str | None = None) -> str:
    """A moment, to the minute, in the reader's language (UTC as stored)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    chosen = locale or get_locale()
    time_part = value.strftime("%H:%M")
    return f"{format_date(value, locale=chosen)} {time_part}"


_GRANDFATHERED_LANGUAGE_TAGS = {"zh-min-nan": "nan", "zh-yue": "yue", "zh-hakka": "hak", "zh-guoyu": "zh", "zh-xiang": "hsn", "zh-gan": "gan", "zh-wuu": "wuu"}


def format_language(code: str | None, *, locale: str | None = None) -> str:
    """A language code (BCP 47 / ISO 639, e.g. `zh`, `yue`, `zh-min-nan`) as its name in the reader's language
    (CLDR: 中文, 粤语, 闽南语 / Chinese, Cantonese, Min Nan Chinese); an unknown code is shown as it is."""
    if not code:
        return ""
    tag = _GRANDFATHERED_LANGUAGE_TAGS.get(code.strip().lower(), code.strip())
    names = babel.Locale.parse(babel_locale(locale)).languages
    return names.get(tag) or names.get(tag.replace("-", "_")) or names.get(tag.split("-")[0]) or code


def localise(value: Any, *, locale: str | None = None, module: str | None = None) -> str:
    """Any value as the reader reads it: a message or label rendered, a number or date in the locale's format,
    a plain string looked up in the catalogues (the calling module's first, so stored English words that are
    catalogue entries translate; `module` names the module when the caller is not the string's module, e.g. a
    message's parameter), None as an empty string."""
    chosen = locale or get_locale()
    if value is None:
        return ""
    if isinstance(value, Text):
        return value.render(chosen)
    if isinstance(value, (Label, Published, Money)):
        return value.render(chosen)
    if isinstance(value, bool):
        return translate("yes" if value else "no", module=module or calling_module(), locale=chosen)
    if isinstance(value, (int, Decimal)) or (isinstance(value, float) and value == value):
        return format_number(value, locale=chosen)
    if isinstance(value, dt.datetime):
        return format_datetime(value, locale=chosen)
    if isinstance(value, dt.date):
        return format_date(value, locale=chosen)
    if isinstance(value, str):
        return translate(value, module=module or calling_module(), locale=chosen) if value else value
    return str(value)


def locale_from_environment(environ: Mapping[str, str]) -> str:
    """The CLI's language when `--lang` is not given: PASSAGE_LANG, then LC_ALL, LC_MESSAGES, LANG (zh* → Chinese)."""
    for name in ("PASSAGE_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            lowered = value.lower()
            if lowered.startswith("zh"):
                return "zh_Hans"
            if name == "PASSAGE_LANG" and lowered in ("en",):
                return "en"
            if lowered.startswith("en") or lowered in ("c", "posix", "c.utf-8"):
                return "en"
    return DEFAULT_LOCALE


# --- Published content in several languages -----------------------------------------------------------------
#
# Free text that is published (Dialogue events, sessions and recommendations, agreement names and articles, AVRR
# scheme lines, evidence types, organisation names, safety advice) has a value per language. The convention: the
# record keeps its source text in its own column (the language it was written in, usually English) and a JSON
# column `translations` = {field: {locale: text}}. `in_language` picks the reader's text and says when it fell back.


@dataclass(frozen=True)
class LocalisedValue:
    """The text shown for one field: `language` is the locale it is written in; `fallback` is True when the reader's
    language was missing and another language is shown instead (a page marks it, a report lists it)."""

    text: str
    language: str
    fallback: bool

    def __str__(self) -> str:
        return self.text


def in_language(source: str | None, translations: Mapping[str, Mapping[str, str]] | None, field: str, *,
                locale: str | None = None, source_language: str = "en") -> LocalisedValue:
    """The reader's text for `field`: the translation in the reader's language, else the source text marked as a
    fallback. Empty values count as missing."""
    chosen = locale or get_locale()
    values: dict[str, str] = {source_language: source or ""}
    values.update({k: v for k, v in dict((translations or {}).get(field) or {}).items() if v})
    if values.get(chosen):
        return LocalisedValue(values[chosen], chosen, False)
    for language in (source_language, DEFAULT_LOCALE, *LOCALES):
        if values.get(language):
            return LocalisedValue(values[language], language, True)
    return LocalisedValue("", chosen, False)


def missing_translations(source_values: Mapping[str, str | None], translations: Mapping[str, Mapping[str, str]] | None, *,
                         locale: str) -> list[str]:
    """The fields that have source text but no text in `locale` (for a report's "not yet translated" list and the
    translation status shown before printing)."""
    missing = []
    for field, source in source_values.items():
        if source and not dict((translations or {}).get(field) or {}).get(locale):
            missing.append(field)
    return missing


@dataclass(frozen=True, eq=False)
class Published:
    """Published free text as a message parameter: the source text of one field and its `translations`
    (`{field: {locale: text}}`), so that a stored message ("Reply due: 20 working days … ({source}, {article})")
    shows the agreement's own Chinese text on a Chinese page. Falls back to the source text, as `in_language` does."""

    source: str
    field: str
    translations: Mapping[str, Mapping[str, str]]

    def render(self, locale: str | None = None) -> str:
        return in_language(self.source, self.translations, self.field, locale=locale).text

    def __str__(self) -> str:
        return self.source
