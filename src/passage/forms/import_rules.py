"""What becomes of each checked row of an import: stored, skipped as a duplicate, or quarantined. Pure.

The row classifier of `passage.forms.service.import_export` (issue 13 part 5), no I/O: the service looks
up what is already stored (digests, decrypted data where a digest cannot be used, open quarantine
entries) and passes it in; this module decides, and the batch writer writes.

The rules (docs/forms.md, "Import"):
- a row without a uuid, or with errors, goes to the quarantine with its errors, unless an open
  quarantine entry with the same uuid already holds exactly the same data (then it is a duplicate);
  an open entry with different data is superseded by the new one;
- a valid row whose uuid is stored (or was seen earlier in the same file) with the same data,
  calculations left out, is a duplicate; with different data it is quarantined as `uuid_conflict`;
- any other valid row is stored, and an open quarantine entry with its uuid is resolved as accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

MISSING_UUID = {"field": "_uuid", "reason": "missing_uuid", "message": "the row has no submission uuid"}
UUID_CONFLICT = {"field": "_uuid", "reason": "uuid_conflict", "message": "this uuid is already stored with different data"}


class Verdict(StrEnum):
    STORE = "store"
    DUPLICATE = "duplicate"
    QUARANTINE = "quarantine"


@dataclass(frozen=True)
class RowVerdict:
    verdict: Verdict
    errors: list[dict[str, str]] = field(default_factory=list)
    """For QUARANTINE: the error records, the first one naming the row's field and reason."""
    open_entry: str | None = None
    """What becomes of the open quarantine entry with this uuid: "superseded", "accepted" or None."""


def comparable(values: Mapping[str, Any], calculated: frozenset[str]) -> dict[str, Any]:
    """Submission values without calculations (they may depend on today()) for duplicate comparison."""
    return {key: value for key, value in values.items() if key not in calculated}


def classify_row(
    *,
    uuid: str | None,
    errors: list[dict[str, str]],
    digest: str | None,
    values: Mapping[str, Any] | None,
    calculated: frozenset[str],
    stored: tuple[str, str | None] | None,
    stored_values: Mapping[str, Any] | None,
    seen_values: Mapping[str, Any] | None,
    open_entry_data: Mapping[str, Any] | None,
    row_data: Callable[[], Mapping[str, Any]],
) -> RowVerdict:
    """The verdict for one checked row (see the module docstring).

    `stored` is (version id, digest) of the stored submission with this uuid, `stored_values` its
    decrypted data when its digest cannot be compared, `seen_values` the values of an earlier row of the
    same file with this uuid, `open_entry_data` the data of an open quarantine entry with this uuid;
    `row_data` gives the row's raw data (only called when a quarantine entry must be compared).
    """
    if not uuid:
        errors = [MISSING_UUID, *errors]
    has_open = open_entry_data is not None
    if errors:
        if has_open and open_entry_data == row_data():
            return RowVerdict(Verdict.DUPLICATE)  # already waiting in the quarantine, unchanged
        return RowVerdict(Verdict.QUARANTINE, errors, "superseded" if has_open else None)
    same: bool | None = None
    if stored is not None:
        if stored_values is not None:
            same = comparable(stored_values, calculated) == comparable(values or {}, calculated)
        else:
            same = digest == stored[1]
    elif seen_values is not None:
        same = comparable(seen_values, calculated) == comparable(values or {}, calculated)
    if same is True:
        return RowVerdict(Verdict.DUPLICATE)
    if same is False:
        return RowVerdict(Verdict.QUARANTINE, [UUID_CONFLICT])
    return RowVerdict(Verdict.STORE, open_entry="accepted" if has_open else None)


def repeated(uuids: Iterable[str]) -> set[str]:
    """The uuids that occur more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for value in uuids:
        if value in seen:
            twice.add(value)
        seen.add(value)
    return twice
