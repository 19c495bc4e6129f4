"""Field comparisons between one query (as a foreign authority recorded it) and one registry record.

Each comparison returns a level name (or None when the field is missing on either side); the scoring
model turns levels into log-likelihood ratios. Name comparison follows the agreement-level design of
Fellegi & Sunter (1969) with approximate string agreement by Jaro-Winkler (Winkler 1990) on the
compact written forms of every romanisation (see `romanisation`).

Graded string similarity (wave 3): a name part agrees `exact`, `close` (Jaro-Winkler >= 0.88, any
script) or, when the registry writes the name in Latin script, `weak` (Jaro-Winkler >= 0.80), the banded
agreement levels of Winkler (1990) and of Splink's NameComparison. The weak band is not used for
registries in characters: two different pinyin syllables often score 0.80 (zhang/zhan), and the
cross-romanisation tables already carry the spelling variation there. m and u per level come from EM
and random sampling like every other level (`scoring`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz.distance import JaroWinkler

from passage.identity import dates, places, resident_id
from passage.identity.romanisation import all_forms, compact, fold_latin, is_han, split_double_surname

NAME_LEVELS = (
    "exact",
    "surname_exact_given_close",
    "given_exact_surname_close",
    "both_close",
    "surname_exact_given_weak",
    "given_exact_surname_weak",
    "close_and_weak",
    "both_weak",
    "surname_only",
    "given_only",
    "disagree",
)
CLOSE = 0.88
WEAK = 0.80
_RANK = {level: i for i, level in enumerate(NAME_LEVELS)}


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


@lru_cache(maxsize=500_000)
def _forms_of(text: str, *, surname: bool) -> frozenset[str]:
    if not text:
        return frozenset()
    return all_forms(text, surname=surname)


def _part_level(query_forms: frozenset[str], record_forms: frozenset[str], *, graded: bool = False) -> str:
    """`exact`, `close`, `weak` (only when `graded`, i.e. a Latin-script registry) or `disagree` for one name part."""
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
    return "weak" if graded and best >= WEAK else "disagree"


_COMBINE = {
    ("exact", "exact"): "exact",
    ("exact", "close"): "surname_exact_given_close",
    ("close", "exact"): "given_exact_surname_close",
    ("close", "close"): "both_close",
    ("exact", "weak"): "surname_exact_given_weak",
    ("weak", "exact"): "given_exact_surname_weak",
    ("close", "weak"): "close_and_weak",
    ("weak", "close"): "close_and_weak",
    ("weak", "weak"): "both_weak",
    ("exact", "disagree"): "surname_only",
    ("exact", "missing"): "surname_only",
    ("disagree", "exact"): "given_only",
    ("missing", "exact"): "given_only",
    ("close", "missing"): "surname_only",
    ("missing", "close"): "given_only",
}


def _combine(s: str, g: str) -> str | None:
    if s == "missing" and g == "missing":
        return None
    return _COMBINE.get((s, g), "disagree")


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


class QueryNames:
    """The name readings of one query, prepared once and compared with many registry names.

    Equivalent to calling `compare_names` per record, but the query's forms are folded once and each
    distinct registry (family, given) pair is compared once per query (the vectorised search path).
    """

    def __init__(self, query: Query) -> None:
        self.interpretations = [(_query_forms(f, surname=True), _query_forms(g, surname=False)) for f, g in name_interpretations(query)]
        self.whole = compact(query.full_name) if query.full_name and not is_han(query.full_name) else ""
        self.empty = not self.interpretations and not self.whole
        self._cache: dict[tuple[str, str], str | None] = {}

    def level(self, family: str, given: str) -> str | None:
        key = (family, given)
        if key not in self._cache:
            self._cache[key] = self._level(family, given)
        return self._cache[key]

    def _level(self, family: str, given: str) -> str | None:
        record_s = _forms_of(family, surname=True)
        record_g = _forms_of(given, surname=False)
        graded = not is_han(family + given)
        best: str | None = None
        for q_s, q_g in self.interpretations:
            level = _combine(_part_level(q_s, record_s, graded=graded), _part_level(q_g, record_g, graded=graded))
            if level is not None and (best is None or _RANK[level] < _RANK[best]):
                best = level
                if best == "exact":
                    break
        if best != "exact" and self.whole:
            # A full name written without any space ("ZHANGWEI") or in one token: match against concatenations.
            for s in record_s:
                for g in record_g:
                    if self.whole in (s + g, g + s):
                        return "exact"
        return best


def compare_names(query: Query, record: Record) -> str | None:
    """Best name level over the plausible readings of the query (order reversed, fields swapped, full name)."""
    return QueryNames(query).level(record.family_name, record.given_name)


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
