"""Values derived from objects that are never changed once built, remembered by the object's identity.

The catalogues a request reads (agreements with their calendars, kept per process by
`core.db.cached_from_tables`) hand out the same objects until the tables change; what is computed from one of
them (its unverified figures, the deadlines for a set of case dates) is then the same on every request too.
Pydantic models are not hashable, so the key is the object's identity, checked against the object kept with the
value (an id can be reused once an object is gone)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class ByIdentity(Generic[V]):
    """`memo.get(obj, compute)`: `compute()` the first time for this very object, the kept value after. Holds at
    most `limit` objects (then starts afresh), and keeps each one alive while its value is kept. Callers must not
    change a value they get."""

    def __init__(self, *, limit: int = 64) -> None:
        self.limit = limit
        self._kept: dict[int, tuple[object, V]] = {}

    def get(self, obj: object, compute: Callable[[], V]) -> V:
        kept = self._kept.get(id(obj))
        if kept is not None and kept[0] is obj:
            return kept[1]
        value = compute()
        if len(self._kept) >= self.limit:
            self._kept.clear()
        self._kept[id(obj)] = (obj, value)
        return value
