"""The event's summary report in English or Chinese, as HTML and PDF, in the shape of seeds 000 and 004.

Fixed strings and generated sentences are messages (`T_`/`P_`, labels) rendered in the report's language; numbers and
dates use the locale's formats (`i18n.format_number`, `i18n.format_date`). Published text (title, summary, objectives,
sessions, observations, recommendations, evaluation questions, the running header) is picked per language from each
record's `translations` (`Translatable.in_language`). Where the report's language has no text yet, the English source
is shown visibly marked (a marker in the report's language and the `fallback` style, `lang="en"`) and the report ends
with the list of what is not yet translated. `translation_status` gives the same counts for the page shown before
anyone prints.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
from babel.dates import format_date as babel_format_date
from babel.lists import format_list
from markupsafe import Markup

from passage.core import i18n
from passage.core.errors import FieldError, InvalidInput
from passage.core.files import atomic_output
from passage.core.i18n import P_, T_, Label, Text
from passage.dialogue import messages as _messages  # noqa: F401 - registers the label domains used here
from passage.dialogue import models as m
from passage.dialogue.attendance import AttendanceSummary, country_name, province_names, summarise_attendance
from passage.dialogue.rules import province_name
from passage.dialogue.service import evaluation_annex
from passage.forms.evaluation import ANNEX_CSS, render_annex_html

Language = Literal["en", "zh"]
LOCALES: dict[str, str] = {"en": "en", "zh": "zh_Hans"}
"""The report's `lang` parameter (`en`, `zh`) and the interface locale it is written in."""
_TAGS = {"en": "en", "zh_Hans": "zh-Hans"}


@dataclass(frozen=True)
class Shown:
    """One published text as the report prints it: `lang` is its BCP 47 tag; `fallback` marks source text shown because
    the report's language has none yet."""

    text: str
    lang: str
    fallback: bool = False


@dataclass
class LanguageStatus:
    """How much of an event's published text exists in one language."""

    locale: str
    total: int = 0
    translated: int = 0
    missing: list[str] = field(default_factory=list)
    """Each missing text named in the reader's language ("Session 3: abstract")."""

    @property
    def complete(self) -> bool:
        return self.translated == self.total


def _locale(lang: str) -> str:
    if lang not in LOCALES:
        raise InvalidInput(T_("Unsupported report language"), fields=[FieldError(path="lang", message=T_("must be en or zh"))])
    return LOCALES[lang]


@contextlib.contextmanager
def _writing_in(locale: str) -> Iterator[None]:
    """Messages, labels and formats inside render in the report's language, whatever the reader's interface is."""
    previous = i18n.get_locale()
    i18n.set_locale(locale)
    try:
        yield
    finally:
        i18n.set_locale(previous)


def published_parts(event: m.Event) -> list[tuple[m.Translatable, Text]]:
    """Every record of the event whose text the report publishes, with the name of its part (a message)."""
    parts: list[tuple[m.Translatable, Text]] = [(event, T_("Event"))]
    parts += [(remark, T_("Opening remark {position}", position=n)) for n, remark in enumerate(event.opening_remarks, start=1)]
    for session in sorted(event.sessions, key=lambda x: x.number):
        parts.append((session, T_("Session {number}", number=session.number)))
        parts += [(o, T_("Session {number}, key observation {position}", number=session.number, position=n))
                  for n, o in enumerate(session.observations, start=1)]
    recommendations = [o for o in event.outcomes if o.kind == "recommendation"]
    challenges = [o for o in event.outcomes if o.kind == "challenge"]
    parts += [(o, T_("Recommendation {position}", position=n)) for n, o in enumerate(recommendations, start=1)]
    parts += [(o, T_("Challenge {position}", position=n)) for n, o in enumerate(challenges, start=1)]
    for n, participation in enumerate(_participations(event), start=1):
        parts.append((participation.participant, T_("Participant {position}", position=n)))
    if event.evaluations:
        evaluation = event.evaluations[0]
        parts.append((evaluation, T_("Evaluation")))
        parts += [(q, T_("Evaluation question {position}", position=n)) for n, q in enumerate(evaluation.questions, start=1)]
    return parts


def _participations(event: m.Event) -> list[m.Participation]:
    return sorted(event.participations, key=lambda p: (p.participant.institution.name_en, p.participant.name))


def translation_status(event: m.Event) -> dict[str, LanguageStatus]:
    """Per interface language: how many of the report's published texts exist in it, and which are missing (named in
    the reader's current language)."""
    statuses = {locale: LanguageStatus(locale) for locale in i18n.LOCALES}
    for record, part in published_parts(event):
        for name in record.TRANSLATED:
            if not record.source_text(name):
                continue
            for locale, status in statuses.items():
                status.total += 1
                if locale == "en" or record.translation(name, locale):
                    status.translated += 1
                else:
                    status.missing.append(T_("{part}: {field}", part=part, field=Label("dialogue.field", name)))
    return statuses


class _Picker:
    """Picks each text in the report's language; a fallback is marked when printed."""

    def __init__(self, locale: str) -> None:
        self.locale = locale

    def __call__(self, record: m.Translatable, name: str) -> Shown | None:
        value = record.in_language(name, locale=self.locale)
        if not value.text:
            return None
        return Shown(value.text, _TAGS.get(value.language, value.language), value.fallback)

    def paragraphs(self, record: m.Translatable, name: str) -> list[Shown]:
        picked = self(record, name)
        if picked is None:
            return []
        return [Shown(part.strip(), picked.lang, picked.fallback) for part in picked.text.split("\n\n") if part.strip()]

    def markup(self, record: m.Translatable, name: str, value: i18n.LocalisedValue | None = None) -> Markup:
        """A text as HTML with its fallback marked (for parts rendered by another template, the evaluation annex)."""
        value = value or record.in_language(name, locale=self.locale)
        return _marked(Shown(value.text, _TAGS.get(value.language, value.language), value.fallback), self.locale)


def _marked(shown: Shown, locale: str) -> Markup:
    if not shown.fallback:
        return Markup('<span lang="{}">{}</span>').format(shown.lang, shown.text)
    return Markup('<span class="fallback" lang="{}"><span class="fallback-marker" lang="{}">{}</span> {}</span>').format(
        shown.lang, _TAGS.get(locale, locale), fallback_marker(locale), shown.text)


def fallback_marker(locale: str) -> str:
    return T_("[not yet translated]").render(locale)


def _environment(locale: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("passage.dialogue", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(i18n.translations_for(locale, "dialogue"), newstyle=True)  # type: ignore[attr-defined]
    env.filters["number"] = lambda value: i18n.format_number(value, locale=locale)
    env.filters["label"] = lambda value, domain: i18n.label(domain, value, locale=locale)
    env.globals["marked"] = lambda shown: _marked(shown, locale)
    return env


def date_range(start: dt.date, end: dt.date, lang: Language) -> str:
    """The event's dates as a report writes them: 2018年2月6日至7日 / 6-7 February 2018."""
    locale = _locale(lang)
    if locale == "zh_Hans":
        first = i18n.format_date(start, locale=locale)
        if start == end:
            return first
        if (start.year, start.month) == (end.year, end.month):
            return f"{first}至{end.day}日"
        return f"{first}至{i18n.format_date(end, locale=locale)}"
    where = i18n.babel_locale(locale)
    if start == end:
        return babel_format_date(start, "d MMMM y", locale=where)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}-{end.day} {babel_format_date(start, 'MMMM y', locale=where)}"
    return f"{babel_format_date(start, 'd MMMM y', locale=where)} - {babel_format_date(end, 'd MMMM y', locale=where)}"


def _person_markup(participant: m.Participant, locale: str) -> Markup:
    """A person's name with the honorific: "Ms. Min Haiyun" / "闵海云女士". A name in Latin script is a proper name,
    not text to translate (`translate="no"`); in Chinese the honorific follows the name, as Chinese writes it."""
    honorific = i18n.label("dialogue.honorific", participant.honorific, locale=locale) if participant.honorific else ""
    if locale == "zh_Hans":
        if participant.name_zh:
            return Markup("{}{}").format(participant.name_zh, honorific)
        return Markup('<span translate="no">{}</span>{}').format(participant.name, honorific)
    return Markup('{} <span translate="no">{}</span>').format(honorific, participant.name) if honorific else Markup('<span translate="no">{}</span>').format(participant.name)


def _institution_name(institution: m.Institution, locale: str) -> str:
    return institution.name_zh if locale == "zh_Hans" and institution.name_zh else institution.name_en


def attendance_text(event: m.Event, summary: AttendanceSummary, *, lang: Language) -> tuple[list[Markup], list[str]]:
    """The attendance paragraph (sentences with footnote markers) and its footnotes, as in seed 000."""
    locale = _locale(lang)
    with _writing_in(locale):
        return _attendance_text(event, summary, lang=lang, locale=locale)


def _attendance_text(event: m.Event, summary: AttendanceSummary, *, lang: Language, locale: str) -> tuple[list[Markup], list[str]]:
    kind = Label("dialogue.event_type_in_text", event.event_type)
    # lists as the seed reports write them: "Hunan, and Guangdong" (CLDR `en`), "湖南和广东"
    where = "en" if locale == "en" else i18n.babel_locale(locale)
    full_stop = "。" if locale == "zh_Hans" else "."
    sentences: list[Markup] = []
    footnotes: list[str] = []

    def marker(note: str) -> Markup:
        footnotes.append(note)
        return Markup('<sup><a href="#fn{0}">{0}</a></sup>').format(len(footnotes))

    if summary.total is not None:
        sentence = (
            P_("The {kind} was attended by {n} participant.", "The {kind} was attended by {n} participants.", summary.total, kind=kind)
            if summary.total_is_complete else
            P_("The {kind} was attended by at least {n} participant.", "The {kind} was attended by at least {n} participants.", summary.total, kind=kind)
        )
        sentences.append(Markup.escape(sentence.render(locale)))
    by_type = [f"{i18n.label('dialogue.institution_type_plural', t, locale=locale)} ({i18n.format_number(n, locale=locale)})" for t, n in summary.by_type.items()]
    if by_type:
        sentences.append(Markup.escape(T_("Institutions represented: {list}.", list=format_list(by_type, locale=where)).render(locale)))
    separator = "、" if locale == "zh_Hans" else ", "
    if summary.provinces:
        names = province_names(summary, lang)
        note = format_list(names, locale=where)
        with_counts = [
            f"{province_name(code, lang)} ({i18n.format_number(count, locale=locale)})" for code, count in summary.province_headcounts.items() if count is not None
        ]
        if len(with_counts) == len(names):
            note = separator.join(with_counts)
        count = len(summary.provinces)
        sentence = P_("Provincial authorities came from {n} province", "Provincial authorities came from {n} provinces", count)
        sentences.append(Markup.escape(sentence.render(locale)) + marker(note + full_stop) + Markup.escape(full_stop))
    if summary.member_states:
        note = format_list([country_name(c, lang) for c in summary.member_states], locale=where)
        count = len(summary.member_states)
        sentence = P_("Representatives of {n} EU Member State attended", "Representatives of {n} EU Member States attended", count)
        sentences.append(Markup.escape(sentence.render(locale)) + marker(note + full_stop) + Markup.escape(full_stop))
    if summary.embassies:
        note = format_list([country_name(c, lang) for c in summary.embassies], locale=where)
        count = len(summary.embassies)
        sentence = P_("{n} embassy was represented", "{n} embassies were represented", count)
        sentences.append(Markup.escape(sentence.render(locale)) + marker(note + full_stop) + Markup.escape(full_stop))
    return sentences, footnotes


def report_context(event: m.Event, *, lang: Language) -> dict[str, Any]:
    """Everything the template needs, computed from the event, in the report's language."""
    locale = _locale(lang)
    with _writing_in(locale):
        return _report_context(event, lang=lang, locale=locale)


def _report_context(event: m.Event, *, lang: Language, locale: str) -> dict[str, Any]:
    pick = _Picker(locale)
    summary = summarise_attendance(event)
    sentences, footnotes = _attendance_text(event, summary, lang=lang, locale=locale)
    institution_rows = [
        {
            "name": _institution_name(c.institution, locale),
            "type": i18n.label("dialogue.institution_type_plural", c.institution.institution_type, locale=locale),
            "country": country_name(c.institution.country, lang) if c.institution.country else "",
            "province": province_name(c.institution.province, lang) if c.institution.province else "",
            "count": i18n.format_number(c.headcount, locale=locale) if c.headcount is not None else (i18n.format_number(c.named, locale=locale) if c.named else "—"),
        }
        for c in summary.institutions
    ]
    sessions_by_day = [
        (day, [_session(s, pick, locale) for s in group])
        for day, group in itertools.groupby(sorted(event.sessions, key=lambda s: ((s.day or 0), s.number)), key=lambda s: s.day)
    ]
    chair_word = T_("chair").render(locale)
    agenda = [
        {
            "day": i18n.format_number(s.day, locale=locale) if s.day else "",
            "number": i18n.format_number(s.number, locale=locale),
            "title": pick(s, "title"),
            "kind": i18n.label("dialogue.session_kind", s.kind, locale=locale),
            "people": Markup(", ").join([_person_markup(sp.participant, locale) for sp in s.speakers]
                                        + ([Markup("{}: {}").format(chair_word, _person_markup(s.chair, locale))] if s.chair else [])),
        }
        for s in sorted(event.sessions, key=lambda s: s.number)
    ]
    participant_rows = [
        {
            "name": _person_markup(p.participant, locale),
            "position": pick(p.participant, "position"),
            "institution": _institution_name(p.participant.institution, locale),
            "role": i18n.label("dialogue.role", p.role, locale=locale),
        }
        for p in _participations(event)
    ]
    unnamed = (summary.total or 0) - len(participant_rows)
    unnamed_note = P_("{n} further participant is not named in the record.", "{n} further participants are not named in the record.", unnamed).render(locale) if unnamed > 0 else ""
    annex_html = Markup("")
    if event.evaluations:
        annex = evaluation_annex(event.evaluations[0], lang=lang, shown=lambda record, name, value: pick.markup(record, name, value))
        annex_html = Markup(render_annex_html(annex, lang=lang, standalone=False))  # noqa: S704 - produced by an autoescaping template
    project = pick(event, "project")
    title = pick(event, "title")
    assert project is not None and title is not None  # required fields
    # the English report also gives the Chinese title and project (as the seed reports do); the Chinese one is Chinese only
    other = "zh_Hans"
    title_other = event.in_language("title", locale=other)
    project_other = event.in_language("project", locale=other)
    if locale == other:
        title_other = project_other = i18n.LocalisedValue("", other, True)
    status = translation_status(event)[locale]
    header = project.text + (f" ({fallback_marker(locale)})" if project.fallback else "")
    return {
        "lang_tag": _TAGS[locale],
        "project": project,
        "project_other": None if project_other.fallback or project_other.text == project.text else Shown(project_other.text, _TAGS[other]),
        "running_header": header.replace("\\", "\\\\").replace('"', '\\"'),
        "title": title,
        "title_other": None if title_other.fallback or title_other.text == title.text else Shown(title_other.text, _TAGS[other]),
        "dates": date_range(event.start_date, event.end_date, lang),
        "venue": pick(event, "venue"),
        "funder": pick(event, "funder"),
        "introduction": pick.paragraphs(event, "introduction"),
        "objectives": pick(event, "objectives"),
        "attendance_sentences": sentences,
        "footnotes": footnotes,
        "institution_rows": institution_rows,
        "opening_remarks": [pick(r, "text") for r in event.opening_remarks],
        "opening_speakers": Markup(", ").join(_person_markup(r.speaker, locale) for r in event.opening_remarks if r.speaker),
        "sessions": sessions_by_day,
        "recommendations": [pick(o, "text") for o in event.outcomes if o.kind == "recommendation"],
        "challenges": [pick(o, "text") for o in event.outcomes if o.kind == "challenge"],
        "conclusion": pick.paragraphs(event, "conclusion"),
        "annex_names": [T_("Annex 1: Agenda").render(locale), T_("Annex 2: List of participants").render(locale), T_("Annex 3: Evaluation report").render(locale)],
        "agenda": agenda,
        "participant_rows": participant_rows,
        "unnamed_note": unnamed_note,
        "annex_html": annex_html,
        "annex_css": Markup(ANNEX_CSS),  # noqa: S704 - a constant of our own
        "summary": summary,
        "missing": [i18n.localise(item, locale=locale) for item in status.missing],
        "marker": fallback_marker(locale),
        "opening_day": i18n.format_number(1, locale=locale),
    }


def _session(session: m.EventSession, pick: _Picker, locale: str) -> dict[str, Any]:
    where = i18n.babel_locale(locale)
    return {
        "number": i18n.format_number(session.number, locale=locale),
        "title": pick(session, "title"),
        "speakers": Markup(format_list([str(_person_markup(sp.participant, locale)) for sp in session.speakers], locale=where)) if session.speakers else "",  # noqa: S704 - each name escaped above
        "chair": _person_markup(session.chair, locale) if session.chair else "",
        "abstract": pick(session, "abstract"),
        "observations": [pick(o, "text") for o in session.observations],
    }


def render_report_html(event: m.Event, *, lang: Language = "en") -> str:
    """The summary report as one self-contained HTML page."""
    locale = _locale(lang)
    context = report_context(event, lang=lang)
    with _writing_in(locale):
        return _environment(locale).get_template("dialogue/report.html").render(**context)


def render_report_pdf(event: m.Event, *, lang: Language = "en") -> bytes:
    """The summary report as PDF (WeasyPrint; Chinese needs a CJK font such as Noto Sans CJK SC)."""
    from weasyprint import HTML  # imported lazily: WeasyPrint loads Pango at import time

    pdf = HTML(string=render_report_html(event, lang=lang)).write_pdf()
    assert pdf is not None
    return pdf


def write_report(event: m.Event, *, lang: Language, out: Path) -> Path:
    """Write the report atomically; `.html` gives HTML, `.pdf` gives PDF."""
    suffix = out.suffix.lower()
    if suffix not in {".html", ".htm", ".pdf"}:
        raise InvalidInput(T_("Unsupported output"), fields=[FieldError(path="out", message=T_("must end with .pdf or .html"))])
    if suffix == ".pdf":
        data = render_report_pdf(event, lang=lang)
        with atomic_output(out, mode="wb") as handle:
            handle.write(data)
    else:
        with atomic_output(out) as handle:
            handle.write(render_report_html(event, lang=lang))
    return out
