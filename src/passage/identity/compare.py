"""Field comparisons between one query (as a foreign authority recorded it) and one registry record.

Each comparison returns a level name (or None when the field is missing on either side); the scoring
model turns levels into log-likelihood ratios. Name comparison follows the agreement-level design of
Fellegi & Sunter (1969) with approximate string agreement by Jaro-Winkler (Winkler 1990) on the
compact written forms of every romanisation (see `romanisation`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rapidfuzz.distance import JaroWinkler

from passage.identity import dates, places, resident_id
from passage.identity.romanisation import all_forms, compact, fold_latin, is_han

NAME_LEVELS = (
    "exact",
    "surname_exact_given_close",
    "given_exact_surname_close",
    "both_close",
    "surname_only",
    "given_only",
    "disagree",
)
CLOSE = 0.88


@dataclass(frozen=True)
class Query:
    """A query after parsing; strings are as recorded, `birth_date` may be partial."""

    query_id: str = ""
    family_name: str = ""
    given_name: str = ""
    full_name: str = ""
    sex: str = ""
    birth_date: dates.PartialDate | None = None
    birth_place: str = ""
    id_number: str = ""
    nationality: str = ""

    def usable(self) -> bool:
        return bool(self.family_name or self.given_name or self.full_name or self.id_number or self.birth_date)


@dataclass(frozen=True)
class Record:
    """A registry record; names and place in the registry's own script."""

    person_id: str
    family_name: str
    given_name: str
    sex: str
    birth_date: dt.date | None
    birth_place: str
    id_number: str


@dataclass
class Levels:
    """Comparison levels of one query-record pair; None means missing."""

    name: str | None = None
    birth_date: str | None = None
    sex: str | None = None
    birth_place: str | None = None
    id_number: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_tuple(self) -> tuple[str | None, ...]:
        return (self.name, self.birth_date, self.sex, self.birth_place, self.id_number)


def _forms_of(text: str, *, surname: bool) -> frozenset[str]:
    if not text:
        return frozenset()
    return all_forms(text, surname=surname)


def _part_level(query_forms: frozenset[str], record_forms: frozenset[str]) -> str:
    """`exact`, `close` or `disagree` for one name part."""
    if not query_forms or not record_forms:
        return "missing"
    if query_forms & record_forms:
        return "exact"
    best = 0.0
    for q in query_forms:
        for r in record_forms:
            best = max(best, JaroWinkler.normalized_similarity(q, r))
            if best >= CLOSE:
                return "close"
    return "disagree"


def _combine(s: str, g: str) -> str | None:
    if s == "missing" and g == "missing":
        return None
    table = {
        ("exact", "exact"): "exact",
        ("exact", "close"): "surname_exact_given_close",
        ("close", "exact"): "given_exact_surname_close",
        ("close", "close"): "both_close",
        ("exact", "disagree"): "surname_only",
        ("exact", "missing"): "surname_only",
        ("disagree", "exact"): "given_only",
        ("missing", "exact"): "given_only",
        ("close", "missing"): "surname_only",
        ("missing", "close"): "given_only",
    }
    return table.get((s, g), "disagree")


def _query_forms(text: str, *, surname: bool) -> frozenset[str]:
    if is_han(text):
        return _forms_of(text, surname=surname)
    folded = compact(text)
    return frozenset({folded}) if folded else frozenset()


def name_interpretations(query: Query) -> list[tuple[str, str]]:
    """(family, given) readings of the query: as split, swapped, and every split of the full name."""
    out: list[tuple[str, str]] = []
    if query.family_name or query.given_name:
        out.append((query.family_name, query.given_name))
        out.append((query.given_name, query.family_name))
    if query.full_name:
        if is_han(query.full_name):
            from passage.identity.romanisation import split_double_surname

            chars = query.full_name.replace(" ", "")
            double = split_double_surname(chars)
            if double:
                out.append(double)
            out.append((chars[:1], chars[1:]))
        else:
            tokens = fold_latin(query.full_name).split()
            if len(tokens) == 1:
                out.append((tokens[0], ""))
                out.append(("", tokens[0]))
            for i in range(1, len(tokens)):
                out.append((" ".join(tokens[:i]), " ".join(tokens[i:])))
                out.append((" ".join(tokens[i:]), " ".join(tokens[:i])))
    return list(dict.fromkeys(out))


def compare_names(query: Query, record: Record) -> str | None:
    """Best name level over the plausible readings of the query (order reversed, fields swapped, full name)."""
    record_s = _forms_of(record.family_name, surname=True)
    record_g = _forms_of(record.given_name, surname=False)
    best: str | None = None
    for family, given in name_interpretations(query):
        level = _combine(_part_level(_query_forms(family, surname=True), record_s), _part_level(_query_forms(given, surname=False), record_g))
        if level is not None and (best is None or NAME_LEVELS.index(level) < NAME_LEVELS.index(best)):
            best = level
            if best == "exact":
                break
    if best != "exact" and query.full_name and not is_han(query.full_name):
        # A full name written without any space ("ZHANGWEI") or in one token: match against concatenations.
        whole = compact(query.full_name)
        for s in record_s:
            for g in record_g:
                if whole in (s + g, g + s):
                    return "exact"
    return best


def query_place(query: Query) -> places.Place:
    return places.resolve(query.birth_place)


def record_place(record: Record) -> places.Place:
    place = places.resolve(record.birth_place)
    parsed = resident_id.parse(record.id_number) if record.id_number else None
    if parsed is not None and parsed.valid:
        region = places.region_place(parsed.region)
        return places.Place(place.codes | region.codes, place.fallback)
    return place


def effective_query(query: Query) -> tuple[Query, list[str]]:
    """Fill a missing date or sex from a valid query ID number, and note inconsistencies (no values)."""
    notes: list[str] = []
    parsed = resident_id.parse(query.id_number) if query.id_number else None
    if parsed is None:
        if query.id_number:
            notes.append("id_number is not an 18-character resident ID number; ignored")
        return query, notes
    if not parsed.valid:
        notes.append("id_number fails the ISO 7064 MOD 11-2 check; compared for near agreement only")
        return query, notes
    birth, sex = query.birth_date, query.sex
    if birth is None and parsed.birth_date is not None:
        birth = dates.PartialDate(parsed.birth_date.year, parsed.birth_date.month, parsed.birth_date.day)
        notes.append("birth_date taken from id_number")
    elif birth is not None and parsed.birth_date is not None and dates.compare_dates(birth, parsed.birth_date) not in ("exact", "year_month", "year_only"):
        notes.append("birth_date is inconsistent with id_number")
    if not sex and parsed.sex:
        sex = parsed.sex
        notes.append("sex taken from id_number")
    elif sex and parsed.sex and sex.upper()[:1] != parsed.sex:
        notes.append("sex is inconsistent with id_number")
    from dataclasses import replace

    return replace(query, birth_date=birth, sex=sex), notes


def compare(query: Query, record: Record) -> Levels:
    """All field levels for one pair. `query` should already be passed through `effective_query`."""
    levels = Levels()
    levels.name = compare_names(query, record)
    levels.birth_date = dates.compare_dates(query.birth_date, record.birth_date)
    q_sex = query.sex.strip().upper()[:1]
    if q_sex in ("M", "F") and record.sex in ("M", "F"):
        levels.sex = "agree" if q_sex == record.sex else "disagree"
    levels.birth_place = places.compare_places(query_place(query), record_place(record))
    levels.id_number = resident_id.compare_ids(query.id_number, record.id_number)
    return levels
