"""The event's summary report in English or Chinese, as HTML and PDF, in the shape of seeds 000 and 004.

Fixed strings come from the module's Babel catalogue; event content keeps its own language fields
and falls back to English (marked `lang="en"`) where no Chinese text was recorded.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
from babel.dates import format_date
from babel.lists import format_list
from markupsafe import Markup

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import atomic_output
from passage.dialogue import models as m
from passage.dialogue.attendance import AttendanceSummary, country_name, province_names, summarise_attendance
from passage.dialogue.i18n import translations
from passage.dialogue.rules import province_name
from passage.dialogue.service import evaluation_annex
from passage.forms.evaluation import ANNEX_CSS, render_annex_html

Language = Literal["en", "zh"]


@dataclass(frozen=True)
class Text:
    text: str
    lang: str


def _pick(record: Any, name: str, lang: Language) -> Text | None:
    english = getattr(record, f"{name}_en", None)
    chinese = getattr(record, f"{name}_zh", None)
    if lang == "zh" and chinese:
        return Text(chinese, "zh-Hans")
    if english:
        return Text(english, "en")
    if chinese:
        return Text(chinese, "zh-Hans")
    return None


def _paragraphs(record: Any, name: str, lang: Language) -> list[Text]:
    picked = _pick(record, name, lang)
    if picked is None:
        return []
    return [Text(part.strip(), picked.lang) for part in picked.text.split("\n\n") if part.strip()]


def _environment(lang: Language) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("passage.dialogue", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def _date_range(start: dt.date, end: dt.date, lang: Language) -> str:
    if lang == "zh":
        if start == end:
            return f"{start.year}年{start.month}月{start.day}日"
        if (start.year, start.month) == (end.year, end.month):
            return f"{start.year}年{start.month}月{start.day}日至{end.day}日"
        return f"{start.year}年{start.month}月{start.day}日至{end.year}年{end.month}月{end.day}日"
    if start == end:
        return format_date(start, "d MMMM y", locale="en")
    if (start.year, start.month) == (end.year, end.month):
        return f"{start.day}-{end.day} {format_date(start, 'MMMM y', locale='en')}"
    return f"{format_date(start, 'd MMMM y', locale='en')} - {format_date(end, 'd MMMM y', locale='en')}"


def _person(participant: m.Participant, lang: Language) -> str:
    if lang == "zh" and participant.name_zh:
        return participant.name_zh
    return " ".join(part for part in (participant.honorific, participant.name) if part)


def _institution_name(institution: m.Institution, lang: Language) -> str:
    return institution.name_zh if lang == "zh" and institution.name_zh else institution.name_en


def attendance_text(event: m.Event, summary: AttendanceSummary, *, lang: Language) -> tuple[list[Markup], list[str]]:
    """The attendance paragraph (sentences with footnote markers) and its footnotes, as in seed 000."""
    gettext = translations(lang).gettext
    kinds = {"workshop": gettext("workshop"), "seminar": gettext("seminar"), "study_visit": gettext("study visit")}
    kind = kinds[event.event_type]
    sentences: list[Markup] = []
    footnotes: list[str] = []

    def marker(note: str) -> Markup:
        footnotes.append(note)
        return Markup('<sup><a href="#fn{0}">{0}</a></sup>').format(len(footnotes))

    if summary.total is not None:
        template = gettext("The %(kind)s was attended by %(count)d participants.") if summary.total_is_complete else gettext(
            "The %(kind)s was attended by at least %(count)d participants."
        )
        sentences.append(Markup.escape(template % {"kind": kind, "count": summary.total}))
    type_labels = _type_labels(lang)
    by_type = [f"{type_labels[t]} ({n})" for t, n in summary.by_type.items()]
    if by_type:
        sentences.append(Markup.escape(gettext("Institutions represented: %(list)s.") % {"list": format_list(by_type, locale=_babel(lang))}))
    separator = "、" if lang == "zh" else ", "
    if summary.provinces:
        names = province_names(summary, lang)
        note = format_list(names, locale=_babel(lang))
        with_counts = [
            f"{province_name(code, lang)} ({count})" for code, count in summary.province_headcounts.items() if count is not None
        ]
        if len(with_counts) == len(names):
            note = separator.join(with_counts)
        sentences.append(Markup.escape(gettext("Provincial authorities came from %(count)d provinces") % {"count": len(summary.provinces)}) + marker(note + ("。" if lang == "zh" else ".")) + Markup.escape(gettext(".")))
    if summary.member_states:
        note = format_list([country_name(c, lang) for c in summary.member_states], locale=_babel(lang))
        sentences.append(Markup.escape(gettext("Representatives of %(count)d EU Member States attended") % {"count": len(summary.member_states)}) + marker(note + ("。" if lang == "zh" else ".")) + Markup.escape(gettext(".")))
    if summary.embassies:
        note = format_list([country_name(c, lang) for c in summary.embassies], locale=_babel(lang))
        sentences.append(Markup.escape(gettext("%(count)d embassies were represented") % {"count": len(summary.embassies)}) + marker(note + ("。" if lang == "zh" else ".")) + Markup.escape(gettext(".")))
    return sentences, footnotes


def _babel(lang: Language) -> str:
    return "zh_Hans" if lang == "zh" else "en"


def _type_labels(lang: Language) -> dict[str, str]:
    gettext = translations(lang).gettext
    return {
        "ministry": gettext("ministries"),
        "bureau": gettext("bureaus"),
        "provincial_office": gettext("provincial offices"),
        "embassy": gettext("embassies"),
        "eu_body": gettext("EU bodies"),
        "international_organisation": gettext("international organisations"),
        "academia": gettext("academia"),
    }


def _role_labels(lang: Language) -> dict[str, str]:
    gettext = translations(lang).gettext
    return {"participant": gettext("participant"), "expert": gettext("expert"), "chair": gettext("chair"), "speaker": gettext("speaker")}


def report_context(event: m.Event, *, lang: Language) -> dict[str, Any]:
    """Everything the template needs, computed from the event."""
    if lang not in ("en", "zh"):
        raise InvalidInput("Unsupported report language", fields=[FieldError(path="lang", message="must be 'en' or 'zh'")])
    gettext = translations(lang).gettext
    summary = summarise_attendance(event)
    sentences, footnotes = attendance_text(event, summary, lang=lang)
    type_labels = _type_labels(lang)
    role_labels = _role_labels(lang)
    kind_labels = {"presentation": gettext("presentation"), "group_discussion": gettext("group discussion")}
    institution_rows = [
        {
            "name": _institution_name(c.institution, lang),
            "type": type_labels[c.institution.institution_type],
            "country": country_name(c.institution.country, lang) if c.institution.country else "",
            "province": province_name(c.institution.province, lang) if c.institution.province else "",
            "count": c.headcount if c.headcount is not None else (c.named or "—"),
        }
        for c in summary.institutions
    ]
    sessions_by_day = [
        (day, [_session(s, lang) for s in group])
        for day, group in itertools.groupby(sorted(event.sessions, key=lambda s: ((s.day or 0), s.number)), key=lambda s: s.day)
    ]
    agenda = [
        {
            "day": s.day or "",
            "number": s.number,
            "title": _pick(s, "title", lang),
            "kind": kind_labels[s.kind],
            "people": ", ".join([_person(sp.participant, lang) for sp in s.speakers] + ([f"{gettext('chair')}: {_person(s.chair, lang)}"] if s.chair else [])),
        }
        for s in sorted(event.sessions, key=lambda s: s.number)
    ]
    participant_rows = [
        {
            "name": _person(p.participant, lang),
            "position": p.participant.position_en or "",
            "institution": _institution_name(p.participant.institution, lang),
            "role": role_labels[p.role],
        }
        for p in sorted(event.participations, key=lambda p: (p.participant.institution.name_en, p.participant.name))
    ]
    unnamed = (summary.total or 0) - len(participant_rows)
    unnamed_note = gettext("%(count)d further participants are not named in the record.") % {"count": unnamed} if unnamed > 0 else ""
    annex_html = Markup("")
    if event.evaluations:
        rendered = render_annex_html(evaluation_annex(event.evaluations[0], lang=lang), lang=lang, standalone=False)
        annex_html = Markup(rendered)  # noqa: S704 - produced by an autoescaping template
    project = _pick(event, "project", lang)
    assert project is not None  # required field
    title = _pick(event, "title", lang)
    assert title is not None
    other_title = event.title_en if lang == "zh" and title.lang != "en" else (event.title_zh if lang == "en" else None)
    other_project = event.project_zh if lang == "en" else (event.project_en if project.lang != "en" else None)
    return {
        "lang_tag": "zh-Hans" if lang == "zh" else "en",
        "project": project,
        "project_other": other_project,
        "project_line": event.project_en.replace('"', "'"),
        "title": title,
        "title_other": other_title,
        "dates": _date_range(event.start_date, event.end_date, lang),
        "venue": _pick(event, "venue", lang),
        "funder": _pick(event, "funder", lang),
        "introduction": _paragraphs(event, "introduction", lang),
        "objectives": _pick(event, "objectives", lang),
        "attendance_sentences": sentences,
        "footnotes": footnotes,
        "institution_rows": institution_rows,
        "opening_remarks": [_pick(r, "text", lang) for r in event.opening_remarks],
        "opening_speakers": ", ".join(_person(r.speaker, lang) for r in event.opening_remarks if r.speaker),
        "sessions": sessions_by_day,
        "recommendations": [_pick(o, "text", lang) for o in event.outcomes if o.kind == "recommendation"],
        "challenges": [_pick(o, "text", lang) for o in event.outcomes if o.kind == "challenge"],
        "conclusion": _paragraphs(event, "conclusion", lang),
        "annex_names": [gettext("Annex 1: Agenda"), gettext("Annex 2: List of participants"), gettext("Annex 3: Evaluation report")],
        "agenda": agenda,
        "participant_rows": participant_rows,
        "unnamed_note": unnamed_note,
        "annex_html": annex_html,
        "annex_css": Markup(ANNEX_CSS),  # noqa: S704 - a constant of our own
        "summary": summary,
    }


def _session(session: m.EventSession, lang: Language) -> dict[str, Any]:
    return {
        "number": session.number,
        "title": _pick(session, "title", lang),
        "speakers": format_list([_person(sp.participant, lang) for sp in session.speakers], locale=_babel(lang)) if session.speakers else "",
        "chair": _person(session.chair, lang) if session.chair else "",
        "abstract": _pick(session, "abstract", lang),
        "observations": [_pick(o, "text", lang) for o in session.observations],
    }


def render_report_html(event: m.Event, *, lang: Language = "en") -> str:
    """The summary report as one self-contained HTML page."""
    context = report_context(event, lang=lang)
    return _environment(lang).get_template("dialogue/report.html").render(**context)


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
        raise InvalidInput("Unsupported output", fields=[FieldError(path="out", message="must end with .pdf or .html")])
    if suffix == ".pdf":
        data = render_report_pdf(event, lang=lang)
        with atomic_output(out, mode="wb") as handle:
            handle.write(data)
    else:
        with atomic_output(out) as handle:
            handle.write(render_report_html(event, lang=lang))
    return out
