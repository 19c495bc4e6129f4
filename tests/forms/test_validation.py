from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from passage.forms.definition import FormDefinition, load_xlsform
from passage.forms.validation import check_submission, validate_submission
from tests.forms.xlsform_factory import valid_row

TODAY = dt.date(2024, 6, 1)


@pytest.fixture
def form(site_form_path: Path) -> FormDefinition:
    return load_xlsform(site_form_path)


def reasons(form: FormDefinition, **overrides: object) -> set[tuple[str, str]]:
    return {(e.path, e.reason) for e in validate_submission(form, valid_row(**overrides), today=TODAY)}


def test_valid_row_gives_typed_values_and_calculations(form: FormDefinition) -> None:
    checked = check_submission(form, valid_row(), today=TODAY)
    assert checked.errors == []
    values = checked.values
    assert values["pop/households"] == 10 and values["pop/avg_size"] == 4.2
    assert values["reasons"] == ["conflict", "flood"]
    assert values["location"] == [12.5, 44.1, 0.0, 5.0]
    assert values["visit_date"] == "2024-03-01"
    assert values["member_count"] == 1 and values["per_household"] == 4.2
    assert values["members"] == [{"members/member_age": 30, "members/member_sex": "f"}]
    assert "thanks" not in values


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"pop/households": "ten"}, ("pop/households", "type")),
        ({"pop/households": "1.5"}, ("pop/households", "type")),
        ({"pop/avg_size": "4,2"}, ("pop/avg_size", "type")),
        ({"visit_date": "01/03/2024"}, ("visit_date", "type")),
        ({"visit_date": "2024-02-30"}, ("visit_date", "type")),
        ({"location": "95 10"}, ("location", "type")),
        ({"location": "10"}, ("location", "type")),
        ({"site_name": None}, ("site_name", "required")),
        ({"site_name": "   "}, ("site_name", "required")),
        ({"pop/individuals": "5"}, ("pop/individuals", "constraint")),
        ({"visit_date": "2024-07-01"}, ("visit_date", "constraint")),
        ({"site_name": "x" * 41}, ("site_name", "constraint")),
        ({"reasons": "none flood"}, ("reasons", "constraint")),
        ({"admin1": "east"}, ("admin1", "choice")),
        ({"reasons": "conflict drought"}, ("reasons", "choice")),
        ({"admin2": "s1"}, ("admin2", "choice")),
        ({"reasons_other": "a typhoon"}, ("reasons_other", "not_relevant")),
        ({"reasons": "other"}, ("reasons_other", "required")),
        ({"pop/households": "0", "pop/individuals": "0"}, ("pop/avg_size", "not_relevant")),
        ({"members": [{"members/member_age": "130", "members/member_sex": "f"}]}, ("members[1]/member_age", "constraint")),
        ({"members": [{"members/member_age": "3", "members/member_sex": "f"}, {"members/member_age": "4"}]}, ("members[2]/member_sex", "required")),
        ({"surname": "x"}, ("surname", "unknown_field")),
    ],
)
def test_each_rule_is_enforced(form: FormDefinition, overrides: dict[str, object], expected: tuple[str, str]) -> None:
    assert expected in reasons(form, **overrides)


def test_choice_filter_accepts_matching_choice(form: FormDefinition) -> None:
    assert reasons(form, admin1="south", admin2="s1") == set()
    assert ("admin2", "choice") in reasons(form, admin1="south", admin2="n1")


def test_relevant_other_text_is_accepted_when_selected(form: FormDefinition) -> None:
    assert reasons(form, reasons="other", reasons_other="typhoon") == set()


def test_fields_addressed_by_name_and_spreadsheet_cells(form: FormDefinition) -> None:
    row = valid_row()
    row.pop("pop/households")
    row["households"] = 10.0  # a float cell from a spreadsheet
    row["visit_date"] = dt.datetime(2024, 3, 1)
    checked = check_submission(form, row, today=TODAY)
    assert checked.errors == []
    assert checked.values["pop/households"] == 10 and checked.values["visit_date"] == "2024-03-01"


def test_messages_never_contain_the_submitted_value(form: FormDefinition) -> None:
    secret = "Zhang Wei 1985-02-03"
    errors = validate_submission(form, valid_row(**{"pop/households": secret, "site_name": secret * 3, "admin1": secret}), today=TODAY)
    assert errors
    assert all(secret not in e.message and "Zhang" not in e.message for e in errors)


def test_chinese_constraint_message_is_used_when_available(tmp_path: Path) -> None:
    from passage.forms.validation import FormValidator
    from tests.forms.xlsform_factory import write_xlsform

    path = write_xlsform(
        tmp_path / "f.xlsx",
        [["type", "name", "label::English (en)", "label::Chinese (zh)", "constraint", "constraint_message::English (en)", "constraint_message::Chinese (zh)"],
         ["integer", "age", "Age", "年龄", ". < 10", "Too old", "太大"]],
    )
    form = load_xlsform(path)
    assert FormValidator(form, language="zh").check({"age": "12"}).errors[0].message == "太大"
    assert FormValidator(form, language="en").check({"age": "12"}).errors[0].message == "Too old"


def test_errors_read_in_the_readers_language() -> None:
    """Issue 16: the form author's constraint message in the reader's XLSForm language column, Passage's own messages
    (required, type errors) from the catalogues; the stored record keeps both language-neutral."""
    from passage.core.i18n import T_
    from passage.forms.messages import error_text
    from passage.forms.validation import SubmissionError

    authored = SubmissionError("pop/individuals", "Between 0 and 5000", "constraint",
                               {"English (en)": "Between 0 and 5000", "Chinese (zh)": "应在0至5000之间"})
    assert error_text(authored, locale="zh_Hans") == "应在0至5000之间"
    assert error_text(authored.as_record(), locale="en") == "Between 0 and 5000"
    required = SubmissionError("age", T_("required"), "required")
    record = required.as_record()
    assert record["message"] == "required" and record["text"] == {"message": "required", "params": {}}
    assert error_text(record, locale="zh_Hans") == "必填"
    assert error_text(SubmissionError("age", T_("expected a whole number"), "type"), locale="zh_Hans") == "应为整数"
