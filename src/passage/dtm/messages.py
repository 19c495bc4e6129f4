"""DTM's message codes and label domains: consistency checks, change statuses, components, admin levels, and the
words for the DTM vocabularies (site types, reasons, age groups), in the reader's language (docs/dtm.md, "Languages").

Check codes (`pcode_name_mismatch`, `outlier_last_round`, ...) and component codes (`baseline`, `site`) are stored and
exported as they are (HXL hashtags are codes too); pages and reports show the words registered here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from babel import Locale
from markupsafe import Markup, escape

from passage.core.i18n import N_, babel_locale, define_labels, get_locale, label
from passage.dtm import rules, vocab

CHECK = define_labels("dtm.check", {
    rules.CHECK_SEX_AGE_MISSING: N_("Sex and age breakdown missing"),
    rules.CHECK_SEX_AGE_SUM: N_("Sex and age groups do not sum to the total"),
    rules.CHECK_HOUSEHOLD_SIZE: N_("Households × household size far from individuals"),
    rules.CHECK_DUPLICATE_LOCATION: N_("Location already assessed in this round"),
    rules.CHECK_UNKNOWN_PCODE: N_("P-code not in the boundaries"),
    rules.CHECK_PCODE_NAME: N_("Name does not match the P-code"),
    rules.CHECK_PCODE_PARENT: N_("P-code not inside the reported parent area"),
    rules.CHECK_UNREADABLE: N_("Unreadable value"),
    rules.CHECK_OUTLIER: N_("Large change since the last round"),
})
STATUS = define_labels("dtm.status", {
    "new": N_("new"), "closed": N_("not assessed now"), "increase": N_("increase"), "decrease": N_("decrease"),
    "unchanged": N_("unchanged"), "withheld": N_("withheld"),
})
COMPONENT = define_labels("dtm.component", {"baseline": N_("Baseline area assessment"), "site": N_("Site assessment")})
LEVEL = define_labels("dtm.level", {"0": N_("Country (admin 0)"), "1": N_("Admin 1"), "2": N_("Admin 2"), "3": N_("Admin 3")})
SEVERITY = define_labels("dtm.severity", {"error": N_("error"), "warning": N_("warning")})

VOCABULARIES: dict[str, tuple[vocab.Code, ...]] = {
    "site_type": vocab.SITE_TYPES, "reason": vocab.DISPLACEMENT_REASONS, "age_group": vocab.AGE_GROUPS,
    "shelter": vocab.SHELTER_TYPES,
}


def vocabulary_word(kind: str, code: str | None, *, language: str | None = None) -> str:
    """A DTM vocabulary code (site type, reason, age group) as a word in the reader's language (the vocabulary carries
    its English and Chinese); an unknown code is shown as it is."""
    if not code:
        return ""
    chinese = (language or get_locale()) in ("zh", "zh_Hans")
    for entry in VOCABULARIES.get(kind, ()):
        if entry.name == code:
            return entry.zh if chinese else entry.en
    return code


OPERATION_NOTE = define_labels("dtm.operation_note", {"demo": N_("demo"), "test": N_("test"), "training": N_("training")})


def country_name(name: str, *, locale: str | None = None) -> str:
    """An operation named after a country ("Nigeria", "Nigeria (demo)") in the reader's language (CLDR territory
    names via Babel, the note in parentheses from `dtm.operation_note`); any other name as it is."""
    match = re.fullmatch(r"\s*([^()]+?)\s*\(([^()]+)\)\s*", name)
    if match and match.group(2).strip().lower() in OPERATION_NOTE:
        country = country_name(match.group(1), locale=locale)
        if country == match.group(1):
            return name
        note = label("dtm.operation_note", match.group(2).strip().lower(), locale=locale)
        return f"{country}（{note}）" if (locale or get_locale()) == "zh_Hans" else f"{country} ({note})"
    english = Locale.parse("en_GB").territories
    codes = {value: key for key, value in english.items() if len(key) == 2}
    code = codes.get(name.strip())
    if code is None:
        return name
    return Locale.parse(babel_locale(locale)).territories.get(code, name)


def place(name_en: str | None, name_zh: str | None = None, *, locale: str | None = None) -> Markup:
    """A place (an admin area, a site, an operation) in the reader's language: its Chinese name on Chinese pages when
    the boundaries or CLDR have one; otherwise its own name, marked as a proper name (`translate="no"`)."""
    chosen = locale or get_locale()
    if chosen == "zh_Hans":
        if name_zh:
            return escape(name_zh)
        translated = country_name(name_en or "", locale=chosen)
        if translated != (name_en or ""):
            return escape(translated)
    if not name_en:
        return Markup("")
    if chosen == "zh_Hans":
        return Markup('<span translate="no" lang="en">{}</span>').format(name_en)
    return escape(name_en)


def check_counts(counts: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """(check code, count) pairs with each check's word in the reader's language."""
    return [(label("dtm.check", code), count) for code, count in counts]
