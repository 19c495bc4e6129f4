"""Demo records: a small site-check form owned by IOM China, two web submissions and a quarantined import row."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy.orm import Session

from passage.forms import service

SURVEY = [
    ["type", "name", "label::English (en)", "label::Chinese (zh)", "required", "constraint", "constraint_message::English (en)", "constraint_message::Chinese (zh)", "relevant", "choice_filter"],
    ["text", "site_name", "Site name", "站点名称", "yes", "string-length(.) <= 60", "At most 60 characters", "最多 60 个字符", "", ""],
    ["select_one province", "province", "Province", "省份", "yes", "", "", "", "", ""],
    ["select_one county", "county", "County", "县", "yes", "", "", "", "", "province=${province}"],
    ["date", "visit_date", "Date of visit", "访问日期", "yes", ". <= today()", "Not in the future", "不能晚于今天", "", ""],
    ["geopoint", "location", "Location", "位置", "", "", "", "", "", ""],
    ["integer", "households", "Households", "户数", "yes", ". >= 0 and . <= 5000", "Between 0 and 5000", "0 到 5000 之间", "", ""],
    ["text", "manager", "Site manager", "站点负责人", "", "", "", "", "${households} > 100", ""],
]
CHOICES = [
    ["list_name", "name", "label::English (en)", "label::Chinese (zh)", "province"],
    ["province", "fj", "Fujian", "福建", ""], ["province", "zj", "Zhejiang", "浙江", ""],
    ["county", "fq", "Fuqing", "福清", "fj"], ["county", "ch", "Changle", "长乐", "fj"], ["county", "wz", "Wenzhou", "温州", "zj"],
]
SETTINGS = [["form_title", "passage_title::Chinese (zh)", "form_id", "version", "default_language"],
            ["Site check (demo)", "现场核查（演示）", "demo_site_check", "1", "English (en)"]]


def _workbook(path: Path) -> bytes:
    book = openpyxl.Workbook()
    sheets = [book.active, book.create_sheet("choices"), book.create_sheet("settings")]
    for sheet, title, rows in zip(sheets, ("survey", "choices", "settings"), (SURVEY, CHOICES, SETTINGS), strict=True):
        assert sheet is not None
        sheet.title = title
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path.read_bytes()


def load_demo_records(session: Session, *, context: Any) -> list[str]:
    analyst = context.users["analyst"]
    caseworker = context.users["iom_caseworker"]
    with tempfile.TemporaryDirectory() as directory:
        content = _workbook(Path(directory) / "demo_site_check.xlsx")
        result = service.load_form(session, actor=analyst, content=content, filename="demo_site_check.xlsx")
        form_id = result.form.id
        service.submit_entry(session, actor=caseworker, form_ref=form_id, data={
            "site_name": "Fuqing transit centre", "province": "fj", "county": "fq", "visit_date": "2026-03-02",
            "location": "25.72 119.38", "households": "40"})
        export = Path(directory) / "demo_export.csv"
        with export.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["_uuid", "_submission_time", "site_name", "province", "county", "visit_date", "location", "households", "manager"])
            writer.writerow(["demo-0001", "2026-03-03T09:00:00Z", "Changle host community", "fj", "ch", "2026-03-03", "", "12", ""])
            writer.writerow(["demo-0002", "2026-03-04T09:00:00Z", "Wenzhou site", "zj", "fq", "2026-03-04", "", "250", "Site office"])
        report = service.import_export(session, actor=analyst, form_ref=form_id, path=export)
    return [f"forms: 1 form, {report.accepted + 1} submissions, {report.quarantined} row in quarantine"]
