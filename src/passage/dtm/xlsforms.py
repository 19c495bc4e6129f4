"""The DTM questionnaires as XLSForm definitions, and the script that writes them to `dtm/data/*.xlsx`.

Regenerate the shipped files with ``python -m passage.dtm.xlsforms`` (they are committed so that a
deployment never needs this script, and the script is committed so that they are reproducible).

The forms follow the XLSForm specification (https://xlsform.org): sheets ``survey``, ``choices`` and
``settings``; labels in English and Chinese as ``label::English (en)`` and ``label::Chinese (zh)``.
Their content follows the DTM components (IOM DTM Mobility Tracking methodology): the baseline area
assessment at admin 2 or 3, the site assessment, flow monitoring counts at flow monitoring points, and
flow monitoring surveys of individuals. Field names are unique across each form's groups, so that a
submission can be read by bare field name (``idp_individuals``) as well as by group path
(``idps/idp_individuals``); `passage.dtm.rules` relies on that.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook

from passage.core.files import atomic_path
from passage.dtm import vocab
from passage.dtm.vocab import Code

DATA_DIR = Path(__file__).parent / "data"
EN = "English (en)"
ZH = "Chinese (zh)"
SURVEY_COLUMNS = (
    "type",
    "name",
    f"label::{EN}",
    f"label::{ZH}",
    f"hint::{EN}",
    f"hint::{ZH}",
    "required",
    "constraint",
    f"constraint_message::{EN}",
    f"constraint_message::{ZH}",
    "relevant",
    "calculation",
    "choice_filter",
    "appearance",
)
CHOICE_COLUMNS = ("list_name", "name", f"label::{EN}", f"label::{ZH}")
PCODE_CONSTRAINT = "regex(., '^[A-Z]{2,3}[A-Z0-9]*$')"
ISO3_CONSTRAINT = "regex(., '^[A-Z]{3}$')"
NON_NEGATIVE = ". >= 0"


@dataclass
class Form:
    """One XLSForm: survey rows, choice lists and settings."""

    form_id: str
    title_en: str
    title_zh: str
    version: str
    survey: list[dict[str, str]] = field(default_factory=list)
    choices: dict[str, tuple[Code, ...]] = field(default_factory=dict)

    def q(self, type_: str, name: str, en: str, zh: str, **extra: str) -> None:
        row = {"type": type_, "name": name, f"label::{EN}": en, f"label::{ZH}": zh}
        for key, value in extra.items():
            column = {"hint_en": f"hint::{EN}", "hint_zh": f"hint::{ZH}", "msg_en": f"constraint_message::{EN}", "msg_zh": f"constraint_message::{ZH}"}.get(key, key)
            row[column] = value
        self.survey.append(row)
        if type_.startswith(("select_one ", "select_multiple ")):
            list_name = type_.split(" ", 1)[1]
            if list_name not in self.choices:
                raise ValueError(f"choice list {list_name} not declared before use")

    def begin(self, kind: str, name: str, en: str, zh: str, **extra: str) -> None:
        self.q(f"begin_{kind}", name, en, zh, **extra)

    def end(self, kind: str) -> None:
        self.survey.append({"type": f"end_{kind}"})

    def field_names(self) -> list[str]:
        return [row["name"] for row in self.survey if row.get("name") and not row["type"].startswith(("begin_", "end_"))]


def _count(form: Form, name: str, en: str, zh: str, **extra: str) -> None:
    form.q("integer", name, en, zh, constraint=extra.pop("constraint", NON_NEGATIVE), msg_en="Must be zero or more", msg_zh="必须为零或正数", **extra)


def _location_block(form: Form, *, with_level_choice: bool) -> None:
    form.begin("group", "location", "Location", "地点")
    if with_level_choice:
        form.q("select_one assessment_level", "assessment_level", "Admin level assessed", "评估的行政级别", required="yes")
    for level in (1, 2, 3):
        relevant = "${assessment_level} = '3'" if (level == 3 and with_level_choice) else ""
        required = "yes" if level < 3 or with_level_choice else ""
        pcode_extra: dict[str, str] = {"constraint": PCODE_CONSTRAINT, "msg_en": "P-code: capital letters and digits, starting with the country code", "msg_zh": "P编码：大写字母和数字，以国家代码开头"}
        if required:
            pcode_extra["required"] = required
        if relevant:
            pcode_extra["relevant"] = relevant
        form.q("text", f"admin{level}_pcode", f"Admin {level} P-code", f"{level}级行政区P编码", **pcode_extra)
        name_extra = {"relevant": relevant} if relevant else {}
        if required:
            name_extra["required"] = required
        form.q("text", f"admin{level}_name", f"Admin {level} name", f"{level}级行政区名称", **name_extra)
    form.end("group")


def _demography_block(form: Form, name: str, en: str, zh: str, relevant: str = "") -> None:
    extra = {"relevant": relevant} if relevant else {}
    form.begin("group", name, en, zh, **extra)
    form.q("note", f"{name}_note", "Number of individuals by sex and age group", "按性别和年龄组分列的人数")
    for sex in vocab.SEXES:
        for age in vocab.AGE_GROUPS:
            _count(form, f"{sex.name}_{age.name}", f"{sex.en}, {age.en}", f"{sex.zh}，{age.zh}")
    form.q("calculate", "males", "Males", "男性", calculation=" + ".join(f"coalesce(${{m_{a.name}}}, 0)" for a in vocab.AGE_GROUPS))
    form.q("calculate", "females", "Females", "女性", calculation=" + ".join(f"coalesce(${{f_{a.name}}}, 0)" for a in vocab.AGE_GROUPS))
    form.end("group")


def baseline_form() -> Form:
    """Baseline area assessment (DTM Mobility Tracking, admin 2 or 3): IDPs and returnees in an area."""
    form = Form("dtm_baseline_assessment", "DTM baseline area assessment", "DTM基线区域评估", "2025.1")
    form.choices = {
        "assessment_level": (Code("2", "Admin 2", "2级行政区"), Code("3", "Admin 3", "3级行政区")),
        "yes_no": vocab.YES_NO,
        "reasons": vocab.DISPLACEMENT_REASONS,
        "shelter": vocab.SHELTER_TYPES,
    }
    form.q("date", "assessment_date", "Date of assessment", "评估日期", required="yes")
    _location_block(form, with_level_choice=True)
    form.q("geopoint", "gps", "Location (GPS)", "位置（GPS）")
    form.begin("group", "idps", "Internally displaced persons (IDPs)", "国内流离失所者")
    form.q("select_one yes_no", "idp_present", "Are there IDPs in this area?", "该区域是否有国内流离失所者？", required="yes")
    idp = "${idp_present} = 'yes'"
    _count(form, "idp_households", "IDP households", "国内流离失所者户数", required="yes", relevant=idp)
    _count(form, "idp_individuals", "IDP individuals", "国内流离失所者人数", required="yes", relevant=idp, constraint=". >= ${idp_households}")
    form.q("decimal", "avg_household_size", "Average IDP household size", "国内流离失所者平均户规模", relevant=idp, constraint=". > 0 and . <= 30", msg_en="Between 0 and 30", msg_zh="应在0至30之间")
    form.q("date", "idp_arrival_first", "Date the first IDPs arrived", "首批国内流离失所者到达日期", relevant=idp)
    form.q("date", "idp_arrival_last", "Date the most recent IDPs arrived", "最近一批国内流离失所者到达日期", relevant=idp, constraint=". >= ${idp_arrival_first}", msg_en="Cannot be before the first arrival", msg_zh="不得早于首批到达日期")
    form.q("text", "origin_admin1_pcode", "Main area of origin: admin 1 P-code", "主要来源地：1级行政区P编码", relevant=idp, constraint=PCODE_CONSTRAINT)
    form.q("text", "origin_admin2_pcode", "Main area of origin: admin 2 P-code", "主要来源地：2级行政区P编码", relevant=idp, constraint=PCODE_CONSTRAINT)
    form.q("select_multiple reasons", "displacement_reasons", "Reasons for displacement (select all that apply)", "流离失所原因（可多选）", required="yes", relevant=idp)
    form.q("select_multiple shelter", "shelter_types", "Shelter types used by IDPs (select all)", "国内流离失所者使用的住所类型（可多选）", relevant=idp)
    form.q("select_one shelter", "main_shelter", "Main shelter type", "主要住所类型", relevant=idp, choice_filter="selected(${shelter_types}, name)")
    form.end("group")
    _demography_block(form, "idp_demography", "IDPs by sex and age", "按性别和年龄分列的国内流离失所者", relevant=idp)
    form.begin("group", "returnees", "Returnees", "返回者")
    form.q("select_one yes_no", "returnees_present", "Are there returnees in this area?", "该区域是否有返回者？", required="yes")
    ret = "${returnees_present} = 'yes'"
    _count(form, "returnee_households", "Returnee households", "返回者户数", required="yes", relevant=ret)
    _count(form, "returnee_individuals", "Returnee individuals", "返回者人数", required="yes", relevant=ret, constraint=". >= ${returnee_households}")
    form.q("date", "returnee_arrival_first", "Date the first returnees arrived", "首批返回者到达日期", relevant=ret)
    form.q("date", "returnee_arrival_last", "Date the most recent returnees arrived", "最近一批返回者到达日期", relevant=ret, constraint=". >= ${returnee_arrival_first}")
    form.end("group")
    return form


def site_form() -> Form:
    """Site assessment: a displacement site, its management, population, needs and services by MCOF sector, access."""
    form = Form("dtm_site_assessment", "DTM site assessment", "DTM站点评估", "2025.1")
    form.choices = {
        "yes_no": vocab.YES_NO,
        "site_type": vocab.SITE_TYPES,
        "classification": (Code("planned", "Planned", "规划的"), Code("spontaneous", "Spontaneous", "自发的")),
        "agency": vocab.MANAGEMENT_AGENCIES,
        "sector": vocab.MCOF_SECTORS,
        "service_level": vocab.SERVICE_LEVELS,
        "access": vocab.ACCESS_LEVELS,
        "access_constraint": vocab.ACCESS_CONSTRAINTS,
    }
    form.q("date", "assessment_date", "Date of assessment", "评估日期", required="yes")
    form.q("text", "site_id", "Site ID (from the master list)", "站点编号（来自主清单）", required="yes", constraint="regex(., '^[A-Za-z0-9_-]{2,64}$')", msg_en="Letters, digits, - and _ only", msg_zh="仅限字母、数字、-和_")
    form.q("text", "site_name", "Site name", "站点名称", required="yes")
    _location_block(form, with_level_choice=False)
    form.q("geopoint", "gps", "Site location (GPS)", "站点位置（GPS）", required="yes")
    form.begin("group", "site_profile", "Site type and management", "站点类型和管理")
    form.q("select_one site_type", "site_type", "Site type", "站点类型", required="yes")
    form.q("select_one classification", "site_classification", "Planned or spontaneous", "规划的或自发的", required="yes")
    form.q("select_one yes_no", "site_management", "Is there a site management agency?", "是否有站点管理机构？", required="yes")
    form.q("select_one agency", "management_agency", "Type of management agency", "管理机构类型", required="yes", relevant="${site_management} = 'yes'")
    form.end("group")
    form.begin("group", "population", "Population", "人口")
    _count(form, "idp_households", "Households on site", "站点户数", required="yes")
    _count(form, "idp_individuals", "Individuals on site", "站点人数", required="yes", constraint=". >= ${idp_households}")
    form.q("decimal", "avg_household_size", "Average household size", "平均户规模", constraint=". > 0 and . <= 30")
    form.end("group")
    _demography_block(form, "site_demography", "Site population by sex and age", "按性别和年龄分列的站点人口")
    form.begin("group", "needs", "Needs by sector (MCOF)", "按部门分列的需求（MCOF）")
    form.q("select_multiple sector", "priority_needs", "Top three priority needs", "三项最优先需求", required="yes", constraint="count-selected(.) <= 3", msg_en="Select at most three", msg_zh="最多选择三项")
    form.end("group")
    form.begin("group", "services", "Services by sector (MCOF)", "按部门分列的服务（MCOF）")
    for sector in vocab.MCOF_SECTORS:
        form.q("select_one service_level", f"service_{sector.name}", sector.en, sector.zh, required="yes")
    form.end("group")
    form.begin("group", "access", "Access", "可达性")
    form.q("select_one access", "site_access", "Can humanitarian actors reach the site?", "人道主义行动者能否到达该站点？", required="yes")
    form.q("select_multiple access_constraint", "access_constraints", "Access constraints", "可达性限制", required="yes", relevant="${site_access} != 'full'")
    form.end("group")
    return form


def flow_monitoring_form() -> Form:
    """Flow monitoring counts at a flow monitoring point, by direction, nationality, transport, sex and age."""
    form = Form("dtm_flow_monitoring", "DTM flow monitoring", "DTM流动监测", "2025.1")
    form.choices = {"fmp_type": vocab.FLOW_POINT_TYPES, "direction": vocab.DIRECTIONS, "transport": vocab.TRANSPORT_MODES}
    form.q("text", "fmp_id", "Flow monitoring point ID", "流动监测点编号", required="yes", constraint="regex(., '^[A-Za-z0-9_-]{2,64}$')")
    form.q("text", "fmp_name", "Flow monitoring point name", "流动监测点名称", required="yes")
    form.q("select_one fmp_type", "fmp_type", "Type of point", "监测点类型", required="yes")
    form.q("text", "admin1_pcode", "Admin 1 P-code", "1级行政区P编码", required="yes", constraint=PCODE_CONSTRAINT)
    form.q("text", "admin2_pcode", "Admin 2 P-code", "2级行政区P编码", required="yes", constraint=PCODE_CONSTRAINT)
    form.q("geopoint", "gps", "Point location (GPS)", "监测点位置（GPS）", required="yes")
    form.q("date", "observation_date", "Date of observation", "观察日期", required="yes")
    form.begin("repeat", "flows", "Flow count", "流量计数")
    form.q("select_one direction", "direction", "Direction", "方向", required="yes")
    form.q("text", "nationality", "Nationality (ISO 3166-1 alpha-3)", "国籍（ISO 3166-1三字母代码）", required="yes", constraint=ISO3_CONSTRAINT, msg_en="Three capital letters", msg_zh="三个大写字母")
    form.q("select_one transport", "transport_mode", "Mode of transport", "交通方式", required="yes")
    _count(form, "adult_males", "Adult men", "成年男性", required="yes")
    _count(form, "adult_females", "Adult women", "成年女性", required="yes")
    _count(form, "boys", "Boys (under 18)", "男童（18岁以下）", required="yes")
    _count(form, "girls", "Girls (under 18)", "女童（18岁以下）", required="yes")
    form.q(
        "integer",
        "flow_total",
        "Total persons",
        "总人数",
        required="yes",
        constraint=". = ${adult_males} + ${adult_females} + ${boys} + ${girls}",
        msg_en="Must equal men + women + boys + girls",
        msg_zh="必须等于男性、女性、男童和女童之和",
    )
    form.end("repeat")
    return form


def flow_survey_form() -> Form:
    """Flow monitoring survey of individuals (adults, with consent) at a flow monitoring point. No names are asked."""
    form = Form("dtm_flow_monitoring_survey", "DTM flow monitoring survey", "DTM流动监测个人调查", "2025.1")
    form.choices = {"yes_no": vocab.YES_NO, "sex": vocab.SEXES, "transport": vocab.TRANSPORT_MODES, "movement_reason": vocab.MOVEMENT_REASONS, "vulnerability": vocab.VULNERABILITIES}
    form.q("text", "fmp_id", "Flow monitoring point ID", "流动监测点编号", required="yes", constraint="regex(., '^[A-Za-z0-9_-]{2,64}$')")
    form.q("date", "survey_date", "Date of interview", "访谈日期", required="yes")
    form.q("select_one yes_no", "consent", "Does the respondent consent to the interview?", "受访者是否同意接受访谈？", required="yes")
    ok = "${consent} = 'yes'"
    form.begin("group", "respondent", "Respondent", "受访者", relevant=ok)
    form.q("select_one sex", "respondent_sex", "Sex", "性别", required="yes")
    form.q("integer", "respondent_age", "Age in years", "年龄（岁）", required="yes", constraint=". >= 18 and . <= 110", msg_en="Adults only (18 to 110)", msg_zh="仅限成年人（18至110岁）")
    form.q("text", "nationality", "Nationality (ISO 3166-1 alpha-3)", "国籍（ISO 3166-1三字母代码）", required="yes", constraint=ISO3_CONSTRAINT)
    form.end("group")
    form.begin("group", "journey", "Journey", "行程", relevant=ok)
    form.q("text", "departure_country", "Country of departure (alpha-3)", "出发国（三字母代码）", required="yes", constraint=ISO3_CONSTRAINT)
    form.q("text", "departure_admin1_pcode", "Area of departure: admin 1 P-code", "出发地：1级行政区P编码", constraint=PCODE_CONSTRAINT)
    form.q("text", "destination_country", "Intended country of destination (alpha-3)", "计划目的国（三字母代码）", required="yes", constraint=ISO3_CONSTRAINT)
    form.q("select_multiple movement_reason", "movement_reasons", "Reasons for the journey (select all)", "出行原因（可多选）", required="yes")
    form.q("select_one transport", "transport_mode", "Main mode of transport", "主要交通方式", required="yes")
    form.q("select_one yes_no", "travelling_in_group", "Travelling in a group?", "是否结伴出行？", required="yes")
    form.q("integer", "group_size", "Group size including the respondent", "同行人数（含受访者）", relevant="${travelling_in_group} = 'yes'", constraint=". >= 2 and . <= 200")
    form.q("select_multiple vulnerability", "vulnerabilities", "Vulnerabilities in the group (select all)", "同行人员的脆弱情况（可多选）")
    form.end("group")
    return form


ALL_FORMS = (baseline_form, site_form, flow_monitoring_form, flow_survey_form)


def write_form(form: Form, path: Path) -> None:
    """Write `form` as an XLSForm workbook, atomically."""
    workbook = Workbook()
    survey = workbook.active
    assert survey is not None
    survey.title = "survey"
    survey.append(list(SURVEY_COLUMNS))
    for row in form.survey:
        survey.append([row.get(column, "") for column in SURVEY_COLUMNS])
    choices = workbook.create_sheet("choices")
    choices.append(list(CHOICE_COLUMNS))
    for list_name, values in form.choices.items():
        for code in values:
            choices.append([list_name, code.name, code.en, code.zh])
    settings = workbook.create_sheet("settings")
    settings.append(["form_title", f"passage_title::{ZH}", "form_id", "version", "default_language"])
    settings.append([form.title_en, form.title_zh, form.form_id, form.version, EN])
    with atomic_path(path) as tmp:
        workbook.save(tmp)


def shipped_path(form: Form) -> Path:
    return DATA_DIR / f"{form.form_id}.xlsx"


def write_all(directory: Path = DATA_DIR, forms: Iterable[Form] | None = None) -> list[Path]:
    """Write every DTM form to `directory`; returns the paths written."""
    written = []
    for form in forms or [make() for make in ALL_FORMS]:
        path = directory / f"{form.form_id}.xlsx"
        write_form(form, path)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA_DIR
    for written_path in write_all(target):
        print(written_path)
