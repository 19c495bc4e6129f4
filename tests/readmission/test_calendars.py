import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from passage.readmission.calendars import WorkingCalendar
from passage.readmission.schemas import HolidayEntry, HolidayTable

CN = WorkingCalendar(HolidayTable(country="CN"))
D = dt.date


def test_national_day_2024_week_off_and_make_up_days():
    # State Council schedule: 1-7 Oct off; Sun 29 Sep and Sat 12 Oct are working days (调休)
    for day in range(1, 8):
        assert not CN.is_working_day(D(2024, 10, day))
    assert CN.is_working_day(D(2024, 9, 29)) and D(2024, 9, 29).weekday() == 6
    assert CN.is_working_day(D(2024, 10, 12)) and D(2024, 10, 12).weekday() == 5
    assert CN.is_make_up_workday(D(2024, 10, 12))
    assert not CN.is_working_day(D(2024, 10, 13))  # an ordinary Sunday


def test_spring_festival_2024_with_make_up_sunday():
    # 10-17 Feb 2024 off; Sun 4 Feb and Sun 18 Feb worked
    assert CN.is_working_day(D(2024, 2, 4))
    assert all(not CN.is_working_day(D(2024, 2, d)) for d in range(10, 18))
    assert CN.is_working_day(D(2024, 2, 18))
    assert CN.why_not_working(D(2024, 2, 12)) is not None


def test_add_working_days_across_national_day_hand_checked():
    # Fri 27 Sep 2024 + 3 working days: Sun 29 Sep (make-up), Mon 30 Sep, then Tue 8 Oct
    assert CN.add_working_days(D(2024, 9, 27), 3) == D(2024, 10, 8)
    # Fri 27 Sep + 7: ... 8, 9, 10, 11 Oct, Sat 12 Oct (make-up)
    assert CN.add_working_days(D(2024, 9, 27), 7) == D(2024, 10, 12)


def test_add_working_days_across_spring_festival_2025_hand_checked():
    # 2025: 28 Jan - 4 Feb off; Sun 26 Jan and Sat 8 Feb worked.
    # From Fri 24 Jan: Sun 26 Jan (1), Mon 27 Jan (2), Wed 5 Feb (3)
    assert CN.add_working_days(D(2025, 1, 24), 3) == D(2025, 2, 5)
    # ... Thu 6 (4), Fri 7 (5), Sat 8 Feb make-up (6)
    assert CN.add_working_days(D(2025, 1, 24), 6) == D(2025, 2, 8)


def test_agreement_table_overrides_package():
    table = HolidayTable(
        country="CN",
        extra_holidays=(HolidayEntry(date=D(2024, 10, 8), name="extra day off"),),
        extra_workdays=(HolidayEntry(date=D(2024, 10, 6), name="extra make-up day"),),
    )
    cal = WorkingCalendar(table)
    assert not cal.is_working_day(D(2024, 10, 8))
    assert cal.is_working_day(D(2024, 10, 6))
    assert cal.holiday_name(D(2024, 10, 8)) == "extra day off"


def test_table_without_country_uses_weekend_only():
    cal = WorkingCalendar(HolidayTable(country=None))
    assert cal.add_working_days(D(2024, 10, 4), 1) == D(2024, 10, 7)  # Fri -> Mon
    assert cal.working_days_between(D(2024, 10, 4), D(2024, 10, 11)) == 5
    assert cal.working_days_between(D(2024, 10, 11), D(2024, 10, 4)) == -5


@settings(max_examples=200, deadline=None)
@given(start=st.dates(min_value=D(2020, 1, 1), max_value=D(2026, 6, 30)), count=st.integers(min_value=1, max_value=40))
def test_working_day_deadline_is_a_working_day_and_counts_exactly(start, count):
    due = CN.add_working_days(start, count)
    assert CN.is_working_day(due)
    assert CN.working_days_between(start, due) == count
