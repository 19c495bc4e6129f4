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
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cdist

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

    @property
    def sex_code(self) -> int:
        """The query's sex as the index's `sex` column codes it: 1 M, 2 F, 0 not given (or not M/F)."""
        return {"M": 1, "F": 2}.get(self.sex.strip().upper()[:1], 0)


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


@lru_cache(maxsize=1_000_000)
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


class FormsBlock:
    """The written forms of many registry name parts, flattened once for vectorised comparison.

    `part_codes` compares query readings with every part at once: all Jaro-Winkler similarities in one
    `rapidfuzz.process.cdist` call (float64, so the thresholds fall exactly where `_part_level`'s do),
    reduced to each part's best score. A similarity of exactly 1.0 means identical strings (Jaro is 1
    only for equal strings, and Winkler's prefix bonus keeps a lower score below 1).
    """

    def __init__(self, record_forms: Sequence[frozenset[str]]) -> None:
        self.count = len(record_forms)
        self.flat = [form for forms in record_forms for form in forms]
        sizes = np.array([len(forms) for forms in record_forms], dtype=np.int64)
        self.present = sizes > 0
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])[self.present] if len(sizes) else np.zeros(0, dtype=np.int64)
        self._best: dict[str, np.ndarray] = {}

    def prepare(self, query_sets: Sequence[frozenset[str]]) -> None:
        """Score every distinct query form against every part, in one call."""
        forms = [f for f in dict.fromkeys(f for qs in query_sets for f in qs) if f not in self._best]
        if not forms or not self.flat:
            return
        scores = cdist(forms, self.flat, scorer=JaroWinkler.normalized_similarity, dtype=np.float64, workers=1)
        best = np.maximum.reduceat(scores, self.starts, axis=1)
        for i, form in enumerate(forms):
            self._best[form] = best[i]

    def part_codes(self, query_forms: frozenset[str], *, graded: bool) -> np.ndarray:
        """`_part_level` of one query part against every part of the block, as indices into `PART_LEVELS`."""
        out = np.full(self.count, _PART_CODE["missing"], dtype=np.int8)
        if not query_forms or not self.flat:
            return out
        self.prepare([query_forms])
        best = np.max([self._best[f] for f in query_forms], axis=0)
        out[self.present] = np.where(best >= 1.0, _PART_CODE["exact"], np.where(
            best >= CLOSE, _PART_CODE["close"], np.where(graded & (best >= WEAK), _PART_CODE["weak"], _PART_CODE["disagree"])))
        return out


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


PART_LEVELS = ("exact", "close", "weak", "disagree", "missing")
_NO_NAME = len(NAME_LEVELS)
# Part level codes (surname, given) -> name level index; `_NO_NAME` when both parts are missing.
_COMBINE_TABLE = np.array([[_NO_NAME if (s, g) == ("missing", "missing") else _RANK[_COMBINE.get((s, g), "disagree")] for g in PART_LEVELS]
                           for s in PART_LEVELS], dtype=np.int8)
_PART_CODE = {level: i for i, level in enumerate(PART_LEVELS)}


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
        self._parts: dict[tuple[int, bool, str, bool], str] = {}

    def level(self, family: str, given: str) -> str | None:
        key = (family, given)
        if key not in self._cache:
            self._cache[key] = self._level(family, given)
        return self._cache[key]

    def level_codes(self, families: Sequence[str], givens: Sequence[str], family_of: np.ndarray, given_of: np.ndarray) -> np.ndarray:
        """`level` for many (family, given) pairs at once, as indices into `NAME_LEVELS` (-1 for None).

        Pair i is (families[family_of[i]], givens[given_of[i]]). Each distinct name part is compared once
        per reading of the query; the parts are then combined for every pair with a lookup table.
        """
        family_of = np.asarray(family_of, dtype=np.int64)
        given_of = np.asarray(given_of, dtype=np.int64)
        han_family = np.array([is_han(t) for t in families], dtype=bool)
        han_given = np.array([is_han(t) for t in givens], dtype=bool)
        graded = ~(han_family[family_of] | han_given[given_of]) if len(family_of) else np.zeros(0, dtype=bool)
        best = np.full(len(family_of), _NO_NAME, dtype=np.int8)
        family_block = FormsBlock([_forms_of(t, surname=True) for t in families])
        given_block = FormsBlock([_forms_of(t, surname=False) for t in givens])
        family_block.prepare([q_s for q_s, _ in self.interpretations])
        given_block.prepare([q_g for _, q_g in self.interpretations])
        for flag in np.unique(graded).tolist():
            chosen = np.flatnonzero(graded == flag)
            for q_s, q_g in self.interpretations:
                s_codes = family_block.part_codes(q_s, graded=flag)
                g_codes = given_block.part_codes(q_g, graded=flag)
                best[chosen] = np.minimum(best[chosen], _COMBINE_TABLE[s_codes[family_of[chosen]], g_codes[given_of[chosen]]])
        if self.whole:
            pending = np.flatnonzero(best != _RANK["exact"])
            if len(pending):
                # For each distinct family name, the given-name forms that would complete the whole name.
                completions = [self._completions(t) for t in families]
                given_forms = [_forms_of(t, surname=False) for t in givens]
                for i in pending.tolist():
                    if not completions[family_of[i]].isdisjoint(given_forms[given_of[i]]):
                        best[i] = _RANK["exact"]
        return np.where(best == _NO_NAME, -1, best).astype(np.int8)

    def _completions(self, family: str) -> frozenset[str]:
        """Given-name forms g such that the whole name is s + g or g + s for a form s of `family`."""
        whole = self.whole
        out = set()
        for s in _forms_of(family, surname=True):
            if whole.startswith(s):
                out.add(whole[len(s):])
            if whole.endswith(s):
                out.add(whole[:len(whole) - len(s)])
        return frozenset(out)

    def _whole_agrees(self, family: str, given: str) -> bool:
        """A full name written without any space ("ZHANGWEI") or in one token agrees with a concatenation."""
        return not self._completions(family).isdisjoint(_forms_of(given, surname=False))

    def _part(self, reading: int, surname: bool, text: str, graded: bool) -> str:
        """Part level of one reading against one registry name part, computed once per query."""
        key = (reading, surname, text, graded)
        found = self._parts.get(key)
        if found is None:
            q_s, q_g = self.interpretations[reading]
            found = self._parts[key] = _part_level(q_s if surname else q_g, _forms_of(text, surname=surname), graded=graded)
        return found

    def _level(self, family: str, given: str) -> str | None:
        graded = not is_han(family + given)
        best: str | None = None
        for reading in range(len(self.interpretations)):
            level = _combine(self._part(reading, True, family, graded), self._part(reading, False, given, graded))
            if level is not None and (best is None or _RANK[level] < _RANK[best]):
                best = level
                if best == "exact":
                    break
        if best != "exact" and self.whole and self._whole_agrees(family, given):
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
