from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from passage.core.errors import InvalidInput
from passage.forms.definition import FormDefinition, load_xlsform
from tests.forms.xlsform_factory import CHOICES, HEADER, SETTINGS, SURVEY, write_xlsform


def test_loads_core_types_groups_repeats_and_languages(site_form_path: Path) -> None:
    form = load_xlsform(site_form_path)
    assert (form.form_id, form.title, form.version) == ("site_check", "Site check", "2024.1")
    assert form.languages == ["English (en)", "Chinese (zh)"]
    types = {item.path: item.type for item in form.walk()}
    assert types["pop"] == "group" and types["pop/individuals"] == "integer"
    assert types["members"] == "repeat" and types["members/member_age"] == "integer"
    assert types["reasons"] == "select_multiple" and types["admin2"] == "select_one"
    assert types["visit_date"] == "date" and types["location"] == "geopoint"
    assert types["pop/avg_size"] == "decimal" and types["per_household"] == "calculate" and types["thanks"] == "note"
    assert "meta" not in types  # pyxform's generated instanceID group is not a question
    individuals = form.by_name["individuals"]
    assert individuals.required == "yes"
    assert individuals.constraint == ". >= ${households}"
    assert individuals.label("zh") == "人数" and individuals.label("en") == "Individuals"
    assert individuals.constraint_message == {"English (en)": "At least one person per household"}
    assert individuals.row == 9
    assert form.by_name["admin2"].choice_filter == "admin1=${admin1}"
    assert form.by_name["reasons_other"].relevant == "selected(${reasons}, 'other')"
    assert form.by_name["member_age"].repeat == "members"
    admin2 = form.choices["admin2"]
    assert [c.name for c in admin2] == ["n1", "n2", "s1"]
    assert admin2[0].extras == {"admin1": "north"} and admin2[0].label("zh") == "北一"
    assert len(form.sha256) == 64


def test_definition_round_trips_through_json(site_form_path: Path) -> None:
    form = load_xlsform(site_form_path)
    again = FormDefinition.from_dict(form.to_dict())
    assert again.to_dict() == form.to_dict()
    assert again.by_name["admin2"].choice_filter == "admin1=${admin1}"


def _broken(tmp_path: Path, survey: list[list[object]], choices: list[list[object]] | None = CHOICES) -> Path:
    return write_xlsform(tmp_path / "broken.xlsx", survey, choices, SETTINGS)


def test_unknown_type_is_refused_with_sheet_row_and_column(tmp_path: Path) -> None:
    path = _broken(tmp_path, [HEADER, ["text", "a", "A", "A"], ["integr", "age", "Age", "年龄"]])
    with pytest.raises(InvalidInput) as caught:
        load_xlsform(path)
    line = caught.value.one_line()
    assert "sheet survey, row 3, column type (A)" in line
    assert "Unknown question type 'integr'" in line  # pyxform's own message


def test_reference_to_missing_question_is_refused_with_pyxform_message(tmp_path: Path) -> None:
    path = _broken(tmp_path, [HEADER, ["integer", "age", "Age", "年龄", "", ". > ${nope}"]])
    with pytest.raises(InvalidInput) as caught:
        load_xlsform(path)
    line = caught.value.one_line()
    assert "row 2" in line and "column constraint (F)" in line and "Could not find the name 'nope'" in line


def test_bad_constraint_syntax_loads_with_a_warning_naming_row_and_column(tmp_path: Path) -> None:
    # pyxform accepts the form (it does not parse XPath), so Passage loads it and names what it cannot evaluate.
    path = _broken(tmp_path, [HEADER, ["text", "a", "A", "A"], ["integer", "age", "Age", "年龄", "", "(. >= 1"]])
    form = load_xlsform(path)
    assert "sheet survey, row 3, column constraint (F): unexpected end of expression (not evaluated)" in form.warnings
    assert form.unevaluated == [{"sheet": "survey", "row": 3, "column": "constraint", "field": "age", "expression": "(. >= 1",
                                 "reason": "unexpected end of expression",
                                 "reason_text": {"message": "unexpected end of expression", "params": {}, "module": "forms"}}]
    from passage.core.i18n import Text

    assert Text.from_stored(form.unevaluated[0]["reason_text"]).render("zh_Hans") == "表达式意外结束"  # the reason in Chinese
    assert ("age", "constraint") not in form.expressions


def test_unknown_function_loads_and_is_named_not_evaluated(tmp_path: Path) -> None:
    path = _broken(tmp_path, [HEADER, ["integer", "age", "Age", "年龄", "", "", "", "", ""], ["calculate", "x", "", "", "", "", "", "", "frobnicate(${age})"]])
    form = load_xlsform(path)
    assert any("row 3, column calculation (I): unknown function frobnicate()" in warning for warning in form.warnings)
    assert form.not_evaluated == frozenset({("x", "calculation")})


def test_not_evaluated_relevance_drops_the_required_check_it_guards(tmp_path: Path) -> None:
    from passage.forms.validation import check_submission

    path = _broken(tmp_path, [HEADER, ["integer", "age", "Age", "年龄", "", "", "", ""], ["text", "why", "Why", "为何", "yes", "", "", "frobnicate(${age})"]])
    form = load_xlsform(path)
    assert ("why", "required") in form.not_evaluated
    assert check_submission(form, {"age": "4"}).errors == []  # `why` may be irrelevant: not reported as required


@pytest.mark.parametrize(
    ("kind", "stored"),
    [("image", "image"), ("photo", "image"), ("audio", "audio"), ("video", "video"), ("file", "file"), ("email", "email"),
     ("hidden", "hidden"), ("start-geopoint", "geopoint"), ("barcode", "barcode"), ("geotrace", "geotrace"), ("geoshape", "geoshape"),
     ("acknowledge", "acknowledge"), ("range", "range")],
)
def test_odk_question_types_load(tmp_path: Path, kind: str, stored: str) -> None:
    name = "audit" if kind == "audit" else "q"
    form = load_xlsform(_broken(tmp_path, [HEADER, [kind, name, "Q", "Q"]]))
    assert form.by_name[name].type == stored


def test_unmatched_group_is_refused(tmp_path: Path) -> None:
    path = _broken(tmp_path, [HEADER, ["begin_group", "g", "G", "G"], ["integer", "age", "Age", "年龄"]])
    with pytest.raises(InvalidInput) as caught:
        load_xlsform(path)
    assert "row 2" in caught.value.one_line() and "end_group" in caught.value.one_line()


def test_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"not a zip")
    with pytest.raises(InvalidInput) as caught:
        load_xlsform(path)
    assert caught.value.one_line().startswith("x.xlsx: not a readable XLSForm workbook")
    assert "save it as an .xlsx workbook" in caught.value.one_line()


def test_survey_constant_is_loadable() -> None:
    assert SURVEY[0] == HEADER


def test_the_sheet_reader_stops_after_a_run_of_empty_rows() -> None:
    from passage.forms.definition import MAX_ADJACENT_EMPTY_ROWS, _clean_rows

    def declared_rows() -> Iterator[tuple[int, list[object]]]:
        yield 1, ["type", "name", "label"]
        yield 2, ["text", "a", "A"]
        for number in range(3, 1_048_577):  # a workbook that declares a million formatted rows
            if number > 3 + MAX_ADJACENT_EMPTY_ROWS + 1:
                raise AssertionError("read past the end of the data")
            yield number, [None, None, None]

    header, rows = _clean_rows(declared_rows())
    assert header == ["type", "name", "label"] and rows == [(2, ["text", "a", "A"])]


def test_form_id_defaults_to_the_file_name_and_required_t_is_required(tmp_path: Path) -> None:
    path = write_xlsform(tmp_path / "Household survey 2024.xlsx", [["type", "name", "label", "required"], ["text", "a", "A", "T"]])
    form = load_xlsform(path)
    assert form.form_id == "Household_survey_2024"
    assert form.by_name["a"].required == "yes"


def test_xls_workbooks_load(tmp_path: Path) -> None:
    corpus = Path(__file__).parent / "corpus"
    form = load_xlsform(corpus / "XLSForm__pyxform__tests__example_xls__yes_or_no_question.xls")
    assert form.by_name["good_day"].type == "select_one"


def test_search_appearance_is_read_as_a_plain_select(tmp_path: Path) -> None:
    path = _broken(tmp_path, [["type", "name", "label", "appearance"], ["select_one fruit", "f", "Fruit", "search('fruits')"]],
                   [["list_name", "name", "label"], ["fruit", "apple", "Apple"]])
    form = load_xlsform(path)
    assert form.by_name["f"].type == "select_one" and [c.name for c in form.choices_for(form.by_name["f"])] == ["apple"]


def test_select_one_external_is_checked_against_the_external_choices_sheet(tmp_path: Path) -> None:
    """Cascading `select_one_external` lists as field teams write them (the TerraFirma land registration forms
    in the corpus): the list lives in the workbook's `external_choices` sheet, so answers are checked against
    it, choice filter included, and no warning says otherwise."""
    import datetime as dt

    import openpyxl

    from passage.forms.validation import FormValidator

    path = write_xlsform(tmp_path / "external.xlsx", [
        ["type", "name", "label", "choice_filter", "required"],
        ["select_one provinces", "prov_id", "Province", "", "yes"],
        ["select_one_external districts", "dist_id", "District", "prov_id=${prov_id}", "yes"],
    ], [["list_name", "name", "label"], ["provinces", "P01", "Niassa"], ["provinces", "P10", "Maputo"]],
        [["form_id", "version"], ["external", "1"]])
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.create_sheet("external_choices")
    for row in (["list_name", "name", "label", "prov_id"], ["districts", "D0102", "Cuamba", "P01"], ["districts", "D1002", "Boane", "P10"]):
        sheet.append(row)
    workbook.save(path)
    form = load_xlsform(path.read_bytes(), filename=path.name)
    assert form.unevaluated == [] and not any("external" in warning for warning in form.warnings)
    assert [choice.name for choice in form.choices["districts"]] == ["D0102", "D1002"]
    validator = FormValidator(form)
    today = dt.date(2024, 6, 1)
    assert validator.check({"prov_id": "P10", "dist_id": "D1002"}, today=today).errors == []
    wrong = validator.check({"prov_id": "P10", "dist_id": "D0102"}, today=today).errors  # Niassa's district under Maputo
    assert [(error.path, error.reason) for error in wrong] == [("dist_id", "choice")]
    assert [(error.path, error.reason) for error in validator.check({"prov_id": "P10", "dist_id": "D9999"}, today=today).errors] == [("dist_id", "choice")]



def test_external_choices_headers_in_any_case_and_a_same_named_choices_list(tmp_path: Path) -> None:
    """pyxform reads `LIST_NAME`/`list name` headers in any case, and a list may exist under one name in both
    `choices` and `external_choices` (pyxform's own case_insensitivity form): the external question gets the
    external list, the plain select keeps its own."""
    import datetime as dt

    import openpyxl

    from passage.forms.validation import FormValidator

    path = write_xlsform(tmp_path / "both.xlsx", [
        ["TYPE", "NAME", "LABEL"], ["select_one c1", "q1", "Plain"], ["select_one_external c1", "q2", "External"],
    ], [["LIST_NAME", "NAME", "LABEL"], ["c1", "plain", "Plain one"]], [["form_id", "version"], ["both", "1"]])
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.create_sheet("external_choices")
    for row in (["list name", "Name", "Label"], ["c1", "outside", "Outside one"]):
        sheet.append(row)
    workbook.save(path)
    form = load_xlsform(path.read_bytes(), filename=path.name)
    assert form.unevaluated == []
    assert [choice.name for choice in form.choices_for(form.by_name["q1"])] == ["plain"]
    assert [choice.name for choice in form.choices_for(form.by_name["q2"])] == ["outside"]
    validator = FormValidator(form)
    assert validator.check({"q1": "plain", "q2": "outside"}, today=dt.date(2024, 6, 1)).errors == []
    assert [error.path for error in validator.check({"q1": "outside", "q2": "plain"}, today=dt.date(2024, 6, 1)).errors] == ["q1", "q2"]
