"""AVRR's message codes and label domains: the words for stored codes (stages, kinds of assistance, legal statuses,
asylum stages, relationships, events) in the reader's language, and the helpers that show the calculator's
language-neutral messages and the schemes' published text (see docs/avrr.md, "Languages").

The English words are marked with `N_` (extracted into `avrr/locale/zh_Hans/LC_MESSAGES/messages.po`); codes stay
in the database and the API, words are chosen where a person reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

from passage.core.i18n import N_, T_, Text, define_labels, get_locale, in_language

STAGE = define_labels("avrr.stage", {
    "counselling": N_("Counselling"), "application": N_("Application"), "eligibility": N_("Eligibility"),
    "pre_departure": N_("Pre-departure"), "travel": N_("Travel"), "arrival": N_("Arrival and reception"),
    "reintegration_plan": N_("Reintegration plan"), "assistance": N_("Assistance"), "monitoring": N_("Monitoring"),
    "closed": N_("Closed"), "withdrawn": N_("Withdrawn (person's choice)"),
})
ASSISTANCE_KIND = define_labels("avrr.assistance_kind", {
    "cash": N_("Cash"), "in_kind": N_("In kind"), "business_start_up": N_("Business start-up"), "housing": N_("Housing"),
    "medical": N_("Medical"), "education": N_("Education"),
})
DIMENSION = define_labels("avrr.dimension", {
    "economic": N_("Economic"), "social": N_("Social"), "psychosocial": N_("Psychosocial"), "composite": N_("Composite"),
})
EVENT = define_labels("avrr.event", {
    "facts": N_("Facts recorded"), "consent_given": N_("Consent given"), "consent_withdrawn": N_("Consent withdrawn"),
    "readmission_link": N_("Linked to a readmission case"), "assistance_planned": N_("Assistance planned"),
    "payment": N_("Payment"), "monitoring": N_("Monitoring survey recorded"),
})
LEGAL_STATUS = define_labels("avrr.legal_status", {
    "asylum_seeker": N_("Asylum seeker"), "rejected_asylum_seeker": N_("Rejected asylum seeker"),
    "tolerated": N_("Tolerated stay"), "recognised_refugee": N_("Recognised refugee"),
    "subsidiary_protection": N_("Subsidiary protection"), "trafficking_victim": N_("Victim of trafficking"),
    "irregular_stay": N_("Irregular stay"), "other_residence_permit": N_("Other residence permit"),
})
ASYLUM_STAGE = define_labels("avrr.asylum_stage", {
    "none": N_("No asylum application"), "pending": N_("Pending"), "first_negative": N_("First-instance rejection"),
    "appeal_pending": N_("Appeal pending"), "final_negative": N_("Final rejection"), "positive": N_("Positive decision"),
})
RELATIONSHIP = define_labels("avrr.relationship", {
    "head": N_("Head of household"), "spouse": N_("Spouse"), "child": N_("Child"), "parent": N_("Parent"),
    "sibling": N_("Sibling"), "grandchild": N_("Grandchild"), "other_relative": N_("Other relative"), "other": N_("Other"),
})
TRAVEL = define_labels("avrr.travel", {
    "valid_passport": N_("Valid passport"), "laissez_passer_issued": N_("Laissez-passer issued"),
    "pending": N_("Pending"), "none": N_("None"),
    "fit": N_("Fit to travel"), "fit_with_escort": N_("Fit to travel with an escort"), "unfit": N_("Not fit to travel"),
    "not_assessed": N_("Not assessed"),
})
CONSENT_PURPOSE = define_labels("avrr.consent_purpose", {
    "link_readmission_case": N_("Link to a readmission case"),
    "share_with_country_of_origin": N_("Share with the country of origin"),
    "monitoring_contact": N_("Contact for monitoring"),
})
DECISION = define_labels("avrr.decision", {"return": N_("return"), "undecided": N_("undecided"), "declined": N_("declined")})
PAYMENT_EVENT = define_labels("avrr.payment_event", {"departure": N_("departure"), "arrival": N_("arrival")})
PLACE = define_labels("avrr.place", {"host country": N_("host country"), "country of return": N_("country of return")})
INTERVIEW_MODE = define_labels("avrr.interview_mode", {
    "in_person": N_("In person"), "phone": N_("By phone"), "video": N_("By video"),
})

CODE_NAMES: dict[str, str] = {**TRAVEL, **LEGAL_STATUS, **ASYLUM_STAGE, **RELATIONSHIP, **CONSENT_PURPOSE}
"""Every code the case pages show with the `code()` helper (the domains do not share a code with different words)."""


def stored_message(stored: Mapping[str, Any] | str | None) -> str:
    """A language-neutral message (`Text.as_stored()`) in the reader's language."""
    if not stored:
        return ""
    return Text.from_stored(stored).render()


def published(source: str | None, translations: Mapping[str, Any] | None, *, original_terms: list[str] | None = None,
              original_language: str = "en", field: str | None = None, source_language: str = "en") -> Markup:
    """A scheme's published text (a rule, an age band, a title) in the reader's language, as HTML.

    `translations` is either the convention's `{field: {locale: text}}` (give `field`) or, for a calculator line,
    `{locale: text}`. Terms in the scheme's own language (`original_terms`, e.g. the legal name Reisebeihilfe) are
    kept as they are and marked `translate="no"` with their language; a fallback to another language is marked
    visibly (`class="fallback"` and the marker "*")."""
    table: dict[str, dict[str, str]]
    if field is None:
        table = {"text": dict(translations or {})}
        field = "text"
    else:
        table = {k: dict(v) for k, v in dict(translations or {}).items()}
    value = in_language(source, table, field, source_language=source_language)
    html = marked_terms(value.text, original_terms or [], original_language)
    if value.fallback and value.language != get_locale():
        return Markup('<span lang="{}" class="fallback">{}</span><sup class="fallback-marker" title="{}">*</sup>').format(
            value.language, html, T_("not yet translated").render())
    return html


def marked_terms(text: str, terms: list[str], language: str) -> Markup:
    """`text` as HTML with each of `terms` wrapped in `<span translate="no" lang=...>` (the rest escaped)."""
    if not terms:
        return escape(text)
    pattern = re.compile("(" + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) + ")")
    parts = []
    for piece in pattern.split(text):
        if piece in terms:
            parts.append(Markup('<span translate="no" lang="{}">{}</span>').format(language, piece))
        else:
            parts.append(escape(piece))
    return Markup("").join(parts)


SCHEME_FIELD = define_labels("avrr.scheme_field", {
    "family_cap": N_("family cap"), "amount": N_("amount"), "amounts_by_band": N_("amounts by age band"),
})


def line_basis(line: Mapping[str, Any]) -> Markup:
    """Why a calculator line has its amount, in the reader's language: Passage's message, or the scheme's age band."""
    if line.get("basis_message"):
        return escape(stored_message(line["basis_message"]))
    return published(line.get("basis"), line.get("basis_translations") or {})


def rule_name(result: Mapping[str, Any], rule_id: str) -> Markup:
    """The published name of one of a result's rules (from its lines), or the rule id as code when it made no line."""
    for line in result.get("lines") or []:
        if line.get("rule_id") == rule_id:
            return published(line.get("rule"), line.get("rule_translations") or {},
                             original_terms=line.get("original_terms"), original_language=line.get("original_language", "en"))
    return Markup("<code>{}</code>").format(rule_id)
