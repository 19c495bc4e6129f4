"""Analysis windows (`YYYY-MM-DD..YYYY-MM-DD`, both ends inclusive) and their checks.

Flowminder's flows-above-normal method compares home locations over three windows: a benchmark
(before the crisis), a comparison window (the same length, also before the crisis, giving the normal
churn) and a focal window (after the crisis) - Wilson et al. 2016, PLoS Currents Disasters,
doi:10.1371/currents.dis.d073fbece328e4c39087bc086d694b5c. A window that is empty, reversed or that
overlaps another is an input error, never a silent zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from passage.core.errors import FieldError, InvalidInput
from passage.core.i18n import T_


@dataclass(frozen=True, order=True)
class Window:
    """A closed range of days."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def overlaps(self, other: Window) -> bool:
        return self.start <= other.end and other.start <= self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def parse_window(text: str, *, field: str = "window") -> Window:
    """Parse `YYYY-MM-DD..YYYY-MM-DD`; reversed or malformed windows raise `InvalidInput` naming `field`."""
    if not isinstance(text, str) or text.count("..") != 1:
        raise InvalidInput(T_("{field}: expected YYYY-MM-DD..YYYY-MM-DD", field=field), fields=[FieldError(field, T_("malformed window"))])
    left, right = (part.strip() for part in text.split(".."))
    if not left or not right:
        raise InvalidInput(T_("{field}: the window is empty; give both a start and an end day", field=field), fields=[FieldError(field, T_("empty window"))])
    try:
        start, end = dt.date.fromisoformat(left), dt.date.fromisoformat(right)
    except ValueError:
        raise InvalidInput(T_("{field}: days must be written YYYY-MM-DD", field=field), fields=[FieldError(field, T_("unparseable day"))]) from None
    if end < start:
        raise InvalidInput(T_("{field}: the window is reversed (end before start)", field=field), fields=[FieldError(field, T_("reversed window"))])
    return Window(start, end)


def check_disjoint(named: dict[str, Window]) -> None:
    """Refuse windows that share a day: the method needs independent home estimates per window."""
    items = list(named.items())
    problems = [
        FieldError(a_name, T_("overlaps {b_name}", b_name=b_name))
        for i, (a_name, a) in enumerate(items)
        for b_name, b in items[i + 1 :]
        if a.overlaps(b)
    ]
    if problems:
        raise InvalidInput(T_("analysis windows overlap"), fields=problems)


def span(windows: list[Window]) -> Window:
    """The smallest window that covers all of `windows`."""
    return Window(min(w.start for w in windows), max(w.end for w in windows))


# --- FlowKit conventions ----------------------------------------------------------------------------
# FlowKit (Flowminder's flowclient/flowmachine) writes periods as `start_date` and `end_date` where
# end_date is "the day _after_ the final date of the period" (flowclient `modal_location_from_dates_spec`),
# names spatial units `admin0`..`admin3`, and returns admin-unit results as `pcod`/`pcod_from`/`pcod_to` with
# one count column `value` (flowmachine's approved SQL: `SELECT pcod_from, pcod_to, COUNT(*) AS value`).
# Passage's own windows are inclusive `A..B`; these helpers translate so that a FlowKit user is not a day off.

FLOWKIT_AGGREGATION_UNITS = {"admin0": "0", "admin1": "1", "admin2": "2", "admin3": "3"}
FLOWKIT_KEY_COLUMNS = {"pcode": "pcod", "origin_pcode": "pcod_from", "destination_pcode": "pcod_to"}
FLOWKIT_VALUE_COLUMNS = ("subscribers", "events", "above_normal")


def window_from_flowkit(start_date: str, end_date: str, *, field: str = "start_date") -> Window:
    """FlowKit's half-open period [start_date, end_date) as Passage's inclusive window start..end_date-1."""
    try:
        start, end = dt.date.fromisoformat(start_date.strip()), dt.date.fromisoformat(end_date.strip())
    except (AttributeError, ValueError):
        raise InvalidInput(T_("{field}: start and end dates must be written YYYY-MM-DD", field=field), fields=[FieldError(field, T_("unparseable day"))]) from None
    if end <= start:
        raise InvalidInput(T_("end_date is exclusive (the day after the last day), so it must come after start_date"),
                           fields=[FieldError("end_date", T_("not after start_date"))])
    return Window(start, end - dt.timedelta(days=1))


def level_from_aggregation_unit(unit: str) -> str:
    """FlowKit's `admin2` as Passage's level `2`."""
    level = FLOWKIT_AGGREGATION_UNITS.get(unit.strip().lower())
    if level is None:
        raise InvalidInput(T_("aggregation unit must be one of {FLOWKIT_AGGREGATION_UNITS}", FLOWKIT_AGGREGATION_UNITS=', '.join(FLOWKIT_AGGREGATION_UNITS)),
                           fields=[FieldError("aggregation_unit", T_("unknown"))])
    return level


def flowkit_columns(columns: list[str] | tuple[str, ...]) -> list[str]:
    """Output column names as FlowKit writes them: `pcod`, `pcod_from`, `pcod_to`, and `value` for the count
    (for flows above normal, `above_normal` is the value; its two component counts keep their names)."""
    value_column = "above_normal" if "above_normal" in columns else next((c for c in columns if c in FLOWKIT_VALUE_COLUMNS), None)
    return [FLOWKIT_KEY_COLUMNS.get(c, "value" if c == value_column else c) for c in columns]
