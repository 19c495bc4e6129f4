"""Dates of birth as a foreign authority records them: partial, swapped, shifted, or lunar taken as solar.

Comparison levels follow the error patterns documented for date-of-birth linkage (Christen, "Data
Matching", Springer 2012, ch. 5: day/month swaps, off-by-one years, typing slips) plus the Chinese case
of a lunar-calendar birthday written as if it were Gregorian (conversion with `lunar-python`, MIT).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from lunar_python import LunarYear

from passage.core.errors import InvalidInput
from passage.core.i18n import T_
from passage.identity.edits import one_edit, one_edit_rows

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class PartialDate:
    """A date with unknown month or day allowed."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def precision(self) -> str:
        return "day" if self.day else ("month" if self.month else "year")


def parse_partial(text: str, *, where: str) -> PartialDate | None:
    """Parse YYYY, YYYY-MM or YYYY-MM-DD; empty gives None; anything else raises naming `where` only."""
    text = text.strip()
    if not text:
        return None
    m = _DATE_RE.match(text)
    if not m:
        raise InvalidInput(T_("{where}: invalid date, expected YYYY, YYYY-MM or YYYY-MM-DD", where=where))
    year = int(m.group(1))
    month = int(m.group(2)) if m.group(2) else None
    day = int(m.group(3)) if m.group(3) else None
    if not 1880 <= year <= 2100:
        raise InvalidInput(T_("{where}: invalid date, year out of range", where=where))
    if month is not None and not 1 <= month <= 12:
        raise InvalidInput(T_("{where}: invalid date, month out of range", where=where))
    if day is not None:
        try:
            dt.date(year, month or 1, day)
        except ValueError:
            raise InvalidInput(T_("{where}: invalid date, no such day", where=where)) from None
    return PartialDate(year, month, day)


def parse_full(text: str, *, where: str) -> dt.date | None:
    """Parse a registry date, which must be YYYY-MM-DD (or empty)."""
    parsed = parse_partial(text, where=where)
    if parsed is None:
        return None
    if parsed.day is None or parsed.month is None:
        raise InvalidInput(T_("{where}: invalid date, the registry needs YYYY-MM-DD", where=where))
    return dt.date(parsed.year, parsed.month, parsed.day)


@lru_cache(maxsize=1)
def _lunar_table() -> dict[str, dict[str, list[float]]]:
    """The precomputed month table of 1900-2099 (`scripts/lunar_table.py`, from lunar-python)."""
    return json.loads((Path(__file__).parent / "data" / "lunar_months.json").read_text("utf-8"))


@lru_cache(maxsize=512)
def _lunar_months(year: int) -> dict[int, tuple[float, int]]:
    """Non-leap lunar months of `year`: month -> (Julian day of its first day, number of days).

    lunar-python computes a lunar year from astronomical terms (milliseconds per year), so the years
    1900-2099 come from a table written once by `scripts/lunar_table.py`; other years are computed.
    """
    stored = _lunar_table().get(str(year))
    if stored is not None:
        return {int(month): (float(first), int(days)) for month, (first, days) in stored.items()}
    months: dict[int, tuple[float, int]] = {}
    for source in (year, year + 1):
        for month in LunarYear.fromYear(source).getMonths():
            if month.getYear() == year and month.getMonth() > 0:
                months[month.getMonth()] = (month.getFirstJulianDay(), month.getDayCount())
    return months


_JD_OF_1970 = 2440587.5


def lunar_as_solar(date: dt.date) -> dt.date | None:
    """The Gregorian date a lunar birthday (year, month, day as written) actually falls on.

    If someone gives their lunar birthday as if it were solar, the registry's true (solar) date is the
    conversion of the written digits read as a (non-leap) lunar date. None when that lunar date does not exist.
    """
    if not 1900 <= date.year <= 2099:
        return None
    entry = _lunar_months(date.year).get(date.month)
    if entry is None or date.day > entry[1]:
        return None
    julian = entry[0] + date.day - 1
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(round(julian - _JD_OF_1970 - 0.5)))


@lru_cache(maxsize=1)
def _lunar_month_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The table of `_lunar_months` for 1900-2099 as arrays indexed [year - 1900, month]: the day number
    (days since 1970-01-01) of each non-leap lunar month's first day, and its length (0 where absent)."""
    first = np.zeros((200, 13), dtype=np.int64)
    length = np.zeros((200, 13), dtype=np.int64)
    for year in range(1900, 2100):
        for month, (julian, days) in _lunar_months(year).items():
            first[year - 1900, month] = int(round(julian - _JD_OF_1970 - 0.5))
            length[year - 1900, month] = days
    return first, length


def lunar_as_solar_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """`lunar_as_solar` for many dates at once, as days since 1970-01-01 (-1 where the lunar date does not exist)."""
    first, length = _lunar_month_arrays()
    inside = (year >= 1900) & (year <= 2099) & (month >= 1) & (month <= 12)
    row = np.where(inside, year - 1900, 0)
    col = np.where(inside, month, 0)
    exists = inside & (day >= 1) & (day <= length[row, col])
    return np.where(exists, first[row, col] + day - 1, -1)


DATE_LEVELS = (
    "exact",
    "year_month",
    "year_only",
    "day_month_swapped",
    "lunar_as_solar",
    "within_7_days",
    "year_off_by_one",
    "digit_typo",
    "disagree",
)


def compare_dates(query: PartialDate | None, record: dt.date | None) -> str | None:
    """The comparison level of a recorded date against the registry's date (None when either is missing)."""
    if query is None or record is None:
        return None
    if query.precision == "year":
        if query.year == record.year:
            return "year_only"
        return "year_off_by_one" if abs(query.year - record.year) == 1 else "disagree"
    if query.precision == "month":
        if (query.year, query.month) == (record.year, record.month):
            return "year_month"
        return "disagree"
    assert query.month is not None and query.day is not None
    written = dt.date(query.year, query.month, query.day)
    if written == record:
        return "exact"
    if query.day <= 12 and query.day != query.month and (query.year, query.day, query.month) == (record.year, record.month, record.day):
        return "day_month_swapped"
    if lunar_as_solar(written) == record or lunar_as_solar(record) == written:
        return "lunar_as_solar"  # lunar digits on either side: the query's or the registry's
    if abs((written - record).days) <= 7:
        return "within_7_days"
    if (query.month, query.day) == (record.month, record.day) and abs(query.year - record.year) == 1:
        return "year_off_by_one"
    if one_edit(f"{written:%Y%m%d}", f"{record:%Y%m%d}"):
        return "digit_typo"
    return "disagree"


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates, vectorised (Hinnant, "chrono-Compatible Low-Level
    Date Algorithms", 2013: `days_from_civil`)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def compare_date_codes(query: PartialDate | None, births: np.ndarray) -> np.ndarray:
    """`compare_dates` for many registry dates at once: indices into `DATE_LEVELS`, -1 where missing.

    `births` holds registry dates as int YYYYMMDD (0 = missing), the index's `birth` column. The levels
    are tested in the same order as `compare_dates`, so each row gets exactly the level it would get there.
    """
    births = np.asarray(births, dtype=np.int64)
    out = np.full(len(births), -1, dtype=np.int8)
    if query is None or not len(births):
        return out
    present = births > 0
    year, month, day = births // 10000, births // 100 % 100, births % 100
    code = {level: i for i, level in enumerate(DATE_LEVELS)}
    if query.precision == "year":
        levels = np.where(year == query.year, code["year_only"],
                          np.where(np.abs(year - query.year) == 1, code["year_off_by_one"], code["disagree"]))
    elif query.precision == "month":
        levels = np.where((year == query.year) & (month == query.month), code["year_month"], code["disagree"])
    else:
        assert query.month is not None and query.day is not None
        written = dt.date(query.year, query.month, query.day)
        written_int = query.year * 10000 + query.month * 100 + query.day
        swapped = query.year * 10000 + query.day * 100 + query.month if query.day <= 12 and query.day != query.month else -1
        lunar = lunar_as_solar(written)
        lunar_int = lunar.year * 10000 + lunar.month * 100 + lunar.day if lunar is not None else -1
        written_days = (written - dt.date(1970, 1, 1)).days
        levels = np.full(len(births), code["disagree"], dtype=np.int64)
        # Every level but `digit_typo` needs the years within one of each other (a lunar date is at most a
        # few weeks before the solar one; seven days; a year off): only those rows take the full tests.
        near = np.flatnonzero(np.abs(year - query.year) <= 1)
        if len(near):
            b, y, m, d = births[near], year[near], month[near], day[near]
            days = _days_from_civil(y, np.maximum(m, 1), np.maximum(d, 1))
            registry_lunar = lunar_as_solar_days(y, m, d) == written_days
            levels[near] = np.select(
                [b == written_int, b == swapped, (b == lunar_int) | registry_lunar, np.abs(days - written_days) <= 7,
                 (m == query.month) & (d == query.day) & (np.abs(y - query.year) == 1)],
                [code["exact"], code["day_month_swapped"], code["lunar_as_solar"], code["within_7_days"], code["year_off_by_one"]],
                default=code["disagree"])
        # One mistyped digit or adjacent swap in YYYYMMDD leaves the year or the month and day untouched, or
        # (a swap across them) the first three and last three digits: a necessary condition, then the test.
        rest = np.flatnonzero((levels == code["disagree"]) & (
            (year == query.year) | (births % 10000 == written_int % 10000)
            | ((births // 100000 == written_int // 100000) & (births % 1000 == written_int % 1000))))
        if len(rest):
            digits = births[rest, None] // 10 ** np.arange(7, -1, -1) % 10
            written_digits = np.array([int(c) for c in f"{written_int:08d}"])
            levels[rest[one_edit_rows(digits, written_digits)]] = code["digit_typo"]
    out[present] = levels[present]
    return out
