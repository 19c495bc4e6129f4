"""Likert evaluation questionnaires and their "Annex I" report (seed 004, Annex I).

Pure functions over raw responses plus one Jinja template, deliberately independent of the rest of
the forms engine: a caller hands in the question texts and one mapping per respondent
(question key -> score 1..5, or None when the question was skipped) and gets back the tables of
the Annex: for each question the value / percent / count table (only values somebody chose,
lowest first, as the Annex prints them), the total of answers, the sample size, the average
score out of 5 and the 5-to-1 legend "Strongly agree ... Strongly disagree"; plus a summary
table of averages.

Rounding follows the Annex (a spreadsheet): half away from zero to one decimal, so 14/21 is
66.7%, 1/21 is 4.8% and an average of 97/21 = 4.619 is 4.6. Python's `round` rounds half to
even and would print 4.5% where the Annex prints 4.6%, hence `Decimal` with ROUND_HALF_UP.

Public functions: `summarise_question`, `build_annex`, `render_annex_html`, `render_annex_pdf`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

import jinja2

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_

Language = Literal["en", "zh"]

SCALE_MIN = 1
SCALE_MAX = 5

#: The 5-to-1 legend printed under every table of Annex I.
LIKERT_LEGEND: dict[str, list[tuple[int, str]]] = {
    "en": [(5, "Strongly agree"), (4, "Agree"), (3, "Neutral"), (2, "Disagree"), (1, "Strongly disagree")],
    "zh": [(5, "非常同意"), (4, "同意"), (3, "中立"), (2, "不同意"), (1, "非常不同意")],
}

#: Fixed strings of the report. Kept here rather than in a catalogue so that this file stays usable
#: whatever the forms engine's i18n looks like; the dialogue module uses the same keys.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "annex": "Annex I",
        "report_title": "Evaluation Questionnaire Report",
        "date": "Date",
        "sample_size": "Sample size",
        "value": "Value",
        "percent": "Percent",
        "count": "Count",
        "totals": "Totals",
        "average": "Average score out of 5",
        "summary": "Summary of average scores",
        "question": "Question",
        "answers": "Answers",
        "no_answers": "No answers",
    },
    "zh": {
        "annex": "附件一",
        "report_title": "评估问卷报告",
        "date": "日期",
        "sample_size": "样本量",
        "value": "分值",
        "percent": "百分比",
        "count": "人数",
        "totals": "合计",
        "average": "平均分（满分5分）",
        "summary": "平均分汇总",
        "question": "问题",
        "answers": "回答数",
        "no_answers": "无回答",
    },
}


@dataclass(frozen=True)
class ValueRow:
    value: int
    count: int
    percent: Decimal  # one decimal, e.g. Decimal("66.7")

    @property
    def percent_text(self) -> str:
        return f"{self.percent}%"


@dataclass(frozen=True)
class QuestionSummary:
    key: str
    text: str
    rows: tuple[ValueRow, ...]
    total: int
    """Number of respondents who answered this question."""
    sample_size: int
    """Number of questionnaires returned (answers may be fewer when a question was skipped)."""
    average: Decimal | None
    """Mean score out of 5, one decimal; None when nobody answered."""

    @property
    def average_text(self) -> str:
        return "" if self.average is None else f"{self.average}"


@dataclass(frozen=True)
class AnnexReport:
    title: str
    activity: str
    dated: dt.date | None
    sample_size: int
    questions: tuple[QuestionSummary, ...]

    def averages(self) -> list[tuple[str, Decimal | None]]:
        """The summary table: (question text, average) in questionnaire order."""
        return [(q.text, q.average) for q in self.questions]


def _one_decimal(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def summarise_question(key: str, text: str, answers: Sequence[int | None], *, sample_size: int | None = None) -> QuestionSummary:
    """One table of Annex I from the raw scores given to one question (None = skipped)."""
    given: list[int] = []
    problems: list[FieldError] = []
    for index, score in enumerate(answers):
        if score is None:
            continue
        if isinstance(score, bool) or not isinstance(score, int) or not SCALE_MIN <= score <= SCALE_MAX:
            problems.append(FieldError(path=f"{key}.{index}", message=T_("score must be an integer from {low} to {high}", low=SCALE_MIN, high=SCALE_MAX)))
            continue
        given.append(score)
    if problems:
        raise InvalidInput(T_("Evaluation answers out of range"), fields=problems)
    total = len(given)
    rows: list[ValueRow] = []
    for value in range(SCALE_MIN, SCALE_MAX + 1):
        count = given.count(value)
        if count:
            rows.append(ValueRow(value=value, count=count, percent=_one_decimal(Decimal(100 * count) / Decimal(total))))
    average = _one_decimal(Decimal(sum(given)) / Decimal(total)) if total else None
    return QuestionSummary(
        key=key,
        text=text,
        rows=tuple(rows),
        total=total,
        sample_size=len(answers) if sample_size is None else sample_size,
        average=average,
    )


def build_annex(
    *,
    activity: str,
    questions: Sequence[tuple[str, str]],
    responses: Sequence[Mapping[str, int | None]],
    dated: dt.date | None = None,
    title: str = "Evaluation Questionnaire Report",
) -> AnnexReport:
    """Build the whole Annex from `questions` [(key, text)] and one mapping per respondent.

    A respondent mapping may omit a question (skipped); a key that is not a question is refused,
    because it means the responses belong to another questionnaire version.
    """
    keys = [key for key, _ in questions]
    if len(set(keys)) != len(keys):
        raise InvalidInput(T_("Evaluation questions have duplicate keys"), fields=[FieldError(path="questions", message=T_("keys must be unique"))])
    known = set(keys)
    unknown: list[FieldError] = []
    for number, response in enumerate(responses, start=1):
        for key in response:
            if key not in known:
                unknown.append(FieldError(path=f"responses.{number}.{key}", message=T_("not a question of this questionnaire")))
    if unknown:
        raise InvalidInput(T_("Evaluation responses do not match the questionnaire"), fields=unknown)
    sample_size = len(responses)
    summaries = tuple(
        summarise_question(key, text, [response.get(key) for response in responses], sample_size=sample_size)
        for key, text in questions
    )
    return AnnexReport(title=title, activity=activity, dated=dated, sample_size=sample_size, questions=summaries)


def annex_as_dict(report: AnnexReport) -> dict[str, Any]:
    """The Annex as plain data (the API's JSON): per question the value/percent/count rows, totals,
    sample size and average, then the summary table; percentages and averages as one-decimal strings."""
    return {
        "title": report.title,
        "activity": report.activity,
        "dated": report.dated.isoformat() if report.dated else None,
        "sample_size": report.sample_size,
        "questions": [
            {
                "key": q.key,
                "text": q.text,
                "rows": [{"value": r.value, "count": r.count, "percent": str(r.percent)} for r in q.rows],
                "total": q.total,
                "sample_size": q.sample_size,
                "average": q.average_text or None,
            }
            for q in report.questions
        ],
        "summary": [{"question": text, "average": None if average is None else str(average)} for text, average in report.averages()],
    }


_TEMPLATE = """\
{%- macro annex_body(report, labels, legend) -%}
<section class="evaluation-annex" lang="{{ lang_tag }}">
  <h2 class="annex-heading">{{ labels.annex }}</h2>
  <h3 class="annex-title">{{ labels.report_title }}</h3>
  <p class="annex-activity">{{ report.activity }}</p>
  {%- if report.dated %}
  <p class="annex-date">{{ labels.date }}: {{ date_text }}</p>
  {%- endif %}
  <p class="annex-sample">{{ labels.sample_size }}: {{ report.sample_size }}</p>
  {%- for q in report.questions %}
  <div class="annex-question">
    <h4>{{ q.text }}</h4>
    <table class="annex-values">
      <thead><tr><th scope="col">{{ labels.value }}</th><th scope="col">{{ labels.percent }}</th><th scope="col">{{ labels.count }}</th></tr></thead>
      <tbody>
      {%- for row in q.rows %}
        <tr><td>{{ row.value }}</td><td>{{ row.percent_text }}</td><td>{{ row.count }}</td></tr>
      {%- else %}
        <tr><td colspan="3">{{ labels.no_answers }}</td></tr>
      {%- endfor %}
      </tbody>
      <tfoot><tr><th scope="row">{{ labels.totals }}</th><td></td><td>{{ q.total }}</td></tr></tfoot>
    </table>
    <table class="annex-average"><tr><th scope="row">{{ labels.average }}</th><td>{{ q.average_text }}</td></tr></table>
    <table class="annex-legend">
      <tr>{% for value, _ in legend %}<td>{{ value }}</td>{% endfor %}</tr>
      <tr>{% for _, text in legend %}<td>{{ text }}</td>{% endfor %}</tr>
    </table>
  </div>
  {%- endfor %}
  <div class="annex-summary">
    <h4>{{ labels.summary }}</h4>
    <table class="annex-averages">
      <thead><tr><th scope="col">{{ labels.question }}</th><th scope="col">{{ labels.answers }}</th><th scope="col">{{ labels.average }}</th></tr></thead>
      <tbody>
      {%- for q in report.questions %}
        <tr><td>{{ q.text }}</td><td>{{ q.total }}</td><td>{{ q.average_text }}</td></tr>
      {%- endfor %}
      </tbody>
    </table>
  </div>
</section>
{%- endmacro -%}
{%- if standalone -%}
<!DOCTYPE html>
<html lang="{{ lang_tag }}">
<head>
<meta charset="utf-8">
<title>{{ labels.report_title }}: {{ report.activity }}</title>
<style>{{ css }}</style>
</head>
<body>
{{ annex_body(report, labels, legend) }}
</body>
</html>
{%- else -%}
{{ annex_body(report, labels, legend) }}
{%- endif -%}
"""

#: Shared by the standalone page and, through `ANNEX_CSS`, by reports that embed the Annex.
ANNEX_CSS = """
.evaluation-annex { font-family: "Noto Sans", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", sans-serif; }
.evaluation-annex table { border-collapse: collapse; margin: 0.3em 0 0.6em 0; }
.evaluation-annex th, .evaluation-annex td { border: 1px solid #999; padding: 2px 8px; text-align: left; }
.evaluation-annex .annex-values td:nth-child(2), .evaluation-annex .annex-values td:nth-child(3) { text-align: right; }
.evaluation-annex .annex-legend td { border: none; font-size: 85%; text-align: center; padding: 0 6px; }
.evaluation-annex .annex-question { page-break-inside: avoid; margin-bottom: 1em; }
.evaluation-annex h4 { margin: 0.8em 0 0.2em 0; font-size: 100%; }
"""

_environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_template = _environment.from_string(_TEMPLATE)


def _date_text(dated: dt.date | None, lang: Language) -> str:
    if dated is None:
        return ""
    if lang == "zh":
        return f"{dated.year}年{dated.month}月{dated.day}日"
    return f"{dated.day} {dated.strftime('%B')} {dated.year}"


def render_annex_html(report: AnnexReport, *, lang: Language = "en", standalone: bool = True) -> str:
    """The Annex as HTML; `standalone=False` gives a `<section>` to embed in a larger report."""
    if lang not in LABELS:
        raise InvalidInput(T_("Unsupported report language"), fields=[FieldError(path="lang", message=T_("must be 'en' or 'zh'"))])
    return _template.render(
        report=report,
        labels=LABELS[lang],
        legend=LIKERT_LEGEND[lang],
        lang_tag="zh-Hans" if lang == "zh" else "en",
        date_text=_date_text(report.dated, lang),
        standalone=standalone,
        css=ANNEX_CSS,
    )


def render_annex_pdf(report: AnnexReport, *, lang: Language = "en") -> bytes:
    """The Annex as a PDF document (WeasyPrint)."""
    from weasyprint import HTML  # imported lazily: WeasyPrint loads Pango at import time

    pdf = HTML(string=render_annex_html(report, lang=lang, standalone=True)).write_pdf()
    assert pdf is not None  # write_pdf returns bytes when no target is given
    return pdf
