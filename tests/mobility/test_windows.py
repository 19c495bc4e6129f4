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


def test_flowkit_end_date_is_exclusive() -> None:
    """flowclient `modal_location_from_dates_spec`: "end_date: ISO format date for the day _after_ the final
    date of the period, e.g. '2016-01-08'" - so FlowKit's 2016-01-01/2016-01-08 is Passage's 2016-01-01..2016-01-07."""
    from passage.mobility.windows import window_from_flowkit

    window = window_from_flowkit("2016-01-01", "2016-01-08")
    assert str(window) == "2016-01-01..2016-01-07" and window.days == 7
    with pytest.raises(InvalidInput, match="exclusive"):
        window_from_flowkit("2016-01-01", "2016-01-01")


def test_flowkit_aggregation_units_and_column_names() -> None:
    """FlowKit names spatial units admin0-admin3 and returns `pcod`/`pcod_from`/`pcod_to` with `value`
    (flowmachine's SQL: `SELECT pcod_from, pcod_to, COUNT(*) AS value`)."""
    from passage.mobility.windows import flowkit_columns, level_from_aggregation_unit

    assert level_from_aggregation_unit("admin2") == "2"
    with pytest.raises(InvalidInput):
        level_from_aggregation_unit("admin9")
    assert flowkit_columns(["pcode", "subscribers"]) == ["pcod", "value"]
    assert flowkit_columns(["date", "pcode", "events"]) == ["date", "pcod", "value"]
    assert flowkit_columns(["origin_pcode", "destination_pcode", "subscribers_benchmark_comparison", "subscribers_benchmark_focal", "above_normal"]) == [
        "pcod_from", "pcod_to", "subscribers_benchmark_comparison", "subscribers_benchmark_focal", "value"]
