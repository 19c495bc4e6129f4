"""Write src/passage/identity/data/lunar_months.json: the first Julian day and length of every non-leap lunar
month of 1900-2099, computed once with lunar-python (MIT licence; astronomical terms after 寿星天文历).

`passage.identity.dates` reads the table so that no query pays for the astronomy (about 25 ms per year);
`tests/identity/test_dates.py` checks the table against lunar-python.

Usage: .venv/bin/python scripts/lunar_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

from lunar_python import LunarYear

FIRST_YEAR, LAST_YEAR = 1900, 2099
TARGET = Path(__file__).resolve().parents[1] / "src" / "passage" / "identity" / "data" / "lunar_months.json"


def months_of(year: int) -> dict[str, list[float]]:
    """{month: [Julian day of its first day, number of days]} for the non-leap months of lunar `year`."""
    out: dict[str, list[float]] = {}
    for source in (year, year + 1):
        for month in LunarYear.fromYear(source).getMonths():
            if month.getYear() == year and month.getMonth() > 0:
                out[str(month.getMonth())] = [month.getFirstJulianDay(), month.getDayCount()]
    return out


def main() -> None:
    table = {str(year): months_of(year) for year in range(FIRST_YEAR, LAST_YEAR + 1)}
    TARGET.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {TARGET} ({LAST_YEAR - FIRST_YEAR + 1} years)")


if __name__ == "__main__":
    main()
