import datetime as dt

import pytest

from passage.core.errors import InvalidInput
from passage.mobility.windows import Window, check_disjoint, parse_window, span


def test_parse_window_inclusive_days() -> None:
    w = parse_window("2024-03-01..2024-03-14")
    assert w == Window(dt.date(2024, 3, 1), dt.date(2024, 3, 14))
    assert w.days == 14


@pytest.mark.parametrize(("text", "problem"), [("2024-03-14..2024-03-01", "reversed"), ("..2024-03-01", "empty"), ("2024-03-01", "expected"), ("2024-13-01..2024-13-02", "YYYY-MM-DD")])
def test_bad_windows_are_refused(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_window(text, field="focal")


def test_overlapping_windows_are_named() -> None:
    a, b = parse_window("2024-03-01..2024-03-10"), parse_window("2024-03-10..2024-03-20")
    with pytest.raises(InvalidInput) as info:
        check_disjoint({"benchmark": a, "focal": b})
    assert info.value.fields[0].path == "benchmark" and "focal" in info.value.fields[0].message
    check_disjoint({"benchmark": a, "focal": parse_window("2024-03-11..2024-03-20")})
    assert span([a, b]) == Window(dt.date(2024, 3, 1), dt.date(2024, 3, 20))
