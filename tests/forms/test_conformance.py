"""Conformance of the expression evaluator with the ODK XForms function set (expected values per function).

Source of the expected values: the ODK XForms specification, "XPath Functions"
(https://getodk.github.io/xforms-spec/#xpath-functions) and XPath 1.0 sections 3-4. Each case evaluates
through the one definition in `passage.forms.xpath`; `test_plan_agrees` runs the same cases through the
generated validation plan, so entry, import and the column check cannot disagree on them.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from passage.forms.definition import load_xlsform
from passage.forms.validation import check_submission
from passage.forms.xpath import EvalContext, compile_expression, evaluate
from tests.forms.xlsform_factory import write_xlsform

TODAY = dt.date(2024, 3, 5)

CASES: list[tuple[str, dict[str, Any], Any]] = [
    # node-set and repeat functions
    ("sum(${x})", {}, 0.0),
    ("count-selected('a b c')", {}, 3.0),
    ("selected('a b', 'b')", {}, True),
    ("selected-at('a b c', 1)", {}, "b"),
    ("jr:choice-name('yes', '${q}')", {}, "Yes!"),
    # text
    ("if(1 > 2, 'a', 'b')", {}, "b"),
    ("coalesce('', 'z')", {}, "z"),
    ("concat('a', 1, true())", {}, "a1true"),
    ("join('-', 'a', 'b')", {}, "a-b"),
    ("substr('abcdef', 1, 3)", {}, "bc"),
    ("substring-before('2024-03', '-')", {}, "2024"),
    ("substring-after('2024-03', '-')", {}, "03"),
    ("string-length('你好')", {}, 2.0),
    ("normalize-space('  a   b ')", {}, "a b"),
    ("contains('abc', 'bc')", {}, True),
    ("starts-with('abc', 'ab')", {}, True),
    ("ends-with('abc', 'bc')", {}, True),
    ("regex('AB12', '^[A-Z]{2}[0-9]+$')", {}, True),
    ("translate('abc', 'abc', 'AB')", {}, "AB"),
    # dates
    ("format-date(date('2024-03-05'), '%Y/%m/%d %e %n %b %a')", {}, "2024/03/05 5 3 Mar Tue"),
    ("format-date-time(date-time('2024-03-05T14:07:09'), '%H:%M:%S %h')", {}, "14:07:09 14"),
    ("decimal-date-time('1970-01-02T12:00:00Z')", {}, 1.5),
    ("date('2024-03-05') - date('2024-03-01')", {}, 4.0),
    ("today() = date('2024-03-05')", {}, True),
    # numbers
    ("round(2.5)", {}, 3.0),
    ("round(1.2345, 2)", {}, 1.23),
    ("int(-3.7)", {}, -3.0),
    ("number('4.5')", {}, 4.5),
    ("pow(2, 10)", {}, 1024.0),
    ("log10(1000)", {}, 3.0),
    ("exp(0)", {}, 1.0),
    ("sqrt(16)", {}, 4.0),
    ("abs(-2)", {}, 2.0),
    ("floor(-1.5)", {}, -2.0),
    ("ceiling(1.2)", {}, 2.0),
    ("max(3, 9, 4)", {}, 9.0),
    ("min(3, 9, 4)", {}, 3.0),
    ("round(sin(pi() div 2), 6)", {}, 1.0),
    ("round(cos(0), 6)", {}, 1.0),
    ("round(atan2(1, 1) * 4, 6)", {}, round(math.pi, 6)),
    # misc
    ("boolean-from-string('true')", {}, True),
    ("boolean-from-string('yes')", {}, False),
    ("checklist(1, 2, true(), false(), true())", {}, True),
    ("checklist(-1, 1, true(), true())", {}, False),
    ("weighted-checklist(3, -1, true(), 2, true(), 1, false(), 5)", {}, True),
    ("digest('abc', 'SHA-256', 'hex')", {}, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("digest('abc', 'MD5')", {}, "kAFQmDzST7DWlj99KOF/cg=="),
    ("base64-decode('5L2g5aW9')", {}, "你好"),
    ("once('x')", {}, "x"),
    ("string-length(uuid())", {}, 36.0),
    ("random() < 1", {}, True),
    ("round(distance('0 0; 0 1'))", {}, 111319.0),
    ("round(area('0 0; 0 1; 1 1; 1 0') div 1000000)", {}, 12392.0),
    ("instance('yn')/root/item[name = 'yes']/label", {}, "Yes!"),
    ("count(instance('yn')/root/item[name != 'yes'])", {}, 1.0),
    ("pulldata('yn', 'label', 'name', 'no')", {}, "No"),
    ("${a} > 1 or.< 0", {"a": 3}, True),
]


def _context() -> EvalContext:
    rows = {"yn": [{"name": "yes", "label": "Yes!"}, {"name": "no", "label": "No"}]}
    return EvalContext(
        values={"a": 3}, today=TODAY, instances=lambda name: rows.get(name, []), choice_label=lambda q, v: "Yes!" if v == "yes" else v
    )


@pytest.mark.parametrize(("source", "values", "expected"), CASES, ids=[case[0] for case in CASES])
def test_function(source: str, values: dict[str, Any], expected: Any) -> None:
    context = _context()
    context.values = {**context.values, **values}  # type: ignore[misc]
    assert compile_expression(source).evaluate(context) == expected


def test_now_is_a_datetime_and_paths_name_fields() -> None:
    assert isinstance(evaluate("now()"), dt.datetime)
    context = EvalContext(values={"q": "yes", "n": 2})
    assert compile_expression("/data/group/q = 'yes'").evaluate(context) is True
    assert compile_expression("../n + 1").evaluate(context) == 3.0
    assert compile_expression("selected(current()/../q, 'yes')").evaluate(context) is True


def test_repeat_node_sets_position_and_indexed_repeat() -> None:
    top = EvalContext(values={}, repeat_counts={"people": 3}, repeat_values={"age": [10, 20, 40]})
    assert compile_expression("sum(${age})").evaluate(top) == 70.0
    assert compile_expression("max(${age})").evaluate(top) == 40.0
    assert compile_expression("count(${people})").evaluate(top) == 3.0
    assert compile_expression("count(${age})").evaluate(top) == 3.0
    assert compile_expression("indexed-repeat(${age}, ${people}, 2)").evaluate(top) == 20
    assert compile_expression("join(',', ${age})").evaluate(top) == "10,20,40"
    assert compile_expression("count-non-empty(${age})").evaluate(top) == 3.0
    inner = EvalContext(values={"age": 20}, parent=top, position=2)
    assert compile_expression("position(..)").evaluate(inner) == 2.0


SURVEY_HEADER = ["type", "name", "label", "required", "constraint", "relevant", "calculation", "choice_filter", "repeat_count"]


def _conformance_form(tmp_path: Path) -> Any:
    survey = [
        SURVEY_HEADER,
        ["select_one yn or_other", "q1", "Q1", "T", "", "", "", "", ""],
        ["integer", "n", "N", "yes", ". <= 5", "", "", "", ""],
        ["begin_repeat", "people", "People", "", "", "", "", "", "${n}"],
        ["integer", "age", "Age", "", ". >= 0", "", "", "", ""],
        ["calculate", "pos", "", "", "", "", "position(..)", "", ""],
        ["end_repeat", "", "", "", "", "", "", "", ""],
        ["calculate", "total", "", "", "", "", "sum(${age})", "", ""],
        ["calculate", "label", "", "", "", "", "instance('yn')/root/item[name=${q1}]/label", "", ""],
        ["calculate", "stamp", "", "", "", "", "format-date(today(), '%d/%m/%Y')", "", ""],
        ["integer", "check", "Check", "", ". = ${total}", "${total} > 0", "", "", ""],
        ["image", "photo", "Photo", "", "", "", "", "", ""],
        ["geotrace", "track", "Track", "", "", "", "", "", ""],
        ["range", "score", "Score", "", "", "", "", "", ""],
    ]
    choices = [["list_name", "name", "label"], ["yn", "yes", "Yes!"], ["yn", "no", "No"]]
    return load_xlsform(write_xlsform(tmp_path / "conformance.xlsx", survey, choices, [["form_id", "version"], ["conf", "1"]]))


def test_question_types_and_functions_through_the_validator(tmp_path: Path) -> None:
    form = _conformance_form(tmp_path)
    assert form.unevaluated == []
    data = {
        "q1": "other", "q1_other": "maybe", "n": "2",
        "people": [{"people/age": "30"}, {"people/age": "12"}],
        "check": "42", "photo": "1700000000.jpg", "track": "1 2; 1.5 2.5", "score": "7",
    }
    checked = check_submission(form, data, today=TODAY)
    assert checked.errors == []
    assert checked.values["total"] == 42
    assert checked.values["label"] == "Other"
    assert checked.values["stamp"] == "05/03/2024"
    assert [instance["people/pos"] for instance in checked.values["people"]] == [1, 2]
    wrong = check_submission(form, {**data, "n": "3", "check": "41", "track": "1 2; 95 0", "score": "x"}, today=TODAY)
    reasons = {(error.path, error.reason) for error in wrong.errors}
    assert ("people", "repeat_count") in reasons
    assert ("check", "constraint") in reasons
    assert ("track", "type") in reasons and ("score", "type") in reasons
    required = check_submission(form, {"n": "0"}, today=TODAY)
    assert ("q1", "required") in {(error.path, error.reason) for error in required.errors}  # `required` = T


def test_plan_agrees_with_the_tree_walk(tmp_path: Path) -> None:
    from passage.forms.validation import validator_for

    form = _conformance_form(tmp_path)
    validator = validator_for(form)
    data = {"q1": "yes", "n": "1", "people": [{"people/age": "5"}], "check": "5"}
    planned = validator.check(data, today=TODAY)
    walked = validator.check_interpreted(data, today=TODAY)
    assert planned.values == walked.values and planned.errors == walked.errors == []


def test_select_from_file_reads_csv_xml_and_geojson_attachments(tmp_path: Path) -> None:
    survey = [
        ["type", "name", "label", "choice_filter"],
        ["select_one_from_file villages.csv", "village", "Village", ""],
        ["select_one_from_file camps.xml", "camp", "Camp", ""],
        ["select_one_from_file sites.geojson", "site", "Site", ""],
    ]
    path = write_xlsform(tmp_path / "files.xlsx", survey)
    attachments = {
        "villages.csv": b"name,label,district\nv1,Village One,d1\nv2,Village Two,d2\n",
        "camps.xml": b"<root><item><name>c1</name><label>Camp One</label></item><item><name>c2</name><label>Camp Two</label></item></root>",
        "sites.geojson": (
            b'{"type": "FeatureCollection", "features": [{"type": "Feature", "id": "s1", "geometry": {"type": "Point", "coordinates": [44.1, 12.5]},'
            b' "properties": {"title": "Site One"}}]}'
        ),
    }
    form = load_xlsform(path, attachments=attachments)
    assert form.unevaluated == []
    assert check_submission(form, {"village": "v2", "camp": "c1", "site": "s1"}, today=TODAY).errors == []
    wrong = check_submission(form, {"village": "v9", "camp": "c3", "site": "s2"}, today=TODAY)
    assert {(error.path, error.reason) for error in wrong.errors} == {("village", "choice"), ("camp", "choice"), ("site", "choice")}
    without = load_xlsform(path)
    assert {entry["field"] for entry in without.unevaluated} == {"village", "camp", "site"}
    assert check_submission(without, {"village": "v9"}, today=TODAY).errors == []  # not evaluated, not refused


def test_pulldata_reads_an_attached_csv(tmp_path: Path) -> None:
    survey = [["type", "name", "label", "calculation"], ["text", "code", "Code", ""],
              ["calculate", "district", "", "pulldata('villages', 'district', 'name', ${code})"]]
    form = load_xlsform(write_xlsform(tmp_path / "pull.xlsx", survey), attachments={"villages.csv": b"name,label,district\nv1,V1,d7\n"})
    assert check_submission(form, {"code": "v1"}, today=TODAY).values["district"] == "d7"
