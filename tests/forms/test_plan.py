"""The compiled validation plan must agree with the reference tree walk on every row, error for error."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest

from passage.forms.definition import FormDefinition, load_xlsform
from passage.forms.validation import FormValidator
from tests.forms.xlsform_factory import CHOICES, HEADER, SETTINGS, SURVEY, valid_row, write_xlsform

TODAY = dt.date(2024, 6, 1)

# Values that hit every branch of the parsers and coercions: blanks, padding, non-ASCII digits,
# out-of-range numbers, impossible dates, datetimes at and after midnight, lists, floats and ints.
ODD_VALUES: list[Any] = [
    "", "   ", " 7 ", "007", "-3", "+4", "1.0", "1.5", "1e2", "nan", "inf", "x", "²", "9999999999", "2147483648",
    "2024-02-30", "2024-03-01T00:00:00", "2024-03-01T10:00", "2024-07-01", "01/03/2024", "12.5 44.1", "95 10",
    "1 2 3 -1", "north", "south", "n1", "s1", "none", "none flood", "other", "conflict drought", "f", "m", "q",
    0, 3, 2.0, 2.5, True, ["conflict", "other"], [], dt.date(2024, 1, 2), "x" * 41,
]


def _mutations(base: dict[str, Any], keys: list[str], rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows = []
    for _ in range(count):
        row = dict(base)
        for key in rng.sample(keys, rng.randrange(1, 4)):
            choice = rng.random()
            if choice < 0.15:
                row.pop(key, None)
            else:
                row[key] = rng.choice(ODD_VALUES)
        if rng.random() < 0.05:
            row["unexpected_column"] = "1"
        rows.append(row)
    return rows


def _assert_same(validator: FormValidator, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        try:
            expected = validator.check_interpreted(row, today=TODAY)
        except Exception as exc:  # noqa: BLE001 - the plan must raise exactly when the tree walk raises
            with pytest.raises(type(exc)):
                validator.check(row, today=TODAY)
            continue
        got = validator.check(row, today=TODAY)
        assert got.errors == expected.errors, row
        assert got.values == expected.values, row
        assert [type(value) for value in got.values.values()] == [type(value) for value in expected.values.values()]


def test_plan_matches_tree_walk_on_site_form(site_form_path: Path) -> None:
    form = load_xlsform(site_form_path)
    validator = FormValidator(form)
    rng = random.Random(11)
    keys = [*valid_row().keys(), "reasons_other", "member_count"]
    rows = [valid_row(), *_mutations(valid_row(), keys, rng, 1500)]
    for row in rows[:300]:
        row["members"] = [
            {"members/member_age": rng.choice(ODD_VALUES), "members/member_sex": rng.choice(["f", "m", "", "q"])}
            for _ in range(rng.randrange(0, 3))
        ] if rng.random() < 0.8 else "not a list"
    _assert_same(validator, rows)


@pytest.fixture
def expression_form(tmp_path: Path) -> FormDefinition:
    """Expressions that exercise folding, if(), div/mod, dates, coalesce, regex and equality coercions."""
    survey = [
        HEADER,
        ["integer", "a", "A", "A", "yes", ". mod 2 = 0 or . div 0 > 1", "", "", "", "", ""],
        ["decimal", "b", "B", "B", "", ". != ${a} and -. < 1 + 2 * 3", "", "${a} >= 0", "", "", ""],
        ["date", "d", "D", "D", "", ". > date('2020-01-01') and . <= today()", "", "", "", "", ""],
        ["text", "t", "T", "T", "${a} > 5", "regex(., '^[a-z]+$') and string-length(.) < 5 and . != 'abc'", "", "", "", "", ""],
        ["text", "u", "U", "U", "", "regex(., '[') or contains(., 'z') or starts-with(concat(., 'q'), 'q')", "", "coalesce(${t}, 'x') = 'x' or ${a} = 2", "", "", ""],
        ["select_one yn", "yn", "YN", "YN", "", ". = 'yes' or ${a} = true()", "", "", "", "", ""],
        ["calculate", "c1", "", "", "", "", "", "", "if(${a} > 1, ${a} * 2.5, 'none')", "", ""],
        ["calculate", "c2", "", "", "", "", "", "", "concat(${c1}, '-', jr:choice-name(${yn}, '${yn}'))", "", ""],
        ["integer", "e", "E", "E", "", ". = ${c1} or . = round(${b}, 1) or abs(.) = int(${b})", "", "${c2} != ''", "", "", ""],
    ]
    choices = [["list_name", "name", "label::English (en)", "label::Chinese (zh)", "admin1"], ["yn", "yes", "Yes", "是", ""], ["yn", "no", "No", "否", ""]]
    return load_xlsform(write_xlsform(tmp_path / "expr.xlsx", survey, choices, SETTINGS))


def test_plan_matches_tree_walk_on_expressions(expression_form: FormDefinition) -> None:
    validator = FormValidator(expression_form)
    rng = random.Random(5)
    base = {"a": "4", "b": "2.5", "d": "2024-01-01", "t": "ab", "u": "z", "yn": "yes", "e": "10"}
    rows = [base, *_mutations(base, list(base), rng, 1500)]
    _assert_same(validator, rows)


def test_plan_on_survey_without_groups_or_repeats_is_used_by_check(site_form_path: Path) -> None:
    form = load_xlsform(site_form_path)
    validator = FormValidator(form)
    results = validator.check_many([valid_row(), valid_row(**{"pop/households": "ten"})], today=TODAY)
    assert results[0][1] == []
    assert [(e.path, e.reason) for e in results[1][1]] == [("pop/households", "type")]
    assert SURVEY and CHOICES  # the shared fixture form is the one under test
