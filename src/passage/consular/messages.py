"""Consular's message codes and label domains, and how its published names are shown per language
(docs/consular.md, "Languages").

- Passage's own words for stored codes (channels, categories, statuses, transport modes, contact statuses) are the
  domain `consular.code` (the vocabulary in `rules.LABELS`).
- Published text has a value per language: safety advice has its English and Chinese columns (`title_en`/`title_zh`,
  `body_en`/`body_zh`), a crisis its `name_en`/`name_zh`, and assembly points and transport legs keep their source
  name plus `translations` = {field: {locale: text}}. A name missing in the reader's language is shown in its source
  language, marked as a fallback.
- What a person typed about themselves (the city they are in) is shown as they wrote it, marked `translate="no"`.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from passage.consular import rules
from passage.core.i18n import T_, define_labels, get_locale, in_language

CODE = define_labels("consular.code", rules.LABELS)


def published(record: Any, field: str) -> Markup:
    """A published name (`field` of an assembly point or leg) in the reader's language; a fallback is marked."""
    value = in_language(getattr(record, field, None), getattr(record, "translations", None) or {}, field)
    if value.fallback and value.language != get_locale():
        return Markup('<span lang="{}" class="fallback">{}</span><sup class="fallback-marker" title="{}">*</sup>').format(
            value.language, value.text, T_("not yet translated").render())
    return escape(value.text)


def as_written(text: str | None) -> Markup:
    """Text a person gave about themselves (a city, a place), shown as written: a proper name, never translated."""
    if not text:
        return Markup("–")
    return Markup('<span translate="no">{}</span>').format(text)


def translations_from_form(form: Any, field: str) -> dict[str, dict[str, str]]:
    """The `{field: {"zh_Hans": ...}}` of a page form that has a `<field>_zh` input (empty when it is blank)."""
    chinese = str(form.get(f"{field}_zh", "") or "").strip()
    return {field: {"zh_Hans": chinese}} if chinese else {}
