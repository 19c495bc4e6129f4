"""DTM round reports: an HTML page and its PDF (WeasyPrint), in English or Chinese.

The report follows the shape of a DTM Mobility Tracking round report (IOM DTM round reports: key
figures, figures per admin area with the change since the previous round, sex and age pyramid as a
table, reasons for displacement, and a data-quality note). The template names the font stack
"Noto Sans CJK SC" first; Chinese renders only when a CJK font is installed (Debian `fonts-noto-cjk`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from passage.core import i18n
from passage.core.errors import InvalidInput
from passage.core.files import atomic_output
from passage.core.i18n import T_
from passage.dtm import vocab
from passage.dtm.aggregate import COUNT_FIELDS, AggregateRow, ensure_single_level, reason_totals

TEMPLATES = Path(__file__).parent / "templates"

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Displacement tracking round report", "round": "round", "round_suffix": "", "reporting_date": "Reporting date", "level": "Admin level",
        "assessment": "Assessment", "idps": "IDP individuals", "idp_households": "IDP households", "returnees": "Returnee individuals",
        "change": "Change in IDPs since previous round", "by_area": "Figures by area", "pcode": "P-code", "area": "Area",
        "locations": "Locations", "issues": "Rows with issues", "sex_age": "IDPs by sex and age", "age_group": "Age group",
        "male": "Male", "female": "Female", "reasons": "Reasons for displacement", "reason": "Reason",
        "quality": "Data quality: consistency checks", "check": "Check", "rows": "Rows",
        "note": "Reasons are multi-select: a location may cite several. Sex and age figures cover only areas where every location gave a full breakdown.",
        "withheld": "withheld",
        "disclosure": "Counts of {threshold} or fewer, and the counts that would let a reader work them out, are withheld.",
    },
    "zh": {
        "title": "流离失所跟踪轮次报告", "round": "第", "round_suffix": "轮", "reporting_date": "报告日期", "level": "行政级别",
        "assessment": "评估类型", "idps": "国内流离失所者人数", "idp_households": "国内流离失所者户数", "returnees": "返回者人数",
        "change": "与上一轮相比的变化", "by_area": "按地区分列的数据", "pcode": "P编码", "area": "地区",
        "locations": "地点数", "issues": "有问题的行", "sex_age": "按性别和年龄分列的国内流离失所者", "age_group": "年龄组",
        "male": "男", "female": "女", "reasons": "流离失所原因", "reason": "原因",
        "quality": "数据质量：一致性检查", "check": "检查", "rows": "行数",
        "note": "原因为多选：一个地点可报告多个原因。性别和年龄数据仅涵盖所有地点均提供完整分类的地区。",
        "withheld": "已隐去",
        "disclosure": "不公布 {threshold} 及以下的数字，以及可据以推算出这些数字的其他数字。",
    },
}


@dataclass
class RoundReport:
    operation: str
    round_number: int
    reporting_date: dt.date
    level: int
    assessment_type: str
    rows: list[AggregateRow]
    total_idps: int | None = 0
    total_idp_households: int | None = 0
    total_returnees: int | None = 0
    total_change: int | None = None
    sex_age: list[tuple[str, int | None, int | None]] = field(default_factory=list)
    threshold: int | None = None
    """The disclosure-control threshold the figures were published under (None: raw figures, never published)."""
    reasons: list[tuple[str, int]] = field(default_factory=list)
    issue_counts: list[tuple[str, int]] = field(default_factory=list)


def build_report(rows: Iterable[AggregateRow], *, level: int, operation: str, round_number: int, reporting_date: dt.date, assessment_type: str = "baseline", issue_counts: Mapping[str, int] | None = None, language: str = "en",
                 totals: Mapping[str, int | None] | None = None, threshold: int | None = None) -> RoundReport:
    """Collect the figures of one level's table into a report model.

    A published report passes the level's rows and `totals` of a `passage.dtm.publication.Publication`
    (withheld figures are None and print as "withheld"); without `totals`, totals are summed from the rows
    and are None wherever a row's figure is."""
    if language not in LABELS:
        raise InvalidInput(T_("language must be en or zh"))
    table = ensure_single_level(rows, level)
    report = RoundReport(operation, round_number, reporting_date, level, assessment_type, table, threshold=threshold)

    def total(name: str) -> int | None:
        if totals is not None:
            return totals.get(name, 0 if not table else None)
        values = [getattr(r, name) if name in COUNT_FIELDS else r.breakdown.get(name) for r in table]
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    report.total_idps = total("idp_individuals")
    report.total_idp_households = total("idp_households")
    report.total_returnees = total("returnee_individuals")
    changes = [r.idp_change for r in table]
    if table and all(c is not None for c in changes):
        report.total_change = sum(c for c in changes if c is not None)
    if table and all(r.breakdown for r in table):
        for age in vocab.AGE_GROUPS:
            label = age.zh if language == "zh" else age.en
            report.sex_age.append((label, total(f"m_{age.name}"), total(f"f_{age.name}")))
    labels = {c.name: (c.zh if language == "zh" else c.en) for c in vocab.DISPLACEMENT_REASONS}
    report.reasons = [(labels.get(reason, reason), count) for reason, count in reason_totals(table).most_common()]
    report.issue_counts = sorted((issue_counts or {}).items())
    return report


def render_html(report: RoundReport, *, language: str = "en") -> str:
    """The report's HTML; every generated word (check names, the assessment type, the operation's country) and every
    number and date is written in the report's language (`en` or `zh`)."""
    from passage.dtm import messages

    locale = "zh_Hans" if language == "zh" else "en"
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    labels = LABELS[language]
    environment.filters.update(
        number=lambda value: i18n.format_number(value, locale=locale),
        date=lambda value: i18n.format_date(value, locale=locale),
        check=lambda code: i18n.label("dtm.check", code, locale=locale),
        component=lambda code: i18n.label("dtm.component", code, locale=locale),
    )

    def number(value: int | None, signed: bool = False) -> str:
        """A published count in the report's language; a count withheld by disclosure control says so."""
        if value is None:
            return labels["withheld"]
        shown = i18n.format_number(value, locale=locale)
        return ("+" + shown) if signed and value > 0 else shown

    return environment.get_template("dtm/round_report.html").render(
        report=report, t=labels, language=language, n=number,
        operation=messages.country_name(report.operation, locale=locale))


def write_pdf(report: RoundReport, path: str | Path, *, language: str = "en") -> int:
    """Render the report to PDF atomically; returns the number of pages."""
    from weasyprint import HTML

    document = HTML(string=render_html(report, language=language), base_url=str(TEMPLATES)).render()
    with atomic_output(path, mode="wb") as handle:
        document.write_pdf(handle)
    return len(document.pages)
