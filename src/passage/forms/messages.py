"""Forms' message codes and label domains, and how a submission's errors are shown in the reader's language
(docs/forms.md, "Languages").

Two kinds of text meet on the forms pages:
- Passage's own words (quarantine reasons, statuses, sources, "required", type errors, loading warnings): message
  codes rendered with the catalogues (`T_`, the label domains below);
- the form author's words (field labels, choice labels, constraint and required messages, the title): taken from the
  XLSForm's multi-language columns (`label::Chinese (zh)`, `constraint_message::Chinese (zh)`, Passage's
  `passage_title::Chinese (zh)` in the settings sheet) in the reader's language, else the form's default language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from passage.core.i18n import N_, Text, define_labels, get_locale, localise
from passage.forms.definition import FormDefinition, pick_label, title_in

REASON = define_labels("forms.reason", {
    "required": N_("Required field empty"),
    "type": N_("Wrong type"),
    "choice": N_("Not an allowed choice"),
    "constraint": N_("Constraint broken"),
    "not_relevant": N_("Value for a question that does not apply"),
    "unknown_field": N_("Unknown field"),
    "repeat_link": N_("Repeat row not linked"),
    "missing_uuid": N_("No submission uuid"),
    "uuid_conflict": N_("Uuid already used with other data"),
    "repeat_count": N_("Repeat count differs"),
})
STATUS = define_labels("forms.status", {
    "open": N_("open"), "accepted": N_("accepted"), "duplicate": N_("duplicate"), "superseded": N_("superseded"),
})
SOURCE = define_labels("forms.source", {"import": N_("import"), "web": N_("web entry"), "quarantine": N_("fixed in quarantine")})


def form_language(locale: str | None = None) -> str:
    """The XLSForm language code for the reader's interface language (`zh` for Chinese, `en` for English)."""
    return "zh" if (locale or get_locale()) == "zh_Hans" else "en"


def error_text(error: Any, *, locale: str | None = None, language: str | None = None) -> str:
    """A submission error (a `SubmissionError` or its stored record) in the reader's language: the form author's
    message in the reader's language when the form gives one per language, else Passage's message. `language` is
    the XLSForm language code to pick the author's message in (default: the reader's)."""
    record: Mapping[str, Any] = error.as_record() if hasattr(error, "as_record") else error
    if language is not None and locale is None:
        locale = "zh_Hans" if language.split("-")[0].split("_")[0].lower() in ("zh", "chinese") or "(zh" in language.lower() else "en"
    labels = record.get("labels")
    if labels:
        return pick_label(dict(labels), language or form_language(locale)) or str(record.get("message", ""))
    if record.get("text"):
        return Text.from_stored(record["text"]).render(locale)
    return localise(record.get("message", ""), locale=locale)


def form_title(definition: FormDefinition | Mapping[str, Any] | None, fallback: str, *, locale: str | None = None) -> str:
    """The form's title in the reader's language (see `FormDefinition.titles`)."""
    if definition is None:
        return fallback
    return title_in(definition if isinstance(definition, FormDefinition) else dict(definition), form_language(locale)) or fallback


def stored_message(stored: Mapping[str, Any] | str | None) -> str:
    """A language-neutral message (`Text.as_stored()`, e.g. why a check is not evaluated) in the reader's language."""
    return Text.from_stored(stored).render() if stored else ""
