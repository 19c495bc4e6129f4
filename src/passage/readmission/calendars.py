"""Working-day calendars of the requested state.

A working day is a day that is not a weekend day and not a public holiday, except that a weekend day
the government declared a working day is one. China moves working days to weekends around its long
holidays (调休): for National Day 2024 the State Council made Sunday 29 September and Saturday
12 October working days and 1-7 October days off. The `holidays` package (>= 0.60) carries these
make-up days as `weekend_workdays` for CN, but for years the State Council has not announced yet it
*guesses* (e.g. "2027-02-09 (observed)"). So for a state that publishes an annual notice
(`NOTICE_REGIMES`), a year is computed from its official notice when one is loaded (shipped in
`data/calendars/`, or added with `passage calendars load NOTICE.json`), and otherwise is *provisional*:
`provisional_years` names it so that every deadline it touches carries a visible warning.
The holiday table versioned with the agreement (`extra_holidays` / `extra_workdays`) still overrides both.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator

import holidays

from passage.core.errors import InvalidInput
from passage.core.i18n import T_
from passage.readmission.schemas import CalendarNotice, HolidayTable

NOTICE_REGIMES: dict[str, str] = {
    "CN": "State Council General Office annual notice on the holiday arrangements (国务院办公厅关于部分节假日安排的通知)",
}
"""States whose working days are fixed year by year by an official notice; other states' calendars follow
the `holidays` package's fixed rules and are never provisional."""


def latest_notices(notices: tuple[CalendarNotice, ...] | list[CalendarNotice]) -> dict[int, CalendarNotice]:
    """The highest version of each year's notice."""
    by_year: dict[int, CalendarNotice] = {}
    for notice in notices:
        current = by_year.get(notice.year)
        if current is None or notice.version > current.version:
            by_year[notice.year] = notice
    return by_year


@functools.lru_cache(maxsize=64)
def _package_year(country: str, year: int) -> tuple[frozenset[dt.date], frozenset[dt.date], dict[dt.date, str]]:
    try:
        table = holidays.country_holidays(country, years=year)
    except NotImplementedError:
        raise InvalidInput(T_("calendar.country: the holidays package has no calendar for {country}", country=country)) from None
    workdays = frozenset(d for d in getattr(table, "weekend_workdays", set()) if d.year == year)
    names = {d: str(n) for d, n in table.items() if d.year == year}
    return frozenset(names), workdays, names


class WorkingCalendar:
    """Answers "is this a working day of the requested state?" for one agreement version."""

    def __init__(self, table: HolidayTable):
        self.table = table
        self._extra_holidays = {h.date: h.name for h in table.extra_holidays}
        self._extra_workdays = {w.date: w.name for w in table.extra_workdays}
        self._weekend = frozenset(table.weekend)
        self._notices = latest_notices([n for n in table.notices if n.country == table.country])
        self._notice_holidays = {h.date: h.name for n in self._notices.values() for h in n.holidays}
        self._notice_workdays = {w.date: w.name for n in self._notices.values() for w in n.workdays}

    @property
    def uses_notices(self) -> bool:
        return self.table.country in NOTICE_REGIMES

    def notice_for(self, year: int) -> CalendarNotice | None:
        return self._notices.get(year)

    def is_provisional(self, year: int) -> bool:
        """True when the state fixes its working days by annual notice and none is loaded for `year`."""
        return self.uses_notices and year not in self._notices

    def provisional_years(self, first: dt.date, last: dt.date) -> list[int]:
        """Years between two dates (inclusive) whose working days are the package's guess, not a notice."""
        low, high = min(first, last), max(first, last)
        return [year for year in range(low.year, high.year + 1) if self.is_provisional(year)]

    def holiday_name(self, day: dt.date) -> str | None:
        if day in self._extra_holidays:
            return self._extra_holidays[day]
        if day.year in self._notices:
            return self._notice_holidays.get(day)
        if self.table.country:
            return _package_year(self.table.country, day.year)[2].get(day)
        return None

    def is_working_day(self, day: dt.date) -> bool:
        if day in self._extra_workdays:
            return True
        if day in self._extra_holidays:
            return False
        if day.year in self._notices:
            # an official notice lists every day off and every make-up working day of its year
            if day in self._notice_workdays:
                return True
            if day in self._notice_holidays:
                return False
            return day.weekday() not in self._weekend
        if self.table.country:
            package_holidays, package_workdays, _ = _package_year(self.table.country, day.year)
            if day in package_workdays:
                return True
            if day in package_holidays:
                return False
        return day.weekday() not in self._weekend

    def why_not_working(self, day: dt.date) -> str | None:
        """A short reason a day is not a working day (holiday name or 'weekend'), or None."""
        if self.is_working_day(day):
            return None
        return self.holiday_name(day) or "weekend"

    def is_make_up_workday(self, day: dt.date) -> bool:
        """A weekend day declared a working day (调休)."""
        return day.weekday() in self._weekend and self.is_working_day(day)

    def add_working_days(self, start: dt.date, count: int) -> dt.date:
        """The `count`-th working day after `start` (the day of the event itself is not counted)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        day = start
        remaining = count
        while remaining:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def next_working_day(self, day: dt.date) -> dt.date:
        while not self.is_working_day(day):
            day += dt.timedelta(days=1)
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative if end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(1 for d in _days(start + dt.timedelta(days=1), end) if self.is_working_day(d))


def _days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += dt.timedelta(days=1)
