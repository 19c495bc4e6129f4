"""The one whole-number parser: what it accepts, why it refuses, and the reason in English and Chinese."""

from __future__ import annotations

import pytest

from passage.core import i18n
from passage.core.errors import InvalidInput
from passage.core.inputs import whole_number


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("7", 7), (" 42 ", 42), ("007", 7), ("999", 999)])
def test_accepts_decimal_digits_within_the_range(raw: str, expected: int) -> None:
    assert whole_number(raw, field="escorts", maximum=999) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "enter a whole number"),
        ("   ", "enter a whole number"),
        ("²", "not a whole number"),  # '²'.isdigit() is true, int('²') raises: the fuzzer's 500
        ("１２", "not a whole number"),  # full-width digits: int() reads them, the rule does not
        ("٣", "not a whole number"),
        ("1.5", "not a whole number"),
        ("1e3", "not a whole number"),
        ("+3", "not a whole number"),
        ("1 000", "not a whole number"),
        ("-", "not a whole number"),
        ("-3", "must not be negative"),
        ("1000", "too large: at most 999"),
        ("9" * 5000, "too large: at most 999"),  # refused before int() (which limits conversions to 4,300 digits)
    ],
)
def test_refuses_with_a_reason_naming_the_field(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        whole_number(raw, field="escorts", maximum=999)
    [problem] = info.value.fields
    assert problem.path == "escorts"
    assert str(problem.message).startswith(reason)
    assert info.value.one_line().startswith("the number entered is not valid: escorts: " + reason)
    assert info.value.status == 422


def test_minimum_above_zero() -> None:
    assert whole_number("1", field="number", minimum=1, maximum=10) == 1
    with pytest.raises(InvalidInput) as info:
        whole_number("0", field="number", minimum=1, maximum=10)
    assert str(info.value.fields[0].message) == "must be at least 1"


def test_reasons_read_in_chinese() -> None:
    token = i18n.set_locale("zh_Hans")
    try:
        for raw, chinese in [("abc", "不是整数：只能使用数字 0-9"), ("-1", "不得为负数"), ("1000", "数值过大：不得大于 999"), ("", "请输入整数")]:
            with pytest.raises(InvalidInput) as info:
                whole_number(raw, field="escorts", maximum=999)
            assert info.value.fields[0].as_dict()["message"].startswith(chinese), raw
    finally:
        i18n._current_locale.reset(token)
