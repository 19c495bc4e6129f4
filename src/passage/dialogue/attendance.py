"""Attendance counts of an event: by institution, institution type and province, and the footnote lists.

The footnotes follow seed 000: provinces in the order of the national administrative division code
(GB/T 2260, which is the order of `rules.PROVINCES` and of the seed's footnote 1), member states and
embassies with EU member states first, alphabetically, then other states (the seed lists Norway last).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pycountry
from babel import Locale

from passage.dialogue.rules import PROVINCES, is_eu_member_state, province_name
from passage.dialogue.schemas import InstitutionType

if TYPE_CHECKING:  # the ORM types only annotate: a pure rule file imports no ORM at run time
    from passage.dialogue import models as m

# A member state is "represented" by its own authorities; embassies get their own footnote and a
# university or an IOM office in a member state does not represent that state.
_GOVERNMENT_TYPES = {InstitutionType.ministry, InstitutionType.bureau, InstitutionType.provincial_office}

_ENGLISH_COUNTRY_NAMES = {"NL": "the Netherlands", "GB": "the United Kingdom", "CZ": "Czechia", "EU": "the European Union"}


@functools.lru_cache(maxsize=4)
def _zh_territories() -> dict[str, str]:
    return dict(Locale.parse("zh_Hans").territories)


def country_name(code: str, lang: str) -> str:
    """Country name as a report prints it (`the Netherlands`, `荷兰`)."""
    if lang == "zh":
        return "欧盟" if code == "EU" else _zh_territories().get(code, code)
    if code in _ENGLISH_COUNTRY_NAMES:
        return _ENGLISH_COUNTRY_NAMES[code]
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return str(getattr(country, "common_name", None) or country.name)


@dataclass(frozen=True)
class InstitutionCount:
    institution: m.Institution
    headcount: int | None
    named: int


@dataclass
class AttendanceSummary:
    total: int | None
    """Registered headcount, else the sum of institutional headcounts and named people; None if unknown."""
    total_is_complete: bool
    institutions: list[InstitutionCount] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)
    """Institution type -> number of institutions present."""
    provinces: list[str] = field(default_factory=list)
    """ISO 3166-2:CN codes of provincial-level offices present."""
    province_headcounts: dict[str, int | None] = field(default_factory=dict)
    member_states: list[str] = field(default_factory=list)
    """EU member states (on the event's date) represented by their own authorities, not embassies."""
    embassies: list[str] = field(default_factory=list)
    """Sending states of the embassies present."""


def _state_order(event: m.Event) -> Callable[[str], tuple[int, str]]:
    def key(code: str) -> tuple[int, str]:
        eu = is_eu_member_state(code, event.start_date)
        return (0 if eu else 1, country_name(code, "en").removeprefix("the ").casefold())

    return key


def summarise_attendance(event: m.Event) -> AttendanceSummary:
    """Counts by institution, institution type and province, and the footnote lists, for one event."""
    named: dict[str, int] = {}
    for participation in event.participations:
        institution_id = participation.participant.institution_id
        named[institution_id] = named.get(institution_id, 0) + 1
    rows: dict[str, InstitutionCount] = {}
    for row in event.institutions:
        rows[row.institution_id] = InstitutionCount(row.institution, row.headcount, named.get(row.institution_id, 0))
    for participation in event.participations:
        institution = participation.participant.institution
        if institution.id not in rows:
            rows[institution.id] = InstitutionCount(institution, None, named.get(institution.id, 0))
    institutions = sorted(rows.values(), key=lambda c: (list(InstitutionType).index(InstitutionType(c.institution.institution_type)), c.institution.name_en))
    by_type: dict[str, int] = {}
    for count in institutions:
        by_type[count.institution.institution_type] = by_type.get(count.institution.institution_type, 0) + 1
    province_headcounts: dict[str, int | None] = {}
    for count in institutions:
        code = count.institution.province
        if count.institution.institution_type == InstitutionType.provincial_office and code:
            previous = province_headcounts.get(code, 0)
            province_headcounts[code] = None if previous is None or count.headcount is None else previous + count.headcount
    order = list(PROVINCES)
    provinces = sorted(province_headcounts, key=order.index)
    state_key = _state_order(event)
    member_states = sorted(
        {
            c.institution.country
            for c in institutions
            if c.institution.country
            and c.institution.institution_type in _GOVERNMENT_TYPES
            and is_eu_member_state(c.institution.country, event.start_date)
        },
        key=state_key,
    )
    embassies = sorted(
        {c.institution.country for c in institutions if c.institution.institution_type == InstitutionType.embassy and c.institution.country},
        key=state_key,
    )
    if event.headcount is not None:
        total: int | None = event.headcount
        complete = True
    else:
        known = [max(c.headcount or 0, c.named) for c in institutions]
        total = sum(known) if institutions else None
        complete = all(c.headcount is not None or c.named for c in institutions)
    return AttendanceSummary(
        total=total,
        total_is_complete=complete,
        institutions=institutions,
        by_type=by_type,
        provinces=provinces,
        province_headcounts={p: province_headcounts[p] for p in provinces},
        member_states=member_states,
        embassies=embassies,
    )


def province_names(summary: AttendanceSummary, lang: str) -> list[str]:
    return [province_name(code, lang) for code in summary.provinces]
