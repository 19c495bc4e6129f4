"""Official annual holiday notices: parsing, the shipped ones, and attaching them to agreement calendars.

Where they are kept (a documented choice, see `docs/readmission.md`): the notices that ship with Passage
are data files in `data/calendars/` (today China's 2026 notice of 4 November 2025); the ones an
administrator adds with `passage calendars load NOTICE.json` are rows of `readmission_calendar_notice`,
immutable and versioned like agreement versions, so that every process of a deployment sees the same
calendar and the audit chain records who loaded which notice. The catalogue (`store.all_agreements`)
attaches both to each agreement version whose calendar is that country's, so the deadline rules stay pure.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from pydantic import ValidationError

from passage.core.errors import FieldError, InvalidInput
from passage.core.files import decode_json_bytes
from passage.core.i18n import N_, T_
from passage.readmission.schemas import Agreement, CalendarNotice

SHIPPED_PACKAGE = "passage.readmission.data.calendars"


def parse_notice(data: Any, *, source: str = "notice") -> CalendarNotice:
    """Validate a decoded notice; `InvalidInput` names every field path at fault."""
    try:
        return CalendarNotice.model_validate(data)
    except ValidationError as exc:
        fields = [FieldError(path=".".join(str(p) for p in err["loc"]) or "(file)", message=err["msg"]) for err in exc.errors()]
        raise InvalidInput(T_("{source}: not a valid calendar notice", source=source), fields=fields) from None


def parse_notice_bytes(raw: bytes, *, source: str = "notice") -> CalendarNotice:
    return parse_notice(decode_json_bytes(raw, source=source), source=source)


def notice_checksum(notice: CalendarNotice) -> str:
    canonical = json.dumps(notice.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=1)
def shipped_notices() -> tuple[CalendarNotice, ...]:
    """The notices in `data/calendars/`, sorted by country, year and version."""
    found = []
    for entry in sorted(resources.files(SHIPPED_PACKAGE).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            found.append(parse_notice_bytes(entry.read_bytes(), source=entry.name))
    keys = [n.key for n in found]
    if len(keys) != len(set(keys)):
        raise InvalidInput(N_("data/calendars: a country, year and version is shipped twice"))
    return tuple(sorted(found, key=lambda n: (n.country, n.year, n.version)))


def with_notices(agreement: Agreement, notices: Iterable[CalendarNotice]) -> Agreement:
    """The agreement with each version's calendar carrying the notices of its country."""
    pool = list(notices)
    versions = []
    for version in agreement.versions:
        country = version.calendar.country
        own = [n for n in pool if n.country == country]
        if not own:
            versions.append(version)
            continue
        # notices written into the agreement file itself are kept; the catalogue's win on the same key
        merged = {n.key: n for n in (*version.calendar.notices, *own)}
        calendar = version.calendar.model_copy(update={"notices": tuple(sorted(merged.values(), key=lambda n: (n.year, n.version)))})
        versions.append(version.model_copy(update={"calendar": calendar}))
    return agreement.model_copy(update={"versions": tuple(versions) if isinstance(agreement.versions, tuple) else versions})
