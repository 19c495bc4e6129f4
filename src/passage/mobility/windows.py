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
        raise InvalidInput(f"{field}: expected YYYY-MM-DD..YYYY-MM-DD", fields=[FieldError(field, "malformed window")])
    left, right = (part.strip() for part in text.split(".."))
    if not left or not right:
        raise InvalidInput(f"{field}: the window is empty; give both a start and an end day", fields=[FieldError(field, "empty window")])
    try:
        start, end = dt.date.fromisoformat(left), dt.date.fromisoformat(right)
    except ValueError:
        raise InvalidInput(f"{field}: days must be written YYYY-MM-DD", fields=[FieldError(field, "unparseable day")]) from None
    if end < start:
        raise InvalidInput(f"{field}: the window is reversed (end before start)", fields=[FieldError(field, "reversed window")])
    return Window(start, end)


def check_disjoint(named: dict[str, Window]) -> None:
    """Refuse windows that share a day: the method needs independent home estimates per window."""
    items = list(named.items())
    problems = [
        FieldError(a_name, f"overlaps {b_name}")
        for i, (a_name, a) in enumerate(items)
        for b_name, b in items[i + 1 :]
        if a.overlaps(b)
    ]
    if problems:
        raise InvalidInput("analysis windows overlap", fields=problems)


def span(windows: list[Window]) -> Window:
    """The smallest window that covers all of `windows`."""
    return Window(min(w.start for w in windows), max(w.end for w in windows))
