"""The column-wise validity proof must give exactly the per-row plan's outcome: same rows accepted, same
stored values, same quarantined rows with the same row numbers, fields, reasons and messages."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from passage.core.db import unit_of_work
from passage.forms import columns, import_check, service
from passage.forms.definition import load_xlsform
from passage.forms.exports import columnar_export, read_export
from passage.forms.models import QuarantineEntry, Submission
from passage.forms.validation import validator_for
from passage.security.actors import system_actor
from tests.forms.xlsform_factory import write_csv, write_xlsform

SYSTEM = system_actor("forms.test")

TODAY = dt.date(2024, 6, 1)
H = ["type", "name", "label::English (en)", "required", "constraint", "relevant", "choice_filter", "read_only"]
SURVEY = [
    H,
    ["text", "site_id", "Site", "yes", "regex(., '^S[0-9]{3}$')", "", "", ""],
    ["text", "code", "Optional code", "", "regex(., '^[A-Z]+$')", "", "", ""],
    ["select_one admin1", "admin1", "Admin 1", "yes", "", "", "", ""],
    ["select_one admin2", "admin2", "Admin 2", "yes", "", "", "admin1=${admin1}", ""],
    ["date", "assessed", "Date", "yes", ". <= today()", "", "", ""],
    ["geopoint", "gps", "GPS", "", "", "", "", ""],
    ["begin_group", "pop", "Population", "", "", "", "", ""],
    ["integer", "hh", "Households", "yes", ". >= 0", "", "", ""],
    ["integer", "ind", "Individuals", "yes", ". >= ${hh}", "", "", ""],
    ["integer", "male", "Male", "${hh} > 0", ". >= 0 and . <= ${ind}", "", "", ""],
    ["end_group", "", "", "", "", "", "", ""],
    ["select_multiple needs", "needs", "Needs", "yes", "not(selected(., 'none') and count-selected(.) > 1)", "", "", ""],
    ["text", "needs_other", "Other", "yes", "", "selected(${needs}, 'other')", "", ""],
    ["decimal", "water", "Water", "", ". >= 0 and . < 200", "${hh} > 0", "", ""],
    ["text", "note_ro", "Read only", "yes", "", "", "", "yes"],
    ["begin_group", "extra", "Extra", "", "", "${hh} > 5", "", ""],
    ["decimal", "share", "Share", "yes", ". * 2 <= 1 or . = 1", "", "", ""],
    ["end_group", "", "", "", "", "", "", ""],
]
CHOICES = [["list_name", "name", "label::English (en)", "admin1"]]
CHOICES += [["admin1", f"A{i}", f"A{i}", ""] for i in range(3)]
CHOICES += [["admin2", f"A{i}B{j}", f"B{j}", f"A{i}"] for i in range(3) for j in range(3)]
CHOICES += [["needs", n, n, ""] for n in ("food", "water", "shelter", "other", "none")]
SETTINGS = [["form_title", "form_id", "version"], ["Column check", "column_check", "1"]]
HEADER = ["_uuid", "_submission_time", "site_id", "code", "admin1", "admin2", "assessed", "gps", "pop/hh", "pop/ind", "pop/male",
          "needs", "needs_other", "water", "note_ro", "extra/share"]

EDGE = {
    "site_id": ["S001", " S002 ", "", "S01", "s003", "S0001", "S\u0661\u0662\u0663"],
    "code": ["", "ABC", "abc", " XYZ ", "A1"],
    "admin1": ["A0", "A1", "A2", "A9", "", " A1 "],
    "admin2": ["A0B0", "A1B2", "A2B1", "A0B9", "", "A1B1"],
    "assessed": ["2024-03-01", "2024-02-30", "2024-13-01", "20240101", "2024-W01-1", "2025-01-01", "", "2024-06-01", "2024-05-31T00:00:00",
                 "2024-05-31 10:00", " 2024-01-02 "],
    "gps": ["", "12.5 44.1", "12.5,44.1", "12.5 44.1 0 5", "91 10", "10 181", "1e1 2e1", "abc", "-3.12345 25.54321", "0 0", "12.5 44.1 0 -1",
            "45 90.000", "1 2 3 4 5", "nan 1", " -1.5  2.5 "],
    "pop/hh": ["0", "3", "10", "", "+5", "5.0", "1e1", "007", "99999999999", "-1", "x", "\u0663"],
    "pop/ind": ["0", "5", "30", "60", "", "2", "12,5"],
    "pop/male": ["", "0", "2", "7", "40", "-3"],
    "needs": ["food", "food water", "none", "none food", "other", "water  other", "", "bogus", " shelter "],
    "needs_other": ["", "tents", " "],
    "water": ["", "12.5", "12,5", "0", "199.99", "200", "-1", ".5", "5.", "1e2", "inf", "nan", "3"],
    "note_ro": ["", "x"],
    "extra/share": ["", "0.5", "1", "0.7", "x"],
}


def _rows(count: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    rows: list[list[str]] = []
    for n in range(count):
        valid = rng.random() < 0.5
        a1 = rng.randrange(3)
        hh = rng.randrange(0, 12)
        ind = hh * rng.randrange(1, 4)
        needs = " ".join(rng.sample(["food", "water", "shelter", "other"], rng.randrange(1, 3)))
        row = {
            "_uuid": f"u{n}" if rng.random() > 0.02 else "", "_submission_time": rng.choice(["2024-05-01T10:00:00", "2024-05-02T11:30:00Z", "", "bad"]),
            "site_id": f"S{n % 1000:03d}", "code": rng.choice(["", "ABC"]), "admin1": f"A{a1}", "admin2": f"A{a1}B{rng.randrange(3)}",
            "assessed": f"2024-0{rng.randrange(1, 6)}-1{rng.randrange(0, 9)}", "gps": f"{rng.uniform(-90, 90):.5f} {rng.uniform(-180, 180):.6f}",
            "pop/hh": str(hh), "pop/ind": str(ind), "pop/male": str(rng.randrange(0, ind + 1)) if hh > 0 else "",
            "needs": needs, "needs_other": "tents" if "other" in needs else "", "water": f"{rng.uniform(0, 100):.2f}" if hh > 0 else "",
            "note_ro": "", "extra/share": rng.choice(["0.25", "0.5", "1"]) if hh > 5 else "",
        }
        if not valid:
            for _ in range(rng.randrange(1, 3)):
                name = rng.choice(list(EDGE))
                row[name] = rng.choice(EDGE[name])
        rows.append([row[h] for h in HEADER])
    return rows


@pytest.fixture
def column_form(tmp_path: Path) -> Path:
    return write_xlsform(tmp_path / "column_check.xlsx", SURVEY, CHOICES, SETTINGS)


def test_column_check_proves_exactly_the_rows_the_plan_accepts(column_form: Path, tmp_path: Path) -> None:
    form = load_xlsform(column_form.read_bytes(), filename=column_form.name)
    validator = validator_for(form)
    check = columns.ColumnCheck(validator)
    assert check.supported
    path = write_csv(tmp_path / "mixed.csv", HEADER, _rows(3000, seed=11))
    export = columnar_export(form, read_export(path, strip=False))
    assert export is not None
    proven = check.check({field: export.column(field) for field in export.fields}, len(export), TODAY)
    plan_valid = 0
    for index, text in enumerate(proven):
        checked = validator.check(export.data(index), today=TODAY)
        values, errors = checked.values, checked.errors
        if not errors:
            plan_valid += 1
        if text is not None:
            assert errors == [], (index, errors)
            assert text == json.dumps(values, ensure_ascii=False, sort_keys=True, default=str)
    proven_count = sum(text is not None for text in proven)
    assert 1000 < plan_valid and proven_count == plan_valid  # every valid row proven here, none wrongly


def test_unsupported_forms_leave_every_row_to_the_plan(tmp_path: Path) -> None:
    from tests.forms.xlsform_factory import CHOICES as SITE_CHOICES
    from tests.forms.xlsform_factory import SETTINGS as SITE_SETTINGS
    from tests.forms.xlsform_factory import SURVEY as SITE_SURVEY

    form = load_xlsform(write_xlsform(tmp_path / "site.xlsx", SITE_SURVEY, SITE_CHOICES, SITE_SETTINGS).read_bytes(), filename="site.xlsx")
    check = columns.ColumnCheck(validator_for(form))  # repeats and calculations
    assert not check.supported
    assert check.check({"site_name": ["Camp A"]}, 1, TODAY) == [None]


def _outcome(engine: Engine, form_path: Path, csv_path: Path, *, workers: int) -> dict[str, Any]:
    with unit_of_work(engine) as session:
        service.load_form(session, actor=SYSTEM, content=form_path.read_bytes(), filename=form_path.name)
    with unit_of_work(engine) as session:
        first = service.import_export(session, actor=SYSTEM, form_ref="column_check", path=csv_path, today=TODAY, workers=workers)
    with unit_of_work(engine) as session:
        again = service.import_export(session, actor=SYSTEM, form_ref="column_check", path=csv_path, today=TODAY, workers=workers)
    with unit_of_work(engine) as session:
        stored = {s.uuid: (s.data, s.source_row, s.submission_time, s.data_digest is not None) for s in session.scalars(select(Submission))}
        quarantined = sorted(
            (e.row_number, e.uuid, e.field, e.reason, json.dumps(e.errors), json.dumps(e.data, sort_keys=True), e.status.value)
            for e in session.scalars(select(QuarantineEntry))
        )
    return {
        "first": (first.rows_read, first.accepted, first.quarantined, first.duplicates, first.quarantined_by_reason),
        "again": (again.rows_read, again.accepted, again.quarantined, again.duplicates, again.quarantined_by_reason),
        "stored": stored,
        "quarantined": quarantined,
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_import_with_and_without_column_check_is_identical(
    any_store: Engine, column_form: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    from passage.core.db import dispose_engines

    monkeypatch.setattr(import_check, "PARALLEL_MIN_ROWS", 100)
    monkeypatch.setattr(import_check, "WORKER_CHUNK", 97)
    rows = _rows(1200, seed=5)
    rows.append(list(rows[3]))  # the same uuid again with the same data: a duplicate inside the file
    changed = list(rows[4])
    changed[HEADER.index("code")] = "ZZ"
    rows.append(changed)  # the same uuid with other data: a conflict inside the file
    csv_path = write_csv(tmp_path / "mixed.csv", HEADER, rows)
    fast = _outcome(any_store, column_form, csv_path, workers=workers)
    with unit_of_work(any_store) as session:
        for model in (QuarantineEntry, Submission):
            session.execute(model.__table__.delete())
    dispose_engines()

    class PlanOnly(columns.ColumnCheck):
        def __init__(self, validator: Any) -> None:
            super().__init__(validator)
            self.supported = False

    monkeypatch.setattr(import_check, "column_check_for", PlanOnly)
    slow = _outcome(any_store, column_form, csv_path, workers=workers)
    assert fast["first"] == slow["first"] and fast["again"] == slow["again"]
    assert fast["quarantined"] == slow["quarantined"]
    assert {uuid: value[:3] for uuid, value in fast["stored"].items()} == {uuid: value[:3] for uuid, value in slow["stored"].items()}
    assert all(has_digest for *_, has_digest in fast["stored"].values())
    accepted, quarantined = fast["first"][1], fast["first"][2]
    assert accepted > 400 and quarantined > 400  # a real mix
    missing_uuid = sum(1 for row in rows if not row[0])
    # Re-import: all duplicates, except rows without uuid and the in-file conflict (valid, but not what is stored).
    assert fast["again"][1:4] == (0, missing_uuid + 1, len(rows) - missing_uuid - 1)


def _csv_module_rows(text: str) -> list[tuple[int, list[str]]]:
    """The records the csv module reads, with read_csv_table's skipping of blank lines (the reference)."""
    import csv
    import io

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    rows = []
    for values in reader:
        if not values or (len(values) == 1 and not values[0].strip()):
            if len(values) != len(header) or len(header) == 1:
                continue
        rows.append((reader.line_num, [value.strip() for value in values]))
    return rows


@pytest.mark.parametrize("text", [
    "a,b\n1,2\n3,4\n",
    "a,b\r\n1,2\r\n\r\n3, 4 \r\n",
    "a,b\n1,2\n\n\n3,4",
    "a,b\n ,\n1,\n,2\n",
    "a\n1\n\n \n2\n",
    "a,b\n1,2\u00a0\n\u2028x,y\n",
])
def test_quote_free_csv_split_reads_what_the_csv_module_reads(tmp_path: Path, text: str) -> None:
    from passage.core.files import _plain_lines, read_csv_table

    assert _plain_lines(text) is not None  # these texts take the split path
    path = tmp_path / "plain.csv"
    path.write_text(text, encoding="utf-8", newline="")
    assert read_csv_table(path, required=[])[1] == _csv_module_rows(text)


def test_a_rule_changed_in_the_semantics_table_changes_interpreter_plan_and_column_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One definition: `<=` and `selected()` rewritten in `xpath.OPERATORS`/`xpath.FUNCTIONS` alone change
    what the tree walk, the generated plan and the column-wise check all decide."""
    from passage.forms import xpath
    from passage.forms.validation import FormValidator

    survey = [
        ["type", "name", "label", "constraint", "relevant"],
        ["integer", "n", "N", ". <= 5", ""],
        ["select_multiple needs", "needs", "Needs", "", ""],
        ["text", "other", "Other", "", "selected(${needs}, 'other')"],
    ]
    choices = [["list_name", "name", "label"], ["needs", "food", "Food"], ["needs", "other", "Other"]]
    path = write_xlsform(tmp_path / "rules.xlsx", survey, choices, [["form_id", "version"], ["rules", "1"]])
    rows = [{"n": "5", "needs": "other", "other": "x"}, {"n": "4", "needs": "food", "other": ""}] * 40

    def decisions() -> tuple[list[bool], list[bool], list[bool]]:
        validator = FormValidator(load_xlsform(path.read_bytes(), filename=path.name))  # compiled afresh from the table
        interpreted = [not validator.check_interpreted(row, today=TODAY).errors for row in rows]
        planned = [not validator.check(row, today=TODAY).errors for row in rows]
        cells = {name: [row[name] for row in rows] for name in ("n", "needs", "other")}
        proven = [text is not None for text in columns.ColumnCheck(validator).check(cells, len(rows), TODAY)]
        return interpreted, planned, proven

    assert decisions() == ([True, True] * 40,) * 3
    monkeypatch.setitem(xpath.OPERATORS, "<=", xpath.Rule(("number", "number"), "bool", "({0} < {1})", vector="({0} < {1})"))
    assert decisions() == ([False, True] * 40,) * 3  # 5 <= 5 is now false everywhere
    monkeypatch.setitem(xpath.FUNCTIONS, "selected", xpath.Rule(("string", "string"), "bool", "({1} not in {0}.split())"))
    # now `other` is relevant only when 'other' is not picked: row 1 answers an irrelevant question, row 2 lacks nothing
    interpreted, planned, proven = decisions()
    assert interpreted == planned == proven == [False, True] * 40
