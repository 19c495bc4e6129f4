"""Dates: the vectorised comparison equals `compare_dates`, and the lunar month table equals lunar-python."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest
from lunar_python import LunarYear

from passage.identity import dates


def _as_int(d: dt.date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _cases() -> list[tuple[dates.PartialDate, list[dt.date]]]:
    rng = random.Random(3)
    out = []
    for _ in range(150):
        base = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 60))
        near = [base, base + dt.timedelta(days=rng.randrange(-9, 10)), base.replace(year=base.year + rng.choice([-1, 1]))
                if not (base.month == 2 and base.day == 29) else base, dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 60))]
        if base.day <= 12:
            near.append(dt.date(base.year, base.day, base.month))
        if base.year < 1990:
            near.append(base.replace(year=base.year + 10))  # one digit of the year mistyped
        lunar = dates.lunar_as_solar(base)
        if lunar is not None:
            near.append(lunar)
        solar_of_base = next((base - dt.timedelta(days=k) for k in range(15, 60)
                              if dates.lunar_as_solar(base - dt.timedelta(days=k)) == base), None)
        if solar_of_base is not None:
            near.append(solar_of_base)  # the registry holds lunar digits whose solar date is the query's
        for query in (dates.PartialDate(base.year, base.month, base.day), dates.PartialDate(base.year, base.month), dates.PartialDate(base.year)):
            out.append((query, near))
    return out


def test_compare_date_codes_equals_compare_dates() -> None:
    seen = set()
    for query, records in _cases():
        births = np.array([_as_int(d) for d in records] + [0], dtype=np.int32)
        codes = dates.compare_date_codes(query, births)
        expected = [dates.compare_dates(query, d) for d in records] + [None]
        got = [dates.DATE_LEVELS[c] if c >= 0 else None for c in codes.tolist()]
        assert got == expected, query
        seen.update(got)
    assert set(dates.DATE_LEVELS) <= seen  # every level was exercised
    assert (dates.compare_date_codes(None, np.array([19800101])) == -1).all()


@pytest.mark.parametrize("year", [1900, 1949, 1984, 2020, 2033, 2099])
def test_lunar_table_equals_lunar_python(year: int) -> None:
    expected = {}
    for source in (year, year + 1):
        for month in LunarYear.fromYear(source).getMonths():
            if month.getYear() == year and month.getMonth() > 0:
                expected[month.getMonth()] = (month.getFirstJulianDay(), month.getDayCount())
    assert dates._lunar_months(year) == expected


def test_lunar_outside_the_table_is_still_computed() -> None:
    months = dates._lunar_months(2100)  # computed with lunar-python, not from the table
    assert set(months) == set(range(1, 13)) and all(days in (29, 30) for _, days in months.values())


def test_one_mistyped_digit_is_a_typo_not_a_disagreement() -> None:
    record = dt.date(1959, 8, 28)
    assert dates.compare_dates(dates.PartialDate(1959, 8, 8), record) == "digit_typo"  # 19590808 vs 19590828
    assert dates.compare_dates(dates.PartialDate(1969, 8, 28), record) == "digit_typo"
    assert dates.compare_dates(dates.PartialDate(1995, 8, 28), record) == "digit_typo"  # adjacent digits swapped
    assert dates.compare_dates(dates.PartialDate(1971, 3, 2), record) == "disagree"


def test_lunar_digits_match_a_solar_date_on_either_side() -> None:
    # Mid-autumn 1985: lunar 1985-08-15 fell on Sunday 29 September 1985 (Gregorian).
    lunar_digits, solar = dt.date(1985, 8, 15), dt.date(1985, 9, 29)
    assert dates.lunar_as_solar(lunar_digits) == solar
    # The query wrote the lunar digits; the registry holds the solar date.
    assert dates.compare_dates(dates.PartialDate(1985, 8, 15), solar) == "lunar_as_solar"
    # The registry wrote the lunar digits; the query holds the solar date (issue 19: was "disagree").
    assert dates.compare_dates(dates.PartialDate(1985, 9, 29), lunar_digits) == "lunar_as_solar"
    codes = dates.compare_date_codes(dates.PartialDate(1985, 9, 29), np.array([19850815, 19850816, 0]))
    assert [dates.DATE_LEVELS[c] if c >= 0 else None for c in codes.tolist()] == ["lunar_as_solar", "disagree", None]


def test_vectorised_lunar_conversion_equals_the_scalar_one() -> None:
    rng = random.Random(11)
    samples = [dt.date(1900, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 200)) for _ in range(2000)]
    samples += [dt.date(1984, 12, 30), dt.date(2099, 12, 30), dt.date(1900, 1, 1)]
    year = np.array([d.year for d in samples])
    month = np.array([d.month for d in samples])
    day = np.array([d.day for d in samples])
    got = dates.lunar_as_solar_days(year, month, day)
    for d, days in zip(samples, got.tolist(), strict=True):
        solar = dates.lunar_as_solar(d)
        assert days == ((solar - dt.date(1970, 1, 1)).days if solar is not None else -1), d


def test_compare_date_codes_finds_every_single_digit_typo_and_swap() -> None:
    """The vectorised path tests the full levels only near the query's year and digit typos only where the year,
    or the month and day, or the first and last three digits agree: every one-edit date must still be found."""
    rng = np.random.default_rng(3)
    for written in (dt.date(1985, 9, 29), dt.date(1969, 10, 1), dt.date(2001, 12, 31), dt.date(1990, 1, 9)):
        text = f"{written:%Y%m%d}"
        variants = set()
        for i in range(8):
            for digit in "0123456789":
                variants.add(text[:i] + digit + text[i + 1:])
            if i < 7:
                variants.add(text[:i] + text[i + 1] + text[i] + text[i + 2:])
        records = []
        for v in sorted(variants):
            try:
                if v[0] != "0":  # a year below 1000 is no birth date (and strftime would not pad it)
                    records.append(dt.date(int(v[:4]), int(v[4:6]), int(v[6:])))
            except ValueError:
                continue
        records += [dt.date(1900, 1, 1) + dt.timedelta(days=int(k)) for k in rng.integers(0, 73000, 300)]
        query = dates.PartialDate(written.year, written.month, written.day)
        births = np.array([_as_int(d) for d in records], dtype=np.int32)
        got = [dates.DATE_LEVELS[c] for c in dates.compare_date_codes(query, births).tolist()]
        assert got == [dates.compare_dates(query, d) for d in records]
        assert got.count("digit_typo") > 10
