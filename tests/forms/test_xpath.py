from __future__ import annotations

import datetime as dt

import pytest

from passage.forms.xpath import EvalContext, ExpressionError, compile_expression, evaluate


@pytest.mark.parametrize(
    ("source", "values", "current", "expected"),
    [
        (". >= 0 and . < 120", {}, 30, True),
        (". >= 0 and . < 120", {}, 130, False),
        ("${a} + ${b} * 2", {"a": 1, "b": 3}, None, 7.0),
        ("(${a} + ${b}) * 2", {"a": 1, "b": 3}, None, 8.0),
        ("10 div 4", {}, None, 2.5),
        ("10 mod 4", {}, None, 2.0),
        ("-${a} + 1", {"a": 3}, None, -2.0),
        ("${s} = 'm'", {"s": "m"}, None, True),
        ("${s} != 'm'", {"s": "m"}, None, False),
        ("${n} = '5'", {"n": 5}, None, True),
        ("${t} > 3", {"t": "10"}, None, True),
        ("${t} > 3", {"t": ""}, None, False),
        ("not(${t} > 3) or ${u}", {"t": 1, "u": ""}, None, True),
        ("selected(${r}, 'flood')", {"r": "conflict flood"}, None, True),
        ("selected(${r}, 'flo')", {"r": "conflict flood"}, None, False),
        ("count-selected(.)", {}, "a b c", 3.0),
        ("string-length(.)", {}, "你好", 2.0),
        ("regex(., '^[A-Z]{2}[0-9]{4}$')", {}, "AB1234", True),
        ("regex(., '^[A-Z]{2}[0-9]{4}$')", {}, "AB12345", False),
        ("if(${a} > 1, 'big', 'small')", {"a": 2}, None, "big"),
        ("coalesce(${a}, 'x')", {"a": ""}, None, "x"),
        ("coalesce(${a}, 'x')", {"a": "y"}, None, "y"),
        ("int(7.9)", {}, None, 7.0),
        ("int(-7.9)", {}, None, -7.0),
        ("number('3.5') + 1", {}, None, 4.5),
        ("concat('a', ${b}, 3)", {"b": "-"}, None, "a-3"),
        ("round(2.345, 2)", {}, None, 2.35),
        ("true() and not(false())", {}, None, True),
        ("contains(${s}, 'bc')", {"s": "abcd"}, None, True),
    ],
)
def test_expressions(source: str, values: dict[str, object], current: object, expected: object) -> None:
    assert evaluate(source, current=current, values=values) == expected


def test_dates_compare_as_days_and_today_is_injected() -> None:
    today = dt.date(2024, 5, 1)
    assert evaluate(". <= today()", current=dt.date(2024, 5, 1), today=today) is True
    assert evaluate(". <= today()", current=dt.date(2024, 5, 2), today=today) is False
    assert evaluate(". > date('2024-01-01')", current=dt.date(2024, 1, 2)) is True
    assert evaluate("today() - date('2024-04-30')", today=today) == 1.0


def test_choice_filter_reads_choice_columns_and_refs() -> None:
    expression = compile_expression("admin1=${admin1} and name != 'x'", choice_filter=True)
    ctx = EvalContext(values={"admin1": "north"}, choice={"name": "n1", "admin1": "north"})
    assert expression.truth(ctx) is True
    ctx.choice = {"name": "s1", "admin1": "south"}
    assert expression.truth(ctx) is False
    assert expression.references == frozenset({"admin1"})


def test_scopes_fall_back_to_parent_and_count_repeats() -> None:
    top = EvalContext(values={"hh": 3}, repeat_counts={"members": 2})
    inner = EvalContext(values={"age": 10}, parent=top)
    assert compile_expression("${age} < ${hh} * 5").truth(inner) is True
    assert compile_expression("count(${members})").evaluate(inner) == 2.0


def test_choice_name_uses_the_label_callback() -> None:
    ctx = EvalContext(values={"sex": "f"}, choice_label=lambda q, v: f"{q}:{v}:label")
    assert compile_expression("jr:choice-name(${sex}, '${sex}')").evaluate(ctx) == "sex:f:label"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("frobnicate('x')", "unknown function frobnicate()"),
        ("(. > 1", "unexpected end"),
        (". > ", "unexpected end"),
        ("selected(.)", "selected() takes 2 argument(s), got 1"),
        ("/data/rep[1]/age > 1", "predicate on a form path"),
        ("//age > 1", "'//'"),
        ("age > 1", "bare name 'age'"),
        (". > 1 # 2", "unexpected character"),
        ("__import__('os')", "unknown function __import__()"),
    ],
)
def test_refusals(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source)
    assert fragment in caught.value.message


def test_division_by_zero_is_not_an_exception() -> None:
    assert evaluate("1 div 0") == float("inf")
    assert evaluate("(0 div 0) = (0 div 0)") is False
